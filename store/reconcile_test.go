package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/store"
)

func TestReconcileReads(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b", "c", "a.b"} {
		if _, err := db.Exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
			monthly_fee_minor, instrument_type, signup_ip, status, access, balance_minor, event_seq, created_at, updated_at)
			VALUES ($1, 'n', 'e@x.test', '+1', 'US', 'USD', 'en', 'standard.v1', 100, 'card', '203.0.113.7', 'active', 'limited', 5, 3, $2, $2)`, id, at); err != nil {
			t.Fatal(err)
		}
	}
	// Audit keys: a's own run to 3 with a gap at 2; a key of "a.b" and
	// other keys on a's rows are not a's sequence.
	for _, k := range [][2]string{{"a/1", "a"}, {"a/3", "a"}, {"a.b/7", "a.b"}, {"a/x", "a"}, {"staff-alert:1", "a"}} {
		if _, err := db.Exec(`INSERT INTO audit_log (event_key, customer_id, at, actor, action) VALUES ($1, $2, $3, 'system', 'x')`, k[0], k[1], at); err != nil {
			t.Fatal(err)
		}
	}
	l, err := st.LedgerOf(ctx, "a", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if l.Customer == nil || l.Customer.BalanceMinor != 5 || l.Customer.EventSeq != 3 || l.AuditMaxSeq != 3 || l.AuditEvents != 2 || l.Subscription != nil {
		t.Errorf("ledger of a = %+v %+v", l, l.Customer)
	}
	if l, err := st.LedgerOf(ctx, "nobody", nil, false); err != nil || l.Customer != nil || len(l.Payments) != 0 {
		t.Errorf("ledger of nobody = %+v %v", l, err)
	}

	var all []string
	for after := ""; ; {
		ids, err := st.CustomerIDs(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids...)
		if len(ids) < 2 {
			break
		}
		after = ids[len(ids)-1]
	}
	if !reflect.DeepEqual(all, []string{"a", "a.b", "b", "c"}) {
		t.Errorf("CustomerIDs pages = %v", all)
	}

	// Restoring is idempotent, and never touches a row that exists (p2,
	// recorded meanwhile); payment IDs are the customer's own, so b's p1
	// is no obstacle.
	pays := []store.ReconciledPayment{{PaymentID: "p1", AmountMinor: 700, Currency: "USD"}, {PaymentID: "p2", AmountMinor: 50, Currency: "USD"}}
	if _, err := db.Exec(`INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, actor, received_at)
		VALUES ('p2', 'a', 50, 'USD', 'card', 'staff', $1), ('p1', 'b', 9, 'USD', 'card', 'staff', $1)`, at); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{"p1"}, nil} {
		got, err := st.RestorePayments(ctx, "a", pays, "alice", at)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("restore %d = %v %v, want %v", i, got, err, want)
		}
	}
	l, _ = st.LedgerOf(ctx, "a", nil, false)
	if len(l.Payments) != 2 || l.Payments[0] != (store.LedgerPayment{PaymentID: "p1", AmountMinor: 700, Currency: "USD"}) {
		t.Errorf("payments of a = %+v", l.Payments)
	}

	run := store.ReconcileRun{RunKey: "daily:2026-02-01:r1", StartedAt: at, FinishedAt: at.Add(time.Minute), Checked: 4, Drifted: 1, Report: []byte(`{"checked":4}`)}
	for range 2 {
		if err := st.SaveReconcileRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		run.Drifted = 0
	}
	runs, err := st.LatestReconcileRuns(ctx, 5)
	if err != nil || len(runs) != 1 || runs[0].Drifted != 0 || runs[0].Checked != 4 {
		t.Errorf("runs = %+v %v", runs, err)
	}
}

// A charge the gateway answered as succeeded a while ago without a payment
// row is money taken and not recorded; a fresh one, a recorded one, a
// declined one and another customer's are not.
func TestLedgerFindsChargesWithoutPayments(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b"} {
		if _, err := db.Exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
			monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at)
			VALUES ($1, 'n', 'e@x.test', '+1', 'US', 'USD', 'en', 'standard.v2', 100, 'card', '203.0.113.7', 'active', 'limited', $2, $2)`, id, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		customer, key, status, pi string
		settled                   string
	}{
		{"a", "a:INV-1:charge:1", "succeeded", "pi_lost", "now() - interval '1 hour'"},
		{"a", "a:INV-1:charge:2", "succeeded", "pi_recent", "now()"},
		{"a", "a:INV-2:charge:1", "succeeded", "pi_paid", "now() - interval '1 hour'"},
		{"a", "a:INV-3:charge:1", "declined", "pi_declined", "now() - interval '1 hour'"},
		{"b", "b:INV-1:charge:1", "succeeded", "pi_b", "now() - interval '1 hour'"},
	} {
		inv := c.key[len(c.customer)+1 : len(c.customer)+6]
		if _, err := db.Exec(`INSERT INTO charge_attempts (customer_id, invoice_id, attempt, idempotency_key, amount_minor, currency, payment_method_id, status, payment_intent_id, settled_at)
			VALUES ($1, $2, $3, $4, 100, 'USD', 'pm_1', $5, $6, `+c.settled+`)`, c.customer, inv, int(c.key[len(c.key)-1]-'0'), c.key, c.status, c.pi); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, actor, received_at)
		VALUES ('pi_paid', 'a', 100, 'USD', 'card', 'gateway', $1), ('pi_lost', 'b', 100, 'USD', 'card', 'gateway', $1)`, at); err != nil {
		t.Fatal(err)
	}
	l, err := st.LedgerOf(ctx, "a", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.UnrecordedCharge{{Key: "a:INV-1:charge:1", PaymentIntentID: "pi_lost", AmountMinor: 100, Currency: "USD"}}
	if !reflect.DeepEqual(l.UnrecordedCharges, want) {
		t.Errorf("unrecorded charges = %+v, want %+v", l.UnrecordedCharges, want)
	}
}
