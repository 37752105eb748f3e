package main

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/workflows"
)

// SkeletonType is the skeleton's workflow type, on its own task queue.
const SkeletonType = "BenchSkeleton"

// SkeletonInput is what the skeleton needs of the policy: the same waits
// the product's policy gives it.
type SkeletonInput struct {
	CustomerID    string        `json:"customer_id"`
	ReminderAfter time.Duration `json:"reminder_after"` // prepayment reminder timer
	Interval      time.Duration `json:"interval"`       // billing interval after the prepayment
	Upcoming      time.Duration `json:"upcoming"`       // from the invoice to its first ladder step
	Billed        bool          `json:"billed"`         // continued as new after the first invoice
}

// SkeletonNotice is the no-op notice's input; it names its template as the
// product's NoticeInput does, so that NoticeDone finds both.
type SkeletonNotice struct {
	CustomerID string `json:"customer_id"`
	Template   string `json:"template"`
}

// The skeleton's activities and its local record do nothing.
func noop(context.Context, SkeletonNotice) error { return nil }

func skeletonRecord(context.Context, SkeletonNotice) error { return nil }

// Skeleton makes the calls the product's CustomerLifecycle makes for
// onboarding and one billing cycle (read from its recorded history, see
// docs/benchmarks.md) and nothing else: the same activities (Screen,
// SendPhoneCode, SendNotice, Provision), a local-activity record before
// each batch of effects, an upsert for each change of status, the
// prepayment reminder timer cancelled by the payment, the billing timer,
// the RecordPayment update, and a continue-as-new after the invoice. What
// it leaves out is what carries no news: version markers, the policy side
// effect, search attributes upserted again unchanged, a timer started just
// before continue-as-new.
func Skeleton(ctx workflow.Context, in SkeletonInput) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second},
	})
	notice := func(template string) SkeletonNotice {
		return SkeletonNotice{CustomerID: in.CustomerID, Template: template}
	}
	// record blocks, so it takes the context of the coroutine it runs in
	// (the main one or the update handler's).
	record := func(ctx workflow.Context) error {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second})
		return workflow.ExecuteLocalActivity(lctx, skeletonRecord, notice("")).Get(ctx, nil)
	}
	status := func(s account.Status) error {
		return workflow.UpsertTypedSearchAttributes(ctx, workflows.AttrAccountStatus.ValueSet(string(s)))
	}
	paid := false
	if err := workflow.SetUpdateHandler(ctx, workflows.UpdateRecordPayment.Name, func(ctx workflow.Context, p account.Payment) (account.PaymentResult, error) {
		if err := status(account.StatusActive); err != nil {
			return account.PaymentResult{}, err
		}
		if err := record(ctx); err != nil {
			return account.PaymentResult{}, err
		}
		if !paid {
			workflow.ExecuteActivity(actx, "Provision", notice("")) // provisioning runs beside the records
		}
		paid = true
		return account.PaymentResult{}, nil
	}); err != nil {
		return err
	}
	if in.Billed {
		// The next cycle's first ladder step; the bench ends before it.
		return workflow.NewTimer(ctx, in.Upcoming).Get(ctx, nil)
	}
	if err := status(account.StatusScreening); err != nil {
		return err
	}
	if err := record(ctx); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(actx, "Screen", notice("")).Get(ctx, nil); err != nil {
		return err
	}
	if err := status(account.StatusAwaitingPrepayment); err != nil {
		return err
	}
	phone := workflow.ExecuteActivity(actx, "SendPhoneCode", notice(""))
	if err := record(ctx); err != nil {
		return err
	}
	request := workflow.ExecuteActivity(actx, noticeActivity, notice("prepayment_request"))
	if err := phone.Get(ctx, nil); err != nil {
		return err
	}
	if err := request.Get(ctx, nil); err != nil {
		return err
	}
	tctx, cancel := workflow.WithCancel(ctx)
	reminder := workflow.NewTimer(tctx, in.ReminderAfter)
	if err := record(ctx); err != nil {
		return err
	}
	verify := workflow.ExecuteActivity(actx, noticeActivity, notice("phone_verification"))
	if err := workflow.Await(ctx, func() bool { return paid || reminder.IsReady() }); err != nil {
		return err
	}
	cancel()
	if err := verify.Get(ctx, nil); err != nil {
		return err
	}
	if err := workflow.NewTimer(ctx, in.Interval).Get(ctx, nil); err != nil {
		return err
	}
	if err := status(account.StatusActive); err != nil {
		return err
	}
	if err := record(ctx); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(actx, noticeActivity, notice("invoice_issued")).Get(ctx, nil); err != nil {
		return err
	}
	in.Billed = true
	return workflow.NewContinueAsNewError(ctx, SkeletonType, in)
}

// registerSkeleton registers the skeleton and its no-op activities under
// the product's activity names.
func registerSkeleton(w worker.Worker) {
	w.RegisterWorkflowWithOptions(Skeleton, workflow.RegisterOptions{Name: SkeletonType})
	for _, name := range []string{"Screen", "SendPhoneCode", noticeActivity, "Provision"} {
		w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: name})
	}
}
