package workflows

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/risk"
)

// Input starts the workflow. A new customer starts with the application
// alone (the JSON of the public contract); a continued run also carries the
// account's state.
type Input struct {
	account.Application
	Carried *account.Account `json:"carried,omitempty"`
	// Notices that were still being sent (a mail provider outage) when
	// the previous run continued as new; this run sends them.
	Notices []account.Notice `json:"notices,omitempty"`
	// Lean is what a run since version lean knew when it continued as
	// new; nil on a new customer and from older runs.
	Lean *Carried `json:"lean,omitempty"`
}

// Carried is what a lean run hands the next one besides the account.
type Carried struct {
	Level int   `json:"level"` // versions decided: see leanLevel
	Attrs Attrs `json:"attrs"` // the search attributes as last upserted
}

// Workflows holds what workflow code needs besides its input. Both are read
// only through side effects or in update validators, so a change to them
// never changes what a running customer replays.
type Workflows struct {
	Policies *policy.Registry
	Risk     risk.Config
}

// maxHistoryEvents bounds a run's history even when the server does not
// suggest continue-as-new first.
const maxHistoryEvents = 4000

var acts *activities.Activities // method names for ExecuteActivity

// lifecycle is one run of CustomerLifecycle.
type lifecycle struct {
	acct     *account.Account
	risk     risk.Config
	policies *policy.Registry // read only in validators and side effects
	// durable: this run records through any outage, provisions beside
	// the records, and answers updates only once their change is durable
	// (version durable-effects). Older runs replay the old way.
	durable bool
	// lean: since version lean (every older change at its newest): no
	// GetVersion, upsert or timer that carries no news.
	lean  bool
	fatal error // a change PostgreSQL will never take: the run ends

	// Batches of events waiting to be recorded and acted on, in order.
	pending  []batch
	nextSeq  int
	doneSeq  int
	inFlight int // emails being sent
	// Since durable-effects: when each email being sent started, so that
	// one stuck behind a mail outage does not hold up continue-as-new.
	sending      map[string]sendingNotice
	charging     map[string]time.Time // charges in flight by key, since when
	provisioning string               // key of the provisioning action with the provider now
	phoneBusy    bool                 // a code is being sent or checked: one at a time

	// Since lean the effects and provisioning coroutines run only while
	// they have work (started from root), and bounces are received by the
	// main loop: an idle cached customer keeps one coroutine, not four.
	root           workflow.Context
	effectsOn      bool
	provisioningOn bool

	wake       workflow.Channel // pokes the main loop after a change
	bounces    workflow.ReceiveChannel
	timer      *wakeTimer
	cycleEnded bool // an invoice was issued: a good moment to continue as new
	lastAttrs  Attrs
}

type batch struct {
	seq      int
	summary  string
	customer activities.CustomerRow
	events   []account.Event
}

type wakeTimer struct {
	at     time.Time
	fut    workflow.Future
	cancel workflow.CancelFunc
}

