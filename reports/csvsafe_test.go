package reports

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"Acme":            "Acme",
		"=1+1":            "'=1+1",
		"+1":              "'+1",
		"-1":              "'-1",
		"@A1":             "'@A1",
		"\t=1":            "'\t=1",
		"\r=1":            "'\r=1",
		"  =1":            "'  =1",
		"＝1":              "'＝1",
		"Acme = Ltd":      "Acme = Ltd",
		"'already quoted": "'already quoted",
		"   ":             "   ",
	} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCSVCell: a neutralised cell never starts (after spaces) with a
// formula character, reads back from CSV exactly as written, and differs
// from the input only by the leading quote.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"Acme", "=1+1", "-12.34", "@SUM(A1)", "\t=1", "\r\n=1", "  +1", "＠x", "\"=1\"", "a,b\nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeCell(s)
		if got != s && got != "'"+s {
			t.Fatalf("SafeCell(%q) = %q: changed more than a leading quote", s, got)
		}
		if trimmed := strings.TrimLeft(got, " "); trimmed != "" && strings.ContainsRune(formulaStarts, []rune(trimmed)[0]) {
			t.Fatalf("SafeCell(%q) = %q still starts with a formula character", s, got)
		}
		if SafeCell(got) != got {
			t.Fatalf("SafeCell is not idempotent on %q", got)
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.Write([]string{got, "x"}); err != nil {
			return // encoding/csv refuses some input (invalid UTF-8 is written as is)
		}
		w.Flush()
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			return // e.g. a lone \r, which CSV itself cannot round-trip
		}
		if len(rows) != 1 || len(rows[0]) != 2 {
			t.Fatalf("%q read back as %q", got, rows)
		}
		// encoding/csv turns \r\n inside a quoted field into \n.
		if rows[0][0] != strings.ReplaceAll(got, "\r\n", "\n") && !strings.Contains(got, "\r") {
			t.Fatalf("%q read back as %q", got, rows[0][0])
		}
	})
}
