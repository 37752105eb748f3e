package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

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
	return applyAccount(ctx, s.db, customerID, action, reason, key, at)
}

func applyAccount(ctx context.Context, db sqlx.ExecerContext, customerID string, action account.Provision, reason, key string, at time.Time) error {
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
	_, err := db.ExecContext(ctx, `
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

// ProvisionChange is a provisioning action for the default provisioner: on
// the account (its subscriptions row) and on the subscriptions it names
// (their subscription_items rows), or, for the *_subscriptions actions, on
// those subscriptions alone.
type ProvisionChange struct {
	CustomerID    string
	Action        account.Provision
	Reason        string
	Key           string
	At            time.Time
	Subscriptions []string
}

// SubscriptionItem is a subscription_items row.
type SubscriptionItem struct {
	CustomerID     string    `db:"customer_id" json:"customer_id"`
	SubscriptionID string    `db:"subscription_id" json:"subscription_id"`
	Status         string    `db:"status" json:"status"`
	Reason         string    `db:"reason" json:"reason"`
	ActionKey      string    `db:"action_key" json:"action_key"`
	UpdatedAt      time.Time `db:"updated_at" json:"updated_at"`
}

// itemStatus is what an action makes of the subscriptions it names; the
// bool says whether the action is on the account too.
func itemStatus(a account.Provision) (string, bool, error) {
	switch a {
	case account.ProvisionActivate, account.ProvisionReinstate:
		return "active", true, nil
	case account.ProvisionSuspend:
		return "suspended", true, nil
	case account.ProvisionTerminate:
		return "cancelled", true, nil
	case account.ProvisionFullAccess, account.ProvisionLimitAccess:
		return "", true, nil
	case account.ProvisionActivateSubscriptions, account.ProvisionReinstateSubscriptions:
		return "active", false, nil
	case account.ProvisionSuspendSubscriptions:
		return "suspended", false, nil
	case account.ProvisionCancelSubscriptions:
		return "cancelled", false, nil
	}
	return "", false, fmt.Errorf("unknown provisioning action %q", a)
}

// ApplyProvisionChange applies the action in one transaction. The action key
// makes it idempotent; a cancelled subscription stays cancelled.
func (s *Store) ApplyProvisionChange(ctx context.Context, c ProvisionChange) error {
	status, onAccount, err := itemStatus(c.Action)
	if err != nil {
		return err
	}
	if !onAccount && len(c.Subscriptions) == 0 {
		return fmt.Errorf("provisioning action %s names no subscription", c.Action)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if onAccount {
		if err := applyAccount(ctx, tx, c.CustomerID, c.Action, c.Reason, c.Key, c.At); err != nil {
			return err
		}
	}
	if status != "" {
		for _, id := range c.Subscriptions {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO subscription_items (customer_id, subscription_id, status, reason, action_key, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (customer_id, subscription_id) DO UPDATE SET
				    status = EXCLUDED.status, reason = EXCLUDED.reason, action_key = EXCLUDED.action_key, updated_at = EXCLUDED.updated_at
				WHERE subscription_items.action_key <> EXCLUDED.action_key AND subscription_items.status <> 'cancelled'`,
				c.CustomerID, id, status, c.Reason, c.Key, c.At); err != nil {
				return fmt.Errorf("subscription %s of %s: %w", id, c.CustomerID, err)
			}
		}
	}
	return tx.Commit()
}

// SubscriptionItemsOf lists the customer's subscription rows by ID.
func (s *Store) SubscriptionItemsOf(ctx context.Context, customerID string) ([]SubscriptionItem, error) {
	var rows []SubscriptionItem
	err := s.db.SelectContext(ctx, &rows, `SELECT * FROM subscription_items WHERE customer_id = $1 ORDER BY subscription_id`, customerID)
	return rows, err
}
