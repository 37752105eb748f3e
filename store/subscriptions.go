package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/example/dunning/account"
)

// Subscription is the default provisioner's view of a customer's service.
type Subscription struct {
	CustomerID string    `db:"customer_id" json:"customer_id"`
	Status     string    `db:"status" json:"status"`
	Access     string    `db:"access" json:"access"`
	Reason     string    `db:"reason" json:"reason"`
	ActionKey  string    `db:"action_key" json:"action_key"`
	UpdatedAt  time.Time `db:"updated_at" json:"updated_at"`
}

// ApplyProvision changes the subscription row for a provisioning action.
// The action key makes it idempotent: the same action twice is one change.
func (s *Store) ApplyProvision(ctx context.Context, customerID string, action account.Provision, reason, key string, at time.Time) error {
	// An empty status or access keeps what the row has: suspend and
	// reinstate keep the access level the customer had earned, access
	// changes keep the status.
	var status, access string
	switch action {
	case account.ProvisionActivate:
		status, access = "active", "limited"
	case account.ProvisionFullAccess:
		access = "full"
	case account.ProvisionLimitAccess:
		access = "limited"
	case account.ProvisionSuspend:
		status = "suspended"
	case account.ProvisionReinstate:
		status = "active"
	case account.ProvisionTerminate:
		status, access = "terminated", "none"
	default:
		return fmt.Errorf("unknown provisioning action %q", action)
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO subscriptions (customer_id, status, access, reason, action_key, updated_at)
		VALUES ($1, COALESCE(NULLIF($2, ''), 'active'), COALESCE(NULLIF($3, ''), 'limited'), $4, $5, $6)
		ON CONFLICT (customer_id) DO UPDATE SET
		    status = CASE WHEN $2 = '' THEN subscriptions.status ELSE EXCLUDED.status END,
		    access = CASE WHEN $3 = '' THEN subscriptions.access ELSE EXCLUDED.access END,
		    reason = EXCLUDED.reason, action_key = EXCLUDED.action_key, updated_at = EXCLUDED.updated_at
		WHERE subscriptions.action_key <> EXCLUDED.action_key`,
		customerID, status, access, reason, key, at)
	return err
}

// SubscriptionOf returns the customer's subscription row.
func (s *Store) SubscriptionOf(ctx context.Context, customerID string) (Subscription, error) {
	var sub Subscription
	err := s.db.GetContext(ctx, &sub, `SELECT * FROM subscriptions WHERE customer_id = $1`, customerID)
	if errors.Is(err, sql.ErrNoRows) {
		return sub, fmt.Errorf("subscription of %q: %w", customerID, ErrNotFound)
	}
	return sub, err
}
