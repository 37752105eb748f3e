package stripeevents_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stripe/stripe-go/v84"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/internal/syncbuf"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/stripeevents"
)

const (
	secret     = "whsec_test_secret"
	customerID = "cust-1"
	gatewayCus = "cus_1"
	maxBody    = 64 << 10
)

// call is one update the notifier was given.
type call struct {
	Method     string
	CustomerID string
	Req        any
}

// notifier records the updates it accepts. Like ops, it checks a request's
// form first (an invalid one is ops.InvalidError); it can fail the next
// calls with err.
type notifier struct {
	mu    sync.Mutex
	calls []call
	fail  int   // calls to fail; -1: all
	err   error // what they fail with
	tries int
}

func (n *notifier) do(method, customerID string, req interface{ Validate() error }) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tries++
	if err := req.Validate(); err != nil {
		return ops.Invalid(err)
	}
	if n.fail != 0 {
		if n.fail > 0 {
			n.fail--
		}
		return n.err
	}
	n.calls = append(n.calls, call{method, customerID, req})
	return nil
}

func (n *notifier) RecordPayment(_ context.Context, c string, p account.Payment) error {
	return n.do("RecordPayment", c, p)
}

func (n *notifier) SetPaymentMethod(_ context.Context, c string, u account.CardUpdate) error {
	return n.do("SetPaymentMethod", c, u)
}

func (n *notifier) RecordChargeback(_ context.Context, c string, cb account.Chargeback) error {
	return n.do("RecordChargeback", c, cb)
}

func (n *notifier) CloseChargeback(_ context.Context, c string, cl account.ChargebackClosure) error {
	return n.do("CloseChargeback", c, cl)
}

func (n *notifier) Calls() []call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]call(nil), n.calls...)
}

// failWith makes the next count calls fail with err (-1: every call).
func (n *notifier) failWith(count int, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fail, n.err = count, err
}

var errUnavailable = &ops.UnavailableError{Err: fmt.Errorf("RecordPayment for %s: no answer within 10s", customerID)}

type fixture struct {
	t     *testing.T
	db    *sqlx.DB
	store *stripeevents.Store
	h     *stripeevents.Handler
	n     *notifier
	logs  *syncbuf.Buffer
	skew  time.Duration // the handler's clock runs this far ahead of the real one
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, db := pgtest.New(t)
	f := &fixture{t: t, db: db, store: stripeevents.NewStore(db), n: &notifier{}, logs: &syncbuf.Buffer{}}
	var err error
	f.h, err = stripeevents.NewHandler(stripeevents.Config{
		Secret: secret, Store: f.store, Notifier: f.n,
		Clock:   func() time.Time { return time.Now().Add(f.skew) },
		MaxBody: maxBody,
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy, monthly_fee_minor,
		instrument_type, signup_ip, status, access, created_at, updated_at)
		VALUES ($1, 'Acme', 'ap@acme.test', '+15550100', 'US', 'USD', 'en', 'standard.v1', 5000, 'card', '192.0.2.1', 'active', 'full', now(), now())`,
		customerID)
	f.exec(`INSERT INTO gateway_customers (customer_id, gateway, gateway_customer_id) VALUES ($1, 'stripe', $2)`, customerID, gatewayCus)
	return f
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) count(q string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.db.Get(&n, q, args...); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) row(eventID string) stripeevents.Row {
	f.t.Helper()
	r, err := f.store.Event(context.Background(), eventID)
	if err != nil {
		f.t.Fatalf("event %s: %v", eventID, err)
	}
	return r
}

// chargeAttempt records our off-session charge of an invoice as succeeded
// with the PaymentIntent intent.
func (f *fixture) chargeAttempt(invoiceID, intent string) {
	f.exec(`INSERT INTO charge_attempts (customer_id, invoice_id, attempt, idempotency_key, amount_minor, currency,
		payment_method_id, status, payment_intent_id) VALUES ($1, $2, 1, $1 || ':' || $2 || ':charge:1', 5000, 'USD', 'pm_1', 'succeeded', $3)`,
		customerID, invoiceID, intent)
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// event is a Stripe event envelope as Stripe posts it.
func event(id string, typ stripe.EventType, created time.Time, obj map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2024-06-20", "created": created.Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": "req_1", "idempotency_key": nil},
		"data":    map[string]any{"object": obj},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func meta(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func intent(id string, amount int64, md map[string]any) map[string]any {
	return map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": amount,
		"currency": "usd", "status": "succeeded", "customer": gatewayCus, "metadata": md}
}

func session(id, intentID, paymentStatus string, amount int64, md map[string]any) map[string]any {
	return map[string]any{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": paymentStatus,
		"status": "complete", "payment_intent": intentID, "amount_total": amount, "currency": "usd",
		"customer": gatewayCus, "metadata": md}
}

func card(id, cus string) map[string]any {
	return map[string]any{"id": id, "object": "payment_method", "type": "card", "customer": cus,
		"card": map[string]any{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}}
}

func dispute(id string, pi any, status string, amount int64) map[string]any {
	return map[string]any{"id": id, "object": "dispute", "amount": amount, "currency": "usd", "charge": "ch_1",
		"payment_intent": pi, "reason": "fraudulent", "status": status}
}

// sign is the Stripe-Signature header for a payload signed at t, as Stripe
// computes it: HMAC-SHA256 of "<t>.<payload>" under the secret.
func sign(payload []byte, key string, t time.Time) string {
	mac := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(mac, "%d.", t.Unix())
	mac.Write(payload)
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(mac.Sum(nil)))
}

func request(body []byte, header string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://dunning.test/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if header != "" {
		req.Header.Set(stripeevents.SignatureHeader, header)
	}
	return req
}

func (f *fixture) serve(req *http.Request) int {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code
}

// post delivers a payload signed now, as Stripe does on every attempt.
func (f *fixture) post(body []byte) int {
	f.t.Helper()
	return f.serve(request(body, sign(body, secret, time.Now())))
}

// mustPost delivers and wants 200.
func (f *fixture) mustPost(body []byte) {
	f.t.Helper()
	if code := f.post(body); code != http.StatusOK {
		f.t.Fatalf("status %d, want 200; log:\n%s", code, f.logs.String())
	}
}

// processPending runs the background retry once and wants no error.
func (f *fixture) processPending() int {
	f.t.Helper()
	n, err := f.h.ProcessPending(context.Background())
	if err != nil {
		f.t.Fatalf("process pending: %v", err)
	}
	return n
}
