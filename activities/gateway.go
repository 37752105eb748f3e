package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/store"
)

// Error types of the gateway activities that the workflow tells apart.
const (
	// ErrNoGateway: no payment gateway is configured (STRIPE_API_KEY).
	ErrNoGateway = "NoPaymentGateway"
	// ErrCardRefused: the gateway refused the card for good (it does not
	// exist, belongs to someone else, cannot be saved).
	ErrCardRefused = "CardRefused"
)

// ChargeInput is one charge attempt of a customer's invoice.
type ChargeInput struct {
	CustomerID string                `json:"customer_id"`
	Request    account.ChargeRequest `json:"request"`
}

// Charge charges the card on file once for the attempt. The attempt is
// written to the charge_attempts ledger before anything is sent, under the
// gateway idempotency key derived from the invoice and attempt number; a
// retry (a timeout, a worker killed after the request) first looks the
// attempt's PaymentIntent up, then sends the same key again, which the
// gateway answers with the original result: one attempt is never two
// charges. Declines are results; only failures to get an answer are errors,
// retried by Temporal.
func (a *Activities) Charge(ctx context.Context, in ChargeInput) (account.ChargeOutcome, error) {
	if a.Gateway == nil {
		return account.ChargeOutcome{}, temporal.NewNonRetryableApplicationError("no payment gateway is configured", ErrNoGateway, nil)
	}
	r := in.Request
	row, err := a.Store.ClaimCharge(ctx, store.ChargeAttempt{
		CustomerID: in.CustomerID, InvoiceID: r.InvoiceID, Attempt: r.Attempt, IdempotencyKey: r.Key,
		AmountMinor: r.AmountMinor, Currency: r.Currency, PaymentMethodID: r.PaymentMethodID, Trigger: r.Trigger,
	})
	if err != nil {
		return account.ChargeOutcome{}, err
	}
	req := gateway.ChargeRequest{
		CustomerID: in.CustomerID, InvoiceID: r.InvoiceID, Attempt: r.Attempt, AmountMinor: row.AmountMinor, Currency: row.Currency,
		GatewayCustomerID: r.GatewayCustomerID, PaymentMethodID: row.PaymentMethodID, IdempotencyKey: r.Key,
		Description: "Invoice " + r.InvoiceID,
	}
	if row.Status != store.ChargePending {
		return settledOutcome(r, row), nil // answered before: the ledger is the record
	}
	if row.Requests > 0 {
		// Sent before and never answered: the gateway may have charged.
		res, found, err := a.Gateway.FindCharge(ctx, req)
		if err != nil {
			return account.ChargeOutcome{}, gatewayFailure(err)
		}
		if found {
			return a.settleCharge(ctx, r, res)
		}
	}
	if err := a.Store.ChargeSent(ctx, r.Key); err != nil {
		return account.ChargeOutcome{}, err
	}
	res, err := a.Gateway.Charge(ctx, req)
	if err != nil {
		return account.ChargeOutcome{}, gatewayFailure(err)
	}
	return a.settleCharge(ctx, r, res)
}

func (a *Activities) settleCharge(ctx context.Context, r account.ChargeRequest, res gateway.ChargeResult) (account.ChargeOutcome, error) {
	o := account.ChargeOutcome{
		Key: r.Key, InvoiceID: r.InvoiceID, Attempt: r.Attempt, Outcome: string(res.Outcome), PaymentIntentID: res.PaymentIntentID,
		AmountMinor: res.AmountMinor, Currency: res.Currency, Code: res.Code, DeclineCode: res.DeclineCode,
		AdviceCode: res.AdviceCode, NetworkAdviceCode: res.NetworkAdviceCode, Message: res.Message,
	}
	if o.Currency == "" {
		o.Currency = r.Currency
	}
	if err := a.Store.SettleCharge(ctx, r.Key, o); err != nil {
		// The gateway answered; the next try finds the PaymentIntent.
		return account.ChargeOutcome{}, fmt.Errorf("charge %s answered %s but not recorded: %w", r.Key, o.Outcome, err)
	}
	a.Logger.Info("card charged", "key", r.Key, "outcome", o.Outcome, "decline_code", o.DeclineCode, "payment_intent", o.PaymentIntentID)
	return o, nil
}

func settledOutcome(r account.ChargeRequest, row store.ChargeAttempt) account.ChargeOutcome {
	return account.ChargeOutcome{
		Key: r.Key, InvoiceID: r.InvoiceID, Attempt: r.Attempt, Outcome: row.Status, PaymentIntentID: row.PaymentIntentID.String,
		AmountMinor: row.AmountMinor, Currency: row.Currency, Code: row.Code, DeclineCode: row.DeclineCode,
		AdviceCode: row.AdviceCode, NetworkAdviceCode: row.NetworkAdviceCode, Message: row.Message,
	}
}

// gatewayFailure makes a gateway error retryable or not, waiting as long as
// the gateway asks. A request the gateway refused outright (bad
// parameters, a key reused with other parameters) is not retried: the
// workflow records it as a decline.
func gatewayFailure(err error) error {
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Retryable {
		opts := temporal.ApplicationErrorOptions{Cause: err}
		if ge != nil && ge.RetryAfter > 0 {
			opts.NextRetryDelay = ge.RetryAfter
		}
		return temporal.NewApplicationErrorWithOptions(err.Error(), "GatewayUnavailable", opts)
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrCardRefused, err)
}

// AttachCardInput asks to save a card for a customer at the gateway.
type AttachCardInput struct {
	CustomerID      string `json:"customer_id"`
	Name            string `json:"name"`
	Email           string `json:"email"`
	PaymentMethodID string `json:"payment_method_id"`
}

