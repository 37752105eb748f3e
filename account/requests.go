package account

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/dunning/money"
)

var (
	keyPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)
	categoryPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

func checkKey(field, v string) error {
	if !keyPattern.MatchString(v) {
		return fmt.Errorf("%s %q must be 1-128 letters, digits, '.', '_', ':' or '-'", field, v)
	}
	return nil
}

func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" || utf8.RuneCountInString(actor) > MaxActorRunes {
		return fmt.Errorf("actor is required (who is doing this, at most %d characters)", MaxActorRunes)
	}
	if p := TextProblem(actor, false); p != "" {
		return fmt.Errorf("actor %s: only %s is allowed", p, allowedText(false))
	}
	return nil
}

// checkOptionalActor checks an actor that the caller may leave out (the
// system or the source is then the actor).
func checkOptionalActor(actor string) error {
	if actor == "" {
		return nil
	}
	return checkActor(actor)
}

// checkText checks single-line text such as a reason or a reference.
func checkText(field, v string, required bool) error {
	return CheckText(field, v, MaxTextBytes, false, required)
}

// checkNote checks multi-line free text such as a note or a detail.
func checkNote(field, v string, required bool) error {
	return CheckText(field, v, MaxTextBytes, true, required)
}

// Payment methods accepted by RecordPayment.
var paymentMethods = map[string]bool{"card": true, "bank_transfer": true, "direct_debit": true, "cash": true, "check": true, "other": true}

// Payment is the RecordPayment update.
type Payment struct {
	PaymentID   string `json:"payment_id"` // idempotency key
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
	Method      string `json:"method"`
	Reference   string `json:"reference,omitempty"`
	Actor       string `json:"actor,omitempty"`
}

// Validate checks the payment on its own, without the account.
func (p Payment) Validate() error {
	if err := checkKey("payment_id", p.PaymentID); err != nil {
		return err
	}
	if err := money.ValidatePositive("amount_minor", p.AmountMinor); err != nil {
		return err
	}
	if _, err := money.LookupCurrency(p.Currency); err != nil {
		return err
	}
	if !paymentMethods[p.Method] {
		return fmt.Errorf("method %q must be one of bank_transfer, card, cash, check, direct_debit, other", p.Method)
	}
	if err := checkText("reference", p.Reference, false); err != nil {
		return err
	}
	return checkOptionalActor(p.Actor)
}

// PaymentResult says what a payment did.
type PaymentResult struct {
	PaymentID    string       `json:"payment_id"`
	Duplicate    bool         `json:"duplicate"` // already recorded: nothing changed
	Allocations  []Allocation `json:"allocations"`
	CreditMinor  int64        `json:"credit_minor"`  // account credit after the payment
	BalanceMinor int64        `json:"balance_minor"` // still owed after the payment
	Status       Status       `json:"status"`
}

// StaffAction is the Suspend, Reinstate and Terminate updates.
type StaffAction struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	Note   string `json:"note,omitempty"`
}

// Validate checks who and why.
func (s StaffAction) Validate() error {
	if err := checkActor(s.Actor); err != nil {
		return err
	}
	if err := checkText("reason", s.Reason, true); err != nil {
		return err
	}
	return checkNote("note", s.Note, false)
}

// Promise is the PromiseToPay update.
type Promise struct {
	InvoiceID string    `json:"invoice_id"`
	Until     time.Time `json:"until"`
	Actor     string    `json:"actor"`
	Note      string    `json:"note,omitempty"`
}

// Validate checks the promise on its own.
func (p Promise) Validate() error {
	if err := checkKey("invoice_id", p.InvoiceID); err != nil {
		return err
	}
	if p.Until.IsZero() {
		return fmt.Errorf("until is required (RFC 3339 time, e.g. 2026-12-01T00:00:00Z)")
	}
	if err := CheckTime("until", p.Until); err != nil {
		return err
	}
	if err := checkActor(p.Actor); err != nil {
		return err
	}
	return checkNote("note", p.Note, false)
}

