package stripeevents_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/stripeevents"
)

// Each event type becomes its update with the right fields, and its row
// says what became of it.
func TestEventsBecomeTheirUpdates(t *testing.T) {
	ourCharge := meta(gateway.MetaCustomerID, customerID, gateway.MetaInvoiceID, "inv-1",
		gateway.MetaAttempt, "1", gateway.MetaAttemptKey, "cust-1:inv-1:charge:1")
	payLink := meta(gateway.MetaCustomerID, customerID, gateway.MetaInvoiceID, "inv-2")
	cases := []struct {
		name    string
		setup   func(f *fixture)
		body    []byte
		want    []call
		outcome string
	}{
		{
			name: "our off-session charge succeeded",
			body: event("evt_1", stripeevents.TypePaymentSucceeded, t0, intent("pi_1", 5000, ourCharge)),
			want: []call{{"RecordPayment", customerID, account.Payment{PaymentID: "pi_1", AmountMinor: 5000, Currency: "USD",
				Method: "card", Reference: "inv-1", Actor: account.GatewayActor}}},
			outcome: stripeevents.OutcomePaymentRecorded,
		},
		{
			name: "a payment the customer made",
			body: event("evt_1", stripeevents.TypePaymentSucceeded, t0, intent("pi_2", 1234, payLink)),
			want: []call{{"RecordPayment", customerID, account.Payment{PaymentID: "pi_2", AmountMinor: 1234, Currency: "USD",
				Method: "card", Reference: "inv-2", Actor: account.PayLinkActor}}},
			outcome: stripeevents.OutcomePaymentRecorded,
		},
		{
			name: "pay-now page paid",
			body: event("evt_1", stripeevents.TypeCheckoutCompleted, t0, session("cs_1", "pi_3", "paid", 7700, payLink)),
			want: []call{{"RecordPayment", customerID, account.Payment{PaymentID: "pi_3", AmountMinor: 7700, Currency: "USD",
				Method: "card", Reference: "inv-2", Actor: account.PayLinkActor}}},
			outcome: stripeevents.OutcomePaymentRecorded,
		},
		{
			name:    "pay-now page completed unpaid",
			body:    event("evt_1", stripeevents.TypeCheckoutCompleted, t0, session("cs_1", "pi_3", "unpaid", 7700, payLink)),
			outcome: stripeevents.OutcomeIgnored,
		},
		{
			name: "card saved at Stripe",
			body: event("evt_1", stripeevents.TypeCardAttached, t0, card("pm_9", gatewayCus)),
			want: []call{{"SetPaymentMethod", customerID, account.CardUpdate{PaymentMethodID: "pm_9",
				Source: account.CardFromGateway, Actor: "stripe"}}},
			outcome: stripeevents.OutcomeCardSet,
		},
		{
			name:  "chargeback of our charge",
			setup: func(f *fixture) { f.chargeAttempt("inv-1", "pi_1") },
			body:  event("evt_1", stripeevents.TypeDisputeCreated, t0, dispute("du_1", "pi_1", "needs_response", 5000)),
			want: []call{{"RecordChargeback", customerID, account.Chargeback{DisputeID: "du_1", PaymentID: "pi_1", InvoiceID: "inv-1",
				AmountMinor: 5000, Currency: "USD", Reason: "fraudulent", Actor: "stripe"}}},
			outcome: stripeevents.OutcomeChargebackRecorded,
		},
		{
			name:    "charge failed: the charge activity has the answer",
			body:    event("evt_1", stripeevents.TypePaymentFailed, t0, intent("pi_1", 0, ourCharge)),
			outcome: stripeevents.OutcomeRecorded,
		},
		{
			name:    "a type not acted on",
			body:    event("evt_1", "customer.created", t0, map[string]any{"id": gatewayCus, "object": "customer"}),
			outcome: stripeevents.OutcomeIgnored,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			f.mustPost(tc.body)
			if got := f.n.Calls(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("calls\n got %+v\nwant %+v", got, tc.want)
			}
			r := f.row("evt_1")
			if r.ProcessedAt == nil || r.Outcome != tc.outcome || r.Attempts != 1 || r.LastError != "" {
				t.Errorf("row processed %v, outcome %q (want %q), attempts %d, last error %q", r.ProcessedAt, r.Outcome, tc.outcome, r.Attempts, r.LastError)
			}
			if !r.Created.Equal(t0) {
				t.Errorf("created %s, want %s", r.Created, t0)
			}
			if len(tc.want) > 0 && (r.CustomerID == nil || *r.CustomerID != customerID) {
				t.Errorf("customer_id %v", r.CustomerID)
			}
		})
	}
}