// AttachCard creates the customer at the gateway once (remembered in
// gateway_customers) and attaches the card to it.
func (a *Activities) AttachCard(ctx context.Context, in AttachCardInput) (account.CardOnFile, error) {
	if a.Gateway == nil {
		return account.CardOnFile{}, temporal.NewNonRetryableApplicationError("no payment gateway is configured: cards cannot be saved", ErrNoGateway, nil)
	}
	gcID, ok, err := a.Store.GatewayCustomer(ctx, in.CustomerID)
	if err != nil {
		return account.CardOnFile{}, err
	}
	if !ok {
		gcID, err = a.Gateway.EnsureCustomer(ctx, gateway.Customer{CustomerID: in.CustomerID, Name: in.Name, Email: in.Email,
			IdempotencyKey: in.CustomerID + ":gateway-customer"})
		if err != nil {
			return account.CardOnFile{}, gatewayFailure(err)
		}
		if err := a.Store.SaveGatewayCustomer(ctx, in.CustomerID, a.Gateway.Name(), gcID); err != nil {
			return account.CardOnFile{}, err
		}
	}
	card, err := a.Gateway.AttachCard(ctx, gcID, in.PaymentMethodID)
	if err != nil {
		return account.CardOnFile{}, gatewayFailure(err)
	}
	return account.CardOnFile{PaymentMethodID: card.PaymentMethodID, GatewayCustomerID: gcID, Brand: card.Brand, Last4: card.Last4,
		ExpMonth: card.ExpMonth, ExpYear: card.ExpYear}, nil
}

// LookupInvoiceInput names one invoice of a customer.
type LookupInvoiceInput struct {
	CustomerID string `json:"customer_id"`
	InvoiceID  string `json:"invoice_id"`
}

// LookupInvoice reads an invoice the workflow has closed (a chargeback on a
// paid invoice reopens it). A missing invoice is a nil result.
func (a *Activities) LookupInvoice(ctx context.Context, in LookupInvoiceInput) (*account.Invoice, error) {
	inv, ok, err := a.Store.Invoice(ctx, in.CustomerID, in.InvoiceID)
	if err != nil || !ok {
		return nil, err
	}
	return &inv, nil
}

// noPayLink are the customer notices about an invoice that ask for no
// payment: the account is closed.
var noPayLink = map[string]bool{"terminated": true, "misuse_terminated": true, "application_cancelled": true}

// payLinkWait is how long a notice waits for its pay-now page when the
// gateway is away (from its first attempt, whatever else made it retry);
// after that the email goes without the button (it still names the
// reference to pay by transfer).
const payLinkWait = 10 * time.Minute

// withPayLink adds the invoice's pay-now page to a customer notice about an
// invoice with money owed, where a gateway is configured.
func (a *Activities) withPayLink(ctx context.Context, r Recipient, n account.Notice) (account.Notice, error) {
	if a.Gateway == nil || n.Staff || n.InvoiceID == "" || n.AmountMinor <= 0 || noPayLink[n.Template] {
		return n, nil
	}
	url, err := a.payLink(ctx, r, n)
	if err != nil {
		if time.Since(activity.GetInfo(ctx).ScheduledTime) < payLinkWait {
			return n, fmt.Errorf("pay-now page for %s: %w", n.InvoiceID, err)
		}
		a.Logger.Warn("sending without a pay-now page", "key", n.Key, "error", err)
		return n, nil
	}
	detail := maps.Clone(n.Detail)
	if detail == nil {
		detail = map[string]string{}
	}
	detail[mail.PayURLDetail] = url
	n.Detail = detail
	return n, nil
}

// payLinkMinValidity is how long a cached pay-now page must still be valid
// to go into a new email; a new one lives the gateway's maximum (24 h).
const (
	payLinkMinValidity = 6 * time.Hour
	payLinkLife        = 24 * time.Hour
)

// payLink returns the hosted payment page for a notice's invoice and
// outstanding amount, cached per invoice and amount.
func (a *Activities) payLink(ctx context.Context, r Recipient, n account.Notice) (string, error) {
	now := time.Now()
	cached, ok, err := a.Store.ValidPayLink(ctx, r.CustomerID, n.InvoiceID, n.AmountMinor, now.Add(payLinkMinValidity))
	if err != nil || ok {
		return cached.URL, err
	}
	gcID, _, err := a.Store.GatewayCustomer(ctx, r.CustomerID)
	if err != nil {
		return "", err
	}
	// One key per invoice, amount and half day: a retry gets the same page.
	bucket := now.Truncate(12 * time.Hour).Unix()
	s, err := a.Gateway.CreateCheckout(ctx, gateway.CheckoutRequest{
		CustomerID: r.CustomerID, InvoiceID: n.InvoiceID, AmountMinor: n.AmountMinor, Currency: n.Currency,
		GatewayCustomerID: gcID, Email: r.Email, Locale: r.Locale,
		SuccessURL: a.PayReturnURL + "?paid=" + n.InvoiceID, CancelURL: a.PayReturnURL,
		IdempotencyKey: fmt.Sprintf("%s:%s:paylink:%d:%d", r.CustomerID, n.InvoiceID, n.AmountMinor, bucket),
		ExpiresAt:      now.Add(payLinkLife),
	})
	if err != nil {
		return "", err
	}
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = now.Add(payLinkLife)
	}
	err = a.Store.SavePayLink(ctx, store.PayLink{SessionID: s.ID, CustomerID: r.CustomerID, InvoiceID: n.InvoiceID,
		AmountMinor: n.AmountMinor, Currency: n.Currency, URL: s.URL, ExpiresAt: s.ExpiresAt})
	return s.URL, err
}
