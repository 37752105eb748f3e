package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/example/dunning/account"
)

// ChargeAttempt is a charge_attempts row: one try to charge a card.
type ChargeAttempt struct {
	CustomerID        string         `db:"customer_id"`
	InvoiceID         string         `db:"invoice_id"`
	Attempt           int            `db:"attempt"`
	IdempotencyKey    string         `db:"idempotency_key"`
	AmountMinor       int64          `db:"amount_minor"`
	Currency          string         `db:"currency"`
	PaymentMethodID   string         `db:"payment_method_id"`
	Trigger           string         `db:"trigger"`
	Status            string         `db:"status"`
	PaymentIntentID   sql.NullString `db:"payment_intent_id"`
	Code              string         `db:"code"`
	DeclineCode       string         `db:"decline_code"`
	AdviceCode        string         `db:"advice_code"`
	NetworkAdviceCode string         `db:"network_advice_code"`
	Message           string         `db:"message"`
	Requests          int            `db:"requests"`
	RequestedAt       time.Time      `db:"requested_at"`
	SettledAt         sql.NullTime   `db:"settled_at"`
}

// ChargePending is the status of an attempt whose answer is not known yet.
const ChargePending = "pending"

// ClaimCharge writes the attempt as pending if it is new and returns the
// row as it stands: a retried activity finds the earlier try.
func (s *Store) ClaimCharge(ctx context.Context, c ChargeAttempt) (ChargeAttempt, error) {
	if _, err := s.db.ExecContext(ctx, `
		INSERT INTO charge_attempts (customer_id, invoice_id, attempt, idempotency_key, amount_minor, currency, payment_method_id, trigger)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING`,
		c.CustomerID, c.InvoiceID, c.Attempt, c.IdempotencyKey, c.AmountMinor, c.Currency, c.PaymentMethodID, c.Trigger); err != nil {
		return ChargeAttempt{}, fmt.Errorf("charge attempt %s: %w", c.IdempotencyKey, err)
	}
	var cur ChargeAttempt
	err := s.db.GetContext(ctx, &cur, `SELECT * FROM charge_attempts WHERE idempotency_key = $1`, c.IdempotencyKey)
	return cur, err
}

// ChargeSent counts a request about to be sent, before it is sent: a row
// with requests > 0 and no answer is an attempt whose outcome is unknown.
func (s *Store) ChargeSent(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE charge_attempts SET requests = requests + 1 WHERE idempotency_key = $1`, key)
	return err
}

// SettleCharge records the gateway's answer to an attempt. An attempt
// already settled keeps its first answer.
func (s *Store) SettleCharge(ctx context.Context, key string, o account.ChargeOutcome) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE charge_attempts SET status = $2, payment_intent_id = NULLIF($3, ''), code = $4, decline_code = $5,
		    advice_code = $6, network_advice_code = $7, message = $8, settled_at = now()
		WHERE idempotency_key = $1 AND status = 'pending'`,
		key, o.Outcome, o.PaymentIntentID, o.Code, o.DeclineCode, o.AdviceCode, o.NetworkAdviceCode, o.Message)
	return err
}

// GatewayCustomer is the gateway's customer ID for a customer, if any.
func (s *Store) GatewayCustomer(ctx context.Context, customerID string) (string, bool, error) {
	var id string
	err := s.db.GetContext(ctx, &id, `SELECT gateway_customer_id FROM gateway_customers WHERE customer_id = $1`, customerID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, err
}

// SaveGatewayCustomer remembers the gateway's customer for a customer. The
// first one saved stays.
func (s *Store) SaveGatewayCustomer(ctx context.Context, customerID, gateway, gatewayCustomerID string) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO gateway_customers (customer_id, gateway, gateway_customer_id) VALUES ($1, $2, $3)
		ON CONFLICT (customer_id) DO NOTHING`, customerID, gateway, gatewayCustomerID)
	return err
}

// PayLink is a cached hosted payment page.
type PayLink struct {
	SessionID   string    `db:"session_id"`
	CustomerID  string    `db:"customer_id"`
	InvoiceID   string    `db:"invoice_id"`
	AmountMinor int64     `db:"amount_minor"`
	Currency    string    `db:"currency"`
	URL         string    `db:"url"`
	ExpiresAt   time.Time `db:"expires_at"`
}

// ValidPayLink finds a page for the invoice and amount that is still valid
// after validAfter.
func (s *Store) ValidPayLink(ctx context.Context, customerID, invoiceID string, amountMinor int64, validAfter time.Time) (PayLink, bool, error) {
	var l PayLink
	err := s.db.GetContext(ctx, &l, `
		SELECT session_id, customer_id, invoice_id, amount_minor, currency, url, expires_at FROM pay_links
		WHERE customer_id = $1 AND invoice_id = $2 AND amount_minor = $3 AND expires_at > $4
		ORDER BY expires_at DESC LIMIT 1`, customerID, invoiceID, amountMinor, validAfter)
	if errors.Is(err, sql.ErrNoRows) {
		return PayLink{}, false, nil
	}
	return l, err == nil, err
}

// SavePayLink caches a page.
func (s *Store) SavePayLink(ctx context.Context, l PayLink) error {
	_, err := s.db.NamedExecContext(ctx, `
		INSERT INTO pay_links (session_id, customer_id, invoice_id, amount_minor, currency, url, expires_at)
		VALUES (:session_id, :customer_id, :invoice_id, :amount_minor, :currency, :url, :expires_at)
		ON CONFLICT (session_id) DO NOTHING`, l)
	return err
}

// Invoice reads one invoice of a customer as the account models it, for a
// chargeback on an invoice the account has closed.
func (s *Store) Invoice(ctx context.Context, customerID, invoiceID string) (account.Invoice, bool, error) {
	var row struct {
		ID          string       `db:"invoice_id"`
		Kind        string       `db:"kind"`
		Status      string       `db:"status"`
		Currency    string       `db:"currency"`
		AmountMinor int64        `db:"amount_minor"`
		PaidMinor   int64        `db:"paid_minor"`
		UsageMinor  int64        `db:"usage_minor"`
		PeriodStart time.Time    `db:"period_start"`
		PeriodEnd   time.Time    `db:"period_end"`
		IssuedAt    time.Time    `db:"issued_at"`
		DueAt       time.Time    `db:"due_at"`
		ClosedAt    sql.NullTime `db:"closed_at"`
		Stage       string       `db:"stage"`
		Disputed    bool         `db:"disputed"`
	}
	err := s.db.GetContext(ctx, &row, `
		SELECT invoice_id, kind, status, currency, amount_minor, paid_minor, usage_minor, period_start, period_end,
		    issued_at, due_at, closed_at, stage, disputed
		FROM invoices WHERE customer_id = $1 AND invoice_id = $2`, customerID, invoiceID)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Invoice{}, false, nil
	}
	if err != nil {
		return account.Invoice{}, false, err
	}
	return account.Invoice{
		ID: row.ID, Kind: account.InvoiceKind(row.Kind), Status: account.InvoiceStatus(row.Status), Currency: row.Currency,
		AmountMinor: row.AmountMinor, PaidMinor: row.PaidMinor, UsageMinor: row.UsageMinor,
		PeriodStart: row.PeriodStart.UTC(), PeriodEnd: row.PeriodEnd.UTC(), IssuedAt: row.IssuedAt.UTC(), DueAt: row.DueAt.UTC(),
		ClosedAt: row.ClosedAt.Time.UTC(), Stage: row.Stage, Disputed: row.Disputed, PastDue: true,
	}, true, nil
}
