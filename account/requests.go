package account

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/example/dunning/money"
)

var (
	keyPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)
	actorPattern = regexp.MustCompile(`^[^\x00-\x1f]{1,100}$`)
)

func checkKey(field, v string) error {
	if !keyPattern.MatchString(v) {
		return fmt.Errorf("%s %q must be 1-128 letters, digits, '.', '_', ':' or '-'", field, v)
	}
	return nil
}

func checkActor(actor string) error {
	if !actorPattern.MatchString(actor) {
		return fmt.Errorf("actor is required (who is doing this, at most 100 characters)")
	}
	return nil
}

func checkText(field, v string, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is required", field)
	}
	if len(v) > 1000 {
		return fmt.Errorf("%s is longer than 1000 characters", field)
	}
	return nil
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
	return checkText("reference", p.Reference, false)
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
	return checkText("note", s.Note, false)
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
	if err := checkActor(p.Actor); err != nil {
		return err
	}
	return checkText("note", p.Note, false)
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
	if err := checkText("reason", d.Reason, true); err != nil {
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
	return checkText("note", r.Note, false)
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
