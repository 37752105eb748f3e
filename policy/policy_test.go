package policy

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"3d": 72 * time.Hour, "-3d": -72 * time.Hour, "0d": 0, "0s": 0, "1d12h": 36 * time.Hour,
		"90s": 90 * time.Second, "1500ms": 1500 * time.Millisecond, "-6s": -6 * time.Second,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "3", "3x", "--3d", "3d-2h", "1mo", "abc"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted bad input", in)
		}
	}
}

func TestInterval(t *testing.T) {
	iv, err := ParseInterval("1mo")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	if got := iv.After(start); !got.Equal(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("1mo after Jan 31 = %v", got)
	}
	iv, _ = ParseInterval("60s")
	if got := iv.After(start); got.Sub(start) != time.Minute {
		t.Errorf("60s interval = %v", got.Sub(start))
	}
	for _, bad := range []string{"0mo", "25mo", "-1d", "0s", "x"} {
		if _, err := ParseInterval(bad); err == nil {
			t.Errorf("ParseInterval(%q) accepted bad input", bad)
		}
	}
}

func TestEmbeddedPolicies(t *testing.T) {
	reg, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.Names(), ","); got != "demo,lenient,standard,strict" {
		t.Errorf("embedded policies = %s", got)
	}
	std, err := reg.Get("standard")
	if err != nil {
		t.Fatal(err)
	}
	if std.ID() != "standard.v3" || std.Scope() != ScopeUnpaidSubscriptions || std.Collection == nil || std.Billing.Interval.Months != 1 || std.Billing.Terms != 14*24*time.Hour {
		t.Errorf("standard = %+v", std)
	}
	var stages []string
	for _, s := range std.Ladder {
		stages = append(stages, fmt.Sprintf("%s@%dd", s.Stage, s.Offset/(24*time.Hour)))
	}
	want := "upcoming@-3d,due@0d,overdue_1@3d,overdue_2@7d,final_notice@14d,suspended@21d,termination_warning@45d,terminated@60d"
	if got := strings.Join(stages, ","); got != want {
		t.Errorf("standard ladder = %s\nwant %s", got, want)
	}
	// Versions from before suspend_scope suspend the whole account, as
	// they always did.
	for _, id := range []string{"standard.v1", "standard.v2", "strict.v2", "lenient.v2", "demo.v2"} {
		if p := mustGet(t, reg, id); p.Scope() != ScopeAccount || p.SuspendScope != "" {
			t.Errorf("%s: suspend scope %q, want account", id, p.SuspendScope)
		}
	}
	if p := mustGet(t, reg, "demo"); p.ID() != "demo.v3" || p.Scope() != ScopeUnpaidSubscriptions {
		t.Errorf("demo = %s with scope %s", p.ID(), p.Scope())
	}
	strict, _ := reg.Get("strict.v1")
	if strict.Ladder[strict.StepIndex(ActionSuspend)].Offset >= std.Ladder[std.StepIndex(ActionSuspend)].Offset {
		t.Error("strict must suspend sooner than standard")
	}
	demo, _ := reg.Get("demo")
	if demo.Days(demo.Billing.Terms) != 14 {
		t.Errorf("demo terms = %d demo days, want 14 like standard", demo.Days(demo.Billing.Terms))
	}
	if _, err := reg.Get("nope"); err == nil || !strings.Contains(err.Error(), "known: demo, lenient, standard, strict") {
		t.Errorf("unknown policy error = %v", err)
	}
}

func TestRegistryKeepsVersions(t *testing.T) {
	v1 := validPolicy("p", 1)
	v2 := strings.Replace(validPolicy("p", 2), `"terms": "14d"`, `"terms": "10d"`, 1)
	reg, err := LoadFS(fstest.MapFS{"p.v1.json": {Data: []byte(v1)}, "p.v2.json": {Data: []byte(v2)}})
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := reg.Get("p")
	old, _ := reg.Get("p.v1")
	if latest.Version != 2 || latest.Billing.Terms != 10*24*time.Hour || old.Billing.Terms != 14*24*time.Hour {
		t.Errorf("latest=%+v old=%+v", latest, old)
	}
}

func validPolicy(name string, version int) string {
	return `{
  "name": "` + name + `", "version": ` + string(rune('0'+version)) + `, "day": "24h",
  "billing": {"interval": "1mo", "terms": "14d"},
  "prepayment": {"periods": 1, "reminder_after": "3d", "deadline": "7d"},
  "trust": {"on_time_invoices": 1},
  "promise": {"max_length": "30d"},
  "ladder": [
    {"stage": "due", "offset": "0d", "action": "notice"},
    {"stage": "suspended", "offset": "21d", "action": "suspend"},
    {"stage": "terminated", "offset": "60d", "action": "terminate"}
  ]
}`
}

