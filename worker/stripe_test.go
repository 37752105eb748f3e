package main

import (
	"context"
	"errors"
	"testing"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/stripeevents"
	"github.com/example/dunning/workflows"
)

var _ stripeevents.Notifier = GatewayNotifier{}

// updater records the update it was asked to run and fails with err.
type updater struct {
	customerID, name string
	arg              any
	err              error
}

func (u *updater) Update(_ context.Context, customerID, name string, arg, _ any) error {
	u.customerID, u.name, u.arg = customerID, name, arg
	return u.err
}

// Each Stripe event's update goes through its typed descriptor, and ops'
// errors come back as they are, for stripeevents to tell apart.
func TestGatewayNotifierRunsTheTypedUpdates(t *testing.T) {
	ctx := context.Background()
	refused := &ops.RefusedError{Op: "RecordPayment", Message: "no"}
	pay := account.Payment{PaymentID: "pi_1", AmountMinor: 5000, Currency: "USD", Method: "card"}
	cardUpd := account.CardUpdate{PaymentMethodID: "pm_1", Source: account.CardFromGateway, Actor: "stripe"}
	cb := account.Chargeback{DisputeID: "du_1", PaymentID: "pi_1", InvoiceID: "inv-1", AmountMinor: 5000, Currency: "USD", Reason: "fraudulent"}
	cl := account.ChargebackClosure{DisputeID: "du_1", Outcome: account.ChargebackWon}
	for _, c := range []struct {
		name string
		arg  any
		run  func(GatewayNotifier) error
	}{
		{workflows.UpdateRecordPayment.Name, pay, func(n GatewayNotifier) error { return n.RecordPayment(ctx, "cust-1", pay) }},
		{workflows.UpdateSetPaymentMethod.Name, cardUpd, func(n GatewayNotifier) error { return n.SetPaymentMethod(ctx, "cust-1", cardUpd) }},
		{workflows.UpdateRecordChargeback.Name, cb, func(n GatewayNotifier) error { return n.RecordChargeback(ctx, "cust-1", cb) }},
		{workflows.UpdateCloseChargeback.Name, cl, func(n GatewayNotifier) error { return n.CloseChargeback(ctx, "cust-1", cl) }},
	} {
		u := &updater{err: refused}
		if err := c.run(GatewayNotifier{Ops: u}); !errors.Is(err, refused) {
			t.Errorf("%s: error %v, want ops' own", c.name, err)
		}
		if u.name != c.name || u.customerID != "cust-1" || u.arg != c.arg {
			t.Errorf("ran %s for %s with %+v, want %s with %+v", u.name, u.customerID, u.arg, c.name, c.arg)
		}
	}
}
