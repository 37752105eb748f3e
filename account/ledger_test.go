package account

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLedgerHasTheFiguresPostgreSQLMirrors(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, t0.Add(32*day)) // the first subscription invoice
	pay(t, a, "p2", 4000, t0.Add(33*day))
	l := a.Ledger()
	if l.CustomerID != "acme" || l.Status != a.Status || l.Access != a.Access || l.EventSeq != a.EventSeq || l.Currency != "USD" {
		t.Errorf("ledger head = %+v", l)
	}
	if l.BalanceMinor != a.Balance() || l.CreditMinor != a.CreditMinor || l.PendingBatches != 0 {
		t.Errorf("ledger figures = %+v", l)
	}
	if len(l.Invoices) != 1 || l.Invoices[0].ID != a.Invoices[0].ID || l.Invoices[0].PaidMinor != 4000 || l.Invoices[0].Stage != a.Invoices[0].Stage {
		t.Errorf("ledger invoices = %+v", l.Invoices)
	}
	if len(l.Payments) != 2 || l.Payments[0].PaymentID != "p2" || l.Payments[0].AmountMinor != 4000 || l.Payments[1].PaymentID != "prepay" {
		t.Errorf("ledger payments = %+v, want p2 and prepay in ID order", l.Payments)
	}
}

func TestResyncReRecordsWithoutChangingTheAccount(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, t0.Add(32*day))
	before := a.Ledger()
	now := t0.Add(40 * day)
	r := Resync{Actor: "alice", Reason: "payment row lost", PaymentIDs: []string{"prepay", "prepay"}}
	if err := a.CheckResync(r); err != nil {
		t.Fatal(err)
	}
	events := a.Resync(r, now)
	if len(events) != 1+len(a.Invoices) || events[0].Type != EventAccountResynced || events[0].Actor != "alice" || events[0].Reason != "payment row lost" {
		t.Fatalf("events = %+v", events)
	}
	inv := events[1]
	if inv.Type != EventInvoiceResynced || inv.Invoice == nil || inv.InvoiceID != a.Invoices[0].ID || inv.Invoice == a.Invoices[0] {
		t.Errorf("invoice event = %+v (it must carry a copy of the open invoice)", inv)
	}
	if events[0].Detail["reconciled"] != "true" || events[0].Key != "acme/"+itoa(before.EventSeq+1) {
		t.Errorf("resync event = %+v", events[0])
	}
	pays := a.ResyncPayments(r)
	if len(pays) != 1 || pays[0].PaymentID != "prepay" || pays[0].AmountMinor != 10000 {
		t.Errorf("payments to re-record = %+v", pays)
	}
	rec := a.PaymentsReconciled(r, pays, now)
	if len(rec) != 1 || rec[0].Type != EventPaymentReconciled || rec[0].Detail["payment_id"] != "prepay" || rec[0].Payment != nil {
		t.Errorf("payment events = %+v (audit only: the row is restored by its own activity)", rec)
	}
	after := a.Ledger()
	after.EventSeq = before.EventSeq
	if after.BalanceMinor != before.BalanceMinor || after.Status != before.Status || len(after.Invoices) != len(before.Invoices) {
		t.Errorf("resync changed the account: %+v -> %+v", before, after)
	}
}

func TestResyncRefusals(t *testing.T) {
	a := activeAccount(t, "standard")
	for _, tc := range []struct {
		r    Resync
		want string
	}{
		{Resync{Reason: "x"}, "actor is required"},
		{Resync{Actor: "alice"}, "reason is required"},
		{Resync{Actor: "alice", Reason: "x", PaymentIDs: []string{"bad id"}}, "payment_id"},
		{Resync{Actor: "alice", Reason: "x", PaymentIDs: []string{"nope"}}, "unknown payment nope"},
	} {
		if err := a.CheckResync(tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckResync(%+v) = %v, want %q", tc.r, err, tc.want)
		}
	}
	if len(a.Resync(Resync{Actor: "a", Reason: "r"}, t0.Add(time.Hour))) != 1 {
		t.Error("a resync without open invoices still records its audit event")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
