package reconcile

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/store"
)

// fakes: the workflows and the database of a handful of customers.
type fakeWorkflows struct {
	mu      sync.Mutex
	ledgers map[string]account.Ledger
	exec    map[string]string
	queries map[string]int
	// onQuery, when set, may change a ledger as it is read.
	onQuery func(id string, n int, l *account.Ledger)
	resyncs []account.Resync
	repair  func(id string, r account.Resync) // what a resync does to the database
	page    int
}

func (f *fakeWorkflows) Ledger(_ context.Context, id string) (account.Ledger, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exec[id] == "failed" {
		return account.Ledger{}, "failed", ErrNoLedger
	}
	l, ok := f.ledgers[id]
	if !ok {
		return l, "", ErrNoWorkflow
	}
	f.queries[id]++
	if f.onQuery != nil {
		f.onQuery(id, f.queries[id], &l)
		f.ledgers[id] = l
	}
	return l, f.exec[id], nil
}

func (f *fakeWorkflows) Resync(_ context.Context, id string, r account.Resync) (account.ResyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resyncs = append(f.resyncs, r)
	if f.exec[id] != "running" {
		return account.ResyncResult{}, ErrClosed
	}
	if f.repair != nil {
		f.repair(id, r)
	}
	l := f.ledgers[id]
	l.EventSeq++
	f.ledgers[id] = l
	return account.ResyncResult{EventSeq: l.EventSeq, PaymentsRestored: r.PaymentIDs}, nil
}

func (f *fakeWorkflows) CustomerIDs(_ context.Context, token []byte) ([]string, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.ledgers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	start := 0
	if len(token) > 0 {
		start = int(token[0])
	}
	end := min(start+f.page, len(ids))
	var next []byte
	if end < len(ids) {
		next = []byte{byte(end)}
	}
	return ids[start:end], next, nil
}

type fakeDB struct {
	mu   sync.Mutex
	rows map[string]store.Ledger
}

func (f *fakeDB) LedgerOf(_ context.Context, id string, _ []string, _ bool) (store.Ledger, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.rows[id]
	if !ok {
		return store.Ledger{CustomerID: id}, nil
	}
	return l, nil
}

func (f *fakeDB) CustomerIDs(_ context.Context, after string, limit int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.rows {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(limit, len(ids))], nil
}

func ledgerOf(id string) account.Ledger { l := ledger(); l.CustomerID = id; return l }
func rowsOf(id string) store.Ledger     { r := rows(); r.CustomerID = id; return r }

func setup() (*fakeWorkflows, *fakeDB, *Reconciler) {
	wf := &fakeWorkflows{ledgers: map[string]account.Ledger{}, exec: map[string]string{}, queries: map[string]int{}, page: 2}
	db := &fakeDB{rows: map[string]store.Ledger{}}
	for _, id := range []string{"a-ok", "b-ok", "c-balance", "d-payment", "e-closed"} {
		wf.ledgers[id], wf.exec[id], db.rows[id] = ledgerOf(id), "running", rowsOf(id)
	}
	wf.exec["e-closed"] = "completed"
	c := db.rows["c-balance"]
	c.Customer = &store.LedgerRow{Status: "past_due", Access: "limited", BalanceMinor: 1, Currency: "USD", EventSeq: 12}
	db.rows["c-balance"] = c
	d := db.rows["d-payment"]
	d.Payments = d.Payments[1:]
	db.rows["d-payment"] = d
	e := db.rows["e-closed"]
	e.Invoices = e.Invoices[:1]
	db.rows["e-closed"] = e
	// A row without a workflow, and a workflow without a row.
	db.rows["f-orphan-row"] = rowsOf("f-orphan-row")
	wf.ledgers["g-no-row"], wf.exec["g-no-row"] = ledgerOf("g-no-row"), "running"
	r := &Reconciler{Workflows: wf, Database: db, Subscriptions: true, Concurrency: 3, PageSize: 2, Settle: 200 * time.Millisecond}
	return wf, db, r
}

func states(rep Report) map[string]string {
	m := map[string]string{}
	for _, c := range rep.Customers {
		m[c.CustomerID] = c.State
	}
	return m
}