// Dispute is the DisputeInvoice update.
type Dispute struct {
	InvoiceID string `json:"invoice_id"`
	Reason    string `json:"reason"`
	Actor     string `json:"actor"`
}

// Validate checks the dispute on its own.
func (d Dispute) Validate() error {
	if err := checkKey("invoice_id", d.InvoiceID); err != nil {
		return err
	}
	if err := checkNote("reason", d.Reason, true); err != nil {
		return err
	}
	return checkActor(d.Actor)
}

// Dispute outcomes.
const (
	OutcomeUpheld   = "upheld"   // the invoice stands; the ladder resumes
	OutcomeVoided   = "voided"   // the invoice is cancelled
	OutcomeAdjusted = "adjusted" // the invoice amount is lowered to AmountMinor
)

// Resolution is the ResolveDispute update.
type Resolution struct {
	InvoiceID   string `json:"invoice_id"`
	Outcome     string `json:"outcome"`
	AmountMinor int64  `json:"amount_minor,omitempty"` // new amount, for "adjusted"
	Actor       string `json:"actor"`
	Note        string `json:"note,omitempty"`
}

// Validate checks the resolution on its own.
func (r Resolution) Validate() error {
	if err := checkKey("invoice_id", r.InvoiceID); err != nil {
		return err
	}
	switch r.Outcome {
	case OutcomeUpheld, OutcomeVoided:
		if r.AmountMinor != 0 {
			return fmt.Errorf("amount_minor is only for outcome adjusted")
		}
	case OutcomeAdjusted:
		if err := money.ValidatePositive("amount_minor", r.AmountMinor); err != nil {
			return err
		}
	default:
		return fmt.Errorf("outcome %q must be one of upheld, voided, adjusted", r.Outcome)
	}
	if err := checkActor(r.Actor); err != nil {
		return err
	}
	return checkNote("note", r.Note, false)
}

// InvoiceAction is the WriteOff update.
type InvoiceAction struct {
	InvoiceID string `json:"invoice_id"`
	Actor     string `json:"actor"`
	Reason    string `json:"reason"`
}

// Validate checks the request on its own.
func (w InvoiceAction) Validate() error {
	if err := checkKey("invoice_id", w.InvoiceID); err != nil {
		return err
	}
	if err := checkActor(w.Actor); err != nil {
		return err
	}
	return checkText("reason", w.Reason, true)
}

// PhoneCode is the VerifyPhone update: the code the customer got by SMS.
type PhoneCode struct {
	Code string `json:"code"`
}

// Validate checks the code's form.
func (p PhoneCode) Validate() error {
	if len(p.Code) != 6 || strings.Trim(p.Code, "0123456789") != "" {
		return fmt.Errorf("code must be the 6 digits sent by SMS")
	}
	return nil
}

// CodeRequest is the RequestPhoneCode update: send a new verification code.
type CodeRequest struct {
	Actor string `json:"actor,omitempty"`
}

// Validate checks the request's form.
func (c CodeRequest) Validate() error { return checkOptionalActor(c.Actor) }

// AbuseReport is the ReportAbuse update: a complaint, a provider enforcement
// notice, or a monitoring hit.
type AbuseReport struct {
	NoticeID string    `json:"notice_id"`          // idempotency key, e.g. the provider's notice number
	Category string    `json:"category"`           // spam, hacking, ddos, crypto_mining, malware, piracy_resale, other
	Source   string    `json:"source"`             // provider, monitoring, complaint, staff
	Detail   string    `json:"detail"`             // what was seen
	Severity Severity  `json:"severity,omitempty"` // severe, moderate, minor; empty: the category's
	Deadline time.Time `json:"deadline,omitzero"`  // a provider's own response deadline, if earlier than ours
	Actor    string    `json:"actor,omitempty"`
	// SubscriptionID names the subscription misused: a report that is
	// not minor suspends it at once; a severe one suspends them all.
	SubscriptionID string `json:"subscription_id,omitempty"`
}

