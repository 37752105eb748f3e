package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// LedgerRow is the customers row's part that reconciliation compares.
type LedgerRow struct {
	Status       string `db:"status" json:"status"`
	Access       string `db:"access" json:"access"`
	BalanceMinor int64  `db:"balance_minor" json:"balance_minor"`
	CreditMinor  int64  `db:"credit_minor" json:"credit_minor"`
	Currency     string `db:"currency" json:"currency"`
	EventSeq     int64  `db:"event_seq" json:"event_seq"`
}

// LedgerPayment is a payments row's amount.
type LedgerPayment struct {
	PaymentID   string `db:"payment_id" json:"payment_id"`
	AmountMinor int64  `db:"amount_minor" json:"amount_minor"`
	Currency    string `db:"currency" json:"currency"`
}

// Ledger is what PostgreSQL has of one customer, for reconciliation.
type Ledger struct {
	CustomerID string     `json:"customer_id"`
	Customer   *LedgerRow `json:"customer"` // nil: no customers row
	// Invoices are the open invoices plus the invoices asked for by ID
	// (the workflow's open ones), whatever their status.
	Invoices []Invoice       `json:"invoices"`
	Payments []LedgerPayment `json:"payments"`
	// AuditMaxSeq is the highest event sequence in the customer's audit
	// log keys ("<customer_id>/<seq>"); AuditEvents counts those rows.
	AuditMaxSeq int64 `json:"audit_max_seq"`
	AuditEvents int64 `json:"audit_events"`
	// Subscription is the subscriptions table's row (nil: none), read
	// only when asked for (the table provisioner is in use).
	Subscription *Subscription `json:"subscription,omitempty"`
	// UnrecordedCharges are charges the gateway answered as succeeded,
	// longer ago than ChargeGrace, that have no payments row: money taken
	// and not recorded.
	UnrecordedCharges []UnrecordedCharge `json:"unrecorded_charges,omitempty"`
}

// UnrecordedCharge is a succeeded charge attempt without its payment.
type UnrecordedCharge struct {
	Key             string `db:"idempotency_key" json:"key"`
	PaymentIntentID string `db:"payment_intent_id" json:"payment_intent_id"`
	AmountMinor     int64  `db:"amount_minor" json:"amount_minor"`
	Currency        string `db:"currency" json:"currency"`
}

// ChargeGrace is how long a charge's success may wait for its payment row:
// the workflow records the payment right after the charge's answer.
const ChargeGrace = 5 * time.Minute

// LedgerOf reads what PostgreSQL has of a customer in one read-only
// transaction (one snapshot, so the parts agree with each other).
// invoiceIDs are read whatever their status; withSubscription also reads
// the subscriptions row.
func (s *Store) LedgerOf(ctx context.Context, customerID string, invoiceIDs []string, withSubscription bool) (Ledger, error) {
	l := Ledger{CustomerID: customerID, Invoices: []Invoice{}, Payments: []LedgerPayment{}}
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return l, err
	}
	defer func() { _ = tx.Rollback() }()
	var row LedgerRow
	err = tx.GetContext(ctx, &row, `SELECT status, access, balance_minor, credit_minor, currency, event_seq
		FROM customers WHERE customer_id = $1`, customerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return l, fmt.Errorf("customer %s: %w", customerID, err)
	default:
		l.Customer = &row
	}
	if invoiceIDs == nil {
		invoiceIDs = []string{}
	}
	if err := tx.SelectContext(ctx, &l.Invoices, `SELECT * FROM invoices
		WHERE customer_id = $1 AND (status = 'open' OR invoice_id = ANY($2))
		ORDER BY issued_at, invoice_id`, customerID, pq.Array(invoiceIDs)); err != nil {
		return l, fmt.Errorf("invoices of %s: %w", customerID, err)
	}
	if err := tx.SelectContext(ctx, &l.Payments, `SELECT payment_id, amount_minor, currency FROM payments
		WHERE customer_id = $1 ORDER BY payment_id`, customerID); err != nil {
		return l, fmt.Errorf("payments of %s: %w", customerID, err)
	}
	// Keys are "<customer_id>/<seq>"; other keys a customer's rows may
	// carry are left out.
	if err := tx.QueryRowxContext(ctx, `
		SELECT COALESCE(max(substr(event_key, length($1) + 2)::bigint), 0), count(*)
		FROM audit_log
		WHERE customer_id = $1 AND left(event_key, length($1) + 1) = $1 || '/'
		  AND substr(event_key, length($1) + 2) ~ '^[0-9]{1,18}$'`, customerID).Scan(&l.AuditMaxSeq, &l.AuditEvents); err != nil {
		return l, fmt.Errorf("audit log of %s: %w", customerID, err)
	}
	if err := tx.SelectContext(ctx, &l.UnrecordedCharges, `
		SELECT c.idempotency_key, c.payment_intent_id, c.amount_minor, c.currency FROM charge_attempts c
		WHERE c.customer_id = $1 AND c.status = 'succeeded' AND c.settled_at < now() - $2::interval
		  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.customer_id AND p.payment_id = c.payment_intent_id)
		ORDER BY c.idempotency_key`, customerID, fmt.Sprintf("%d seconds", int(ChargeGrace.Seconds()))); err != nil {
		return l, fmt.Errorf("charge attempts of %s: %w", customerID, err)
	}
	if withSubscription {
		var sub Subscription
		err := tx.GetContext(ctx, &sub, `SELECT * FROM subscriptions WHERE customer_id = $1`, customerID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return l, fmt.Errorf("subscription of %s: %w", customerID, err)
		default:
			l.Subscription = &sub
		}
	}
	return l, tx.Commit()
}

