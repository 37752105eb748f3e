package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/dunning/gateway"
	"github.com/example/dunning/gateway/stripefake"
)

const testKey = "sk_test_fake_4242"

func newFake(t *testing.T) (*stripefake.Server, *gateway.Stripe) {
	t.Helper()
	fake := stripefake.NewServer(testKey)
	t.Cleanup(fake.Close)
	return fake, gateway.NewStripe(testKey, fake.URL(), nil)
}

// customerWithCard makes a gateway customer with pm attached; it returns
// the customer and the attached payment method's ID.
func customerWithCard(t *testing.T, g gateway.Gateway, name, pm string) (string, string) {
	t.Helper()
	ctx := context.Background()
	cus, err := g.EnsureCustomer(ctx, gateway.Customer{CustomerID: name, Name: name, Email: name + "@example.com", IdempotencyKey: name + ":customer"})
	if err != nil {
		t.Fatal(err)
	}
	card, err := g.AttachCard(ctx, cus, pm)
	if err != nil {
		t.Fatal(err)
	}
	return cus, card.PaymentMethodID
}

func chargeReq(cus, pm, invoice string, attempt int) gateway.ChargeRequest {
	return gateway.ChargeRequest{
		CustomerID: "c1", InvoiceID: invoice, Attempt: attempt, AmountMinor: 1500, Currency: "USD",
		GatewayCustomerID: cus, PaymentMethodID: pm, Description: "Invoice " + invoice,
		IdempotencyKey: fmt.Sprintf("c1:%s:charge:%d", invoice, attempt),
	}
}

func gwError(t *testing.T, err error) *gateway.Error {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		t.Fatalf("want *gateway.Error, got %T %v", err, err)
	}
	return ge
}

