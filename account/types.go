// Package account is the customer's state machine: statuses and access
// levels, invoices and their dunning ladders, payments, promises, disputes,
// suspension and termination. It is pure Go with no I/O and no clock of its
// own: every method takes the current time, and every change it makes comes
// back as Events that the workflow records and acts on.
package account

import (
	"time"

	"github.com/example/dunning/policy"
)

// Status is where the customer is in its lifecycle.
type Status string

// Statuses, as in the public contract.
const (
	StatusScreening          Status = "screening"
	StatusManualReview       Status = "manual_review"
	StatusAwaitingPrepayment Status = "awaiting_prepayment"
	StatusActive             Status = "active"
	StatusPastDue            Status = "past_due"
	StatusSuspended          Status = "suspended"
	StatusTerminated         Status = "terminated"
)

// Access is how much of the service the customer may use.
type Access string

// Access levels.
const (
	AccessNone    Access = "none"
	AccessLimited Access = "limited"
	AccessFull    Access = "full"
)

// InvoiceKind separates the reserve asked for before service from the
// periodic invoices that run the dunning ladder.
type InvoiceKind string

// Invoice kinds.
const (
	KindPrepayment   InvoiceKind = "prepayment"
	KindSubscription InvoiceKind = "subscription"
)

// InvoiceStatus is an invoice's settlement state.
type InvoiceStatus string

// Invoice statuses.
const (
	InvoiceOpen       InvoiceStatus = "open"
	InvoicePaid       InvoiceStatus = "paid"
	InvoiceVoid       InvoiceStatus = "void"
	InvoiceWrittenOff InvoiceStatus = "written_off"
)

// Suspension reasons. An account stays suspended while any reason holds.
const (
	ReasonNonPayment = "non_payment"
	ReasonManual     = "manual"
	ReasonMisuse     = "misuse"
	ReasonFraud      = "fraud"
	ReasonBudget     = "budget"
)

// StageIssued is the dunning stage of an invoice before any ladder step.
const StageIssued = "issued"

// SystemActor is the actor recorded for what the policy does on its own.
const SystemActor = "system"

// Actors of payments that arrive through the payment gateway: GatewayActor
// for the automatic charge of a card on file, PayLinkActor for what the
// customer paid themselves on a hosted pay-now page or with the gateway
// (recorded from its webhook). Any other actor of a payment is staff.
const (
	GatewayActor = "gateway"
	PayLinkActor = "pay-link"
)

// Invoice is one bill and its own dunning ladder.
type Invoice struct {
	ID          string        `json:"id"`
	Kind        InvoiceKind   `json:"kind"`
	Status      InvoiceStatus `json:"status"`
	PeriodStart time.Time     `json:"period_start"`
	PeriodEnd   time.Time     `json:"period_end"`
	IssuedAt    time.Time     `json:"issued_at"`
	DueAt       time.Time     `json:"due_at"`
	AmountMinor int64         `json:"amount_minor"`
	PaidMinor   int64         `json:"paid_minor"`
	Currency    string        `json:"currency"`
	ClosedAt    time.Time     `json:"closed_at,omitzero"`

	// Ladder position: Stage is the last step taken, NextStep the index of
	// the next one. Shift is how long the ladder has been paused in total;
	// every step's time moves by it.
	Stage    string        `json:"stage"`
	NextStep int           `json:"next_step"`
	Shift    time.Duration `json:"shift"`

	// A pause is a promise to pay (until PromiseUntil) or a dispute.
	PausedAt      time.Time `json:"paused_at,omitzero"`
	PromiseUntil  time.Time `json:"promise_until,omitzero"`
	PastDue       bool      `json:"past_due,omitempty"` // the due date has passed unpaid
	Disputed      bool      `json:"disputed,omitempty"`
	DisputeReason string    `json:"dispute_reason,omitempty"`
	ReminderSent  bool      `json:"reminder_sent,omitempty"` // prepayment reminder
	UsageMinor    int64     `json:"usage_minor,omitempty"`   // part of the amount that is metered usage
	// Lines are the subscriptions and usage items billed (accounts with
	// subscriptions only).
	Lines []InvoiceLine `json:"lines,omitempty"`
	// Charge is the automatic collection of the invoice from the card on
	// file, once the card has been charged for it.
	Charge *ChargeState `json:"charge,omitempty"`
}

