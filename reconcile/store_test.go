package reconcile

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/store"
)

// A real account recorded through store.Record agrees with its ledger; the
// damage of the e2e suite is found with both values; re-recording as
// Resync does (its events through store.Record, the missing payments
// through RestorePayments) leaves no drift, and doing it again changes
// nothing.
func TestCompareOnPostgreSQL(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := reg.Get("standard")
	if err != nil {
		t.Fatal(err)
	}
	app := account.Application{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Phone: "+14155550100",
		Country: "US", Currency: "USD", Plan: account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: "card", CardBIN: "424242"}, SignupIP: "203.0.113.7"}
	app.Normalize()
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	a := account.New(app, pol, "low", t0)
	record := func(at time.Time, events []account.Event) {
		t.Helper()
		if _, err := st.Record(ctx, activities.CustomerSnapshot(a, at).Row(), events); err != nil {
			t.Fatal(err)
		}
	}
	record(t0, a.Open(t0))
	events, err := a.Approve(false, account.SystemActor, "low risk", t0)
	if err != nil {
		t.Fatal(err)
	}
	record(t0, events)
	// The first invoice paid in full, then credit that the second invoice
	// takes in part when it is issued. (A payment that leaves an invoice
	// part paid is not carried to the invoices row today: reconciliation
	// reports that as paid_minor drift, and a resync repairs it.)
	for _, p := range []account.Payment{{PaymentID: "p1", AmountMinor: 10000}, {PaymentID: "p2", AmountMinor: 2500}} {
		p.Currency, p.Method = "USD", "bank_transfer"
		_, events, err := a.RecordPayment(p, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		record(t0.Add(time.Hour), events)
	}
	t1 := t0.AddDate(0, 1, 1)
	record(t1, a.Advance(t1))
	if len(a.Invoices) != 1 || a.Invoices[0].PaidMinor != 2500 {
		t.Fatalf("invoices = %+v", a.Invoices)
	}
	if err := st.ApplyProvision(ctx, "acme", account.ProvisionActivate, "", "acme/act", t0); err != nil {
		t.Fatal(err)
	}
	check := func() []Drift {
		t.Helper()
		l := a.Ledger()
		var ids []string
		for _, inv := range l.Invoices {
			ids = append(ids, inv.ID)
		}
		rows, err := st.LedgerOf(ctx, "acme", ids, true)
		if err != nil {
			t.Fatal(err)
		}
		return Compare(l, rows, true)
	}
	if d := check(); len(d) != 0 {
		t.Fatalf("drift right after recording: %+v", d)
	}
	inv := a.Invoices[0].ID
	for _, q := range []string{
		`DELETE FROM payment_allocations WHERE payment_id = 'p1'`,
		`DELETE FROM payments WHERE payment_id = 'p1'`,
		`UPDATE customers SET balance_minor = 1 WHERE customer_id = 'acme'`,
		`DELETE FROM payment_allocations WHERE invoice_id = '` + inv + `'`,
		`DELETE FROM invoices WHERE invoice_id = '` + inv + `'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	want := []Drift{
		{Field: "balance_minor", Workflow: "7500", Database: "1", Repairable: true},
		{Field: "invoice:" + inv, Workflow: "open subscription of 10000", Database: Missing, Repairable: true, Note: "the invoice row is missing"},
		{Field: "payment:p1", Workflow: "10000 USD", Database: Missing, Repairable: true,
			Note: `the payment row is missing; a resync re-records it with method "reconciled"`},
	}
	d := check()
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("drift\n got %+v\nwant %+v", d, want)
	}
	r := account.Resync{Actor: "alice", Reason: "restore", PaymentIDs: MissingPayments(d)}
	for range 2 {
		at := t1.Add(time.Hour)
		record(at, a.Resync(r, at))
		var pays []store.ReconciledPayment
		for _, p := range a.ResyncPayments(r) {
			pays = append(pays, store.ReconciledPayment{PaymentID: p.PaymentID, AmountMinor: p.AmountMinor, Currency: p.Currency})
		}
		restored, err := st.RestorePayments(ctx, "acme", pays, "alice", at)
		if err != nil {
			t.Fatal(err)
		}
		var done []account.LedgerPayment
		for _, p := range a.ResyncPayments(r) {
			for _, id := range restored {
				if id == p.PaymentID {
					done = append(done, p)
				}
			}
		}
		if evs := a.PaymentsReconciled(r, done, at); len(evs) > 0 {
			record(at, evs)
		}
		if d := check(); len(d) != 0 {
			t.Fatalf("drift after resync: %+v", d)
		}
	}
	var method string
	if err := db.Get(&method, `SELECT method FROM payments WHERE payment_id = 'p1'`); err != nil || method != store.ReconciledMethod {
		t.Errorf("restored payment method = %q %v", method, err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM audit_log WHERE action = 'payment.reconciled'`); err != nil || n != 1 {
		t.Errorf("payment.reconciled audit events = %d %v, want 1 (the second resync restored nothing)", n, err)
	}
}
