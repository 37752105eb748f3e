package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
)

const day = 24 * time.Hour

// A month after a prepayment paid an hour after start.
var firstIssue = time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)

func TestOnboardPrepayInvoicePaid(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay-1", 10000)
	update(h, start.Add(10*time.Minute), UpdateVerifyPhone, "verify", account.PhoneCode{Code: phoneCode})
	h.pay(firstIssue.Add(2*day), "pay-2", 10000)
	h.run(Input{Application: testApplication("standard")}, firstIssue.Add(20*day))

	var cancelled *temporal.CanceledError
	if !errors.As(h.err, &cancelled) {
		t.Fatalf("workflow ended with %v, want cancellation at the test's end", h.err)
	}
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if h.runs < 1 {
		t.Errorf("no continue-as-new after a billing cycle")
	}
	if got := h.noticeDays("INV-acme-0001", start); got != "prepayment_request@D+0" {
		t.Errorf("prepayment notices: %s", got)
	}
	if got := h.noticeDays("INV-acme-0002", firstIssue.Add(14*day)); got != "invoice_issued@D-14" {
		t.Errorf("invoice notices: %s", got)
	}
	if inv := h.invoice("INV-acme-0002"); inv.Status != account.InvoicePaid || !inv.IssuedAt.Equal(firstIssue) {
		t.Errorf("invoice = %+v", inv)
	}
	res := h.results["pay-2"].(account.PaymentResult)
	if res.BalanceMinor != 0 || len(res.Allocations) != 1 || res.Allocations[0].InvoiceID != "INV-acme-0002" {
		t.Errorf("payment result = %+v", res)
	}
	types := h.eventTypes()
	for _, want := range []string{string(account.EventAccountOpened), string(account.EventPrepaymentRequested), string(account.EventPaymentRecorded), string(account.EventInvoicePaid), string(account.EventAccountActivated), string(account.EventInvoiceIssued), string(account.EventAccountStatusChanged)} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s event recorded; got %v", want, types)
		}
	}
	var actions []string
	for _, p := range h.provisions {
		actions = append(actions, string(p.Action))
	}
	if strings.Join(actions, ",") != "activate,grant_full_access" {
		t.Errorf("provisioning = %v", actions)
	}
	// The last record carries the customer's current figures.
	last := h.records[len(h.records)-1].Customer
	if last.Status != "active" || last.Access != "full" || last.BalanceMinor != 0 {
		t.Errorf("customer row = %+v", last)
	}
}

func TestLadderExactDays(t *testing.T) {
	for _, tc := range []struct {
		policy  string
		issue   time.Time
		terms   time.Duration
		want    string
		prepaid int64
	}{
		{"standard", firstIssue, 14 * day,
			"invoice_issued@D-14 upcoming@D-3 due@D+0 overdue_1@D+3 overdue_2@D+7 final_notice@D+14 suspended@D+21 termination_warning@D+45 terminated@D+60", 10000},
		{"strict", time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), 7 * day,
			"invoice_issued@D-7 upcoming@D-2 due@D+0 overdue_1@D+2 final_notice@D+4 suspended@D+7 termination_warning@D+21 terminated@D+30", 20000},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			h := newHarness(t)
			h.pay(start.Add(time.Hour), "prepay", tc.prepaid)
			h.run(Input{Application: testApplication(tc.policy)}, start.AddDate(1, 0, 0))
			if h.err != nil {
				t.Fatalf("workflow error: %v", h.err)
			}
			due := tc.issue.Add(tc.terms)
			if got := h.noticeDays("INV-acme-0002", due); got != tc.want {
				t.Errorf("emails:\n got %s\nwant %s", got, tc.want)
			}
			var actions []string
			for _, p := range h.provisions {
				actions = append(actions, string(p.Action))
			}
			if strings.Join(actions, ",") != "activate,suspend,terminate" {
				t.Errorf("provisioning = %v", actions)
			}
			last := h.records[len(h.records)-1]
			if last.Customer.Status != "terminated" {
				t.Errorf("final status %s", last.Customer.Status)
			}
			var wo *account.WriteOff
			for _, ev := range h.events() {
				if ev.WriteOff != nil {
					wo = ev.WriteOff
				}
			}
			if wo == nil || !wo.Collections || wo.AmountMinor == 0 {
				t.Errorf("no hand-off to collections: %+v", wo)
			}
		})
	}
}

