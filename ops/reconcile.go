package ops

import (
	"context"
	"fmt"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/reconcile"
)

// Reconcile compares the customers' workflows with PostgreSQL (one customer
// with o.CustomerID, else everyone) and, with o.Repair, resyncs the
// customers whose drift a resync repairs and checks them again. Drift is
// the report's content, not an error; an error means the run could not be
// made (Temporal or PostgreSQL unreachable: *UnavailableError), or the one
// customer asked for does not exist (ErrNotFound).
//
// Each Temporal call is bounded by Options.Timeout; the run as a whole is
// not, since it visits every customer.
func (o *Ops) Reconcile(ctx context.Context, opts reconcile.Options) (reconcile.Report, error) {
	if opts.CustomerID != "" {
		if err := account.ValidateCustomerID(opts.CustomerID); err != nil {
			return reconcile.Report{}, Invalid(err)
		}
	}
	if opts.Repair {
		r := account.Resync{Actor: opts.Actor, Reason: opts.Reason}
		if r.Reason == "" {
			r.Reason = "reconciliation repair"
		}
		if err := r.Validate(); err != nil {
			return reconcile.Report{}, Invalid(err)
		}
	}
	c, err := o.temporalClient(ctx)
	if err != nil {
		return reconcile.Report{}, err
	}
	st, err := o.db(ctx)
	if err != nil {
		return reconcile.Report{}, err
	}
	r := setup.Reconciler(o.cfg, c, st)
	r.Workflows = reconcile.Temporal{Client: c, Timeout: o.timeout}
	rep, err := r.Run(ctx, opts)
	if err != nil {
		return rep, &UnavailableError{fmt.Errorf("reconcile: %w", err)}
	}
	if opts.CustomerID != "" && len(rep.Customers) == 1 && rep.Customers[0].Error == reconcile.ErrUnknownCustomer.Error() {
		return rep, notFound("unknown customer %q: no workflow %s and no customers row", opts.CustomerID, "customer-"+opts.CustomerID)
	}
	return rep, nil
}
