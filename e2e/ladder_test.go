package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// onboard starts a customer's workflow straight through the client.
func onboard(t *testing.T, app account.Application) {
	t.Helper()
	_, err := env.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.WorkflowID(app.CustomerID), TaskQueue: "dunning",
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(workflows.AttrCustomerID.ValueSet(app.CustomerID)),
	}, workflows.WorkflowType, workflows.Input{Application: app})
	if err != nil {
		t.Fatalf("onboard %s: %v", app.CustomerID, err)
	}
}

// onboardActive onboards and pays the prepayment.
func onboardActive(t *testing.T, app account.Application) {
	t.Helper()
	onboard(t, app)
	eventually(t, 20*time.Second, "the prepayment request", func() bool { return len(status(t, app.CustomerID).Invoices) == 1 })
	v := status(t, app.CustomerID)
	if _, err := recordPayment(app.CustomerID, account.Payment{PaymentID: app.CustomerID + "-prepay", AmountMinor: v.Invoices[0].AmountMinor,
		Currency: app.Currency, Method: "bank_transfer"}); err != nil {
		t.Fatalf("prepay: %v", err)
	}
}

func update[Req any](id string, u contract.Update[Req, account.StatusView], req Req) (account.StatusView, error) {
	var v account.StatusView
	err := updateInto(id, u, req, &v)
	return v, err
}

// waitStage waits until an open invoice of the customer reaches a stage.
func waitStage(t *testing.T, id, invoiceID, stage string, timeout time.Duration) account.StatusView {
	t.Helper()
	var v account.StatusView
	eventually(t, timeout, invoiceID+" at "+stage, func() bool {
		v = status(t, id)
		for _, inv := range v.Invoices {
			if inv.ID == invoiceID && inv.Stage == stage {
				return true
			}
		}
		return false
	})
	return v
}

// outboxKeys returns the customer's outbox rows by message key, checking
// that each email sent went to the (shared) fake SendGrid exactly once.
func outboxKeys(t *testing.T, id string) map[string]store.OutboxMessage {
	t.Helper()
	out := outboxRows(t, id)
	for _, r := range out {
		if r.Status == store.OutboxSent && r.Channel == string(policy.ChannelEmail) {
			if n := len(env.sendgrid.ByCustomArg("dunning_key", r.MessageKey)); n != 1 {
				t.Errorf("%s reached SendGrid %d times", r.MessageKey, n)
			}
		}
	}
	return out
}

