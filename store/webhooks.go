package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/account"
	"github.com/example/dunning/webhooks"
)

// DeliveryStatus is a webhook delivery's state.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // due at next_attempt_at (or being attempted)
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // the retry schedule ran out
	DeliveryCancelled DeliveryStatus = "cancelled" // its audit row was a failed workflow task's
)

// DeliveryStatuses lists them.
func DeliveryStatuses() []DeliveryStatus {
	return []DeliveryStatus{DeliveryPending, DeliveryDelivered, DeliveryFailed, DeliveryCancelled}
}

// writeWebhookEvents writes the public events of one recorded account event
// (under the audit key it was recorded with) and a delivery of each to every
// active endpoint that takes its type, inside the Record transaction: an
// event exists exactly when its audit row does.
func writeWebhookEvents(ctx context.Context, tx *sqlx.Tx, c Customer, key string, ev account.Event) error {
	acct := webhooks.Account{CustomerID: c.CustomerID, BalanceMinor: c.BalanceMinor, Currency: c.Currency}
	for _, pe := range webhooks.FromAudit(acct, key, ev) {
		body, err := json.Marshal(pe)
		if err != nil {
			return fmt.Errorf("webhook event %s: %w", pe.Type, err)
		}
		var seq int64
		err = tx.GetContext(ctx, &seq, `
			INSERT INTO webhook_events (event_id, event_type, customer_id, event_key, occurred_at, body)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING seq`,
			pe.ID, pe.Type, c.CustomerID, key, pe.OccurredAt, string(body))
		if errors.Is(err, sql.ErrNoRows) {
			continue // written before
		}
		if err != nil {
			return fmt.Errorf("webhook event %s: %w", pe.Type, err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO webhook_deliveries (endpoint_id, event_seq, customer_id)
			SELECT endpoint_id, $1, $2 FROM webhook_endpoints WHERE active AND $3 = ANY(event_types)`,
			seq, c.CustomerID, string(pe.Type)); err != nil {
			return fmt.Errorf("webhook deliveries of %s: %w", pe.Type, err)
		}
	}
	return nil
}

// cancelDisplaced stops the deliveries not yet made of the events of the
// audit row under key, which a failed workflow task wrote: the change it
// holds is recorded again under another key, with events of its own.
func cancelDisplaced(ctx context.Context, tx *sqlx.Tx, key string) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE webhook_deliveries SET status = 'cancelled', updated_at = now(),
		    last_error = 'cancelled: its audit row was written by a workflow task that failed; the change is announced under another event ID'
		WHERE status = 'pending' AND event_seq IN (SELECT seq FROM webhook_events WHERE event_key = $1)`, key)
	return err
}

// Endpoint is a registered receiver.
type Endpoint struct {
	ID          string    `db:"endpoint_id" json:"id"`
	URL         string    `db:"url" json:"url"`
	Secret      string    `db:"secret" json:"-"` // never listed or logged
	EventTypes  []string  `db:"-" json:"event_types"`
	Active      bool      `db:"active" json:"active"`
	Description string    `db:"description" json:"description,omitempty"`
	CreatedBy   string    `db:"created_by" json:"created_by"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
}

type endpointRow struct {
	Endpoint
	Types pq.StringArray `db:"event_types"`
}

func (r endpointRow) endpoint() Endpoint {
	e := r.Endpoint
	e.EventTypes = []string(r.Types)
	return e
}

// CreateEndpoint registers an endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e Endpoint) (Endpoint, error) {
	var row endpointRow
	err := s.db.GetContext(ctx, &row, `
		INSERT INTO webhook_endpoints (endpoint_id, url, secret, event_types, description, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
		e.ID, e.URL, e.Secret, pq.Array(e.EventTypes), e.Description, e.CreatedBy)
	if err != nil {
		return Endpoint{}, err
	}
	return row.endpoint(), nil
}

// Endpoints lists the endpoints, oldest first.
func (s *Store) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var rows []endpointRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT * FROM webhook_endpoints ORDER BY created_at, endpoint_id`); err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.endpoint())
	}
	return out, nil
}

// EndpointByID returns one endpoint, or ErrNotFound.
func (s *Store) EndpointByID(ctx context.Context, id string) (Endpoint, error) {
	var row endpointRow
	err := s.db.GetContext(ctx, &row, `SELECT * FROM webhook_endpoints WHERE endpoint_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	return row.endpoint(), err
}

// SetEndpointActive turns an endpoint on or off. An inactive endpoint is
// given no new events, and its pending deliveries wait until it is active
// again. An unknown endpoint is ErrNotFound.
func (s *Store) SetEndpointActive(ctx context.Context, id string, active bool) (Endpoint, error) {
	var row endpointRow
	err := s.db.GetContext(ctx, &row, `UPDATE webhook_endpoints SET active = $2 WHERE endpoint_id = $1 RETURNING *`, id, active)
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	return row.endpoint(), err
}

// Claim is a delivery taken for one attempt.
type Claim struct {
	DeliveryID    int64     `db:"delivery_id"`
	Attempt       int       `db:"attempts"`       // this attempt's number
	RoundAttempts int       `db:"round_attempts"` // attempts since the schedule (re)started, this one included
	RoundStarted  time.Time `db:"round_started"`
	EndpointID    string    `db:"endpoint_id"`
	URL           string    `db:"url"`
	Secret        string    `db:"secret"`
	EventID       string    `db:"event_id"`
	EventType     string    `db:"event_type"`
	CustomerID    string    `db:"customer_id"`
	Body          string    `db:"body"`
}

// ClaimDeliveries takes up to limit deliveries due at now for one attempt
// each: a delivery waits while an earlier event of the same customer to
// the same endpoint is pending, so each customer's events reach each
// endpoint in order. A claimed delivery is not due again until now+lease,
// so that one whose worker died is attempted again after it. Rows locked
// by another claimer are skipped. Every attempt is logged as it starts.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Claim, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	var claims []Claim
	err = tx.SelectContext(ctx, &claims, `
		WITH due AS (
		    SELECT d.delivery_id FROM webhook_deliveries d
		    JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id AND e.active
		    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
		      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
		          WHERE p.endpoint_id = d.endpoint_id AND p.customer_id = d.customer_id
		            AND p.status = 'pending' AND p.event_seq < d.event_seq)
		    ORDER BY d.next_attempt_at, d.delivery_id
		    LIMIT $2
		    FOR UPDATE OF d SKIP LOCKED
		)
		UPDATE webhook_deliveries d SET attempts = d.attempts + 1, round_attempts = d.round_attempts + 1,
		    round_started = COALESCE(d.round_started, $1), next_attempt_at = $3, updated_at = $1
		FROM due, webhook_endpoints e, webhook_events v
		WHERE d.delivery_id = due.delivery_id AND e.endpoint_id = d.endpoint_id AND v.seq = d.event_seq
		RETURNING d.delivery_id, d.attempts, d.round_attempts, d.round_started, d.endpoint_id, e.url, e.secret,
		    v.event_id, v.event_type, d.customer_id, v.body`,
		now, limit, now.Add(lease))
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	for _, c := range claims {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO webhook_attempts (delivery_id, attempt, started_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, c.DeliveryID, c.Attempt, now); err != nil {
			return nil, fmt.Errorf("log webhook attempt: %w", err)
		}
	}
	return claims, tx.Commit()
}