// CustomerLifecycle owns one customer from application to termination.
func (wf *Workflows) CustomerLifecycle(ctx workflow.Context, in Input) error {
	w := &lifecycle{wake: workflow.NewBufferedChannel(ctx, 1), risk: wf.Risk, policies: wf.Policies, sending: map[string]sendingNotice{}, charging: map[string]time.Time{}}
	// Set before anything can yield: an update delivered in the run's
	// first task may commit (and so start the effects) before the rest
	// of the start has run.
	w.root = ctx
	// A continued lean run knows its versions; any other asks for lean
	// first, so that a new customer records one marker, not one per change.
	w.lean = in.Lean != nil && in.Lean.Level >= leanLevel ||
		workflow.GetVersion(ctx, versionLean, workflow.DefaultVersion, 1) == 1
	w.durable = w.lean || workflow.GetVersion(ctx, versionDurableEffects, workflow.DefaultVersion, 1) == 1
	fresh := in.Carried == nil
	if fresh {
		acct, err := wf.open(ctx, in.Application, w.lean)
		if err != nil {
			return err
		}
		w.acct = acct
	} else {
		w.acct = in.Carried
		if w.lean {
			w.sharePolicy()
		}
	}
	w.acct.Durable = w.durable
	if !fresh && w.lean && in.Lean != nil {
		// The search attributes carried over with the run (the
		// continue-as-new command copies them): known before the
		// handlers are registered, which lets queued updates run.
		w.lastAttrs = in.Lean.Attrs
		w.lastAttrs.set = true
	}
	if fresh {
		w.subscribed(ctx)
	}
	if err := w.registerHandlers(ctx); err != nil {
		return err
	}
	if fresh {
		_ = workflow.UpsertMemo(ctx, map[string]any{"name": w.acct.Customer.Name, "email": w.acct.Customer.Email})
	}
	if !w.lean {
		workflow.Go(ctx, w.runEffects)
	}
	if w.durable {
		if w.lean {
			w.startProvisioning()
		} else {
			workflow.Go(ctx, w.runProvisioning)
		}
		for _, n := range in.Notices {
			w.startNotice(ctx, n)
		}
		// Charges whose answer the previous run did not get: asked again
		// under the same key, so never charged twice.
		for _, req := range w.acct.ChargesInFlight() {
			w.startCharge(ctx, req)
		}
	}
	w.bounces = SignalEmailUndeliverable.Channel(ctx)
	if !w.lean {
		workflow.Go(ctx, w.receiveBounces)
	}
	now := workflow.Now(ctx)
	if fresh {
		events := w.acct.Open(now)
		// Version 1 screens applications; histories from before it
		// approved every application with prepayment.
		if !w.lean && workflow.GetVersion(ctx, "screening", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			approved, err := w.acct.Approve(true, account.SystemActor, "approved with prepayment", now)
			if err != nil {
				return err
			}
			w.commit(ctx, append(events, approved...), "open account and request prepayment")
		} else if err := wf.screen(ctx, w, events); err != nil {
			return err
		}
	} else if w.lean && in.Lean != nil {
		w.upsertAttrs(ctx, false) // only what changed since the last run
	} else {
		w.upsertAttrs(ctx, true)
	}
	return w.loop(ctx)
}

// screen records the application, runs the risk rules, acts on their
// decision, and sends the SMS identity check to applicants not rejected.
func (wf *Workflows) screen(ctx workflow.Context, w *lifecycle, opened []account.Event) error {
	// Recorded first, so that later applicants' velocity counts see it.
	if err := w.commitAndWait(ctx, opened, "open account"); err != nil {
		return err
	}
	var res activities.ScreenResult
	sctx := workflow.WithActivityOptions(ctx, screenOptions("screen the application of "+w.acct.Customer.CustomerID))
	in := activities.ScreenInput{Application: w.acct.Customer, At: w.acct.StartedAt}
	if err := workflow.ExecuteActivity(sctx, acts.Screen, in).Get(ctx, &res); err != nil {
		return err
	}
	if w.durable && w.acct.Status != account.StatusScreening {
		// Staff acted while the screening ran (terminated the
		// application): their decision stands.
		workflow.GetLogger(ctx).Info("screening result not applied", "status", w.acct.Status)
		return nil
	}
	pol, hash := w.acct.Policy, w.acct.PolicyHash
	if res.Policy != pol.Name {
		p, h, err := loadPolicy(ctx, wf.Policies, res.Policy, w.lean)
		switch {
		case err == nil:
			pol, hash = p, h
		case w.durable:
			// A tier's policy missing on this worker must not end the
			// customer: keep the one it applied with.
			workflow.GetLogger(ctx).Error("policy for the risk tier not found; keeping the current one", "policy", res.Policy, "error", err)
		default:
			return err
		}
	}
	events, err := w.acct.ApplyScreening(res.Screening, pol, workflow.Now(ctx))
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Screening", nil)
	}
	w.pinned(pol, hash)
	w.commit(ctx, events, "screening: "+string(res.Screening.Outcome))
	if w.acct.Status != account.StatusTerminated {
		unlock := w.lockPhone(ctx)
		w.sendPhoneCode(ctx)
		unlock()
	}
	w.cardFromApplication(ctx)
	return nil
}