// outboxRows returns the customer's outbox rows by message key.
func outboxRows(t *testing.T, id string) map[string]store.OutboxMessage {
	t.Helper()
	rows, err := env.store.OutboxFor(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.OutboxMessage{}
	for _, r := range rows {
		out[r.MessageKey] = r
	}
	return out
}

// On the demo policy, a customer who never pays gets every reminder up to
// suspension, one email each; paying then reinstates at once.
func TestDemoPolicyLadderToSuspensionAndReinstatement(t *testing.T) {
	t.Parallel()
	app := application("demo-never", "demo")
	onboardActive(t, app)
	inv := "INV-demo-never-0002"
	v := waitStage(t, app.CustomerID, inv, "suspended", 200*time.Second)
	if v.Status != account.StatusSuspended || v.Access != account.AccessNone {
		t.Fatalf("at suspension: %+v", v)
	}
	if v.Provisioning.Decided != account.ProvisionSuspend {
		t.Errorf("provisioning at suspension: %+v", v.Provisioning)
	}
	// Provisioning runs beside the records: the subscription follows the
	// decision within moments.
	eventually(t, 20*time.Second, "the subscription suspended", func() bool {
		sub, err := env.store.SubscriptionOf(context.Background(), app.CustomerID)
		return err == nil && sub.Status == "suspended"
	})
	var overdue int64
	for _, i := range v.Invoices {
		if i.ID == inv {
			overdue = i.OutstandingMinor
		}
	}
	res, err := recordPayment(app.CustomerID, account.Payment{PaymentID: "demo-never-late", AmountMinor: overdue, Currency: "USD", Method: "bank_transfer"})
	if err != nil || res.Status != account.StatusActive {
		t.Fatalf("late payment: %+v %v", res, err)
	}
	eventually(t, 20*time.Second, "reinstatement email and provisioning", func() bool {
		sub, _ := env.store.SubscriptionOf(context.Background(), app.CustomerID)
		keys := outboxKeys(t, app.CustomerID)
		for k, r := range keys {
			if strings.Contains(k, ":reinstated:") && r.Status == store.OutboxSent {
				return sub.Status == "active"
			}
		}
		return false
	})
	keys := outboxKeys(t, app.CustomerID)
	for _, stage := range []string{"invoice_issued", "upcoming", "due", "overdue_1", "overdue_2", "final_notice", "suspended"} {
		k := "demo-never:" + inv + ":" + stage
		if r, ok := keys[k]; !ok || r.Status != store.OutboxSent {
			t.Errorf("no sent email %s (%+v)", k, r)
		}
	}
	var invoiceMails, reinstated int
	for k := range keys {
		if strings.Contains(k, inv) {
			invoiceMails++
		}
		if strings.Contains(k, ":reinstated:") {
			reinstated++
		}
	}
	if invoiceMails != 7 || reinstated != 1 {
		t.Errorf("%d emails about %s (want 7), %d reinstatement emails (want 1)", invoiceMails, inv, reinstated)
	}
	checkReplay(t, app.CustomerID)
}

// A customer who never pays is terminated: the unpaid invoices are written
// off to collections, the subscription ends and the workflow completes.
func TestTerminationHandsOffToCollections(t *testing.T) {
	t.Parallel()
	app := application("gone", "e2e")
	onboardActive(t, app)
	run := env.client.GetWorkflow(context.Background(), workflows.WorkflowID(app.CustomerID), "")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("workflow did not complete: %v", err)
	}
	c, _ := env.store.CustomerByID(context.Background(), app.CustomerID)
	sub, _ := env.store.SubscriptionOf(context.Background(), app.CustomerID)
	if c.Status != "terminated" || sub.Status != "terminated" {
		t.Errorf("customer %s, subscription %s", c.Status, sub.Status)
	}
	var wo struct {
		Amount      int64 `db:"amount_minor"`
		Collections bool  `db:"collections"`
	}
	if err := env.db.Get(&wo, `SELECT amount_minor, collections FROM write_offs WHERE customer_id = $1`, app.CustomerID); err != nil || !wo.Collections || wo.Amount < 10000 {
		t.Errorf("write-off %+v %v", wo, err)
	}
	keys := outboxKeys(t, app.CustomerID)
	if r := keys["gone:INV-gone-0002:terminated"]; r.Status != store.OutboxSent {
		t.Errorf("termination email: %+v", r)
	}
	if _, err := update(app.CustomerID, workflows.UpdateSuspend, account.StaffAction{Actor: "x", Reason: "y"}); err == nil {
		t.Error("update accepted after termination")
	}
	checkReplay(t, app.CustomerID)
}

