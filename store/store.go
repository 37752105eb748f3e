// Package store is the PostgreSQL system of record, reached through sqlx.
// Every write is idempotent: it is keyed by the event, message or payment it
// comes from, so an activity that is retried or replayed changes nothing the
// second time.
package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/account"
)

// Store wraps the database handle.
type Store struct {
	db *sqlx.DB
}

// New wraps an open handle.
func New(db *sqlx.DB) *Store { return &Store{db: db} }

// DB is the underlying handle, for migrations and reports.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Customer is the customers row: the application plus the account's current
// figures, written with every recorded change.
type Customer struct {
	CustomerID       string    `db:"customer_id"`
	Name             string    `db:"name"`
	Email            string    `db:"email"`
	Phone            string    `db:"phone"`
	Country          string    `db:"country"`
	Currency         string    `db:"currency"`
	Locale           string    `db:"locale"`
	Policy           string    `db:"policy"`
	MonthlyFeeMinor  int64     `db:"monthly_fee_minor"`
	InstrumentType   string    `db:"instrument_type"`
	CardBIN          string    `db:"card_bin"`
	SignupIP         string    `db:"signup_ip"`
	RiskTier         string    `db:"risk_tier"`
	Status           string    `db:"status"`
	Access           string    `db:"access"`
	BalanceMinor     int64     `db:"balance_minor"`
	CreditMinor      int64     `db:"credit_minor"`
	OverdueMinor     int64     `db:"overdue_minor"`
	DunningStage     string    `db:"dunning_stage"`
	CreatedAt        time.Time `db:"created_at"`
	UpdatedAt        time.Time `db:"updated_at"`
	EventSeq         int64     `db:"event_seq"`
	ScreeningOutcome string    `db:"screening_outcome"`
	ScreeningScore   int       `db:"screening_score"`
	PhoneVerified    bool      `db:"phone_verified"`
	// FirstRunID identifies the workflow run chain that owns the customer
	// ID; empty for runs from before it was recorded.
	FirstRunID string `db:"first_run_id" json:"first_run_id,omitempty"`
}

const upsertCustomer = `
INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy, monthly_fee_minor,
    instrument_type, card_bin, signup_ip, risk_tier, status, access, balance_minor, credit_minor, overdue_minor,
    dunning_stage, created_at, updated_at, event_seq, screening_outcome, screening_score, phone_verified, first_run_id)
VALUES (:customer_id, :name, :email, :phone, :country, :currency, :locale, :policy, :monthly_fee_minor,
    :instrument_type, :card_bin, :signup_ip, :risk_tier, :status, :access, :balance_minor, :credit_minor, :overdue_minor,
    :dunning_stage, :created_at, :updated_at, :event_seq, :screening_outcome, :screening_score, :phone_verified, NULLIF(:first_run_id, ''))
ON CONFLICT (customer_id) DO UPDATE SET
    name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, policy = EXCLUDED.policy,
    risk_tier = EXCLUDED.risk_tier, status = EXCLUDED.status, access = EXCLUDED.access,
    balance_minor = EXCLUDED.balance_minor, credit_minor = EXCLUDED.credit_minor,
    overdue_minor = EXCLUDED.overdue_minor, dunning_stage = EXCLUDED.dunning_stage,
    updated_at = EXCLUDED.updated_at, event_seq = EXCLUDED.event_seq,
    screening_outcome = EXCLUDED.screening_outcome, screening_score = EXCLUDED.screening_score,
    phone_verified = EXCLUDED.phone_verified,
    first_run_id = COALESCE(customers.first_run_id, EXCLUDED.first_run_id)
WHERE customers.event_seq <= EXCLUDED.event_seq`

const upsertInvoice = `
INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, paid_minor, period_start,
    period_end, issued_at, due_at, closed_at, stage, disputed, promise_until, updated_at, usage_minor, lines)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (invoice_id) DO UPDATE SET
    kind = EXCLUDED.kind, status = EXCLUDED.status, amount_minor = EXCLUDED.amount_minor, paid_minor = EXCLUDED.paid_minor,
    closed_at = EXCLUDED.closed_at, stage = EXCLUDED.stage, disputed = EXCLUDED.disputed,
    promise_until = EXCLUDED.promise_until, updated_at = EXCLUDED.updated_at, lines = EXCLUDED.lines`

// Record writes the customer's current figures and a batch of events in one
// transaction, with the public webhook events they give (webhooks.go). An
// event already recorded (same key) is skipped whole, so a retried call
// changes nothing. It returns how many events were new.
func (s *Store) Record(ctx context.Context, c Customer, events []account.Event) (int, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if err := checkOwner(ctx, tx, c); err != nil {
		return 0, err
	}
	if _, err := tx.NamedExecContext(ctx, upsertCustomer, c); err != nil {
		return 0, fmt.Errorf("customer %s: %w", c.CustomerID, err)
	}
	fresh := 0
	for _, ev := range events {
		isNew, err := recordEvent(ctx, tx, c, ev)
		if err != nil {
			return 0, fmt.Errorf("event %s (%s): %w", ev.Key, ev.Type, err)
		}
		if isNew {
			fresh++
		}
	}
	return fresh, tx.Commit()
}