func TestParseRefusesBadFiles(t *testing.T) {
	good := validPolicy("p", 1)
	for _, tc := range []struct {
		name, file, edit, with, want string
	}{
		{"unknown field", "p.v1.json", `"day"`, `"dya": "1d", "day"`, `policy file p.v1.json: not valid policy JSON: json: unknown field "dya"`},
		{"bad day", "p.v1.json", `"day": "24h"`, `"day": "often"`, `policy file p.v1.json: field day: "often" is not a duration`},
		{"negative day", "p.v1.json", `"day": "24h"`, `"day": "-1d"`, `field day: "-1d" must be positive`},
		{"name mismatch", "q.v1.json", "", "", `field name: "p" does not match the file name "q"`},
		{"version mismatch", "p.v2.json", "", "", `field version: 1 does not match the file name's version 2`},
		{"file name", "p.json", "", "", `file name must look like <name>.v<version>.json`},
		{"wrong type", "p.v1.json", `"periods": 1`, `"periods": "one"`, `field prepayment.periods: has type string, want int`},
		{"bad interval", "p.v1.json", `"interval": "1mo"`, `"interval": "monthly"`, `field billing.interval: "monthly" is not an interval`},
		{"reminder after deadline", "p.v1.json", `"reminder_after": "3d"`, `"reminder_after": "8d"`, `field prepayment.reminder_after: must come before prepayment.deadline`},
		{"offsets out of order", "p.v1.json", `"offset": "21d"`, `"offset": "61d"`, `field ladder[2].offset: "60d" must come after the previous step's offset`},
		{"bad action", "p.v1.json", `"action": "notice"`, `"action": "shout"`, `field ladder[0].action: "shout" must be one of notice, suspend, terminate`},
		{"bad offset", "p.v1.json", `"offset": "0d"`, `"offset": "soon"`, `field ladder[0].offset: "soon" is not a duration`},
		{"before issue", "p.v1.json", `"offset": "0d"`, `"offset": "-20d"`, `field ladder[0].offset: "-20d" is before the invoice is issued`},
		{"suspend before due", "p.v1.json", `"stage": "due", "offset": "0d", "action": "notice"`, `"stage": "due", "offset": "0d", "action": "suspend"`, `field ladder[0].offset: a suspend step must come after the due date`},
		{"duplicate stage", "p.v1.json", `"stage": "suspended"`, `"stage": "due"`, `field ladder[1].stage: "due" appears twice`},
		{"terminate not last", "p.v1.json", `"action": "suspend"`, `"action": "terminate"`, `field ladder[1].action: terminate must be the last step`},
		{"bad stage", "p.v1.json", `"stage": "due"`, `"stage": "Due Now"`, `field ladder[0].stage: "Due Now" must be lower-case`},
		{"empty ladder", "p.v1.json", `"ladder": [`, `"ladder": [], "x": [`, `unknown field "x"`},
		{"bad suspend scope", "p.v1.json", `"ladder": [`, `"suspend_scope": "everything", "ladder": [`, `field suspend_scope: "everything" must be account or unpaid_subscriptions`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := good
			if tc.edit != "" {
				if !strings.Contains(data, tc.edit) {
					t.Fatalf("test edit %q not found", tc.edit)
				}
				data = strings.Replace(data, tc.edit, tc.with, 1)
			}
			_, err := Parse(tc.file, []byte(data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Parse("p.v1.json", []byte(good)); err != nil {
		t.Fatalf("the valid policy is refused: %v", err)
	}
}

func TestLoadFSNamesBadFile(t *testing.T) {
	_, err := LoadFS(fstest.MapFS{
		"ok.v1.json":  {Data: []byte(validPolicy("ok", 1))},
		"bad.v1.json": {Data: []byte(strings.Replace(validPolicy("bad", 1), `"terms": "14d"`, `"terms": "0d"`, 1))},
	})
	if err == nil || err.Error() != `policy file bad.v1.json: field billing.terms: "0d" must be positive` {
		t.Errorf("LoadFS error = %v", err)
	}
}

func TestCollectionDeclineCategories(t *testing.T) {
	reg, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := reg.Get("standard.v1")
	if v1.Collection != nil {
		t.Error("standard.v1 must not charge cards: running customers keep their version")
	}
	c := *mustGet(t, reg, "standard.v2").Collection
	for _, tc := range []struct {
		code, decline, advice string
		want                  DeclineCategory
	}{
		{"card_declined", "insufficient_funds", "try_again_later", DeclineRetryLater},
		{"processing_error", "", "", DeclineRetryLater},
		{"card_declined", "try_again_later", "", DeclineRetryLater},
		{"card_declined", "something_new", "", DeclineRetryLater},
		{"expired_card", "", "", DeclineAfterCardChange},
		{"incorrect_number", "", "", DeclineAfterCardChange},
		{"authentication_required", "", "", DeclineAfterCardChange},
		{"card_declined", "generic_decline", AdviceConfirmCardData, DeclineAfterCardChange},
		{"card_declined", "lost_card", AdviceDoNotTryAgain, DeclineNever},
		{"card_declined", "pickup_card", "", DeclineNever},
		{"card_declined", "generic_decline", AdviceDoNotTryAgain, DeclineNever},
		{"card_declined", "stolen_card", AdviceDoNotTryAgain, DeclineFraud},
		{"card_declined", "fraudulent", "", DeclineFraud},
	} {
		if got := c.Categorize(tc.code, tc.decline, tc.advice); got != tc.want {
			t.Errorf("Categorize(%q, %q, %q) = %s, want %s", tc.code, tc.decline, tc.advice, got, tc.want)
		}
	}
	if c.NetworkAttempts != 15 || c.NetworkWindow != 30*24*time.Hour || c.Retries[0] != 0 {
		t.Errorf("standard.v2 collection = %+v", c)
	}
	for _, name := range reg.Names() {
		p := mustGet(t, reg, name)
		if p.Version < 2 || p.Collection == nil {
			t.Errorf("%s: the latest version must collect cards", p.ID())
			continue
		}
		if last := p.Collection.Retries[len(p.Collection.Retries)-1]; last >= p.Ladder[p.StepIndex(ActionSuspend)].Offset {
			t.Errorf("%s: the last retry (%s) must come before the suspension", p.ID(), last)
		}
	}
}

func TestCollectionRefusesBadFiles(t *testing.T) {
	base := `{"name":"p","version":1,"day":"24h","billing":{"interval":"1mo","terms":"14d"},
	"prepayment":{"periods":1,"reminder_after":"3d","deadline":"7d"},"trust":{"on_time_invoices":1},"promise":{"max_length":"30d"},
	"collection":%s,"ladder":[{"stage":"due","offset":"0d","action":"notice"}]}`
	for _, tc := range []struct{ coll, want string }{
		{`{"retries":[],"network_attempts":15,"network_window":"30d"}`, "collection.retries: must list 1 to 15"},
		{`{"retries":["0d","0d"],"network_attempts":15,"network_window":"30d"}`, "collection.retries[1]"},
		{`{"retries":["-1d"],"network_attempts":15,"network_window":"30d"}`, "collection.retries[0]"},
		{`{"retries":["0d"],"network_attempts":16,"network_window":"30d"}`, "collection.network_attempts: 16 must be between 1 and 15"},
		{`{"retries":["0d"],"network_attempts":15,"network_window":"0s"}`, "collection.network_window"},
		{`{"retries":["0d"],"network_attempts":15,"network_window":"30d","never":["lost_card"],"fraud":["lost_card"]}`, `collection.fraud[0]: "lost_card" is already in never`},
		{`{"retries":["0d"],"network_attempts":15,"network_window":"30d","never":["Lost Card"]}`, "collection.never[0]"},
	} {
		_, err := Parse("p.v1.json", []byte(fmt.Sprintf(base, tc.coll)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("collection %s: error %v, want %q", tc.coll, err, tc.want)
		}
	}
}

func mustGet(t *testing.T, reg *Registry, name string) Policy {
	t.Helper()
	p, err := reg.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAddFSRefusesAChangedPublishedVersion(t *testing.T) {
	reg, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := EmbeddedFS()
	data, err := fs.ReadFile(sub, "standard.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	merged, err := LoadFS(sub)
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes again are fine (an operator's copy of a shipped file).
	if err := merged.AddFS(fstest.MapFS{"standard.v1.json": {Data: data}}); err != nil {
		t.Errorf("an identical copy: %v", err)
	}
	changed := bytes.Replace(data, []byte(`"name"`), []byte(` "name"`), 1)
	if err := merged.AddFS(fstest.MapFS{"standard.v1.json": {Data: changed}}); err == nil || !strings.Contains(err.Error(), "already published") {
		t.Errorf("a changed standard.v1: %v", err)
	}
	if _, err := reg.Get("standard.v1"); err != nil {
		t.Error(err)
	}
}