// AttemptOutcome is how one attempt ended.
type AttemptOutcome struct {
	DeliveryID int64
	Attempt    int
	Duration   time.Duration
	StatusCode int    // 0: no answer
	Error      string // empty when delivered
	Delivered  bool
	// Retry is when to try again; zero when the schedule ran out (or
	// delivered).
	Retry time.Time
}

// CompleteAttempt records an attempt's outcome in the log and on the
// delivery: delivered, due again at Retry, or failed. A delivery claimed
// again since (this attempt's lease ran out) keeps the newer attempt's
// state; only the log gets this one.
func (s *Store) CompleteAttempt(ctx context.Context, o AttemptOutcome, now time.Time) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	code := sql.NullInt64{Int64: int64(o.StatusCode), Valid: o.StatusCode != 0}
	if _, err := tx.ExecContext(ctx, `
		UPDATE webhook_attempts SET duration_ms = $3, status_code = $4, error = $5
		WHERE delivery_id = $1 AND attempt = $2`,
		o.DeliveryID, o.Attempt, o.Duration.Milliseconds(), code, o.Error); err != nil {
		return err
	}
	status, next := DeliveryPending, o.Retry
	switch {
	case o.Delivered:
		status, next = DeliveryDelivered, now
	case o.Retry.IsZero():
		status, next = DeliveryFailed, now
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, last_status = $5, last_error = $6,
		    delivered_at = CASE WHEN $3 = 'delivered' THEN $7 ELSE delivered_at END, updated_at = $7
		WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'`,
		o.DeliveryID, o.Attempt, status, next, code, o.Error, now); err != nil {
		return err
	}
	return tx.Commit()
}