// The same PaymentIntent through payment_intent.succeeded and
// checkout.session.completed is one payment: both carry its ID and amount,
// so the workflow's RecordPayment takes the second as a duplicate.
func TestPaymentThroughBothEventsIsOnePayment(t *testing.T) {
	f := newFixture(t)
	md := meta(gateway.MetaCustomerID, customerID, gateway.MetaInvoiceID, "inv-2")
	f.mustPost(event("evt_pi", stripeevents.TypePaymentSucceeded, t0, intent("pi_3", 7700, md)))
	f.mustPost(event("evt_cs", stripeevents.TypeCheckoutCompleted, t0, session("cs_1", "pi_3", "paid", 7700, md)))
	calls := f.n.Calls()
	if len(calls) != 2 || calls[0] != calls[1] {
		t.Fatalf("want the same payment twice (idempotent by payment_id), got %+v", calls)
	}
}

func TestChargebackFindsItsPayment(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(f *fixture)
		pi      any // the dispute's payment_intent: an ID, or expanded
		invoice string
	}{
		{"our charge attempt", func(f *fixture) { f.chargeAttempt("inv-1", "pi_1") }, "pi_1", "inv-1"},
		{"the recorded payment's largest allocation", func(f *fixture) {
			f.exec(`INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, actor, received_at)
				VALUES ('pi_1', $1, 5000, 'USD', 'card', 'pay-link', now())`, customerID)
			for _, inv := range []struct {
				id     string
				amount int
			}{{"inv-a", 1000}, {"inv-b", 4000}} {
				f.exec(`INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, paid_minor,
					period_start, period_end, issued_at, due_at, stage, updated_at)
					VALUES ($1, $2, 'subscription', 'paid', 'USD', $3, $3, now(), now(), now(), now(), 'issued', now())`, inv.id, customerID, inv.amount)
				f.exec(`INSERT INTO payment_allocations (payment_id, invoice_id, amount_minor, customer_id) VALUES ('pi_1', $1, $2, $3)`,
					inv.id, inv.amount, customerID)
			}
		}, "pi_1", "inv-b"},
		{"the expanded PaymentIntent's metadata", nil,
			intent("pi_1", 5000, meta(gateway.MetaCustomerID, customerID, gateway.MetaInvoiceID, "inv-7")), "inv-7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			f.mustPost(event("evt_1", stripeevents.TypeDisputeCreated, t0, dispute("du_1", tc.pi, "needs_response", 5000)))
			calls := f.n.Calls()
			if len(calls) != 1 || calls[0].CustomerID != customerID || calls[0].Req.(account.Chargeback).InvoiceID != tc.invoice {
				t.Fatalf("want a chargeback of %s for %s, got %+v", tc.invoice, customerID, calls)
			}
		})
	}
}

func TestDisputeClosedOutcomes(t *testing.T) {
	for status, want := range map[string]string{"won": account.ChargebackWon, "warning_closed": account.ChargebackWon, "lost": account.ChargebackLost} {
		t.Run(status, func(t *testing.T) {
			f := newFixture(t)
			f.chargeAttempt("inv-1", "pi_1")
			f.mustPost(event("evt_c", stripeevents.TypeDisputeCreated, t0, dispute("du_1", "pi_1", "needs_response", 5000)))
			f.mustPost(event("evt_z", stripeevents.TypeDisputeClosed, t0.Add(time.Hour), dispute("du_1", "pi_1", status, 5000)))
			calls := f.n.Calls()
			wantClose := call{"CloseChargeback", customerID, account.ChargebackClosure{DisputeID: "du_1", Outcome: want, Actor: "stripe"}}
			if len(calls) != 2 || calls[1] != wantClose {
				t.Fatalf("calls %+v, want the chargeback then %+v", calls, wantClose)
			}
			if r := f.row("evt_z"); r.Outcome != stripeevents.OutcomeChargebackClosed {
				t.Errorf("outcome %q", r.Outcome)
			}
		})
	}
}

// What cannot be matched to a customer is processed (Stripe need not
// redeliver it) with an outcome that says so, and logged as a warning.
func TestUnknownCustomerOrPayment(t *testing.T) {
	cases := []struct {
		name, outcome string
		body          []byte
	}{
		{"card of a gateway customer not ours", stripeevents.OutcomeUnknownCustomer,
			event("evt_1", stripeevents.TypeCardAttached, t0, card("pm_9", "cus_stranger"))},
		{"payment without our metadata", stripeevents.OutcomeUnknownCustomer,
			event("evt_1", stripeevents.TypePaymentSucceeded, t0, intent("pi_1", 5000, meta()))},
		{"chargeback of a payment not ours", stripeevents.OutcomeUnknownPayment,
			event("evt_1", stripeevents.TypeDisputeCreated, t0, dispute("du_1", "pi_stranger", "needs_response", 5000))},
		{"chargeback without a PaymentIntent", stripeevents.OutcomeUnknownPayment,
			event("evt_1", stripeevents.TypeDisputeCreated, t0, dispute("du_1", nil, "needs_response", 5000))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustPost(tc.body)
			if calls := f.n.Calls(); len(calls) != 0 {
				t.Errorf("calls %+v", calls)
			}
			if r := f.row("evt_1"); r.ProcessedAt == nil || r.Outcome != tc.outcome {
				t.Errorf("processed %v, outcome %q, want %q", r.ProcessedAt, r.Outcome, tc.outcome)
			}
			if !strings.Contains(f.logs.String(), "level=WARN") {
				t.Errorf("not logged as a warning:\n%s", f.logs.String())
			}
			if n := f.processPending(); n != 0 {
				t.Errorf("retried %d", n)
			}
		})
	}
}

