package account

import (
	"maps"
	"slices"
	"time"

	"github.com/example/dunning/policy"
)

// StatusView is the GetStatus query's answer.
type StatusView struct {
	CustomerID    string           `json:"customer_id"`
	Name          string           `json:"name"`
	Email         string           `json:"email"`
	Status        Status           `json:"status"`
	Access        Access           `json:"access"`
	RiskTier      string           `json:"risk_tier"`
	Policy        string           `json:"policy"`
	Currency      string           `json:"currency"`
	BalanceMinor  int64            `json:"balance_minor"` // owed now, less credit
	CreditMinor   int64            `json:"credit_minor"`
	OverdueMinor  int64            `json:"overdue_minor"`
	DaysPastDue   int              `json:"days_past_due"`
	DunningStage  string           `json:"dunning_stage"`
	Suspensions   []Suspension     `json:"suspensions"`
	Invoices      []InvoiceView    `json:"invoices"`
	NextBillingAt time.Time        `json:"next_billing_at,omitzero"`
	NextActionAt  time.Time        `json:"next_action_at,omitzero"`
	NextAction    string           `json:"next_action,omitempty"`
	Trusted       bool             `json:"trusted"`
	PhoneVerified bool             `json:"phone_verified"`
	EmailOK       bool             `json:"email_deliverable"`
	Channel       policy.Channel   `json:"notice_channel"`
	Screening     *Screening       `json:"screening,omitempty"`
	Reviews       []Review         `json:"open_reviews"`
	Budget        *BudgetView      `json:"budget,omitempty"`
	UsageMinor    int64            `json:"usage_this_period_minor"`
	Provisioning  ProvisioningView `json:"provisioning"`
	// Card is the card on file (no number: the gateway keeps it) and
	// whether it may be charged; nil when there is none.
	Card              *CardView `json:"card,omitempty"`
	OpenChargebacks   int       `json:"open_chargebacks,omitempty"`
	LostChargebacks   int       `json:"lost_chargebacks,omitempty"`
	AutomaticCharging bool      `json:"automatic_charging"`
	// Subscriptions (with their status, paid-through date and own
	// suspension reasons) and the exemptions in force.
	Subscriptions []Subscription   `json:"subscriptions,omitempty"`
	Exemptions    []ExemptionState `json:"exemptions,omitempty"`
	AsOf          time.Time        `json:"as_of"`
}

// CardView is the card on file in the status.
type CardView struct {
	Brand    string `json:"brand,omitempty"`
	Last4    string `json:"last4,omitempty"`
	ExpMonth int    `json:"exp_month,omitempty"`
	ExpYear  int    `json:"exp_year,omitempty"`
	// Blocked says why the card is not charged until it is replaced.
	Blocked string    `json:"blocked,omitempty"`
	SetAt   time.Time `json:"set_at"`
}

// BudgetView is the budget's use this period.
type BudgetView struct {
	LimitMinor int64 `json:"limit_minor"`
	SpentMinor int64 `json:"spent_minor"`
	Percent    int   `json:"percent"` // of the limit used, rounded down
	Percents   []int `json:"notice_percents"`
	Notified   []int `json:"notified_percents"`
	HardStop   bool  `json:"hard_stop"`
}

// InvoiceView is one open invoice in the status.
type InvoiceView struct {
	ID               string        `json:"id"`
	Kind             InvoiceKind   `json:"kind"`
	AmountMinor      int64         `json:"amount_minor"`
	PaidMinor        int64         `json:"paid_minor"`
	OutstandingMinor int64         `json:"outstanding_minor"`
	IssuedAt         time.Time     `json:"issued_at"`
	DueAt            time.Time     `json:"due_at"`
	DaysPastDue      int           `json:"days_past_due"`
	Stage            string        `json:"stage"`
	NextStage        string        `json:"next_stage,omitempty"`
	NextActionAt     time.Time     `json:"next_action_at,omitzero"`
	PromiseUntil     time.Time     `json:"promise_until,omitzero"`
	Disputed         bool          `json:"disputed"`
	Lines            []InvoiceLine `json:"lines,omitempty"`
	ChargeAttempts   int           `json:"charge_attempts,omitempty"`
	NextChargeAt     time.Time     `json:"next_charge_at,omitzero"`
}

