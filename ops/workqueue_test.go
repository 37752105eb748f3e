package ops

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
)

// workQueueDB is a database holding customers acme, beta and gamma on the
// standard policy (suspension 21 days after the due date), with no work.
func workQueueDB(t *testing.T, now time.Time) (string, *sqlx.DB) {
	t.Helper()
	dbURL, db := pgtest.New(t)
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := reg.Get("standard")
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db)
	for _, id := range []string{"acme", "beta", "gamma"} {
		app := application()
		app.CustomerID = id
		app.Normalize()
		acct := account.New(app, pol, "low", now.AddDate(0, -3, 0))
		if _, err := st.Record(context.Background(), activities.CustomerSnapshot(acct, now).Row(), acct.Open(now)); err != nil {
			t.Fatal(err)
		}
	}
	return dbURL, db
}

func exec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func invoice(t *testing.T, db *sqlx.DB, customer, id string, due time.Time, promise *time.Time, disputed bool) {
	t.Helper()
	exec(t, db, `INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, paid_minor, period_start, period_end,
		issued_at, due_at, stage, disputed, promise_until, updated_at)
		VALUES ($1, $2, 'subscription', 'open', 'USD', 10000, 2500, $3, $3, $3, $4, 'due', $5, $6, $3)`,
		id, customer, due.AddDate(0, 0, -14), due, disputed, promise)
}

func TestWorkQueue(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	dbURL, db := workQueueDB(t, now)
	day := 24 * time.Hour

	// Reviews: an onboarding review, a provider notice, and ones that are
	// decided or lapsed (not work).
	review := func(customer, id, notice string, deadline time.Time, decision string, lapsed bool) {
		exec(t, db, `INSERT INTO reviews (customer_id, review_id, kind, notice_id, category, reason, opened_at, deadline, decision, lapsed)
			VALUES ($1, $2, 'misuse', $3, 'spam', 'reported', $4, $5, $6, $7)`, customer, id, notice, now.Add(-day), deadline, decision, lapsed)
	}
	review("acme", "review-1", "", now.Add(2*day), "", false)
	review("beta", "review-1", "N-77", now.Add(6*time.Hour), "", false)
	review("beta", "review-2", "", now.Add(time.Hour), "uphold", false)
	review("gamma", "review-1", "", now.Add(-time.Hour), "", true)

	// Invoices: acme's promise ends in 3 days; beta's unpaid invoice was due
	// 18 days ago (suspension in 3 days), gamma's 30 days ago (suspension
	// passed) and another of beta's is disputed.
	promise := now.Add(3 * day)
	invoice(t, db, "acme", "inv-acme-1", now.Add(-5*day), &promise, false)
	invoice(t, db, "beta", "inv-beta-1", now.Add(-18*day), nil, false)
	invoice(t, db, "beta", "inv-beta-2", now.Add(-20*day), nil, true)
	invoice(t, db, "gamma", "inv-gamma-1", now.Add(-30*day), nil, false)

	// Emails: one the provider refused, one that bounced, one delivered and
	// one failed long ago.
	outbox := func(key, customer, status string, updated time.Time) {
		exec(t, db, `INSERT INTO email_outbox (message_key, customer_id, stage, template, to_email, subject, body_text, body_html, status,
			last_error, updated_at) VALUES ($1, $2, 'overdue_1', 'overdue_1', 'x@example.com', 's', 'b', 'b', $3, 'HTTP 400', $4)`,
			key, customer, status, updated)
	}
	outbox("acme:overdue_1", "acme", "failed", now.Add(-2*time.Hour))
	outbox("gamma:overdue_1", "gamma", "sent", now.Add(-3*time.Hour))
	outbox("beta:overdue_1", "beta", "sent", now.Add(-3*time.Hour))
	outbox("beta:old", "beta", "failed", now.Add(-30*day))
	exec(t, db, `INSERT INTO email_outbox_delivery (message_key, delivery_status, delivery_reason, delivery_event_id, delivery_updated_at)
		VALUES ('gamma:overdue_1', 'bounce', '550 no such user', 'ev1', $1), ('beta:overdue_1', 'delivered', '', 'ev2', $1)`, now.Add(-time.Hour))

	// Provisioning: gamma failing, beta recovered.
	audit := func(key, customer string, action account.EventType, at time.Time) {
		exec(t, db, `INSERT INTO audit_log (event_key, customer_id, at, actor, action, reason) VALUES ($1, $2, $3, 'system', $4, 'HTTP 503')`,
			key, customer, at, action)
	}
	audit("p1", "gamma", account.EventProvisioningFailed, now.Add(-4*time.Hour))
	audit("p2", "beta", account.EventProvisioningFailed, now.Add(-5*time.Hour))
	audit("p3", "beta", account.EventProvisioningRecovered, now.Add(-4*time.Hour))

	cfg := unreachable
	cfg.DatabaseURL = dbURL
	o := New(Options{Config: cfg})
	defer o.Close()
	items, err := o.WorkQueue(context.Background(), now, DefaultWorkHorizon)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		kind     WorkItemKind
		customer string
		due      time.Time
		ref      string
	}
	want := []seen{
		{WorkProvisioningFailed, "gamma", now.Add(-4 * time.Hour), ""},
		{WorkEmailFailed, "acme", now.Add(-2 * time.Hour), "acme:overdue_1"},
		{WorkEmailFailed, "gamma", now.Add(-time.Hour), "gamma:overdue_1"},
		{WorkProviderNotice, "beta", now.Add(6 * time.Hour), "N-77"},
		{WorkReview, "acme", now.Add(2 * day), "review-1"},
		{WorkPromiseDue, "acme", promise, ""},
		{WorkSuspensionSoon, "beta", now.Add(3 * day), ""},
	}
	if len(items) != len(want) {
		t.Fatalf("work queue has %d items, want %d: %+v", len(items), len(want), items)
	}
	for i, w := range want {
		got := items[i]
		if got.Kind != w.kind || got.CustomerID != w.customer || !got.Due.Equal(w.due) || got.Ref != w.ref {
			t.Errorf("item %d = %s %s %s %q, want %s %s %s %q", i, got.Kind, got.CustomerID, got.Due, got.Ref, w.kind, w.customer, w.due, w.ref)
		}
	}
	if s := items[6]; s.InvoiceID != "inv-beta-1" || s.AmountMinor != 7500 || s.Currency != "USD" {
		t.Errorf("suspension item = %+v", s)
	}
	if e := items[2]; e.Detail != "bounce: 550 no such user" {
		t.Errorf("bounce detail = %q", e.Detail)
	}

	// A shorter horizon leaves out the promise and the suspension.
	short, err := o.WorkQueue(context.Background(), now, day)
	if err != nil || len(short) != 5 {
		t.Errorf("one day ahead: %d items %v", len(short), err)
	}
	// A suspended customer's suspension is not coming.
	exec(t, db, `UPDATE customers SET status = 'suspended' WHERE customer_id = 'beta'`)
	after, err := o.WorkQueue(context.Background(), now, DefaultWorkHorizon)
	if err != nil || len(after) != 6 {
		t.Errorf("after beta's suspension: %d items %v", len(after), err)
	}
}

