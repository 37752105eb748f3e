package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway/stripefake"
	"github.com/example/dunning/workflows"
)

// cardApplication is a medium-risk applicant on the demo policy paying by
// a card saved at the (fake) gateway: its prepayment is charged at once.
func cardApplication(id, paymentMethodID string) account.Application {
	app := application(id, "demo")
	app.PaymentInstrument = account.PaymentInstrument{Type: account.InstrumentCard, CardBIN: "424242", PaymentMethodID: paymentMethodID}
	return app
}

type attemptRow struct {
	Attempt int    `db:"attempt"`
	Trigger string `db:"trigger"`
	Status  string `db:"status"`
	Key     string `db:"idempotency_key"`
	Decline string `db:"decline_code"`
	Code    string `db:"code"`
}

func chargeAttempts(t *testing.T, id string) []attemptRow {
	t.Helper()
	var rows []attemptRow
	if err := env.db.Select(&rows, `SELECT attempt, trigger, status, idempotency_key, decline_code, code FROM charge_attempts
		WHERE customer_id = $1 ORDER BY invoice_id, attempt`, id); err != nil {
		t.Fatal(err)
	}
	return rows
}

// auditOnFailure logs the customer's audit log and charge attempts if the
// test fails, to see where the lifecycle went.
func auditOnFailure(t *testing.T, id string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var rows []string
		if err := env.db.Select(&rows, `SELECT at::text || ' ' || action || ' ' || actor || ' ' || reason FROM audit_log WHERE customer_id = $1 ORDER BY id`, id); err != nil {
			t.Logf("audit log of %s: %v", id, err)
		}
		t.Logf("audit log of %s:\n%s\ncharge attempts: %s", id, strings.Join(rows, "\n"), attemptLog(t, id))
	})
}

func (r attemptRow) String() string { return fmt.Sprintf("%d/%s/%s", r.Attempt, r.Trigger, r.Status) }

func attemptLog(t *testing.T, id string) string {
	var out []string
	for _, r := range chargeAttempts(t, id) {
		out = append(out, r.String())
	}
	return strings.Join(out, " ")
}

// paymentRows lists the customer's payments as id/actor/amount.
func paymentRows(t *testing.T, id string) []string {
	t.Helper()
	var rows []string
	if err := env.db.Select(&rows, `SELECT payment_id || '/' || actor || '/' || amount_minor FROM payments WHERE customer_id = $1 ORDER BY received_at`, id); err != nil {
		t.Fatal(err)
	}
	return rows
}

// oneChargePerAttempt checks that no attempt of the customer charged the
// card twice at the gateway.
func oneChargePerAttempt(t *testing.T, fake *stripefake.Server, id string) {
	t.Helper()
	for _, r := range chargeAttempts(t, id) {
		if n := fake.ChargesFor(r.Key); n > 1 {
			t.Errorf("attempt %s charged %d times", r.Key, n)
		}
	}
}