// Abuse report sources.
var abuseSources = map[string]bool{SourceProvider: true, SourceMonitoring: true, SourceComplaint: true, SourceStaff: true}

// Validate checks the report's form; the category is checked against the
// risk configuration by the workflow.
func (r AbuseReport) Validate() error {
	if err := checkKey("notice_id", r.NoticeID); err != nil {
		return err
	}
	if !abuseSources[r.Source] {
		return fmt.Errorf("source %q must be one of provider, monitoring, complaint, staff", r.Source)
	}
	if r.Severity != "" && !r.Severity.Valid() {
		return fmt.Errorf("severity %q must be severe, moderate or minor", r.Severity)
	}
	if !categoryPattern.MatchString(r.Category) {
		return fmt.Errorf("category %q must be a misuse category such as spam, hacking, ddos, crypto_mining, malware, piracy_resale or other", r.Category)
	}
	if !r.Deadline.IsZero() {
		if err := CheckTime("deadline", r.Deadline); err != nil {
			return err
		}
	}
	if err := checkNote("detail", r.Detail, true); err != nil {
		return err
	}
	if r.SubscriptionID != "" {
		if err := checkKey("subscription_id", r.SubscriptionID); err != nil {
			return err
		}
	}
	return checkOptionalActor(r.Actor)
}

// Review decisions.
const (
	DecisionApprove   = "approve"   // onboarding review: approve (prepayment as screening said)
	DecisionReject    = "reject"    // onboarding review: reject the application
	DecisionReinstate = "reinstate" // misuse review: no misuse found, reinstate
	DecisionTerminate = "terminate" // misuse review: misuse confirmed, terminate
)

// Decision is the ReviewDecision update.
type Decision struct {
	ReviewID string `json:"review_id,omitempty"` // empty: the only open review
	Decision string `json:"decision"`
	Actor    string `json:"actor"`
	Note     string `json:"note,omitempty"`
}

// Validate checks the decision's form.
func (d Decision) Validate() error {
	switch d.Decision {
	case DecisionApprove, DecisionReject, DecisionReinstate, DecisionTerminate:
	default:
		return fmt.Errorf("decision %q must be one of approve, reject, reinstate, terminate", d.Decision)
	}
	if d.ReviewID != "" {
		if err := checkKey("review_id", d.ReviewID); err != nil {
			return err
		}
	}
	if err := checkActor(d.Actor); err != nil {
		return err
	}
	return checkNote("note", d.Note, false)
}

// Budget is the SetBudget update: a monthly spending limit on usage.
type Budget struct {
	LimitMinor     int64  `json:"limit_minor"`     // 0 removes the budget
	NoticePercents []int  `json:"notice_percents"` // e.g. [50, 80, 100]; empty: 80 and 100
	HardStop       bool   `json:"hard_stop"`       // suspend when usage reaches the limit
	Actor          string `json:"actor,omitempty"`
}

// Validate checks the budget's form.
func (b Budget) Validate() error {
	if b.LimitMinor != 0 {
		if err := money.ValidatePositive("limit_minor", b.LimitMinor); err != nil {
			return err
		}
	}
	prev := 0
	for _, p := range b.NoticePercents {
		if p < 1 || p > 100 || p <= prev {
			return fmt.Errorf("notice_percents must rise, each from 1 to 100: %v", b.NoticePercents)
		}
		prev = p
	}
	return checkOptionalActor(b.Actor)
}

// Usage is the ReportUsage update: metered consumption to bill.
type Usage struct {
	UsageID     string `json:"usage_id"` // idempotency key
	AmountMinor int64  `json:"amount_minor"`
	Description string `json:"description,omitempty"`
}

// Validate checks the usage's form.
func (u Usage) Validate() error {
	if err := checkKey("usage_id", u.UsageID); err != nil {
		return err
	}
	if err := money.ValidatePositive("amount_minor", u.AmountMinor); err != nil {
		return err
	}
	return checkNote("description", u.Description, false)
}

