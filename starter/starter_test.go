package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/example/dunning/ops"
)

// run runs the CLI with servers that cannot be reached, so that a command
// that gets past its checks fails with exit code 3.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	t.Setenv("DUNNING_ACTOR", "tester")
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(&out, "starter:", err)
		return out.String(), exitCode(err)
	}
	return out.String(), 0
}

func TestExplainExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{ops.Invalid(errors.New("bad")), exitUsage},
		{&ops.RefusedError{Op: "Suspend", Message: "no"}, exitRefused},
		{fmt.Errorf("x: %w", ops.ErrNotFound), exitRefused},
		{fmt.Errorf("x: %w", ops.ErrTerminated), exitRefused},
		{&ops.UnavailableError{Err: errors.New("down")}, exitUnavailable},
		{errors.New("flag trouble"), exitUsage},
	} {
		if got := exitCode(explain(tc.err)); got != tc.code {
			t.Errorf("%T %v: exit %d, want %d", tc.err, tc.err, got, tc.code)
		}
	}
	if err := explain(&ops.RefusedError{Op: "Suspend", Message: "no"}); err.Error() != "Suspend refused: no" {
		t.Errorf("message %q", err)
	}
}

// Bad input is refused with exit 2 before any server is tried; good input
// meets the unreachable servers with exit 3.
func TestCommandsCheckInputFirst(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pay", "acme", "--payment-id", "p1", "--amount-minor", "0", "--currency", "USD"}, 2, "amount_minor must be a positive amount"},
		{[]string{"pay", "acme", "--payment-id", "p1", "--amount-minor", "5", "--currency", "USD", "--timeout", "5s"}, 3, "cannot reach Temporal"},
		{[]string{"suspend", "acme", "--reason", ""}, 2, "reason is required"},
		{[]string{"verify-phone", "acme", "--code", "12"}, 2, "6 digits"},
		{[]string{"verify-phone", "acme", "--code", "123456"}, 3, "cannot reach Temporal"},
		{[]string{"request-code", "acme"}, 3, "cannot reach Temporal"},
		{[]string{"report-abuse", "acme", "--notice-id", "n1", "--category", "spam", "--source", "rumour", "--detail", "d"}, 2, `source "rumour"`},
		{[]string{"report-abuse", "acme", "--notice-id", "n1", "--category", "spam", "--detail", "d", "--deadline", "soon"}, 2, "--deadline"},
		{[]string{"report-abuse", "acme", "--notice-id", "n1", "--category", "spam", "--detail", "d", "--severity", "severe", "--deadline", "2026-03-01"}, 3, "cannot reach Temporal"},
		{[]string{"review", "acme", "--decision", "maybe"}, 2, `decision "maybe"`},
		{[]string{"review", "acme", "--decision", "approve", "--note", "ok"}, 3, "cannot reach Temporal"},
		{[]string{"budget", "acme", "--limit-minor", "100", "--notice-percents", "80,50"}, 2, "notice_percents must rise"},
		{[]string{"budget", "acme", "--limit-minor", "100", "--notice-percents", "50,80,100", "--hard-stop"}, 3, "cannot reach Temporal"},
		{[]string{"usage", "acme", "--usage-id", "u1", "--amount-minor", "-1"}, 2, "amount_minor"},
		{[]string{"usage", "acme", "--usage-id", "u1", "--amount-minor", "100"}, 3, "cannot reach Temporal"},
		{[]string{"list", "--status", "late"}, 2, `status "late"`},
		{[]string{"list", "--exemption", "no_invoices"}, 2, `exemption "no_invoices" must be one of`},
		{[]string{"list", "--exemption", "manual_pay"}, 3, "cannot reach Temporal"},
		{[]string{"subscription", "add", "acme", "storage", "--product", "Storage", "--unit-price", "0"}, 2, "unit_price_minor must be a positive amount"},
		{[]string{"subscription", "add", "acme", "bad id!", "--product", "Storage", "--unit-price", "100"}, 2, "subscription_id"},
		{[]string{"subscription", "add", "acme", "storage", "--product", "Storage", "--unit-price", "100"}, 3, "cannot reach Temporal"},
		{[]string{"subscription", "quantity", "acme", "seats", "many"}, 2, `"many" is not a positive whole number`},
		{[]string{"subscription", "quantity", "acme", "seats", "8"}, 3, "cannot reach Temporal"},
		{[]string{"subscription", "cancel", "acme", "seats"}, 2, "reason is required"},
		{[]string{"subscription", "cancel", "acme", "seats", "--reason", "moved", "--now"}, 3, "cannot reach Temporal"},
		{[]string{"exemption", "set", "acme", "no_invoices", "--reason", "x"}, 2, `exemption "no_invoices" must be one of`},
		{[]string{"exemption", "set", "acme", "manual_pay", "--reason", "x", "--until", "soon"}, 2, "--until"},
		{[]string{"exemption", "set", "acme", "manual_pay", "--reason", "pays by transfer", "--until", "2026-06-01"}, 3, "cannot reach Temporal"},
		{[]string{"exemption", "remove", "acme", "manual_pay"}, 2, "reason is required"},
		{[]string{"list", "--page-token", "!!"}, 2, "--page-token"},
		{[]string{"list", "--status", "past_due"}, 3, "cannot reach Temporal"},
		{[]string{"onboard", "--customer-id", "acme"}, 2, "invalid application"},
		{[]string{"audit", "acme"}, 3, "cannot reach PostgreSQL"},
		{[]string{"outbox", "show", "k"}, 3, "cannot reach PostgreSQL"},
		{[]string{"status", "acme", "--timeout", "5s"}, 3, "cannot reach Temporal"},
	} {
		out, code := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("starter %s: exit %d %q, want exit %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	for cmd, wants := range map[string][]string{
		"list":         {"--status", "--stage", "--risk-tier", "--min-days-past-due", "--page-token", "--json"},
		"verify-phone": {"--code", "SMS"},
		"request-code": {"SMS"},
		"report-abuse": {"--notice-id", "--category", "--source", "--detail", "--severity", "--deadline", "idempotency"},
		"review":       {"--decision", "approve", "reinstate", "--review-id", "--note"},
		"budget":       {"--limit-minor", "--notice-percents", "--hard-stop"},
		"usage":        {"--usage-id", "--amount-minor", "--description", "idempotency"},
	} {
		out, code := run(t, cmd, "--help")
		if code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s --help lacks %q:\n%s", cmd, w, out)
			}
		}
	}
}

func TestPrintList(t *testing.T) {
	var out bytes.Buffer
	a := &app{out: &out}
	page := ops.NewPage([]ops.ListedCustomer{{CustomerID: "acme", Name: "Acme Ltd", Status: "past_due", DunningStage: "overdue_1",
		AmountOverdueMinor: 10000, DaysPastDue: 4, Exemptions: []string{"manual_pay", "no_dunning"}}}, []byte("next"))
	if err := printList(a, page); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"CUSTOMER", "acme", "Acme Ltd", "past_due", "overdue_1", "10000", "manual_pay,no_dunning", "--page-token " + ops.EncodePageToken([]byte("next")) + "\n"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("list output lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	_ = printList(a, ops.NewPage(nil, nil))
	if out.String() != "No customers.\n" {
		t.Errorf("empty list: %q", out.String())
	}
}
