package workflows

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
)

// Hostile updates are rejected by their validators, before anything enters
// history: the update's error names the field, the workflow's state is the
// same before and after, and nothing is recorded. A storable update sent
// after them is accepted and recorded whole.
func TestHostileUpdatesAreRejectedByTheValidator(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	bad := start.Add(3 * day)
	hostile := []struct {
		id, update string
		arg        any
		want       string
	}{
		{"nul-reference", UpdateRecordPayment.Name, account.Payment{PaymentID: "p-nul", AmountMinor: 100, Currency: "USD", Method: "card", Reference: "ref\x00"}, "reference contains a NUL"},
		{"bidi-reference", UpdateRecordPayment.Name, account.Payment{PaymentID: "p-bidi", AmountMinor: 100, Currency: "USD", Method: "card", Reference: "INV\u202e0001"}, "reference contains a Unicode bidirectional"},
		{"int64-max-payment", UpdateRecordPayment.Name, account.Payment{PaymentID: "p-max", AmountMinor: math.MaxInt64, Currency: "USD", Method: "card"}, "amount_minor"},
		{"int64-max-usage", UpdateReportUsage.Name, account.Usage{UsageID: "u-max", AmountMinor: math.MaxInt64}, "amount_minor"},
		{"int64-max-budget", UpdateSetBudget.Name, account.Budget{LimitMinor: math.MaxInt64}, "limit_minor"},
		{"nul-suspend", UpdateSuspend.Name, account.StaffAction{Actor: "alice", Reason: "chargeback\x00"}, "reason contains a NUL"},
		{"bidi-note", UpdateSuspend.Name, account.StaffAction{Actor: "alice", Reason: "chargeback", Note: "\u2066x\u2069"}, "note contains a Unicode bidirectional"},
		{"nul-abuse", UpdateReportAbuse.Name, account.AbuseReport{NoticeID: "N-1", Category: "spam", Source: "staff", Detail: "x\x00"}, "detail contains a NUL"},
		{"year-1-promise", UpdatePromiseToPay.Name, account.Promise{InvoiceID: "INV-acme-0001", Until: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), Actor: "alice"}, "until"},
		{"bidi-decision", UpdateReviewDecision.Name, account.Decision{Decision: "approve", Actor: "ali\u202ece"}, "actor"},
	}
	rejected := map[string]error{}
	completed := map[string]bool{}
	var before, after string
	var recordsBefore, recordsAfter int
	query := func(env *testsuite.TestWorkflowEnvironment) string {
		v, err := env.QueryWorkflow(QueryGetStatus.Name)
		if err != nil {
			t.Fatal(err)
		}
		var view account.StatusView
		if err := v.Get(&view); err != nil {
			t.Fatal(err)
		}
		view.AsOf = time.Time{} // the query's own time
		b, _ := json.Marshal(view)
		return string(b)
	}
	h.at(bad, func(env *testsuite.TestWorkflowEnvironment) {
		before, recordsBefore = query(env), len(h.records)
		for _, c := range hostile {
			env.UpdateWorkflow(c.update, c.id, &testsuite.TestUpdateCallback{
				OnAccept:   func() {},
				OnReject:   func(err error) { rejected[c.id] = err },
				OnComplete: func(any, error) { completed[c.id] = true },
			}, c.arg)
		}
	})
	h.at(bad.Add(time.Minute), func(env *testsuite.TestWorkflowEnvironment) {
		after, recordsAfter = query(env), len(h.records)
	})
	whole := "Überweisung «42» — 송금 🚀"
	update(h, bad.Add(2*time.Minute), UpdateRecordPayment, "good", account.Payment{PaymentID: "p-good", AmountMinor: 100,
		Currency: "USD", Method: "bank_transfer", Reference: whole})
	h.run(Input{Application: testApplication("standard")}, bad.Add(time.Hour))

	for _, c := range hostile {
		err := rejected[c.id]
		switch {
		case completed[c.id]:
			t.Errorf("%s: accepted into history", c.id)
		case err == nil:
			t.Errorf("%s: not rejected", c.id)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: rejected with %q, want it to contain %q", c.id, err, c.want)
		}
	}
	if before == "" || before != after {
		t.Errorf("state changed by rejected updates:\nbefore %s\nafter  %s", before, after)
	}
	if recordsAfter != recordsBefore {
		t.Errorf("%d records written by rejected updates", recordsAfter-recordsBefore)
	}
	if err := h.rejections["good"]; err != nil {
		t.Fatalf("good payment: %v", err)
	}
	var found bool
	for _, ev := range h.events() {
		if ev.Payment != nil && ev.Payment.PaymentID == "p-good" {
			found = ev.Payment.Reference == whole
		}
		if ev.Payment != nil && strings.HasPrefix(ev.Payment.PaymentID, "p-") && ev.Payment.PaymentID != "p-good" {
			t.Errorf("rejected payment %s recorded", ev.Payment.PaymentID)
		}
	}
	if !found {
		t.Error("the storable payment was not recorded whole")
	}
}