// Outstanding is what is still owed on the invoice.
func (inv *Invoice) Outstanding() int64 { return inv.AmountMinor - inv.PaidMinor }

// Paused reports whether the ladder is on hold.
func (inv *Invoice) Paused() bool { return !inv.PausedAt.IsZero() }

// Suspension is one reason the account is suspended.
type Suspension struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	Actor  string    `json:"actor"`
	Note   string    `json:"note,omitempty"`
}

// PaymentRef remembers a recorded payment so that a retried RecordPayment is
// recognised.
type PaymentRef struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
	Seq         int    `json:"seq,omitempty"` // event sequence when recorded: the oldest is forgotten first
}

// Account is the whole state of one customer. It is what the workflow carries
// across continue-as-new, so every field is exported and JSON-friendly.
type Account struct {
	Customer Application `json:"customer"`
	// Policy is the customer's policy version. Since the workflow's lean
	// version it is the registry's shared copy and a continued run
	// carries only PolicyID and PolicyHash, finding it again by them
	// (published versions never change); older runs carry it whole.
	Policy     *policy.Policy `json:"policy,omitempty"`
	PolicyID   string         `json:"policy_id,omitempty"`
	PolicyHash string         `json:"policy_hash,omitempty"`
	RiskTier   string         `json:"risk_tier"`
	Status     Status         `json:"status"`
	Access     Access         `json:"access"`

	StartedAt     time.Time             `json:"started_at"`
	ActivatedAt   time.Time             `json:"activated_at,omitzero"`
	NextBillingAt time.Time             `json:"next_billing_at,omitzero"`
	TerminatedAt  time.Time             `json:"terminated_at,omitzero"`
	Suspensions   map[string]Suspension `json:"suspensions,omitempty"`

	Invoices    []*Invoice            `json:"invoices"` // open invoices only, oldest first
	InvoiceSeq  int                   `json:"invoice_seq"`
	CreditMinor int64                 `json:"credit_minor"`
	Payments    map[string]PaymentRef `json:"payments"`

	OnTimeInvoices int  `json:"on_time_invoices"`
	PhoneVerified  bool `json:"phone_verified"`

	Screening          *Screening        `json:"screening,omitempty"`
	Phone              Phone             `json:"phone"`
	Reviews            []*Review         `json:"reviews,omitempty"` // open reviews
	ReviewSeq          int               `json:"review_seq"`
	AbuseNotices       map[string]string `json:"abuse_notices,omitempty"` // notice_id -> review id
	Budget             *BudgetState      `json:"budget,omitempty"`
	Usage              UsageState        `json:"usage"`
	EmailUndeliverable bool              `json:"email_undeliverable,omitempty"`
	Provisioning       Provisioning      `json:"provisioning,omitzero"`

	// Card is the card on file at the payment gateway; Collecting turns on
	// charging it (workflow version card-collection) where the policy has
	// a collection block.
	Card       *CardOnFile `json:"card,omitempty"`
	Collecting bool        `json:"collecting,omitempty"`
	// Chargebacks are the chargebacks still open, by dispute ID;
	// LostChargebacks counts those the customer's bank won.
	Chargebacks     map[string]ChargebackRef `json:"chargebacks,omitempty"`
	LostChargebacks int                      `json:"lost_chargebacks,omitempty"`

	// Durable turns on the rules of workflow version durable-effects:
	// the idempotency keys the account remembers are capped (older ones
	// are looked up in PostgreSQL), and losing full access is provisioned
	// as well as gaining it. Older runs replay without them.
	Durable bool `json:"durable,omitempty"`
	// ForgotPayments and ForgotUsage are set once keys of that kind have
	// been forgotten: from then on an unknown key is looked up.
	ForgotPayments bool `json:"forgot_payments,omitempty"`
	ForgotUsage    bool `json:"forgot_usage,omitempty"`

	// Subscribed turns on subscriptions (workflow version subscriptions):
	// Subscriptions are billed line by line and suspended one by one.
	Subscribed    bool            `json:"subscribed,omitempty"`
	Subscriptions []*Subscription `json:"subscriptions,omitempty"`
	// RetiredSubscriptions are the IDs of cancelled subscriptions no open
	// invoice bills any more, dropped at continue-as-new: an ID is never
	// used twice.
	RetiredSubscriptions []string `json:"retired_subscriptions,omitempty"`
	// Exemptions are the account controls staff set, by kind.
	Exemptions map[Exemption]ExemptionState `json:"exemptions,omitempty"`

	// EventSeq numbers events so that every audit record has a stable
	// idempotency key across retries and continue-as-new.
	EventSeq int `json:"event_seq"`
}

