package sgevents_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/internal/syncbuf"
	"github.com/example/dunning/sgevents"
)

const (
	customerID = "cust-1"
	address    = "ap@acme.test"
	messageKey = "cust-1/inv-1/overdue-1"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type call struct{ CustomerID, MessageKey, Event, Reason string }

// notifier records successful calls; it can fail a number of calls, or
// hold the first call until released.
type notifier struct {
	mu       sync.Mutex
	calls    []call
	attempts int
	fail     int
	entered  chan struct{}
	release  chan struct{}
}

func (n *notifier) EmailUndeliverable(ctx context.Context, customerID, messageKey, event, reason string) error {
	n.mu.Lock()
	n.attempts++
	first := n.attempts == 1
	if n.fail > 0 {
		n.fail--
		n.mu.Unlock()
		return errors.New("temporal unavailable")
	}
	n.mu.Unlock()
	if first && n.entered != nil {
		close(n.entered)
		<-n.release
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, call{customerID, messageKey, event, reason})
	return nil
}

func (n *notifier) Calls() []call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]call(nil), n.calls...)
}

type fixture struct {
	t     *testing.T
	db    *sqlx.DB
	store *sgevents.Store
	priv  *ecdsa.PrivateKey
	now   time.Time
	h     *sgevents.Handler
	n     *notifier
	logs  *syncbuf.Buffer
}