// Bounce is the EmailUndeliverable signal from the SendGrid event webhook.
type Bounce struct {
	MessageKey string `json:"message_key"`
	Event      string `json:"event"` // bounce, dropped, spamreport
	Reason     string `json:"reason"`
}

// Card sources (CardUpdate.Source).
const (
	CardFromStaff   = "staff"   // staff or the customer's portal, through the API or CLI
	CardFromGateway = "gateway" // the gateway's payment_method.attached event
)

var paymentMethodPattern = regexp.MustCompile(`^(pm|card|src)_[A-Za-z0-9_]{1,120}$`)

// CardUpdate is the SetPaymentMethod update: a new card on file, as the
// gateway's payment method ID (collected by the gateway's own page, so no
// card number ever reaches this system). The workflow attaches it to the
// customer at the gateway and retries what is overdue at once.
type CardUpdate struct {
	PaymentMethodID string `json:"payment_method_id"`
	Source          string `json:"source,omitempty"` // staff (default) or gateway
	Actor           string `json:"actor,omitempty"`
}

// Validate checks the update's form.
func (c CardUpdate) Validate() error {
	if !paymentMethodPattern.MatchString(c.PaymentMethodID) {
		return fmt.Errorf("payment_method_id %q must be a gateway payment method ID (pm_ and letters, digits or underscores), never a card number", c.PaymentMethodID)
	}
	if c.Source != "" && c.Source != CardFromStaff && c.Source != CardFromGateway {
		return fmt.Errorf("source %q must be staff or gateway", c.Source)
	}
	return checkOptionalActor(c.Actor)
}

// Chargeback is the RecordChargeback update: the customer's bank took a
// card payment back (Stripe's charge.dispute.created). The invoice it paid
// is disputed (reopened if it was paid) and a fraud review opened.
type Chargeback struct {
	DisputeID   string `json:"dispute_id"` // the gateway's dispute ID: the idempotency key
	PaymentID   string `json:"payment_id"` // the payment taken back (the PaymentIntent ID)
	InvoiceID   string `json:"invoice_id"` // the invoice it paid
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
	Reason      string `json:"reason"` // the bank's reason, e.g. fraudulent, product_not_received
	Actor       string `json:"actor,omitempty"`
}

// Validate checks the chargeback's form.
func (c Chargeback) Validate() error {
	for _, k := range []struct{ field, v string }{{"dispute_id", c.DisputeID}, {"payment_id", c.PaymentID}, {"invoice_id", c.InvoiceID}} {
		if err := checkKey(k.field, k.v); err != nil {
			return err
		}
	}
	if err := money.ValidatePositive("amount_minor", c.AmountMinor); err != nil {
		return err
	}
	if _, err := money.LookupCurrency(c.Currency); err != nil {
		return err
	}
	if err := checkText("reason", c.Reason, true); err != nil {
		return err
	}
	return checkOptionalActor(c.Actor)
}

// Chargeback outcomes (ChargebackClosure.Outcome).
const (
	ChargebackWon  = "won"  // the money came back: the invoice is paid again
	ChargebackLost = "lost" // the money is gone: the invoice is owed again and counts against the customer
)

// ChargebackClosure is the CloseChargeback update (Stripe's
// charge.dispute.closed).
type ChargebackClosure struct {
	DisputeID string `json:"dispute_id"`
	Outcome   string `json:"outcome"`
	Actor     string `json:"actor,omitempty"`
}

// Validate checks the closure's form.
func (c ChargebackClosure) Validate() error {
	if err := checkKey("dispute_id", c.DisputeID); err != nil {
		return err
	}
	if c.Outcome != ChargebackWon && c.Outcome != ChargebackLost {
		return fmt.Errorf("outcome %q must be won or lost", c.Outcome)
	}
	return checkOptionalActor(c.Actor)
}