// ErrCustomerIDReused is returned when a customer ID belongs to another
// workflow run chain: an earlier customer whose workflow has left the
// namespace's retention. Its rows must not be mixed with the new customer's.
var ErrCustomerIDReused = errors.New("customer ID reused")

// checkOwner refuses a write from a run chain other than the one that owns
// the customer row. The row is locked until the transaction ends, so two
// chains cannot both take a new customer ID.
func checkOwner(ctx context.Context, tx *sqlx.Tx, c Customer) error {
	if c.FirstRunID == "" {
		return nil
	}
	var owner sql.NullString
	err := tx.GetContext(ctx, &owner, `SELECT first_run_id FROM customers WHERE customer_id = $1 FOR UPDATE`, c.CustomerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case owner.Valid && owner.String != c.FirstRunID:
		return fmt.Errorf("%w: customer_id %q belongs to an earlier customer (workflow run %s); onboard the new customer under a new customer_id",
			ErrCustomerIDReused, c.CustomerID, owner.String)
	}
	return nil
}

func recordEvent(ctx context.Context, tx *sqlx.Tx, c Customer, ev account.Event) (bool, error) {
	customerID := c.CustomerID
	detail := map[string]any{}
	for k, v := range ev.Detail {
		detail[k] = v
	}
	if ev.Notice != nil {
		detail["notice"] = ev.Notice.Key
	}
	if ev.Provision != "" {
		detail["provision"] = ev.Provision
	}
	detailJSON, err := json.Marshal(detail)
	if err != nil {
		return false, err
	}
	key := ev.Key
	fresh, err := insertAudit(ctx, tx, key, customerID, ev, detailJSON)
	if err != nil {
		return false, err
	}
	if !fresh {
		same, err := sameAudit(ctx, tx, ev.Key, ev, detailJSON)
		if err != nil || same {
			return false, err // recorded by an earlier attempt
		}
		// The key holds another change: one written by a workflow task
		// that later failed (a local activity runs inside the task, so
		// its write can outlive the task) and whose retry numbered its
		// events differently (updates arrived in another order). This
		// change is the real one: it gets a key of its own, derived from
		// its content so that a retry finds it, and its rows are written,
		// each idempotent by its own key.
		// The public events follow the audit row: those of the displaced
		// row are not announced, this change's are, under its own key.
		if err := cancelDisplaced(ctx, tx, ev.Key); err != nil {
			return false, err
		}
		key = ev.Key + "#" + contentHash(ev, detailJSON)
		if fresh, err = insertAudit(ctx, tx, key, customerID, ev, detailJSON); err != nil || !fresh {
			return false, err
		}
	}
	if err := writeEventRows(ctx, tx, customerID, ev); err != nil {
		return false, err
	}
	return true, writeWebhookEvents(ctx, tx, c, key, ev)
}