func TestEnsureCustomerIsIdempotent(t *testing.T) {
	fake, g := newFake(t)
	ctx := context.Background()
	c := gateway.Customer{CustomerID: "c1", Name: "Kim Minji", Email: "minji@example.com", IdempotencyKey: "c1:customer"}
	id1, err := g.EnsureCustomer(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := g.EnsureCustomer(ctx, c)
	if err != nil || id2 != id1 {
		t.Fatalf("retry gave %q %v, want %q", id2, err, id1)
	}
	got, ok := fake.Customer(id1)
	if !ok || got.Name != c.Name || got.Email != c.Email || got.Metadata[gateway.MetaCustomerID] != "c1" {
		t.Errorf("stored %+v", got)
	}
	if n := fake.Requests()["POST /v1/customers"]; n != 2 {
		t.Errorf("%d customer requests", n)
	}
}

func TestAttachCard(t *testing.T) {
	fake, g := newFake(t)
	ctx := context.Background()
	cus, err := g.EnsureCustomer(ctx, gateway.Customer{CustomerID: "c1", IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	card, err := g.AttachCard(ctx, cus, stripefake.PMVisaDebit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(card.PaymentMethodID, "pm_") || card.PaymentMethodID == stripefake.PMVisaDebit ||
		card.GatewayCustomerID != cus || card.Brand != "visa" || card.Last4 != "5556" || card.Funding != "debit" ||
		card.ExpMonth == 0 || card.ExpYear == 0 || card.Fingerprint == "" {
		t.Errorf("card %+v", card)
	}
	got, _ := fake.Customer(cus)
	if d := got.InvoiceSettings.DefaultPaymentMethod; d == nil || *d != card.PaymentMethodID {
		t.Errorf("default payment method %v", d)
	}
	// Attaching the attached copy again is no error and changes nothing.
	again, err := g.AttachCard(ctx, cus, card.PaymentMethodID)
	if err != nil || again != card {
		t.Errorf("again: %+v %v", again, err)
	}
	if n := fake.Requests()["POST /v1/payment_methods/"+card.PaymentMethodID+"/attach"]; n != 0 {
		t.Errorf("attached again (%d)", n)
	}
	// Another customer's card is refused, not retried.
	other, _ := g.EnsureCustomer(ctx, gateway.Customer{CustomerID: "c2", IdempotencyKey: "k2"})
	_, err = g.AttachCard(ctx, other, card.PaymentMethodID)
	if ge := gwError(t, err); ge.Retryable || ge.Status != 400 {
		t.Errorf("%+v", ge)
	}
	_, err = g.AttachCard(ctx, cus, "pm_nope")
	if ge := gwError(t, err); ge.Status != 404 || ge.Code != "resource_missing" || ge.Retryable {
		t.Errorf("%+v", ge)
	}
}

func TestChargeSucceeds(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	req := chargeReq(cus, pm, "inv1", 1)
	res, err := g.Charge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != gateway.OutcomeSucceeded || res.AmountMinor != 1500 || res.Currency != "USD" || !strings.HasPrefix(res.PaymentIntentID, "pi_") {
		t.Fatalf("%+v", res)
	}
	pis := fake.PaymentIntents()
	if len(pis) != 1 {
		t.Fatalf("%d PaymentIntents", len(pis))
	}
	want := map[string]string{gateway.MetaCustomerID: "c1", gateway.MetaInvoiceID: "inv1", gateway.MetaAttempt: "1", gateway.MetaAttemptKey: req.IdempotencyKey}
	for k, v := range want {
		if pis[0].Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, pis[0].Metadata[k], v)
		}
	}
	if pis[0].Currency != "usd" || pis[0].IdempotencyKey != req.IdempotencyKey || pis[0].Description == nil {
		t.Errorf("%+v", pis[0])
	}
}

func TestChargeDeclines(t *testing.T) {
	for _, tc := range []struct {
		pm                           string
		outcome                      gateway.Outcome
		code, decline, advice, netwk string
	}{
		{stripefake.PMDeclined, gateway.OutcomeDeclined, "card_declined", "generic_decline", "", ""},
		{stripefake.PMInsufficientFunds, gateway.OutcomeDeclined, "card_declined", "insufficient_funds", "try_again_later", "02"},
		{stripefake.PMLostCard, gateway.OutcomeDeclined, "card_declined", "lost_card", "do_not_try_again", "03"},
		{stripefake.PMStolenCard, gateway.OutcomeDeclined, "card_declined", "stolen_card", "do_not_try_again", "03"},
		{stripefake.PMExpiredCard, gateway.OutcomeDeclined, "expired_card", "expired_card", "confirm_card_data", "01"},
		{stripefake.PMIncorrectNumber, gateway.OutcomeDeclined, "incorrect_number", "incorrect_number", "confirm_card_data", ""},
		{stripefake.PMIncorrectCVC, gateway.OutcomeDeclined, "incorrect_cvc", "incorrect_cvc", "confirm_card_data", ""},
		{stripefake.PMProcessingError, gateway.OutcomeDeclined, "processing_error", "processing_error", "try_again_later", ""},
		{stripefake.PMRadarBlock, gateway.OutcomeDeclined, "card_declined", "fraudulent", "do_not_try_again", ""},
		{stripefake.PMDemoExpiring, gateway.OutcomeDeclined, "expired_card", "expired_card", "confirm_card_data", "01"},
		{stripefake.PMAuthRequired, gateway.OutcomeRequiresAction, "authentication_required", "authentication_required", "", ""},
	} {
		t.Run(tc.pm, func(t *testing.T) {
			fake, g := newFake(t)
			cus, pm := customerWithCard(t, g, "c1", tc.pm)
			req := chargeReq(cus, pm, "inv1", 1)
			res, err := g.Charge(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.outcome || res.Code != tc.code || res.DeclineCode != tc.decline || res.AdviceCode != tc.advice ||
				res.NetworkAdviceCode != tc.netwk || res.Message == "" || !strings.HasPrefix(res.PaymentIntentID, "pi_") {
				t.Errorf("%+v", res)
			}
			// The attempt is found again with the same answer.
			found, ok, err := g.FindCharge(context.Background(), req)
			if err != nil || !ok || found != res {
				t.Errorf("FindCharge: %+v %v %v, want %+v", found, ok, err, res)
			}
			if n := fake.ChargesFor(req.IdempotencyKey); n != 1 {
				t.Errorf("%d charges", n)
			}
		})
	}
}

func TestScriptedSoftDeclineThenSuccess(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	fake.ScriptCharges(stripefake.PMVisa, stripefake.InsufficientFunds, stripefake.Succeed, stripefake.LostCard)
	var got []string
	for attempt := 1; attempt <= 4; attempt++ {
		res, err := g.Charge(context.Background(), chargeReq(cus, pm, "inv1", attempt))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(res.Outcome)+"/"+res.DeclineCode)
	}
	if want := "declined/insufficient_funds succeeded/ declined/lost_card succeeded/"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestDemoSoftDeclineOncePerCustomer(t *testing.T) {
	_, g := newFake(t)
	for _, who := range []string{"a", "b"} {
		cus, pm := customerWithCard(t, g, who, stripefake.PMDemoSoftDeclineOnce)
		first, _ := g.Charge(context.Background(), chargeReq(cus, pm, who, 1))
		second, _ := g.Charge(context.Background(), chargeReq(cus, pm, who, 2))
		if first.DeclineCode != "insufficient_funds" || second.Outcome != gateway.OutcomeSucceeded {
			t.Errorf("%s: %+v then %+v", who, first, second)
		}
	}
}

func TestChargeIdempotency(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	req := chargeReq(cus, pm, "inv1", 1)
	first, err := g.Charge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := g.Charge(context.Background(), req)
	if err != nil || again != first {
		t.Fatalf("same key, same params: %+v %v, want %+v", again, err, first)
	}
	if n := fake.ChargesFor(req.IdempotencyKey); n != 1 {
		t.Errorf("%d charges", n)
	}
	if n := len(fake.PaymentIntents()); n != 1 {
		t.Errorf("%d PaymentIntents", n)
	}
	other := req
	other.AmountMinor = 2000
	_, err = g.Charge(context.Background(), other)
	if ge := gwError(t, err); ge.Retryable || ge.Status != 400 || ge.Code != "idempotency_error" {
		t.Errorf("same key, other params: %+v", ge)
	}
	if n := fake.ChargesFor(req.IdempotencyKey); n != 1 {
		t.Errorf("%d charges after the refused request", n)
	}
}

func TestDeclineIsReplayedNotRetried(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	fake.ScriptCharges(stripefake.PMVisa, stripefake.InsufficientFunds)
	req := chargeReq(cus, pm, "inv1", 1)
	first, _ := g.Charge(context.Background(), req)
	again, err := g.Charge(context.Background(), req) // the script is spent: a new charge would succeed
	if err != nil || again != first || first.Outcome != gateway.OutcomeDeclined {
		t.Errorf("%+v then %+v %v", first, again, err)
	}
	if n := fake.ChargesFor(req.IdempotencyKey); n != 1 {
		t.Errorf("%d charges", n)
	}
}

func TestKeyInUseIsRetryable(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	fake.Inject(stripefake.Fault{Path: "/v1/payment_intents", Delay: 500 * time.Millisecond})
	req := chargeReq(cus, pm, "inv1", 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := g.Charge(context.Background(), req); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(150 * time.Millisecond)
	_, err := g.Charge(context.Background(), req)
	wg.Wait()
	if ge := gwError(t, err); !ge.Retryable || ge.Status != 409 || ge.Code != "idempotency_key_in_use" {
		t.Errorf("%+v", ge)
	}
	if n := fake.ChargesFor(req.IdempotencyKey); n != 1 {
		t.Errorf("%d charges", n)
	}
}

func TestChargeThenFailRetryGetsTheOriginal(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	fake.Inject(stripefake.Fault{Path: "/v1/payment_intents", ChargeThenFail: true})
	req := chargeReq(cus, pm, "inv1", 1)
	_, err := g.Charge(context.Background(), req)
	if ge := gwError(t, err); !ge.Retryable || ge.Status != 500 {
		t.Fatalf("%+v", ge)
	}
	// The answer was lost; FindCharge sees the charge.
	found, ok, err := g.FindCharge(context.Background(), req)
	if err != nil || !ok || found.Outcome != gateway.OutcomeSucceeded {
		t.Fatalf("FindCharge: %+v %v %v", found, ok, err)
	}
	res, err := g.Charge(context.Background(), req)
	if err != nil || res.Outcome != gateway.OutcomeSucceeded || res.PaymentIntentID != found.PaymentIntentID {
		t.Fatalf("retry: %+v %v, want %s", res, err, found.PaymentIntentID)
	}
	if n := fake.ChargesFor(req.IdempotencyKey); n != 1 {
		t.Errorf("%d charges", n)
	}
}

func TestChargeThenHoldDeadline(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	fake.Inject(stripefake.Fault{Path: "/v1/payment_intents", ChargeThenHold: 5 * time.Second})
	req := chargeReq(cus, pm, "inv1", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := g.Charge(ctx, req)
	if ge := gwError(t, err); !ge.Retryable || ge.Status != 0 {
		t.Fatalf("%+v", ge)
	}
	res, err := g.Charge(context.Background(), req)
	if err != nil || res.Outcome != gateway.OutcomeSucceeded || fake.ChargesFor(req.IdempotencyKey) != 1 {
		t.Fatalf("retry: %+v %v, %d charges", res, err, fake.ChargesFor(req.IdempotencyKey))
	}
}

func TestFindChargeNotFoundAndPaginated(t *testing.T) {
	_, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	ctx := context.Background()
	var first gateway.ChargeResult
	for i := 1; i <= 105; i++ { // more than one page of 100, newest first
		res, err := g.Charge(ctx, chargeReq(cus, pm, fmt.Sprintf("inv%d", i), 1))
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			first = res
		}
	}
	got, ok, err := g.FindCharge(ctx, chargeReq(cus, pm, "inv1", 1))
	if err != nil || !ok || got != first {
		t.Errorf("oldest: %+v %v %v", got, ok, err)
	}
	if _, ok, err := g.FindCharge(ctx, chargeReq(cus, pm, "inv1", 2)); ok || err != nil {
		t.Errorf("found a charge never made: %v %v", ok, err)
	}
	other, _ := customerWithCard(t, g, "c2", stripefake.PMVisa)
	if _, ok, err := g.FindCharge(ctx, chargeReq(other, pm, "inv1", 1)); ok || err != nil {
		t.Errorf("found another customer's charge: %v %v", ok, err)
	}
}

func TestFaultsMapToRetryable(t *testing.T) {
	for _, tc := range []struct {
		fault      stripefake.Fault
		status     int
		code       string
		retryable  bool
		retryAfter time.Duration
	}{
		{stripefake.Fault{Status: 429, RetryAfter: 3 * time.Second}, 429, "rate_limit", true, 3 * time.Second},
		{stripefake.Fault{Status: 429, Code: "lock_timeout"}, 429, "lock_timeout", true, 0},
		{stripefake.Fault{Status: 500}, 500, "api_error", true, 0},
		{stripefake.Fault{Status: 503, RetryAfter: time.Second}, 503, "api_error", true, time.Second},
		{stripefake.Fault{Status: 400, Code: "parameter_invalid"}, 400, "parameter_invalid", false, 0},
	} {
		t.Run(fmt.Sprint(tc.status, tc.code), func(t *testing.T) {
			fake, g := newFake(t)
			cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
			fake.Inject(tc.fault)
			req := chargeReq(cus, pm, "inv1", 1)
			_, err := g.Charge(context.Background(), req)
			ge := gwError(t, err)
			if ge.Status != tc.status || ge.Code != tc.code || ge.Retryable != tc.retryable || ge.RetryAfter != tc.retryAfter {
				t.Errorf("%+v", ge)
			}
			if strings.Contains(ge.Error(), testKey) {
				t.Error("the API key is in the error")
			}
			// Nothing was executed: the retry charges once.
			if res, err := g.Charge(context.Background(), req); err != nil || res.Outcome != gateway.OutcomeSucceeded || fake.ChargesFor(req.IdempotencyKey) != 1 {
				t.Errorf("retry: %+v %v", res, err)
			}
		})
	}
}

func TestHangYieldsRetryableTimeout(t *testing.T) {
	fake, g := newFake(t)
	cus, pm := customerWithCard(t, g, "c1", stripefake.PMVisa)
	fake.SetFault(stripefake.Fault{Path: "/v1/payment_intents", Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := g.Charge(ctx, chargeReq(cus, pm, "inv1", 1))
	if ge := gwError(t, err); !ge.Retryable || ge.Status != 0 || !strings.Contains(ge.Message, "deadline") {
		t.Errorf("%+v", ge)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
	fake.ClearFault()
	if res, err := g.Charge(context.Background(), chargeReq(cus, pm, "inv1", 1)); err != nil || res.Outcome != gateway.OutcomeSucceeded {
		t.Errorf("after the hang: %+v %v", res, err)
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	fake := stripefake.NewServer(testKey)
	url := fake.URL()
	fake.Close()
	_, err := gateway.NewStripe(testKey, url, nil).EnsureCustomer(context.Background(), gateway.Customer{CustomerID: "c1"})
	if ge := gwError(t, err); !ge.Retryable || ge.Status != 0 {
		t.Errorf("%+v", ge)
	}
}

func TestWrongKeyIs401(t *testing.T) {
	fake, _ := newFake(t)
	_, err := gateway.NewStripe("sk_test_wrong_key_9999", fake.URL(), nil).EnsureCustomer(context.Background(), gateway.Customer{CustomerID: "c1"})
	ge := gwError(t, err)
	if ge.Status != http.StatusUnauthorized || ge.Retryable || strings.Contains(ge.Error(), "sk_test_wrong_key") {
		t.Errorf("%+v", ge)
	}
}

func TestCreateCheckout(t *testing.T) {
	fake, g := newFake(t)
	ctx := context.Background()
	cus, _ := customerWithCard(t, g, "c1", stripefake.PMVisa)
	expires := time.Now().Add(2 * time.Hour).Truncate(time.Second).UTC()
	req := gateway.CheckoutRequest{
		CustomerID: "c1", InvoiceID: "inv1", AmountMinor: 15000, Currency: "KRW", GatewayCustomerID: cus,
		Locale: "ko", SuccessURL: "https://example.com/paid?s={CHECKOUT_SESSION_ID}", CancelURL: "https://example.com/cancel",
		IdempotencyKey: "c1:inv1:checkout:1", ExpiresAt: expires,
	}
	cs, err := g.CreateCheckout(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cs.ID, "cs_test_") || !strings.HasPrefix(cs.URL, fake.URL()) || !cs.ExpiresAt.Equal(expires) {
		t.Errorf("%+v", cs)
	}
	again, err := g.CreateCheckout(ctx, req)
	if err != nil || again != cs {
		t.Errorf("retry: %+v %v", again, err)
	}
	ss := fake.Sessions()
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	if s.AmountTotal != 15000 || s.Currency != "krw" || s.Customer == nil || *s.Customer != cus || s.Locale == nil || *s.Locale != "ko" ||
		s.ProductName != "Invoice inv1" || s.Metadata[gateway.MetaInvoiceID] != "inv1" || s.PIMetadata[gateway.MetaCustomerID] != "c1" || s.SaveCard {
		// The page pays the invoice only: it saves no card (see CreateCheckout).
		t.Errorf("%+v", s)
	}

	// Without a gateway customer: the email; a too-near expiry is refused.
	guest := req
	guest.GatewayCustomerID, guest.Email, guest.IdempotencyKey, guest.ExpiresAt = "", "guest@example.com", "guest", time.Time{}
	if _, err := g.CreateCheckout(ctx, guest); err != nil {
		t.Fatal(err)
	}
	if s := fake.Sessions()[1]; s.CustomerEmail == nil || *s.CustomerEmail != "guest@example.com" || s.Customer != nil {
		t.Errorf("%+v", s)
	}
	guest.IdempotencyKey, guest.ExpiresAt = "near", time.Now().Add(5*time.Minute)
	_, err = g.CreateCheckout(ctx, guest)
	if ge := gwError(t, err); ge.Status != 400 || ge.Retryable {
		t.Errorf("%+v", ge)
	}
}
