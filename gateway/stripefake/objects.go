package stripefake

import (
	"crypto/rand"
	"math/big"
)

// The objects below are Stripe's JSON shapes, cut to the fields the
// adapter and the worker read.

// Customer is a Stripe customer.
type Customer struct {
	ID              string            `json:"id"`
	Object          string            `json:"object"`
	Created         int64             `json:"created"`
	Name            string            `json:"name"`
	Email           string            `json:"email"`
	Metadata        map[string]string `json:"metadata"`
	InvoiceSettings InvoiceSettings   `json:"invoice_settings"`
	Livemode        bool              `json:"livemode"`
}

// InvoiceSettings holds the customer's default payment method.
type InvoiceSettings struct {
	DefaultPaymentMethod *string `json:"default_payment_method"`
}

// CardDetails is a PaymentMethod's card.
type CardDetails struct {
	Brand       string `json:"brand"`
	Last4       string `json:"last4"`
	ExpMonth    int    `json:"exp_month"`
	ExpYear     int    `json:"exp_year"`
	Fingerprint string `json:"fingerprint"`
	Funding     string `json:"funding"`
	Country     string `json:"country"`
}

// PaymentMethod is a card payment method.
type PaymentMethod struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"`
	Type     string            `json:"type"`
	Card     CardDetails       `json:"card"`
	Customer *string           `json:"customer"`
	Created  int64             `json:"created"`
	Metadata map[string]string `json:"metadata"`
	Livemode bool              `json:"livemode"`

	number string // the card number, which decides how charges go
	origin string // the test payment method this one was copied from
}

// PaymentIntent is a charge attempt.
type PaymentIntent struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	AmountReceived     int64             `json:"amount_received"`
	Currency           string            `json:"currency"`
	Customer           *string           `json:"customer"`
	PaymentMethod      *string           `json:"payment_method"`
	Status             string            `json:"status"`
	Description        *string           `json:"description"`
	Metadata           map[string]string `json:"metadata"`
	Created            int64             `json:"created"`
	CaptureMethod      string            `json:"capture_method"`
	ConfirmationMethod string            `json:"confirmation_method"`
	PaymentMethodTypes []string          `json:"payment_method_types"`
	SetupFutureUsage   *string           `json:"setup_future_usage"`
	LatestCharge       *string           `json:"latest_charge"`
	LastPaymentError   *APIError         `json:"last_payment_error"`
	ClientSecret       string            `json:"client_secret"`
	Livemode           bool              `json:"livemode"`

	// IdempotencyKey is the key of the request that created it.
	IdempotencyKey string `json:"-"`
}

// APIError is Stripe's error object (the "error" of an error body, and a
// PaymentIntent's last_payment_error).
type APIError struct {
	Type              string         `json:"type"`
	Code              string         `json:"code,omitempty"`
	DeclineCode       string         `json:"decline_code,omitempty"`
	AdviceCode        string         `json:"advice_code,omitempty"`
	NetworkAdviceCode string         `json:"network_advice_code,omitempty"`
	Message           string         `json:"message"`
	Param             string         `json:"param,omitempty"`
	Charge            string         `json:"charge,omitempty"`
	DocURL            string         `json:"doc_url,omitempty"`
	PaymentIntent     *PaymentIntent `json:"payment_intent,omitempty"`
	PaymentMethod     *PaymentMethod `json:"payment_method,omitempty"`
}

// Session is a Checkout Session.
type Session struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Mode          string            `json:"mode"`
	URL           *string           `json:"url"`
	Status        string            `json:"status"`         // open, complete, expired
	PaymentStatus string            `json:"payment_status"` // unpaid, paid
	AmountTotal   int64             `json:"amount_total"`
	Currency      string            `json:"currency"`
	Customer      *string           `json:"customer"`
	CustomerEmail *string           `json:"customer_email"`
	Locale        *string           `json:"locale"`
	SuccessURL    string            `json:"success_url"`
	CancelURL     *string           `json:"cancel_url"`
	ExpiresAt     int64             `json:"expires_at"`
	Created       int64             `json:"created"`
	Metadata      map[string]string `json:"metadata"`
	PaymentIntent *string           `json:"payment_intent"`
	Livemode      bool              `json:"livemode"`

	ProductName string            `json:"-"`
	PIMetadata  map[string]string `json:"-"` // payment_intent_data[metadata]
	SaveCard    bool              `json:"-"` // payment_intent_data[setup_future_usage]
}

// Dispute is a chargeback.
type Dispute struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Amount        int64             `json:"amount"`
	Currency      string            `json:"currency"`
	Reason        string            `json:"reason"`
	Status        string            `json:"status"` // needs_response, won, lost
	PaymentIntent string            `json:"payment_intent"`
	Charge        string            `json:"charge"`
	Created       int64             `json:"created"`
	Metadata      map[string]string `json:"metadata"`
	Livemode      bool              `json:"livemode"`
}

// list is Stripe's list envelope.
type list struct {
	Object  string `json:"object"`
	Data    any    `json:"data"`
	HasMore bool   `json:"has_more"`
	URL     string `json:"url"`
}

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID makes an ID shaped like Stripe's: a prefix and 24 characters.
func newID(prefix string) string {
	b := make([]byte, 24)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(idChars))))
		b[i] = idChars[n.Int64()]
	}
	return prefix + "_" + string(b)
}

func ptr[T any](v T) *T { return &v }

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
