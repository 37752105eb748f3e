package main

import (
	"context"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/gateway/stripefake"
)

func TestWebhookURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/webhooks/stripe",
		":8080":          "http://127.0.0.1:8080/webhooks/stripe",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/webhooks/stripe",
		"[::1]:9000":     "http://[::1]:9000/webhooks/stripe",
	} {
		if got := webhookURL(addr); got != want {
			t.Errorf("webhookURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

func newSim(t *testing.T) (*simulator, *gateway.Stripe) {
	t.Helper()
	fake := stripefake.NewServer(demoStripeKey)
	t.Cleanup(fake.Close)
	s := &simulator{stripe: fake, flags: map[string]time.Time{}, notes: map[string]string{}}
	return s, gateway.NewStripe(demoStripeKey, fake.URL(), nil)
}

// The chargeback persona disputes its first paid charge, then loses it,
// each after its delay; found by the charge's customer_id metadata.
func TestChargeBackDisputesThenLoses(t *testing.T) {
	s, g := newSim(t)
	ctx := context.Background()
	cus, err := g.EnsureCustomer(ctx, gateway.Customer{CustomerID: "chargeback-1", IdempotencyKey: "c"})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := g.AttachCard(ctx, cus, stripefake.PMVisa)
	if err != nil {
		t.Fatal(err)
	}
	v := account.StatusView{CustomerID: "chargeback-1", Currency: "USD"}
	if err := s.chargeBack(v); err != nil || s.note("chargeback-1chargebackpi") != "" {
		t.Fatalf("before any charge: %v %q", err, s.note("chargeback-1chargebackpi"))
	}
	if _, err := g.Charge(ctx, gateway.ChargeRequest{CustomerID: "chargeback-1", InvoiceID: "inv1", Attempt: 1, AmountMinor: 9500,
		Currency: "USD", GatewayCustomerID: cus, PaymentMethodID: pm.PaymentMethodID, IdempotencyKey: "chargeback-1:inv1:charge:1"}); err != nil {
		t.Fatal(err)
	}
	_ = s.chargeBack(v) // finds the charge
	_ = s.chargeBack(v) // not yet due
	if len(s.stripe.Disputes()) != 0 {
		t.Fatal("disputed before its delay")
	}
	s.markAt("chargeback-1chargebackopen", time.Now())
	if err := s.chargeBack(v); err != nil {
		t.Fatal(err)
	}
	dp := s.stripe.Disputes()[s.note("chargeback-1chargebackdispute")]
	if dp.Status != "needs_response" || dp.Amount != 9500 {
		t.Fatalf("dispute: %+v", dp)
	}
	s.markAt("chargeback-1chargebackclose", time.Now())
	if err := s.chargeBack(v); err != nil {
		t.Fatal(err)
	}
	if dp := s.stripe.Disputes()[dp.ID]; dp.Status != "lost" {
		t.Errorf("dispute after close: %+v", dp)
	}
}

// The pay-link persona pays its overdue invoice's open session, once.
func TestPayOnHostedPage(t *testing.T) {
	s, g := newSim(t)
	ctx := context.Background()
	cs, err := g.CreateCheckout(ctx, gateway.CheckoutRequest{CustomerID: "paylink-1", InvoiceID: "inv1", AmountMinor: 5500, Currency: "USD",
		Email: "billing@paylink.example", SuccessURL: "https://example.com/billing", IdempotencyKey: "pl"})
	if err != nil {
		t.Fatal(err)
	}
	inv := account.InvoiceView{ID: "inv1", Stage: "due", OutstandingMinor: 5500}
	v := account.StatusView{CustomerID: "paylink-1", Currency: "USD", Invoices: []account.InvoiceView{inv}}
	if err := s.payOnHostedPage(v); err != nil || s.stripe.Sessions()[0].Status != "open" {
		t.Fatalf("paid before the overdue notice: %v", err)
	}
	v.Invoices[0].Stage = payOnPageStage
	for range 2 { // the second tick, before the webhook is recorded, pays nothing
		if err := s.payOnHostedPage(v); err != nil {
			t.Fatal(err)
		}
	}
	got := s.stripe.Sessions()[0]
	if got.ID != cs.ID || got.Status != "complete" || got.PaymentStatus != "paid" || len(s.stripe.PaymentIntents()) != 1 {
		t.Errorf("session %+v, %d payments", got, len(s.stripe.PaymentIntents()))
	}
}