const maxBody = 64 << 10

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, db := pgtest.New(t)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sgevents.PublicKeyBase64(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, store: sgevents.NewStore(db), priv: priv, now: t0.Add(time.Hour), n: &notifier{}, logs: &syncbuf.Buffer{}}
	f.h, err = sgevents.NewHandler(sgevents.Config{
		PublicKey: pub, Store: f.store, Notifier: f.n,
		Clock:   func() time.Time { return f.now },
		MaxBody: maxBody,
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy, monthly_fee_minor,
		instrument_type, signup_ip, status, access, created_at, updated_at)
		VALUES ($1, 'Acme', $2, '+15550100', 'US', 'USD', 'en', 'standard.v1', 5000, 'card', '192.0.2.1', 'active', 'full', $3, $3)`,
		customerID, address, t0)
	f.exec(`INSERT INTO email_outbox (message_key, customer_id, invoice_id, stage, template, to_email, subject, body_text, body_html, status)
		VALUES ($1, $2, 'inv-1', 'overdue-1', 'overdue', $3, 'Overdue', 'text', '<p>html</p>', 'sent')`,
		messageKey, customerID, address)
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

// event is a SendGrid event for our message (key "" for mail not ours),
// with the custom args flattened in as SendGrid does.
func event(id, name string, at time.Time, key string, extra ...string) map[string]any {
	e := map[string]any{
		"sg_event_id": id, "sg_message_id": "msg-" + id, "email": address, "event": name,
		"timestamp": at.Unix(), "smtp-id": "<x@sendgrid.test>", "category": []string{"overdue-1"},
	}
	if key != "" {
		e["dunning_key"], e["customer_id"], e["invoice_id"], e["stage"] = key, customerID, "inv-1", "overdue-1"
	}
	for i := 0; i+1 < len(extra); i += 2 {
		e[extra[i]] = extra[i+1]
	}
	return e
}

func batch(t *testing.T, events ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\r', '\n') // as SendGrid sends it
}

func (f *fixture) request(body []byte, at time.Time) *http.Request {
	f.t.Helper()
	req, err := sgevents.NewSignedRequest(context.Background(), "http://dunning.test/sendgrid/events", f.priv, at, body)
	if err != nil {
		f.t.Fatal(err)
	}
	return req
}

func (f *fixture) serve(req *http.Request) int {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code
}

// post signs the body now, as SendGrid does on every attempt.
func (f *fixture) post(body []byte) int {
	f.t.Helper()
	return f.serve(f.request(body, f.now))
}

func (f *fixture) delivery() sgevents.Delivery {
	f.t.Helper()
	d, ok, err := f.store.DeliveryOf(context.Background(), messageKey)
	if err != nil || !ok {
		f.t.Fatalf("delivery of %s: %v, %v", messageKey, ok, err)
	}
	return d
}

func TestValidBatchIsRecorded(t *testing.T) {
	f := newFixture(t)
	body := batch(t,
		event("e1", "processed", t0, messageKey),
		event("e2", "delivered", t0.Add(5*time.Second), messageKey, "response", "250 OK"),
		event("e3", "delivered", t0, ""), // someone else's mail on the same account
	)
	// Signed nine minutes ago: late, but inside the ten-minute window.
	if code := f.serve(f.request(body, f.now.Add(-9*time.Minute))); code != http.StatusOK {
		t.Fatalf("status %d, want 200; log:\n%s", code, f.logs)
	}
	var row struct {
		MessageKey *string   `db:"message_key"`
		CustomerID *string   `db:"customer_id"`
		Event      string    `db:"event"`
		Occurred   time.Time `db:"occurred_at"`
		Received   time.Time `db:"received_at"`
		Raw        string    `db:"raw"`
	}
	if err := f.db.Get(&row, `SELECT message_key, customer_id, event, occurred_at, received_at, raw FROM email_events WHERE sg_event_id = 'e2'`); err != nil {
		t.Fatal(err)
	}
	if row.MessageKey == nil || *row.MessageKey != messageKey || row.CustomerID == nil || *row.CustomerID != customerID ||
		row.Event != "delivered" || !row.Occurred.Equal(t0.Add(5*time.Second)) || !row.Received.Equal(f.now) ||
		!strings.Contains(row.Raw, `"response": "250 OK"`) {
		t.Errorf("e2 recorded as %+v", row)
	}
	if n := f.count(`SELECT count(*) FROM email_events`); n != 3 {
		t.Errorf("%d events recorded, want 3", n)
	}
	if n := f.count(`SELECT count(*) FROM email_events WHERE sg_event_id = 'e3' AND message_key IS NULL AND customer_id IS NULL`); n != 1 {
		t.Error("an event without dunning_key was not recorded as not ours")
	}
	if d := f.delivery(); d.Status != "delivered" || d.EventID != "e2" || !d.UpdatedAt.Equal(t0.Add(5*time.Second)) {
		t.Errorf("delivery = %+v, want delivered by e2", d)
	}
	if calls := f.n.Calls(); len(calls) != 0 {
		t.Errorf("notified %v for a delivered message", calls)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := batch(t, event("e1", "bounce", t0, messageKey, "type", "bounce", "reason", "550 no such user"))
	var secrets []string // what must not reach the log
	signed := func(body []byte, at time.Time) *http.Request {
		req := f.request(body, at)
		secrets = append(secrets, req.Header.Get(eventwebhook.VerificationHTTPHeader))
		return req
	}
	big := batch(t, event("big", "delivered", t0, messageKey, "pad", strings.Repeat("x", maxBody)))
	cases := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"GET", func() *http.Request {
			req := signed(good, f.now)
			req.Method = http.MethodGet
			return req
		}, http.StatusMethodNotAllowed},
		{"no signature", func() *http.Request {
			req := signed(good, f.now)
			req.Header.Del(eventwebhook.VerificationHTTPHeader)
			return req
		}, http.StatusUnauthorized},
		{"no timestamp", func() *http.Request {
			req := signed(good, f.now)
			req.Header.Del(eventwebhook.TimestampHTTPHeader)
			return req
		}, http.StatusUnauthorized},
		{"signed with another key", func() *http.Request {
			req, err := sgevents.NewSignedRequest(context.Background(), "http://dunning.test/", other, f.now, good)
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, req.Header.Get(eventwebhook.VerificationHTTPHeader))
			return req
		}, http.StatusForbidden},
		{"tampered body", func() *http.Request {
			req := signed(good, f.now)
			forged := bytes.Replace(good, []byte(`"bounce"`), []byte(`"delivered"`), 1)
			return withBody(req, forged)
		}, http.StatusForbidden},
		{"timestamp changed after signing", func() *http.Request {
			req := signed(good, f.now)
			req.Header.Set(eventwebhook.TimestampHTTPHeader, strconv.FormatInt(f.now.Unix()-1, 10))
			return req
		}, http.StatusForbidden},
		{"signature not base64", func() *http.Request {
			req := signed(good, f.now)
			req.Header.Set(eventwebhook.VerificationHTTPHeader, "%%%")
			return req
		}, http.StatusForbidden},
		{"timestamp not a number", func() *http.Request {
			req := signed(good, f.now)
			req.Header.Set(eventwebhook.TimestampHTTPHeader, "yesterday")
			return req
		}, http.StatusForbidden},
		{"stale timestamp", func() *http.Request { return signed(good, f.now.Add(-11*time.Minute)) }, http.StatusForbidden},
		{"future timestamp", func() *http.Request { return signed(good, f.now.Add(11*time.Minute)) }, http.StatusForbidden},
		{"too large", func() *http.Request { return signed(big, f.now) }, http.StatusRequestEntityTooLarge},
		{"too large, length unknown", func() *http.Request {
			req := signed(big, f.now)
			req.ContentLength = -1
			return req
		}, http.StatusRequestEntityTooLarge},
		{"malformed JSON", func() *http.Request { return signed([]byte(`[{"event": "bounce",`), f.now) }, http.StatusBadRequest},
		{"object, not a list", func() *http.Request { return signed([]byte(`{"event": "bounce"}`), f.now) }, http.StatusBadRequest},
		{"list of strings", func() *http.Request { return signed([]byte(`["bounce"]`), f.now) }, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := f.serve(c.req()); code != c.want {
				t.Errorf("status %d, want %d", code, c.want)
			}
		})
	}
	if n := f.count(`SELECT count(*) FROM email_events`); n != 0 {
		t.Errorf("%d events recorded from refused requests", n)
	}
	if calls := f.n.Calls(); len(calls) != 0 {
		t.Errorf("refused requests notified %v", calls)
	}
	logs := f.logs.String()
	if got := strings.Count(logs, "sendgrid webhook request refused"); got != len(cases) {
		t.Errorf("%d refusals logged, want %d:\n%s", got, len(cases), logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a signature is in the log:\n%s", logs)
		}
	}
	if strings.Contains(logs, address) || strings.Contains(logs, "no such user") {
		t.Errorf("the body is in the log:\n%s", logs)
	}
}

func withBody(req *http.Request, body []byte) *http.Request {
	out := httptest.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
	out.Header = req.Header.Clone()
	return out
}

func TestHardBounceMarksCustomerAndNotifies(t *testing.T) {
	f := newFixture(t)
	body := batch(t, event("b1", "bounce", t0, messageKey, "type", "bounce", "status", "5.1.1",
		"reason", "550 5.1.1 The email account that you tried to reach does not exist"))
	if code := f.post(body); code != http.StatusOK {
		t.Fatalf("status %d; log:\n%s", code, f.logs)
	}
	want := call{customerID, messageKey, "bounce", "550 5.1.1 The email account that you tried to reach does not exist"}
	if calls := f.n.Calls(); len(calls) != 1 || calls[0] != want {
		t.Errorf("notified %+v, want [%+v]", calls, want)
	}
	var c struct {
		Undeliverable bool       `db:"email_undeliverable"`
		Reason        string     `db:"email_undeliverable_reason"`
		At            *time.Time `db:"email_undeliverable_at"`
	}
	if err := f.db.Get(&c, `SELECT email_undeliverable, email_undeliverable_reason, email_undeliverable_at FROM customers WHERE customer_id = $1`, customerID); err != nil {
		t.Fatal(err)
	}
	if !c.Undeliverable || !strings.HasPrefix(c.Reason, "hard bounce: 550 5.1.1") || c.At == nil || !c.At.Equal(t0) {
		t.Errorf("customer = %+v, want undeliverable by the hard bounce", c)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE customer_id = $1 AND action = 'email_undeliverable' AND actor = 'sendgrid'`, customerID); n != 1 {
		t.Errorf("%d audit entries, want 1", n)
	}
	if d := f.delivery(); d.Status != "bounce" {
		t.Errorf("delivery status %q, want bounce", d.Status)
	}
}

func TestWhichEventsMakeAnAddressUndeliverable(t *testing.T) {
	cases := []struct {
		name   string
		events []map[string]any
		notify string // the event the notifier hears of, "" for none
		status string // delivery status afterwards, "" for none
	}{
		{"soft bounce", []map[string]any{event("s1", "bounce", t0, messageKey, "type", "blocked", "reason", "421 try later")}, "", "blocked"},
		{"dropped", []map[string]any{event("d1", "dropped", t0, messageKey, "reason", "Bounced Address")}, "dropped", "dropped"},
		{"spam report", []map[string]any{event("p1", "spamreport", t0, messageKey)}, "spamreport", "spamreport"},
		{"bounce without type", []map[string]any{event("b1", "bounce", t0, messageKey)}, "bounce", "bounce"},
		{"unsubscribe", []map[string]any{event("u1", "unsubscribe", t0, messageKey)}, "", "unsubscribe"},
		{"bounce of mail not ours", []map[string]any{event("n1", "bounce", t0, "", "type", "bounce", "customer_id", customerID)}, "", ""},
		{"bounce of an unknown message", []map[string]any{event("k1", "bounce", t0, "cust-1/other", "type", "bounce")}, "", ""},
		{"bounce and spam report of one message", []map[string]any{
			event("b2", "bounce", t0, messageKey, "type", "bounce"),
			event("p2", "spamreport", t0.Add(time.Minute), messageKey),
		}, "bounce", "bounce"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			if code := f.post(batch(t, c.events...)); code != http.StatusOK {
				t.Fatalf("status %d; log:\n%s", code, f.logs)
			}
			if n := f.count(`SELECT count(*) FROM email_events`); n != len(c.events) {
				t.Errorf("%d events recorded, want %d", n, len(c.events))
			}
			calls := f.n.Calls()
			marked := f.count(`SELECT count(*) FROM customers WHERE email_undeliverable`) == 1
			if c.notify == "" {
				if len(calls) != 0 || marked {
					t.Errorf("notified %v, customer marked %v; want neither", calls, marked)
				}
			} else if len(calls) != 1 || calls[0].Event != c.notify || calls[0].CustomerID != customerID || !marked {
				t.Errorf("notified %v, customer marked %v; want one %s notice and the mark", calls, marked, c.notify)
			}
			d, ok, err := f.store.DeliveryOf(context.Background(), messageKey)
			if err != nil {
				t.Fatal(err)
			}
			if (c.status == "") == ok || d.Status != c.status {
				t.Errorf("delivery %+v (%v), want %q", d, ok, c.status)
			}
		})
	}
}

