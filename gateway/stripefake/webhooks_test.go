package stripefake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/example/dunning/gateway"
	"github.com/example/dunning/gateway/stripefake"
)

const (
	key    = "sk_test_fake"
	secret = "whsec_test_secret"
)

// receiver verifies each delivery as a worker would, and fails the first
// `failFirst` deliveries.
type receiver struct {
	mu        sync.Mutex
	tolerance time.Duration
	failFirst int
	seen      int
	events    []stripe.Event
	refused   []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen++
	if rc.seen <= rc.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret,
		webhook.ConstructEventOptions{Tolerance: rc.tolerance})
	if err != nil {
		rc.refused = append(rc.refused, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, ev)
}

func (rc *receiver) types() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, e := range rc.events {
		out = append(out, string(e.Type))
	}
	return out
}

func setup(t *testing.T, rc *receiver) (*stripefake.Server, *gateway.Stripe) {
	t.Helper()
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	fake := stripefake.NewServer(key)
	t.Cleanup(fake.Close)
	fake.SetWebhook(hook.URL, secret)
	return fake, gateway.NewStripe(key, fake.URL(), nil)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWebhooksSignedInOrderAndRetried(t *testing.T) {
	rc := &receiver{tolerance: time.Minute, failFirst: 2}
	fake, g := setup(t, rc)
	ctx := context.Background()
	cus, err := g.EnsureCustomer(ctx, gateway.Customer{CustomerID: "c1", IdempotencyKey: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	card, err := g.AttachCard(ctx, cus, stripefake.PMCreateDispute)
	if err != nil {
		t.Fatal(err)
	}
	fake.ScriptCharges(card.PaymentMethodID, stripefake.InsufficientFunds)
	req := gateway.ChargeRequest{CustomerID: "c1", InvoiceID: "i1", Attempt: 1, AmountMinor: 900, Currency: "USD",
		GatewayCustomerID: cus, PaymentMethodID: card.PaymentMethodID, IdempotencyKey: "c1:i1:charge:1"}
	if res, _ := g.Charge(ctx, req); res.Outcome != gateway.OutcomeDeclined {
		t.Fatalf("%+v", res)
	}
	req.Attempt, req.IdempotencyKey = 2, "c1:i1:charge:2"
	res, err := g.Charge(ctx, req)
	if err != nil || res.Outcome != gateway.OutcomeSucceeded {
		t.Fatalf("%+v %v", res, err)
	}
	// pm_card_createDispute: a dispute follows the charge by itself.
	want := "payment_method.attached payment_intent.payment_failed payment_intent.succeeded charge.dispute.created"
	waitFor(t, want, func() bool { return strings.Join(rc.types(), " ") == want })
	var dp stripe.Dispute
	if err := json.Unmarshal(rc.events[3].Data.Raw, &dp); err != nil || dp.PaymentIntent.ID != res.PaymentIntentID ||
		dp.Status != stripe.DisputeStatusNeedsResponse || dp.Amount != 900 || !strings.HasPrefix(dp.ID, "dp_") {
		t.Errorf("dispute %+v %v", dp, err)
	}
	if err := fake.CloseDispute(dp.ID, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "charge.dispute.closed", func() bool { return len(rc.types()) == 5 })
	_ = json.Unmarshal(rc.events[4].Data.Raw, &dp)
	if rc.events[4].Type != "charge.dispute.closed" || dp.Status != stripe.DisputeStatusWon {
		t.Errorf("%s %s", rc.events[4].Type, dp.Status)
	}
	var pi stripe.PaymentIntent
	_ = json.Unmarshal(rc.events[2].Data.Raw, &pi)
	if pi.Metadata[gateway.MetaAttemptKey] != "c1:i1:charge:2" || pi.Status != stripe.PaymentIntentStatusSucceeded {
		t.Errorf("%+v", pi)
	}
	// The first event took three attempts, each signed afresh.
	ds := fake.Deliveries()
	if len(ds) != 7 || ds[0].Status != 503 || ds[1].Status != 503 || !ds[2].OK() || ds[2].Attempt != 3 || ds[0].EventID != ds[2].EventID {
		t.Errorf("deliveries %+v", ds)
	}
	if len(rc.refused) != 0 {
		t.Errorf("refused: %v", rc.refused)
	}
}

func TestCheckoutPaidSendsEvents(t *testing.T) {
	rc := &receiver{tolerance: time.Minute}
	fake, g := setup(t, rc)
	ctx := context.Background()
	cus, _ := g.EnsureCustomer(ctx, gateway.Customer{CustomerID: "c1", IdempotencyKey: "c1"})
	cs, err := g.CreateCheckout(ctx, gateway.CheckoutRequest{CustomerID: "c1", InvoiceID: "i1", AmountMinor: 1234, Currency: "USD",
		GatewayCustomerID: cus, Locale: "en", SuccessURL: "https://example.com/ok", IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	page, err := http.Get(cs.URL)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	_ = page.Body.Close()
	if !strings.Contains(string(html), "12.34 USD") || !strings.Contains(string(html), "<form") {
		t.Errorf("page: %s", html)
	}
	piID, err := fake.PayCheckout(cs.ID, stripefake.PMVisa)
	if err != nil {
		t.Fatal(err)
	}
	// The adapter's pages save no card, so no payment_method.attached.
	want := "checkout.session.completed payment_intent.succeeded"
	waitFor(t, want, func() bool { return strings.Join(rc.types(), " ") == want })
	var sess stripe.CheckoutSession
	_ = json.Unmarshal(rc.events[0].Data.Raw, &sess)
	if sess.Status != "complete" || sess.PaymentStatus != "paid" || sess.PaymentIntent.ID != piID || sess.Metadata[gateway.MetaInvoiceID] != "i1" {
		t.Errorf("%+v", sess)
	}
	var pi stripe.PaymentIntent
	_ = json.Unmarshal(rc.events[1].Data.Raw, &pi)
	if pi.Metadata[gateway.MetaInvoiceID] != "i1" || pi.Metadata[gateway.MetaCustomerID] != "c1" || pi.AmountReceived != 1234 {
		t.Errorf("%+v", pi)
	}
	if _, err := fake.PayCheckout(cs.ID, stripefake.PMVisa); err == nil {
		t.Error("paid twice")
	}
}

func TestHostedPagePays(t *testing.T) {
	fake, g := setup(t, &receiver{tolerance: time.Minute})
	cs, err := g.CreateCheckout(context.Background(), gateway.CheckoutRequest{CustomerID: "c1", InvoiceID: "i1", AmountMinor: 5000,
		Currency: "KRW", Email: "a@example.com", SuccessURL: "https://example.com/ok/{CHECKOUT_SESSION_ID}", IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Post(cs.URL, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "https://example.com/ok/"+cs.ID {
		t.Errorf("%d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if s := fake.Sessions()[0]; s.Status != "complete" || s.PaymentIntent == nil {
		t.Errorf("%+v", s)
	}
}

func TestReplayedDeliveryIsRefusedAfterTolerance(t *testing.T) {
	rc := &receiver{tolerance: 2 * time.Second} // timestamps are whole seconds
	fake, g := setup(t, rc)
	cus, _ := g.EnsureCustomer(context.Background(), gateway.Customer{CustomerID: "c1", IdempotencyKey: "c1"})
	id, err := fake.AttachFromDashboard(cus, stripefake.PMVisa)
	if err != nil || !strings.HasPrefix(id, "pm_") {
		t.Fatal(id, err)
	}
	waitFor(t, "payment_method.attached", func() bool { return len(rc.types()) == 1 })
	ev := fake.Events()[0]
	// Within the tolerance the replay verifies (the receiver must dedupe by
	// event ID); after it, stripe-go refuses the old timestamp.
	if d, err := fake.ResendEvent(ev.ID); err != nil || !d.OK() {
		t.Fatalf("early replay: %+v %v", d, err)
	}
	time.Sleep(3100 * time.Millisecond)
	d, err := fake.ResendEvent(ev.ID)
	if err != nil || d.Status != http.StatusBadRequest || len(rc.refused) != 1 || !strings.Contains(rc.refused[0], "timestamp") {
		t.Errorf("late replay: %+v %v %v", d, err, rc.refused)
	}
	if d.Signature != fake.Deliveries()[0].Signature {
		t.Error("the replay was signed afresh")
	}
	// SignPayload signs as Stripe does.
	if _, err := webhook.ConstructEvent(ev.Payload, fake.SignPayload(ev.Payload, time.Now()), secret); err != nil {
		t.Errorf("SignPayload: %v", err)
	}
	if _, err := webhook.ConstructEvent(ev.Payload, fake.SignPayload(ev.Payload, time.Now()), "whsec_other"); err == nil {
		t.Error("a wrong secret verified")
	}
}
