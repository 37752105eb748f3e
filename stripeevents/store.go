package stripeevents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stripe/stripe-go/v84"

	"github.com/example/dunning/gateway"
)

// Store keeps gateway_events in PostgreSQL.
type Store struct {
	db *sqlx.DB
}

// NewStore wraps a database handle (the migrated dunning database).
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// Row is one recorded event.
type Row struct {
	EventID     string     `db:"event_id"`
	Type        string     `db:"type"`
	CustomerID  *string    `db:"customer_id"`
	ObjectID    string     `db:"object_id"`
	Created     time.Time  `db:"created"`
	Payload     []byte     `db:"payload"`
	ReceivedAt  time.Time  `db:"received_at"`
	ProcessedAt *time.Time `db:"processed_at"`
	Outcome     string     `db:"outcome"`
	Attempts    int        `db:"attempts"`
	LastError   string     `db:"last_error"`
}

// Limits of the text columns, in bytes.
const (
	maxIDBytes    = 255
	maxErrorBytes = 500
)

// eventID is the event's evt_ ID, or a digest of the payload should a
// signed event have none, so that its redelivery is still recorded once.
func eventID(ev stripe.Event, payload []byte) string {
	if ev.ID != "" {
		return cleanText(ev.ID, maxIDBytes)
	}
	sum := sha256.Sum256(payload)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Recorded is what recording one event did.
type Recorded struct {
	EventID    string
	New        bool // false: recorded before (a redelivery)
	Repaired   bool // stored with U+FFFD in place of text jsonb cannot hold
	Unstorable bool // PostgreSQL refused even the repaired payload: stored done, without it
}

// Record stores a verified event unless it was stored before.
func (s *Store) Record(ctx context.Context, ev stripe.Event, payload []byte, receivedAt time.Time) (Recorded, error) {
	out := Recorded{EventID: eventID(ev, payload)}
	payload, out.Repaired = storable(payload)
	objectID, customerID := objectRef(ev)
	created := receivedAt
	if ev.Created > 0 {
		created = time.Unix(ev.Created, 0).UTC()
	}
	typ := cleanText(string(ev.Type), maxIDBytes)
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO gateway_events (event_id, type, customer_id, object_id, created, payload, received_at)
		VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7)
		ON CONFLICT (event_id) DO NOTHING`,
		out.EventID, typ, customerID, objectID, created, payload, receivedAt)
	if isDataError(err) {
		// A number beyond numeric's range, ...: keep the event's ID and
		// type, done, rather than fail its insert on every redelivery.
		out.Unstorable = true
		res, err = s.db.ExecContext(ctx, `
			INSERT INTO gateway_events (event_id, type, object_id, created, payload, received_at, processed_at, outcome)
			VALUES ($1, $2, $3, $4, '{"unstorable": true}', $5, $5, $6)
			ON CONFLICT (event_id) DO NOTHING`,
			out.EventID, typ, objectID, created, receivedAt, cleanText(OutcomeUnstorable+": "+err.Error(), maxErrorBytes))
	}
	if err != nil {
		return out, fmt.Errorf("record event %s: %w", out.EventID, err)
	}
	n, _ := res.RowsAffected()
	out.New = n > 0
	return out, nil
}

// objectRef reads the event object's ID and our customer_id from its
// metadata, leniently: a hostile shape gives empty strings, not an error.
func objectRef(ev stripe.Event) (objectID, customerID string) {
	if ev.Data == nil {
		return "", ""
	}
	var obj struct {
		ID       any `json:"id"`
		Metadata any `json:"metadata"`
	}
	_ = json.Unmarshal(ev.Data.Raw, &obj)
	id, _ := obj.ID.(string)
	meta, _ := obj.Metadata.(map[string]any)
	cust, _ := meta[gateway.MetaCustomerID].(string)
	return cleanText(id, maxIDBytes), cleanText(cust, maxIDBytes)
}

// Event returns one recorded event.
func (s *Store) Event(ctx context.Context, eventID string) (Row, error) {
	var r Row
	err := s.db.GetContext(ctx, &r, `SELECT * FROM gateway_events WHERE event_id = $1`, eventID)
	return r, err
}

// Pending lists the IDs of unprocessed events, in the order Stripe created
// them.
func (s *Store) Pending(ctx context.Context, limit int) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, `
		SELECT event_id FROM gateway_events WHERE processed_at IS NULL
		ORDER BY created, received_at, event_id LIMIT $1`, limit)
	return ids, err
}

// finish marks a locked event processed.
func finish(ctx context.Context, tx *sqlx.Tx, id, customerID, outcome string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE gateway_events SET processed_at = $2, outcome = $3, customer_id = COALESCE(NULLIF($4, ''), customer_id),
		    attempts = attempts + 1, last_error = ''
		WHERE event_id = $1`, id, at, cleanText(outcome, maxErrorBytes), cleanText(customerID, maxIDBytes))
	return err
}

// postpone records a failed or waiting attempt of a locked event.
func postpone(ctx context.Context, tx *sqlx.Tx, id, customerID, why string) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE gateway_events SET attempts = attempts + 1, last_error = $2,
		    customer_id = COALESCE(NULLIF($3, ''), customer_id)
		WHERE event_id = $1`, id, cleanText(why, maxErrorBytes), cleanText(customerID, maxIDBytes))
	return err
}

// isDataError reports PostgreSQL refusing a value (class 22: bad text,
// bad JSON) or its size or depth (class 54), which no retry can change.
func isDataError(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	class := pqErr.Code.Class()
	return class == "22" || class == "54"
}
