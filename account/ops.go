package account

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/money"
)

// operational reports whether the account has service (or had it and is
// suspended), as opposed to onboarding or terminated.
func (a *Account) operational() bool {
	switch a.Status {
	case StatusActive, StatusPastDue, StatusSuspended:
		return true
	}
	return false
}

func (a *Account) requireOperational(what string) error {
	if !a.operational() {
		return fmt.Errorf("cannot %s: account is %s", what, a.Status)
	}
	return nil
}

// suspend adds a suspension reason. The first reason suspends the
// subscriptions; later ones are only recorded.
func (a *Account) suspend(reason, actor, why, note string, now time.Time) []Event {
	if _, ok := a.Suspensions[reason]; ok {
		return nil
	}
	if a.Suspensions == nil {
		a.Suspensions = map[string]Suspension{}
	}
	first := len(a.Suspensions) == 0
	up := a.upSubscriptions()
	a.Suspensions[reason] = Suspension{Reason: reason, Since: now, Actor: actor, Note: note}
	ev := a.newEvent(now, EventAccountSuspended, actor, why)
	ev.Detail = map[string]string{"suspension_reason": reason, "reasons": a.suspensionReasons()}
	if first {
		ev.Provision = ProvisionSuspend
	}
	if a.Subscribed {
		a.syncSubscriptions()
		ev.Subscriptions = up
		ev.Detail["subscriptions"] = a.describeSubscriptions(up)
	}
	return []Event{ev}
}

func (a *Account) suspensionReasons() string {
	return strings.Join(slices.Sorted(maps.Keys(a.Suspensions)), ",")
}

// lift removes suspension reasons; when none is left the subscriptions are
// reinstated and the customer told.
func (a *Account) lift(reasons []string, actor, why string, now time.Time) []Event {
	removed := false
	for _, r := range reasons {
		if _, ok := a.Suspensions[r]; ok {
			delete(a.Suspensions, r)
			removed = true
		}
	}
	if !removed {
		return nil
	}
	if len(a.Suspensions) > 0 {
		ev := a.newEvent(now, EventSuspensionLifted, actor, why)
		ev.Detail = map[string]string{"lifted": strings.Join(reasons, ","), "still_suspended_for": a.suspensionReasons()}
		return []Event{ev}
	}
	a.Suspensions = nil
	ev := a.newEvent(now, EventAccountReinstated, actor, why)
	ev.Provision = ProvisionReinstate
	ev.Detail = map[string]string{"lifted": strings.Join(reasons, ",")}
	ev.Notice = a.notice(nil, "reinstated", "reinstated", time.Time{}, now)
	if a.Subscribed {
		// Subscriptions suspended on their own stay suspended: the
		// reinstatement names what comes back.
		a.syncSubscriptions()
		ev.Subscriptions = a.upSubscriptions()
		ev.Detail["subscriptions"] = a.describeSubscriptions(ev.Subscriptions)
		if a.subscriptionSuspended() {
			// Only part comes back: the email names it.
			ev.Notice.Detail = map[string]string{"subscriptions": ev.Detail["subscriptions"]}
		}
	}
	return []Event{ev}
}

// reinstateIfSettled lifts a non-payment suspension once nothing is overdue.
func (a *Account) reinstateIfSettled(actor string, now time.Time) []Event {
	subs := a.reinstatePaidSubscriptions(actor, now)
	if _, ok := a.Suspensions[ReasonNonPayment]; !ok || a.overdue(now) > 0 {
		return subs
	}
	return append(subs, a.lift([]string{ReasonNonPayment}, actor, "overdue balance settled", now)...)
}