// A soft decline is retried on the schedule and recovered; a hard one is
// never retried and opens a fraud review; an expired card waits for a new
// one, which is charged at once.
func TestCardCollection(t *testing.T) {
	t.Parallel()
	soft := cardApplication("card-soft", stripefake.PMDemoSoftDeclineOnce)
	lost := cardApplication("card-lost", stripefake.PMLostCard)
	expired := cardApplication("card-expired", stripefake.PMExpiredCard)
	for _, app := range []account.Application{soft, lost, expired} {
		onboard(t, app)
		auditOnFailure(t, app.CustomerID)
	}
	eventually(t, 60*time.Second, "the soft decline recovered by the retry", func() bool {
		return status(t, soft.CustomerID).Status == account.StatusActive
	})
	if got := attemptLog(t, soft.CustomerID); got != "1/prepayment/declined 2/prepayment/succeeded" {
		t.Errorf("soft decline attempts = %s", got)
	}
	if pays := paymentRows(t, soft.CustomerID); len(pays) != 1 || !strings.HasPrefix(pays[0], "pi_") || !strings.Contains(pays[0], "/gateway/10000") {
		t.Errorf("soft decline payments = %v", pays)
	}

	eventually(t, 30*time.Second, "the lost card's fraud review", func() bool {
		v := status(t, lost.CustomerID)
		return len(v.Reviews) == 1 && v.Reviews[0].Category == account.CategoryPaymentFraud
	})
	eventually(t, 30*time.Second, "the expired card's email", func() bool {
		_, ok := outboxRows(t, expired.CustomerID)["card-expired:INV-card-expired-0001:card_action"]
		return ok
	})
	mail := outboxRows(t, expired.CustomerID)["card-expired:INV-card-expired-0001:card_action"]
	if !strings.Contains(mail.BodyText, env.stripe.URL()+"/pay/cs_") {
		t.Errorf("the card email has no pay-now link:\n%s", mail.BodyText)
	}
	// Past the schedule's next retries: neither card was tried again.
	time.Sleep(14 * time.Second)
	if got := attemptLog(t, lost.CustomerID); got != "1/prepayment/declined" {
		t.Errorf("lost card attempts = %s", got)
	}
	if got := attemptLog(t, expired.CustomerID); got != "1/prepayment/declined" {
		t.Errorf("expired card attempts = %s", got)
	}
	if v := status(t, expired.CustomerID); v.Card == nil || v.Card.Blocked != "after_card_change" {
		t.Errorf("expired card = %+v", v.Card)
	}
	// The customer saves a new card: it is charged at once.
	v, err := update(expired.CustomerID, workflows.UpdateSetPaymentMethod, account.CardUpdate{PaymentMethodID: stripefake.PMVisa, Actor: "e2e-staff"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Card == nil || v.Card.Last4 != "4242" || v.Card.Blocked != "" {
		t.Errorf("after the new card: %+v", v.Card)
	}
	eventually(t, 30*time.Second, "the new card charged", func() bool {
		return status(t, expired.CustomerID).Status == account.StatusActive
	})
	if got := attemptLog(t, expired.CustomerID); got != "1/prepayment/declined 2/card_update/succeeded" {
		t.Errorf("expired card attempts = %s", got)
	}
	for _, app := range []account.Application{soft, lost, expired} {
		oneChargePerAttempt(t, env.stripe, app.CustomerID)
		checkReplay(t, app.CustomerID)
	}
}

// A bank-transfer customer pays the prepayment on the pay-now page linked
// from its email: the webhook records the payment and starts service.
func TestPayNowLinkPaid(t *testing.T) {
	t.Parallel()
	app := application("pay-link", "demo")
	onboard(t, app)
	auditOnFailure(t, app.CustomerID)
	key := "pay-link:INV-pay-link-0001:prepayment_request"
	eventually(t, 30*time.Second, "the prepayment email", func() bool { return outboxRows(t, app.CustomerID)[key].Status != "" })
	body := outboxRows(t, app.CustomerID)[key].BodyText
	var session string
	for _, s := range env.stripe.Sessions() {
		if s.Metadata["customer_id"] == app.CustomerID && s.URL != nil && strings.Contains(body, *s.URL) {
			session = s.ID
		}
	}
	if session == "" {
		t.Fatalf("no pay-now page in the email:\n%s", body)
	}
	if _, err := env.stripe.PayCheckout(session, stripefake.PMVisa); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the payment from the webhook", func() bool {
		return status(t, app.CustomerID).Status == account.StatusActive
	})
	if pays := paymentRows(t, app.CustomerID); len(pays) != 1 || !strings.Contains(pays[0], "/pay-link/10000") {
		t.Errorf("payments = %v", pays)
	}
	checkReplay(t, app.CustomerID)
}

// The bank takes a card payment back: the invoice is reopened and disputed
// with a review; the chargeback lost, the customer's risk is high.
func TestChargebackThroughWebhook(t *testing.T) {
	t.Parallel()
	app := cardApplication("charged-back", stripefake.PMCreateDispute)
	onboard(t, app)
	auditOnFailure(t, app.CustomerID)
	eventually(t, 60*time.Second, "the chargeback", func() bool {
		v := status(t, app.CustomerID)
		return v.OpenChargebacks == 1 && len(v.Invoices) == 1 && v.Invoices[0].Disputed
	})
	var dispute string
	for id, d := range env.stripe.Disputes() {
		if d.PaymentIntent != "" && strings.Contains(strings.Join(paymentRows(t, app.CustomerID), ","), d.PaymentIntent) {
			dispute = id
		}
	}
	if dispute == "" {
		t.Fatal("no dispute of the customer's payment at the gateway")
	}
	if err := env.stripe.CloseDispute(dispute, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the lost chargeback", func() bool {
		v := status(t, app.CustomerID)
		return v.LostChargebacks == 1 && v.RiskTier == account.RiskTierHigh && len(v.Invoices) == 1 && !v.Invoices[0].Disputed
	})
	checkReplay(t, app.CustomerID)
}

