package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

// A policy file with the ladder and collection block given.
func lintFile(ladder, collection string) []byte {
	if collection != "" {
		collection = `"collection": ` + collection + `,`
	}
	return fmt.Appendf(nil, `{"name": "lab", "version": 1, "day": "24h",
  "billing": {"interval": "1mo", "terms": "14d"},
  "prepayment": {"periods": 1, "reminder_after": "3d", "deadline": "7d"},
  "trust": {"on_time_invoices": 1}, "promise": {"max_length": "30d"}, %s
  "ladder": [%s]}`, collection, ladder)
}

func codes(ws []Warning) string {
	var s []string
	for _, w := range ws {
		s = append(s, string(w.Code)+"@"+w.Field)
	}
	return strings.Join(s, " ")
}

func TestLintWarnings(t *testing.T) {
	const clean = `{"stage": "due", "offset": "0d", "action": "notice"},
	  {"stage": "final_notice", "offset": "14d", "action": "notice"},
	  {"stage": "suspended", "offset": "21d", "action": "suspend"},
	  {"stage": "termination_warning", "offset": "45d", "action": "notice"},
	  {"stage": "terminated", "offset": "60d", "action": "terminate"}`
	for _, c := range []struct {
		name, ladder, collection, want string
	}{
		{"clean", clean, "", ""},
		{"final notice 3 days before suspension", `{"stage": "due", "offset": "0d", "action": "notice"},
		  {"stage": "final_notice", "offset": "18d", "action": "notice"},
		  {"stage": "suspended", "offset": "21d", "action": "suspend"},
		  {"stage": "termination_warning", "offset": "45d", "action": "notice"},
		  {"stage": "terminated", "offset": "60d", "action": "terminate"}`, "",
			"final_notice_late@ladder[1].offset"},
		{"termination without warning", `{"stage": "due", "offset": "0d", "action": "notice"},
		  {"stage": "suspended", "offset": "21d", "action": "suspend"},
		  {"stage": "terminated", "offset": "60d", "action": "terminate"}`, "",
			"termination_unwarned@ladder[2].action"},
		{"no suspension, no termination", `{"stage": "due", "offset": "0d", "action": "notice"}`, "",
			"no_suspension@ladder no_termination@ladder"},
		{"gap longer than the card window, retries over the limit and after the end", clean,
			`{"retries": ["0d", "1d", "2d", "70d"], "network_attempts": 2, "network_window": "20d"}`,
			"gap_beyond_card_window@ladder[3].offset retries_over_network_limit@collection.retries[2]"},
		{"a retry after termination", clean,
			`{"retries": ["0d", "61d"], "network_attempts": 15, "network_window": "30d"}`,
			"retry_after_termination@collection.retries[1]"},
		{"a promise outliving the invoice", strings.Replace(clean, `"60d", "action": "terminate"`, `"15d", "action": "terminate"`, 1), "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := lintFile(c.ladder, c.collection)
			_, ws, err := Lint("lab.v1.json", data)
			if c.name == "a promise outliving the invoice" {
				// 15d after 45d is refused outright: offsets must rise.
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "ladder[4].offset" {
					t.Fatalf("Lint = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(ws); got != c.want {
				t.Errorf("warnings = %q, want %q", got, c.want)
			}
			for _, w := range ws {
				if w.File != "lab.v1.json" || !strings.Contains(w.String(), "field "+w.Field) {
					t.Errorf("warning does not name the file and field: %s", w)
				}
			}
		})
	}
	_, ws, err := Lint("lab.v1.json", lintFile(`{"stage": "due", "offset": "0d", "action": "notice"},
	  {"stage": "terminated", "offset": "5d", "action": "terminate"}`, ""))
	if err != nil || !strings.Contains(codes(ws), "promise_beyond_termination@promise.max_length") {
		t.Errorf("a promise longer than the invoice's life: %q %v", codes(ws), err)
	}
}

// Invalid files are refused with the file and field, as Parse refuses them.
func TestLintInvalid(t *testing.T) {
	for _, c := range []struct{ data, field string }{
		{`{"name": "lab", "version": 1, "day": "1x"}`, "day"},
		{`{"name": 1}`, "name"},
		{`not json`, ""},
		{string(lintFile(`{"stage": "Bad", "offset": "0d", "action": "notice"}`, "")), "ladder[0].stage"},
	} {
		_, ws, err := Lint("lab.v1.json", []byte(c.data))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.File != "lab.v1.json" || fe.Field != c.field || ws != nil {
			t.Errorf("Lint(%.30q) = %v %v, want a FieldError on %q", c.data, ws, err, c.field)
		}
	}
}

// The shipped policies lint as a billing manager would read them: the
// strict tier's final notice leaves only 3 days before suspension.
func TestShippedPoliciesLint(t *testing.T) {
	sub, err := EmbeddedFS()
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(sub, "*.json")
	for _, n := range names {
		data, _ := fs.ReadFile(sub, n)
		_, ws, err := Lint(n, data)
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		if strings.HasPrefix(n, "strict.") {
			want = "final_notice_late@ladder[3].offset"
		}
		if got := codes(ws); got != want {
			t.Errorf("%s: warnings %q, want %q", n, got, want)
		}
	}
}

func TestCompare(t *testing.T) {
	reg, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	std, _ := reg.Get("standard.v1")
	strict, _ := reg.Get("strict.v1")
	d := Compare(std, strict)
	if d.A != "standard.v1" || d.B != "strict.v1" || !d.Differs() {
		t.Fatalf("Compare = %+v", d)
	}
	row := func(day float64) DiffDay {
		for _, r := range d.Days {
			if r.Day == day {
				return r
			}
		}
		t.Fatalf("no row for day %v in %+v", day, d.Days)
		return DiffDay{}
	}
	if r := row(0); !r.Same || len(r.A) != 1 || r.A[0].Stage != "due" {
		t.Errorf("day 0 = %+v", r)
	}
	if r := row(7); len(r.A) != 1 || r.A[0].Stage != "overdue_2" || len(r.B) != 1 || r.B[0].Action != ActionSuspend || r.Same {
		t.Errorf("day 7 = %+v", r)
	}
	if r := row(60); len(r.B) != 0 || r.A[0].Action != ActionTerminate {
		t.Errorf("day 60 = %+v", r)
	}
	for i := 1; i < len(d.Days); i++ {
		if d.Days[i].Day <= d.Days[i-1].Day {
			t.Errorf("days not in order: %+v", d.Days)
		}
	}
	got := map[string]SettingDiff{}
	for _, s := range d.Settings {
		got[s.Field] = s
	}
	if s := got["billing.terms"]; s.A != "14d" || s.B != "7d" {
		t.Errorf("billing.terms = %+v", s)
	}
	if s := got["prepayment.periods"]; s.A != "1" || s.B != "2" {
		t.Errorf("prepayment.periods = %+v", s)
	}
	if _, ok := got["day"]; ok {
		t.Errorf("equal day reported: %+v", d.Settings)
	}
	std2, _ := reg.Get("standard.v2")
	if s := Compare(std, std2).Settings; len(s) == 0 || s[0].Field != "collection" {
		t.Errorf("v1 against v2 = %+v", s)
	}
	if Compare(std, std).Differs() {
		t.Errorf("a policy differs from itself")
	}
	// The demo's two-second day lines up with the standard's 24 hours.
	demo, _ := reg.Get("demo.v1")
	for _, r := range Compare(std, demo).Days {
		if !r.Same {
			t.Errorf("demo.v1 ladder differs from standard.v1 at day %v: %+v", r.Day, r)
		}
	}
}

// A file reusing a published ID is fine when it is the published policy,
// and warned about when its settings differ.
func TestPublishedWarnings(t *testing.T) {
	reg, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := EmbeddedFS()
	data, _ := fs.ReadFile(sub, "standard.v1.json")
	p, err := Parse("standard.v1.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if ws := PublishedWarnings("standard.v1.json", p, reg); ws != nil {
		t.Errorf("the published file itself: %v", ws)
	}
	changed, err := Parse("standard.v1.json", []byte(strings.Replace(string(data), `"terms": "14d"`, `"terms": "10d"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ws := PublishedWarnings("standard.v1.json", changed, reg)
	if len(ws) != 1 || ws[0].Field != "version" || !strings.Contains(ws[0].Message, "publish this as version 4") {
		t.Errorf("a changed standard.v1: %v", ws)
	}
	fresh, _ := Parse("lab.v1.json", lintFile(`{"stage": "due", "offset": "0d", "action": "notice"}`, ""))
	if ws := PublishedWarnings("lab.v1.json", fresh, reg); ws != nil {
		t.Errorf("an unpublished policy: %v", ws)
	}
}
