package stripeevents

import (
	"context"
	"errors"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
)

// Notifier hands an event's update to the customer's workflow. The worker
// implements it over ops (so its errors are ops' typed errors): a refusal
// or invalid request (ops.RefusedError, ops.InvalidError), a missing
// customer (ops.ErrNotFound) and an ended lifecycle (ops.ErrTerminated) are
// final; any other error leaves the event pending, to be handed over again.
// Delivery is at least once (a crash after a successful call repeats it);
// every update is idempotent by its payment, payment method or dispute ID.
type Notifier interface {
	RecordPayment(ctx context.Context, customerID string, p account.Payment) error
	SetPaymentMethod(ctx context.Context, customerID string, c account.CardUpdate) error
	RecordChargeback(ctx context.Context, customerID string, c account.Chargeback) error
	CloseChargeback(ctx context.Context, customerID string, c account.ChargebackClosure) error
}

// finalOutcome is the outcome of a notifier error that retrying cannot
// change, or "" for one that may pass (Temporal or PostgreSQL unreachable,
// a timeout).
func finalOutcome(err error) string {
	var (
		refused *ops.RefusedError
		invalid *ops.InvalidError
	)
	switch {
	case errors.As(err, &refused):
		return outcomeRefusedPrefix + refused.Message
	case errors.As(err, &invalid):
		return outcomeRefusedPrefix + invalid.Error()
	case errors.Is(err, ops.ErrTerminated):
		return OutcomeTerminated
	case errors.Is(err, ops.ErrNotFound):
		return OutcomeCustomerNotFound
	}
	return ""
}