// Forged, unsigned, stale or oversized deliveries are refused and store
// nothing.
func TestRefusedDeliveries(t *testing.T) {
	body := event("evt_1", stripeevents.TypePaymentSucceeded, t0, intent("pi_1", 5000, meta(gateway.MetaCustomerID, customerID)))
	now := time.Now()
	forged := sign(body, secret, now)
	forged = forged[:len(forged)-4] + "0000"
	cases := []struct {
		name string
		req  func() *http.Request
		code int
	}{
		{"missing signature", func() *http.Request { return request(body, "") }, http.StatusBadRequest},
		{"forged signature", func() *http.Request { return request(body, forged) }, http.StatusBadRequest},
		{"wrong secret", func() *http.Request { return request(body, sign(body, "whsec_other", now)) }, http.StatusBadRequest},
		{"signature of another body", func() *http.Request {
			return request(body, sign(event("evt_2", "customer.created", t0, map[string]any{}), secret, now))
		}, http.StatusBadRequest},
		{"malformed header", func() *http.Request { return request(body, "t=now,v1") }, http.StatusBadRequest},
		{"v0 signature only", func() *http.Request {
			return request(body, strings.Replace(sign(body, secret, now), "v1=", "v0=", 1))
		}, http.StatusBadRequest},
		{"replayed: timestamp 6 minutes old", func() *http.Request {
			return request(body, sign(body, secret, now.Add(-6*time.Minute)))
		}, http.StatusBadRequest},
		{"too large", func() *http.Request {
			big := append(body[:len(body)-1:len(body)-1], []byte(`,"pad":"`+strings.Repeat("x", maxBody)+`"}`)...)
			return request(big, sign(big, secret, now))
		}, http.StatusRequestEntityTooLarge},
		{"GET", func() *http.Request {
			r := request(body, sign(body, secret, now))
			r.Method = http.MethodGet
			return r
		}, http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if code := f.serve(tc.req()); code != tc.code {
				t.Errorf("status %d, want %d", code, tc.code)
			}
			if n := f.count(`SELECT count(*) FROM gateway_events`); n != 0 {
				t.Errorf("%d events stored", n)
			}
			if f.n.tries != 0 {
				t.Errorf("notifier called")
			}
			if !strings.Contains(f.logs.String(), "stripe webhook request refused") {
				t.Errorf("not logged:\n%s", f.logs.String())
			}
		})
	}
}

// A signature rolled over to a new secret carries two v1 signatures; the
// one under ours is enough.
func TestRolledSecretSignature(t *testing.T) {
	f := newFixture(t)
	body := event("evt_1", "customer.created", t0, map[string]any{"id": gatewayCus})
	now := time.Now()
	other := sign(body, "whsec_old", now)
	ours := sign(body, secret, now)
	header := other + "," + ours[strings.Index(ours, "v1="):]
	if code := f.serve(request(body, header)); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
}

// Stripe redelivers what it did not see answered (and a replay within the
// tolerance is the same): the event is stored once and acted on once.
func TestRedeliveryIsActedOnOnce(t *testing.T) {
	f := newFixture(t)
	body := event("evt_1", stripeevents.TypePaymentSucceeded, t0, intent("pi_1", 5000, meta(gateway.MetaCustomerID, customerID)))
	for range 3 {
		f.mustPost(body)
	}
	if n := f.count(`SELECT count(*) FROM gateway_events`); n != 1 {
		t.Errorf("%d rows", n)
	}
	if calls := f.n.Calls(); len(calls) != 1 {
		t.Errorf("calls %+v", calls)
	}
	if r := f.row("evt_1"); r.Attempts != 1 {
		t.Errorf("attempts %d", r.Attempts)
	}
}

func TestNewHandlerRequiresSecret(t *testing.T) {
	if _, err := stripeevents.NewHandler(stripeevents.Config{Store: &stripeevents.Store{}, Notifier: &notifier{}}); err == nil {
		t.Error("no secret: want an error")
	}
	if _, err := stripeevents.NewHandler(stripeevents.Config{Secret: secret}); err == nil {
		t.Error("no store or notifier: want an error")
	}
}
