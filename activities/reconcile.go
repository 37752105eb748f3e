package activities

import (
	"context"
	"fmt"
	"time"
)

// RestorePaymentsInput lists payments a customer's workflow remembers and
// PostgreSQL lacks, to be re-recorded by a Resync.
type RestorePaymentsInput struct {
	CustomerID string            `json:"customer_id"`
	Payments   []RestoredPayment `json:"payments"`
	Actor      string            `json:"actor"`
	At         time.Time         `json:"at"`
}

// RestorePayments inserts the payment rows that are missing, with what the
// workflow knows (amount and currency; method "reconciled"). Rows that
// exist are left alone, so a retry inserts nothing twice. It returns the
// IDs it inserted.
func (a *Activities) RestorePayments(ctx context.Context, in RestorePaymentsInput) ([]string, error) {
	restored, err := a.Store.RestorePayments(ctx, in.CustomerID, restoredRows(in.Payments), in.Actor, in.At)
	if err != nil {
		return nil, fmt.Errorf("restore %d payments of %s: %w", len(in.Payments), in.CustomerID, err)
	}
	if restored == nil {
		restored = []string{}
	}
	return restored, nil
}

// ReconcileInput starts a scheduled reconciliation run.
type ReconcileInput struct {
	RunKey string    `json:"run_key"` // the run's key in reconcile_runs; a rerun replaces it
	At     time.Time `json:"at"`
	Repair bool      `json:"repair"`
}

// ReconcileResult sums a reconciliation run up for the workflow and staff.
type ReconcileResult struct {
	RunKey   string `json:"run_key"`
	Checked  int    `json:"checked"`
	Drifted  int    `json:"drifted"`  // customers with drift left
	Repaired int    `json:"repaired"` // customers repaired
	Errors   int    `json:"errors"`   // customers that could not be checked
	Summary  string `json:"summary"`  // plain text for staff
}