func TestReplayedBatchIsRecordedOnceAndNotifiedOnce(t *testing.T) {
	f := newFixture(t)
	body := batch(t,
		event("b1", "bounce", t0, messageKey, "type", "bounce", "reason", "550 gone"),
		event("x1", "processed", t0, ""),
	)
	first := f.request(body, f.now)
	for i, req := range []*http.Request{first, withBody(first, body), f.request(body, f.now.Add(time.Minute))} {
		// The same request again (a replay inside the window), then the
		// batch signed afresh (SendGrid's own retry).
		if code := f.serve(req); code != http.StatusOK {
			t.Fatalf("post %d: status %d; log:\n%s", i+1, code, f.logs)
		}
	}
	if n := f.count(`SELECT count(*) FROM email_events`); n != 2 {
		t.Errorf("%d events recorded, want 2", n)
	}
	if calls := f.n.Calls(); len(calls) != 1 {
		t.Errorf("notified %d times, want once: %v", len(calls), calls)
	}
	if n := f.count(`SELECT count(*) FROM audit_log`); n != 1 {
		t.Errorf("%d audit entries, want 1", n)
	}
}

func TestDeliveryStatusNeverMovesBack(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		event  map[string]any
		status string
		at     time.Time // delivery_updated_at afterwards
	}{
		{event("e1", "delivered", t0.Add(10*time.Second), messageKey), "delivered", t0.Add(10 * time.Second)},
		{event("e2", "processed", t0, messageKey), "delivered", t0.Add(10 * time.Second)},
		{event("e3", "deferred", t0.Add(5*time.Second), messageKey), "delivered", t0.Add(10 * time.Second)},
		{event("e4", "open", t0.Add(20*time.Second), messageKey), "open", t0.Add(20 * time.Second)},
		{event("e5", "open", t0.Add(30*time.Second), messageKey), "open", t0.Add(30 * time.Second)},
		{event("e6", "open", t0.Add(25*time.Second), messageKey), "open", t0.Add(30 * time.Second)},
		{event("e7", "delivered", t0.Add(40*time.Second), messageKey), "open", t0.Add(30 * time.Second)},
		{event("e8", "bounce", t0.Add(50*time.Second), messageKey, "type", "bounce"), "bounce", t0.Add(50 * time.Second)},
		{event("e9", "click", t0.Add(60*time.Second), messageKey), "bounce", t0.Add(50 * time.Second)},
	}
	for i, s := range steps {
		if code := f.post(batch(t, s.event)); code != http.StatusOK {
			t.Fatalf("step %d: status %d", i+1, code)
		}
		if d := f.delivery(); d.Status != s.status || !d.UpdatedAt.Equal(s.at) {
			t.Errorf("after %s (step %d): %s at %s, want %s at %s", s.event["event"], i+1, d.Status, d.UpdatedAt.UTC(), s.status, s.at)
		}
	}

	// Within one batch, in the order SendGrid happened to send them.
	g := newFixture(t)
	if code := g.post(batch(t, event("e1", "delivered", t0.Add(time.Second), messageKey), event("e2", "processed", t0, messageKey))); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if d := g.delivery(); d.Status != "delivered" {
		t.Errorf("processed after delivered in one batch left %q", d.Status)
	}
}

