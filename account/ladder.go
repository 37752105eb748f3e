package account

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/example/dunning/policy"
)

// itemKind orders what falls due at the same instant.
type itemKind int

const (
	itemPastDue itemKind = iota // an invoice's due date passes
	itemCharge                  // the card on file is charged (before the step due at the same time)
	itemPromiseEnds
	itemStep
	itemPrepaymentReminder
	itemPrepaymentDeadline
	itemReviewReminder
	itemReviewDeadline
	itemBilling
	itemExemptionEnds
)

// item is one thing on the account's agenda.
type item struct {
	at     time.Time
	kind   itemKind
	inv    *Invoice
	step   int
	review *Review
	exempt Exemption
}

// agenda lists everything the account waits for, in no particular order.
func (a *Account) agenda() []item {
	var items []item
	if a.Status == StatusTerminated {
		return nil
	}
	for _, inv := range a.Invoices {
		if at, ok := a.chargeAt(inv); ok {
			items = append(items, item{at: at, kind: itemCharge, inv: inv})
		}
		switch inv.Kind {
		case KindPrepayment:
			if !inv.ReminderSent {
				items = append(items, item{at: inv.IssuedAt.Add(a.Policy.Prepayment.ReminderAfter), kind: itemPrepaymentReminder, inv: inv})
			}
			if inv.Charge == nil || inv.Charge.InFlight == 0 {
				// A charge's answer is awaited: the application is not
				// cancelled under a payment that may have been made.
				items = append(items, item{at: inv.DueAt, kind: itemPrepaymentDeadline, inv: inv})
			}
		case KindSubscription:
			if !inv.PastDue {
				items = append(items, item{at: inv.DueAt, kind: itemPastDue, inv: inv})
			}
			switch {
			case !inv.PromiseUntil.IsZero():
				items = append(items, item{at: inv.PromiseUntil, kind: itemPromiseEnds, inv: inv})
			case inv.Paused():
			case inv.Charge != nil && inv.Charge.InFlight > 0:
				// A charge's answer is awaited: no reminder about money
				// that may just have been paid.
			case inv.NextStep < len(a.Policy.Ladder) && a.enforcementHeld(a.Policy.Ladder[inv.NextStep]):
				// Exempt from enforcement: the ladder waits at its
				// suspension step until the exemption ends.
			case inv.NextStep < len(a.Policy.Ladder):
				items = append(items, item{at: a.stepAt(inv, inv.NextStep), kind: itemStep, inv: inv, step: inv.NextStep})
			}
		}
	}
	for _, r := range a.Reviews {
		if at, ok := a.reviewReminderAt(r); ok && at.Before(r.Deadline) {
			items = append(items, item{at: at, kind: itemReviewReminder, review: r})
		}
		if !r.Lapsed {
			items = append(items, item{at: r.Deadline, kind: itemReviewDeadline, review: r})
		}
	}
	switch a.Status {
	case StatusActive, StatusPastDue, StatusSuspended:
		items = append(items, item{at: a.NextBillingAt, kind: itemBilling})
	}
	for _, kind := range slices.Sorted(maps.Keys(a.Exemptions)) {
		if e := a.Exemptions[kind]; !e.Until.IsZero() {
			items = append(items, item{at: e.Until, kind: itemExemptionEnds, exempt: kind})
		}
	}
	return items
}

// nextItem is the earliest agenda item; ties go by kind, then invoice age.
func (a *Account) nextItem() (item, bool) {
	var best item
	found := false
	for _, it := range a.agenda() {
		if !found || it.at.Before(best.at) || (it.at.Equal(best.at) && it.kind < best.kind) {
			best, found = it, true
		}
	}
	return best, found
}

// NextWake is when the account next needs the workflow's attention, and a
// short description for the timer's summary in the Temporal UI.
func (a *Account) NextWake() (time.Time, string, bool) {
	it, ok := a.nextItem()
	if !ok {
		return time.Time{}, "", false
	}
	return it.at, a.describe(it), true
}

func (a *Account) describe(it item) string {
	switch it.kind {
	case itemPastDue:
		return "due date of " + it.inv.ID
	case itemCharge:
		return "card charge for " + it.inv.ID
	case itemPromiseEnds:
		return "promise to pay ends for " + it.inv.ID
	case itemStep:
		s := a.Policy.Ladder[it.step]
		switch s.Action {
		case policy.ActionSuspend:
			return "suspension for " + it.inv.ID
		case policy.ActionTerminate:
			return "termination for " + it.inv.ID
		}
		return s.Stage + " reminder for " + it.inv.ID
	case itemPrepaymentReminder:
		return "prepayment reminder for " + it.inv.ID
	case itemPrepaymentDeadline:
		return "prepayment deadline for " + it.inv.ID
	case itemReviewReminder:
		return "staff reminder for " + it.review.ID
	case itemReviewDeadline:
		return "deadline of " + it.review.ID
	case itemBilling:
		return "next invoice"
	case itemExemptionEnds:
		return "end of exemption " + string(it.exempt)
	}
	return "unknown"
}

// Advance takes every agenda item due at or before now, oldest first. A
// worker that was down catches up in order; of several reminders due at once
// for the same invoice only the latest is sent.
func (a *Account) Advance(now time.Time) []Event {
	var events []Event
	for guard := 0; guard < 10_000; guard++ {
		it, ok := a.nextItem()
		if !ok || it.at.After(now) {
			break
		}
		events = append(events, a.take(it, now)...)
		events = append(events, a.refresh(now, SystemActor, "policy "+a.Policy.ID())...)
	}
	return a.finish(events, now, SystemActor, "policy "+a.Policy.ID())
}