// A promise pauses the ladder and a broken one resumes it; a dispute pauses
// it until resolved. Staff actions are refused with reasons when the state
// does not allow them.
func TestPromiseDisputeAndStaffActions(t *testing.T) {
	t.Parallel()
	app := application("pledge", "e2e")
	onboardActive(t, app)
	inv := "INV-pledge-0002"
	waitStage(t, app.CustomerID, inv, "overdue_1", 40*time.Second)
	v, err := update(app.CustomerID, workflows.UpdatePromiseToPay, account.Promise{InvoiceID: inv, Until: time.Now().Add(3 * time.Second), Actor: "alice"})
	if err != nil || v.Invoices[0].PromiseUntil.IsZero() {
		t.Fatalf("promise: %+v %v", v, err)
	}
	if _, err := update(app.CustomerID, workflows.UpdatePromiseToPay, account.Promise{InvoiceID: inv, Until: time.Now().Add(5 * time.Second), Actor: "alice"}); err == nil ||
		!strings.Contains(err.Error(), "already has a promise") {
		t.Errorf("second promise: %v", err)
	}
	// Broken: the ladder resumes with overdue_2.
	waitStage(t, app.CustomerID, inv, "overdue_2", 20*time.Second)
	if _, err := update(app.CustomerID, workflows.UpdateDisputeInvoice, account.Dispute{InvoiceID: inv, Reason: "wrong amount", Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // final_notice would be due by now without the dispute
	v = status(t, app.CustomerID)
	if v.Invoices[0].Stage != "overdue_2" || !v.Invoices[0].Disputed {
		t.Errorf("during dispute: %+v", v.Invoices[0])
	}
	out, code := starter(t, "resolve", app.CustomerID, "--invoice", inv, "--outcome", "adjusted", "--amount-minor", "7000", "--note", "partial credit")
	if code != 0 || !strings.Contains(out, "$70.00") {
		t.Errorf("resolve: %d %s", code, out)
	}
	// Staff actions through the CLI.
	if out, code := starter(t, "reinstate", app.CustomerID, "--reason", "x"); code != 1 || !strings.Contains(out, "not suspended") {
		t.Errorf("reinstate while not suspended: %d %s", code, out)
	}
	if out, code := starter(t, "suspend", app.CustomerID, "--reason", "chargeback"); code != 0 || !strings.Contains(out, "Status:   suspended") {
		t.Errorf("suspend: %d %s", code, out)
	}
	if out, code := starter(t, "suspend", app.CustomerID, "--reason", "again"); code != 1 || !strings.Contains(out, "already suspended by hand by e2e-staff") {
		t.Errorf("second suspend: %d %s", code, out)
	}
	if out, code := starter(t, "reinstate", app.CustomerID, "--reason", "resolved"); code != 0 {
		t.Errorf("reinstate: %d %s", code, out)
	}
	if out, code := starter(t, "write-off", app.CustomerID, "--invoice", "INV-nope", "--reason", "x"); code != 1 || !strings.Contains(out, `invoice "INV-nope" is not an open invoice`) {
		t.Errorf("write-off unknown: %d %s", code, out)
	}
	out, code = starter(t, "audit", app.CustomerID)
	for _, want := range []string{string(account.EventPromiseMade), string(account.EventPromiseBroken), string(account.EventDisputeOpened), string(account.EventDisputeResolved), string(account.EventAccountSuspended), string(account.EventAccountReinstated), "e2e-staff", "alice"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("audit lacks %q:\n%s", want, out)
		}
	}
	checkReplay(t, app.CustomerID)
}

// An application whose prepayment never comes is cancelled.
func TestApplicationCancelledWithoutPrepayment(t *testing.T) {
	t.Parallel()
	app := application("ghost", "e2e")
	onboard(t, app)
	run := env.client.GetWorkflow(context.Background(), workflows.WorkflowID(app.CustomerID), "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	keys := outboxKeys(t, app.CustomerID)
	if keys["ghost:INV-ghost-0001:prepayment_request"].Status != store.OutboxSent || keys["ghost:INV-ghost-0001:prepayment_reminder"].Status != store.OutboxSent {
		t.Errorf("emails: %v", keys)
	}
	c, _ := env.store.CustomerByID(context.Background(), app.CustomerID)
	if c.Status != "terminated" {
		t.Errorf("status %s", c.Status)
	}
	checkReplay(t, app.CustomerID)
}

// Payments that arrive while the workflow continues as new (every billing
// period) are neither lost nor counted twice.
func TestNoPaymentLostAcrossContinueAsNew(t *testing.T) {
	t.Parallel()
	app := application("steady", "e2e")
	onboardActive(t, app)
	// Four payers for 35 s: the billing period is 15 s, so the payments
	// cross at least two continue-as-new boundaries.
	const workers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	errs := make(chan error, 1000)
	deadline := time.Now().Add(35 * time.Second)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("steady-%d-%d", w, i)
				if _, err := recordPayment(app.CustomerID, account.Payment{PaymentID: id, AmountMinor: 100, Currency: "USD", Method: "card"}); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					continue
				}
				mu.Lock()
				made++
				mu.Unlock()
				time.Sleep(250 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	runs := histories(t, app.CustomerID)
	if len(runs) < 3 {
		t.Errorf("only %d run(s): the payments did not cross a continue-as-new", len(runs))
	}
	var n int
	var sum int64
	if err := env.db.QueryRow(`SELECT count(*), coalesce(sum(amount_minor), 0) FROM payments WHERE customer_id = $1 AND payment_id <> 'steady-prepay'`, app.CustomerID).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != made || sum != int64(made*100) {
		t.Errorf("%d payments totalling %d recorded, want %d and %d", n, sum, made, made*100)
	}
	// The workflow's own books agree: every minor unit paid is either
	// applied to an invoice or held as credit.
	v := status(t, app.CustomerID)
	var billed int64
	invs, _ := env.store.InvoicesOf(context.Background(), app.CustomerID)
	for _, inv := range invs {
		billed += inv.AmountMinor // the prepayment included: it was paid too
	}
	if got := billed - v.BalanceMinor; got != sum+10000 {
		t.Errorf("billed %d - balance %d = %d, want the %d paid", billed, v.BalanceMinor, got, sum+10000)
	}
	checkReplay(t, app.CustomerID)
}