func TestStatusOrder(t *testing.T) {
	order := []string{"processed", "deferred", "delivered", "open", "click", "unsubscribe", "group_unsubscribe",
		"spamreport", "blocked", "bounce", "dropped"}
	for i := 1; i < len(order); i++ {
		if a, b := sgevents.StatusRank(order[i-1]), sgevents.StatusRank(order[i]); a == 0 || a >= b {
			t.Errorf("rank(%s) = %d, rank(%s) = %d: want the first lower", order[i-1], a, order[i], b)
		}
	}
	if r := sgevents.StatusRank("group_resubscribe"); r != 0 {
		t.Errorf("an event outside the order has rank %d", r)
	}
}

func TestNotifierFailureIsRetriedByTheNextPost(t *testing.T) {
	f := newFixture(t)
	f.n.fail = 1
	body := batch(t, event("b1", "bounce", t0, messageKey, "type", "bounce", "reason", "550 gone"))
	if code := f.post(body); code != http.StatusInternalServerError {
		t.Fatalf("status %d with the notifier down, want 500", code)
	}
	if n := f.count(`SELECT count(*) FROM email_undeliverable_notices WHERE notified_at IS NULL AND attempts = 1 AND last_error LIKE '%unavailable%'`); n != 1 {
		t.Error("the failed notice is not pending with its error")
	}
	f.now = f.now.Add(5 * time.Minute) // SendGrid retries later, signing again
	for i := range 2 {
		if code := f.post(body); code != http.StatusOK {
			t.Fatalf("retry %d: status %d; log:\n%s", i+1, code, f.logs)
		}
	}
	if calls := f.n.Calls(); len(calls) != 1 || calls[0].MessageKey != messageKey {
		t.Errorf("notified %v, want exactly once", calls)
	}
	if f.n.attempts != 2 {
		t.Errorf("notifier called %d times, want 2 (the failure and the retry)", f.n.attempts)
	}
	if n := f.count(`SELECT count(*) FROM email_events`); n != 1 {
		t.Errorf("%d events recorded, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM email_undeliverable_notices WHERE notified_at IS NOT NULL AND last_error IS NULL`); n != 1 {
		t.Error("the notice is not marked delivered")
	}
}

func TestConcurrentPostsNotifyOnce(t *testing.T) {
	f := newFixture(t)
	f.n.entered, f.n.release = make(chan struct{}), make(chan struct{})
	body := batch(t, event("b1", "bounce", t0, messageKey, "type", "bounce"))
	first := make(chan int)
	go func() { first <- f.post(body) }()
	<-f.n.entered // the first post is inside the notifier
	if code := f.post(body); code != http.StatusOK {
		t.Errorf("second post: status %d", code)
	}
	close(f.n.release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first post: status %d", code)
	}
	if calls := f.n.Calls(); len(calls) != 1 {
		t.Errorf("notified %d times, want once", len(calls))
	}
}

func TestBounceOfAReplacedAddressStillNotifiesButDoesNotMark(t *testing.T) {
	f := newFixture(t)
	f.exec(`UPDATE customers SET email = 'new@acme.test' WHERE customer_id = $1`, customerID)
	if code := f.post(batch(t, event("b1", "bounce", t0, messageKey, "type", "bounce"))); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if n := f.count(`SELECT count(*) FROM customers WHERE email_undeliverable`); n != 0 {
		t.Error("the new address was marked undeliverable for a bounce of the old one")
	}
	if calls := f.n.Calls(); len(calls) != 1 {
		t.Errorf("notified %v, want once", calls)
	}
}

func TestNotifyPendingSweep(t *testing.T) {
	f := newFixture(t)
	f.n.fail = 1
	if code := f.post(batch(t, event("b1", "dropped", t0, messageKey))); code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", code)
	}
	// SendGrid gave up on the batch; the sweep delivers it.
	n, err := f.store.NotifyPending(context.Background(), f.n, nil)
	if err != nil || n != 1 {
		t.Fatalf("sweep delivered %d, %v", n, err)
	}
	if n, err := f.store.NotifyPending(context.Background(), f.n, nil); err != nil || n != 0 {
		t.Errorf("second sweep delivered %d, %v", n, err)
	}
	if calls := f.n.Calls(); len(calls) != 1 {
		t.Errorf("notified %v, want once", calls)
	}
}

