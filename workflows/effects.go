package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
)

// versionDurableEffects marks runs that record every change through any
// database outage, provision beside the records rather than in their way,
// carry the provisioning queue and stuck emails across continue-as-new,
// look forgotten idempotency keys up in PostgreSQL, and answer updates only
// once what they saw is durable. Runs without the marker replay the old way.
const versionDurableEffects = "durable-effects"

// Local activities the workflow calls by name: they run in the worker that
// runs the workflow task, with the worker's registered *Activities. (Passing
// the method value instead would run it on the workflow's nil *Activities.)
// Each is the name of the *activities.Activities method it runs, and is
// recorded in history: never rename one.
const (
	localRecord         = "Record"
	localLookupKey      = "LookupKey"
	localCheckPhoneCode = "CheckPhoneCode"
)

// noticeCarryAfter is how long an email may be in flight before it stops
// holding up continue-as-new: by then it is waiting out a mail outage, and
// the next run takes it over (the outbox makes a second attempt safe).
const noticeCarryAfter = 10 * time.Minute

type sendingNotice struct {
	notice account.Notice
	since  time.Time
}

// record writes a batch durably. The fast path is a local activity (one
// marker event). A local activity must not hold the workflow task through a
// long outage, and the SDK ends its retries at its ScheduleToCloseTimeout
// (which defaults to its StartToCloseTimeout), so when it gives up the
// write moves to a regular activity that retries without limit and without
// adding history events per retry. It returns an error only when PostgreSQL
// refuses the change for good (a customer ID that belonged to someone else)
// or the workflow is cancelled.
func (w *lifecycle) record(ctx workflow.Context, b batch) error {
	in := activities.RecordInput{Customer: b.customer, Events: b.events}
	return w.durableCall(ctx, localRecord, acts.Record, "record "+b.summary, in, nil)
}

// lookupKey asks PostgreSQL whether the customer already has a payment or
// usage report under a key the account no longer remembers.
func (w *lifecycle) lookupKey(ctx workflow.Context, kind activities.KeyKind, id string) (account.KnownKey, error) {
	var k account.KnownKey
	in := activities.LookupKeyInput{CustomerID: w.acct.Customer.CustomerID, Kind: kind, ID: id}
	err := w.durableCall(ctx, localLookupKey, acts.LookupKey, "look up "+string(kind)+" "+id, in, &k)
	return k, err
}

// durableCall runs a short database activity locally and, when it does not
// succeed within half a minute, as a regular activity until it does.
func (w *lifecycle) durableCall(ctx workflow.Context, local string, activity any, summary string, in, out any) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: 30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second, NonRetryableErrorTypes: permanentRecordErrors},
		Summary:                summary,
	})
	err := workflow.ExecuteLocalActivity(lctx, local, in).Get(ctx, out)
	if err == nil || permanent(err) || temporal.IsCanceledError(err) {
		return err
	}
	workflow.GetLogger(ctx).Warn("database slow or away; retrying as a regular activity", "what", summary, "error", err)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// No ScheduleToCloseTimeout: with MaximumAttempts unset the
		// server retries until the write succeeds, however long the
		// database is away.
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, NonRetryableErrorTypes: permanentRecordErrors},
		Summary:             summary,
	})
	return workflow.ExecuteActivity(actx, activity, in).Get(ctx, out)
}

var permanentRecordErrors = []string{activities.ErrCustomerIDReused}

func permanent(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrCustomerIDReused
}

// startNotices starts the emails that a recorded batch calls for.
func (w *lifecycle) startNotices(ctx workflow.Context, events []account.Event) {
	for _, ev := range events {
		if ev.Notice != nil {
			w.startNotice(ctx, *ev.Notice)
		}
	}
}

func (w *lifecycle) startNotice(ctx workflow.Context, n account.Notice) {
	w.inFlight++
	w.sending[n.Key] = sendingNotice{notice: n, since: workflow.Now(ctx)}
	workflow.Go(ctx, func(ctx workflow.Context) { w.sendNotice(ctx, n) })
}

