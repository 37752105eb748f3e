package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/reports"
)

// Bad windows and policies are refused with exit code 2 and a message
// naming what is wrong, before any database is needed.
func TestRecoveryBadInput(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "yesterday"}, "since"},
		{[]string{"--until", "2026-13-01"}, "until"},
		{[]string{"--since", "-3d"}, "positive"},
		{[]string{"--since", "2026-03-01", "--until", "2026-01-01"}, "must be before"},
		{[]string{"--policy", "Gold!"}, "policy"},
		{[]string{"--policy", "gold"}, "unknown policy"},
		{[]string{"--csv", "--json"}, "--csv"},
	} {
		_, errOut, code := runDB(t, append([]string{"recovery"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestRecoveryCommand(t *testing.T) {
	dbURL, db := pgtest.New(t)
	t.Setenv("DATABASE_URL", dbURL)
	due := time.Date(2026, 1, 20, 10, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
			monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at)
		VALUES ('acme', 'Acme', 'billing@acme.test', '+14155550100', 'US', 'USD', 'en', 'standard.v1', 1000, 'bank_transfer',
			'192.0.2.1', 'active', 'full', now(), now())`,
		`INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, period_start, period_end,
			issued_at, due_at, stage, updated_at)
		VALUES ('INV-1', 'acme', 'subscription', 'paid', 'USD', 10000, $1, $1, $1, $1, 'overdue_1', now())`,
		`INSERT INTO email_outbox (message_key, customer_id, invoice_id, stage, template, to_email, subject, body_text, body_html, status, sent_at)
		VALUES ('acme:INV-1:overdue_1', 'acme', 'INV-1', 'overdue_1', 'overdue_1', 'billing@acme.test', 's', 't', 'h', 'sent', $1::timestamptz + interval '3 days')`,
		`INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, actor, received_at)
		VALUES ('bank-1', 'acme', 10000, 'USD', 'bank_transfer', 'alice', $1::timestamptz + interval '4 days')`,
		`INSERT INTO payment_allocations (customer_id, payment_id, invoice_id, amount_minor) VALUES ('acme', 'bank-1', 'INV-1', 10000)`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, due)
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	window := []string{"recovery", "--since", "2026-01-01", "--until", "2026-02-01"}

	out, errOut, code := runDB(t, append(window, "--json", "--policy", "standard")...)
	var r reports.RecoveryReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Total.Currencies) != 1 {
		t.Fatalf("--json: %d %s %s", code, out, errOut)
	}
	c := r.Total.Currencies[0]
	if c.AtRisk != (reports.Figure{Count: 1, Minor: 10000}) || c.BySource[3].Source != reports.SourceStaff ||
		c.BySource[3].Minor != 10000 || len(c.Steps) != 1 || c.Steps[0].Step != "overdue_1" || *r.Total.TimeToRecovery.MedianHours != 96 {
		t.Errorf("report: %+v", r.Total)
	}
	if r.Options.Policy != "standard" || !r.Options.Since.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("options: %+v", r.Options)
	}

	out, _, code = runDB(t, append(window, "--csv")...)
	if code != 0 || !strings.HasPrefix(out, strings.Join(reports.RecoveryCSVHeader, ",")+"\n") || !strings.Contains(out, "staff,overdue_1,1,100.00") {
		t.Errorf("--csv: %d\n%s", code, out)
	}
	out, _, code = runDB(t, window...)
	if code != 0 || !strings.Contains(out, "At risk: $100.00 on 1 invoice. Recovered: $100.00 (100.0%)") {
		t.Errorf("text: %d\n%s", code, out)
	}
	// The default window (the last 180 days) has nothing due.
	out, _, code = runDB(t, "recovery")
	if code != 0 || !strings.Contains(out, "No invoices were due") {
		t.Errorf("default window: %d\n%s", code, out)
	}
}
