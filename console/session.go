package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/api"
)

// Session is a signed-in member of staff.
type Session struct {
	Actor      string   // the API token's name: the actor of what they do
	Role       api.Role // viewer or operator
	CSRF       string   // the synchronizer token every form of the session carries
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// CanAct says whether the session may change anything.
func (s Session) CanAct() bool { return s.Role == api.RoleOperator }

// ErrNoSession means the cookie names no live session: unknown, signed
// out, idle too long or past its absolute expiry.
var ErrNoSession = errors.New("no such session")

// Sessions keeps sessions by the hash of their ID. *PGSessions is the real
// one, so that every worker replica sees a sign-out at once.
type Sessions interface {
	// Create stores a new session.
	Create(ctx context.Context, idHash []byte, s Session) error
	// Touch returns the live session and records that it was used at now.
	// A session last used more than idle before now, or expired, is
	// ErrNoSession.
	Touch(ctx context.Context, idHash []byte, now time.Time, idle time.Duration) (Session, error)
	// Delete ends the session (no error when there is none).
	Delete(ctx context.Context, idHash []byte) error
	// Purge deletes sessions that expired before now.
	Purge(ctx context.Context, now time.Time, idle time.Duration) error
}

// newSecret is a random 256-bit value in URL-safe base64: session IDs,
// CSRF tokens, payment idempotency keys.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashID is what is stored of a session ID.
func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// PGSessions stores sessions in PostgreSQL (table console_sessions).
type PGSessions struct{ DB *sqlx.DB }

// Create implements Sessions.
func (p PGSessions) Create(ctx context.Context, idHash []byte, s Session) error {
	_, err := p.DB.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, actor, role, csrf_token, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $5, $6)`, idHash, s.Actor, string(s.Role), s.CSRF, s.CreatedAt, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create console session: %w", err)
	}
	return nil
}

// Touch implements Sessions in one statement, so that an expired session
// is never extended.
func (p PGSessions) Touch(ctx context.Context, idHash []byte, now time.Time, idle time.Duration) (Session, error) {
	var row struct {
		Actor      string    `db:"actor"`
		Role       string    `db:"role"`
		CSRF       string    `db:"csrf_token"`
		CreatedAt  time.Time `db:"created_at"`
		LastSeenAt time.Time `db:"last_seen_at"`
		ExpiresAt  time.Time `db:"expires_at"`
	}
	err := p.DB.GetContext(ctx, &row, `UPDATE console_sessions SET last_seen_at = $2
		WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $2 - $3 * interval '1 millisecond'
		RETURNING actor, role, csrf_token, created_at, last_seen_at, expires_at`, idHash, now, idle.Milliseconds())
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("read console session: %w", err)
	}
	return Session{Actor: row.Actor, Role: api.Role(row.Role), CSRF: row.CSRF, CreatedAt: row.CreatedAt, LastSeenAt: row.LastSeenAt, ExpiresAt: row.ExpiresAt}, nil
}

// Delete implements Sessions.
func (p PGSessions) Delete(ctx context.Context, idHash []byte) error {
	if _, err := p.DB.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}

// Purge implements Sessions.
func (p PGSessions) Purge(ctx context.Context, now time.Time, idle time.Duration) error {
	_, err := p.DB.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at <= $1 - $2 * interval '1 millisecond'`, now, idle.Milliseconds())
	if err != nil {
		return fmt.Errorf("purge console sessions: %w", err)
	}
	return nil
}