// youngNotices counts the emails in flight for less than noticeCarryAfter.
func (w *lifecycle) youngNotices(ctx workflow.Context) int {
	now, n := workflow.Now(ctx), 0
	for _, s := range w.sending {
		if now.Sub(s.since) < noticeCarryAfter {
			n++
		}
	}
	return n
}

// runProvisioning sends the account's decided provisioning actions, oldest
// first, apart from the records: a provisioning outage delays
// provisioning only. A round that fails is recorded (audit log, staff
// alert, GetStatus, the ProvisioningState search attribute) and tried again
// on the policy's schedule; it is never dropped. A later decision
// supersedes an earlier one still waiting (see account.QueueProvisioning).
func (w *lifecycle) runProvisioning(ctx workflow.Context) { w.provisionQueue(ctx, false) }

// startProvisioning is runProvisioning since lean: a coroutine only while
// an action is queued, started when one is.
func (w *lifecycle) startProvisioning() {
	if _, _, queued := w.acct.NextProvisioning(); w.provisioningOn || !queued {
		return
	}
	w.provisioningOn = true
	workflow.Go(w.root, func(ctx workflow.Context) {
		defer func() { w.provisioningOn = false }()
		w.provisionQueue(ctx, true)
	})
}

// provisionQueue works through the queue; onDemand, it returns once the
// queue is empty instead of waiting for the next action.
func (w *lifecycle) provisionQueue(ctx workflow.Context, onDemand bool) {
	for {
		var next account.ProvisionAction
		var notBefore time.Time
		if onDemand {
			var queued bool
			if next, notBefore, queued = w.acct.NextProvisioning(); !queued {
				return
			}
		} else if err := workflow.Await(ctx, func() bool {
			var ok bool
			next, notBefore, ok = w.acct.NextProvisioning()
			return ok
		}); err != nil {
			return
		}
		if wait := notBefore.Sub(workflow.Now(ctx)); wait > 0 {
			// Wait for the retry time, or for a new decision that
			// replaces the failing action.
			if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
				head, _, ok := w.acct.NextProvisioning()
				return !ok || head.Key != next.Key
			}); err != nil {
				return
			}
			continue
		}
		w.provisioning = next.Key
		err := w.provision(ctx, next)
		w.provisioning = ""
		if ctx.Err() != nil {
			return
		}
		now := workflow.Now(ctx)
		if err == nil {
			w.commit(ctx, w.acct.ProvisioningApplied(next.Key, now), "provisioned "+string(next.Action))
		} else {
			kind := "error"
			var appErr *temporal.ApplicationError
			if errors.As(err, &appErr) {
				kind = appErr.Type()
			}
			w.commit(ctx, w.acct.ProvisioningFailed(next.Key, kind, err.Error(), now), "provisioning failed: "+string(next.Action))
		}
		// A superseded failing action clears the failure without an
		// event, so the search attribute is brought up to date here too.
		w.upsertAttrs(ctx, false)
		w.poke()
	}
}

// provision runs one round of tries of an action: retried with backoff for
// the policy's attempt_for, a refusal (4xx) at once.
func (w *lifecycle) provision(ctx workflow.Context, a account.ProvisionAction) error {
	c := w.acct.Customer.CustomerID
	rules := w.acct.Policy.ProvisioningRules()
	pctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: rules.AttemptFor,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute},
		Summary:                string(a.Action) + " subscriptions of " + c,
	})
	in := activities.ProvisionInput{CustomerID: c, Action: a.Action, Reason: a.Reason, Key: a.IdempotencyKey(), At: a.At,
		Subscriptions: a.Subscriptions}
	return workflow.ExecuteActivity(pctx, acts.Provision, in).Get(ctx, nil)
}

// lockPhone serialises code sends and code checks, so that concurrent
// updates cannot use more tries or send more codes than the limits allow
// (each check runs a local activity, during which another update could run).
func (w *lifecycle) lockPhone(ctx workflow.Context) func() {
	if !w.durable {
		return func() {}
	}
	_ = workflow.Await(ctx, func() bool { return !w.phoneBusy })
	w.phoneBusy = true
	return func() { w.phoneBusy = false }
}
