package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx/types"

	"github.com/example/dunning/account"
	"github.com/example/dunning/risk"
)

// CustomerByID returns one customers row.
func (s *Store) CustomerByID(ctx context.Context, id string) (Customer, error) {
	var c Customer
	err := s.db.GetContext(ctx, &c, `SELECT customer_id, name, email, phone, country, currency, locale, policy,
		monthly_fee_minor, instrument_type, card_bin, host(signup_ip) AS signup_ip, risk_tier, status, access,
		balance_minor, credit_minor, overdue_minor, dunning_stage, created_at, updated_at, event_seq,
		screening_outcome, screening_score, phone_verified
		FROM customers WHERE customer_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("customer %q: %w", id, ErrNotFound)
	}
	return c, err
}

// Invoice is an invoices row.
type Invoice struct {
	InvoiceID    string       `db:"invoice_id" json:"invoice_id"`
	CustomerID   string       `db:"customer_id" json:"customer_id"`
	Kind         string       `db:"kind" json:"kind"`
	Status       string       `db:"status" json:"status"`
	Currency     string       `db:"currency" json:"currency"`
	AmountMinor  int64        `db:"amount_minor" json:"amount_minor"`
	PaidMinor    int64        `db:"paid_minor" json:"paid_minor"`
	PeriodStart  time.Time    `db:"period_start" json:"period_start"`
	PeriodEnd    time.Time    `db:"period_end" json:"period_end"`
	IssuedAt     time.Time    `db:"issued_at" json:"issued_at"`
	DueAt        time.Time    `db:"due_at" json:"due_at"`
	ClosedAt     sql.NullTime `db:"closed_at" json:"-"`
	Stage        string       `db:"stage" json:"stage"`
	Disputed     bool         `db:"disputed" json:"disputed"`
	PromiseUntil sql.NullTime `db:"promise_until" json:"-"`
	UpdatedAt    time.Time    `db:"updated_at" json:"updated_at"`
	UsageMinor   int64        `db:"usage_minor" json:"usage_minor"`
	// Lines are the invoice's lines as JSON (account.InvoiceLine); [] for
	// invoices from before subscriptions.
	Lines types.JSONText `db:"lines" json:"lines"`
}

// InvoicesOf lists a customer's invoices, oldest first.
func (s *Store) InvoicesOf(ctx context.Context, customerID string) ([]Invoice, error) {
	var rows []Invoice
	err := s.db.SelectContext(ctx, &rows, `SELECT * FROM invoices WHERE customer_id = $1 ORDER BY issued_at, invoice_id`, customerID)
	return rows, err
}

// Payment is a payments row.
type Payment struct {
	PaymentID   string    `db:"payment_id" json:"payment_id"`
	CustomerID  string    `db:"customer_id" json:"customer_id"`
	AmountMinor int64     `db:"amount_minor" json:"amount_minor"`
	Currency    string    `db:"currency" json:"currency"`
	Method      string    `db:"method" json:"method"`
	Reference   string    `db:"reference" json:"reference"`
	CreditMinor int64     `db:"credit_minor" json:"credit_minor"`
	Actor       string    `db:"actor" json:"actor"`
	ReceivedAt  time.Time `db:"received_at" json:"received_at"`
	RecordedAt  time.Time `db:"recorded_at" json:"recorded_at"`
}

// PaymentsOf lists a customer's payments, oldest first.
func (s *Store) PaymentsOf(ctx context.Context, customerID string) ([]Payment, error) {
	var rows []Payment
	err := s.db.SelectContext(ctx, &rows, `SELECT * FROM payments WHERE customer_id = $1 ORDER BY received_at, payment_id`, customerID)
	return rows, err
}

// AuditEntry is an audit_log row.
type AuditEntry struct {
	ID         int64             `db:"id" json:"id"`
	EventKey   string            `db:"event_key" json:"event_key"`
	CustomerID string            `db:"customer_id" json:"customer_id"`
	At         time.Time         `db:"at" json:"at"`
	Actor      string            `db:"actor" json:"actor"`
	Action     account.EventType `db:"action" json:"action"`
	Reason     string            `db:"reason" json:"reason"`
	InvoiceID  sql.NullString    `db:"invoice_id" json:"-"`
	Detail     json.RawMessage   `db:"detail" json:"detail"`
	RecordedAt time.Time         `db:"recorded_at" json:"recorded_at"`
}

// AuditOf lists a customer's audit log, oldest first.
func (s *Store) AuditOf(ctx context.Context, customerID string) ([]AuditEntry, error) {
	var rows []AuditEntry
	err := s.db.SelectContext(ctx, &rows, `SELECT * FROM audit_log WHERE customer_id = $1 ORDER BY id`, customerID)
	return rows, err
}

// VelocityCounts counts other applications made in (since, until] that share
// the applicant's IP, phone, email domain or card BIN.
func (s *Store) VelocityCounts(ctx context.Context, app account.Application, since, until time.Time) (risk.VelocityCounts, error) {
	domain := strings.ToLower(app.Email[strings.LastIndex(app.Email, "@")+1:])
	var c struct {
		IP, Phone, Domain, BIN int
	}
	err := s.db.QueryRowxContext(ctx, `
		SELECT count(*) FILTER (WHERE signup_ip = $2::inet),
		       count(*) FILTER (WHERE phone = $3),
		       count(*) FILTER (WHERE lower(split_part(email, '@', 2)) = $4),
		       count(*) FILTER (WHERE $5 <> '' AND card_bin = $5)
		FROM customers
		WHERE customer_id <> $1 AND created_at > $6 AND created_at <= $7
		  AND (signup_ip = $2::inet OR phone = $3 OR lower(split_part(email, '@', 2)) = $4 OR ($5 <> '' AND card_bin = $5))`,
		app.CustomerID, app.SignupIP, app.Phone, domain, app.PaymentInstrument.CardBIN, since, until).
		Scan(&c.IP, &c.Phone, &c.Domain, &c.BIN)
	if err != nil {
		return risk.VelocityCounts{}, fmt.Errorf("velocity counts: %w", err)
	}
	return risk.VelocityCounts{IP: c.IP, Phone: c.Phone, EmailDomain: c.Domain, CardBIN: c.BIN}, nil
}
