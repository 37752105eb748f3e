package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/dunning/policy"
)

// shipped copies a shipped policy file into dir.
func shipped(t *testing.T, dir, name string) string {
	t.Helper()
	sub, err := policy.EmbeddedFS()
	if err != nil {
		t.Fatal(err)
	}
	data, err := fs.ReadFile(sub, name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyLint(t *testing.T) {
	dir := t.TempDir()
	clean := shipped(t, dir, "standard.v1.json")
	warned := shipped(t, dir, "strict.v1.json")
	bad := filepath.Join(dir, "broken.v1.json")
	if err := os.WriteFile(bad, []byte(`{"name": "broken", "version": 1, "day": "1x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	republished := filepath.Join(t.TempDir(), "standard.v1.json")
	data, _ := os.ReadFile(clean)
	if err := os.WriteFile(republished, []byte(strings.Replace(string(data), `"terms": "14d"`, `"terms": "10d"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"policy", "lint", clean}, 0, clean + ": ok"},
		{[]string{"policy", "lint", republished}, 1, "field version: standard.v1 is already published with other settings; publish this as version 4"},
		{[]string{"policy", "lint", clean, warned}, 1, "warning: policy file " + warned + ": field ladder[3].offset: the last notice before suspension (final_notice) comes 3 days before it"},
		{[]string{"policy", "lint", "--allow-warnings", warned}, 0, "final_notice_late"},
		{[]string{"policy", "lint", warned, bad}, 2, "invalid: policy file " + bad + ": field day:"},
		{[]string{"policy", "lint", filepath.Join(dir, "missing.v1.json")}, 2, "no such file"},
		{[]string{"policy", "lint"}, 2, "requires at least 1 arg"},
	} {
		out, code := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("starter %s: exit %d %q, want exit %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
		}
	}
	out, code := run(t, "policy", "lint", "--json", warned, bad)
	var res []struct {
		File     string           `json:"file"`
		Valid    bool             `json:"valid"`
		Error    string           `json:"error"`
		Warnings []policy.Warning `json:"warnings"`
	}
	if i := strings.Index(out, "starter:"); i >= 0 {
		out = out[:i]
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 2 || len(res) != 2 || !res[0].Valid ||
		res[0].Warnings[0].Field != "ladder[3].offset" || res[1].Valid || !strings.Contains(res[1].Error, "field day") {
		t.Errorf("lint --json: exit %d %v %+v\n%s", code, err, res, out)
	}
}

func TestPolicyDiff(t *testing.T) {
	dir := t.TempDir()
	file := shipped(t, dir, "strict.v1.json")
	out, code := run(t, "policy", "diff", "standard.v1", file)
	for _, w := range []string{"standard.v1", "strict.v1", "*  +7   overdue_2 (notice)", "suspended (suspend)", "billing.terms", "14d", "prepayment.periods"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("diff: exit %d, lacks %q:\n%s", code, w, out)
		}
	}
	if out, code := run(t, "policy", "diff", "standard.v1", "standard.v1"); code != 0 || !strings.Contains(out, "do not differ") {
		t.Errorf("diff with itself: %d %s", code, out)
	}
	out, code = run(t, "policy", "diff", "--json", "standard.v1", "strict.v1")
	var d policy.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 0 || d.A != "standard.v1" || len(d.Days) == 0 {
		t.Errorf("diff --json: %d %v %s", code, err, out)
	}
	for _, args := range [][]string{{"nope.v1", "strict.v1"}, {"standard.v1", filepath.Join(dir, "gone.v1.json")}, {"standard.v1"}} {
		if out, code := run(t, append([]string{"policy", "diff"}, args...)...); code != 2 {
			t.Errorf("diff %v: exit %d %s", args, code, out)
		}
	}
}

// Bad input to simulate and change is refused with exit 2 before any
// server is tried; good input meets the unreachable servers with exit 3.
func TestPolicyCommandsCheckInputFirst(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"policy", "simulate"}, 2, "--policy is required"},
		{[]string{"policy", "simulate", "--policy", "nope.v1"}, 2, `unknown policy "nope.v1"`},
		{[]string{"policy", "simulate", "--policy", "strict.v1", "--since", "yesterday"}, 2, "--since"},
		{[]string{"policy", "simulate", "--policy", "strict.v1", "--since", "-5d"}, 2, "--since"},
		{[]string{"policy", "simulate", "--policy", "strict.v1", "--format", "xml"}, 2, "--format"},
		{[]string{"policy", "simulate", "--policy", "strict.v1", "--customers", "acme,x'; DROP TABLE customers;--"}, 2, "customer_id"},
		{[]string{"policy", "simulate", "--policy", "strict.v1", "--customers", "acme", "--csv"}, 3, "cannot reach PostgreSQL"},
		{[]string{"policy", "change", "acme", "--reason", "tier"}, 2, "to \"\" must be a policy ID"},
		{[]string{"policy", "change", "acme", "--to", "strict.v1"}, 2, "reason is required"},
		{[]string{"policy", "change", "acme", "--to", "nope.v1", "--reason", "tier"}, 2, `unknown policy "nope.v1"`},
		{[]string{"policy", "change", "--to", "strict.v1", "--reason", "tier"}, 2, "name the customers to move"},
		{[]string{"policy", "change", "acme", "--status", "past_due", "--to", "strict.v1", "--reason", "tier"}, 2, "not both"},
		{[]string{"policy", "change", "--status", "late", "--to", "strict.v1", "--reason", "tier"}, 2, `status "late"`},
		{[]string{"policy", "change", "bad id", "--to", "strict.v1", "--reason", "tier", "--dry-run"}, 2, "customer_id"},
		{[]string{"policy", "change", "acme", "--to", "strict.v1", "--reason", "tier", "--dry-run"}, 0, "1 customers would move to strict.v1 (dry run"},
		{[]string{"policy", "change", "--status", "past_due", "--to", "strict.v1", "--reason", "tier", "--dry-run"}, 3, "cannot reach Temporal"},
		{[]string{"policy", "change", "acme", "--to", "strict.v1", "--reason", "tier", "--timeout", "5s"}, 3, "cannot reach Temporal"},
	} {
		out, code := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("starter %s: exit %d %q, want exit %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
		}
	}
}
