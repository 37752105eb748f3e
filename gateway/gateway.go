// Package gateway is the payment gateway port: what the workflow's
// activities need of a card processor (customers, saved cards, off-session
// charges with idempotency keys, hosted pay-now pages), as plain Go types
// with no I/O of their own. The Stripe adapter (Stripe, in this package)
// implements it on stripe-go; tests run it against the local fake in
// gateway/stripefake and against stripe-mock.
package gateway

import (
	"context"
	"fmt"
	"time"
)

// Customer is the gateway's customer record for one of ours.
type Customer struct {
	CustomerID string // ours; kept in the gateway customer's metadata
	Name       string
	Email      string
	// IdempotencyKey makes creating the gateway customer safe to retry.
	IdempotencyKey string
}

// Card is a saved card (a Stripe PaymentMethod attached to a customer).
type Card struct {
	PaymentMethodID   string `json:"payment_method_id"`
	GatewayCustomerID string `json:"gateway_customer_id"`
	Brand             string `json:"brand,omitempty"`
	Last4             string `json:"last4,omitempty"`
	ExpMonth          int    `json:"exp_month,omitempty"`
	ExpYear           int    `json:"exp_year,omitempty"`
	Fingerprint       string `json:"fingerprint,omitempty"` // the same card number gives the same fingerprint
	Funding           string `json:"funding,omitempty"`     // credit, debit, prepaid, unknown
}

// ChargeRequest is one attempt to charge a saved card off-session.
type ChargeRequest struct {
	CustomerID        string // ours: metadata customer_id
	InvoiceID         string // metadata invoice_id
	Attempt           int    // 1, 2, ...: metadata attempt
	AmountMinor       int64  // in the currency's minor units (Stripe's smallest unit)
	Currency          string // ISO 4217, upper case
	GatewayCustomerID string
	PaymentMethodID   string
	// IdempotencyKey is derived from the invoice and the attempt number
	// ("<customer>:<invoice>:charge:<attempt>"): sending the same attempt
	// again can never charge twice. It is also in the metadata
	// (attempt_key), so that the attempt can be found after the gateway
	// forgot the key.
	IdempotencyKey string
	Description    string
}

// Metadata keys set on every PaymentIntent and Checkout Session.
const (
	MetaCustomerID = "customer_id"
	MetaInvoiceID  = "invoice_id"
	MetaAttempt    = "attempt"
	MetaAttemptKey = "attempt_key"
)

// Outcome is what became of a charge attempt.
type Outcome string

// Charge outcomes.
const (
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeDeclined: the card was declined; DeclineCode (or Code)
	// says why and AdviceCode what the network advises.
	OutcomeDeclined Outcome = "declined"
	// OutcomeRequiresAction: the bank wants the customer to
	// authenticate (3-D Secure); only the customer can finish it.
	OutcomeRequiresAction Outcome = "requires_action"
	// OutcomeProcessing: accepted, the result comes later (webhook).
	OutcomeProcessing Outcome = "processing"
)

// ChargeResult is the gateway's answer to a charge attempt.
type ChargeResult struct {
	PaymentIntentID string  `json:"payment_intent_id,omitempty"`
	Outcome         Outcome `json:"outcome"`
	AmountMinor     int64   `json:"amount_minor"` // received, for a success
	Currency        string  `json:"currency"`     // upper case
	// Code is the error code (card_declined, expired_card,
	// authentication_required, ...), DeclineCode the issuer's reason
	// (insufficient_funds, stolen_card, ...), AdviceCode Stripe's advice
	// (try_again_later, do_not_try_again, confirm_card_data) and
	// NetworkAdviceCode the card network's raw advice.
	Code              string `json:"code,omitempty"`
	DeclineCode       string `json:"decline_code,omitempty"`
	AdviceCode        string `json:"advice_code,omitempty"`
	NetworkAdviceCode string `json:"network_advice_code,omitempty"`
	Message           string `json:"message,omitempty"`
}

// CheckoutRequest asks for a hosted page on which the customer pays one
// invoice's outstanding amount.
type CheckoutRequest struct {
	CustomerID        string
	InvoiceID         string
	AmountMinor       int64
	Currency          string
	GatewayCustomerID string // optional: the page then saves the card for the customer
	Email             string
	Locale            string // en, ko
	SuccessURL        string
	CancelURL         string
	IdempotencyKey    string
	ExpiresAt         time.Time // zero: the gateway's default (24 h)
}

// CheckoutSession is a hosted payment page.
type CheckoutSession struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Gateway is the port. Declines are results, not errors; errors are
// failures to get an answer, typed as *Error where the gateway answered.
type Gateway interface {
	// Name is "stripe", or "none" where no gateway is configured.
	Name() string
	// EnsureCustomer creates the gateway's customer record (once per
	// idempotency key) and returns its ID.
	EnsureCustomer(ctx context.Context, c Customer) (string, error)
	// AttachCard attaches a payment method to the gateway customer
	// (attaching one already attached to that customer is not an error),
	// makes it the default for invoices, and describes the card.
	AttachCard(ctx context.Context, gatewayCustomerID, paymentMethodID string) (Card, error)
	// Charge creates and confirms an off-session PaymentIntent under the
	// request's idempotency key.
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
	// FindCharge looks for the PaymentIntent of an attempt (by its
	// attempt_key metadata among the customer's PaymentIntents), for an
	// attempt whose outcome is unknown. found is false if the gateway
	// has none.
	FindCharge(ctx context.Context, req ChargeRequest) (res ChargeResult, found bool, err error)
	// CreateCheckout creates a hosted payment page for an invoice.
	CreateCheckout(ctx context.Context, req CheckoutRequest) (CheckoutSession, error)
}

// Error is a failed request the gateway answered (or may have received).
type Error struct {
	Status     int    // HTTP status; 0 when no answer came
	Code       string // the gateway's error code, e.g. "rate_limit", "idempotency_key_in_use"
	Message    string
	Retryable  bool          // 429, 5xx, a lost connection, an idempotency key in use
	RetryAfter time.Duration // when the gateway says how long to wait
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "payment gateway: " + e.Message
	}
	return fmt.Sprintf("payment gateway: %d %s: %s", e.Status, e.Code, e.Message)
}