// terminate ends the account: unpaid invoices are written off and handed to
// collections, subscriptions are terminated and the customer told.
func (a *Account) terminate(actor, reason, template string, cause *Invoice, now time.Time) []Event {
	var events []Event
	wo := &WriteOff{Currency: a.Customer.Currency, Collections: true}
	for _, inv := range slices.Clone(a.Invoices) {
		if inv.Outstanding() > 0 && inv.Kind == KindSubscription {
			wo.InvoiceIDs = append(wo.InvoiceIDs, inv.ID)
			wo.AmountMinor += inv.Outstanding()
			events = append(events, a.closeInvoice(inv, InvoiceWrittenOff, now, actor, "terminated: "+reason)...)
		} else {
			events = append(events, a.closeInvoice(inv, InvoiceVoid, now, actor, "terminated: "+reason)...)
		}
	}
	// Reviews still open have nothing left to decide.
	for _, r := range a.Reviews {
		r.Decision, r.DecidedBy, r.DecidedAt = "closed_by_termination", actor, now
		closed := a.newEvent(now, EventReviewClosed, actor, "account terminated")
		closed.Review = r
		closed.Detail = map[string]string{"review_id": r.ID}
		events = append(events, closed)
	}
	a.Reviews = nil
	from := a.Status
	a.Status = StatusTerminated
	a.Access = AccessNone
	a.TerminatedAt = now
	a.Suspensions = nil
	ev := a.newEvent(now, EventAccountTerminated, actor, reason)
	ev.Provision = ProvisionTerminate
	ev.Detail = map[string]string{"status_from": string(from), "status_to": string(StatusTerminated)}
	if a.Subscribed {
		for _, s := range a.Subscriptions {
			if s.live() {
				ev.Subscriptions = append(ev.Subscriptions, s.ID)
				s.Status, s.CancelledAt, s.SuspendedFor = SubscriptionCancelled, now, nil
			}
		}
		ev.Detail["subscriptions"] = a.describeSubscriptions(ev.Subscriptions)
	}
	if len(wo.InvoiceIDs) > 0 {
		ev.WriteOff = wo
		ev.Detail["written_off_minor"] = strconv.FormatInt(wo.AmountMinor, 10)
	}
	ev.Notice = a.notice(cause, template, "terminated", time.Time{}, now)
	ev.Notice.AmountMinor = wo.AmountMinor
	ev.Invoice = cause
	return append(events, ev)
}

// CheckPayment is RecordPayment's validator: it changes nothing.
func (a *Account) CheckPayment(p Payment) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Currency != a.Customer.Currency {
		return fmt.Errorf("currency %s does not match the account currency %s", p.Currency, a.Customer.Currency)
	}
	if prev, ok := a.Payments[p.PaymentID]; ok {
		if prev.AmountMinor != p.AmountMinor || prev.Currency != p.Currency {
			return fmt.Errorf("payment_id %q was already recorded for %d %s; a different amount needs a new payment_id",
				p.PaymentID, prev.AmountMinor, prev.Currency)
		}
		return nil // a retry of the same payment: accepted, changes nothing
	}
	// Totals stay bounded too, so that no sum of amounts can overflow:
	// the payment is credit until it is applied.
	if err := checkTotal("amount_minor", p.AmountMinor, "the account's credit", a.CreditMinor); err != nil {
		return err
	}
	switch a.Status {
	case StatusScreening, StatusManualReview:
		return fmt.Errorf("account is %s: nothing has been invoiced yet", a.Status)
	case StatusTerminated:
		// Money the gateway has already taken (a pay-now page paid just
		// before termination, its webhook delayed) is recorded whatever
		// the status: refusing it would leave it in no book at all.
		if !p.FromGateway() {
			return fmt.Errorf("account is terminated: record payments on collections accounts with the collections agency")
		}
	}
	return nil
}

// FromGateway reports whether the payment gateway took this payment (the
// card charge, or the customer on a pay-now page): money already received.
func (p Payment) FromGateway() bool { return p.Actor == GatewayActor || p.Actor == PayLinkActor }

