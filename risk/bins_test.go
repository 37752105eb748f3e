package risk

import (
	"strings"
	"testing"
)

func TestParseBINTableErrors(t *testing.T) {
	const header = "bin_from,bin_to,kind,note\n"
	cases := map[string]struct{ in, want string }{
		"empty":          {"", "empty file"},
		"only comments":  {"# nothing\n", "empty file"},
		"bad header":     {"from,to,kind,note\n", "line 1: header must be bin_from,bin_to,kind,note"},
		"field count":    {header + "# c\n123456,123456,prepaid\n", "line 3:"},
		"letters":        {header + "12345a,123456,prepaid,x\n", `line 2: bin_from "12345a" must be 6 to 8 digits`},
		"too short":      {header + "12345,123456,prepaid,x\n", `line 2: bin_from "12345"`},
		"too long to":    {header + "123456,123456789,prepaid,x\n", `line 2: bin_to "123456789"`},
		"reversed":       {header + "123456,123455,prepaid,x\n", "line 2: bin_from 123456 is after bin_to 123455"},
		"reversed wide":  {header + "12345700,123456,prepaid,x\n", "line 2: bin_from 12345700 is after bin_to 123456"},
		"bad kind":       {header + "123456,123456,Prepaid,x\n", `line 2: kind "Prepaid"`},
		"after comments": {"# a\n# b\n" + header + "\n123456,123456,prepaid,ok\n1,2,3,4\n", "line 6:"},
		"bare quote":     {header + "123456,123456,prepaid,a \"quoted\" note\n", "line 2:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseBINTable("t.csv", strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "t.csv") {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBINLookup(t *testing.T) {
	tbl, err := ParseBINTable("t.csv", strings.NewReader(`bin_from,bin_to,kind,note
# six-digit range
400100,400199,prepaid,six
# eight-digit range
50000010,50000019,gift,eight
600000,600000,debit,not refused
`))
	if err != nil {
		t.Fatal(err)
	}
	refused := []string{"prepaid", "gift"}
	cases := []struct {
		bin              string
		wantOK, wantFull bool
		kind             string
	}{
		{"400099", false, false, ""},      // one below
		{"400100", true, true, "prepaid"}, // first
		{"400199", true, true, "prepaid"}, // last
		{"400200", false, false, ""},      // one above
		{"40010042", true, true, "prepaid"},
		{"4001", false, false, ""}, // not a BIN
		{"50000010", true, true, "gift"},
		{"50000019", true, true, "gift"},
		{"50000009", false, false, ""},
		{"50000020", false, false, ""},
		{"500000", true, false, "gift"}, // six digits: only some of its cards are in the range
		{"5000001", true, true, "gift"}, // seven digits: 50000010-50000019, all inside
		{"600000", false, false, ""},    // kind not refused
	}
	for _, tc := range cases {
		rg, full, ok := tbl.Lookup(tc.bin, refused)
		if ok != tc.wantOK || full != tc.wantFull || rg.Kind != tc.kind {
			t.Errorf("Lookup(%s) = %+v full=%v ok=%v, want ok=%v full=%v kind=%q", tc.bin, rg, full, ok, tc.wantOK, tc.wantFull, tc.kind)
		}
	}
	if rg, _, _ := tbl.Lookup("400150", refused); rg.Line != 3 {
		t.Errorf("line %d, want 3", rg.Line)
	}
	if _, _, ok := tbl.Lookup("600000", []string{"debit"}); !ok {
		t.Error("kinds filter ignores the kinds given")
	}
	var none *BINTable
	if _, _, ok := none.Lookup("400100", refused); ok {
		t.Error("nil table matched")
	}
}

func TestShippedBINTable(t *testing.T) {
	cfg := defaultConfig(t)
	for bin, want := range map[string]bool{"510510": true, "99990500": true, "99991000": true, "99994500": false, "424242": false} {
		_, full, ok := cfg.Instruments.BINs.Lookup(bin, cfg.Instruments.RefusedBINKinds)
		if (ok && full) != want {
			t.Errorf("%s refused=%v, want %v", bin, ok && full, want)
		}
	}
}
