package account

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/policy"
)

var t0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func mustPolicy(t *testing.T, name string) policy.Policy {
	t.Helper()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func testApp() Application {
	return Application{
		CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Phone: "+14155550100",
		Country: "US", Currency: "USD", Locale: "en", Policy: "standard",
		Plan:              Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: PaymentInstrument{Type: "card", CardBIN: "424242"},
		SignupIP:          "203.0.113.7",
	}
}

// activeAccount returns an account whose prepayment was paid an hour after
// t0, so that its first invoice comes a month later.
func activeAccount(t *testing.T, pol string) *Account {
	t.Helper()
	a := New(testApp(), mustPolicy(t, pol), "low", t0)
	if _, err := a.Approve(true, SystemActor, "screening passed", t0); err != nil {
		t.Fatal(err)
	}
	fee := a.Invoices[0].AmountMinor
	pay(t, a, "prepay", fee, t0.Add(time.Hour))
	if a.Status != StatusActive || a.Access != AccessLimited {
		t.Fatalf("after prepayment: %s/%s", a.Status, a.Access)
	}
	return a
}

func pay(t *testing.T, a *Account, id string, amount int64, at time.Time) (PaymentResult, []Event) {
	t.Helper()
	res, events, err := a.RecordPayment(Payment{PaymentID: id, AmountMinor: amount, Currency: "USD", Method: "bank_transfer"}, at)
	if err != nil {
		t.Fatalf("payment %s: %v", id, err)
	}
	return res, events
}

// runUntil advances the account through every wake-up up to and including
// until, as the workflow does, and returns the events.
func runUntil(a *Account, until time.Time) []Event {
	var all []Event
	for {
		at, _, ok := a.NextWake()
		if !ok || at.After(until) {
			return all
		}
		all = append(all, a.Advance(at)...)
	}
}

// timeline renders events as "D+3 dunning.overdue_1 [overdue_1]" relative to
// the due date, keeping only the event types asked for.
func timeline(events []Event, due time.Time, types ...EventType) string {
	var lines []string
	for _, ev := range events {
		keep := len(types) == 0
		for _, typ := range types {
			keep = keep || strings.HasPrefix(string(ev.Type), string(typ))
		}
		if !keep {
			continue
		}
		d := ev.At.Sub(due)
		sign := "+"
		if d < 0 {
			sign, d = "-", -d
		}
		line := fmt.Sprintf("D%s%s %s", sign, fmtDays(d), ev.Type)
		if ev.Notice != nil {
			line += " [" + ev.Notice.Template + "]"
		}
		if ev.Provision != "" {
			line += " <" + string(ev.Provision) + ">"
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// forInvoice keeps the events about one invoice.
func forInvoice(events []Event, id string) []Event {
	var out []Event
	for _, ev := range events {
		if ev.InvoiceID == id {
			out = append(out, ev)
		}
	}
	return out
}

func fmtDays(d time.Duration) string {
	if d%day == 0 {
		return fmt.Sprint(int(d / day))
	}
	return d.String()
}

func TestStandardLadderNeverPaid(t *testing.T) {
	a := activeAccount(t, "standard")
	issue := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC) // a month after activation
	events := runUntil(a, issue)
	if len(a.Invoices) != 1 || a.Invoices[0].ID != "INV-acme-0002" {
		t.Fatalf("invoices after a month: %+v", a.Invoices)
	}
	inv := *a.Invoices[0]
	due := inv.DueAt
	if !inv.IssuedAt.Equal(issue) || due.Sub(issue) != 14*day || inv.AmountMinor != 10000 {
		t.Fatalf("invoice = %+v", inv)
	}
	events = append(events, runUntil(a, due.Add(61*day))...)
	got := timeline(events, due, EventInvoiceIssued, "dunning.", "account.", EventInvoiceWrittenOff)
	want := strings.Join([]string{
		"D-14 invoice.issued [invoice_issued]",
		"D-3 dunning.upcoming [upcoming]",
		"D+0 account.status_changed", // past due
		"D+0 dunning.due [due]",
		"D+3 dunning.overdue_1 [overdue_1]",
		"D+7 dunning.overdue_2 [overdue_2]",
		"D+14 dunning.final_notice [final_notice]",
		"D+14 invoice.issued [invoice_issued]", // the next month's invoice, a month after the first
		"D+21 account.suspended [suspended] <suspend>",
		"D+21 account.status_changed",
		"D+25 dunning.upcoming [upcoming]", // the second invoice's own ladder
		"D+28 dunning.due [due]",
		"D+31 dunning.overdue_1 [overdue_1]",
		"D+35 dunning.overdue_2 [overdue_2]",
		"D+42 dunning.final_notice [final_notice]",
		"D+45 dunning.termination_warning [termination_warning]",
		"D+49 dunning.suspended", // already suspended: recorded, no second notice
		"D+60 invoice.written_off",
		"D+60 invoice.written_off",
		"D+60 account.terminated [terminated] <terminate>",
	}, "\n")
	if got != want {
		t.Errorf("timeline:\n%s\n\nwant:\n%s", got, want)
	}
	if a.Status != StatusTerminated || a.Access != AccessNone || len(a.Invoices) != 0 {
		t.Errorf("after termination: %s/%s, %d invoices open", a.Status, a.Access, len(a.Invoices))
	}
	last := events[len(events)-1]
	if last.WriteOff == nil || !last.WriteOff.Collections || last.WriteOff.AmountMinor != 20000 ||
		strings.Join(last.WriteOff.InvoiceIDs, ",") != "INV-acme-0002,INV-acme-0003" {
		t.Errorf("write-off = %+v", last.WriteOff)
	}
	// Billing is skipped while suspended: no third invoice.
	if a.InvoiceSeq != 3 {
		t.Errorf("invoice seq = %d, want 3", a.InvoiceSeq)
	}
	if _, _, ok := a.NextWake(); ok {
		t.Error("a terminated account still has an agenda")
	}
}

func TestStrictLadderDays(t *testing.T) {
	a := activeAccount(t, "strict")
	// Strict prepays two periods: the first invoice comes two months later.
	if got := a.NextBillingAt; !got.Equal(t0.Add(time.Hour).AddDate(0, 2, 0)) {
		t.Fatalf("next billing = %v", got)
	}
	events := runUntil(a, a.NextBillingAt)
	due := a.Invoices[0].DueAt
	if due.Sub(a.Invoices[0].IssuedAt) != 7*day {
		t.Fatalf("strict terms = %v", due.Sub(a.Invoices[0].IssuedAt))
	}
	events = append(events, runUntil(a, due.Add(31*day))...)
	got := timeline(events, due, "dunning.", EventAccountSuspended, EventAccountTerminated)
	want := strings.Join([]string{
		"D-2 dunning.upcoming [upcoming]",
		"D+0 dunning.due [due]",
		"D+2 dunning.overdue_1 [overdue_1]",
		"D+4 dunning.final_notice [final_notice]",
		"D+7 account.suspended [suspended] <suspend>",
		"D+21 dunning.termination_warning [termination_warning]",
		"D+30 account.terminated [terminated] <terminate>",
	}, "\n")
	if got != want {
		t.Errorf("timeline:\n%s\n\nwant:\n%s", got, want)
	}
}

func TestNoticesNameTheirDeadlines(t *testing.T) {
	a := activeAccount(t, "standard")
	events := runUntil(a, a.NextBillingAt)
	due := a.Invoices[0].DueAt
	events = append(events, runUntil(a, due.Add(45*day))...)
	for _, ev := range events {
		if ev.Notice == nil || ev.Notice.InvoiceID != "INV-acme-0002" {
			continue
		}
		n := ev.Notice
		if n.Key != "acme:INV-acme-0002:"+n.Stage {
			t.Errorf("notice key = %q", n.Key)
		}
		switch n.Stage {
		case "final_notice", "overdue_1", "due":
			if !n.DeadlineAt.Equal(due.Add(21 * day)) {
				t.Errorf("%s deadline = %v, want the suspension date %v", n.Stage, n.DeadlineAt, due.Add(21*day))
			}
		case "suspended", "termination_warning":
			if !n.DeadlineAt.Equal(due.Add(60 * day)) {
				t.Errorf("%s deadline = %v, want the termination date", n.Stage, n.DeadlineAt)
			}
		}
		if n.Stage == "overdue_2" && (n.DaysOverdue != 7 || n.AmountMinor != 10000 || n.Reference != "INV-acme-0002") {
			t.Errorf("overdue_2 notice = %+v", n)
		}
	}
}

func TestPaymentAtEachStageStopsTheLadder(t *testing.T) {
	std := mustPolicy(t, "standard")
	for i, step := range std.Ladder[:len(std.Ladder)-1] {
		t.Run(step.Stage, func(t *testing.T) {
			a := activeAccount(t, "standard")
			runUntil(a, a.NextBillingAt)
			inv := a.Invoices[0]
			stepAt := inv.DueAt.Add(step.Offset)
			runUntil(a, stepAt)
			if inv.Stage != step.Stage {
				t.Fatalf("stage = %s, want %s", inv.Stage, step.Stage)
			}
			res, events := pay(t, a, "p1", a.Balance(), stepAt.Add(time.Hour))
			if len(res.Allocations) == 0 || res.Allocations[0].InvoiceID != inv.ID || res.BalanceMinor != 0 {
				t.Errorf("result = %+v", res)
			}
			if inv.Status != InvoicePaid || a.invoice(inv.ID) != nil {
				t.Errorf("invoice not closed: %+v", inv)
			}
			suspended := i >= std.StepIndex(policy.ActionSuspend)
			types := timeline(events, inv.DueAt, EventAccountReinstated)
			if suspended != strings.Contains(types, "account.reinstated [reinstated] <reinstate>") {
				t.Errorf("suspended=%v, events:\n%s", suspended, timeline(events, inv.DueAt))
			}
			if a.Status != StatusActive {
				t.Errorf("status after payment = %s", a.Status)
			}
			// Nothing more happens to the paid invoice.
			later := runUntil(a, inv.DueAt.Add(61*day))
			for _, ev := range later {
				if ev.InvoiceID == inv.ID {
					t.Errorf("paid invoice still dunned: %s", ev.Type)
				}
			}
		})
	}
}

func TestAccessBecomesFullAfterFirstInvoicePaidOnTime(t *testing.T) {
	a := activeAccount(t, "standard")
	verifyPhone(t, a, t0.Add(2*time.Hour))
	runUntil(a, a.NextBillingAt)
	_, events := pay(t, a, "p1", 10000, a.Invoices[0].DueAt.Add(-time.Hour))
	if a.Access != AccessFull || !a.Trusted() {
		t.Fatalf("access = %s", a.Access)
	}
	if tl := timeline(events, t0, EventAccountStatusChanged); !strings.Contains(tl, "<grant_full_access>") {
		t.Errorf("no full access grant in:\n%s", timeline(events, t0))
	}

	late := activeAccount(t, "standard")
	runUntil(late, late.NextBillingAt)
	due := late.Invoices[0].DueAt
	runUntil(late, due.Add(day))
	pay(t, late, "p1", 10000, due.Add(day))
	if late.Access != AccessLimited {
		t.Errorf("a late payer got %s access", late.Access)
	}

	strict := activeAccount(t, "strict")
	for range 3 {
		runUntil(strict, strict.NextBillingAt)
		pay(t, strict, fmt.Sprintf("p%d", strict.InvoiceSeq), strict.Invoices[0].AmountMinor, strict.Invoices[0].IssuedAt.Add(time.Hour))
	}
	if strict.OnTimeInvoices != 3 || strict.Access != AccessLimited {
		t.Errorf("strict without a verified phone: %d on time, %s access", strict.OnTimeInvoices, strict.Access)
	}
}

func TestPartialPaymentsAndCredit(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	inv := a.Invoices[0]
	res, _ := pay(t, a, "p1", 4000, inv.IssuedAt.Add(day))
	if inv.PaidMinor != 4000 || res.BalanceMinor != 6000 || inv.Status != InvoiceOpen {
		t.Fatalf("after partial payment: %+v %+v", inv, res)
	}
	// The ladder goes on for a partly paid invoice.
	events := runUntil(a, inv.DueAt)
	if tl := timeline(events, inv.DueAt, "dunning."); tl != "D-3 dunning.upcoming [upcoming]\nD+0 dunning.due [due]" {
		t.Errorf("ladder after partial payment:\n%s", tl)
	}
	if n := events[len(events)-1].Notice; events[len(events)-1].Type != "dunning.due" || n.AmountMinor != 6000 {
		t.Errorf("due notice = %+v", events[len(events)-1])
	}
	res, _ = pay(t, a, "p2", 9000, inv.DueAt.Add(time.Hour))
	if res.CreditMinor != 3000 || res.BalanceMinor != 0 || a.Balance() != -3000 {
		t.Errorf("overpayment: %+v balance %d", res, a.Balance())
	}
	// Credit pays part of the next invoice when it is issued.
	events = runUntil(a, a.NextBillingAt)
	next := a.Invoices[0]
	if next.PaidMinor != 3000 || a.CreditMinor != 0 {
		t.Errorf("next invoice %+v, credit %d", next, a.CreditMinor)
	}
	var issued *Notice
	for _, ev := range events {
		if ev.Type == EventInvoiceIssued {
			issued = ev.Notice
		}
	}
	if issued == nil || issued.AmountMinor != 7000 {
		t.Errorf("invoice mail should show 7000 left after credit: %+v", issued)
	}
}

func TestTwoOpenInvoicesAgeIndependently(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	first := a.Invoices[0]
	runUntil(a, a.NextBillingAt) // second invoice a month later
	if len(a.Invoices) != 2 {
		t.Fatalf("%d invoices open", len(a.Invoices))
	}
	second := a.Invoices[1]
	if first.Stage != "final_notice" || second.Stage != StageIssued {
		t.Fatalf("stages: %s, %s", first.Stage, second.Stage)
	}
	// Payment goes to the oldest first.
	res, _ := pay(t, a, "p1", 10000, second.IssuedAt.Add(time.Hour))
	if len(res.Allocations) != 1 || res.Allocations[0].InvoiceID != first.ID {
		t.Fatalf("allocations = %+v", res.Allocations)
	}
	if first.Status != InvoicePaid || second.Status != InvoiceOpen || a.Status != StatusActive {
		t.Fatalf("after paying the first: %s %s %s", first.Status, second.Status, a.Status)
	}
	events := runUntil(a, second.DueAt.Add(3*day))
	if tl := timeline(events, second.DueAt, "dunning."); tl != "D-3 dunning.upcoming [upcoming]\nD+0 dunning.due [due]\nD+3 dunning.overdue_1 [overdue_1]" {
		t.Errorf("second invoice ladder:\n%s", tl)
	}
	v := a.View(second.DueAt.Add(3 * day))
	if v.DunningStage != "overdue_1" || v.DaysPastDue != 3 || v.OverdueMinor != 10000 || len(v.Invoices) != 1 ||
		v.Invoices[0].NextStage != "overdue_2" || !v.Invoices[0].NextActionAt.Equal(second.DueAt.Add(7*day)) {
		t.Errorf("view = %+v", v)
	}
}

func TestPaymentSpreadsOverInvoicesOldestFirst(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	runUntil(a, a.NextBillingAt)
	res, _ := pay(t, a, "p1", 15000, a.Invoices[1].IssuedAt.Add(time.Hour))
	want := []Allocation{{"INV-acme-0002", 10000}, {"INV-acme-0003", 5000}}
	if fmt.Sprint(res.Allocations) != fmt.Sprint(want) {
		t.Errorf("allocations = %v, want %v", res.Allocations, want)
	}
}

func TestCatchUpSendsOnlyTheLatestReminder(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	due := a.Invoices[0].DueAt
	// The worker was down from before the upcoming notice until D+10.
	events := a.Advance(due.Add(10 * day))
	got := timeline(events, due, "dunning.")
	want := strings.Join([]string{
		"D+10 dunning.skipped", "D+10 dunning.skipped", "D+10 dunning.skipped",
		"D+10 dunning.overdue_2 [overdue_2]",
	}, "\n")
	if got != want {
		t.Errorf("catch-up:\n%s\nwant:\n%s", got, want)
	}
}

func TestPromiseToPay(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	inv := a.Invoices[0]
	due := inv.DueAt
	runUntil(a, due.Add(4*day)) // overdue_1 sent at D+3
	until := due.Add(12 * day)
	req := Promise{InvoiceID: inv.ID, Until: until, Actor: "alice", Note: "pays on the 12th"}
	if _, err := a.PromiseToPay(req, due.Add(5*day)); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckPromise(req, due.Add(5*day)); err == nil || !strings.Contains(err.Error(), "already has a promise") {
		t.Errorf("second promise: %v", err)
	}
	// Nothing happens while the promise holds; it breaks at D+12 and the
	// ladder resumes where it was, shifted by the 7-day pause.
	events := forInvoice(runUntil(a, due.Add(30*day)), inv.ID)
	got := timeline(events, due, "dunning.", "promise.", EventAccountSuspended)
	want := strings.Join([]string{
		"D+12 promise.broken",
		"D+14 dunning.overdue_2 [overdue_2]",
		"D+21 dunning.final_notice [final_notice]",
		"D+28 account.suspended [suspended] <suspend>",
	}, "\n")
	if got != want {
		t.Errorf("broken promise:\n%s\nwant:\n%s", got, want)
	}

	kept := activeAccount(t, "standard")
	runUntil(kept, kept.NextBillingAt)
	inv = kept.Invoices[0]
	if _, err := kept.PromiseToPay(Promise{InvoiceID: inv.ID, Until: inv.DueAt.Add(5 * day), Actor: "bob"}, inv.DueAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	pay(t, kept, "p1", 10000, inv.DueAt.Add(4*day))
	if events := runUntil(kept, inv.DueAt.Add(30*day)); strings.Contains(timeline(events, inv.DueAt), string(EventPromiseBroken)) {
		t.Error("a kept promise was reported broken")
	}
}

func TestPromiseRefusals(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	inv := a.Invoices[0]
	now := inv.IssuedAt.Add(day)
	for _, tc := range []struct {
		req  Promise
		want string
	}{
		{Promise{InvoiceID: "INV-nope", Until: now.Add(day), Actor: "a"}, `invoice "INV-nope" is not an open invoice of customer acme`},
		{Promise{InvoiceID: inv.ID, Until: now.Add(-day), Actor: "a"}, "is not in the future"},
		{Promise{InvoiceID: inv.ID, Until: now.Add(31 * day), Actor: "a"}, "further away than the policy allows"},
		{Promise{InvoiceID: inv.ID, Until: now.Add(day)}, "actor is required"},
		{Promise{InvoiceID: inv.ID, Actor: "a"}, "until is required"},
		{Promise{InvoiceID: "bad id!", Until: now.Add(day), Actor: "a"}, "invoice_id"},
	} {
		if _, err := a.PromiseToPay(tc.req, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PromiseToPay(%+v) = %v, want %q", tc.req, err, tc.want)
		}
	}
	if !inv.PausedAt.IsZero() || a.EventSeq != 0 && inv.Paused() {
		t.Error("a refused promise changed the invoice")
	}
}

func TestDispute(t *testing.T) {
	for _, tc := range []struct {
		outcome string
		amount  int64
		check   func(t *testing.T, a *Account, inv *Invoice, events []Event)
	}{
		{OutcomeUpheld, 0, func(t *testing.T, a *Account, inv *Invoice, events []Event) {
			// Disputed at D+5 (after overdue_1), upheld at D+25: 20 days shift.
			got := timeline(events, inv.DueAt, "dunning.", EventAccountSuspended)
			want := "D+27 dunning.overdue_2 [overdue_2]\nD+34 dunning.final_notice [final_notice]\nD+41 account.suspended [suspended] <suspend>"
			if got != want {
				t.Errorf("after upheld dispute:\n%s\nwant:\n%s", got, want)
			}
		}},
		{OutcomeVoided, 0, func(t *testing.T, a *Account, inv *Invoice, events []Event) {
			if inv.Status != InvoiceVoid || a.invoice(inv.ID) != nil || len(events) != 2 || events[1].Type != EventInvoiceVoid {
				t.Errorf("voided: %s, events:\n%s", inv.Status, timeline(events, inv.DueAt))
			}
		}},
		{OutcomeAdjusted, 6000, func(t *testing.T, a *Account, inv *Invoice, events []Event) {
			if inv.AmountMinor != 6000 || inv.Status != InvoiceOpen || inv.Stage != "suspended" || events[0].Detail["amount_to"] != "6000" {
				t.Errorf("adjusted: %+v %+v", inv, events[0])
			}
		}},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			a := activeAccount(t, "standard")
			runUntil(a, a.NextBillingAt)
			inv := a.Invoices[0]
			runUntil(a, inv.DueAt.Add(5*day))
			if a.Status != StatusPastDue {
				t.Fatalf("status = %s", a.Status)
			}
			if _, err := a.DisputeInvoice(Dispute{InvoiceID: inv.ID, Reason: "service outage", Actor: "carol"}, inv.DueAt.Add(5*day)); err != nil {
				t.Fatal(err)
			}
			if a.Status != StatusActive {
				t.Errorf("a disputed invoice keeps the account %s", a.Status)
			}
			if err := a.CheckPromise(Promise{InvoiceID: inv.ID, Until: inv.DueAt.Add(9 * day), Actor: "a"}, inv.DueAt.Add(5*day)); err == nil {
				t.Error("promise accepted on a disputed invoice")
			}
			if events := runUntil(a, inv.DueAt.Add(25*day)); len(events) != 0 && strings.Contains(timeline(events, inv.DueAt), inv.ID) {
				t.Errorf("disputed invoice dunned:\n%s", timeline(events, inv.DueAt))
			}
			events, err := a.ResolveDispute(Resolution{InvoiceID: inv.ID, Outcome: tc.outcome, AmountMinor: tc.amount, Actor: "carol"}, inv.DueAt.Add(25*day))
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, runUntil(a, inv.DueAt.Add(42*day))...)
			tc.check(t, a, inv, forInvoice(events, inv.ID))
		})
	}
}

func TestManualSuspendReinstateTerminate(t *testing.T) {
	a := activeAccount(t, "standard")
	now := t0.Add(2 * day)
	if err := a.CheckReinstate(StaffAction{Actor: "dave", Reason: "x"}); err == nil || !strings.Contains(err.Error(), "not suspended") {
		t.Errorf("reinstate active: %v", err)
	}
	events, err := a.Suspend(StaffAction{Actor: "dave", Reason: "chargeback investigation"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != StatusSuspended || a.Access != AccessNone || events[0].Provision != ProvisionSuspend ||
		events[0].Actor != "dave" || events[0].Reason != "chargeback investigation" {
		t.Errorf("suspend: %s %s %+v", a.Status, a.Access, events[0])
	}
	if _, err := a.Suspend(StaffAction{Actor: "dave", Reason: "again"}, now); err == nil || !strings.Contains(err.Error(), "already suspended by hand by dave") {
		t.Errorf("second suspend: %v", err)
	}
	if _, err := a.Suspend(StaffAction{Actor: "", Reason: "x"}, now); err == nil || !strings.Contains(err.Error(), "actor is required") {
		t.Errorf("suspend without actor: %v", err)
	}
	// A misuse suspension cannot be lifted by hand.
	a.Suspensions[ReasonMisuse] = Suspension{Reason: ReasonMisuse}
	if err := a.CheckReinstate(StaffAction{Actor: "dave", Reason: "x"}); err == nil || !strings.Contains(err.Error(), "ReviewDecision") {
		t.Errorf("reinstate misuse: %v", err)
	}
	delete(a.Suspensions, ReasonMisuse)
	events, err = a.Reinstate(StaffAction{Actor: "erin", Reason: "cleared"}, now.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != StatusActive || events[0].Type != EventAccountReinstated || events[0].Provision != ProvisionReinstate || events[0].Notice == nil {
		t.Errorf("reinstate: %s %+v", a.Status, events)
	}

	runUntil(a, a.NextBillingAt)
	events, err = a.Terminate(StaffAction{Actor: "frank", Reason: "fraud confirmed"}, a.NextBillingAt.Add(-day))
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if a.Status != StatusTerminated || last.WriteOff == nil || last.WriteOff.AmountMinor != 10000 || last.Actor != "frank" {
		t.Errorf("terminate: %s %+v", a.Status, last)
	}
	if _, err := a.Terminate(StaffAction{Actor: "frank", Reason: "again"}, a.NextBillingAt); err == nil {
		t.Error("terminated twice")
	}
	if err := a.CheckPayment(Payment{PaymentID: "late", AmountMinor: 1, Currency: "USD", Method: "card"}); err == nil {
		t.Error("payment accepted after termination")
	}
}

func TestWriteOffByStaffReinstates(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	inv := a.Invoices[0]
	runUntil(a, inv.DueAt.Add(22*day))
	if a.Status != StatusSuspended {
		t.Fatalf("status %s", a.Status)
	}
	events, err := a.WriteOff(InvoiceAction{InvoiceID: inv.ID, Actor: "gina", Reason: "goodwill"}, inv.DueAt.Add(22*day))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != InvoiceWrittenOff || events[0].WriteOff.Collections || events[0].WriteOff.AmountMinor != 10000 {
		t.Errorf("write-off: %+v", events[0])
	}
	if a.Status != StatusActive {
		t.Errorf("status after write-off = %s", a.Status)
	}
}

func TestPrepaymentReminderAndCancellation(t *testing.T) {
	a := New(testApp(), mustPolicy(t, "standard"), "medium", t0)
	events, err := a.Approve(true, SystemActor, "medium risk", t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != StatusAwaitingPrepayment || a.Access != AccessNone || events[0].Notice.Template != "prepayment_request" ||
		events[0].Notice.AmountMinor != 10000 || !events[0].Notice.DeadlineAt.Equal(t0.Add(7*day)) {
		t.Fatalf("approve: %s %+v", a.Status, events[0].Notice)
	}
	events = runUntil(a, t0.Add(30*day))
	got := timeline(events, t0, "prepayment.", "account.", "invoice.")
	want := "D+3 prepayment.reminded [prepayment_reminder]\nD+7 invoice.void\nD+7 account.cancelled [application_cancelled]"
	if got != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}
	if a.Status != StatusTerminated {
		t.Errorf("status = %s", a.Status)
	}
}

func TestApproveWithoutPrepaymentBillsAtOnce(t *testing.T) {
	a := New(testApp(), mustPolicy(t, "standard"), "low", t0)
	events, err := a.Approve(false, SystemActor, "low risk", t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != StatusActive || a.Access != AccessLimited || len(a.Invoices) != 1 || a.Invoices[0].Kind != KindSubscription {
		t.Fatalf("%s %s %+v", a.Status, a.Access, a.Invoices)
	}
	if got := timeline(events, t0); got != "D+0 account.activated <activate>\nD+0 invoice.issued [invoice_issued]" {
		t.Errorf("events:\n%s", got)
	}
	if _, err := a.Approve(false, SystemActor, "again", t0); err == nil {
		t.Error("approved twice")
	}
}

func TestPaymentValidation(t *testing.T) {
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	before := *a.Invoices[0]
	seq := a.EventSeq
	for _, tc := range []struct {
		p    Payment
		want string
	}{
		{Payment{PaymentID: "p", AmountMinor: 0, Currency: "USD", Method: "card"}, "amount_minor must be a positive amount"},
		{Payment{PaymentID: "p", AmountMinor: -5, Currency: "USD", Method: "card"}, "amount_minor must be a positive amount"},
		{Payment{PaymentID: "p", AmountMinor: 5, Currency: "EUR", Method: "card"}, "currency EUR does not match the account currency USD"},
		{Payment{PaymentID: "p", AmountMinor: 5, Currency: "usd", Method: "card"}, "not an ISO 4217 code"},
		{Payment{PaymentID: "", AmountMinor: 5, Currency: "USD", Method: "card"}, "payment_id"},
		{Payment{PaymentID: "p x", AmountMinor: 5, Currency: "USD", Method: "card"}, "payment_id"},
		{Payment{PaymentID: "p", AmountMinor: 5, Currency: "USD", Method: "bitcoin"}, "method \"bitcoin\""},
		{Payment{PaymentID: "prepay", AmountMinor: 5, Currency: "USD", Method: "card"}, `payment_id "prepay" was already recorded for 10000 USD`},
	} {
		_, events, err := a.RecordPayment(tc.p, t0)
		if err == nil || !strings.Contains(err.Error(), tc.want) || events != nil {
			t.Errorf("RecordPayment(%+v) = %v, want %q", tc.p, err, tc.want)
		}
	}
	if !reflect.DeepEqual(*a.Invoices[0], before) || a.EventSeq != seq || a.CreditMinor != 0 {
		t.Error("a refused payment changed the account")
	}
	// The same payment again is a no-op.
	res, events, err := a.RecordPayment(Payment{PaymentID: "prepay", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer"}, t0)
	if err != nil || !res.Duplicate || events != nil || a.CreditMinor != 0 {
		t.Errorf("duplicate: %+v %v %v", res, events, err)
	}

	screening := New(testApp(), mustPolicy(t, "standard"), "", t0)
	if err := screening.CheckPayment(Payment{PaymentID: "p", AmountMinor: 5, Currency: "USD", Method: "card"}); err == nil {
		t.Error("payment accepted in screening")
	}
}

func TestEventKeysAreUniqueAndStable(t *testing.T) {
	a := activeAccount(t, "standard")
	events := runUntil(a, t0.AddDate(0, 4, 0))
	seen := map[string]bool{}
	for _, ev := range events {
		if seen[ev.Key] {
			t.Fatalf("duplicate event key %s", ev.Key)
		}
		seen[ev.Key] = true
		if ev.Notice != nil {
			if seen["notice "+ev.Notice.Key] {
				t.Fatalf("duplicate notice key %s", ev.Notice.Key)
			}
			seen["notice "+ev.Notice.Key] = true
		}
	}
}

func TestApplicationValidation(t *testing.T) {
	good := testApp()
	if err := good.Validate(); err != nil {
		t.Fatalf("valid application refused: %v", err)
	}
	for _, tc := range []struct {
		edit func(*Application)
		want string
	}{
		{func(a *Application) { a.CustomerID = "" }, "customer_id"},
		{func(a *Application) { a.CustomerID = "a b" }, "customer_id"},
		{func(a *Application) { a.Email = "nope" }, "email"},
		{func(a *Application) { a.Email = "Bob <bob@x.test>" }, "email"},
		{func(a *Application) { a.Phone = "5550100" }, "phone"},
		{func(a *Application) { a.Country = "XX" }, "country \"XX\""},
		{func(a *Application) { a.Currency = "ABC" }, "currency"},
		{func(a *Application) { a.Locale = "fr" }, "locale"},
		{func(a *Application) { a.Plan.MonthlyFeeMinor = 0 }, "plan.monthly_fee_minor"},
		{func(a *Application) { a.PaymentInstrument = PaymentInstrument{Type: "cash"} }, "payment_instrument.type"},
		{func(a *Application) { a.PaymentInstrument.CardBIN = "12" }, "card_bin"},
		{func(a *Application) {
			a.PaymentInstrument = PaymentInstrument{Type: "bank_transfer", CardBIN: "424242"}
		}, "only for cards"},
		{func(a *Application) { a.SignupIP = "localhost" }, "signup_ip"},
		{func(a *Application) { a.Name = "" }, "name is required"},
	} {
		app := testApp()
		tc.edit(&app)
		if err := app.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
	app := Application{CustomerID: " x ", Country: "kr", Currency: "krw", Locale: "ko-KR"}
	app.Normalize()
	if app.CustomerID != "x" || app.Country != "KR" || app.Currency != "KRW" || app.Locale != "ko" || app.Policy != "standard" {
		t.Errorf("Normalize = %+v", app)
	}
}