// RecordPayment applies a payment to open invoices, oldest due date first;
// what is left becomes credit. Paying off what is overdue reinstates a
// suspension for non-payment at once.
func (a *Account) RecordPayment(p Payment, now time.Time) (PaymentResult, []Event, error) {
	if err := a.CheckPayment(p); err != nil {
		return PaymentResult{}, nil, err
	}
	actor := p.Actor
	if actor == "" {
		actor = SystemActor
	}
	if _, dup := a.Payments[p.PaymentID]; dup {
		return a.paymentResult(p.PaymentID, nil, true), nil, nil
	}
	rec, events := a.applyPayment(p, now)
	if a.Status == StatusTerminated {
		events = append(events, a.staffAlert("payment_after_termination",
			fmt.Sprintf("%s paid %s through the payment gateway after the account was terminated; it is kept as credit: refund it or report it to the collections agency",
				a.Customer.CustomerID, money.Format(p.AmountMinor, p.Currency)),
			map[string]string{"payment_id": p.PaymentID, "amount_minor": strconv.FormatInt(p.AmountMinor, 10)}, now))
	}
	events = a.finish(events, now, actor, "payment "+p.PaymentID)
	return a.paymentResult(p.PaymentID, rec.Allocations, false), events, nil
}

// applyPayment credits a payment, settles open invoices with it and lifts
// a suspension for non-payment it settles. Payments from staff and from
// the payment gateway all go through here.
func (a *Account) applyPayment(p Payment, now time.Time) (*RecordedPayment, []Event) {
	actor := p.Actor
	if actor == "" {
		actor = SystemActor
	}
	a.CreditMinor += p.AmountMinor
	rec := &RecordedPayment{PaymentID: p.PaymentID, AmountMinor: p.AmountMinor, Currency: p.Currency, Method: p.Method, Reference: p.Reference}
	if p.Actor == GatewayActor || p.Actor == PayLinkActor {
		rec.ForInvoice = p.Reference // the gateway's payments name their invoice
	}
	ev := a.newEvent(now, EventPaymentRecorded, actor, "payment "+p.PaymentID)
	a.Payments[p.PaymentID] = PaymentRef{AmountMinor: p.AmountMinor, Currency: p.Currency, Seq: a.EventSeq}
	ev.Payment = rec
	ev.Detail = map[string]string{"amount_minor": strconv.FormatInt(p.AmountMinor, 10), "method": p.Method}
	events := append([]Event{ev}, a.settle(now, rec)...)
	return rec, append(events, a.reinstateIfSettled(actor, now)...)
}

func (a *Account) paymentResult(id string, allocs []Allocation, dup bool) PaymentResult {
	if allocs == nil {
		allocs = []Allocation{}
	}
	return PaymentResult{PaymentID: id, Duplicate: dup, Allocations: allocs, CreditMinor: a.CreditMinor,
		BalanceMinor: max(0, a.Balance()), Status: a.Status}
}

// CheckSuspend is Suspend's validator.
func (a *Account) CheckSuspend(s StaffAction) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := a.requireOperational("suspend"); err != nil {
		return err
	}
	if sus, ok := a.Suspensions[ReasonManual]; ok {
		return fmt.Errorf("already suspended by hand by %s since %s", sus.Actor, sus.Since.Format(time.RFC3339))
	}
	return nil
}

// Suspend suspends the account by hand.
func (a *Account) Suspend(s StaffAction, now time.Time) ([]Event, error) {
	if err := a.CheckSuspend(s); err != nil {
		return nil, err
	}
	events := a.suspend(ReasonManual, s.Actor, s.Reason, s.Note, now)
	events[0].Notice = a.notice(nil, "suspended_manual", "suspended", time.Time{}, now)
	return a.finish(events, now, s.Actor, s.Reason), nil
}

// CheckReinstate is Reinstate's validator.
func (a *Account) CheckReinstate(s StaffAction) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if a.Status != StatusSuspended && !a.subscriptionSuspendedFor(ReasonNonPayment) {
		return fmt.Errorf("cannot reinstate: account is %s, not suspended", a.Status)
	}
	for _, r := range []string{ReasonMisuse, ReasonFraud} {
		if _, ok := a.Suspensions[r]; ok {
			return fmt.Errorf("account is suspended for %s: decide its review with ReviewDecision instead", r)
		}
	}
	return nil
}

