package account

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/money"
	"github.com/example/dunning/policy"
)

// Subscriptions (workflow version subscriptions). An account with
// Subscribed set bills a line per subscription and per usage item, and
// suspends, reinstates and cancels subscriptions one by one. The plan fee
// of an application is the subscription "plan". Accounts without the flag
// (runs from before the version) keep the single plan fee and the account
// suspended as a whole, exactly as they replay.

// SubscriptionStatus is one subscription's state.
type SubscriptionStatus string

// Subscription statuses.
const (
	SubscriptionPending   SubscriptionStatus = "pending" // the account is not active yet
	SubscriptionActive    SubscriptionStatus = "active"
	SubscriptionSuspended SubscriptionStatus = "suspended"
	SubscriptionCancelled SubscriptionStatus = "cancelled"
)

// PlanSubscriptionID is the subscription the application's plan fee becomes.
const PlanSubscriptionID = "plan"

// Subscription limits.
const (
	MaxSubscriptions   = 100
	MaxQuantity        = 1_000_000
	MaxIntervalPeriods = 36
	// maxUsageLines bounds the usage lines of one invoice: later items
	// of the period are summed into its last line.
	maxUsageLines = 50
)

// Subscription is one product the customer subscribes to. It is billed every
// IntervalPeriods billing periods of the policy, on the account's billing
// dates.
type Subscription struct {
	ID              string             `json:"id"`
	Product         string             `json:"product"`
	Quantity        int                `json:"quantity"`
	UnitPriceMinor  int64              `json:"unit_price_minor"` // per unit and interval
	IntervalPeriods int                `json:"interval_periods"` // billing periods per interval (12 on a monthly policy: yearly)
	TermPeriods     int                `json:"term_periods,omitempty"`
	Status          SubscriptionStatus `json:"status"`
	StartedAt       time.Time          `json:"started_at,omitzero"`
	// PaidThrough is the end of the last period paid for; NextBillAt the
	// start of the next period to bill (billed on the first billing date
	// at or after it).
	PaidThrough time.Time `json:"paid_through,omitzero"`
	NextBillAt  time.Time `json:"next_bill_at,omitzero"`
	// SuspendedFor are the subscription's own suspension reasons; a
	// suspension of the whole account is in Account.Suspensions.
	SuspendedFor []string `json:"suspended_for,omitempty"`
	// NextQuantity takes effect with the next period billed.
	NextQuantity int       `json:"next_quantity,omitempty"`
	CancelAt     time.Time `json:"cancel_at,omitzero"`
	CancelledAt  time.Time `json:"cancelled_at,omitzero"`
}

func (s *Subscription) live() bool {
	return s.Status != SubscriptionCancelled
}

// LineKind separates subscription lines from usage lines.
type LineKind string