// CustomerIDs lists customers rows' IDs after the given one, in order, at
// most limit: a page of all customers.
func (s *Store) CustomerIDs(ctx context.Context, after string, limit int) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, `SELECT customer_id FROM customers WHERE customer_id > $1 ORDER BY customer_id LIMIT $2`, after, limit)
	return ids, err
}

// ReconciledPayment is a payment re-recorded from what the workflow
// remembers: its amount and currency; method and reference are unknown.
type ReconciledPayment struct {
	PaymentID   string `json:"payment_id"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

// ReconciledMethod is the method recorded on a payment row restored by
// reconciliation: the real method was not kept by the workflow.
const ReconciledMethod = "reconciled"

// RestorePayments inserts payment rows the workflow remembers and
// PostgreSQL lacks. A row that exists already (recorded meanwhile, or the
// ID used elsewhere) is left alone, so the call is idempotent; restored
// lists the IDs inserted by this call.
func (s *Store) RestorePayments(ctx context.Context, customerID string, payments []ReconciledPayment, actor string, at time.Time) (restored []string, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	for _, p := range payments {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, reference, credit_minor, actor, received_at)
			VALUES ($1, $2, $3, $4, $5, '', 0, $6, $7)
			ON CONFLICT DO NOTHING`,
			p.PaymentID, customerID, p.AmountMinor, p.Currency, ReconciledMethod, actor, at)
		if err != nil {
			return nil, fmt.Errorf("restore payment %s of %s: %w", p.PaymentID, customerID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			restored = append(restored, p.PaymentID)
		}
	}
	return restored, tx.Commit()
}

// ReconcileRun is one stored reconciliation run.
type ReconcileRun struct {
	RunKey     string    `db:"run_key" json:"run_key"`
	StartedAt  time.Time `db:"started_at" json:"started_at"`
	FinishedAt time.Time `db:"finished_at" json:"finished_at"`
	Checked    int       `db:"checked" json:"checked"`
	Drifted    int       `db:"drifted" json:"drifted"`
	Repaired   int       `db:"repaired" json:"repaired"`
	Errors     int       `db:"errors" json:"errors"`
	Report     []byte    `db:"report" json:"-"` // the report as JSON
}

// SaveReconcileRun stores a run; a rerun under the same key replaces it.
func (s *Store) SaveReconcileRun(ctx context.Context, r ReconcileRun) error {
	_, err := s.db.NamedExecContext(ctx, `
		INSERT INTO reconcile_runs (run_key, started_at, finished_at, checked, drifted, repaired, errors, report)
		VALUES (:run_key, :started_at, :finished_at, :checked, :drifted, :repaired, :errors, :report)
		ON CONFLICT (run_key) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
		    checked = EXCLUDED.checked, drifted = EXCLUDED.drifted, repaired = EXCLUDED.repaired,
		    errors = EXCLUDED.errors, report = EXCLUDED.report`, r)
	return err
}

// LatestReconcileRuns lists the most recent runs, newest first.
func (s *Store) LatestReconcileRuns(ctx context.Context, limit int) ([]ReconcileRun, error) {
	var runs []ReconcileRun
	err := s.db.SelectContext(ctx, &runs, `SELECT * FROM reconcile_runs ORDER BY finished_at DESC LIMIT $1`, limit)
	return runs, err
}