// Reinstate lifts every suspension a person may lift by hand.
func (a *Account) Reinstate(s StaffAction, now time.Time) ([]Event, error) {
	if err := a.CheckReinstate(s); err != nil {
		return nil, err
	}
	events := a.lift([]string{ReasonManual, ReasonNonPayment, ReasonBudget}, s.Actor, s.Reason, now)
	if a.Subscribed {
		events = append(events, a.liftSubscriptions(ReasonNonPayment, nil, s.Actor, s.Reason, now)...)
	}
	return a.finish(events, now, s.Actor, s.Reason), nil
}

// CheckTerminate is Terminate's validator.
func (a *Account) CheckTerminate(s StaffAction) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if a.Status == StatusTerminated {
		return fmt.Errorf("account is already terminated")
	}
	return nil
}

// Terminate ends the account by hand; unpaid invoices go to collections.
func (a *Account) Terminate(s StaffAction, now time.Time) ([]Event, error) {
	if err := a.CheckTerminate(s); err != nil {
		return nil, err
	}
	return a.finish(a.terminate(s.Actor, s.Reason, "terminated", nil, now), now, s.Actor, s.Reason), nil
}

// openInvoice finds an open subscription invoice for a staff operation.
func (a *Account) openInvoice(id string) (*Invoice, error) {
	inv := a.invoice(id)
	if inv == nil {
		return nil, fmt.Errorf("invoice %q is not an open invoice of customer %s", id, a.Customer.CustomerID)
	}
	if inv.Kind != KindSubscription {
		return nil, fmt.Errorf("invoice %s is a prepayment request, which has no dunning ladder", id)
	}
	return inv, nil
}

// CheckPromise is PromiseToPay's validator.
func (a *Account) CheckPromise(p Promise, now time.Time) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := a.requireOperational("record a promise to pay"); err != nil {
		return err
	}
	inv, err := a.openInvoice(p.InvoiceID)
	if err != nil {
		return err
	}
	switch {
	case inv.Disputed:
		return fmt.Errorf("invoice %s is disputed: resolve the dispute first", inv.ID)
	case !inv.PromiseUntil.IsZero():
		return fmt.Errorf("invoice %s already has a promise to pay until %s", inv.ID, inv.PromiseUntil.Format(time.RFC3339))
	case !p.Until.After(now):
		return fmt.Errorf("until %s is not in the future", p.Until.Format(time.RFC3339))
	case p.Until.Sub(now) > a.Policy.Promise.MaxLength:
		return fmt.Errorf("until %s is further away than the policy allows (%s)", p.Until.Format(time.RFC3339), a.Policy.Promise.MaxLength)
	}
	return nil
}

// PromiseToPay pauses the invoice's ladder until the promised date.
func (a *Account) PromiseToPay(p Promise, now time.Time) ([]Event, error) {
	if err := a.CheckPromise(p, now); err != nil {
		return nil, err
	}
	inv := a.invoice(p.InvoiceID)
	inv.PausedAt, inv.PromiseUntil = now, p.Until
	ev := a.newEvent(now, EventPromiseMade, p.Actor, p.Note)
	ev.Invoice = inv
	ev.Detail = map[string]string{"until": p.Until.Format(time.RFC3339)}
	return a.finish([]Event{ev}, now, p.Actor, "promise to pay"), nil
}

// CheckDispute is DisputeInvoice's validator.
func (a *Account) CheckDispute(d Dispute) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := a.requireOperational("dispute an invoice"); err != nil {
		return err
	}
	inv, err := a.openInvoice(d.InvoiceID)
	if err != nil {
		return err
	}
	if inv.Disputed {
		return fmt.Errorf("invoice %s is already disputed", inv.ID)
	}
	return nil
}

