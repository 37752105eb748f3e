package account

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/example/dunning/policy"
)

// New starts an account in screening. Nothing is owed and nothing is
// provisioned until it is approved.
func New(app Application, pol policy.Policy, riskTier string, now time.Time) *Account {
	return &Account{
		Customer:  app,
		Policy:    &pol,
		RiskTier:  riskTier,
		Status:    StatusScreening,
		Access:    AccessNone,
		StartedAt: now,
		Payments:  map[string]PaymentRef{},
	}
}

// newEvent numbers a new event. Every change goes through here.
func (a *Account) newEvent(now time.Time, typ EventType, actor, reason string) Event {
	a.EventSeq++
	return Event{
		Key:    a.Customer.CustomerID + "/" + strconv.Itoa(a.EventSeq),
		At:     now,
		Type:   typ,
		Actor:  actor,
		Reason: reason,
	}
}

func (a *Account) invoice(id string) *Invoice {
	for _, inv := range a.Invoices {
		if inv.ID == id {
			return inv
		}
	}
	return nil
}

// periodFee is the plan fee for one billing interval. Fixed-duration
// intervals (the demo policy) count as one month.
func (a *Account) periodFee() int64 {
	months := max(a.Policy.Billing.Interval.Months, 1)
	return a.Customer.Plan.MonthlyFeeMinor * int64(months)
}

func (a *Account) nextInvoiceID() string {
	a.InvoiceSeq++
	return fmt.Sprintf("INV-%s-%04d", a.Customer.CustomerID, a.InvoiceSeq)
}

// Approve ends screening. With prepayment the customer is asked for a reserve
// and nothing is provisioned until it arrives; without, service starts now.
func (a *Account) Approve(prepay bool, actor, reason string, now time.Time) ([]Event, error) {
	if a.Status != StatusScreening && a.Status != StatusManualReview {
		return nil, fmt.Errorf("account is %s; only an account in screening or manual review can be approved", a.Status)
	}
	if !prepay {
		return a.finish(a.activate(now, actor, reason, 0), now, actor, reason), nil
	}
	pol := a.Policy
	end := now
	for range pol.Prepayment.Periods {
		end = pol.Billing.Interval.After(end)
	}
	inv := &Invoice{
		ID:          a.nextInvoiceID(),
		Kind:        KindPrepayment,
		Status:      InvoiceOpen,
		IssuedAt:    now,
		DueAt:       now.Add(pol.Prepayment.Deadline),
		AmountMinor: a.periodFee() * int64(pol.Prepayment.Periods),
		Currency:    a.Customer.Currency,
		Stage:       "prepayment",
		PeriodStart: now,
		PeriodEnd:   end,
	}
	if a.Subscribed {
		// The reserve is each subscription's first intervals covering
		// the prepaid periods.
		inv.Lines = a.prepaymentLines(now)
		inv.AmountMinor = linesTotal(inv.Lines)
		if inv.AmountMinor == 0 {
			return a.finish(a.activate(now, actor, reason, 0), now, actor, reason), nil
		}
	}
	a.Invoices = append(a.Invoices, inv)
	from := a.Status
	a.Status = StatusAwaitingPrepayment
	ev := a.newEvent(now, EventPrepaymentRequested, actor, reason)
	ev.Invoice = inv
	ev.Detail = map[string]string{"status_from": string(from), "status_to": string(a.Status)}
	ev.Notice = a.notice(inv, "prepayment_request", "prepayment_request", inv.DueAt, now)
	return a.finish([]Event{ev}, now, actor, reason), nil
}

// activate starts service with limited access. Prepaid periods are covered;
// billing starts after them, or at once when nothing was prepaid.
func (a *Account) activate(now time.Time, actor, reason string, prepaidPeriods int) []Event {
	from := a.Status
	a.Status = StatusActive
	a.ActivatedAt = now
	a.Usage.PeriodStart = now
	a.Access = a.derivedAccess()
	ev := a.newEvent(now, EventAccountActivated, actor, reason)
	ev.Provision = ProvisionActivate
	ev.Detail = map[string]string{"status_from": string(from), "status_to": string(a.Status), "access": string(a.Access)}
	events := []Event{ev}

	a.NextBillingAt = now
	for range prepaidPeriods {
		a.NextBillingAt = a.Policy.Billing.Interval.After(a.NextBillingAt)
	}
	if a.Subscribed {
		a.startSubscriptions(now, prepaidPeriods)
		events[0].Subscriptions = a.upSubscriptions()
	}
	if prepaidPeriods == 0 {
		events = append(events, a.issueInvoice(now)...)
	}
	return events
}

