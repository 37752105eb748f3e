package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/gateway"
)

// stripeMock starts stripe-mock (STRIPE_MOCK, set by the Makefile through
// scripts/ensure-stripe-mock.sh, or ../bin/stripe-mock) on a free port.
// It checks each request against Stripe's published OpenAPI spec and
// answers 400 for an unknown or invalid parameter.
func stripeMock(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("STRIPE_MOCK")
	if bin == "" {
		bin, _ = filepath.Abs("../bin/stripe-mock")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("stripe-mock not found at %q (%v): run `make unit`, or scripts/ensure-stripe-mock.sh and set STRIPE_MOCK to the path it prints", bin, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not listen on %s", addr)
		}
	}
}

// TestRequestsValidForStripeAPI sends every request the adapter makes to
// stripe-mock. Its answers are fixtures (a charge "succeeds" whatever the
// card), so only one thing is asserted: no request was refused as invalid.
func TestRequestsValidForStripeAPI(t *testing.T) {
	base := stripeMock(t)
	g := gateway.NewStripe("sk_test_123", base, nil)
	ctx := context.Background()
	// The control: stripe-mock does refuse a parameter Stripe does not know.
	bad, err := http.NewRequest(http.MethodPost, base+"/v1/customers", strings.NewReader("no_such_param=1"))
	if err != nil {
		t.Fatal(err)
	}
	bad.Header.Set("Authorization", "Bearer sk_test_123")
	bad.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err := http.DefaultClient.Do(bad); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("stripe-mock accepted an unknown parameter: %v %v", res, err)
	} else {
		_ = res.Body.Close()
	}
	refused := func(what string, err error) {
		t.Helper()
		var ge *gateway.Error
		if errors.As(err, &ge) && ge.Status >= 400 && ge.Status < 500 && ge.Status != 402 {
			t.Errorf("%s: stripe-mock refused the request: %v", what, err)
		} else if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	cus, err := g.EnsureCustomer(ctx, gateway.Customer{CustomerID: "c1", Name: "Kim Minji", Email: "minji@example.com", IdempotencyKey: "c1:customer"})
	refused("EnsureCustomer", err)
	if cus == "" {
		cus = "cus_123"
	}
	_, err = g.AttachCard(ctx, cus, "pm_card_visa")
	refused("AttachCard", err)
	req := gateway.ChargeRequest{CustomerID: "c1", InvoiceID: "inv1", Attempt: 2, AmountMinor: 1500, Currency: "USD",
		GatewayCustomerID: cus, PaymentMethodID: "pm_card_visa", IdempotencyKey: "c1:inv1:charge:2", Description: "Invoice inv1"}
	_, err = g.Charge(ctx, req)
	refused("Charge", err)
	_, _, err = g.FindCharge(ctx, req)
	refused("FindCharge", err)
	for i, cr := range []gateway.CheckoutRequest{
		{CustomerID: "c1", InvoiceID: "inv1", AmountMinor: 15000, Currency: "KRW", GatewayCustomerID: cus, Locale: "ko",
			SuccessURL: "https://example.com/ok", CancelURL: "https://example.com/no", IdempotencyKey: "c1:inv1:checkout",
			ExpiresAt: time.Now().Add(2 * time.Hour)},
		{CustomerID: "c1", InvoiceID: "inv1", AmountMinor: 1500, Currency: "USD", Email: "minji@example.com", Locale: "en",
			SuccessURL: "https://example.com/ok", IdempotencyKey: "c1:inv1:checkout:guest"},
	} {
		_, err = g.CreateCheckout(ctx, cr)
		refused(fmt.Sprint("CreateCheckout ", i), err)
	}
}