// sendPhoneCode sends a verification code by SMS and keeps its hash.
// Callers hold the phone lock.
func (w *lifecycle) sendPhoneCode(ctx workflow.Context) {
	c := w.acct.Customer
	var res activities.PhoneCodeResult
	pctx := workflow.WithActivityOptions(ctx, phoneCodeOptions("SMS verification code to "+c.CustomerID))
	err := workflow.ExecuteActivity(pctx, acts.SendPhoneCode, activities.PhoneCodeInput{CustomerID: c.CustomerID, Phone: c.Phone, Locale: c.Locale}).Get(ctx, &res)
	if err != nil {
		workflow.GetLogger(ctx).Warn("verification code not sent", "error", err)
		return
	}
	w.commit(ctx, w.acct.PhoneCodeSent(res.Hash, res.Salt, workflow.Now(ctx)), "phone code sent")
}

// open validates the application and loads its policy (see loadPolicy).
func (wf *Workflows) open(ctx workflow.Context, app account.Application, lean bool) (*account.Account, error) {
	app.Normalize()
	if err := app.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidApplication", nil)
	}
	if id := workflow.GetInfo(ctx).WorkflowExecution.ID; id != WorkflowID(app.CustomerID) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("workflow ID %q must be %q for customer_id %q", id, WorkflowID(app.CustomerID), app.CustomerID), "InvalidApplication", nil)
	}
	pol, hash, err := loadPolicy(ctx, wf.Policies, app.Policy, lean)
	if err != nil {
		return nil, err
	}
	acct := account.New(app, *pol, "", workflow.Now(ctx))
	acct.Policy = pol // the shared copy, since lean
	if lean {
		acct.PolicyID, acct.PolicyHash = pol.ID(), hash
	}
	return acct, nil
}

// loadPolicy reads a policy by name through a side effect: the policy files
// may change (a name means its latest version), what a customer replays
// may not. Since lean the side effect records only the version's ID and
// content hash, and the policy is the registry's shared copy, found again
// by them on replay; a worker without that exact version fails the
// workflow task (loud, retried once the right files are deployed) rather
// than replay with other settings. Older runs recorded the whole policy.
func loadPolicy(ctx workflow.Context, reg *policy.Registry, name string, lean bool) (*policy.Policy, string, error) {
	type loaded struct {
		Policy policy.Policy `json:",omitzero"`
		ID     string        `json:",omitempty"`
		Hash   string        `json:",omitempty"`
		Err    string
	}
	var got loaded
	err := workflow.SideEffect(ctx, func(workflow.Context) any {
		p, hash, err := reg.Lookup(name)
		switch {
		case err != nil:
			return loaded{Err: err.Error()}
		case lean:
			return loaded{ID: p.ID(), Hash: hash}
		default:
			return loaded{Policy: *p}
		}
	}).Get(&got)
	if err != nil {
		return nil, "", err
	}
	if got.Err != "" {
		return nil, "", temporal.NewNonRetryableApplicationError(got.Err, "InvalidApplication", nil)
	}
	if !lean {
		return &got.Policy, "", nil
	}
	p, err := reg.Resolve(got.ID, got.Hash)
	if err != nil {
		panic(err.Error())
	}
	return p, got.Hash, nil
}