// Event is one recorded change, and what must happen because of it.
type Event struct {
	Key       string            `json:"key"` // "<customer_id>/<seq>", unique per change
	At        time.Time         `json:"at"`
	Type      EventType         `json:"type"` // e.g. EventInvoiceIssued, "dunning.overdue_1"
	Actor     string            `json:"actor"`
	Reason    string            `json:"reason,omitempty"`
	InvoiceID string            `json:"invoice_id,omitempty"`
	Invoice   *Invoice          `json:"invoice,omitempty"` // the invoice's state after the change
	Detail    map[string]string `json:"detail,omitempty"`

	Notice    *Notice          `json:"notice,omitempty"`    // an email to the customer
	Provision Provision        `json:"provision,omitempty"` // ProvisionSuspend, ...
	Payment   *RecordedPayment `json:"payment,omitempty"`
	WriteOff  *WriteOff        `json:"write_off,omitempty"`
	Usage     *UsageRecord     `json:"usage,omitempty"`
	Review    *Review          `json:"review,omitempty"` // the review's state after the change
	Charge    *ChargeRequest   `json:"charge,omitempty"` // a card charge to send through the gateway
	// Subscriptions are the subscriptions the change affects (and that
	// Provision acts on), for accounts with subscriptions.
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// Notice is an email to send. Key is the dunning_key: one message per key,
// ever. The data is a snapshot so that every retry renders the same mail.
type Notice struct {
	Key          string    `json:"key"`
	Template     string    `json:"template"`
	Stage        string    `json:"stage"`
	InvoiceID    string    `json:"invoice_id,omitempty"`
	AmountMinor  int64     `json:"amount_minor"` // outstanding on the invoice, or the balance
	Currency     string    `json:"currency"`
	DueAt        time.Time `json:"due_at,omitzero"`
	DaysOverdue  int       `json:"days_overdue"`
	DeadlineAt   time.Time `json:"deadline_at,omitzero"` // suspension, termination or cancellation date
	BalanceMinor int64     `json:"balance_minor"`
	Reference    string    `json:"reference"` // what to quote with the payment
	// Detail carries what some templates need besides the above, e.g.
	// "percent" and "limit_minor" for budget notices. Keys ending in _minor
	// are amounts in the notice's currency.
	Detail map[string]string `json:"detail,omitempty"`
	// Staff marks an alert for the billing team rather than the customer.
	Staff bool `json:"staff,omitempty"`
}

// RecordedPayment is a payment and where its money went.
type RecordedPayment struct {
	PaymentID   string       `json:"payment_id"`
	AmountMinor int64        `json:"amount_minor"`
	Currency    string       `json:"currency"`
	Method      string       `json:"method"`
	Reference   string       `json:"reference,omitempty"`
	Allocations []Allocation `json:"allocations"`
	CreditMinor int64        `json:"credit_minor"` // part of the payment kept as credit
	// ForInvoice is the invoice the payment was made for (a card charge's,
	// a pay-now page's), paid first.
	ForInvoice string `json:"for_invoice,omitempty"`
}

// Allocation is the part of a payment applied to one invoice.
type Allocation struct {
	InvoiceID   string `json:"invoice_id"`
	AmountMinor int64  `json:"amount_minor"`
}

// WriteOff is unpaid money given up on and handed to collections.
type WriteOff struct {
	InvoiceIDs  []string `json:"invoice_ids"`
	AmountMinor int64    `json:"amount_minor"`
	Currency    string   `json:"currency"`
	Collections bool     `json:"collections"` // exported to the collections agency
}
