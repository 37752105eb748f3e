package workflows

import (
	"errors"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
)

// versionCardCollection marks runs that save cards at the payment gateway
// and charge them on the policy's schedule. It is asked for only where a
// card first comes in (an application naming one, SetPaymentMethod), so
// customers without a card record no marker; the account carries the
// answer across continue-as-new.
const versionCardCollection = "card-collection"

// localLookupInvoice reads a closed invoice for a chargeback (see
// localRecord for why local activities are called by name).
const localLookupInvoice = "LookupInvoice"

// collecting reports whether this customer may save and charge cards.
func (w *lifecycle) collecting(ctx workflow.Context) bool {
	if !w.acct.Collecting && w.durable &&
		(w.lean || workflow.GetVersion(ctx, versionCardCollection, workflow.DefaultVersion, 1) == 1) {
		w.acct.Collecting = true
	}
	return w.acct.Collecting
}

// attachCard saves a card at the gateway for the customer. Its retries are
// bounded: a caller (staff, the webhook) is waiting for the answer.
func (w *lifecycle) attachCard(ctx workflow.Context, paymentMethodID string) (account.CardOnFile, error) {
	c := w.acct.Customer
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 20 * time.Second,
			NonRetryableErrorTypes: []string{activities.ErrNoGateway, activities.ErrCardRefused}},
		Summary: "save card " + paymentMethodID + " for " + c.CustomerID,
	})
	var card account.CardOnFile
	err := workflow.ExecuteActivity(actx, acts.AttachCard, activities.AttachCardInput{
		CustomerID: c.CustomerID, Name: c.Name, Email: c.Email, PaymentMethodID: paymentMethodID}).Get(ctx, &card)
	return card, err
}

// cardFromApplication saves the card an application names, once screening
// has not refused it; a card the gateway refuses is an alert for staff.
func (w *lifecycle) cardFromApplication(ctx workflow.Context) {
	pm := w.acct.Customer.PaymentInstrument.PaymentMethodID
	if pm == "" || w.acct.Status == account.StatusTerminated || !w.collecting(ctx) {
		return
	}
	card, err := w.attachCard(ctx, pm)
	now := workflow.Now(ctx)
	if err != nil {
		workflow.GetLogger(ctx).Warn("card from the application not saved", "error", err)
		w.commit(ctx, w.acct.CardRefused(pm, err.Error(), now), "card refused")
		return
	}
	w.commit(ctx, w.acct.CardFromApplication(card, now), "card on file")
	w.poke()
}

// startCharges sends the charges a recorded batch calls for.
func (w *lifecycle) startCharges(ctx workflow.Context, events []account.Event) {
	for _, ev := range events {
		if ev.Charge != nil {
			w.startCharge(ctx, *ev.Charge)
		}
	}
}

func (w *lifecycle) startCharge(ctx workflow.Context, req account.ChargeRequest) {
	if _, busy := w.charging[req.Key]; busy {
		return
	}
	w.charging[req.Key] = workflow.Now(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) { w.charge(ctx, req) })
}

// charge sends one attempt and applies its answer. The activity retries
// until the gateway answers (the idempotency key makes every retry the
// same attempt); a refusal of the request itself counts as a decline.
func (w *lifecycle) charge(ctx workflow.Context, req account.ChargeRequest) {
	defer func() { delete(w.charging, req.Key); w.poke() }()
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// No ScheduleToCloseTimeout: an attempt whose answer is unknown
		// must be settled, never abandoned and tried under a new key.
		StartToCloseTimeout: 30 * time.Second,
		// At most a minute between tries: an answer awaited holds the
		// invoice's reminders, so it is asked for again soon after the
		// gateway is back.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrNoGateway, activities.ErrCardRefused}},
		Summary: "charge " + req.InvoiceID + " (attempt " + strconv.Itoa(req.Attempt) + ")",
	})
	var out account.ChargeOutcome
	err := workflow.ExecuteActivity(actx, acts.Charge, activities.ChargeInput{CustomerID: w.acct.Customer.CustomerID, Request: req}).Get(ctx, &out)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		code := "gateway_error"
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			code = appErr.Type()
		}
		out = account.ChargeOutcome{Key: req.Key, InvoiceID: req.InvoiceID, Attempt: req.Attempt, Outcome: account.ChargeDeclined,
			Currency: req.Currency, Code: code, Message: err.Error()}
	}
	w.commit(ctx, w.acct.ChargeSettled(out, workflow.Now(ctx)), "charge "+out.Outcome+" "+req.InvoiceID)
}

// youngCharges counts the charges in flight for less than noticeCarryAfter:
// older ones wait out a gateway outage and are carried to the next run.
func (w *lifecycle) youngCharges(ctx workflow.Context) int {
	now, n := workflow.Now(ctx), 0
	for _, since := range w.charging {
		if now.Sub(since) < noticeCarryAfter {
			n++
		}
	}
	return n
}

// registerCollection installs the card and chargeback updates.
func (w *lifecycle) registerCollection(ctx workflow.Context) error {
	if err := register(ctx, w, UpdateSetPaymentMethod,
		func(_ workflow.Context, c account.CardUpdate) error { return w.acct.CheckSetCard(c) },
		func(ctx workflow.Context, c account.CardUpdate, _ time.Time) ([]account.Event, error) {
			if !w.collecting(ctx) {
				return nil, errors.New("this customer's workflow predates card collection")
			}
			card, err := w.attachCard(ctx, c.PaymentMethodID)
			if err != nil {
				return nil, err
			}
			return w.acct.SetCard(card, c, workflow.Now(ctx))
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateRecordChargeback,
		func(_ workflow.Context, c account.Chargeback) error { return w.acct.CheckChargeback(c, nil) },
		func(ctx workflow.Context, c account.Chargeback, now time.Time) ([]account.Event, error) {
			var closed *account.Invoice
			if !w.acct.HasOpenInvoice(c.InvoiceID) {
				in := activities.LookupInvoiceInput{CustomerID: w.acct.Customer.CustomerID, InvoiceID: c.InvoiceID}
				if err := w.durableCall(ctx, localLookupInvoice, acts.LookupInvoice, "look up invoice "+c.InvoiceID, in, &closed); err != nil {
					return nil, err
				}
				now = workflow.Now(ctx)
			}
			return w.acct.RecordChargeback(c, closed, now)
		},
	); err != nil {
		return err
	}
	return register(ctx, w, UpdateCloseChargeback,
		func(_ workflow.Context, c account.ChargebackClosure) error { return w.acct.CheckCloseChargeback(c) },
		func(_ workflow.Context, c account.ChargebackClosure, now time.Time) ([]account.Event, error) {
			return w.acct.CloseChargeback(c, now)
		},
	)
}