// sharePolicy gives a continued lean run's account its policy: the
// registry's copy of the version it carries by ID and content hash (a
// mismatch fails the workflow task, see loadPolicy). An account carried
// whole by an older run shares the registry's copy when that is the same;
// otherwise it keeps its own.
func (w *lifecycle) sharePolicy() {
	a := w.acct
	if a.Policy == nil {
		p, err := w.policies.Resolve(a.PolicyID, a.PolicyHash)
		if err != nil {
			panic(fmt.Sprintf("customer %s: %v", a.Customer.CustomerID, err))
		}
		a.Policy = p
		return
	}
	if a.PolicyHash != "" {
		return
	}
	if p, hash, err := w.policies.Lookup(a.Policy.ID()); err == nil && p.ID() == a.Policy.ID() && reflect.DeepEqual(*p, *a.Policy) {
		a.Policy, a.PolicyID, a.PolicyHash = p, p.ID(), hash
	}
}

// pinned notes, since lean, the ID and hash of the policy the account
// moved to, so that the next run finds it again.
func (w *lifecycle) pinned(p *policy.Policy, hash string) {
	if w.lean && w.acct.Policy == p {
		w.acct.PolicyID, w.acct.PolicyHash = p.ID(), hash
	}
}

// loop advances the account whenever something falls due or changes, until
// the account is terminated or the run has grown enough to continue as new.
func (w *lifecycle) loop(ctx workflow.Context) error {
	for {
		now := workflow.Now(ctx)
		if events := w.acct.Advance(now); len(events) > 0 {
			for _, ev := range events {
				if ev.Type == account.EventInvoiceIssued || ev.Type == account.EventInvoiceSkipped {
					w.cycleEnded = true
				}
			}
			w.commit(ctx, events, summarize(events))
		}
		if w.fatal != nil {
			return w.fatal
		}
		if w.idle(ctx) {
			if w.acct.Status == account.StatusTerminated && w.settled() {
				return nil
			}
			if w.shouldContinueAsNew(ctx) {
				if w.lean && w.timer != nil && !w.timer.at.After(now) {
					// Due, so firing on the server now: a task that ended
					// the run as it fired would be refused (unhandled
					// command), failing the updates it carried.
					_ = w.timer.fut.Get(ctx, nil)
					w.timer = nil
					continue
				}
				return w.continueAsNew(ctx)
			}
		}
		w.sleep(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// sleep waits for the next agenda item or a poke, keeping the same timer
// while the wake-up time does not change (fewer history events).
func (w *lifecycle) sleep(ctx workflow.Context) {
	at, label, ok := w.acct.NextWake()
	if w.acct.Status == account.StatusTerminated {
		ok = false
	}
	// Continuing: a timer already running is kept (cancelling it would be
	// one more event) and none is started.
	continuing := w.continuing()
	if w.timer != nil && (!ok || !at.Equal(w.timer.at)) && !continuing {
		w.timer.cancel()
		w.timer = nil
	}
	if ok && w.timer == nil && !continuing {
		tctx, cancel := workflow.WithCancel(ctx)
		fut := workflow.NewTimerWithOptions(tctx, at.Sub(workflow.Now(ctx)), workflow.TimerOptions{Summary: label})
		w.timer = &wakeTimer{at: at, fut: fut, cancel: cancel}
	}
	sel := workflow.NewSelector(ctx)
	if t := w.timer; t != nil {
		sel.AddFuture(t.fut, func(workflow.Future) { w.timer = nil })
	}
	sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	if w.lean {
		sel.AddReceive(w.bounces, func(c workflow.ReceiveChannel, _ bool) {
			var b account.Bounce
			c.Receive(ctx, &b)
			w.commit(ctx, w.acct.EmailBounced(b, workflow.Now(ctx)), "email undeliverable")
		})
	}
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
}

func (w *lifecycle) poke() { w.wake.SendAsync(true) }

// continuing reports whether, since lean, the run is only waiting to become
// idle to continue as new, with nothing in flight that might hold it up
// (an email, a charge, a provisioning call): what is left (records,
// handlers, bounces) pokes the loop when done, so no wake timer is started
// only to be abandoned. The next run starts the timer.
func (w *lifecycle) continuing() bool {
	return w.lean && w.cycleEnded && w.inFlight == 0 && len(w.charging) == 0 && w.provisioning == ""
}

// idle reports whether nothing is being recorded, sent or handled. Since
// durable-effects an email stuck behind a mail outage does not count: it is
// carried to the next run.
func (w *lifecycle) idle(ctx workflow.Context) bool {
	inFlight := w.inFlight
	if w.durable {
		inFlight = w.youngNotices(ctx) + w.youngCharges(ctx)
		// A provisioning call under way is waited for, unless its
		// action is already failing: then it is carried.
		if w.provisioning != "" && w.acct.Provisioning.FailingSince.IsZero() {
			inFlight++
		}
	}
	return len(w.pending) == 0 && inFlight == 0 && w.bounces.Len() == 0 && workflow.AllHandlersFinished(ctx)
}

// settled reports whether a terminated account's last effects are done:
// every email sent and every provisioning action confirmed, so that the
// run does not end with a decided change unenforced.
func (w *lifecycle) settled() bool {
	if !w.durable {
		return true
	}
	_, _, queued := w.acct.NextProvisioning()
	return w.inFlight == 0 && !queued
}

// continueAsNew starts the next run with the account, the provisioning
// queue inside it, and the emails still being sent.
func (w *lifecycle) continueAsNew(ctx workflow.Context) error {
	in := Input{Application: w.acct.Customer, Carried: w.acct}
	if w.durable {
		w.acct.Compact()
		for _, key := range slices.Sorted(maps.Keys(w.sending)) {
			in.Notices = append(in.Notices, w.sending[key].notice)
		}
	}
	if w.lean {
		if w.acct.PolicyHash != "" {
			// Found again by ID and hash: not carried.
			c := *w.acct
			c.Policy = nil
			in.Carried = &c
		}
		in.Lean = &Carried{Level: leanLevel, Attrs: w.lastAttrs}
	}
	return workflow.NewContinueAsNewError(ctx, WorkflowType, in)
}

// receiveBounces handles the EmailUndeliverable signal. Signals are drained
// before continue-as-new (see idle), so none is lost.
func (w *lifecycle) receiveBounces(ctx workflow.Context) {
	for {
		var b account.Bounce
		if more := w.bounces.Receive(ctx, &b); !more {
			return
		}
		w.commit(ctx, w.acct.EmailBounced(b, workflow.Now(ctx)), "email undeliverable")
		w.poke()
	}
}

func (w *lifecycle) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return w.cycleEnded || info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > maxHistoryEvents
}

// commit queues events to be recorded and acted on, and updates the search
// attributes at once. It returns the batch's sequence number; with no
// events, since durable-effects, that of the last batch queued, so that an
// update that changed nothing (a retried payment) still answers only once
// what it saw is durable.
func (w *lifecycle) commit(ctx workflow.Context, events []account.Event, summary string) int {
	if len(events) == 0 {
		if w.durable {
			return w.nextSeq
		}
		return w.doneSeq
	}
	now := workflow.Now(ctx)
	w.nextSeq++
	customer := activities.CustomerSnapshot(w.acct, now)
	if w.durable {
		customer.FirstRunID = workflow.GetInfo(ctx).FirstRunID
	}
	w.pending = append(w.pending, batch{seq: w.nextSeq, summary: summary, customer: customer, events: events})
	if w.lean && !w.effectsOn && w.fatal == nil {
		w.effectsOn = true
		workflow.Go(w.root, w.drainEffects)
	}
	w.upsertAttrs(ctx, false)
	return w.nextSeq
}

// commitAndWait commits and waits until the batch is recorded and its
// provisioning done, so that an update's caller sees the result in the
// database when the update returns.
func (w *lifecycle) commitAndWait(ctx workflow.Context, events []account.Event, summary string) error {
	seq := w.commit(ctx, events, summary)
	if err := workflow.Await(ctx, func() bool { return w.doneSeq >= seq || w.fatal != nil }); err != nil {
		return err
	}
	return w.fatal
}

// runEffects works through the batches in order: record, then provision,
// then start the emails (which run on their own, so a slow mail service
// never holds up payments or the ladder).
func (w *lifecycle) runEffects(ctx workflow.Context) {
	for {
		if err := workflow.Await(ctx, func() bool { return len(w.pending) > 0 }); err != nil {
			return
		}
		if !w.effect(ctx) {
			return
		}
	}
}

// drainEffects is runEffects since lean: started by commit, it ends once
// no batch is waiting.
func (w *lifecycle) drainEffects(ctx workflow.Context) {
	defer func() { w.effectsOn = false }()
	for len(w.pending) > 0 {
		if !w.effect(ctx) {
			return
		}
	}
}

// effect records and acts on the first waiting batch. It reports false
// when PostgreSQL refused the change for good (w.fatal): the run ends.
func (w *lifecycle) effect(ctx workflow.Context) bool {
	b := w.pending[0]
	if w.durable {
		if err := w.record(ctx, b); err != nil {
			w.fatal = err
			w.poke()
			return false
		}
		w.acct.QueueProvisioning(b.events, w.provisioning)
		if w.lean {
			w.startProvisioning()
		}
		w.startNotices(ctx, b.events)
		w.startCharges(ctx, b.events)
	} else {
		w.execute(ctx, b)
	}
	w.pending = w.pending[1:]
	w.doneSeq = b.seq
	w.poke()
	return true
}

func (w *lifecycle) execute(ctx workflow.Context, b batch) {
	logger := workflow.GetLogger(ctx)
	in := activities.RecordInput{Customer: b.customer, Events: b.events}
	var err error
	// Version 1 records as a local activity: a short database write needs
	// no task of its own, and one marker event instead of three plus a
	// workflow task keeps histories small.
	if workflow.GetVersion(ctx, "local-record", workflow.DefaultVersion, 1) == 1 {
		lctx := workflow.WithLocalActivityOptions(ctx, localRecordOptions("record "+b.summary))
		err = workflow.ExecuteLocalActivity(lctx, localRecord, in).Get(ctx, nil)
	} else {
		rctx := workflow.WithActivityOptions(ctx, recordOptions("record "+b.summary))
		err = workflow.ExecuteActivity(rctx, acts.Record, in).Get(ctx, nil)
	}
	if err != nil {
		logger.Error("recording failed", "batch", b.summary, "error", err)
	}
	for _, ev := range b.events {
		if ev.Provision == "" {
			continue
		}
		in := activities.ProvisionInput{CustomerID: w.acct.Customer.CustomerID, Action: ev.Provision, Reason: ev.Reason, Key: ev.Key, At: ev.At}
		pctx := workflow.WithActivityOptions(ctx, provisionOptions(string(ev.Provision)+" subscriptions of "+in.CustomerID))
		if err := workflow.ExecuteActivity(pctx, acts.Provision, in).Get(ctx, nil); err != nil {
			logger.Error("provisioning failed", "action", ev.Provision, "error", err)
		}
	}
	for _, ev := range b.events {
		if ev.Notice != nil {
			w.inFlight++
			n := *ev.Notice
			workflow.Go(ctx, func(ctx workflow.Context) { w.sendNotice(ctx, n) })
		}
	}
}

func (w *lifecycle) sendNotice(ctx workflow.Context, n account.Notice) {
	defer func() { w.inFlight--; delete(w.sending, n.Key); w.poke() }()
	c := w.acct.Customer
	in := activities.NoticeInput{
		Recipient: activities.RecipientOf(c),
		Notice:    n,
		Channel:   w.acct.NoticeChannel(),
		Phone:     c.Phone,
	}
	if !n.Staff && in.Channel == policy.ChannelNone {
		w.commit(ctx, w.acct.EmailFailed(n, account.EmailNoChannel, "no channel left to reach the customer", workflow.Now(ctx)), "notice not sent "+n.Key)
		return
	}
	sctx := workflow.WithActivityOptions(ctx, noticeOptions(noticeSummary(n, c.Email)))
	err := workflow.ExecuteActivity(sctx, acts.SendNotice, in).Get(ctx, nil)
	if err == nil {
		return
	}
	kind := account.EmailError
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		kind = account.EmailFailure(appErr.Type())
	}
	w.commit(ctx, w.acct.EmailFailed(n, kind, err.Error(), workflow.Now(ctx)), "email failure "+n.Key)
}

// summarize names a batch for the UI: the first event that matters.
func summarize(events []account.Event) string {
	first := events[0]
	for _, ev := range events {
		if ev.Type != account.EventAccountStatusChanged && ev.Type != account.EventDunningSkipped {
			first = ev
			break
		}
	}
	s := string(first.Type)
	if first.InvoiceID != "" {
		s += " " + first.InvoiceID
	}
	if len(events) > 1 {
		s += fmt.Sprintf(" (+%d)", len(events)-1)
	}
	return s
}

func noticeSummary(n account.Notice, to string) string {
	s := strings.ReplaceAll(n.Stage, "_", " ") + " email"
	if n.InvoiceID != "" {
		s += " for " + n.InvoiceID
	}
	return s + " to " + to
}

// Attrs are the search attributes as last upserted (carried across
// continue-as-new since lean).
type Attrs struct {
	Status       string `json:"status,omitempty"`
	Stage        string `json:"stage,omitempty"`
	Tier         string `json:"tier,omitempty"`
	Provisioning string `json:"provisioning,omitempty"`
	Exemptions   string `json:"exemptions,omitempty"` // comma-joined, sorted
	Overdue      int64  `json:"overdue,omitempty"`
	Days         int64  `json:"days,omitempty"`
	set          bool
}

// upsertAttrs sends the search attributes that changed since the last
// upsert (all of them when force is set, as at the start of a run).
func (w *lifecycle) upsertAttrs(ctx workflow.Context, force bool) {
	now := workflow.Now(ctx)
	a := w.acct
	cur := Attrs{Status: string(a.Status), Stage: a.DunningStage(), Tier: a.RiskTier,
		Overdue: a.OverdueMinor(now), Days: int64(a.DaysPastDue(now)), set: true}
	last := w.lastAttrs
	if force || !last.set {
		last = Attrs{}
	}
	var ups []temporal.SearchAttributeUpdate
	if !last.set {
		ups = append(ups, AttrCustomerID.ValueSet(a.Customer.CustomerID))
	}
	if cur.Status != last.Status {
		ups = append(ups, AttrAccountStatus.ValueSet(cur.Status))
	}
	if cur.Stage != last.Stage {
		ups = append(ups, AttrDunningStage.ValueSet(cur.Stage))
	}
	if cur.Tier != last.Tier && cur.Tier != "" {
		ups = append(ups, AttrRiskTier.ValueSet(cur.Tier))
	}
	if cur.Overdue != last.Overdue || !last.set {
		ups = append(ups, AttrAmountOverdue.ValueSet(cur.Overdue))
	}
	// Only customers that ever had an exemption upsert it, so runs from
	// before exemptions replay the same commands.
	names := a.ExemptionNames()
	if cur.Exemptions = strings.Join(names, ","); cur.Exemptions != last.Exemptions {
		if len(names) == 0 {
			ups = append(ups, AttrExemptions.ValueUnset())
		} else {
			ups = append(ups, AttrExemptions.ValueSet(names))
		}
	}
	if cur.Days != last.Days || !last.set {
		ups = append(ups, AttrDaysPastDue.ValueSet(cur.Days))
	}
	if w.durable {
		cur.Provisioning = ProvisioningOK
		if a.Provisioning.State() == account.ProvisioningFailing {
			cur.Provisioning = ProvisioningFailing
		}
		if cur.Provisioning != last.Provisioning {
			ups = append(ups, AttrProvisioningState.ValueSet(cur.Provisioning))
		}
	}
	w.lastAttrs = cur
	if len(ups) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, ups...); err != nil {
			workflow.GetLogger(ctx).Warn("search attributes not updated", "error", err)
		}
	}
}
