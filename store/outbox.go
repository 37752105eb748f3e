package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Outbox statuses.
const (
	OutboxPending     = "pending"     // written, not yet handed to SendGrid
	OutboxSending     = "sending"     // handed over; the outcome is not yet recorded
	OutboxSent        = "sent"        // SendGrid accepted it (202)
	OutboxLogged      = "logged"      // no API key: kept here and in the log only
	OutboxFailed      = "failed"      // refused for good (400/401/403/413)
	OutboxUnconfirmed = "unconfirmed" // a send was cut off; not retried, staff check
)

// OutboxMessage is one email row.
type OutboxMessage struct {
	ID                int64          `db:"id" json:"id"`
	MessageKey        string         `db:"message_key" json:"message_key"`
	CustomerID        sql.NullString `db:"customer_id" json:"-"` // empty for staff reports
	InvoiceID         sql.NullString `db:"invoice_id" json:"-"`
	Stage             string         `db:"stage" json:"stage"`
	Template          string         `db:"template" json:"template"`
	Channel           string         `db:"channel" json:"channel"`   // email or sms
	ToEmail           string         `db:"to_email" json:"to_email"` // the phone number for sms
	Subject           string         `db:"subject" json:"subject"`
	BodyText          string         `db:"body_text" json:"body_text"`
	BodyHTML          string         `db:"body_html" json:"body_html"`
	Status            string         `db:"status" json:"status"`
	Attempts          int            `db:"attempts" json:"attempts"`
	ProviderMessageID sql.NullString `db:"provider_message_id" json:"-"`
	LastError         sql.NullString `db:"last_error" json:"-"`
	CreatedAt         time.Time      `db:"created_at" json:"created_at"`
	UpdatedAt         time.Time      `db:"updated_at" json:"updated_at"`
	SentAt            sql.NullTime   `db:"sent_at" json:"-"`
	// DeliveryStatus is the furthest SendGrid event seen (delivered,
	// bounce, ...), from the event webhook; empty before any.
	DeliveryStatus string `db:"delivery_status" json:"delivery_status,omitempty"`
}

// outboxWithDelivery reads outbox rows with their delivery status.
const outboxWithDelivery = `SELECT o.*, COALESCE(d.delivery_status, '') AS delivery_status
	FROM email_outbox o LEFT JOIN email_outbox_delivery d USING (message_key)`

// OutboxClaim is where a message stands when an attempt claims it.
type OutboxClaim struct {
	Status            string         `db:"status"`
	Attempts          int            `db:"attempts"`
	ProviderMessageID sql.NullString `db:"provider_message_id"`
	LastError         sql.NullString `db:"last_error"`
	Claimed           bool           `db:"claimed"` // the caller may send now
}

// claimOutbox writes a new message already taken for sending, or takes a
// pending one (a retryable failure put it back), in one statement; it
// returns the row's state, never the bodies the caller already has. Under
// ON CONFLICT DO UPDATE the conflicting row is locked and its WHERE read
// at its latest version, so of concurrent attempts exactly one claims.
// When nothing is claimed the row's state is read in the same statement;
// a row committed by a concurrent attempt after this statement's snapshot
// is not visible to that read (no row comes back), and ClaimOutbox reads
// it again.
const claimOutbox = `
WITH claimed AS (
	INSERT INTO email_outbox AS o (message_key, customer_id, invoice_id, stage, template, channel, to_email, subject, body_text, body_html, status, attempts)
	VALUES ($1, $2, $3, $4, $5, COALESCE(NULLIF($6, ''), 'email'), $7, $8, $9, $10, 'sending', 1)
	ON CONFLICT (message_key) DO UPDATE SET status = 'sending', attempts = o.attempts + 1, updated_at = now()
	WHERE o.status = 'pending'
	RETURNING o.status, o.attempts, o.provider_message_id, o.last_error
)
SELECT status, attempts, provider_message_id, last_error, true AS claimed FROM claimed
UNION ALL
SELECT status, attempts, provider_message_id, last_error, false FROM email_outbox
WHERE message_key = $1 AND NOT EXISTS (SELECT 1 FROM claimed)`

// ClaimOutbox writes the message if it is new, and takes it for sending if
// nothing has been sent for its key yet, committed before the caller sends.
// It returns where the row stands and whether the caller may send now. A
// row left in "sending" by an attempt that died is returned unclaimed:
// whether SendGrid took it is unknown. What was first written for a key is
// kept; a retry's copy of the message is not written.
func (s *Store) ClaimOutbox(ctx context.Context, m OutboxMessage) (OutboxClaim, error) {
	var c OutboxClaim
	err := s.db.GetContext(ctx, &c, claimOutbox, m.MessageKey, m.CustomerID, m.InvoiceID, m.Stage, m.Template, m.Channel,
		m.ToEmail, m.Subject, m.BodyText, m.BodyHTML)
	if errors.Is(err, sql.ErrNoRows) {
		// A concurrent attempt wrote the row after this statement began.
		err = s.db.GetContext(ctx, &c, `SELECT status, attempts, provider_message_id, last_error, false AS claimed
			FROM email_outbox WHERE message_key = $1`, m.MessageKey)
	}
	if err != nil {
		return OutboxClaim{}, fmt.Errorf("outbox %s: %w", m.MessageKey, err)
	}
	return c, nil
}

// FinishOutbox records how a send ended. A retryable failure puts the row
// back to pending so that the next attempt may claim it.
func (s *Store) FinishOutbox(ctx context.Context, key, status, providerID, errText string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE email_outbox SET status = $2, provider_message_id = COALESCE(NULLIF($3, ''), provider_message_id),
		    last_error = NULLIF($4, ''), updated_at = now(),
		    sent_at = CASE WHEN $2 IN ('sent', 'logged') THEN now() ELSE sent_at END
		WHERE message_key = $1`, key, status, providerID, errText)
	return err
}

// OutboxFor lists a customer's messages, oldest first.
func (s *Store) OutboxFor(ctx context.Context, customerID string) ([]OutboxMessage, error) {
	var rows []OutboxMessage
	err := s.db.SelectContext(ctx, &rows, outboxWithDelivery+` WHERE o.customer_id = $1 ORDER BY o.id`, customerID)
	return rows, err
}

// OutboxMessageByKey returns one message.
func (s *Store) OutboxMessageByKey(ctx context.Context, key string) (OutboxMessage, error) {
	var row OutboxMessage
	err := s.db.GetContext(ctx, &row, outboxWithDelivery+` WHERE o.message_key = $1`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return row, fmt.Errorf("message %q: %w", key, ErrNotFound)
	}
	return row, err
}