func TestWorkQueueRefusesABadHorizon(t *testing.T) {
	o := New(Options{Config: unreachable})
	defer o.Close()
	for _, h := range []time.Duration{0, -time.Hour, MaxWorkHorizon + time.Second} {
		var inv *InvalidError
		if _, err := o.WorkQueue(context.Background(), time.Now(), h); !errors.As(err, &inv) {
			t.Errorf("horizon %s: %v, want invalid", h, err)
		}
	}
}

// With the database gone the queue answers unavailable within the ops
// timeout instead of hanging the console.
func TestWorkQueueDatabaseCut(t *testing.T) {
	now := time.Now()
	dbURL, _ := workQueueDB(t, now)
	proxied, proxy := pgtest.Behind(t, dbURL)
	cfg := unreachable
	cfg.DatabaseURL = proxied
	o := New(Options{Config: cfg, Timeout: 2 * time.Second})
	defer o.Close()
	if _, err := o.WorkQueue(context.Background(), now, DefaultWorkHorizon); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	proxy.Cut(faults.Blackhole)
	start := time.Now()
	_, err := o.WorkQueue(context.Background(), now, DefaultWorkHorizon)
	var un *UnavailableError
	if !errors.As(err, &un) {
		t.Errorf("during the cut: %v, want unavailable", err)
	}
	if _, err := o.Audit(context.Background(), "acme"); !errors.As(err, &un) {
		t.Errorf("audit log during the cut: %v, want unavailable", err)
	}
	if _, err := o.Aging(context.Background(), now, reports.AgingOptions{}); !errors.As(err, &un) {
		t.Errorf("aging report during the cut: %v, want unavailable", err)
	}
	if waited := time.Since(start); waited > 15*time.Second {
		t.Errorf("waited %s for a cut database (the ops timeout is 2s)", waited)
	}
	proxy.Restore()
	if _, err := o.WorkQueue(context.Background(), now, DefaultWorkHorizon); err != nil {
		t.Errorf("after the cut: %v", err)
	}
}