// issueInvoice bills the period starting at NextBillingAt.
func (a *Account) issueInvoice(now time.Time) []Event {
	if a.Subscribed {
		return a.issueSubscribedInvoice(now)
	}
	pol := a.Policy
	start := a.NextBillingAt
	end := pol.Billing.Interval.After(start)
	a.NextBillingAt = end
	// Usage of the period that ends now is billed in arrears on this
	// invoice, beside the fee for the period that starts.
	usage, lifted := a.newPeriod(start, now)
	if len(a.Suspensions) > 0 {
		// No service is delivered while suspended, so no fee is billed.
		ev := a.newEvent(now, EventInvoiceSkipped, SystemActor, "suspended")
		ev.Detail = map[string]string{"period_start": start.Format(time.RFC3339), "period_end": end.Format(time.RFC3339),
			"usage_carried_minor": strconv.FormatInt(usage, 10)}
		a.Usage.PeriodMinor += usage // billed with the next invoice
		return append(lifted, ev)
	}
	inv := &Invoice{
		ID:          a.nextInvoiceID(),
		Kind:        KindSubscription,
		Status:      InvoiceOpen,
		PeriodStart: start,
		PeriodEnd:   end,
		IssuedAt:    now,
		DueAt:       now.Add(pol.Billing.Terms),
		AmountMinor: a.periodFee() + usage,
		UsageMinor:  usage,
		Currency:    a.Customer.Currency,
		Stage:       StageIssued,
	}
	return append(lifted, a.billInvoice(inv, start, usage, now)...)
}

// billInvoice opens an invoice: its ladder, the event and the invoice mail.
func (a *Account) billInvoice(inv *Invoice, start time.Time, usage int64, now time.Time) []Event {
	pol := a.Policy
	// Steps that would fall before the invoice exists are not taken.
	for inv.NextStep < len(pol.Ladder) && !a.stepAt(inv, inv.NextStep).After(now) {
		inv.NextStep++
	}
	a.Invoices = append(a.Invoices, inv)
	ev := a.newEvent(now, EventInvoiceIssued, SystemActor, "billing period "+start.Format("2006-01-02"))
	ev.Invoice = inv
	ev.Detail = map[string]string{"amount_minor": strconv.FormatInt(inv.AmountMinor, 10), "usage_minor": strconv.FormatInt(usage, 10),
		"due_at": inv.DueAt.Format(time.RFC3339)}
	settled := a.settle(now, nil)
	// The invoice mail shows what is left after any credit was applied.
	ev.Notice = a.notice(inv, "invoice_issued", "invoice_issued", inv.DueAt, now)
	return append([]Event{ev}, settled...)
}

// stepAt is when the invoice's ladder step i is due, pauses included.
func (a *Account) stepAt(inv *Invoice, i int) time.Time {
	return inv.DueAt.Add(a.Policy.Ladder[i].Offset + inv.Shift)
}

// notice builds the snapshot an email is rendered from.
func (a *Account) notice(inv *Invoice, template, stage string, deadline, now time.Time) *Notice {
	n := &Notice{
		Template:     template,
		Stage:        stage,
		Currency:     a.Customer.Currency,
		DeadlineAt:   deadline,
		BalanceMinor: a.Balance(),
		AmountMinor:  a.Balance(),
		Reference:    a.Customer.CustomerID,
	}
	if inv != nil {
		n.InvoiceID = inv.ID
		n.AmountMinor = inv.Outstanding()
		n.DueAt = inv.DueAt
		n.Reference = inv.ID
		if now.After(inv.DueAt) {
			n.DaysOverdue = a.Policy.Days(now.Sub(inv.DueAt))
		}
		n.Key = a.Customer.CustomerID + ":" + inv.ID + ":" + stage
	} else {
		n.Key = a.Customer.CustomerID + ":" + stage + ":" + strconv.Itoa(a.EventSeq)
	}
	return n
}

