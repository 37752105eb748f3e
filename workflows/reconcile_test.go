package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
)

// GetLedger answers the account's figures and how many batches are still
// unrecorded; Resync re-records the customers row and every open invoice,
// restores the payment rows asked for, and records one audit event each,
// with the caller as actor. Bad requests are refused before history.
func TestGetLedgerAndResync(t *testing.T) {
	h := newHarness(t)
	ledgers := map[string]account.Ledger{}
	query := func(name string) func(env *testsuite.TestWorkflowEnvironment) {
		return func(env *testsuite.TestWorkflowEnvironment) {
			v, err := env.QueryWorkflow(QueryGetLedger.Name)
			if err != nil {
				t.Fatal(err)
			}
			var l account.Ledger
			if err := v.Get(&l); err != nil {
				t.Fatal(err)
			}
			ledgers[name] = l
		}
	}
	h.at(start.Add(time.Hour), query("opened"))
	h.pay(start.Add(2*time.Hour), "pre", 4000)
	h.at(start.Add(3*time.Hour), query("paid"))
	resync := account.Resync{Actor: "alice", Reason: "payment row lost", PaymentIDs: []string{"pre"}}
	update(h, start.Add(4*time.Hour), UpdateResync, "resync", resync)
	update(h, start.Add(5*time.Hour), UpdateResync, "unknown", account.Resync{Actor: "alice", Reason: "x", PaymentIDs: []string{"nope"}})
	update(h, start.Add(5*time.Hour), UpdateResync, "no-actor", account.Resync{Reason: "x"})
	h.at(start.Add(6*time.Hour), query("after"))
	h.run(Input{Application: testApplication("standard")}, start.Add(24*time.Hour))

	opened := ledgers["opened"]
	if opened.CustomerID != "acme" || opened.Status != account.StatusAwaitingPrepayment || len(opened.Invoices) != 1 ||
		opened.Invoices[0].Kind != account.KindPrepayment || opened.PendingBatches != 0 || opened.EventSeq == 0 {
		t.Errorf("ledger after opening = %+v", opened)
	}
	paid := ledgers["paid"]
	if len(paid.Payments) != 1 || paid.Payments[0] != (account.LedgerPayment{PaymentID: "pre", AmountMinor: 4000, Currency: "USD"}) ||
		paid.Invoices[0].PaidMinor != 4000 || paid.BalanceMinor != opened.BalanceMinor-4000 {
		t.Errorf("ledger after a part payment = %+v", paid)
	}

	res, ok := h.results["resync"].(account.ResyncResult)
	if !ok {
		t.Fatalf("resync: %v %v", h.results["resync"], h.rejections["resync"])
	}
	// account.resynced, invoice.resynced, payment.reconciled.
	if res.Invoices != 1 || !slices.Equal(res.PaymentsRestored, []string{"pre"}) || res.EventSeq != paid.EventSeq+3 {
		t.Errorf("resync result = %+v (event seq before %d)", res, paid.EventSeq)
	}
	if len(h.restores) != 1 || h.restores[0].CustomerID != "acme" || h.restores[0].Actor != "alice" ||
		len(h.restores[0].Payments) != 1 || h.restores[0].Payments[0].AmountMinor != 4000 {
		t.Errorf("RestorePayments got %+v", h.restores)
	}
	var types []string
	var resynced account.Event
	var last activities.RecordInput
	for _, r := range h.records {
		for _, ev := range r.Events {
			if ev.Detail["reconciled"] == "true" {
				types = append(types, string(ev.Type))
				if ev.Actor != "alice" || ev.Reason != "payment row lost" {
					t.Errorf("%s by %s for %q", ev.Type, ev.Actor, ev.Reason)
				}
				last = r
			}
			if ev.Type == account.EventInvoiceResynced {
				resynced = ev
			}
		}
	}
	if !slices.Equal(types, []string{string(account.EventAccountResynced), string(account.EventInvoiceResynced), string(account.EventPaymentReconciled)}) {
		t.Errorf("reconciled events = %v", types)
	}
	if resynced.Invoice == nil || resynced.Invoice.PaidMinor != 4000 || resynced.Invoice.ID != paid.Invoices[0].ID {
		t.Errorf("invoice.resynced carries %+v", resynced.Invoice)
	}
	if last.Customer.EventSeq != int64(res.EventSeq) || last.Customer.BalanceMinor != paid.BalanceMinor {
		t.Errorf("customers row recorded with the resync = %+v", last.Customer)
	}
	for id, want := range map[string]string{"unknown": "unknown payment nope", "no-actor": "actor is required"} {
		if err := h.rejections[id]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", id, err, want)
		}
	}
	if after := ledgers["after"]; after.EventSeq != res.EventSeq || after.BalanceMinor != paid.BalanceMinor || after.PendingBatches != 0 {
		t.Errorf("ledger after resync = %+v", after)
	}
}