func TestPaymentWhileSuspendedReinstates(t *testing.T) {
	h := newHarness(t)
	due := firstIssue.Add(14 * day)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	h.pay(due.Add(22*day), "late", 20000) // both invoices open by then
	h.run(Input{Application: testApplication("standard")}, due.Add(40*day))
	if got := h.noticeDays("INV-acme-0002", due); !strings.HasSuffix(got, "final_notice@D+14 suspended@D+21") {
		t.Errorf("emails: %s", got)
	}
	var reinstated bool
	for _, s := range h.notices {
		reinstated = reinstated || s.n.Template == "reinstated"
	}
	var actions []string
	for _, p := range h.provisions {
		actions = append(actions, string(p.Action))
	}
	if !reinstated || strings.Join(actions, ",") != "activate,suspend,reinstate" {
		t.Errorf("reinstated mail %v, provisioning %v", reinstated, actions)
	}
	res := h.results["late"].(account.PaymentResult)
	if res.Status != account.StatusActive || res.BalanceMinor != 0 {
		t.Errorf("after paying: %+v", res)
	}
}

func TestRecordPaymentRefusesBadInput(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	bad := map[string]account.Payment{
		"zero":      {PaymentID: "p-zero", AmountMinor: 0, Currency: "USD", Method: "card"},
		"negative":  {PaymentID: "p-neg", AmountMinor: -100, Currency: "USD", Method: "card"},
		"currency":  {PaymentID: "p-eur", AmountMinor: 100, Currency: "EUR", Method: "card"},
		"reused":    {PaymentID: "prepay", AmountMinor: 999, Currency: "USD", Method: "card"},
		"malformed": {PaymentID: "has space", AmountMinor: 100, Currency: "USD", Method: "card"},
	}
	for id, p := range bad {
		update(h, start.Add(2*time.Hour), UpdateRecordPayment, id, p)
	}
	update(h, start.Add(3*time.Hour), UpdateRecordPayment, "again", account.Payment{PaymentID: "prepay", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer"})
	var recordsBefore, recordsAfter int
	h.at(start.Add(90*time.Minute), func(*testsuite.TestWorkflowEnvironment) { recordsBefore = len(h.records) })
	h.at(start.Add(4*time.Hour), func(*testsuite.TestWorkflowEnvironment) { recordsAfter = len(h.records) })
	h.run(Input{Application: testApplication("standard")}, start.Add(5*time.Hour))

	wants := map[string]string{
		"zero": "amount_minor must be a positive amount", "negative": "amount_minor must be a positive amount",
		"currency": "currency EUR does not match the account currency USD",
		"reused":   `payment_id "prepay" was already recorded for 10000 USD`, "malformed": "payment_id",
	}
	for id, want := range wants {
		if err := h.rejections[id]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: rejection %v, want %q", id, err, want)
		}
	}
	if res, ok := h.results["again"].(account.PaymentResult); !ok || !res.Duplicate {
		t.Errorf("same payment again: %+v %v", h.results["again"], h.rejections["again"])
	}
	if recordsAfter != recordsBefore {
		t.Errorf("refused or repeated payments recorded %d batches", recordsAfter-recordsBefore)
	}
	n := 0
	for _, ev := range h.events() {
		if ev.Type == account.EventPaymentRecorded {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d payments recorded, want 1", n)
	}
}

func TestPromiseAndDispute(t *testing.T) {
	h := newHarness(t)
	due := firstIssue.Add(14 * day)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	update(h, due.Add(4*day), UpdatePromiseToPay, "promise", account.Promise{InvoiceID: "INV-acme-0002", Until: due.Add(10 * day), Actor: "alice"})
	update(h, due.Add(5*day), UpdatePromiseToPay, "promise-again", account.Promise{InvoiceID: "INV-acme-0002", Until: due.Add(12 * day), Actor: "alice"})
	update(h, due.Add(5*day), UpdatePromiseToPay, "promise-unknown", account.Promise{InvoiceID: "INV-acme-9999", Until: due.Add(12 * day), Actor: "alice"})
	update(h, due.Add(11*day), UpdateDisputeInvoice, "dispute", account.Dispute{InvoiceID: "INV-acme-0002", Reason: "outage", Actor: "bob"})
	update(h, due.Add(20*day), UpdateResolveDispute, "resolve", account.Resolution{InvoiceID: "INV-acme-0002", Outcome: account.OutcomeUpheld, Actor: "bob"})
	h.run(Input{Application: testApplication("standard")}, due.Add(23*day))

	if err := h.rejections["promise-again"]; err == nil || !strings.Contains(err.Error(), "already has a promise") {
		t.Errorf("second promise: %v", err)
	}
	if err := h.rejections["promise-unknown"]; err == nil || !strings.Contains(err.Error(), "not an open invoice") {
		t.Errorf("unknown invoice: %v", err)
	}
	for _, id := range []string{"promise", "dispute", "resolve"} {
		if h.rejections[id] != nil {
			t.Errorf("%s refused: %v", id, h.rejections[id])
		}
	}
	// Promise D+4..D+10 (6 days), broken at D+10; dispute D+11..D+20 (9
	// days): overdue_2, due at D+7, moves 15 days to D+22.
	if got := h.noticeDays("INV-acme-0002", due); got != "invoice_issued@D-14 upcoming@D-3 due@D+0 overdue_1@D+3 overdue_2@D+22" {
		t.Errorf("emails: %s", got)
	}
	view := h.results["resolve"].(account.StatusView)
	if len(view.Invoices) == 0 || view.Invoices[0].NextStage != "overdue_2" {
		t.Errorf("status after resolve: %+v", view)
	}
}

func TestStaffSuspendReinstateTerminate(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	update(h, start.Add(2*day), UpdateReinstate, "reinstate-active", account.StaffAction{Actor: "dave", Reason: "x"})
	update(h, start.Add(3*day), UpdateSuspend, "suspend", account.StaffAction{Actor: "dave", Reason: "chargeback"})
	update(h, start.Add(3*day+time.Hour), UpdateSuspend, "suspend-no-actor", account.StaffAction{Reason: "x"})
	update(h, start.Add(4*day), UpdateReinstate, "reinstate", account.StaffAction{Actor: "erin", Reason: "resolved"})
	update(h, start.Add(5*day), UpdateTerminate, "terminate", account.StaffAction{Actor: "frank", Reason: "closed on request"})
	h.run(Input{Application: testApplication("standard")}, start.Add(30*day))
	if h.err != nil {
		t.Fatalf("workflow: %v", h.err)
	}
	if err := h.rejections["reinstate-active"]; err == nil || !strings.Contains(err.Error(), "not suspended") {
		t.Errorf("reinstate while active: %v", err)
	}
	if err := h.rejections["suspend-no-actor"]; err == nil || !strings.Contains(err.Error(), "actor is required") {
		t.Errorf("suspend without actor: %v", err)
	}
	var actions []string
	for _, p := range h.provisions {
		actions = append(actions, string(p.Action))
	}
	if strings.Join(actions, ",") != "activate,suspend,reinstate,terminate" {
		t.Errorf("provisioning = %v", actions)
	}
	var audit []string
	for _, ev := range h.events() {
		if ev.Actor != account.SystemActor {
			audit = append(audit, string(ev.Type)+" by "+ev.Actor+": "+ev.Reason)
		}
	}
	want := "account.suspended by dave: chargeback|account.status_changed by dave: chargeback|account.reinstated by erin: resolved|account.status_changed by erin: resolved|account.terminated by frank: closed on request"
	if got := strings.Join(audit, "|"); got != want {
		t.Errorf("audit:\n got %s\nwant %s", got, want)
	}
}

func TestRefusedEmailIsRecordedAndLadderGoesOn(t *testing.T) {
	h := newHarness(t)
	h.sendNotice = func(_ context.Context, in activities.NoticeInput) (activities.NoticeResult, error) {
		if in.Notice.Stage == "overdue_1" {
			return activities.NoticeResult{}, temporal.NewNonRetryableApplicationError("mail service answered 400: bad address", activities.ErrEmailRefused, nil)
		}
		return activities.NoticeResult{}, nil
	}
	h.pay(start.Add(time.Hour), "prepay", 10000)
	due := firstIssue.Add(14 * day)
	h.run(Input{Application: testApplication("standard")}, due.Add(8*day))
	var failed *account.Event
	for _, ev := range h.events() {
		if ev.Type == account.EventEmailFailed {
			failed = &ev
		}
	}
	if failed == nil || failed.Detail["stage"] != "overdue_1" || failed.Detail["kind"] != activities.ErrEmailRefused || !strings.Contains(failed.Reason, "bad address") {
		t.Fatalf("email.failed = %+v", failed)
	}
	if got := h.noticeDays("INV-acme-0002", due); !strings.HasSuffix(got, "due@D+0 overdue_2@D+7") {
		t.Errorf("ladder did not go on: %s", got)
	}
}

func TestInvalidApplicationFails(t *testing.T) {
	for name, edit := range map[string]func(*account.Application){
		"bad email":      func(a *account.Application) { a.Email = "nope" },
		"unknown policy": func(a *account.Application) { a.Policy = "gentle" },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			app := testApplication("standard")
			edit(&app)
			h.run(Input{Application: app}, start.Add(day))
			var appErr *temporal.ApplicationError
			if !errors.As(h.err, &appErr) || appErr.Type() != "InvalidApplication" {
				t.Fatalf("error = %v", h.err)
			}
			if len(h.records) != 0 {
				t.Error("an invalid application was recorded")
			}
		})
	}
}

