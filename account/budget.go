package account

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// BudgetState is the customer's monthly spending limit on metered usage. A
// month is a billing period.
type BudgetState struct {
	LimitMinor int64 `json:"limit_minor"`
	Percents   []int `json:"percents"`
	HardStop   bool  `json:"hard_stop"`
	Notified   []int `json:"notified,omitempty"` // thresholds already announced this period
}

// UsageState is the metered usage of the current and recent periods.
type UsageState struct {
	Period      int                 `json:"period"` // billing period number, rises at each invoice
	PeriodStart time.Time           `json:"period_start,omitzero"`
	PeriodMinor int64               `json:"period_minor"` // usage this period, to be billed on the next invoice
	IDs         map[string]UsageRef `json:"ids,omitempty"`
	// Items are this period's reports, for the invoice's usage lines
	// (accounts with subscriptions only).
	Items []UsageItem `json:"items,omitempty"`
}

// UsageRef remembers a usage report for idempotency.
type UsageRef struct {
	AmountMinor int64 `json:"amount_minor"`
	Period      int   `json:"period"`
	Seq         int   `json:"seq,omitempty"` // event sequence when recorded: the oldest is forgotten first
}

// UsageRecord is a usage report as recorded.
type UsageRecord struct {
	UsageID     string `json:"usage_id"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
	Description string `json:"description,omitempty"`
	Period      int    `json:"period"`
}

// usageMemory is how many billing periods of usage IDs are kept to spot a
// repeated report; older repeats are stopped by the database's key.
const usageMemory = 3

// CheckBudget is SetBudget's validator.
func (a *Account) CheckBudget(req Budget) error {
	if err := req.Validate(); err != nil {
		return err
	}
	return a.requireOperational("set a budget")
}

// SetBudget sets, changes or (with a zero limit) removes the budget.
func (a *Account) SetBudget(req Budget, now time.Time) ([]Event, error) {
	if err := a.CheckBudget(req); err != nil {
		return nil, err
	}
	actor := req.Actor
	if actor == "" {
		actor = SystemActor
	}
	ev := a.newEvent(now, EventBudgetSet, actor, "budget changed")
	events := []Event{ev}
	if req.LimitMinor == 0 {
		a.Budget = nil
		ev.Detail = map[string]string{"limit_minor": "0"}
	} else {
		percents := req.NoticePercents
		if len(percents) == 0 {
			percents = []int{80, 100}
		}
		a.Budget = &BudgetState{LimitMinor: req.LimitMinor, Percents: slices.Clone(percents), HardStop: req.HardStop}
		ev.Detail = map[string]string{"limit_minor": strconv.FormatInt(req.LimitMinor, 10), "percents": fmt.Sprint(percents),
			"hard_stop": strconv.FormatBool(req.HardStop)}
	}
	// A raised or removed limit lifts a budget stop; a lowered one may
	// cross thresholds at once.
	if a.Budget == nil || !a.Budget.HardStop || a.Usage.PeriodMinor < a.Budget.LimitMinor {
		events = append(events, a.lift([]string{ReasonBudget}, actor, "budget raised", now)...)
	}
	events = append(events, a.checkBudget(now)...)
	return a.finish(events, now, actor, "budget changed"), nil
}

// CheckUsage is ReportUsage's validator.
func (a *Account) CheckUsage(u Usage) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if err := a.requireOperational("report usage"); err != nil {
		return err
	}
	if _, dup := a.Usage.IDs[u.UsageID]; !dup {
		if err := checkTotal("amount_minor", u.AmountMinor, "this period's usage", a.Usage.PeriodMinor); err != nil {
			return err
		}
	}
	if prev, ok := a.Usage.IDs[u.UsageID]; ok && prev.AmountMinor != u.AmountMinor {
		return fmt.Errorf("usage_id %q was already reported for %d; a different amount needs a new usage_id", u.UsageID, prev.AmountMinor)
	}
	return nil
}

// ReportUsage adds metered usage to the current period: it is billed on the
// next invoice and counts against the budget. The same usage_id again is a
// no-op.
func (a *Account) ReportUsage(u Usage, now time.Time) ([]Event, error) {
	if err := a.CheckUsage(u); err != nil {
		return nil, err
	}
	if _, dup := a.Usage.IDs[u.UsageID]; dup {
		return nil, nil
	}
	if a.Usage.IDs == nil {
		a.Usage.IDs = map[string]UsageRef{}
	}
	a.Usage.PeriodMinor += u.AmountMinor
	a.addUsageItem(u)
	ev := a.newEvent(now, EventUsageRecorded, SystemActor, u.Description)
	a.Usage.IDs[u.UsageID] = UsageRef{AmountMinor: u.AmountMinor, Period: a.Usage.Period, Seq: a.EventSeq}
	ev.Usage = &UsageRecord{UsageID: u.UsageID, AmountMinor: u.AmountMinor, Currency: a.Customer.Currency,
		Description: u.Description, Period: a.Usage.Period}
	ev.Detail = map[string]string{"usage_id": u.UsageID, "amount_minor": strconv.FormatInt(u.AmountMinor, 10),
		"period_minor": strconv.FormatInt(a.Usage.PeriodMinor, 10)}
	events := append([]Event{ev}, a.checkBudget(now)...)
	return a.finish(events, now, SystemActor, "usage "+u.UsageID), nil
}

// checkBudget announces each threshold once per period, and stops service
// at the limit when the budget says so.
func (a *Account) checkBudget(now time.Time) []Event {
	b := a.Budget
	if b == nil {
		return nil
	}
	var events []Event
	spent := a.Usage.PeriodMinor
	for _, p := range b.Percents {
		if slices.Contains(b.Notified, p) || spent*100 < b.LimitMinor*int64(p) {
			continue
		}
		b.Notified = append(b.Notified, p)
		detail := map[string]string{"percent": strconv.Itoa(p), "limit_minor": strconv.FormatInt(b.LimitMinor, 10),
			"month": a.periodLabel()}
		ev := a.newEvent(now, EventBudgetThreshold, SystemActor, fmt.Sprintf("usage reached %d%% of the budget", p))
		ev.Detail = detail
		n := a.notice(nil, "budget_threshold", "budget_threshold", time.Time{}, now)
		n.Key = a.Customer.CustomerID + ":budget:" + strconv.Itoa(a.Usage.Period) + ":" + strconv.Itoa(p)
		n.AmountMinor, n.Detail = spent, detail
		ev.Notice = n
		staffDetail := map[string]string{"percent": strconv.Itoa(p), "limit_minor": detail["limit_minor"], "spend_minor": strconv.FormatInt(spent, 10)}
		events = append(events, ev, a.staffAlert("budget_threshold", fmt.Sprintf("usage reached %d%% of the monthly budget", p), staffDetail, now))
	}
	if b.HardStop && spent >= b.LimitMinor {
		stop := a.suspend(ReasonBudget, SystemActor, "usage reached the budget's hard limit", "", now)
		if len(stop) > 0 {
			n := a.notice(nil, "budget_hard_stop", "budget_hard_stop", time.Time{}, now)
			n.AmountMinor = spent
			n.Detail = map[string]string{"limit_minor": strconv.FormatInt(b.LimitMinor, 10), "month": a.periodLabel()}
			stop[0].Notice = n
			events = append(events, stop...)
		}
	}
	return events
}

// periodLabel names the current billing period for budget notices.
func (a *Account) periodLabel() string { return a.Usage.PeriodStart.UTC().Format("2006-01") }

// newPeriod starts a billing period: usage so far goes on the invoice being
// issued, the budget's thresholds reset, and a budget stop is lifted.
func (a *Account) newPeriod(start, now time.Time) (int64, []Event) {
	billed := a.Usage.PeriodMinor
	a.Usage.Period++
	a.Usage.PeriodStart = start
	a.Usage.PeriodMinor = 0
	for id, ref := range a.Usage.IDs {
		if ref.Period < a.Usage.Period-usageMemory {
			delete(a.Usage.IDs, id)
			a.ForgotUsage = true
		}
	}
	if a.Budget != nil {
		a.Budget.Notified = nil
	}
	return billed, a.lift([]string{ReasonBudget}, SystemActor, "new billing period", now)
}
