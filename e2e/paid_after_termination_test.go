package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

// afterTerminationQueue is this test's own worker's task queue: its
// provisioning system keeps the terminated workflow running.
const afterTerminationQueue = "paid-after-termination-e2e"

// A pay-now payment whose webhook reaches a customer already terminated
// (the customer paid just before, the webhook was delayed) is recorded as
// credit with a staff alert, not refused: the gateway has the money. The
// provisioning system refuses the termination for a while, so the
// terminated workflow is still running when the payment comes; the
// histories (version paid-after-termination) replay.
func TestPayLinkPaymentAfterTermination(t *testing.T) {
	t.Parallel()
	id := "paid-after-end"
	prov := faults.NewProvisioning()
	defer prov.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, _, err := startWorker(ctx, map[string]string{
		"DUNNING_TASK_QUEUE":         afterTerminationQueue,
		"DUNNING_PROVISIONING_URL":   prov.URL(),
		"DUNNING_AGING_SCHEDULE":     "off",
		"DUNNING_RECONCILE_SCHEDULE": "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopProcess(w)

	app := application(id, "e2e")
	// Started as ops starts a customer, on this worker's own task queue.
	if _, err := env.client.ExecuteWorkflow(context.Background(), ops.StartOptions(app, afterTerminationQueue), workflows.WorkflowType,
		workflows.Input{Application: app}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the prepayment request", func() bool { return len(status(t, id).Invoices) == 1 })
	pre := status(t, id).Invoices[0]
	if _, err := recordPayment(id, account.Payment{PaymentID: id + "-prepay", AmountMinor: pre.AmountMinor, Currency: "USD", Method: "bank_transfer"}); err != nil {
		t.Fatalf("prepay: %v", err)
	}
	eventually(t, 20*time.Second, "the account active", func() bool { return status(t, id).Status == account.StatusActive })

	prov.SetCustomerAnswer(id, faults.Answer{Status: http.StatusServiceUnavailable}) // the termination stays unconfirmed
	if _, err := update(id, workflows.UpdateTerminate, account.StaffAction{Actor: "e2e-staff", Reason: "customer left"}); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	if _, err := recordPayment(id, account.Payment{PaymentID: "bank-after-end", AmountMinor: 500, Currency: "USD", Method: "bank_transfer"}); err == nil {
		t.Error("staff recorded a payment on a terminated account")
	}
	res, err := recordPayment(id, account.Payment{PaymentID: "pi_after_end", AmountMinor: 2500, Currency: "USD", Method: "card",
		Reference: pre.ID, Actor: account.PayLinkActor})
	if err != nil {
		t.Fatalf("pay-link payment after termination: %v", err)
	}
	if res.Status != account.StatusTerminated || res.CreditMinor < 2500 {
		t.Errorf("result %+v", res)
	}
	eventually(t, 20*time.Second, "the payment in PostgreSQL", func() bool {
		var n int
		return env.db.Get(&n, `SELECT count(*) FROM payments WHERE customer_id = $1 AND payment_id = 'pi_after_end' AND amount_minor = 2500`, id) == nil && n == 1
	})
	// The alert is sent after the record, by its own activity.
	eventually(t, 30*time.Second, "the staff alert about the payment", func() bool {
		var n int
		return env.db.Get(&n, `SELECT count(*) FROM email_outbox WHERE customer_id = $1 AND stage = 'staff_payment_after_termination'`, id) == nil && n == 1
	})

	prov.SetCustomerAnswer(id, faults.OK) // the termination is confirmed: the lifecycle ends
	eventually(t, 90*time.Second, "the lifecycle ended", func() bool {
		d, err := env.client.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	checkReplay(t, id)
}