func (a *Account) take(it item, now time.Time) []Event {
	inv := it.inv
	switch it.kind {
	case itemPastDue:
		inv.PastDue = true
		return nil
	case itemCharge:
		return a.charge(inv, now)
	case itemPromiseEnds:
		return a.breakPromise(inv, now)
	case itemStep:
		return a.takeStep(inv, it.step, now)
	case itemPrepaymentReminder:
		inv.ReminderSent = true
		ev := a.newEvent(now, EventPrepaymentReminded, SystemActor, "prepayment not received")
		ev.Invoice = inv
		ev.Notice = a.notice(inv, "prepayment_reminder", "prepayment_reminder", inv.DueAt, now)
		return []Event{ev}
	case itemPrepaymentDeadline:
		return a.cancelApplication(inv, now)
	case itemReviewReminder:
		return a.remindReview(it.review, now)
	case itemReviewDeadline:
		return a.lapseReview(it.review, now)
	case itemBilling:
		return a.issueInvoice(now)
	case itemExemptionEnds:
		return a.exemptionExpired(it.exempt, now)
	}
	return nil
}

// takeStep runs ladder step i of the invoice.
func (a *Account) takeStep(inv *Invoice, i int, now time.Time) []Event {
	pol := a.Policy
	step := pol.Ladder[i]
	inv.NextStep = i + 1
	if step.Action == policy.ActionNotice && inv.NextStep < len(pol.Ladder) && !a.stepAt(inv, inv.NextStep).After(now) {
		// A later step is already due: its message supersedes this one.
		ev := a.newEvent(now, EventDunningSkipped, SystemActor, "superseded by "+pol.Ladder[inv.NextStep].Stage)
		ev.Invoice = inv
		ev.Detail = map[string]string{"stage": step.Stage}
		return []Event{ev}
	}
	inv.Stage = step.Stage
	reason := fmt.Sprintf("%s, %d days past due", pol.ID(), a.Policy.Days(now.Sub(inv.DueAt)))
	switch step.Action {
	case policy.ActionSuspend:
		if events, ok := a.suspendUnpaid(inv, reason, now); ok {
			if len(events) == 0 { // its subscriptions are suspended already
				ev := a.newEvent(now, DunningEvent(step.Stage), SystemActor, reason+", already suspended")
				ev.Invoice = inv
				return []Event{ev}
			}
			events[0].Invoice = inv
			events[0].Detail["stage"] = step.Stage
			events[0].Notice = a.notice(inv, step.Template, step.Stage, a.deadlineAfter(inv, i), now)
			events[0].Notice.Detail = map[string]string{"subscriptions": events[0].Detail["subscriptions"]}
			return events
		}
		events := a.suspend(ReasonNonPayment, SystemActor, reason, "", now)
		if len(events) == 0 { // already suspended for another overdue invoice
			ev := a.newEvent(now, DunningEvent(step.Stage), SystemActor, reason+", already suspended")
			ev.Invoice = inv
			return []Event{ev}
		}
		events[0].Invoice = inv
		events[0].Detail["stage"] = step.Stage
		events[0].Notice = a.notice(inv, step.Template, step.Stage, a.deadlineAfter(inv, i), now)
		return events
	case policy.ActionTerminate:
		return a.terminate(SystemActor, reason, step.Template, inv, now)
	}
	ev := a.newEvent(now, DunningEvent(step.Stage), SystemActor, reason)
	ev.Invoice = inv
	ev.Detail = map[string]string{"stage": step.Stage, "days_past_due": strconv.Itoa(max(0, a.Policy.Days(now.Sub(inv.DueAt))))}
	if a.Exempt(ExemptNoDunning) {
		ev.Detail["muted"] = string(ExemptNoDunning) // the step is recorded, no reminder sent
		return []Event{ev}
	}
	ev.Notice = a.notice(inv, step.Template, step.Stage, a.deadlineAfter(inv, i), now)
	return []Event{ev}
}

// deadlineAfter is the date a notice at step i warns of: the next
// suspension, or else the termination.
func (a *Account) deadlineAfter(inv *Invoice, i int) time.Time {
	for j := i + 1; j < len(a.Policy.Ladder); j++ {
		if act := a.Policy.Ladder[j].Action; act == policy.ActionSuspend || act == policy.ActionTerminate {
			return a.stepAt(inv, j)
		}
	}
	return time.Time{}
}

// breakPromise resumes the ladder where it was when the promise was made;
// every later step moves by the length of the pause.
func (a *Account) breakPromise(inv *Invoice, now time.Time) []Event {
	inv.Shift += inv.PromiseUntil.Sub(inv.PausedAt)
	until := inv.PromiseUntil
	inv.PausedAt, inv.PromiseUntil = time.Time{}, time.Time{}
	ev := a.newEvent(now, EventPromiseBroken, SystemActor, "not paid by "+until.Format(time.RFC3339))
	ev.Invoice = inv
	ev.Detail = map[string]string{"outstanding_minor": strconv.FormatInt(inv.Outstanding(), 10)}
	return []Event{ev}
}

// cancelApplication ends an application whose prepayment never came.
func (a *Account) cancelApplication(inv *Invoice, now time.Time) []Event {
	events := a.closeInvoice(inv, InvoiceVoid, now, SystemActor, "prepayment not received")
	a.Status = StatusTerminated
	a.TerminatedAt = now
	ev := a.newEvent(now, EventAccountCancelled, SystemActor, "prepayment not received by "+inv.DueAt.Format(time.RFC3339))
	ev.Detail = map[string]string{"status_from": string(StatusAwaitingPrepayment), "status_to": string(StatusTerminated)}
	ev.Notice = a.notice(nil, "application_cancelled", "application_cancelled", time.Time{}, now)
	return append(events, ev)
}
