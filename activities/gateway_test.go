package activities

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/gateway/stripefake"
)

// gatewayFixture is a recorded customer (so the ledger's foreign keys
// hold) with a card saved at the fake Stripe.
func gatewayFixture(t *testing.T, pm string) (*fixture, *stripefake.Server, account.CardOnFile) {
	t.Helper()
	f := newFixture(t)
	fake := stripefake.NewServer("sk_test_acts")
	t.Cleanup(fake.Close)
	f.acts.Gateway = gateway.NewStripe("sk_test_acts", fake.URL(), nil)
	f.acts.PayReturnURL = "https://billing.test/return"
	f.record(t, append(f.acct.Open(t0), must(f.acct.Approve(true, account.SystemActor, "test", t0))...), t0)
	val, err := f.env.ExecuteActivity(f.acts.AttachCard, AttachCardInput{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", PaymentMethodID: pm})
	if err != nil {
		t.Fatalf("AttachCard: %v", err)
	}
	var card account.CardOnFile
	if err := val.Get(&card); err != nil {
		t.Fatal(err)
	}
	return f, fake, card
}

func (f *fixture) charge(card account.CardOnFile, attempt int) (account.ChargeOutcome, error) {
	req := account.ChargeRequest{Key: "acme:INV-acme-0001:charge:" + strconv.Itoa(attempt), InvoiceID: "INV-acme-0001", Attempt: attempt,
		Trigger: account.TriggerPrepayment, AmountMinor: 10000, Currency: "USD", PaymentMethodID: card.PaymentMethodID, GatewayCustomerID: card.GatewayCustomerID}
	val, err := f.env.ExecuteActivity(f.acts.Charge, ChargeInput{CustomerID: "acme", Request: req})
	var out account.ChargeOutcome
	if err == nil {
		_ = val.Get(&out)
	}
	return out, err
}

// The customer is created at the gateway once, however often a card is
// attached, and the ledger keeps every attempt with the gateway's answer.
func TestChargeLedgerAndOneGatewayCustomer(t *testing.T) {
	f, fake, card := gatewayFixture(t, stripefake.PMInsufficientFunds)
	if _, err := f.env.ExecuteActivity(f.acts.AttachCard, AttachCardInput{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", PaymentMethodID: stripefake.PMVisa}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.st, `SELECT count(*) FROM gateway_customers WHERE customer_id = 'acme'`); n != 1 {
		t.Errorf("%d gateway customers", n)
	}
	if n := fake.Requests()["POST /v1/customers"]; n != 1 {
		t.Errorf("the gateway customer was created %d times", n)
	}
	out, err := f.charge(card, 1)
	if err != nil {
		t.Fatal(err)
	}
	if out.Outcome != account.ChargeDeclined || out.DeclineCode != "insufficient_funds" || out.PaymentIntentID == "" {
		t.Errorf("outcome = %+v", out)
	}
	var row struct {
		Status, DeclineCode, PI string
		Requests                int
	}
	if err := f.st.DB().QueryRow(`SELECT status, decline_code, payment_intent_id, requests FROM charge_attempts WHERE idempotency_key = 'acme:INV-acme-0001:charge:1'`).
		Scan(&row.Status, &row.DeclineCode, &row.PI, &row.Requests); err != nil {
		t.Fatal(err)
	}
	if row.Status != "declined" || row.DeclineCode != "insufficient_funds" || row.PI != out.PaymentIntentID || row.Requests != 1 {
		t.Errorf("ledger row = %+v", row)
	}
	// The same attempt again (a replayed activity) answers from the ledger
	// without asking the gateway.
	before := fake.Requests()["POST /v1/payment_intents"]
	again, err := f.charge(card, 1)
	if err != nil || again.Outcome != out.Outcome || again.PaymentIntentID != out.PaymentIntentID {
		t.Errorf("again = %+v, %v", again, err)
	}
	if after := fake.Requests()["POST /v1/payment_intents"]; after != before {
		t.Errorf("a settled attempt was sent again (%d requests, %d before)", after, before)
	}
}

// The gateway charged the card and its answer was lost: the retry finds
// the PaymentIntent, settles it, and the card is charged once.
func TestChargeAnswerLostChargedOnce(t *testing.T) {
	f, fake, card := gatewayFixture(t, stripefake.PMVisa)
	fake.Inject(stripefake.Fault{Path: "/v1/payment_intents", ChargeThenFail: true, Status: 500})
	if _, err := f.charge(card, 1); err == nil {
		t.Fatal("the lost answer was not an error")
	}
	if n := count(t, f.st, `SELECT count(*) FROM charge_attempts WHERE status = 'pending' AND requests = 1`); n != 1 {
		t.Fatalf("the attempt is not pending with one request sent: %d", n)
	}
	out, err := f.charge(card, 1)
	if err != nil {
		t.Fatal(err)
	}
	if out.Outcome != account.ChargeSucceeded || out.AmountMinor != 10000 || out.Currency != "USD" {
		t.Errorf("outcome = %+v", out)
	}
	if n := fake.ChargesFor("acme:INV-acme-0001:charge:1"); n != 1 {
		t.Errorf("the card was charged %d times for one attempt", n)
	}
	if n := count(t, f.st, `SELECT count(*) FROM charge_attempts WHERE status = 'succeeded' AND payment_intent_id = $1`, out.PaymentIntentID); n != 1 {
		t.Errorf("ledger: %d settled rows", n)
	}
}

// A gateway that answers 503, 429 or hangs gives a retryable error and
// charges nothing; the next try succeeds once.
func TestChargeGatewayFaultsRetried(t *testing.T) {
	for _, fault := range []stripefake.Fault{
		{Path: "/v1/payment_intents", Status: 503},
		{Path: "/v1/payment_intents", Status: 429, RetryAfter: 2 * time.Second},
		{Path: "/v1/payment_intents", Hang: true},
	} {
		t.Run(fmt.Sprintf("status %d hang %v", fault.Status, fault.Hang), func(t *testing.T) {
			f, fake, card := gatewayFixture(t, stripefake.PMVisa)
			if fault.Hang {
				// The client gives up on a gateway that does not answer.
				fake.SetFault(fault)
				f.acts.Gateway = gateway.NewStripe("sk_test_acts", fake.URL(), &http.Client{Timeout: 300 * time.Millisecond})
			} else {
				fake.Inject(fault)
			}
			_, err := f.charge(card, 1)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "sk_test_acts") {
				t.Errorf("the API key leaked into an error: %v", err)
			}
			fake.ClearFault()
			out, err := f.charge(card, 1)
			if err != nil || out.Outcome != account.ChargeSucceeded {
				t.Fatalf("retry: %+v %v", out, err)
			}
			if n := fake.ChargesFor("acme:INV-acme-0001:charge:1"); n != 1 {
				t.Errorf("charged %d times", n)
			}
		})
	}
}

// Customer emails about an invoice carry its pay-now page, the same page
// for every retry while it is valid.
func TestNoticeCarriesPayLink(t *testing.T) {
	f, fake, _ := gatewayFixture(t, stripefake.PMVisa)
	in := NoticeInput{Recipient: Recipient{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Locale: "ko"},
		Notice: account.Notice{Key: "acme:INV-acme-0001:overdue_1", Template: "overdue_1", Stage: "overdue_1", InvoiceID: "INV-acme-0001",
			AmountMinor: 10000, BalanceMinor: 10000, Currency: "USD", DueAt: t0, Reference: "INV-acme-0001", DaysOverdue: 3}}
	if _, err := f.send(in); err != nil {
		t.Fatal(err)
	}
	sessions := fake.Sessions()
	if len(sessions) != 1 || sessions[0].AmountTotal != 10000 || sessions[0].Metadata["invoice_id"] != "INV-acme-0001" {
		t.Fatalf("sessions = %+v", sessions)
	}
	url := *sessions[0].URL
	if len(f.sender.sent) != 1 || !strings.Contains(f.sender.sent[0].Text, url) || !strings.Contains(f.sender.sent[0].HTML, url) {
		t.Fatalf("the email has no pay-now link %s:\n%s", url, f.sender.sent[0].Text)
	}
	// Another reminder for the same amount links the same page.
	in.Notice.Key, in.Notice.Template, in.Notice.Stage = "acme:INV-acme-0001:overdue_2", "overdue_2", "overdue_2"
	if _, err := f.send(in); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Sessions()); n != 1 {
		t.Errorf("%d pages for one invoice and amount", n)
	}
	// A staff alert and an account-level notice get none.
	for _, n := range []account.Notice{
		{Key: "acme:staff:x:1", Template: "staff_alert", Stage: "staff", Staff: true, InvoiceID: "INV-acme-0001", AmountMinor: 10000, Currency: "USD",
			Detail: map[string]string{"kind": "k", "summary": "s"}},
		{Key: "acme:reinstated:5", Template: "reinstated", Stage: "reinstated", Currency: "USD", Reference: "acme"},
	} {
		in.Notice = n
		if _, err := f.send(in); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fake.Sessions()); n != 1 {
		t.Errorf("%d pages after alerts", n)
	}
}

// A gateway that is away delays the email (its first tries wait for the
// page; after payLinkTries it goes without the button rather than never).
func TestNoticeWithoutPayLinkWhenGatewayAway(t *testing.T) {
	f, fake, _ := gatewayFixture(t, stripefake.PMVisa)
	fake.SetFault(stripefake.Fault{Path: "/v1/checkout/sessions", Status: 503})
	in := NoticeInput{Recipient: Recipient{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Locale: "en"},
		Notice: account.Notice{Key: "acme:INV-acme-0001:due", Template: "due", Stage: "due", InvoiceID: "INV-acme-0001",
			AmountMinor: 10000, BalanceMinor: 10000, Currency: "USD", DueAt: t0, DeadlineAt: t0.Add(21 * 24 * time.Hour), Reference: "INV-acme-0001"}}
	if _, err := f.send(in); err == nil {
		t.Fatal("the first try did not wait for the pay-now page")
	}
	if len(f.sender.sent) != 0 || count(t, f.st, `SELECT count(*) FROM email_outbox`) != 0 {
		t.Fatal("sent, or claimed, without waiting for the page")
	}
	fake.ClearFault()
	if _, err := f.send(in); err != nil || len(f.sender.sent) != 1 || !strings.Contains(f.sender.sent[0].Text, "/pay/cs_") {
		t.Fatalf("once the gateway is back: %v, %d sent", err, len(f.sender.sent))
	}
}

// A charge's success is recorded like a payment: the invoice paid once,
// the payment and its allocation, the ledger of the charge beside them.
func TestChargeSuccessRecordsThePaymentOnce(t *testing.T) {
	f := newFixture(t)
	a := f.acct
	a.Collecting = true
	events := append(a.Open(t0), must(a.Approve(true, account.SystemActor, "test", t0))...)
	events = append(events, a.CardFromApplication(account.CardOnFile{PaymentMethodID: "pm_1", GatewayCustomerID: "cus_1", Brand: "visa", Last4: "4242"}, t0)...)
	f.record(t, events, t0)
	var req *account.ChargeRequest
	charge := a.Advance(t0.Add(time.Second))
	for _, ev := range charge {
		if ev.Charge != nil {
			req = ev.Charge
		}
	}
	if req == nil {
		t.Fatalf("no charge of the prepayment: %+v", charge)
	}
	f.record(t, charge, t0.Add(time.Second))
	settled := a.ChargeSettled(account.ChargeOutcome{Key: req.Key, InvoiceID: req.InvoiceID, Attempt: 1, Outcome: account.ChargeSucceeded,
		PaymentIntentID: "pi_1", AmountMinor: req.AmountMinor, Currency: "USD"}, t0.Add(2*time.Second))
	f.record(t, settled, t0.Add(2*time.Second))
	if n := count(t, f.st, `SELECT count(*) FROM invoices WHERE invoice_id = $1 AND status = 'paid' AND paid_minor = amount_minor`, req.InvoiceID); n != 1 {
		t.Errorf("invoice not paid once")
	}
	if n := count(t, f.st, `SELECT count(*) FROM payments WHERE payment_id = 'pi_1' AND actor = 'gateway' AND method = 'card'`); n != 1 {
		t.Errorf("%d payments", n)
	}
	if n := count(t, f.st, `SELECT count(*) FROM audit_log WHERE action IN ('charge.requested', 'charge.succeeded')`); n != 2 {
		t.Errorf("%d charge audit rows", n)
	}
}

// A workflow task that failed after its local activity wrote a batch (a
// ghost write) may have numbered its events differently from the retry
// that history keeps: the real change under a key the ghost took is still
// recorded, with its payment, and counted once.
func TestGhostWriteDoesNotHideARealPayment(t *testing.T) {
	f := newFixture(t)
	a := f.acct
	f.record(t, append(a.Open(t0), must(a.Approve(true, account.SystemActor, "test", t0))...), t0)
	fee := a.Invoices[0].AmountMinor
	// The ghost: a copy of the account takes another update first (a
	// payment the client retries, applied later in history)...
	ghost := *a
	ghost.Payments = map[string]account.PaymentRef{}
	ghost.Invoices = nil
	_, ghostEvents, err := ghost.RecordPayment(account.Payment{PaymentID: "p0", AmountMinor: 7, Currency: "USD", Method: "bank_transfer"}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	f.record(t, ghostEvents, t0.Add(time.Minute))
	// ...while the retry took a part payment first, under the same key.
	_, payEvents, err := a.RecordPayment(account.Payment{PaymentID: "p1", AmountMinor: fee / 2, Currency: "USD", Method: "bank_transfer"}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if ghostEvents[0].Key != payEvents[0].Key {
		t.Fatalf("the test needs colliding keys: %s, %s", ghostEvents[0].Key, payEvents[0].Key)
	}
	for range 2 { // the real batch, and its retry
		f.record(t, payEvents, t0.Add(time.Minute))
	}
	if n := count(t, f.st, `SELECT count(*) FROM payments WHERE payment_id = 'p1'`); n != 1 {
		t.Errorf("%d payment rows: the real payment was hidden by the ghost's event key", n)
	}
	if n := count(t, f.st, `SELECT paid_minor FROM invoices WHERE invoice_id = 'INV-acme-0001'`); int64(n) != fee/2 {
		t.Errorf("paid_minor = %d, want %d (counted once)", n, fee/2)
	}
	if n := count(t, f.st, `SELECT count(*) FROM audit_log WHERE event_key LIKE $1`, payEvents[0].Key+"#%"); n != 1 {
		t.Errorf("%d audit rows under the real event's own key", n)
	}
}
