package stripeevents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stripe/stripe-go/v84"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway"
)

// plan is what to do with one event: call the notifier for the customer
// (outcome is then what a successful call did), or nothing (outcome says
// why), or nothing yet (waitFor says what must be processed first).
type plan struct {
	customerID string
	call       func(context.Context, Notifier) error
	outcome    string
	waitFor    string
	warn       bool // nothing to do, and staff should hear of it
}

func done(outcome string) plan { return plan{outcome: outcome} }

// planEvent decides what an event needs, looking up in PostgreSQL the
// customer it concerns and whatever it must wait for. An error is a
// failure to look; the event is then retried.
func planEvent(ctx context.Context, tx *sqlx.Tx, ev stripe.Event, created time.Time) (plan, error) {
	if ev.Data == nil {
		return done(OutcomeIgnored), nil
	}
	obj := ev.Data.Raw
	switch ev.Type {
	case TypePaymentSucceeded:
		var pi stripe.PaymentIntent
		if json.Unmarshal(obj, &pi) != nil {
			return plan{outcome: OutcomeUnreadable, warn: true}, nil
		}
		actor := account.PayLinkActor
		if pi.Metadata[gateway.MetaAttemptKey] != "" {
			actor = account.GatewayActor // our own off-session charge
		}
		return paymentPlan(pi.ID, pi.AmountReceived, pi.Currency, pi.Metadata, actor), nil
	case TypeCheckoutCompleted:
		var cs stripe.CheckoutSession
		if json.Unmarshal(obj, &cs) != nil {
			return plan{outcome: OutcomeUnreadable, warn: true}, nil
		}
		// Unpaid: an asynchronous method, whose own event comes later.
		if cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid || cs.PaymentIntent == nil || cs.PaymentIntent.ID == "" {
			return done(OutcomeIgnored), nil
		}
		return paymentPlan(cs.PaymentIntent.ID, cs.AmountTotal, cs.Currency, cs.Metadata, account.PayLinkActor), nil
	case TypeCardAttached:
		return cardPlan(ctx, tx, obj, created)
	case TypeDisputeCreated:
		return disputeCreatedPlan(ctx, tx, obj)
	case TypeDisputeClosed:
		return disputeClosedPlan(ctx, tx, obj)
	case TypePaymentFailed:
		return done(OutcomeRecorded), nil
	}
	return done(OutcomeIgnored), nil
}

// paymentPlan records a card payment. The same PaymentIntent may come
// through both payment_intent.succeeded and checkout.session.completed: the
// payment ID is the PaymentIntent's, so the second is a duplicate no-op.
func paymentPlan(intentID string, amount int64, currency stripe.Currency, meta map[string]string, actor string) plan {
	customerID := meta[gateway.MetaCustomerID]
	if customerID == "" {
		return plan{outcome: OutcomeUnknownCustomer, warn: true}
	}
	p := account.Payment{
		PaymentID:   intentID,
		AmountMinor: amount,
		Currency:    strings.ToUpper(string(currency)),
		Method:      "card",
		Reference:   meta[gateway.MetaInvoiceID],
		Actor:       actor,
	}
	return plan{customerID: customerID, outcome: OutcomePaymentRecorded,
		call: func(ctx context.Context, n Notifier) error { return n.RecordPayment(ctx, customerID, p) }}
}

// cardPlan sets a card the customer saved at Stripe (a pay-now page that
// keeps the card) as theirs. A card attached before one already set is not
// set over it: Stripe does not deliver in order.
func cardPlan(ctx context.Context, tx *sqlx.Tx, obj json.RawMessage, created time.Time) (plan, error) {
	var pm stripe.PaymentMethod
	if json.Unmarshal(obj, &pm) != nil {
		return plan{outcome: OutcomeUnreadable, warn: true}, nil
	}
	if pm.Customer == nil || pm.Customer.ID == "" {
		return done(OutcomeIgnored), nil
	}
	var customerID string
	err := tx.GetContext(ctx, &customerID, `SELECT customer_id FROM gateway_customers WHERE gateway_customer_id = $1`, pm.Customer.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return plan{outcome: OutcomeUnknownCustomer, warn: true}, nil
	}
	if err != nil {
		return plan{}, fmt.Errorf("gateway customer %s: %w", pm.Customer.ID, err)
	}
	var newer string
	err = tx.GetContext(ctx, &newer, `
		SELECT event_id FROM gateway_events
		WHERE type = $1 AND customer_id = $2 AND outcome = $3 AND created > $4 LIMIT 1`,
		TypeCardAttached, customerID, OutcomeCardSet, created)
	if err == nil {
		return plan{customerID: customerID, outcome: OutcomeSuperseded + " by " + newer}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return plan{}, fmt.Errorf("newer cards of %s: %w", customerID, err)
	}
	c := account.CardUpdate{PaymentMethodID: pm.ID, Source: account.CardFromGateway, Actor: AuditActor}
	return plan{customerID: customerID, outcome: OutcomeCardSet,
		call: func(ctx context.Context, n Notifier) error { return n.SetPaymentMethod(ctx, customerID, c) }}, nil
}

