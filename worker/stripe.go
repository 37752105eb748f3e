package main

import (
	"context"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/workflows"
)

// GatewayNotifier hands Stripe's events to the customer's workflow as its
// typed updates through ops, whose typed errors (refused, not found,
// terminated, unavailable) stripeevents tells apart.
type GatewayNotifier struct{ Ops contract.Updater }

// RecordPayment implements stripeevents.Notifier.
func (n GatewayNotifier) RecordPayment(ctx context.Context, customerID string, p account.Payment) error {
	_, err := contract.Run(ctx, n.Ops, workflows.UpdateRecordPayment, customerID, p)
	return err
}

// SetPaymentMethod implements stripeevents.Notifier.
func (n GatewayNotifier) SetPaymentMethod(ctx context.Context, customerID string, c account.CardUpdate) error {
	_, err := contract.Run(ctx, n.Ops, workflows.UpdateSetPaymentMethod, customerID, c)
	return err
}

// RecordChargeback implements stripeevents.Notifier.
func (n GatewayNotifier) RecordChargeback(ctx context.Context, customerID string, c account.Chargeback) error {
	_, err := contract.Run(ctx, n.Ops, workflows.UpdateRecordChargeback, customerID, c)
	return err
}

// CloseChargeback implements stripeevents.Notifier.
func (n GatewayNotifier) CloseChargeback(ctx context.Context, customerID string, c account.ChargebackClosure) error {
	_, err := contract.Run(ctx, n.Ops, workflows.UpdateCloseChargeback, customerID, c)
	return err
}
