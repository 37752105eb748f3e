package sgevents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Notifier is told when a customer's address has become undeliverable. The
// worker implements it by signalling the customer's workflow, which alerts
// staff. It is called once per (customer, message), after the event is
// committed; an error leaves the notice pending for the next attempt.
// Delivery is at least once: a crash between a successful call and the
// recording of it repeats the call, so the receiver should ignore a
// messageKey it has seen.
type Notifier interface {
	EmailUndeliverable(ctx context.Context, customerID, messageKey, event, reason string) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, customerID, messageKey, event, reason string) error

// EmailUndeliverable implements Notifier.
func (f NotifierFunc) EmailUndeliverable(ctx context.Context, customerID, messageKey, event, reason string) error {
	return f(ctx, customerID, messageKey, event, reason)
}

// AuditActor is the audit_log actor for changes made on SendGrid's word.
const AuditActor = "sendgrid"

// Store records events in PostgreSQL.
type Store struct {
	db *sqlx.DB
}

// NewStore wraps a database handle (the migrated dunning database).
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// Recorded is what recording one event did.
type Recorded struct {
	New            bool   // false: recorded before (SendGrid sent it again)
	UnknownMessage bool   // it carries a dunning_key that no outbox row has
	CustomerID     string // the outbox row's customer, when the message is ours
	StatusChanged  bool   // it moved the message's delivery status forward
	MarkedCustomer bool   // it set customers.email_undeliverable
}