// Delivery is a delivery as staff see it.
type Delivery struct {
	ID            int64          `db:"delivery_id" json:"id"`
	EndpointID    string         `db:"endpoint_id" json:"endpoint_id"`
	EventID       string         `db:"event_id" json:"event_id"`
	EventType     string         `db:"event_type" json:"event_type"`
	CustomerID    string         `db:"customer_id" json:"customer_id"`
	Status        DeliveryStatus `db:"status" json:"status"`
	Attempts      int            `db:"attempts" json:"attempts"`
	NextAttemptAt time.Time      `db:"next_attempt_at" json:"next_attempt_at"`
	LastStatus    *int64         `db:"last_status" json:"last_status,omitempty"` // the receiver's last HTTP status
	LastError     string         `db:"last_error" json:"last_error,omitempty"`
	DeliveredAt   *time.Time     `db:"delivered_at" json:"delivered_at,omitempty"`
	CreatedAt     time.Time      `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time      `db:"updated_at" json:"updated_at"`
}

// DeliveryFilter selects deliveries; empty fields select all.
type DeliveryFilter struct {
	EndpointID string
	Status     DeliveryStatus
	CustomerID string
	Limit      int // newest first; 0: 100
}

// Deliveries lists deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var out []Delivery
	err := s.db.SelectContext(ctx, &out, `
		SELECT d.delivery_id, d.endpoint_id, v.event_id, v.event_type, d.customer_id, d.status, d.attempts,
		    d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, d.updated_at
		FROM webhook_deliveries d JOIN webhook_events v ON v.seq = d.event_seq
		WHERE ($1 = '' OR d.endpoint_id = $1) AND ($2 = '' OR d.status = $2) AND ($3 = '' OR d.customer_id = $3)
		ORDER BY d.delivery_id DESC LIMIT $4`,
		f.EndpointID, string(f.Status), f.CustomerID, f.Limit)
	return out, err
}

// Attempt is one logged attempt.
type Attempt struct {
	DeliveryID int64     `db:"delivery_id" json:"-"`
	Attempt    int       `db:"attempt" json:"attempt"`
	StartedAt  time.Time `db:"started_at" json:"started_at"`
	DurationMS *int64    `db:"duration_ms" json:"duration_ms"` // nil: no outcome recorded (the worker stopped during it)
	StatusCode *int64    `db:"status_code" json:"status_code"` // nil: no answer
	Error      string    `db:"error" json:"error,omitempty"`
}

// AttemptsOf lists a delivery's attempts, oldest first.
func (s *Store) AttemptsOf(ctx context.Context, deliveryID int64) ([]Attempt, error) {
	var out []Attempt
	err := s.db.SelectContext(ctx, &out, `SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, deliveryID)
	return out, err
}

// ReplayDelivery makes a delivery due now with a fresh retry schedule,
// whatever its state (a delivered event is sent again under the same event
// ID). An unknown delivery is ErrNotFound.
func (s *Store) ReplayDelivery(ctx context.Context, deliveryID int64, now time.Time) (Delivery, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2, round_attempts = 0, round_started = NULL,
		    last_error = '', updated_at = $2
		WHERE delivery_id = $1`, deliveryID, now)
	if err != nil {
		return Delivery{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Delivery{}, ErrNotFound
	}
	return s.delivery(ctx, deliveryID)
}

// ReplayFailed makes every failed delivery to the endpoint due again with a
// fresh schedule, and returns how many.
func (s *Store) ReplayFailed(ctx context.Context, endpointID string, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2, round_attempts = 0, round_started = NULL,
		    last_error = '', updated_at = $2
		WHERE endpoint_id = $1 AND status = 'failed'`, endpointID, now)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (s *Store) delivery(ctx context.Context, id int64) (Delivery, error) {
	var d Delivery
	err := s.db.GetContext(ctx, &d, `
		SELECT d.delivery_id, d.endpoint_id, v.event_id, v.event_type, d.customer_id, d.status, d.attempts,
		    d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, d.updated_at
		FROM webhook_deliveries d JOIN webhook_events v ON v.seq = d.event_seq WHERE d.delivery_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	return d, err
}
