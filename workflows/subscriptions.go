package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
)

// versionSubscriptions marks runs whose account has subscriptions (billed
// line by line, suspended one by one) and exemptions. A new customer asks
// at its start; a running one only when a subscription update, an
// exemption or a misuse report naming a subscription first comes, so
// customers that never need it record no marker and replay as before. The
// account carries the answer across continue-as-new.
const versionSubscriptions = "subscriptions"

var errPredatesSubscriptions = errors.New("this customer's workflow predates subscriptions and exemptions")

// subscribed turns subscriptions on where the run may have them.
func (w *lifecycle) subscribed(ctx workflow.Context) bool {
	if !w.acct.Subscribed && w.durable &&
		(w.lean || workflow.GetVersion(ctx, versionSubscriptions, workflow.DefaultVersion, 1) == 1) {
		w.acct.EnableSubscriptions()
	}
	return w.acct.Subscribed
}

// registerSubscriptions installs the subscription and exemption updates.
func (w *lifecycle) registerSubscriptions(ctx workflow.Context) error {
	if err := register(ctx, w, UpdateAddSubscription,
		func(ctx workflow.Context, s account.SubscriptionSpec) error {
			return w.acct.CheckAddSubscription(s, workflow.Now(ctx))
		},
		func(ctx workflow.Context, s account.SubscriptionSpec, now time.Time) ([]account.Event, error) {
			if !w.subscribed(ctx) {
				return nil, errPredatesSubscriptions
			}
			return w.acct.AddSubscription(s, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateChangeQuantity,
		func(_ workflow.Context, q account.QuantityChange) error { return w.acct.CheckChangeQuantity(q) },
		func(ctx workflow.Context, q account.QuantityChange, now time.Time) ([]account.Event, error) {
			if !w.subscribed(ctx) {
				return nil, errPredatesSubscriptions
			}
			return w.acct.ChangeQuantity(q, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateCancelSubscription,
		func(_ workflow.Context, c account.Cancellation) error { return w.acct.CheckCancelSubscription(c) },
		func(ctx workflow.Context, c account.Cancellation, now time.Time) ([]account.Event, error) {
			if !w.subscribed(ctx) {
				return nil, errPredatesSubscriptions
			}
			return w.acct.CancelSubscription(c, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateSetExemption,
		func(ctx workflow.Context, r account.ExemptionRequest) error {
			return w.acct.CheckSetExemption(r, workflow.Now(ctx))
		},
		func(ctx workflow.Context, r account.ExemptionRequest, now time.Time) ([]account.Event, error) {
			if !w.subscribed(ctx) {
				return nil, errPredatesSubscriptions
			}
			return w.acct.SetExemption(r, now)
		},
	); err != nil {
		return err
	}
	return register(ctx, w, UpdateRemoveExemption,
		func(_ workflow.Context, r account.ExemptionRemoval) error { return w.acct.CheckRemoveExemption(r) },
		func(ctx workflow.Context, r account.ExemptionRemoval, now time.Time) ([]account.Event, error) {
			if !w.subscribed(ctx) {
				return nil, errPredatesSubscriptions
			}
			return w.acct.RemoveExemption(r, now)
		},
	)
}