// Record stores one event and applies it, in one transaction: the event
// row, the message's delivery status, and for an undeliverable address the
// customer flag, its audit entry and a pending notice. An event seen before
// changes nothing. Only events whose dunning_key names an outbox row change
// anything besides email_events; the customer is the outbox row's, not the
// one the event claims.
func (s *Store) Record(ctx context.Context, ev Event, receivedAt time.Time) (Recorded, error) {
	var out Recorded
	occurred := ev.OccurredAt
	if occurred.IsZero() {
		occurred = receivedAt
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, `
		INSERT INTO email_events (sg_event_id, sg_message_id, message_key, customer_id, invoice_id, stage,
		    event, bounce_type, reason, status, email, occurred_at, raw, received_at)
		VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (sg_event_id) DO NOTHING`,
		ev.EventID, ev.MessageID, ev.DunningKey, ev.CustomerID, ev.InvoiceID, ev.Stage,
		ev.Event, ev.Type, ev.Reason, ev.Status, ev.Email, occurred, []byte(ev.Raw), receivedAt)
	if err != nil {
		return out, fmt.Errorf("event %s: %w", ev.EventID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return out, tx.Commit() // recorded, and applied, by an earlier post
	}
	out.New = true
	if ev.DunningKey == "" {
		return out, tx.Commit() // not our mail
	}
	var msg struct {
		CustomerID string `db:"customer_id"`
		ToEmail    string `db:"to_email"`
	}
	err = tx.GetContext(ctx, &msg, `SELECT customer_id, to_email FROM email_outbox WHERE message_key = $1`, ev.DunningKey)
	if errors.Is(err, sql.ErrNoRows) {
		out.UnknownMessage = true
		return out, tx.Commit()
	}
	if err != nil {
		return out, fmt.Errorf("outbox %s: %w", ev.DunningKey, err)
	}
	out.CustomerID = msg.CustomerID
	if status := ev.DeliveryStatus(); status != "" {
		// Forward only: a later rank wins, the same status moves on in time.
		res, err := tx.ExecContext(ctx, `
			INSERT INTO email_outbox_delivery AS d (message_key, delivery_status, delivery_reason, delivery_event_id, delivery_updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (message_key) DO UPDATE SET delivery_status = EXCLUDED.delivery_status,
			    delivery_reason = EXCLUDED.delivery_reason, delivery_event_id = EXCLUDED.delivery_event_id,
			    delivery_updated_at = EXCLUDED.delivery_updated_at, recorded_at = now()
			WHERE COALESCE(array_position($6::text[], d.delivery_status), 0) < array_position($6::text[], EXCLUDED.delivery_status)
			   OR (d.delivery_status = EXCLUDED.delivery_status AND d.delivery_updated_at < EXCLUDED.delivery_updated_at)`,
			ev.DunningKey, status, reasonText(ev), ev.EventID, occurred, pq.Array(StatusOrder))
		if err != nil {
			return out, fmt.Errorf("delivery status of %s: %w", ev.DunningKey, err)
		}
		n, _ := res.RowsAffected()
		out.StatusChanged = n > 0
	}
	if ev.Undeliverable() {
		if err := s.markUndeliverable(ctx, tx, ev, msg.CustomerID, msg.ToEmail, occurred, &out); err != nil {
			return out, err
		}
	}
	return out, tx.Commit()
}

func (s *Store) markUndeliverable(ctx context.Context, tx *sqlx.Tx, ev Event, customerID, toEmail string, at time.Time, out *Recorded) error {
	// The first failing event of a message is the one staff hear of.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO email_undeliverable_notices (customer_id, message_key, sg_event_id, event, reason)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (customer_id, message_key) DO NOTHING`,
		customerID, ev.DunningKey, ev.EventID, ev.Event, reasonText(ev)); err != nil {
		return fmt.Errorf("notice for %s: %w", ev.DunningKey, err)
	}
	// Only while the address is still the customer's: a late bounce of an
	// address already replaced must not condemn the new one.
	reason := describe(ev)
	res, err := tx.ExecContext(ctx, `
		UPDATE customers SET email_undeliverable = true, email_undeliverable_reason = $2, email_undeliverable_at = $3
		WHERE customer_id = $1 AND NOT email_undeliverable AND lower(email) = lower($4)`,
		customerID, reason, at, toEmail)
	if err != nil {
		return fmt.Errorf("customer %s: %w", customerID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	out.MarkedCustomer = true
	detail, err := json.Marshal(map[string]string{
		"message_key": ev.DunningKey, "event": ev.Event, "sg_event_id": ev.EventID, "sg_message_id": ev.MessageID,
	})
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO audit_log (event_key, customer_id, at, actor, action, reason, invoice_id, detail)
		VALUES ($1, $2, $3, $4, 'email_undeliverable', $5, NULLIF($6, ''), $7)
		ON CONFLICT (event_key) DO NOTHING`,
		"sendgrid-event:"+ev.EventID, customerID, at, AuditActor, reason, ev.InvoiceID, detail)
	if err != nil {
		return fmt.Errorf("audit for %s: %w", customerID, err)
	}
	return nil
}

// reasonText is the event's reason with its SMTP status, as SendGrid gave them.
func reasonText(ev Event) string {
	switch {
	case ev.Status != "" && ev.Reason != "" && !strings.Contains(ev.Reason, ev.Status):
		return ev.Status + " " + ev.Reason
	case ev.Reason != "":
		return ev.Reason
	}
	return ev.Status
}

// describe is the reason staff read on the customer.
func describe(ev Event) string {
	what := ev.Event
	switch {
	case ev.HardBounce():
		what = "hard bounce"
	case ev.Event == EventSpamReport:
		what = "spam report"
	}
	if r := reasonText(ev); r != "" {
		return what + ": " + r
	}
	return what
}

// Notice is a pending notification of an undeliverable address.
type Notice struct {
	CustomerID string `db:"customer_id"`
	MessageKey string `db:"message_key"`
	Event      string `db:"event"`
	Reason     string `db:"reason"`
}

// PendingNotices lists notices not yet delivered, oldest first: those of
// the given messages, or all of them (up to limit) when keys is nil.
func (s *Store) PendingNotices(ctx context.Context, keys []string, limit int) ([]Notice, error) {
	var rows []Notice
	err := s.db.SelectContext(ctx, &rows, `
		SELECT customer_id, message_key, event, reason FROM email_undeliverable_notices
		WHERE notified_at IS NULL AND ($1::text[] IS NULL OR message_key = ANY($1))
		ORDER BY created_at, customer_id, message_key LIMIT $2`, pq.Array(keys), limit)
	return rows, err
}

// Deliver calls the notifier for one notice unless it has been delivered,
// and records the outcome. The row stays locked during the call, so two
// posts of the same batch at once notify once: the second skips the locked
// row, and should the first fail, its 500 brings the batch back. It reports
// whether the notifier was called and succeeded.
func (s *Store) Deliver(ctx context.Context, n Notifier, customerID, messageKey string) (bool, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	var row Notice
	err = tx.GetContext(ctx, &row, `
		SELECT customer_id, message_key, event, reason FROM email_undeliverable_notices
		WHERE customer_id = $1 AND message_key = $2 AND notified_at IS NULL
		FOR UPDATE SKIP LOCKED`, customerID, messageKey)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // delivered, or being delivered right now
	}
	if err != nil {
		return false, err
	}
	if nerr := n.EmailUndeliverable(ctx, row.CustomerID, row.MessageKey, row.Event, row.Reason); nerr != nil {
		if _, err := tx.ExecContext(ctx, `
			UPDATE email_undeliverable_notices SET attempts = attempts + 1, last_error = $3
			WHERE customer_id = $1 AND message_key = $2`, customerID, messageKey, truncate(nerr.Error(), 500)); err != nil {
			return false, errors.Join(nerr, err)
		}
		if err := tx.Commit(); err != nil {
			return false, errors.Join(nerr, err)
		}
		return false, nerr
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE email_undeliverable_notices SET attempts = attempts + 1, last_error = NULL, notified_at = now()
		WHERE customer_id = $1 AND message_key = $2`, customerID, messageKey); err != nil {
		return true, err
	}
	return true, tx.Commit()
}

// NotifyPending delivers the pending notices of the given messages (all of
// them, a page at a time, when keys is nil: for a periodic sweep of notices
// whose batch SendGrid stopped retrying). It goes on past a failure so that
// one customer does not hold up another, and returns how many it delivered
// and the failures joined.
func (s *Store) NotifyPending(ctx context.Context, n Notifier, keys []string) (int, error) {
	pending, err := s.PendingNotices(ctx, keys, 1000)
	if err != nil {
		return 0, err
	}
	delivered := 0
	var errs []error
	for _, p := range pending {
		ok, err := s.Deliver(ctx, n, p.CustomerID, p.MessageKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify %s of %s: %w", p.CustomerID, p.MessageKey, err))
		}
		if ok {
			delivered++
		}
	}
	return delivered, errors.Join(errs...)
}

// Delivery is a message's delivery status.
type Delivery struct {
	MessageKey string    `db:"message_key"`
	Status     string    `db:"delivery_status"`
	Reason     string    `db:"delivery_reason"`
	EventID    string    `db:"delivery_event_id"`
	UpdatedAt  time.Time `db:"delivery_updated_at"`
}

// DeliveryOf returns a message's delivery status; ok is false while
// SendGrid has reported nothing for it.
func (s *Store) DeliveryOf(ctx context.Context, messageKey string) (d Delivery, ok bool, err error) {
	err = s.db.GetContext(ctx, &d, `
		SELECT message_key, delivery_status, delivery_reason, delivery_event_id, delivery_updated_at
		FROM email_outbox_delivery WHERE message_key = $1`, messageKey)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	return d, err == nil, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") // a cut rune would be refused by PostgreSQL
}