// DisputeInvoice pauses the invoice's ladder until the dispute is resolved.
// A promise to pay on it gives way to the dispute.
func (a *Account) DisputeInvoice(d Dispute, now time.Time) ([]Event, error) {
	if err := a.CheckDispute(d); err != nil {
		return nil, err
	}
	inv := a.invoice(d.InvoiceID)
	if inv.PausedAt.IsZero() {
		inv.PausedAt = now
	}
	inv.PromiseUntil = time.Time{}
	inv.Disputed, inv.DisputeReason = true, d.Reason
	ev := a.newEvent(now, EventDisputeOpened, d.Actor, d.Reason)
	ev.Invoice = inv
	return a.finish([]Event{ev}, now, d.Actor, "dispute opened"), nil
}

// CheckResolve is ResolveDispute's validator.
func (a *Account) CheckResolve(r Resolution) error {
	if err := r.Validate(); err != nil {
		return err
	}
	inv, err := a.openInvoice(r.InvoiceID)
	if err != nil {
		return err
	}
	if !inv.Disputed {
		return fmt.Errorf("invoice %s is not disputed", inv.ID)
	}
	if r.Outcome == OutcomeAdjusted && (r.AmountMinor >= inv.AmountMinor || r.AmountMinor < inv.PaidMinor) {
		return fmt.Errorf("adjusted amount_minor %d must be below the invoice amount %d and at least the %d already paid",
			r.AmountMinor, inv.AmountMinor, inv.PaidMinor)
	}
	return nil
}

// ResolveDispute ends a dispute: the invoice stands, is voided, or is lowered.
// A standing invoice's ladder resumes where it was.
func (a *Account) ResolveDispute(r Resolution, now time.Time) ([]Event, error) {
	if err := a.CheckResolve(r); err != nil {
		return nil, err
	}
	inv := a.invoice(r.InvoiceID)
	inv.Shift += now.Sub(inv.PausedAt)
	inv.PausedAt = time.Time{}
	inv.Disputed = false
	ev := a.newEvent(now, EventDisputeResolved, r.Actor, r.Note)
	ev.Invoice = inv
	ev.Detail = map[string]string{"outcome": r.Outcome}
	events := []Event{ev}
	switch r.Outcome {
	case OutcomeVoided:
		// Money already paid on a voided invoice goes back to credit.
		a.CreditMinor += inv.PaidMinor
		events = append(events, a.closeInvoice(inv, InvoiceVoid, now, r.Actor, "dispute resolved: voided")...)
	case OutcomeAdjusted:
		ev.Detail["amount_from"] = strconv.FormatInt(inv.AmountMinor, 10)
		ev.Detail["amount_to"] = strconv.FormatInt(r.AmountMinor, 10)
		inv.AmountMinor = r.AmountMinor
		if inv.Outstanding() == 0 {
			events = append(events, a.closeInvoice(inv, InvoicePaid, now, r.Actor, "dispute resolved: adjusted to the amount paid")...)
		}
	}
	events = append(events, a.settle(now, nil)...)
	events = append(events, a.reinstateIfSettled(r.Actor, now)...)
	return a.finish(events, now, r.Actor, "dispute resolved"), nil
}

// CheckWriteOff is WriteOff's validator.
func (a *Account) CheckWriteOff(w InvoiceAction) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := a.requireOperational("write off an invoice"); err != nil {
		return err
	}
	_, err := a.openInvoice(w.InvoiceID)
	return err
}

// WriteOff gives up on an invoice's unpaid amount, without collections.
func (a *Account) WriteOff(w InvoiceAction, now time.Time) ([]Event, error) {
	if err := a.CheckWriteOff(w); err != nil {
		return nil, err
	}
	inv := a.invoice(w.InvoiceID)
	amount := inv.Outstanding()
	events := a.closeInvoice(inv, InvoiceWrittenOff, now, w.Actor, w.Reason)
	events[0].WriteOff = &WriteOff{InvoiceIDs: []string{inv.ID}, AmountMinor: amount, Currency: inv.Currency}
	events = append(events, a.reinstateIfSettled(w.Actor, now)...)
	return a.finish(events, now, w.Actor, w.Reason), nil
}