// disputeCreatedPlan records a chargeback against the payment it took back.
// It waits while that payment's own event is pending, so that the workflow
// has the payment before the chargeback.
func disputeCreatedPlan(ctx context.Context, tx *sqlx.Tx, obj json.RawMessage) (plan, error) {
	var d stripe.Dispute
	if json.Unmarshal(obj, &d) != nil {
		return plan{outcome: OutcomeUnreadable, warn: true}, nil
	}
	if d.PaymentIntent == nil || d.PaymentIntent.ID == "" {
		return plan{outcome: OutcomeUnknownPayment, warn: true}, nil
	}
	intent := d.PaymentIntent.ID
	var pending string
	err := tx.GetContext(ctx, &pending, `
		SELECT event_id FROM gateway_events
		WHERE processed_at IS NULL AND ((type = $1 AND object_id = $3)
		   OR (type = $2 AND payload->'data'->'object'->>'payment_intent' = $3))
		ORDER BY created LIMIT 1`, TypePaymentSucceeded, TypeCheckoutCompleted, intent)
	if err == nil {
		return plan{waitFor: "payment event " + pending}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return plan{}, fmt.Errorf("pending payment events of %s: %w", intent, err)
	}
	customerID, invoiceID, err := findPayment(ctx, tx, d.PaymentIntent)
	if err != nil {
		return plan{}, err
	}
	if customerID == "" || invoiceID == "" {
		return plan{outcome: OutcomeUnknownPayment, warn: true}, nil
	}
	c := account.Chargeback{
		DisputeID:   d.ID,
		PaymentID:   intent,
		InvoiceID:   invoiceID,
		AmountMinor: d.Amount,
		Currency:    strings.ToUpper(string(d.Currency)),
		Reason:      string(d.Reason),
		Actor:       AuditActor,
	}
	return plan{customerID: customerID, outcome: OutcomeChargebackRecorded,
		call: func(ctx context.Context, n Notifier) error { return n.RecordChargeback(ctx, customerID, c) }}, nil
}

// findPayment finds whose payment a PaymentIntent was and the invoice it
// paid: our charge attempt, else the recorded payment's largest allocation,
// else the PaymentIntent's metadata when the event carries it expanded.
// Empty strings: not found.
func findPayment(ctx context.Context, tx *sqlx.Tx, pi *stripe.PaymentIntent) (customerID, invoiceID string, err error) {
	var row struct {
		CustomerID string `db:"customer_id"`
		InvoiceID  string `db:"invoice_id"`
	}
	err = tx.GetContext(ctx, &row, `
		SELECT customer_id, invoice_id FROM charge_attempts WHERE payment_intent_id = $1
		ORDER BY requested_at DESC LIMIT 1`, pi.ID)
	if err == nil {
		return row.CustomerID, row.InvoiceID, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("charge attempt of %s: %w", pi.ID, err)
	}
	err = tx.GetContext(ctx, &row, `
		SELECT p.customer_id, a.invoice_id FROM payments p
		JOIN payment_allocations a ON a.customer_id = p.customer_id AND a.payment_id = p.payment_id
		WHERE p.payment_id = $1 ORDER BY a.amount_minor DESC, a.invoice_id LIMIT 1`, pi.ID)
	if err == nil {
		return row.CustomerID, row.InvoiceID, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("payment %s: %w", pi.ID, err)
	}
	return pi.Metadata[gateway.MetaCustomerID], pi.Metadata[gateway.MetaInvoiceID], nil
}

// disputeClosedPlan closes a chargeback. It waits for the dispute's
// created event to be processed (Stripe may deliver the two in either
// order), and takes the customer that event was matched to.
func disputeClosedPlan(ctx context.Context, tx *sqlx.Tx, obj json.RawMessage) (plan, error) {
	var d stripe.Dispute
	if json.Unmarshal(obj, &d) != nil {
		return plan{outcome: OutcomeUnreadable, warn: true}, nil
	}
	var outcome string
	switch d.Status {
	case stripe.DisputeStatusWon, stripe.DisputeStatusWarningClosed:
		outcome = account.ChargebackWon
	case stripe.DisputeStatusLost:
		outcome = account.ChargebackLost
	default:
		return done(OutcomeIgnored), nil
	}
	var created struct {
		EventID    string `db:"event_id"`
		Processed  bool   `db:"processed"`
		CustomerID string `db:"customer_id"`
	}
	err := tx.GetContext(ctx, &created, `
		SELECT event_id, processed_at IS NOT NULL AS processed, COALESCE(customer_id, '') AS customer_id
		FROM gateway_events WHERE type = $1 AND object_id = $2 ORDER BY created LIMIT 1`,
		TypeDisputeCreated, d.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return plan{waitFor: string(TypeDisputeCreated) + " of " + d.ID}, nil
	}
	if err != nil {
		return plan{}, fmt.Errorf("dispute %s: %w", d.ID, err)
	}
	if !created.Processed {
		return plan{waitFor: string(TypeDisputeCreated) + " " + created.EventID}, nil
	}
	customerID := created.CustomerID
	if customerID == "" && d.PaymentIntent != nil && d.PaymentIntent.ID != "" {
		if customerID, _, err = findPayment(ctx, tx, d.PaymentIntent); err != nil {
			return plan{}, err
		}
	}
	if customerID == "" {
		return plan{outcome: OutcomeUnknownPayment, warn: true}, nil
	}
	c := account.ChargebackClosure{DisputeID: d.ID, Outcome: outcome, Actor: AuditActor}
	return plan{customerID: customerID, outcome: OutcomeChargebackClosed,
		call: func(ctx context.Context, n Notifier) error { return n.CloseChargeback(ctx, customerID, c) }}, nil
}