func insertAudit(ctx context.Context, tx *sqlx.Tx, key, customerID string, ev account.Event, detailJSON []byte) (bool, error) {
	res, err := tx.ExecContext(ctx, `
		INSERT INTO audit_log (event_key, customer_id, at, actor, action, reason, invoice_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8)
		ON CONFLICT (event_key) DO NOTHING`,
		key, customerID, ev.At, ev.Actor, ev.Type, ev.Reason, ev.InvoiceID, detailJSON)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// sameAudit reports whether the audit row under key records this change.
func sameAudit(ctx context.Context, tx *sqlx.Tx, key string, ev account.Event, detailJSON []byte) (bool, error) {
	var same bool
	err := tx.GetContext(ctx, &same, `
		SELECT action = $2 AND actor = $3 AND reason = $4 AND coalesce(invoice_id, '') = $5 AND detail = $6::jsonb
		FROM audit_log WHERE event_key = $1`, key, ev.Type, ev.Actor, ev.Reason, ev.InvoiceID, detailJSON)
	return same, err
}

func contentHash(ev account.Event, detailJSON []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", ev.Type, ev.Actor, ev.Reason, ev.InvoiceID)
	h.Write(detailJSON)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// writeEventRows writes what an event carries besides its audit row:
// invoice, payment, usage, review and write-off rows.
func writeEventRows(ctx context.Context, tx *sqlx.Tx, customerID string, ev account.Event) error {
	if inv := ev.Invoice; inv != nil {
		lines := []byte("[]")
		if len(inv.Lines) > 0 {
			var err error
			if lines, err = json.Marshal(inv.Lines); err != nil {
				return fmt.Errorf("invoice %s lines: %w", inv.ID, err)
			}
		}
		if _, err := tx.ExecContext(ctx, upsertInvoice, inv.ID, customerID, inv.Kind, inv.Status, inv.Currency,
			inv.AmountMinor, inv.PaidMinor, inv.PeriodStart, inv.PeriodEnd, inv.IssuedAt, inv.DueAt,
			nullTime(inv.ClosedAt), inv.Stage, inv.Disputed, nullTime(inv.PromiseUntil), ev.At, inv.UsageMinor, string(lines)); err != nil {
			return fmt.Errorf("invoice %s: %w", inv.ID, err)
		}
	}
	if p := ev.Payment; p != nil {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, reference, credit_minor, actor, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (customer_id, payment_id) DO NOTHING`,
			p.PaymentID, customerID, p.AmountMinor, p.Currency, p.Method, p.Reference, p.CreditMinor, ev.Actor, ev.At); err != nil {
			return fmt.Errorf("payment %s: %w", p.PaymentID, err)
		}
		for _, al := range p.Allocations {
			res, err := tx.ExecContext(ctx, `
				INSERT INTO payment_allocations (customer_id, payment_id, invoice_id, amount_minor) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`,
				customerID, p.PaymentID, al.InvoiceID, al.AmountMinor)
			if err != nil {
				return fmt.Errorf("allocation of %s to %s: %w", p.PaymentID, al.InvoiceID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // allocated before (under another event key): counted once
			}
			// A part payment leaves the invoice open, so no later event
			// in the batch carries its new state: add what was paid here
			// (once: this runs only for a new event). An invoice the
			// payment closes is written whole by its own event after this.
			if _, err := tx.ExecContext(ctx, `
				UPDATE invoices SET paid_minor = paid_minor + $3, updated_at = $4
				WHERE invoice_id = $1 AND customer_id = $2`,
				al.InvoiceID, customerID, al.AmountMinor, ev.At); err != nil {
				return fmt.Errorf("invoice %s paid by %s: %w", al.InvoiceID, p.PaymentID, err)
			}
		}
	}
	if u := ev.Usage; u != nil {
		// A usage_id the workflow forgot is found here before it is
		// applied again (LookupKey); the key guards the row regardless.
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO usage_records (usage_id, customer_id, amount_minor, currency, description, period, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id, usage_id) DO NOTHING`,
			u.UsageID, customerID, u.AmountMinor, u.Currency, u.Description, u.Period, ev.At); err != nil {
			return fmt.Errorf("usage %s: %w", u.UsageID, err)
		}
	}
	if r := ev.Review; r != nil {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO reviews (customer_id, review_id, kind, source, notice_id, category, severity, reason, opened_at,
			    deadline, reminders, lapsed, decision, decided_by, decided_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (customer_id, review_id) DO UPDATE SET reminders = EXCLUDED.reminders, lapsed = EXCLUDED.lapsed,
			    decision = EXCLUDED.decision, decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at`,
			customerID, r.ID, r.Kind, r.Source, r.NoticeID, r.Category, r.Severity, r.Reason, r.OpenedAt, r.Deadline,
			r.Reminders, r.Lapsed, r.Decision, r.DecidedBy, nullTime(r.DecidedAt)); err != nil {
			return fmt.Errorf("review %s: %w", r.ID, err)
		}
	}
	if w := ev.WriteOff; w != nil {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO write_offs (event_key, customer_id, invoice_ids, amount_minor, currency, collections, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			ev.Key, customerID, pq.Array(w.InvoiceIDs), w.AmountMinor, w.Currency, w.Collections, ev.At); err != nil {
			return fmt.Errorf("write-off: %w", err)
		}
	}
	return nil
}

func nullTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// KeyKind names a caller-supplied idempotency key.
type KeyKind string

// Keys that LookupKey finds.
const (
	KeyPayment KeyKind = "payment"
	KeyUsage   KeyKind = "usage"
)

// LookupKey finds what the customer recorded under a payment or usage key:
// whether it exists, and its amount and currency.
func (s *Store) LookupKey(ctx context.Context, customerID string, kind KeyKind, id string) (found bool, amountMinor int64, currency string, err error) {
	var q string
	switch kind {
	case KeyPayment:
		q = `SELECT amount_minor, currency FROM payments WHERE customer_id = $1 AND payment_id = $2`
	case KeyUsage:
		q = `SELECT amount_minor, currency FROM usage_records WHERE customer_id = $1 AND usage_id = $2`
	default:
		return false, 0, "", fmt.Errorf("unknown key kind %q", kind)
	}
	var row struct {
		Amount   int64  `db:"amount_minor"`
		Currency string `db:"currency"`
	}
	err = s.db.GetContext(ctx, &row, q, customerID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, "", nil
	}
	if err != nil {
		return false, 0, "", err
	}
	return true, row.Amount, row.Currency, nil
}
