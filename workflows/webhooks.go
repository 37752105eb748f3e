package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/activities"
)

// WebhookDispatcherType is the webhook dispatcher's workflow type. There
// is one dispatcher per task queue, started (or found running) by every
// worker at start.
const WebhookDispatcherType = "WebhookDispatcher"

// WebhookDispatcherID is the dispatcher's workflow ID on a task queue.
// Dispatchers on several queues over one database are safe (deliveries are
// claimed with SKIP LOCKED), only redundant.
func WebhookDispatcherID(taskQueue string) string { return "webhook-dispatcher-" + taskQueue }

// outbound is for naming the delivery activity; never called.
var outbound *activities.Outbound

// DispatcherInput tunes the dispatcher; zero fields take the defaults.
type DispatcherInput struct {
	// RunFor is how long one DeliverWebhooks activity runs (default 5 min).
	RunFor time.Duration `json:"run_for,omitempty"`
	// Runs is how many runs before continuing as new (default 50: a
	// history of about 300 events, some four hours).
	Runs int `json:"runs,omitempty"`
}

// Dispatcher defaults.
const (
	defaultDispatchRun  = 5 * time.Minute
	defaultDispatchRuns = 50
	// dispatchHeartbeat is how soon a run whose worker died is started
	// again elsewhere.
	dispatchHeartbeat = 20 * time.Second
)

// WebhookDispatcher runs the delivery activity back to back, for ever. The
// deliveries themselves live in PostgreSQL (the outbox), so nothing is lost
// with a run: a worker that dies stops heartbeating and the run is retried
// on another, and a delivery it held is due again when its lease ends. The
// workflow only loops, so it never needs versioning beyond its input.
func WebhookDispatcher(ctx workflow.Context, in DispatcherInput) error {
	runFor := in.RunFor
	if runFor <= 0 {
		runFor = defaultDispatchRun
	}
	runs := in.Runs
	if runs <= 0 {
		runs = defaultDispatchRuns
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The run returns after runFor and the attempts in flight (each
		// bounded by the attempt timeout, well under the margin).
		StartToCloseTimeout: runFor + 2*time.Minute,
		HeartbeatTimeout:    dispatchHeartbeat,
		// No maximum: the run is retried until it succeeds.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
		Summary:     "deliver webhooks from the outbox",
	})
	for i := 0; i < runs && !workflow.GetInfo(ctx).GetContinueAsNewSuggested(); i++ {
		var res activities.DeliverResult
		if err := workflow.ExecuteActivity(actx, outbound.DeliverWebhooks, activities.DeliverInput{For: runFor}).Get(ctx, &res); err != nil {
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, WebhookDispatcher, in)
}
