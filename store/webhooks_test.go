package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/store"
	"github.com/example/dunning/webhooks"
)

var wt0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// lifecycle is a customer on the standard policy approved with a
// prepayment, paid, then left unpaid to its suspension: the batches of
// events the workflow would record, with the customers row after each.
type batch struct {
	row    store.Customer
	events []account.Event
}

func lifecycle(t *testing.T, id string) []batch {
	t.Helper()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := reg.Get("standard")
	if err != nil {
		t.Fatal(err)
	}
	app := account.Application{CustomerID: id, Name: "Acme", Email: "billing@acme.test", Phone: "+14155550100", Country: "US",
		Currency: "USD", Locale: "en", Policy: "standard", Plan: account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentBankTransfer}, SignupIP: "203.0.113.7"}
	a := account.New(app, pol, "low", wt0)
	var out []batch
	add := func(evs []account.Event, now time.Time) {
		out = append(out, batch{row: customerRow(a, now), events: evs})
	}
	add(a.Open(wt0), wt0)
	evs, err := a.Approve(true, account.SystemActor, "screening", wt0)
	if err != nil {
		t.Fatal(err)
	}
	add(evs, wt0)
	_, evs, err = a.RecordPayment(account.Payment{PaymentID: "prepay", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer"}, wt0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	add(evs, wt0.Add(time.Hour))
	for {
		at, _, ok := a.NextWake()
		if !ok || at.After(wt0.AddDate(0, 0, 70)) {
			break
		}
		add(a.Advance(at), at)
	}
	if a.Status != account.StatusSuspended {
		t.Fatalf("lifecycle ends %s", a.Status)
	}
	return out
}

func customerRow(a *account.Account, now time.Time) store.Customer {
	c := a.Customer
	return store.Customer{CustomerID: c.CustomerID, Name: c.Name, Email: c.Email, Phone: c.Phone, Country: c.Country,
		Currency: c.Currency, Locale: c.Locale, Policy: a.Policy.ID(), MonthlyFeeMinor: c.Plan.MonthlyFeeMinor,
		InstrumentType: string(c.PaymentInstrument.Type), SignupIP: c.SignupIP, RiskTier: a.RiskTier, Status: string(a.Status),
		Access: string(a.Access), BalanceMinor: a.Balance(), CreditMinor: a.CreditMinor, DunningStage: "none",
		CreatedAt: wt0, UpdatedAt: now, EventSeq: int64(a.EventSeq)}
}

func addEndpoint(t *testing.T, st *store.Store, types ...webhooks.EventType) store.Endpoint {
	t.Helper()
	id, _ := webhooks.NewEndpointID()
	secret, _ := webhooks.NewSecret()
	names := []string{}
	for _, ty := range types {
		names = append(names, string(ty))
	}
	e, err := st.CreateEndpoint(context.Background(), store.Endpoint{ID: id, URL: "https://hooks.example.com/" + id, Secret: secret,
		EventTypes: names, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func count(t *testing.T, db *sqlx.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// Public events are written with their audit rows: one per FromAudit
// event, each from an audit row that exists, a delivery to every endpoint
// that takes the type and no other; a retried batch adds nothing.
func TestWebhookEventsWrittenWithTheAuditRows(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	all := addEndpoint(t, st, webhooks.Types()...)
	susp := addEndpoint(t, st, webhooks.AccountSuspended)
	want := map[webhooks.EventType]int{}
	for _, b := range lifecycle(t, "acme") {
		for _, ev := range b.events {
			for _, pe := range webhooks.FromAudit(webhooks.Account{CustomerID: "acme"}, ev.Key, ev) {
				want[pe.Type]++
			}
		}
		if _, err := st.Record(ctx, b.row, b.events); err != nil {
			t.Fatal(err)
		}
		// The activity retried: nothing new.
		if n, err := st.Record(ctx, b.row, b.events); err != nil || n != 0 {
			t.Fatalf("retried batch: %d new, %v", n, err)
		}
	}
	total := 0
	for typ, n := range want {
		total += n
		if got := count(t, db, `SELECT count(*) FROM webhook_events WHERE event_type = $1`, string(typ)); got != n {
			t.Errorf("%s: %d rows, want %d", typ, got, n)
		}
	}
	if want[webhooks.AccountSuspended] != 1 || want[webhooks.InvoiceIssued] < 2 || want[webhooks.AccountStatusChanged] < 3 {
		t.Fatalf("the lifecycle should announce a suspension, invoices and status changes: %v", want)
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_events v LEFT JOIN audit_log a USING (event_key) WHERE a.event_key IS NULL`); n != 0 {
		t.Errorf("%d events without their audit row", n)
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1`, all.ID); n != total {
		t.Errorf("endpoint taking all: %d deliveries, want %d", n, total)
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_deliveries d JOIN webhook_events v ON v.seq = d.event_seq
		WHERE d.endpoint_id = $1 AND v.event_type = 'account.suspended'`, susp.ID); n != 1 ||
		count(t, db, `SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1`, susp.ID) != 1 {
		t.Errorf("endpoint taking account.suspended: %d of its type", n)
	}
	// The body is the event as documented, and its ID the one derived from
	// the audit key.
	var row struct {
		ID   string `db:"event_id"`
		Key  string `db:"event_key"`
		Body string `db:"body"`
	}
	if err := db.Get(&row, `SELECT event_id, event_key, body FROM webhook_events WHERE event_type = 'account.suspended'`); err != nil {
		t.Fatal(err)
	}
	if row.ID != webhooks.EventID(row.Key, webhooks.AccountSuspended) || !strings.Contains(row.Body, `"suspension_reason":"non_payment"`) ||
		!strings.Contains(row.Body, `"id":"`+row.ID+`"`) {
		t.Errorf("suspension event %+v", row)
	}
}

// A batch that fails part way (a row PostgreSQL refuses) leaves no event
// and no delivery, as it leaves no audit row.
func TestWebhookEventsRolledBackWithTheBatch(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	addEndpoint(t, st, webhooks.Types()...)
	bs := lifecycle(t, "acme")
	if _, err := st.Record(ctx, bs[0].row, bs[0].events); err != nil {
		t.Fatal(err)
	}
	b := bs[1] // the approval: a status change and the prepayment invoice
	bad := account.Event{Key: "acme/999", At: wt0, Type: account.EventPaymentRecorded, Actor: "x",
		Payment: &account.RecordedPayment{PaymentID: "p", AmountMinor: 1, Currency: "TOOLONG", Method: "m"}}
	if _, err := st.Record(ctx, b.row, append(append([]account.Event{}, b.events...), bad)); err == nil {
		t.Fatal("a batch with a refused row was recorded")
	}
	for _, table := range []string{"webhook_events", "webhook_deliveries"} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s: %d rows after the rollback", table, n)
		}
	}
	// The same batch, whole, is then recorded with its events.
	if _, err := st.Record(ctx, b.row, b.events); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_events`); n != 2 {
		t.Errorf("%d events after the good batch, want 2", n)
	}
}

// A key that holds another change (a failed workflow task's write) moves
// the change to <key>#<hash>: its events follow it there, and the
// displaced row's deliveries not yet made are cancelled.
func TestWebhookEventsFollowTheAlternateKey(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	ep := addEndpoint(t, st, webhooks.Types()...)
	bs := lifecycle(t, "acme")
	if _, err := st.Record(ctx, bs[0].row, bs[0].events); err != nil {
		t.Fatal(err)
	}
	suspend := func(actor string) account.Event {
		return account.Event{Key: "acme/50", At: wt0, Type: account.EventAccountSuspended, Actor: actor, Reason: "by hand",
			Detail: map[string]string{"suspension_reason": account.ReasonManual, "reasons": account.ReasonManual}}
	}
	orphan, real := suspend("kim"), suspend("lee")
	if _, err := st.Record(ctx, bs[0].row, []account.Event{orphan}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Record(ctx, bs[0].row, []account.Event{real}); err != nil || n != 1 {
		t.Fatalf("the real change: %d new, %v", n, err)
	}
	var altKey string
	if err := db.Get(&altKey, `SELECT event_key FROM audit_log WHERE event_key LIKE 'acme/50#%'`); err != nil {
		t.Fatal(err)
	}
	ds, err := st.Deliveries(ctx, store.DeliveryFilter{EndpointID: ep.ID})
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	byID := map[string]store.Delivery{}
	for _, d := range ds {
		byID[d.EventID] = d
	}
	if d := byID[webhooks.EventID("acme/50", webhooks.AccountSuspended)]; d.Status != store.DeliveryCancelled || !strings.Contains(d.LastError, "failed") {
		t.Errorf("displaced event's delivery: %+v", d)
	}
	if d := byID[webhooks.EventID(altKey, webhooks.AccountSuspended)]; d.Status != store.DeliveryPending {
		t.Errorf("real event's delivery: %+v", d)
	}
	// A retry of the real change adds nothing.
	if n, err := st.Record(ctx, bs[0].row, []account.Event{real}); err != nil || n != 0 {
		t.Fatalf("retry: %d new, %v", n, err)
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_events`); n != 2 {
		t.Errorf("%d events", n)
	}
}

// recordAll records the lifecycle of each customer.
func recordAll(t *testing.T, st *store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		for _, b := range lifecycle(t, id) {
			if _, err := st.Record(context.Background(), b.row, b.events); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Claims take one delivery per customer and endpoint at a time, the
// customer's earliest; a claimed delivery is leased; completing it lets
// the next go. Claimers racing never take the same delivery, nor two of
// one customer's to one endpoint.
func TestClaimOrderLeaseAndRace(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	a := addEndpoint(t, st, webhooks.Types()...)
	addEndpoint(t, st, webhooks.Types()...)
	recordAll(t, st, "c1", "c2", "c3")
	now := time.Now().Add(time.Second)

	claims, err := st.ClaimDeliveries(ctx, now, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 6 { // 3 customers x 2 endpoints
		t.Fatalf("%d claims, want 6", len(claims))
	}
	for _, c := range claims {
		var minSeq int64
		if err := db.Get(&minSeq, `SELECT min(event_seq) FROM webhook_deliveries WHERE endpoint_id = $1 AND customer_id = $2`, c.EndpointID, c.CustomerID); err != nil {
			t.Fatal(err)
		}
		var seq int64
		_ = db.Get(&seq, `SELECT event_seq FROM webhook_deliveries WHERE delivery_id = $1`, c.DeliveryID)
		if seq != minSeq || c.Attempt != 1 || c.RoundAttempts != 1 || c.Secret == "" || c.Body == "" {
			t.Errorf("claim %+v is not the customer's first (seq %d, first %d)", c, seq, minSeq)
		}
	}
	// Leased: nothing more until the lease ends (the rest wait behind).
	if more, err := st.ClaimDeliveries(ctx, now.Add(30*time.Second), 100, time.Minute); err != nil || len(more) != 0 {
		t.Fatalf("claimed during the lease: %d %v", len(more), err)
	}
	// The worker died: after the lease the same deliveries come again,
	// attempt 2, and the first attempt stays in the log without outcome.
	again, err := st.ClaimDeliveries(ctx, now.Add(61*time.Second), 100, time.Minute)
	if err != nil || len(again) != 6 || again[0].Attempt != 2 {
		t.Fatalf("after the lease: %+v %v", again, err)
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_attempts WHERE duration_ms IS NULL`); n != 12 {
		t.Errorf("%d open attempts in the log, want 12", n)
	}
	// Delivering c1's first to a lets c1's second to a go, nothing else.
	var c1a store.Claim
	for _, c := range again {
		if c.CustomerID == "c1" && c.EndpointID == a.ID {
			c1a = c
		}
	}
	at := now.Add(62 * time.Second)
	if err := st.CompleteAttempt(ctx, store.AttemptOutcome{DeliveryID: c1a.DeliveryID, Attempt: c1a.Attempt, StatusCode: 200, Delivered: true}, at); err != nil {
		t.Fatal(err)
	}
	next, err := st.ClaimDeliveries(ctx, at, 100, time.Minute)
	if err != nil || len(next) != 1 || next[0].CustomerID != "c1" || next[0].EndpointID != a.ID || next[0].DeliveryID == c1a.DeliveryID {
		t.Fatalf("after delivering c1's first: %+v %v", next, err)
	}
	// A stale outcome (an attempt whose lease ran out and was claimed
	// again) does not overwrite the newer attempt's state.
	if err := st.CompleteAttempt(ctx, store.AttemptOutcome{DeliveryID: claims[1].DeliveryID, Attempt: 1, Error: "late", Retry: at.Add(time.Hour)}, at); err != nil {
		t.Fatal(err)
	}
	if d, _ := st.Deliveries(ctx, store.DeliveryFilter{}); len(d) == 0 {
		t.Fatal("no deliveries")
	}
	var attempts int
	_ = db.Get(&attempts, `SELECT attempts FROM webhook_deliveries WHERE delivery_id = $1`, claims[1].DeliveryID)
	var nextAt time.Time
	_ = db.Get(&nextAt, `SELECT next_attempt_at FROM webhook_deliveries WHERE delivery_id = $1`, claims[1].DeliveryID)
	if attempts != 2 || nextAt.After(at.Add(2*time.Minute)) {
		t.Errorf("stale outcome changed the delivery: attempts %d next %s", attempts, nextAt)
	}

	// Race: everything due; eight claimers at once.
	if _, err := db.Exec(`UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE status = 'pending'`, at); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []store.Claim
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			cs, err := st.ClaimDeliveries(ctx, at.Add(time.Second), 3, time.Minute)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, cs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	seen, pairs := map[int64]bool{}, map[string]bool{}
	for _, c := range got {
		pair := c.EndpointID + "/" + c.CustomerID
		if seen[c.DeliveryID] || pairs[pair] {
			t.Errorf("claimed twice: delivery %d (%s)", c.DeliveryID, pair)
		}
		seen[c.DeliveryID], pairs[pair] = true, true
	}
	if len(got) != 6 {
		t.Errorf("racing claimers took %d, want 6 (one per customer and endpoint)", len(got))
	}
}

// Replay makes a delivered or failed delivery due again with a fresh
// schedule; ReplayFailed does it for an endpoint's failed ones.
func TestReplay(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	ep := addEndpoint(t, st, webhooks.AccountSuspended, webhooks.AccountStatusChanged)
	recordAll(t, st, "c1")
	now := time.Now().Add(time.Second)
	c, err := st.ClaimDeliveries(ctx, now, 1, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatal(c, err)
	}
	if err := st.CompleteAttempt(ctx, store.AttemptOutcome{DeliveryID: c[0].DeliveryID, Attempt: 1, StatusCode: 500, Error: "receiver answered 500"}, now); err != nil {
		t.Fatal(err)
	}
	failed, err := st.Deliveries(ctx, store.DeliveryFilter{EndpointID: ep.ID, Status: store.DeliveryFailed})
	if err != nil || len(failed) != 1 || failed[0].LastError != "receiver answered 500" {
		t.Fatalf("failed: %+v %v", failed, err)
	}
	if n, err := st.ReplayFailed(ctx, ep.ID, now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("replay failed: %d %v", n, err)
	}
	c, err = st.ClaimDeliveries(ctx, now.Add(time.Minute), 1, time.Minute)
	if err != nil || len(c) != 1 || c[0].DeliveryID != failed[0].ID || c[0].Attempt != 2 || c[0].RoundAttempts != 1 || c[0].RoundStarted.Sub(now.Add(time.Minute)).Abs() > time.Millisecond {
		t.Fatalf("replayed claim %+v %v", c, err)
	}
	if err := st.CompleteAttempt(ctx, store.AttemptOutcome{DeliveryID: c[0].DeliveryID, Attempt: 2, StatusCode: 204, Delivered: true}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	d, err := st.ReplayDelivery(ctx, c[0].DeliveryID, now.Add(2*time.Minute))
	if err != nil || d.Status != store.DeliveryPending || d.Attempts != 2 {
		t.Fatalf("replay delivered: %+v %v", d, err)
	}
	if _, err := st.ReplayDelivery(ctx, 999999, now); err != store.ErrNotFound {
		t.Fatalf("unknown delivery: %v", err)
	}
	log, err := st.AttemptsOf(ctx, c[0].DeliveryID)
	if err != nil || len(log) != 2 || *log[0].StatusCode != 500 || *log[1].StatusCode != 204 {
		t.Fatalf("log %+v %v", log, err)
	}
}

// A disabled endpoint gets no new events and its pending deliveries wait;
// enabled again, they go, in order.
func TestDisabledEndpointWaits(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	ep := addEndpoint(t, st, webhooks.Types()...)
	bs := lifecycle(t, "c1")
	half := len(bs) / 2
	for _, b := range bs[:half] {
		if _, err := st.Record(ctx, b.row, b.events); err != nil {
			t.Fatal(err)
		}
	}
	queued := count(t, db, `SELECT count(*) FROM webhook_deliveries`)
	if e, err := st.SetEndpointActive(ctx, ep.ID, false); err != nil || e.Active {
		t.Fatalf("disable: %+v %v", e, err)
	}
	for _, b := range bs[half:] {
		if _, err := st.Record(ctx, b.row, b.events); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_deliveries`); n != queued {
		t.Fatalf("a disabled endpoint was given %d new deliveries", n-queued)
	}
	now := time.Now().Add(time.Second)
	if c, err := st.ClaimDeliveries(ctx, now, 10, time.Minute); err != nil || len(c) != 0 {
		t.Fatalf("claimed for a disabled endpoint: %+v %v", c, err)
	}
	if _, err := st.SetEndpointActive(ctx, ep.ID, true); err != nil {
		t.Fatal(err)
	}
	c, err := st.ClaimDeliveries(ctx, now, 10, time.Minute)
	if err != nil || len(c) != 1 || c[0].DeliveryID != 1 {
		t.Fatalf("after enabling: %+v %v", c, err)
	}
	if _, err := st.SetEndpointActive(ctx, "we_0000000000000000", true); err != store.ErrNotFound {
		t.Fatalf("unknown endpoint: %v", err)
	}
}
