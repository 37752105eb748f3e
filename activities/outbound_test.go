package activities

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/store"
	"github.com/example/dunning/webhooks"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fastSchedule retries within the test's time.
var fastSchedule = webhooks.Schedule{First: 50 * time.Millisecond, Max: 200 * time.Millisecond, GiveUp: time.Minute}

// recordCustomer records a customer's approval, prepayment, a suspension
// and a reinstatement by staff, as the workflow would: eight public events
// (four status changes, the prepayment invoice issued and paid, suspended,
// reinstated).
func recordCustomer(t testing.TB, st *store.Store, id string) {
	t.Helper()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := reg.Get("standard")
	app := account.Application{CustomerID: id, Name: "Acme", Email: "billing@acme.test", Phone: "+14155550100", Country: "US",
		Currency: "USD", Locale: "en", Policy: "standard", Plan: account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentBankTransfer}, SignupIP: "203.0.113.7"}
	t0 := time.Now().Add(-time.Hour)
	a := account.New(app, pol, "low", t0)
	rec := func(evs []account.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		c := a.Customer
		row := store.Customer{CustomerID: id, Name: c.Name, Email: c.Email, Phone: c.Phone, Country: c.Country, Currency: c.Currency,
			Locale: c.Locale, Policy: a.Policy.ID(), MonthlyFeeMinor: 10000, InstrumentType: string(c.PaymentInstrument.Type),
			SignupIP: c.SignupIP, RiskTier: a.RiskTier, Status: string(a.Status), Access: string(a.Access), BalanceMinor: a.Balance(),
			DunningStage: "none", CreatedAt: t0, UpdatedAt: t0, EventSeq: int64(a.EventSeq)}
		if _, err := st.Record(context.Background(), row, evs); err != nil {
			t.Fatal(err)
		}
	}
	rec(a.Open(t0), nil)
	rec(a.Approve(true, account.SystemActor, "screening", t0))
	_, evs, err := a.RecordPayment(account.Payment{PaymentID: "prepay", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer"}, t0.Add(time.Minute))
	rec(evs, err)
	rec(a.Suspend(account.StaffAction{Actor: "kim", Reason: "checking"}, t0.Add(2*time.Minute)))
	rec(a.Reinstate(account.StaffAction{Actor: "kim", Reason: "checked"}, t0.Add(3*time.Minute)))
}

// eventsOf is the customer's public event IDs in the order recorded.
func eventsOf(t *testing.T, db *sqlx.DB, customerID string) []string {
	t.Helper()
	var ids []string
	if err := db.Select(&ids, `SELECT event_id FROM webhook_events WHERE customer_id = $1 ORDER BY seq`, customerID); err != nil {
		t.Fatal(err)
	}
	return ids
}

func register(t testing.TB, st *store.Store, rcv *faults.Receiver) store.Endpoint {
	t.Helper()
	id, _ := webhooks.NewEndpointID()
	secret, _ := webhooks.NewSecret()
	e, err := st.CreateEndpoint(context.Background(), store.Endpoint{ID: id, URL: rcv.URL(), Secret: secret,
		EventTypes: []string{"*"}, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// "*" is the ops layer's shorthand; the store takes the list.
	if _, err := st.DB().Exec(`UPDATE webhook_endpoints SET event_types = $2 WHERE endpoint_id = $1`, id, typeArray()); err != nil {
		t.Fatal(err)
	}
	rcv.SetSecret(secret)
	return e
}

func typeArray() string {
	var s []string
	for _, t := range webhooks.Types() {
		s = append(s, string(t))
	}
	return "{" + strings.Join(s, ",") + "}"
}

// deliverUntil runs the deliverer until cond holds or the time is up.
func deliverUntil(t *testing.T, o *Outbound, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within %s", limit)
		}
		o.deliver(context.Background(), time.Now().Add(200*time.Millisecond), nil)
	}
}

// accepted lists the receiver's de-duplicated events of one customer.
func accepted(rcv *faults.Receiver, customerID string) []string {
	var ids []string
	for _, e := range rcv.Accepted() {
		if e.CustomerID == customerID {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// Every event reaches the receiver signed, once per event ID, each
// customer's in the order they were recorded.
func TestDeliverSignedInOrder(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	rcv := faults.NewReceiver()
	defer rcv.Close()
	register(t, st, rcv)
	for _, c := range []string{"c1", "c2", "c3"} {
		recordCustomer(t, st, c)
	}
	o := &Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: time.Second, Poll: 20 * time.Millisecond, Parallel: 4}
	want, total := map[string][]string{}, 0
	for _, c := range []string{"c1", "c2", "c3"} {
		want[c] = eventsOf(t, db, c)
		total += len(want[c])
	}
	if total != 24 {
		t.Fatalf("%d public events, want 8 per customer", total)
	}
	deliverUntil(t, o, 20*time.Second, func() bool { return len(rcv.Accepted()) == total })
	for c, ids := range want {
		if got := accepted(rcv, c); !equal(got, ids) {
			t.Errorf("%s received\n %v\nwant\n %v", c, got, ids)
		}
	}
	for _, r := range rcv.Received() {
		if !r.SignatureOK || r.Status != http.StatusOK || r.EventID != r.Event.ID {
			t.Errorf("delivery %+v", r)
		}
	}
	var pending int
	_ = db.Get(&pending, `SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'`)
	if pending != 0 {
		t.Errorf("%d deliveries not delivered", pending)
	}
}

// The receiver fails: 500, 429 (Retry-After 1 s), hangs past the attempt
// timeout, answers after the timeout, then answers late but in time. The
// event is delivered exactly at that last attempt, the log holds all six,
// and the customer's next event waited for it.
func TestDeliverThroughFailuresTimeoutsAndLateAnswers(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	rcv := faults.NewReceiver()
	defer rcv.Close()
	register(t, st, rcv)
	recordCustomer(t, st, "c1")
	ids := eventsOf(t, db, "c1")
	const timeout = 300 * time.Millisecond
	rcv.Script(
		faults.Answer{Status: http.StatusInternalServerError},
		faults.Answer{Status: http.StatusTooManyRequests},
		faults.Answer{Hang: true},
		faults.Answer{Late: 2 * timeout},
		faults.Answer{Status: http.StatusBadGateway},
		faults.Answer{Late: timeout / 3},
	)
	o := &Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: timeout, Poll: 20 * time.Millisecond, Parallel: 4}
	start := time.Now()
	deliverUntil(t, o, 30*time.Second, func() bool { return len(accepted(rcv, "c1")) == len(ids) })
	got := rcv.Received()
	for i := range 6 {
		if got[i].EventID != ids[0] {
			t.Fatalf("attempt %d was for %s, not the first event %s: the next event did not wait", i+1, got[i].EventID, ids[0])
		}
	}
	if got[6].EventID != ids[1] || !equal(accepted(rcv, "c1"), ids) {
		t.Fatalf("order: %v", accepted(rcv, "c1"))
	}
	// The 429's Retry-After (1 s) was honoured.
	if gap := got[2].At.Sub(got[1].At); gap < 900*time.Millisecond {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}
	var d store.Delivery
	if err := db.Get(&d.ID, `SELECT d.delivery_id FROM webhook_deliveries d JOIN webhook_events v ON v.seq = d.event_seq WHERE v.event_id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	log, err := st.AttemptsOf(context.Background(), d.ID)
	if err != nil || len(log) != 6 {
		t.Fatalf("log %+v %v", log, err)
	}
	wantLog := []struct {
		status int64
		err    string
	}{{500, "receiver answered 500"}, {429, "receiver answered 429"}, {0, "no answer within 300ms"}, {0, "no answer within 300ms"},
		{502, "receiver answered 502"}, {200, ""}}
	for i, w := range wantLog {
		if code(log[i].StatusCode) != w.status || !strings.HasPrefix(log[i].Error, w.err) || (w.err == "" && log[i].Error != "") || log[i].DurationMS == nil {
			t.Errorf("attempt %d: %+v, want %d %q", i+1, log[i], w.status, w.err)
		}
	}
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("took %s", elapsed)
	}
}

// A receiver down for longer than the schedule: the delivery is failed and
// the customer's next event goes; a replay delivers the failed one again
// under its event ID.
func TestDeliverGivesUpThenReplay(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	rcv := faults.NewReceiver()
	defer rcv.Close()
	register(t, st, rcv)
	recordCustomer(t, st, "c1")
	ids := eventsOf(t, db, "c1")
	rcv.SetAnswer(faults.Answer{Status: http.StatusServiceUnavailable})
	short := webhooks.Schedule{First: 20 * time.Millisecond, Max: 40 * time.Millisecond, GiveUp: 300 * time.Millisecond}
	o := &Outbound{Logger: quiet, Store: st, Schedule: short, Timeout: time.Second, Poll: 10 * time.Millisecond}
	failed := func() int {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'`)
		return n
	}
	// Retry-After: 1 s is past the give-up time: not waited for, the
	// schedule ends.
	deliverUntil(t, o, 20*time.Second, func() bool { return failed() >= 2 })
	seen := map[string]bool{}
	for _, r := range rcv.Received() {
		seen[r.EventID] = true
	}
	if !seen[ids[0]] || !seen[ids[1]] {
		t.Fatalf("after the first failed, the second was not tried: %v", seen)
	}
	rcv.SetAnswer(faults.OK)
	deliverUntil(t, o, 20*time.Second, func() bool {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'`)
		return n == 0
	})
	if acc := accepted(rcv, "c1"); len(acc) >= len(ids) || acc[0] == ids[0] {
		t.Fatalf("failed events were delivered without a replay: %v", acc)
	}
	var first int64
	if err := db.Get(&first, `SELECT d.delivery_id FROM webhook_deliveries d JOIN webhook_events v ON v.seq = d.event_seq WHERE v.event_id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReplayDelivery(context.Background(), first, time.Now()); err != nil {
		t.Fatal(err)
	}
	deliverUntil(t, o, 10*time.Second, func() bool {
		for _, id := range accepted(rcv, "c1") {
			if id == ids[0] {
				return true
			}
		}
		return false
	})
}

// The run is cancelled in the middle of an attempt (its heartbeat was
// lost; the receiver hangs): the attempt is recorded as interrupted, due
// again at once, and delivered by the next run.
func TestDeliverInterruptedAttemptIsRetried(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	rcv := faults.NewReceiver()
	defer rcv.Close()
	register(t, st, rcv)
	recordCustomer(t, st, "c1")
	ids := eventsOf(t, db, "c1")
	rcv.Script(faults.Answer{Hang: true})
	o := &Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: time.Minute, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan DeliverResult)
	go func() { done <- o.deliver(ctx, time.Now().Add(time.Minute), nil) }()
	for rcv.Arrivals() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver did not return when stopped")
	}
	var errText string
	_ = db.Get(&errText, `SELECT last_error FROM webhook_deliveries d JOIN webhook_events v ON v.seq = d.event_seq WHERE v.event_id = $1`, ids[0])
	if !strings.Contains(errText, "interrupted") {
		t.Fatalf("interrupted attempt recorded as %q", errText)
	}
	deliverUntil(t, o, 10*time.Second, func() bool { return len(accepted(rcv, "c1")) == len(ids) })
	if !equal(accepted(rcv, "c1"), ids) {
		t.Fatalf("order %v", accepted(rcv, "c1"))
	}
}

// PostgreSQL is cut while an attempt is in flight, so its outcome cannot be
// recorded: after the lease the event is sent again (at least once, same
// event ID), and nothing is lost or reordered.
func TestDeliverWithDatabaseCut(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	proxied, proxy := pgtest.Behind(t, dbURL)
	st, err := store.Open(context.Background(), proxied, config.DefaultDB())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rcv := faults.NewReceiver()
	defer rcv.Close()
	register(t, st, rcv)
	recordCustomer(t, st, "c1")
	ids := eventsOf(t, st.DB(), "c1")
	// The first delivery is answered late; the database goes while it
	// waits and comes back after.
	rcv.Script(faults.Answer{Late: 500 * time.Millisecond})
	o := &Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: 2 * time.Second, Poll: 20 * time.Millisecond}
	go func() {
		for rcv.Arrivals() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		proxy.Cut(faults.Reset)
	}()
	// Deliver keeps going through the cut (claims fail and are retried).
	cutDone := make(chan struct{})
	go func() {
		defer close(cutDone)
		o.deliver(context.Background(), time.Now().Add(2*time.Second), nil)
	}()
	time.Sleep(1500 * time.Millisecond)
	proxy.Restore()
	<-cutDone
	deliverUntil(t, o, 30*time.Second, func() bool { return len(accepted(rcv, "c1")) == len(ids) })
	if !equal(accepted(rcv, "c1"), ids) {
		t.Fatalf("order %v, want %v", accepted(rcv, "c1"), ids)
	}
	n := 0
	for _, r := range rcv.Received() {
		if r.EventID == ids[0] && r.Status == http.StatusOK {
			n++
		}
	}
	if n < 2 {
		t.Errorf("the event whose outcome was lost was received %d times; it should have been sent again", n)
	}
}

// What a receiver answers is kept readable and storable whatever its bytes,
// and a redirect is not followed.
func TestDeliverHostileAnswers(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	var redirected bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirected = true }))
	defer other.Close()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("boom\x00\xff\xfe\u202e\x1b[31m" + strings.Repeat("x", 1000)))
			return
		}
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	id, _ := webhooks.NewEndpointID()
	if _, err := st.CreateEndpoint(context.Background(), store.Endpoint{ID: id, URL: srv.URL, Secret: "whsec_x", EventTypes: []string{"account.status_changed"}, CreatedBy: "t"}); err != nil {
		t.Fatal(err)
	}
	recordCustomer(t, st, "c1")
	o := &Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: time.Second, Poll: 10 * time.Millisecond}
	deliverUntil(t, o, 10*time.Second, func() bool { return n >= 2 })
	o.deliver(context.Background(), time.Now().Add(100*time.Millisecond), nil)
	var errs []string
	if err := db.Select(&errs, `SELECT error FROM webhook_attempts WHERE duration_ms IS NOT NULL ORDER BY delivery_id, attempt`); err != nil {
		t.Fatal(err)
	}
	if len(errs) < 2 || !strings.HasPrefix(errs[0], "receiver answered 500: boom") || strings.ContainsAny(errs[0], "\x00\x1b\u202e") ||
		len(errs[0]) > 400 || !strings.HasPrefix(errs[1], "receiver answered 307") {
		t.Fatalf("errors %q", errs)
	}
	if redirected {
		t.Fatal("the redirect was followed")
	}
}

func code(c *int64) int64 {
	if c == nil {
		return 0
	}
	return *c
}

// The activity as the worker runs it: registered with the rest of
// Outbound's methods, heartbeating, delivering, and returning after its
// time.
func TestDeliverWebhooksActivity(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	rcv := faults.NewReceiver()
	defer rcv.Close()
	register(t, st, rcv)
	recordCustomer(t, st, "c1")
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(&Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: time.Second, Poll: 20 * time.Millisecond})
	start := time.Now()
	val, err := env.ExecuteActivity("DeliverWebhooks", DeliverInput{For: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var res DeliverResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if n := len(eventsOf(t, db, "c1")); res.Delivered != n || len(accepted(rcv, "c1")) != n {
		t.Fatalf("result %+v, receiver has %d, want %d", res, len(accepted(rcv, "c1")), n)
	}
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Fatalf("ran %s for a 2 s run", d)
	}
}

// BenchmarkWebhookDelivery measures delivery throughput to one local
// receiver: 100 customers' events (8 each), 8 attempts at a time.
func BenchmarkWebhookDelivery(b *testing.B) {
	for range b.N {
		b.StopTimer()
		_, db := pgtest.New(b)
		st := store.New(db)
		rcv := faults.NewReceiver()
		register(b, st, rcv)
		for i := range 100 {
			recordCustomer(b, st, fmt.Sprintf("c%03d", i))
		}
		var total int
		_ = db.Get(&total, `SELECT count(*) FROM webhook_deliveries`)
		o := &Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: time.Second, Poll: 10 * time.Millisecond, Parallel: DefaultWebhookParallel}
		b.StartTimer()
		start := time.Now()
		for len(rcv.Accepted()) < total {
			o.deliver(context.Background(), time.Now().Add(time.Second), nil)
		}
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "deliveries/s")
		rcv.Close()
	}
}

// The worker stops while an attempt is in flight (the receiver answers
// late): nothing new is claimed, the attempt finishes and is recorded as
// delivered, and the run returns.
func TestDeliverStopsGracefully(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	rcv := faults.NewReceiver()
	defer rcv.Close()
	register(t, st, rcv)
	recordCustomer(t, st, "c1")
	rcv.Script(faults.Answer{Late: 500 * time.Millisecond})
	o := &Outbound{Logger: quiet, Store: st, Schedule: fastSchedule, Timeout: 5 * time.Second, Poll: 10 * time.Millisecond, Parallel: 4}
	stop := make(chan struct{})
	done := make(chan DeliverResult)
	go func() { done <- o.deliver(context.Background(), time.Now().Add(time.Minute), stop) }()
	for rcv.Arrivals() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	var res DeliverResult
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not return after the stop")
	}
	if res.Delivered != 1 || rcv.Arrivals() != 1 || len(accepted(rcv, "c1")) != 1 {
		t.Fatalf("after the stop: %+v, %d arrivals", res, rcv.Arrivals())
	}
}