// Balance is what the customer owes now, less credit (negative when in credit).
func (a *Account) Balance() int64 {
	var sum int64
	for _, inv := range a.Invoices {
		sum += inv.Outstanding()
	}
	return sum - a.CreditMinor
}

// overdue is the unpaid amount of invoices past their due date. Disputed
// invoices are left out: they are not owed until the dispute is resolved.
func (a *Account) overdue(now time.Time) int64 {
	var sum int64
	for _, inv := range a.Invoices {
		if inv.Kind == KindSubscription && !inv.Disputed && !now.Before(inv.DueAt) {
			sum += inv.Outstanding()
		}
	}
	return sum
}

// daysPastDue is the age in policy days of the oldest overdue invoice.
func (a *Account) daysPastDue(now time.Time) int {
	days := 0
	for _, inv := range a.Invoices {
		if inv.Kind == KindSubscription && !inv.Disputed && now.After(inv.DueAt) {
			days = max(days, a.Policy.Days(now.Sub(inv.DueAt)))
		}
	}
	return days
}

// settle applies account credit to open invoices, oldest due first, skipping
// disputed ones. Paid invoices are closed and leave the account.
func (a *Account) settle(now time.Time, pay *RecordedPayment) []Event {
	var events []Event
	open := slices.Clone(a.Invoices)
	slices.SortStableFunc(open, func(x, y *Invoice) int { return x.DueAt.Compare(y.DueAt) })
	if pay != nil && pay.ForInvoice != "" {
		// A payment made for one invoice (its card charge, its pay-now
		// page) pays that invoice first: paid to an older one, it would
		// leave its own open, and charged again.
		if i := slices.IndexFunc(open, func(inv *Invoice) bool { return inv.ID == pay.ForInvoice }); i > 0 {
			open = append(append([]*Invoice{open[i]}, open[:i]...), open[i+1:]...)
		}
	}
	for _, inv := range open {
		if a.CreditMinor == 0 {
			break
		}
		if inv.Disputed || inv.Outstanding() == 0 {
			continue
		}
		amt := min(a.CreditMinor, inv.Outstanding())
		a.CreditMinor -= amt
		inv.PaidMinor += amt
		if pay != nil {
			pay.Allocations = append(pay.Allocations, Allocation{InvoiceID: inv.ID, AmountMinor: amt})
		}
		if inv.Outstanding() == 0 {
			events = append(events, a.closeInvoice(inv, InvoicePaid, now, SystemActor, "paid in full")...)
		}
	}
	if pay != nil {
		pay.CreditMinor = a.CreditMinor
	}
	return events
}

// closeInvoice takes an invoice off the account and stops its ladder.
func (a *Account) closeInvoice(inv *Invoice, status InvoiceStatus, now time.Time, actor, reason string) []Event {
	inv.Status = status
	inv.ClosedAt = now
	inv.PausedAt, inv.PromiseUntil = time.Time{}, time.Time{}
	a.Invoices = slices.DeleteFunc(a.Invoices, func(x *Invoice) bool { return x == inv })
	ev := a.newEvent(now, InvoiceEvent(status), actor, reason)
	ev.Invoice = inv
	ev.Detail = map[string]string{"stage": inv.Stage, "amount_minor": strconv.FormatInt(inv.AmountMinor, 10)}
	if status == InvoicePaid {
		a.markPaid(inv)
	}
	if status == InvoicePaid && inv.Kind == KindSubscription && !now.After(inv.DueAt) {
		a.OnTimeInvoices++
		ev.Detail["on_time"] = "true"
	}
	events := []Event{ev}
	if status == InvoicePaid && inv.Kind == KindPrepayment && a.Status == StatusAwaitingPrepayment {
		events = append(events, a.activate(now, actor, "prepayment received", a.Policy.Prepayment.Periods)...)
	}
	return events
}