// SendGrid's own example from sendgrid-go's tests: a request signed by
// SendGrid's key is accepted, so this verifies what SendGrid really sends.
func TestSendGridSignedExample(t *testing.T) {
	const (
		publicKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
		signature = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
		timestamp = "1600112502"
	)
	payload := `[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]` + "\r\n"
	_, db := pgtest.New(t)
	h, err := sgevents.NewHandler(sgevents.Config{
		PublicKey: publicKey, Store: sgevents.NewStore(db), Notifier: &notifier{},
		Clock:  func() time.Time { return time.Unix(1600112502+30, 0) },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{payload, strings.Replace(payload, "dropped", "dropper", 1)} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set(eventwebhook.VerificationHTTPHeader, signature)
		req.Header.Set(eventwebhook.TimestampHTTPHeader, timestamp)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := http.StatusOK
		if body != payload {
			want = http.StatusForbidden
		}
		if rec.Code != want {
			t.Errorf("status %d, want %d", rec.Code, want)
		}
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM email_events WHERE event = 'dropped' AND message_key IS NULL`); err != nil || n != 1 {
		t.Errorf("%d events recorded, %v", n, err)
	}
}

func TestNewHandlerRefusesBadKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	k384, _ := sgevents.PublicKeyBase64(&p384.PublicKey)
	// A valid key of another type: the sendgrid-go helper panics on it.
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	ed25519Key := base64.StdEncoding.EncodeToString(edDER)
	_, db := pgtest.New(t)
	for _, key := range []string{"", "not base64!", "aGVsbG8=", ed25519Key, k384} {
		_, err := sgevents.NewHandler(sgevents.Config{PublicKey: key, Store: sgevents.NewStore(db), Notifier: &notifier{}})
		if err == nil {
			t.Errorf("key %q accepted", key)
		}
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := sgevents.PublicKeyBase64(&priv.PublicKey)
	pemKey := fmt.Sprintf("-----BEGIN PUBLIC KEY-----\n%s\n%s\n-----END PUBLIC KEY-----\n", good[:64], good[64:])
	for _, key := range []string{good, " " + good + "\n", pemKey} {
		if _, err := sgevents.ParsePublicKey(key); err != nil {
			t.Errorf("key %q refused: %v", key, err)
		}
	}
	if _, err := sgevents.NewHandler(sgevents.Config{PublicKey: good, Store: sgevents.NewStore(db)}); err == nil {
		t.Error("a handler without a Notifier was built")
	}
}