// Forged and replayed deliveries are refused and change nothing.
func TestStripeWebhookRefusesForgedAndReplayed(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"id":"evt_forged_1","object":"event","type":"payment_intent.succeeded","created":1767225600,"api_version":"2026-02-25.clover",` +
		`"data":{"object":{"id":"pi_forged","object":"payment_intent","amount_received":99900,"currency":"usd","status":"succeeded","metadata":{"customer_id":"pay-link"}}}}`)
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, env.apiURL+"/webhooks/stripe", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", sig)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	forged := stripefake.Sign("whsec_not_ours", payload, time.Now())
	replayed := stripefake.Sign(stripeSecret, payload, time.Now().Add(-10*time.Minute))
	for name, sig := range map[string]string{"forged": forged, "replayed": replayed, "missing": ""} {
		if code := post(sig); code != http.StatusBadRequest {
			t.Errorf("%s delivery answered %d, want 400", name, code)
		}
	}
	var n int
	if err := env.db.Get(&n, `SELECT count(*) FROM gateway_events WHERE event_id = 'evt_forged_1'`); err != nil || n != 0 {
		t.Errorf("refused deliveries stored: %d %v", n, err)
	}
	if err := env.db.Get(&n, `SELECT count(*) FROM payments WHERE payment_id = 'pi_forged'`); err != nil || n != 0 {
		t.Errorf("a forged payment was recorded: %d %v", n, err)
	}
}

// The worker dies after the gateway charged the card and before the charge
// was recorded: the retry finds the charge, one charge and one payment row.
func TestWorkerKilledBetweenChargeAndRecord(t *testing.T) {
	t.Parallel()
	fake := stripefake.NewServer(stripeKey)
	defer fake.Close()
	fake.SetFault(stripefake.Fault{Path: "/v1/payment_intents", ChargeThenHold: 2 * time.Minute})
	queue := "charge-crash-queue"
	extra := map[string]string{"DUNNING_TASK_QUEUE": queue, "STRIPE_API_BASE": fake.URL()}
	worker, logs, err := startWorker(context.Background(), extra)
	if err != nil {
		t.Fatal(err)
	}
	app := cardApplication("charge-crash", stripefake.PMVisa)
	if _, err := env.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.WorkflowID(app.CustomerID), TaskQueue: queue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.WorkflowType, workflows.Input{Application: app}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the gateway to charge the card", func() bool {
		for _, pi := range fake.PaymentIntents() {
			if pi.Metadata["customer_id"] == app.CustomerID && pi.Status == "succeeded" {
				return true
			}
		}
		return false
	})
	_ = worker.Process.Kill()
	_ = worker.Wait()
	if got := attemptLog(t, app.CustomerID); got != "1/prepayment/pending" {
		t.Fatalf("before the restart: %s", got)
	}
	fake.ClearFault()
	restarted, _, err := startWorker(context.Background(), extra)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	defer stopProcess(restarted)
	eventually(t, 120*time.Second, "the charge settled after the restart", func() bool {
		return status(t, app.CustomerID).Status == account.StatusActive
	})
	if got := attemptLog(t, app.CustomerID); got != "1/prepayment/succeeded" {
		t.Errorf("attempts = %s", got)
	}
	oneChargePerAttempt(t, fake, app.CustomerID)
	succeeded := 0
	for _, pi := range fake.PaymentIntents() {
		if pi.Metadata["customer_id"] == app.CustomerID && pi.Status == "succeeded" {
			succeeded++
		}
	}
	if pays := paymentRows(t, app.CustomerID); succeeded != 1 || len(pays) != 1 {
		t.Errorf("%d charges at the gateway, payments %v", succeeded, pays)
	}
	checkReplay(t, app.CustomerID)
}

// A gateway that answers 503, then 429, then hangs while a card is charged
// delays the charge; it is made once, under one attempt, however long the
// outage lasts.
func TestGatewayOutageChargesOnce(t *testing.T) {
	t.Parallel()
	fake := stripefake.NewServer(stripeKey)
	defer fake.Close()
	queue := "gateway-outage-queue"
	extra := map[string]string{"DUNNING_TASK_QUEUE": queue, "STRIPE_API_BASE": fake.URL()}
	worker, _, err := startWorker(context.Background(), extra)
	if err != nil {
		t.Fatal(err)
	}
	defer stopProcess(worker)
	app := cardApplication("gw-outage", stripefake.PMVisa)
	auditOnFailure(t, app.CustomerID)
	// The card is saved first; the outage starts with the charge.
	fake.SetFault(stripefake.Fault{Path: "/v1/payment_intents", Status: 503})
	if _, err := env.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.WorkflowID(app.CustomerID), TaskQueue: queue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.WorkflowType, workflows.Input{Application: app}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the charge attempted", func() bool { return len(chargeAttempts(t, app.CustomerID)) > 0 })
	time.Sleep(8 * time.Second)
	fake.SetFault(stripefake.Fault{Path: "/v1/payment_intents", Status: 429, RetryAfter: 3 * time.Second})
	time.Sleep(8 * time.Second)
	fake.SetFault(stripefake.Fault{Path: "/v1/payment_intents", Hang: true})
	time.Sleep(40 * time.Second)
	fake.ClearFault()
	eventually(t, 120*time.Second, "the charge made once the gateway answers", func() bool {
		return status(t, app.CustomerID).Status == account.StatusActive
	})
	time.Sleep(5 * time.Second)
	if got := attemptLog(t, app.CustomerID); got != "1/prepayment/succeeded" {
		t.Errorf("attempts = %s", got)
	}
	succeeded := 0
	for _, pi := range fake.PaymentIntents() {
		if pi.Metadata["customer_id"] == app.CustomerID && pi.Status == "succeeded" {
			succeeded++
		}
	}
	if succeeded != 1 {
		t.Errorf("%d charges at the gateway", succeeded)
	}
	oneChargePerAttempt(t, fake, app.CustomerID)
}