// Invoice line kinds.
const (
	LineSubscription LineKind = "subscription"
	LineUsage        LineKind = "usage"
)

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	Kind           LineKind  `json:"kind"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	UsageID        string    `json:"usage_id,omitempty"`
	Description    string    `json:"description"`
	Quantity       int       `json:"quantity,omitempty"`
	UnitPriceMinor int64     `json:"unit_price_minor,omitempty"`
	AmountMinor    int64     `json:"amount_minor"`
	PeriodStart    time.Time `json:"period_start,omitzero"`
	PeriodEnd      time.Time `json:"period_end,omitzero"`
}

// UsageItem is one usage report of the current period, for its invoice line.
type UsageItem struct {
	UsageID     string `json:"usage_id"`
	Description string `json:"description,omitempty"`
	AmountMinor int64  `json:"amount_minor"`
}

// SubscriptionSpec is a subscription in an application and the
// AddSubscription update.
type SubscriptionSpec struct {
	SubscriptionID  string `json:"subscription_id"`
	Product         string `json:"product"`
	Quantity        int    `json:"quantity"`
	UnitPriceMinor  int64  `json:"unit_price_minor"`
	IntervalPeriods int    `json:"interval_periods,omitempty"` // default 1
	TermPeriods     int    `json:"term_periods,omitempty"`
	// PaidThrough, in an application only: the customer has paid
	// elsewhere through this date (billing starts at the first billing
	// date on or after it).
	PaidThrough time.Time `json:"paid_through,omitzero"`
	Actor       string    `json:"actor,omitempty"`
}

// Validate checks the subscription on its own.
func (s SubscriptionSpec) Validate() error {
	if err := checkKey("subscription_id", s.SubscriptionID); err != nil {
		return err
	}
	if err := checkText("product", s.Product, true); err != nil {
		return err
	}
	if s.Quantity < 1 || s.Quantity > MaxQuantity {
		return fmt.Errorf("quantity %d must be between 1 and %d", s.Quantity, MaxQuantity)
	}
	if err := money.ValidatePositive("unit_price_minor", s.UnitPriceMinor); err != nil {
		return err
	}
	if s.UnitPriceMinor > money.MaxMinor/int64(s.Quantity) {
		return fmt.Errorf("quantity %d at unit_price_minor %d is more than the maximum amount %d", s.Quantity, s.UnitPriceMinor, money.MaxMinor)
	}
	if s.IntervalPeriods < 0 || s.IntervalPeriods > MaxIntervalPeriods {
		return fmt.Errorf("interval_periods %d must be between 1 and %d (billing periods of the policy per interval)", s.IntervalPeriods, MaxIntervalPeriods)
	}
	if s.TermPeriods < 0 || s.TermPeriods > 10*MaxIntervalPeriods {
		return fmt.Errorf("term_periods %d must be between 0 and %d", s.TermPeriods, 10*MaxIntervalPeriods)
	}
	if !s.PaidThrough.IsZero() {
		if err := CheckTime("paid_through", s.PaidThrough); err != nil {
			return err
		}
	}
	return checkOptionalActor(s.Actor)
}

func (s SubscriptionSpec) interval() int { return max(s.IntervalPeriods, 1) }

// QuantityChange is the ChangeQuantity update. The new quantity takes
// effect with the subscription's next billed period.
type QuantityChange struct {
	SubscriptionID string `json:"subscription_id"`
	Quantity       int    `json:"quantity"`
	Actor          string `json:"actor"`
	Reason         string `json:"reason,omitempty"`
}

// Validate checks the change on its own.
func (q QuantityChange) Validate() error {
	if err := checkKey("subscription_id", q.SubscriptionID); err != nil {
		return err
	}
	if q.Quantity < 1 || q.Quantity > MaxQuantity {
		return fmt.Errorf("quantity %d must be between 1 and %d", q.Quantity, MaxQuantity)
	}
	if err := checkActor(q.Actor); err != nil {
		return err
	}
	return checkText("reason", q.Reason, false)
}

// When a cancellation takes effect.
const (
	CancelAtPeriodEnd = "period_end"
	CancelNow         = "now"
)

// Cancellation is the CancelSubscription update.
type Cancellation struct {
	SubscriptionID string `json:"subscription_id"`
	When           string `json:"when"` // period_end or now
	Actor          string `json:"actor"`
	Reason         string `json:"reason"`
}

// Validate checks the cancellation on its own.
func (c Cancellation) Validate() error {
	if err := checkKey("subscription_id", c.SubscriptionID); err != nil {
		return err
	}
	if c.When != CancelAtPeriodEnd && c.When != CancelNow {
		return fmt.Errorf("when %q must be period_end or now", c.When)
	}
	if err := checkActor(c.Actor); err != nil {
		return err
	}
	return checkText("reason", c.Reason, true)
}

// EnableSubscriptions turns the account to subscriptions: the plan fee
// becomes the subscription "plan" and the application's subscriptions are
// added. A running account's plan is billed from its next billing date, as
// it would have been.
func (a *Account) EnableSubscriptions() {
	if a.Subscribed {
		return
	}
	a.Subscribed = true
	status := SubscriptionPending
	if a.operational() {
		status = SubscriptionActive
	}
	if a.Customer.Plan.MonthlyFeeMinor > 0 {
		a.Subscriptions = append(a.Subscriptions, &Subscription{ID: PlanSubscriptionID, Product: "plan", Quantity: 1,
			UnitPriceMinor: a.periodFee(), IntervalPeriods: 1, Status: status, StartedAt: a.ActivatedAt, NextBillAt: a.NextBillingAt})
	}
	for _, s := range a.Customer.Subscriptions {
		a.Subscriptions = append(a.Subscriptions, &Subscription{ID: s.SubscriptionID, Product: s.Product, Quantity: s.Quantity,
			UnitPriceMinor: s.UnitPriceMinor, IntervalPeriods: s.interval(), TermPeriods: s.TermPeriods, Status: status,
			StartedAt: a.ActivatedAt, NextBillAt: laterOf(a.NextBillingAt, s.PaidThrough), PaidThrough: s.PaidThrough})
	}
	a.syncSubscriptions()
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (a *Account) subscription(id string) *Subscription {
	for _, s := range a.Subscriptions {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// SubscriptionsOrPlan lists the subscriptions the account has, or would
// have once subscriptions are enabled (the plan), for validators.
func (a *Account) SubscriptionsOrPlan() []Subscription {
	if a.Subscribed {
		out := make([]Subscription, 0, len(a.Subscriptions))
		for _, s := range a.Subscriptions {
			out = append(out, *s)
		}
		return out
	}
	c := *a
	c.Subscriptions = nil
	c.EnableSubscriptions()
	out := make([]Subscription, 0, len(c.Subscriptions))
	for _, s := range c.Subscriptions {
		out = append(out, *s)
	}
	return out
}

func findSub(subs []Subscription, id string) *Subscription {
	for i := range subs {
		if subs[i].ID == id {
			return &subs[i]
		}
	}
	return nil
}

// periodsAfter is the time n billing periods after t.
func (a *Account) periodsAfter(t time.Time, n int) time.Time {
	for range n {
		t = a.Policy.Billing.Interval.After(t)
	}
	return t
}

// startSubscriptions starts the pending subscriptions when service starts.
// Prepaid, each one's first intervals covering the prepaid periods are paid.
func (a *Account) startSubscriptions(now time.Time, prepaidPeriods int) {
	for _, s := range a.Subscriptions {
		if s.Status != SubscriptionPending {
			continue
		}
		s.Status, s.StartedAt = SubscriptionActive, now
		s.NextBillAt = laterOf(now, s.PaidThrough)
		if prepaidPeriods > 0 && !s.PaidThrough.After(now) {
			s.NextBillAt = a.periodsAfter(now, prepaidIntervals(prepaidPeriods, s.IntervalPeriods)*s.IntervalPeriods)
			s.PaidThrough = laterOf(s.PaidThrough, s.NextBillAt)
		}
	}
}

// prepaidIntervals is how many of a subscription's intervals cover the
// prepaid periods.
func prepaidIntervals(periods, interval int) int { return (periods + interval - 1) / interval }

// prepaymentLines are the subscriptions' first intervals, asked for as the
// reserve before service.
func (a *Account) prepaymentLines(now time.Time) []InvoiceLine {
	var lines []InvoiceLine
	for _, s := range a.Subscriptions {
		if s.Status != SubscriptionPending || s.PaidThrough.After(now) {
			continue
		}
		k := prepaidIntervals(a.Policy.Prepayment.Periods, s.IntervalPeriods)
		lines = append(lines, InvoiceLine{Kind: LineSubscription, SubscriptionID: s.ID, Description: s.Product,
			Quantity: s.Quantity * k, UnitPriceMinor: s.UnitPriceMinor, AmountMinor: int64(s.Quantity*k) * s.UnitPriceMinor,
			PeriodStart: now, PeriodEnd: a.periodsAfter(now, k*s.IntervalPeriods)})
	}
	return lines
}

func linesTotal(lines []InvoiceLine) int64 {
	var sum int64
	for _, l := range lines {
		sum += l.AmountMinor
	}
	return sum
}

// issueSubscribedInvoice bills the period starting at NextBillingAt: a line
// for each subscription whose next period has begun and is in service, and
// a line per usage item of the period that ends.
func (a *Account) issueSubscribedInvoice(now time.Time) []Event {
	pol := a.Policy
	start := a.NextBillingAt
	end := pol.Billing.Interval.After(start)
	a.NextBillingAt = end
	items := a.Usage.Items
	a.Usage.Items = nil
	usage, events := a.newPeriod(start, now)
	events = append(events, a.cancelDue(start, now)...)
	if len(a.Suspensions) > 0 {
		// No service is delivered while suspended, so no fee is billed.
		a.skipSuspendedPeriod(start, end)
		ev := a.newEvent(now, EventInvoiceSkipped, SystemActor, "suspended")
		ev.Detail = map[string]string{"period_start": start.Format(time.RFC3339), "period_end": end.Format(time.RFC3339),
			"usage_carried_minor": strconv.FormatInt(usage, 10)}
		a.Usage.PeriodMinor += usage
		a.Usage.Items = append(items, a.Usage.Items...)
		return append(events, ev)
	}
	var lines []InvoiceLine
	for _, s := range a.Subscriptions {
		if !s.live() || s.NextBillAt.After(start) {
			continue
		}
		if len(s.SuspendedFor) > 0 {
			s.NextBillAt = end // suspended: not in service, not billed
			continue
		}
		if s.NextQuantity > 0 {
			s.Quantity, s.NextQuantity = s.NextQuantity, 0
		}
		pend := a.periodsAfter(start, s.IntervalPeriods)
		lines = append(lines, InvoiceLine{Kind: LineSubscription, SubscriptionID: s.ID, Description: s.Product, Quantity: s.Quantity,
			UnitPriceMinor: s.UnitPriceMinor, AmountMinor: int64(s.Quantity) * s.UnitPriceMinor, PeriodStart: start, PeriodEnd: pend})
		s.NextBillAt = pend
	}
	lines = append(lines, usageLines(items, usage)...)
	total := linesTotal(lines)
	if total == 0 {
		ev := a.newEvent(now, EventInvoiceSkipped, SystemActor, "nothing to bill")
		ev.Detail = map[string]string{"period_start": start.Format(time.RFC3339), "period_end": end.Format(time.RFC3339)}
		return append(events, ev)
	}
	inv := &Invoice{
		ID:          a.nextInvoiceID(),
		Kind:        KindSubscription,
		Status:      InvoiceOpen,
		PeriodStart: start,
		PeriodEnd:   end,
		IssuedAt:    now,
		DueAt:       now.Add(pol.Billing.Terms),
		AmountMinor: total,
		UsageMinor:  usage,
		Currency:    a.Customer.Currency,
		Stage:       StageIssued,
		Lines:       lines,
	}
	return append(events, a.billInvoice(inv, start, usage, now)...)
}

// skipSuspendedPeriod moves the subscriptions due in a period the account
// spends suspended to the next one: no service, no fee.
func (a *Account) skipSuspendedPeriod(start, end time.Time) {
	for _, s := range a.Subscriptions {
		if s.live() && !s.NextBillAt.After(start) {
			s.NextBillAt = end
		}
	}
}

// usageLines are a line per usage item, and one for usage without items
// (carried from a skipped period, or reported before subscriptions).
func usageLines(items []UsageItem, usage int64) []InvoiceLine {
	var lines []InvoiceLine
	var sum int64
	for _, it := range items {
		desc := it.Description
		if desc == "" {
			desc = "usage " + it.UsageID
		}
		lines = append(lines, InvoiceLine{Kind: LineUsage, UsageID: it.UsageID, Description: desc, AmountMinor: it.AmountMinor})
		sum += it.AmountMinor
	}
	if rest := usage - sum; rest > 0 {
		lines = append(lines, InvoiceLine{Kind: LineUsage, Description: "usage", AmountMinor: rest})
	}
	return lines
}

// addUsageItem keeps a usage report for its invoice line.
func (a *Account) addUsageItem(u Usage) {
	if !a.Subscribed {
		return
	}
	if n := len(a.Usage.Items); n >= maxUsageLines {
		last := &a.Usage.Items[n-1]
		last.AmountMinor += u.AmountMinor
		last.UsageID, last.Description = "", "other usage"
		return
	}
	a.Usage.Items = append(a.Usage.Items, UsageItem{UsageID: u.UsageID, Description: u.Description, AmountMinor: u.AmountMinor})
}

// markPaid moves the paid-through date of the subscriptions a paid
// invoice bills.
func (a *Account) markPaid(inv *Invoice) {
	for _, l := range inv.Lines {
		// A pending subscription's prepaid periods start with service.
		if s := a.subscription(l.SubscriptionID); s != nil && l.Kind == LineSubscription && s.Status != SubscriptionPending {
			s.PaidThrough = laterOf(s.PaidThrough, l.PeriodEnd)
		}
	}
}

// invoiceSubscriptions are the live subscriptions an invoice bills; an
// invoice without lines (from before subscriptions) bills them all.
func (a *Account) invoiceSubscriptions(inv *Invoice) []string {
	var ids []string
	for _, s := range a.Subscriptions {
		if !s.live() {
			continue
		}
		if len(inv.Lines) == 0 || slices.ContainsFunc(inv.Lines, func(l InvoiceLine) bool { return l.SubscriptionID == s.ID }) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// up reports whether a subscription is in service.
func (a *Account) up(s *Subscription) bool {
	return s.Status == SubscriptionActive && len(a.Suspensions) == 0 && len(s.SuspendedFor) == 0
}

// upSubscriptions are the IDs of the live subscriptions in service now.
func (a *Account) upSubscriptions() []string {
	var ids []string
	for _, s := range a.Subscriptions {
		if a.up(s) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// syncSubscriptions brings each live subscription's status in line with
// the suspensions.
func (a *Account) syncSubscriptions() {
	for _, s := range a.Subscriptions {
		switch {
		case s.Status == SubscriptionCancelled || s.Status == SubscriptionPending:
		case len(a.Suspensions) > 0 || len(s.SuspendedFor) > 0:
			s.Status = SubscriptionSuspended
		default:
			s.Status = SubscriptionActive
		}
	}
}

// allSubscriptionsSuspended reports whether every live subscription is
// suspended on its own account: the account is then suspended.
func (a *Account) allSubscriptionsSuspended() bool {
	n := 0
	for _, s := range a.Subscriptions {
		if s.live() && s.Status != SubscriptionPending {
			if len(s.SuspendedFor) == 0 {
				return false
			}
			n++
		}
	}
	return n > 0
}

// describeSubscriptions names subscriptions for audit details and emails:
// "id (product)".
func (a *Account) describeSubscriptions(ids []string) string {
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		if s := a.subscription(id); s != nil {
			parts = append(parts, s.ID+" ("+s.Product+")")
		}
	}
	return strings.Join(parts, ", ")
}

// suspendSubscriptions adds a reason to subscriptions of their own. Those
// that go out of service are provisioned and the customer told.
func (a *Account) suspendSubscriptions(ids []string, reason, actor, why string, now time.Time) (Event, bool) {
	var down []string
	for _, id := range ids {
		s := a.subscription(id)
		if s == nil || !s.live() || slices.Contains(s.SuspendedFor, reason) {
			continue
		}
		wasUp := a.up(s)
		s.SuspendedFor = append(s.SuspendedFor, reason)
		slices.Sort(s.SuspendedFor)
		if wasUp {
			down = append(down, id)
		}
	}
	a.syncSubscriptions()
	if len(down) == 0 {
		return Event{}, false
	}
	ev := a.newEvent(now, EventSubscriptionsSuspended, actor, why)
	ev.Provision = ProvisionSuspendSubscriptions
	ev.Subscriptions = down
	ev.Detail = map[string]string{"suspension_reason": reason, "subscriptions": a.describeSubscriptions(down)}
	return ev, true
}

// liftSubscriptions removes a reason from every subscription that has it.
// Those back in service are provisioned and the customer told.
func (a *Account) liftSubscriptions(reason string, keep func(*Subscription) bool, actor, why string, now time.Time) []Event {
	var back []string
	for _, s := range a.Subscriptions {
		if !s.live() || !slices.Contains(s.SuspendedFor, reason) || (keep != nil && keep(s)) {
			continue
		}
		s.SuspendedFor = slices.DeleteFunc(s.SuspendedFor, func(r string) bool { return r == reason })
		if len(s.SuspendedFor) == 0 {
			s.SuspendedFor = nil
			s.Status = SubscriptionActive
			if a.up(s) {
				back = append(back, s.ID)
			}
		}
	}
	a.syncSubscriptions()
	if len(back) == 0 {
		return nil
	}
	ev := a.newEvent(now, EventSubscriptionsReinstated, actor, why)
	ev.Provision = ProvisionReinstateSubscriptions
	ev.Subscriptions = back
	ev.Detail = map[string]string{"lifted": reason, "subscriptions": a.describeSubscriptions(back)}
	ev.Notice = a.notice(nil, "reinstated", "reinstated", time.Time{}, now)
	ev.Notice.Detail = map[string]string{"subscriptions": ev.Detail["subscriptions"]}
	return []Event{ev}
}

// subscriptionOverdue reports whether an invoice past its due date still
// owes for the subscription.
func (a *Account) subscriptionOverdue(id string, now time.Time) bool {
	for _, inv := range a.Invoices {
		if inv.Kind == KindSubscription && !inv.Disputed && !now.Before(inv.DueAt) && inv.Outstanding() > 0 &&
			slices.Contains(a.invoiceSubscriptions(inv), id) {
			return true
		}
	}
	return false
}

// suspendUnpaid is the suspension step for an account with subscriptions
// under suspend_scope unpaid_subscriptions: only the subscriptions the
// unpaid invoice bills are suspended. ok is false when that is every
// subscription in service: the account is suspended as a whole instead.
func (a *Account) suspendUnpaid(inv *Invoice, reason string, now time.Time) ([]Event, bool) {
	if !a.Subscribed || a.Policy.Scope() != policy.ScopeUnpaidSubscriptions || len(a.Suspensions) > 0 {
		return nil, false
	}
	ids := a.invoiceSubscriptions(inv)
	up := a.upSubscriptions()
	if len(ids) == 0 || !slices.ContainsFunc(up, func(id string) bool { return !slices.Contains(ids, id) }) {
		return nil, false
	}
	ev, ok := a.suspendSubscriptions(ids, ReasonNonPayment, SystemActor, reason, now)
	if !ok {
		return nil, true
	}
	return []Event{ev}, true
}

// reinstatePaidSubscriptions lifts non-payment from the subscriptions that
// no invoice past due owes for any more.
func (a *Account) reinstatePaidSubscriptions(actor string, now time.Time) []Event {
	if !a.Subscribed {
		return nil
	}
	return a.liftSubscriptions(ReasonNonPayment, func(s *Subscription) bool { return a.subscriptionOverdue(s.ID, now) },
		actor, "overdue invoices of the subscription settled", now)
}

// cancelDue cancels the subscriptions whose cancellation date has come by
// the start of the period being billed.
func (a *Account) cancelDue(start, now time.Time) []Event {
	var ids []string
	for _, s := range a.Subscriptions {
		if s.live() && !s.CancelAt.IsZero() && !s.CancelAt.After(start) {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return []Event{a.cancelSubscriptions(ids, SystemActor, "cancelled at period end", now)}
}

func (a *Account) cancelSubscriptions(ids []string, actor, why string, now time.Time) Event {
	for _, id := range ids {
		s := a.subscription(id)
		s.Status, s.CancelledAt, s.SuspendedFor, s.NextQuantity = SubscriptionCancelled, now, nil, 0
	}
	ev := a.newEvent(now, EventSubscriptionCancelled, actor, why)
	ev.Provision = ProvisionCancelSubscriptions
	ev.Subscriptions = ids
	ev.Detail = map[string]string{"subscriptions": a.describeSubscriptions(ids)}
	return ev
}

func (a *Account) requireSubscriptionChange(what string) error {
	switch a.Status {
	case StatusActive, StatusPastDue, StatusSuspended:
		return nil
	}
	return fmt.Errorf("cannot %s: account is %s", what, a.Status)
}

// CheckAddSubscription is AddSubscription's validator.
func (a *Account) CheckAddSubscription(s SubscriptionSpec, now time.Time) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if !s.PaidThrough.IsZero() {
		return fmt.Errorf("paid_through is only for subscriptions in an application: a subscription added now is billed now")
	}
	if err := a.requireSubscriptionChange("add a subscription"); err != nil {
		return err
	}
	subs := a.SubscriptionsOrPlan()
	if findSub(subs, s.SubscriptionID) != nil {
		return fmt.Errorf("subscription %q already exists for customer %s", s.SubscriptionID, a.Customer.CustomerID)
	}
	if slices.Contains(a.RetiredSubscriptions, s.SubscriptionID) {
		return fmt.Errorf("subscription_id %q belonged to a cancelled subscription of customer %s: choose a new one", s.SubscriptionID, a.Customer.CustomerID)
	}
	if n := len(slices.DeleteFunc(slices.Clone(subs), func(x Subscription) bool { return !x.live() })); n >= MaxSubscriptions {
		return fmt.Errorf("customer %s has %d subscriptions, the most allowed", a.Customer.CustomerID, n)
	}
	if amt, _ := a.firstPeriod(s, now); amt > 0 {
		if err := checkTotal("the first period", amt, "the balance", max(a.Balance(), 0)); err != nil {
			return err
		}
	}
	return nil
}

// firstPeriod is what a subscription added now owes until the account's next
// billing date: its price prorated by day (a day begun counts whole). From
// that date on it is billed with the account.
func (a *Account) firstPeriod(s SubscriptionSpec, now time.Time) (int64, int) {
	days := daysCeil(a.NextBillingAt.Sub(now), a.Policy.Day)
	period := a.Policy.Days(a.Policy.Billing.Interval.After(a.Usage.PeriodStart).Sub(a.Usage.PeriodStart))
	if days <= 0 || period <= 0 {
		return 0, 0
	}
	days = min(days, period)
	whole := int64(s.Quantity) * s.UnitPriceMinor
	perInterval := int64(period * s.interval())
	// Rounded half up, in whole minor units; days <= period so the
	// product stays below whole * period.
	return (whole*int64(days)*2 + perInterval) / (2 * perInterval), days
}

func daysCeil(d, day time.Duration) int {
	if d <= 0 || day <= 0 {
		return 0
	}
	return int((d + day - 1) / day)
}

// AddSubscription adds a subscription. Its first period, to the account's
// next billing date, is invoiced at once, prorated by day.
func (a *Account) AddSubscription(s SubscriptionSpec, now time.Time) ([]Event, error) {
	if err := a.CheckAddSubscription(s, now); err != nil {
		return nil, err
	}
	a.EnableSubscriptions()
	sub := &Subscription{ID: s.SubscriptionID, Product: s.Product, Quantity: s.Quantity, UnitPriceMinor: s.UnitPriceMinor,
		IntervalPeriods: s.interval(), TermPeriods: s.TermPeriods, Status: SubscriptionActive, StartedAt: now, NextBillAt: a.NextBillingAt}
	a.Subscriptions = append(a.Subscriptions, sub)
	a.syncSubscriptions()
	actor := firstOf(s.Actor, SystemActor)
	ev := a.newEvent(now, EventSubscriptionAdded, actor, "subscription "+s.SubscriptionID)
	ev.Provision = ProvisionActivateSubscriptions
	ev.Subscriptions = []string{sub.ID}
	ev.Detail = map[string]string{"subscription_id": sub.ID, "product": sub.Product, "quantity": strconv.Itoa(sub.Quantity),
		"unit_price_minor": strconv.FormatInt(sub.UnitPriceMinor, 10), "interval_periods": strconv.Itoa(sub.IntervalPeriods)}
	if len(a.Suspensions) > 0 {
		ev.Provision = ProvisionSuspendSubscriptions // added to a suspended account: not in service yet
	}
	events := []Event{ev}
	// Added to a suspended account, it is not in service: nothing is
	// billed until the account is (from its next billing date).
	if amt, days := a.firstPeriod(s, now); amt > 0 && len(a.Suspensions) == 0 {
		inv := &Invoice{ID: a.nextInvoiceID(), Kind: KindSubscription, Status: InvoiceOpen, PeriodStart: now, PeriodEnd: a.NextBillingAt,
			IssuedAt: now, DueAt: now.Add(a.Policy.Billing.Terms), AmountMinor: amt, Currency: a.Customer.Currency, Stage: StageIssued,
			Lines: []InvoiceLine{{Kind: LineSubscription, SubscriptionID: sub.ID, Description: fmt.Sprintf("%s, %d days prorated", sub.Product, days),
				Quantity: sub.Quantity, UnitPriceMinor: sub.UnitPriceMinor, AmountMinor: amt, PeriodStart: now, PeriodEnd: a.NextBillingAt}}}
		events = append(events, a.billInvoice(inv, now, 0, now)...)
	}
	return a.finish(events, now, actor, "subscription added"), nil
}

// CheckChangeQuantity is ChangeQuantity's validator.
func (a *Account) CheckChangeQuantity(q QuantityChange) error {
	if err := q.Validate(); err != nil {
		return err
	}
	if err := a.requireSubscriptionChange("change a quantity"); err != nil {
		return err
	}
	s := findSub(a.SubscriptionsOrPlan(), q.SubscriptionID)
	switch {
	case s == nil:
		return fmt.Errorf("subscription %q is not a subscription of customer %s", q.SubscriptionID, a.Customer.CustomerID)
	case !s.live():
		return fmt.Errorf("subscription %s is cancelled", s.ID)
	case !s.CancelAt.IsZero():
		return fmt.Errorf("subscription %s is cancelled from %s: its quantity no longer changes", s.ID, s.CancelAt.Format(time.RFC3339))
	case q.Quantity == s.Quantity && s.NextQuantity == 0:
		return fmt.Errorf("subscription %s already has quantity %d", s.ID, q.Quantity)
	case s.UnitPriceMinor > money.MaxMinor/int64(q.Quantity):
		return fmt.Errorf("quantity %d at unit_price_minor %d is more than the maximum amount %d", q.Quantity, s.UnitPriceMinor, money.MaxMinor)
	}
	return nil
}

// ChangeQuantity changes a subscription's quantity from its next billed
// period; the period already billed is not changed.
func (a *Account) ChangeQuantity(q QuantityChange, now time.Time) ([]Event, error) {
	if err := a.CheckChangeQuantity(q); err != nil {
		return nil, err
	}
	a.EnableSubscriptions()
	s := a.subscription(q.SubscriptionID)
	from := s.Quantity
	s.NextQuantity = q.Quantity
	if q.Quantity == s.Quantity {
		s.NextQuantity = 0 // back to what is billed: the pending change is withdrawn
	}
	ev := a.newEvent(now, EventSubscriptionChanged, q.Actor, firstOf(q.Reason, "quantity changed"))
	ev.Subscriptions = []string{s.ID}
	ev.Detail = map[string]string{"subscription_id": s.ID, "quantity_from": strconv.Itoa(from), "quantity_to": strconv.Itoa(q.Quantity),
		"effective_at": s.NextBillAt.Format(time.RFC3339)}
	return a.finish([]Event{ev}, now, q.Actor, "quantity changed"), nil
}

// CheckCancelSubscription is CancelSubscription's validator.
func (a *Account) CheckCancelSubscription(c Cancellation) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := a.requireSubscriptionChange("cancel a subscription"); err != nil {
		return err
	}
	s := findSub(a.SubscriptionsOrPlan(), c.SubscriptionID)
	switch {
	case s == nil:
		return fmt.Errorf("subscription %q is not a subscription of customer %s", c.SubscriptionID, a.Customer.CustomerID)
	case !s.live():
		return fmt.Errorf("subscription %s is already cancelled", s.ID)
	case c.When == CancelAtPeriodEnd && !s.CancelAt.IsZero():
		return fmt.Errorf("subscription %s is already cancelled from %s", s.ID, s.CancelAt.Format(time.RFC3339))
	}
	return nil
}

// CancelSubscription cancels a subscription now or at the end of the period
// billed (not before the end of its term). What was billed stays owed.
func (a *Account) CancelSubscription(c Cancellation, now time.Time) ([]Event, error) {
	if err := a.CheckCancelSubscription(c); err != nil {
		return nil, err
	}
	a.EnableSubscriptions()
	s := a.subscription(c.SubscriptionID)
	if c.When == CancelNow {
		ev := a.cancelSubscriptions([]string{s.ID}, c.Actor, c.Reason, now)
		return a.finish([]Event{ev}, now, c.Actor, "subscription cancelled"), nil
	}
	s.CancelAt = laterOf(s.NextBillAt, a.periodsAfter(s.StartedAt, s.TermPeriods))
	ev := a.newEvent(now, EventSubscriptionCancelling, c.Actor, c.Reason)
	ev.Subscriptions = []string{s.ID}
	ev.Detail = map[string]string{"subscription_id": s.ID, "cancel_at": s.CancelAt.Format(time.RFC3339)}
	return a.finish([]Event{ev}, now, c.Actor, "subscription cancellation scheduled"), nil
}

// subscriptionSuspendedFor reports whether a live subscription is suspended
// on its own for the reason.
func (a *Account) subscriptionSuspendedFor(reason string) bool {
	return slices.ContainsFunc(a.Subscriptions, func(s *Subscription) bool { return s.live() && slices.Contains(s.SuspendedFor, reason) })
}

// retireSubscriptions drops the cancelled subscriptions that no open invoice
// bills, keeping their IDs, so that an account's state stays bounded however
// many subscriptions come and go.
func (a *Account) retireSubscriptions() {
	billed := func(id string) bool {
		return slices.ContainsFunc(a.Invoices, func(inv *Invoice) bool {
			return slices.ContainsFunc(inv.Lines, func(l InvoiceLine) bool { return l.SubscriptionID == id })
		})
	}
	a.Subscriptions = slices.DeleteFunc(a.Subscriptions, func(s *Subscription) bool {
		if s.live() || billed(s.ID) {
			return false
		}
		a.RetiredSubscriptions = append(a.RetiredSubscriptions, s.ID)
		return true
	})
}

// subscriptionSuspended reports whether a live subscription is suspended on
// its own.
func (a *Account) subscriptionSuspended() bool {
	return slices.ContainsFunc(a.Subscriptions, func(s *Subscription) bool { return s.live() && len(s.SuspendedFor) > 0 })
}