func TestStateSurvivesContinueAsNew(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	// Pay each month's invoice on time, across several runs.
	for m := 0; m < 4; m++ {
		issue := firstIssue.AddDate(0, m, 0)
		h.pay(issue.Add(day), "month-"+string(rune('a'+m)), 10000)
	}
	// A retry of the first payment, months and runs later, is still known.
	update(h, firstIssue.AddDate(0, 4, 2), UpdateRecordPayment, "retry-old",
		account.Payment{PaymentID: "prepay", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer"})
	h.run(Input{Application: testApplication("standard")}, firstIssue.AddDate(0, 4, 5))
	if h.runs < 4 {
		t.Errorf("only %d continue-as-new runs over 5 billing cycles", h.runs)
	}
	if res, ok := h.results["retry-old"].(account.PaymentResult); !ok || !res.Duplicate {
		t.Errorf("old payment retried after continue-as-new: %+v %v", h.results["retry-old"], h.rejections["retry-old"])
	}
	if len(h.rejections) > 0 {
		t.Errorf("rejections: %v", h.rejections)
	}
	// Invoice numbers continue across runs; every invoice was paid.
	for i := 2; i <= 6; i++ {
		id := "INV-acme-000" + string(rune('0'+i))
		if inv := h.invoice(id); (i < 6 && inv.Status != account.InvoicePaid) || (i == 6 && inv.Status != account.InvoiceOpen) {
			t.Errorf("%s is %s", id, inv.Status)
		}
	}
	// No event key was used twice across runs.
	seen := map[string]bool{}
	for _, ev := range h.events() {
		if seen[ev.Key] {
			t.Fatalf("event key %s reused", ev.Key)
		}
		seen[ev.Key] = true
	}
}

// A pay-now payment whose webhook arrives after termination (the gateway
// has the money) is recorded as credit and staff are told; a payment staff
// try to record on the terminated account is still refused.
func TestPayLinkPaymentAfterTerminationIsRecorded(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	h.at(start.Add(day), func(env *testsuite.TestWorkflowEnvironment) {
		send(h, env, UpdateTerminate, "end", account.StaffAction{Actor: "ana", Reason: "closed"})
		send(h, env, UpdateRecordPayment, "staff", account.Payment{PaymentID: "bank-9", AmountMinor: 500, Currency: "USD",
			Method: "bank_transfer", Actor: "ana"})
		send(h, env, UpdateRecordPayment, "link", account.Payment{PaymentID: "pi_late", AmountMinor: 2500, Currency: "USD",
			Method: "card", Reference: "INV-x", Actor: account.PayLinkActor})
	})
	h.run(Input{Application: testApplication("standard.v1")}, start.Add(2*day))
	if err := h.rejections["end"]; err != nil {
		t.Fatal(err)
	}
	if err := h.rejections["staff"]; err == nil || !strings.Contains(err.Error(), "account is terminated") {
		t.Errorf("staff payment after termination: %v", err)
	}
	if err := h.rejections["link"]; err != nil {
		t.Fatalf("pay-link payment after termination refused: %v", err)
	}
	if res, ok := h.results["link"].(account.PaymentResult); !ok || res.CreditMinor < 2500 || res.Status != account.StatusTerminated {
		t.Errorf("pay-link result %+v", h.results["link"])
	}
	alerted := false
	for _, n := range h.notices {
		if n.n.Staff && n.n.Detail["kind"] == "payment_after_termination" && n.n.Detail["payment_id"] == "pi_late" {
			alerted = true
		}
	}
	if !alerted {
		t.Error("no staff alert about the payment after termination")
	}
}
