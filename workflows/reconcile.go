package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
)

// registerReconcile installs what reconciliation needs of a customer's
// workflow: the GetLedger query and the Resync update.
//
// Neither changes what existing histories replay: a query adds nothing to
// history, and an update handler issues commands only when a Resync is
// called, which no history from before this code contains. So no
// workflow.GetVersion is needed for them.
func (w *lifecycle) registerReconcile(ctx workflow.Context) error {
	if err := QueryGetLedger.Register(ctx, func() (account.Ledger, error) {
		l := w.acct.Ledger()
		// Batches still to be recorded: until they are, PostgreSQL lags
		// the workflow and the difference is not drift. (Provisioning runs
		// apart; the ledger's provisioning state says when it lags.)
		l.PendingBatches = len(w.pending)
		return l, nil
	}); err != nil {
		return err
	}
	return UpdateResync.Register(ctx,
		func(ctx workflow.Context, r account.Resync) (account.ResyncResult, error) {
			defer w.poke()
			return w.resync(ctx, r)
		},
		func(_ workflow.Context, r account.Resync) error { return w.acct.CheckResync(r) },
	)
}

// resync re-records the account's current figures. First the customers row
// and every open invoice (account.resynced and one invoice.resynced per
// invoice, through the usual recording), so that the customer's row exists
// before any payment refers to it; then the missing payment rows, by an
// activity that leaves existing rows alone (the usual payment insert would
// fail on a row that exists, and recording retries until it succeeds); then
// one payment.reconciled audit event per row it inserted.
func (w *lifecycle) resync(ctx workflow.Context, r account.Resync) (account.ResyncResult, error) {
	res := account.ResyncResult{PaymentsRestored: []string{}}
	if err := w.acct.CheckResync(r); err != nil {
		return res, err
	}
	now := workflow.Now(ctx)
	events := w.acct.Resync(r, now)
	res.Invoices = len(events) - 1
	if err := w.commitAndWait(ctx, events, "resync by "+r.Actor); err != nil {
		return res, err
	}
	if pays := w.acct.ResyncPayments(r); len(pays) > 0 {
		in := activities.RestorePaymentsInput{CustomerID: w.acct.Customer.CustomerID, Actor: r.Actor, At: now}
		byID := map[string]account.LedgerPayment{}
		for _, p := range pays {
			in.Payments = append(in.Payments, activities.RestoredPayment{PaymentID: p.PaymentID, AmountMinor: p.AmountMinor, Currency: p.Currency})
			byID[p.PaymentID] = p
		}
		actx := workflow.WithActivityOptions(ctx, restorePaymentsOptions("re-record payments of "+in.CustomerID))
		var restored []string
		if err := workflow.ExecuteActivity(actx, acts.RestorePayments, in).Get(ctx, &restored); err != nil {
			return res, err
		}
		var done []account.LedgerPayment
		for _, id := range restored {
			if p, ok := byID[id]; ok {
				done = append(done, p)
				res.PaymentsRestored = append(res.PaymentsRestored, id)
			}
		}
		if err := w.commitAndWait(ctx, w.acct.PaymentsReconciled(r, done, workflow.Now(ctx)), "payments reconciled by "+r.Actor); err != nil {
			return res, err
		}
	}
	res.EventSeq = w.acct.EventSeq
	return res, nil
}

// restorePaymentsOptions: a database write that retries through outages,
// like recording.
func restorePaymentsOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		Summary:             summary,
	}
}
