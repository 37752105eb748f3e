package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/example/dunning/account"
	"github.com/example/dunning/reconcile"
	"github.com/example/dunning/workflows"
)

// reconcileJSON runs `starter reconcile --json` with args and decodes the
// report.
func reconcileJSON(t *testing.T, args ...string) (reconcile.Report, int, string) {
	t.Helper()
	out, code := starter(t, append([]string{"reconcile", "--json"}, args...)...)
	var rep reconcile.Report
	// The JSON report comes first; an error line may follow it.
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&rep); err != nil {
		t.Fatalf("starter reconcile %v: %v\n%s", args, err, out)
	}
	return rep, code, out
}

func customerIn(rep reconcile.Report, id string) (reconcile.CustomerReport, bool) {
	for _, c := range rep.Customers {
		if c.CustomerID == id {
			return c, true
		}
	}
	return reconcile.CustomerReport{}, false
}

func hasDrift(c reconcile.CustomerReport, field, wf, db string) bool {
	for _, d := range c.Drift {
		if d.Field == field && d.Workflow == wf && d.Database == db {
			return true
		}
	}
	return false
}

// Reconciliation on the real worker: a clean system has no drift (exit 0);
// PostgreSQL damaged behind the workflows' backs (a payment row deleted, a
// balance changed, an invoice row deleted) is reported per customer with
// both values (exit 1), by the CLI, the API and the daily Schedule (stored
// and mailed to staff); `--repair` resyncs through the workflows, which
// re-record what they know, and a second run finds nothing.
//
// Not parallel: it runs before the parallel tests start, so that the
// whole-system runs see only its customers.
func TestReconcileReportsAndRepairsDrift(t *testing.T) {
	ids := []string{"rc-pay", "rc-bal", "rc-inv", "rc-clean"}
	for _, id := range []string{"rc-pay", "rc-bal", "rc-clean", "rc-term"} {
		onboardActive(t, application(id, "standard"))
	}
	// An application that fails before it is recorded (its workflow
	// never answers GetLedger) is nothing to compare.
	bad := application("rc-bad", "standard")
	bad.Email = "not an address"
	onboard(t, bad)
	// A terminated customer's workflow has completed: it is compared
	// through a query on the closed workflow.
	if _, err := update("rc-term", workflows.UpdateTerminate, account.StaffAction{Actor: "e2e-staff", Reason: "closing the account"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"rc-bad", "rc-term"} {
		eventually(t, 30*time.Second, id+"'s workflow to close", func() bool {
			d, err := env.client.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
			return err == nil && d.GetWorkflowExecutionInfo().GetCloseTime() != nil
		})
	}
	onboard(t, application("rc-inv", "standard"))
	eventually(t, 30*time.Second, "rc-inv's prepayment request", func() bool { return len(status(t, "rc-inv").Invoices) == 1 })
	prepay := status(t, "rc-inv").Invoices[0]
	prepayInvoice := prepay.ID
	if _, err := recordPayment("rc-pay", account.Payment{PaymentID: "rc-pay-extra", AmountMinor: 5000, Currency: "USD", Method: "bank_transfer"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		eventually(t, 30*time.Second, id+" active or awaiting prepayment", func() bool {
			s := status(t, id).Status
			return s == account.StatusActive || (id == "rc-inv" && s == account.StatusAwaitingPrepayment)
		})
	}

	// A clean system.
	rep, code, out := reconcileJSON(t)
	if code != 0 || rep.HasDrift() || rep.Errors != 0 || rep.Checked != len(ids)+2 {
		t.Fatalf("clean system: exit %d\n%s", code, out)
	}
	rep, code, out = reconcileJSON(t, "--customer", "rc-term")
	if c, _ := customerIn(rep, "rc-term"); code != 0 || c.State != reconcile.StateOK || c.Execution != "completed" {
		t.Errorf("terminated customer: exit %d\n%s", code, out)
	}

	// The damage.
	for _, q := range []string{
		`DELETE FROM payment_allocations WHERE payment_id = 'rc-pay-extra'`,
		`DELETE FROM payments WHERE payment_id = 'rc-pay-extra'`,
		`UPDATE customers SET balance_minor = 999 WHERE customer_id = 'rc-bal'`,
		`DELETE FROM invoices WHERE invoice_id = '` + prepayInvoice + `'`,
	} {
		if _, err := env.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rep, code, out = reconcileJSON(t)
	if code != 1 || rep.Drifted != 3 {
		t.Fatalf("after the damage: exit %d, want 1 with 3 customers drifted\n%s", code, out)
	}
	for _, want := range []struct{ id, field, wf, db string }{
		{"rc-pay", "payment:rc-pay-extra", "5000 USD", "missing"},
		{"rc-bal", "balance_minor", "0", "999"},
		{"rc-inv", "invoice:" + prepayInvoice, "open prepayment of " + strconv.FormatInt(prepay.AmountMinor, 10), "missing"},
	} {
		c, ok := customerIn(rep, want.id)
		if !ok || c.State != reconcile.StateDrift || !hasDrift(c, want.field, want.wf, want.db) {
			t.Errorf("%s: want drift %s %s/%s, got %+v", want.id, want.field, want.wf, want.db, c)
		}
	}
	if c, ok := customerIn(rep, "rc-clean"); ok {
		t.Errorf("rc-clean reported: %+v", c)
	}
	text, code := starter(t, "reconcile", "--customer", "rc-bal")
	if code != 1 || !strings.Contains(text, "rc-bal: drift") || !strings.Contains(text, "balance_minor") || !strings.Contains(text, "999") {
		t.Errorf("text report for rc-bal: exit %d\n%s", code, text)
	}
	if out, code := starter(t, "reconcile", "--customer", "rc-nobody"); code != 1 || !strings.Contains(out, "unknown customer") {
		t.Errorf("unknown customer: exit %d %s", code, out)
	}

	// The API: viewers read the report, only operators repair.
	var api reconcile.Report
	if code, body := call(t, viewerToken, "GET", "/v1/reconcile?customer_id=rc-inv", nil, &api); code != 200 || api.Drifted != 1 || api.Customers[0].State != reconcile.StateDrift {
		t.Errorf("GET /v1/reconcile: %d %s", code, body)
	}
	if code, body := call(t, viewerToken, "POST", "/v1/reconcile", map[string]string{"customer_id": "rc-inv"}, nil); code != 403 {
		t.Errorf("viewer repair: %d %s", code, body)
	}

	// The daily Schedule reports (without repairing), stores the run and
	// mails staff.
	ctx := context.Background()
	h := env.client.ScheduleClient().GetHandle(ctx, "reconcile-daily")
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatalf("trigger the reconcile schedule: %v", err)
	}
	key := "reconcile-drift:" + time.Now().UTC().Format("2006-01-02")
	eventually(t, 90*time.Second, "the staff drift report", func() bool {
		m, err := env.store.OutboxMessageByKey(ctx, key)
		return err == nil && m.Status == "sent" && strings.Contains(m.BodyText, "rc-bal: drift") && strings.Contains(m.BodyText, "starter reconcile --repair")
	})
	var drifted int
	if err := env.db.Get(&drifted, `SELECT drifted FROM reconcile_runs ORDER BY finished_at DESC LIMIT 1`); err != nil || drifted != 3 {
		t.Errorf("stored run: drifted %d, %v", drifted, err)
	}

	// Repair, through the workflows, by a named actor.
	out, code = starter(t, "reconcile", "--repair", "--json", "--actor", "e2e-auditor")
	rep = reconcile.Report{}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&rep); err != nil || code != 0 || rep.Repaired != 3 || rep.HasDrift() {
		t.Fatalf("repair: exit %d %v\n%s", code, err, out)
	}
	c, _ := customerIn(rep, "rc-pay")
	if c.State != reconcile.StateRepaired || c.Repair == nil || len(c.Repair.PaymentsRestored) != 1 || c.Repair.PaymentsRestored[0] != "rc-pay-extra" {
		t.Errorf("rc-pay repair: %+v", c)
	}
	var method, actor string
	if err := env.db.QueryRow(`SELECT method, actor FROM payments WHERE payment_id = 'rc-pay-extra'`).Scan(&method, &actor); err != nil || method != "reconciled" || actor != "e2e-auditor" {
		t.Errorf("restored payment: %q by %q, %v", method, actor, err)
	}
	var balance int64
	if err := env.db.Get(&balance, `SELECT balance_minor FROM customers WHERE customer_id = 'rc-bal'`); err != nil || balance != 0 {
		t.Errorf("rc-bal balance after repair: %d %v", balance, err)
	}
	var invoices, resyncs int
	_ = env.db.Get(&invoices, `SELECT count(*) FROM invoices WHERE invoice_id = $1 AND status = 'open'`, prepayInvoice)
	_ = env.db.Get(&resyncs, `SELECT count(*) FROM audit_log WHERE action = 'account.resynced' AND actor = 'e2e-auditor'`)
	if invoices != 1 || resyncs != 3 {
		t.Errorf("after repair: invoice rows %d, account.resynced by e2e-auditor %d", invoices, resyncs)
	}

	// A second run finds nothing, and a second repair changes nothing.
	rep, code, out = reconcileJSON(t)
	if code != 0 || rep.HasDrift() || len(rep.Customers) != 0 {
		t.Errorf("after repair: exit %d\n%s", code, out)
	}
	rep, code, out = reconcileJSON(t, "--repair")
	_ = env.db.Get(&resyncs, `SELECT count(*) FROM audit_log WHERE action = 'account.resynced'`)
	if code != 0 || rep.Repaired != 0 || resyncs != 3 {
		t.Errorf("second repair: exit %d, %d resyncs recorded\n%s", code, resyncs, out)
	}
	for _, id := range ids {
		checkReplay(t, id)
	}
}