// derivedStatus is the status that the facts call for, for accounts past
// onboarding.
func (a *Account) derivedStatus(now time.Time) Status {
	switch a.Status {
	case StatusScreening, StatusManualReview, StatusAwaitingPrepayment, StatusTerminated:
		return a.Status
	}
	if len(a.Suspensions) > 0 || a.allSubscriptionsSuspended() {
		return StatusSuspended
	}
	if a.overdue(now) > 0 {
		return StatusPastDue
	}
	return StatusActive
}

// Trusted reports whether the risk controls for full access are met.
func (a *Account) Trusted() bool {
	t := a.Policy.Trust
	return a.OnTimeInvoices >= t.OnTimeInvoices && (!t.RequirePhoneVerified || a.PhoneVerified)
}

// fullAccessAllowed adds what must hold besides trust: no open review.
func (a *Account) fullAccessAllowed() bool { return a.Trusted() && len(a.Reviews) == 0 }

func (a *Account) derivedAccess() Access {
	switch a.Status {
	case StatusActive, StatusPastDue:
		if a.fullAccessAllowed() {
			return AccessFull
		}
		return AccessLimited
	}
	return AccessNone
}

// refresh brings Status and Access in line with the facts and records the
// change, if any, with the actor and reason that caused it.
func (a *Account) refresh(now time.Time, actor, reason string) []Event {
	status := a.derivedStatus(now)
	fromStatus, fromAccess := a.Status, a.Access
	a.Status = status
	a.Access = a.derivedAccess()
	if a.Status == fromStatus && a.Access == fromAccess {
		return nil
	}
	ev := a.newEvent(now, EventAccountStatusChanged, actor, reason)
	ev.Detail = map[string]string{
		"status_from": string(fromStatus), "status_to": string(a.Status),
		"access_from": string(fromAccess), "access_to": string(a.Access),
	}
	switch {
	case a.Access == AccessFull && fromAccess == AccessLimited:
		ev.Provision = ProvisionFullAccess
	case a.Access == AccessLimited && fromAccess == AccessFull && a.Durable:
		ev.Provision = ProvisionLimitAccess
	}
	return []Event{ev}
}

// finish ends every public operation: it refreshes the status and replaces
// the live invoices that events point at with copies of their final state, so
// that the events can be recorded later without seeing newer changes.
func (a *Account) finish(events []Event, now time.Time, actor, reason string) []Event {
	events = append(events, a.refresh(now, actor, reason)...)
	for i := range events {
		if inv := events[i].Invoice; inv != nil {
			c := *inv
			events[i].Invoice = &c
			events[i].InvoiceID = c.ID
		}
	}
	return events
}

// Open records the new account, before any decision about it.
func (a *Account) Open(now time.Time) []Event {
	ev := a.newEvent(now, EventAccountOpened, SystemActor, "application received")
	ev.Detail = map[string]string{
		"policy": a.Policy.ID(), "country": a.Customer.Country, "currency": a.Customer.Currency,
		"instrument": string(a.Customer.PaymentInstrument.Type), "signup_ip": a.Customer.SignupIP,
	}
	return []Event{ev}
}

// EmailFailed records that a notice could not be delivered, so that staff
// see it in the audit log and in an alert instead of it failing silently.
// An alert that itself fails is only recorded.
func (a *Account) EmailFailed(n Notice, kind EmailFailure, problem string, now time.Time) []Event {
	ev := a.newEvent(now, EventEmailFailed, SystemActor, problem)
	ev.InvoiceID = n.InvoiceID
	ev.Detail = map[string]string{"dunning_key": n.Key, "stage": n.Stage, "kind": string(kind)}
	events := []Event{ev}
	if !n.Staff {
		alertKind := "email_refused"
		if kind == EmailUnconfirmed {
			alertKind = "email_unconfirmed"
		}
		events = append(events, a.staffAlert(alertKind, fmt.Sprintf("%s notice to %s not delivered: %s", n.Stage, a.Customer.CustomerID, problem),
			map[string]string{"dunning_key": n.Key, "error_kind": string(kind)}, now))
	}
	return events
}