func TestRunReportsEveryCustomerOnce(t *testing.T) {
	_, _, r := setup()
	rep, err := r.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"c-balance": StateDrift, "d-payment": StateDrift, "e-closed": StateDrift,
		"f-orphan-row": StateWorkflowMissing, "g-no-row": StateDrift}
	if got := states(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	if rep.Checked != 7 || rep.OK != 2 || rep.Drifted != 5 || rep.Errors != 0 || !rep.HasDrift() {
		t.Errorf("counts = %+v", rep)
	}
	if !slices.IsSortedFunc(rep.Customers, func(a, b CustomerReport) int { return cmpString(a.CustomerID, b.CustomerID) }) {
		t.Error("customers not in ID order")
	}
	if rep.Customers[0].CustomerID != "c-balance" || rep.Customers[0].Drift[0].Field != "balance_minor" || rep.Customers[0].Execution != "running" {
		t.Errorf("first = %+v", rep.Customers[0])
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestRepairResyncsAndChecksAgain(t *testing.T) {
	wf, db, r := setup()
	wf.repair = func(id string, rs account.Resync) {
		db.mu.Lock()
		defer db.mu.Unlock()
		db.rows[id] = rowsOf(id) // what re-recording does
		row := db.rows[id]
		row.Customer.EventSeq, row.AuditMaxSeq, row.AuditEvents = 13, 13, 13
		db.rows[id] = row
	}
	rep, err := r.Run(context.Background(), Options{Repair: true, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"c-balance": StateRepaired, "d-payment": StateRepaired, "e-closed": StateDrift,
		"f-orphan-row": StateWorkflowMissing, "g-no-row": StateRepaired}
	if got := states(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	if rep.Repaired != 3 || rep.Drifted != 2 {
		t.Errorf("counts = %+v", rep)
	}
	var paid []string
	for _, rs := range wf.resyncs {
		if rs.Actor != "alice" || rs.Reason != "reconciliation repair" {
			t.Errorf("resync = %+v", rs)
		}
		paid = append(paid, rs.PaymentIDs...)
	}
	slices.Sort(paid)
	if !reflect.DeepEqual(paid, []string{"p1", "p1", "p2"}) {
		t.Errorf("payments re-recorded = %v, want d-payment's p1 and g-no-row's p1 and p2", paid)
	}
	for _, c := range rep.Customers {
		if c.CustomerID == "e-closed" && c.Error != "not repaired: "+ErrClosed.Error() {
			t.Errorf("closed customer: %+v", c)
		}
	}
	// Nothing left: a second run finds no repairable drift.
	wf.resyncs = nil
	rep, _ = r.Run(context.Background(), Options{Repair: true, Actor: "alice"})
	if rep.Repaired != 0 || len(wf.resyncs) != 1 { // e-closed is tried again, and refused again
		t.Errorf("second run: %+v, resyncs %v", rep, wf.resyncs)
	}
}

func TestRecordingInProgressIsNotDrift(t *testing.T) {
	wf, db, r := setup()
	db.rows = map[string]store.Ledger{"busy": rowsOf("busy"), "moving": rowsOf("moving")}
	wf.ledgers = map[string]account.Ledger{"busy": ledgerOf("busy"), "moving": ledgerOf("moving")}
	wf.exec = map[string]string{"busy": "running", "moving": "running"}
	busy := wf.ledgers["busy"]
	busy.PendingBatches, busy.EventSeq = 1, 14 // PostgreSQL is behind, but the workflow says so
	wf.ledgers["busy"] = busy
	// "moving" changes between the two reads of one check, then settles:
	// the check is repeated rather than reporting a difference.
	wf.onQuery = func(id string, n int, l *account.Ledger) {
		if id == "moving" && n == 2 {
			l.EventSeq = 13
		}
		if id == "moving" && n == 3 {
			l.EventSeq = 12
		}
	}
	rep, err := r.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := states(rep); !reflect.DeepEqual(got, map[string]string{"busy": StateInProgress}) || rep.OK != 1 || rep.HasDrift() {
		t.Errorf("states = %v, report %+v", got, rep)
	}
	if wf.queries["moving"] < 4 {
		t.Errorf("moving was queried %d times; a changed ledger must be checked again", wf.queries["moving"])
	}
}

func TestOneCustomer(t *testing.T) {
	_, _, r := setup()
	rep, err := r.Run(context.Background(), Options{CustomerID: "a-ok"})
	if err != nil || rep.Checked != 1 || len(rep.Customers) != 1 || rep.Customers[0].State != StateOK {
		t.Errorf("one ok customer: %+v %v", rep, err)
	}
	rep, _ = r.Run(context.Background(), Options{CustomerID: "nobody"})
	if rep.Errors != 1 || rep.Customers[0].Error != ErrUnknownCustomer.Error() {
		t.Errorf("unknown customer: %+v", rep)
	}
}

type failingDB struct{ fakeDB }

func (f *failingDB) CustomerIDs(context.Context, string, int) ([]string, error) {
	return nil, errors.New("connection refused")
}

func TestListingFailureIsAnError(t *testing.T) {
	_, _, r := setup()
	r.Database = &failingDB{}
	if _, err := r.Run(context.Background(), Options{}); err == nil {
		t.Error("a run that cannot list the customers must fail")
	}
}

// A workflow that failed before it opened the account has no ledger:
// nothing to compare without a row, drift (for staff) with one.
func TestWorkflowWithoutLedger(t *testing.T) {
	wf, db, r := setup()
	wf.exec["h-failed"], wf.exec["i-failed"] = "failed", "failed"
	db.rows["i-failed"] = rowsOf("i-failed")
	for id, want := range map[string]string{"h-failed": StateOK, "i-failed": StateDrift} {
		c := r.Customer(context.Background(), id, Options{Repair: true, Actor: "alice"})
		if c.State != want || c.Execution != "failed" || (want == StateDrift && (c.Drift[0].Field != "workflow" || c.Drift[0].Repairable)) {
			t.Errorf("%s: %+v", id, c)
		}
	}
	if len(wf.resyncs) != 0 {
		t.Errorf("resync tried on a workflow without a ledger: %v", wf.resyncs)
	}
}
