package monitoring

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

// Updater runs a workflow update for a customer; *ops.Ops is one.
type Updater = contract.Updater

// OpsReporter is the Reporter for production: a ReportAbuse update on the
// customer's workflow through ops, with ops' errors mapped to what the
// Ingester acts on.
type OpsReporter struct{ Ops Updater }

// ReportAbuse runs the update. No workflow: ErrUnknownCustomer. A
// terminated lifecycle, a report the validator refused, or one ops found
// invalid: ErrRejected. Anything else (Temporal unavailable, no answer in
// time) is returned as it is, and the hit is retried.
func (r OpsReporter) ReportAbuse(ctx context.Context, customerID string, rep account.AbuseReport) error {
	_, err := contract.Run(ctx, r.Ops, workflows.UpdateReportAbuse, customerID, rep)
	var (
		refused *ops.RefusedError
		invalid *ops.InvalidError
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ops.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrUnknownCustomer, err)
	case errors.Is(err, ops.ErrTerminated), errors.As(err, &refused), errors.As(err, &invalid):
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return err
}