// View builds the status as of now.
func (a *Account) View(now time.Time) StatusView {
	v := StatusView{
		CustomerID:    a.Customer.CustomerID,
		Name:          a.Customer.Name,
		Email:         a.Customer.Email,
		Status:        a.Status,
		Access:        a.Access,
		RiskTier:      a.RiskTier,
		Policy:        a.Policy.ID(),
		Currency:      a.Customer.Currency,
		BalanceMinor:  a.Balance(),
		CreditMinor:   a.CreditMinor,
		OverdueMinor:  a.overdue(now),
		DaysPastDue:   a.daysPastDue(now),
		DunningStage:  a.DunningStage(),
		Suspensions:   []Suspension{},
		Invoices:      []InvoiceView{},
		NextBillingAt: a.NextBillingAt,
		Trusted:       a.Trusted(),
		PhoneVerified: a.PhoneVerified,
		EmailOK:       !a.EmailUndeliverable,
		Channel:       a.NoticeChannel(),
		Screening:     a.Screening,
		Reviews:       []Review{},
		UsageMinor:    a.Usage.PeriodMinor,
		Provisioning:  a.provisioningView(),
		AsOf:          now,
	}
	for _, r := range a.Reviews {
		v.Reviews = append(v.Reviews, *r)
	}
	v.AutomaticCharging = a.Collects()
	for _, s := range a.Subscriptions {
		v.Subscriptions = append(v.Subscriptions, *s)
	}
	for _, e := range a.ExemptionNames() {
		v.Exemptions = append(v.Exemptions, a.Exemptions[Exemption(e)])
	}
	v.OpenChargebacks, v.LostChargebacks = len(a.Chargebacks), a.LostChargebacks
	if c := a.Card; c != nil {
		v.Card = &CardView{Brand: c.Brand, Last4: c.Last4, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear, Blocked: string(c.Blocked), SetAt: c.SetAt}
	}
	if b := a.Budget; b != nil {
		v.Budget = &BudgetView{LimitMinor: b.LimitMinor, SpentMinor: a.Usage.PeriodMinor,
			Percent: int(a.Usage.PeriodMinor * 100 / b.LimitMinor), Percents: b.Percents, Notified: append([]int{}, b.Notified...), HardStop: b.HardStop}
	}
	for _, r := range slices.Sorted(maps.Keys(a.Suspensions)) {
		v.Suspensions = append(v.Suspensions, a.Suspensions[r])
	}
	if at, what, ok := a.NextWake(); ok {
		v.NextActionAt, v.NextAction = at, what
	}
	for _, inv := range a.Invoices {
		iv := InvoiceView{
			ID: inv.ID, Kind: inv.Kind, AmountMinor: inv.AmountMinor, PaidMinor: inv.PaidMinor,
			OutstandingMinor: inv.Outstanding(), IssuedAt: inv.IssuedAt, DueAt: inv.DueAt, Stage: inv.Stage,
			PromiseUntil: inv.PromiseUntil, Disputed: inv.Disputed, Lines: inv.Lines,
		}
		if inv.Charge != nil {
			iv.ChargeAttempts = inv.Charge.Attempts
		}
		if at, ok := a.chargeAt(inv); ok {
			iv.NextChargeAt = at
		}
		if now.After(inv.DueAt) {
			iv.DaysPastDue = a.Policy.Days(now.Sub(inv.DueAt))
		}
		switch {
		case inv.Kind == KindPrepayment:
			iv.NextStage, iv.NextActionAt = "cancel_application", inv.DueAt
		case inv.Paused():
			iv.NextActionAt = inv.PromiseUntil
		case inv.NextStep < len(a.Policy.Ladder):
			iv.NextStage, iv.NextActionAt = a.Policy.Ladder[inv.NextStep].Stage, a.stepAt(inv, inv.NextStep)
		}
		v.Invoices = append(v.Invoices, iv)
	}
	return v
}

// DunningStage is the furthest ladder stage among open invoices: "none" when
// nothing is open.
func (a *Account) DunningStage() string {
	stage, best := "none", -1
	for _, inv := range a.Invoices {
		if inv.NextStep > best {
			stage, best = inv.Stage, inv.NextStep
		}
	}
	return stage
}

// OverdueMinor is the unpaid amount past its due date (disputes excluded).
func (a *Account) OverdueMinor(now time.Time) int64 { return a.overdue(now) }

// DaysPastDue is the age in policy days of the oldest overdue invoice.
func (a *Account) DaysPastDue(now time.Time) int { return a.daysPastDue(now) }
