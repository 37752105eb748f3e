package store

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/example/dunning/account"
)

// Work queue reads: what staff owe an answer to, straight from the tables
// the workflows keep. Each read is capped (WorkQueueLimit rows) so that a
// backlog cannot make the page slow; the oldest deadlines come first.

// WorkQueueLimit caps each of the work queue's reads.
const WorkQueueLimit = 500

// OpenReview is an undecided review that has not lapsed.
type OpenReview struct {
	CustomerID string    `db:"customer_id"`
	ReviewID   string    `db:"review_id"`
	Kind       string    `db:"kind"`
	Source     string    `db:"source"`
	NoticeID   string    `db:"notice_id"`
	Category   string    `db:"category"`
	Severity   string    `db:"severity"`
	Reason     string    `db:"reason"`
	Deadline   time.Time `db:"deadline"`
}

// OpenReviews lists undecided reviews of customers not terminated, by
// deadline.
func (s *Store) OpenReviews(ctx context.Context) ([]OpenReview, error) {
	var rows []OpenReview
	err := s.db.SelectContext(ctx, &rows, `
		SELECT r.customer_id, r.review_id, r.kind, r.source, r.notice_id, r.category, r.severity, r.reason, r.deadline
		FROM reviews r JOIN customers c USING (customer_id)
		WHERE r.decision = '' AND NOT r.lapsed AND c.status <> $1
		ORDER BY r.deadline, r.customer_id, r.review_id LIMIT $2`, account.StatusTerminated, WorkQueueLimit)
	return rows, err
}

// DueInvoice is an open invoice with its customer's policy, for promises
// and suspensions falling due.
type DueInvoice struct {
	CustomerID   string     `db:"customer_id"`
	InvoiceID    string     `db:"invoice_id"`
	Policy       string     `db:"policy"`
	Status       string     `db:"customer_status"`
	Currency     string     `db:"currency"`
	OwedMinor    int64      `db:"owed_minor"`
	DueAt        time.Time  `db:"due_at"`
	PromiseUntil *time.Time `db:"promise_until"`
}

// PromisesDue lists open invoices whose promise to pay ends by until.
func (s *Store) PromisesDue(ctx context.Context, until time.Time) ([]DueInvoice, error) {
	return s.dueInvoices(ctx, `i.promise_until IS NOT NULL AND i.promise_until <= $1`, `i.promise_until`, until)
}

// Unpaid lists open, undisputed invoices without a running promise at
// now, due before dueBefore, of customers not yet suspended or terminated:
// the ones whose ladder can still reach suspension.
func (s *Store) Unpaid(ctx context.Context, now, dueBefore time.Time) ([]DueInvoice, error) {
	return s.dueInvoices(ctx, `NOT i.disputed AND (i.promise_until IS NULL OR i.promise_until <= $1) AND i.due_at <= $2
		AND c.status NOT IN ('`+string(account.StatusSuspended)+`', '`+string(account.StatusTerminated)+`')`, `i.due_at`, now, dueBefore)
}

func (s *Store) dueInvoices(ctx context.Context, where, order string, args ...any) ([]DueInvoice, error) {
	var rows []DueInvoice
	q := fmt.Sprintf(`
		SELECT i.customer_id, i.invoice_id, c.policy, c.status AS customer_status, i.currency,
		    i.amount_minor - i.paid_minor AS owed_minor, i.due_at, i.promise_until
		FROM invoices i JOIN customers c USING (customer_id)
		WHERE i.status = 'open' AND %s
		ORDER BY %s, i.customer_id, i.invoice_id LIMIT %d`, where, order, WorkQueueLimit)
	err := s.db.SelectContext(ctx, &rows, q, args...)
	return rows, err
}

// FailedEmail is a message that did not reach its customer: the provider
// refused it, or it bounced, was dropped or reported as spam.
type FailedEmail struct {
	CustomerID string    `db:"customer_id"`
	MessageKey string    `db:"message_key"`
	Stage      string    `db:"stage"`
	InvoiceID  string    `db:"invoice_id"`
	Failure    string    `db:"failure"` // the delivery status, or "failed"
	Reason     string    `db:"reason"`
	At         time.Time `db:"at"`
}

// DeliveryFailures are the delivery statuses (package sgevents) after which
// a message did not arrive: a soft or hard bounce, a drop, a spam report.
// Literal in the query, so that the partial index of migration 00150 serves it.
var DeliveryFailures = []string{"blocked", "bounce", "dropped", "spamreport"}

// FailedEmails lists customer messages that failed since since, newest
// first.
func (s *Store) FailedEmails(ctx context.Context, since time.Time) ([]FailedEmail, error) {
	var rows []FailedEmail
	err := s.db.SelectContext(ctx, &rows, `
		SELECT o.customer_id, o.message_key, o.stage, coalesce(o.invoice_id, '') AS invoice_id,
		    CASE WHEN o.status = 'failed' THEN 'failed' ELSE d.delivery_status END AS failure,
		    CASE WHEN o.status = 'failed' THEN coalesce(o.last_error, '') ELSE d.delivery_reason END AS reason,
		    CASE WHEN o.status = 'failed' THEN o.updated_at ELSE d.delivery_updated_at END AS at
		FROM email_outbox o LEFT JOIN email_outbox_delivery d USING (message_key)
		WHERE o.customer_id IS NOT NULL
		  AND (o.status = 'failed' OR d.delivery_status IN ('blocked', 'bounce', 'dropped', 'spamreport'))
		  AND coalesce(d.delivery_updated_at, o.updated_at) >= $1
		ORDER BY at DESC, o.message_key LIMIT $2`, since, WorkQueueLimit)
	return rows, err
}

// ProvisioningFailure is a customer whose latest provisioning news is a
// failure or an escalation.
type ProvisioningFailure struct {
	CustomerID string    `db:"customer_id"`
	Action     string    `db:"action"`
	Reason     string    `db:"reason"`
	At         time.Time `db:"at"`
}

// ProvisioningFailing lists customers whose provisioning is failing now:
// their last provisioning event is not a recovery.
func (s *Store) ProvisioningFailing(ctx context.Context) ([]ProvisioningFailure, error) {
	var rows []ProvisioningFailure
	err := s.db.SelectContext(ctx, &rows, `
		SELECT customer_id, action, reason, at FROM (
		    SELECT DISTINCT ON (customer_id) customer_id, action, reason, at
		    FROM audit_log WHERE action = ANY($1)
		    ORDER BY customer_id, id DESC) last
		WHERE action <> $2
		ORDER BY at, customer_id LIMIT $3`,
		pq.Array([]string{string(account.EventProvisioningFailed), string(account.EventProvisioningEscalated), string(account.EventProvisioningRecovered)}),
		account.EventProvisioningRecovered, WorkQueueLimit)
	return rows, err
}
