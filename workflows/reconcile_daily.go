package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/activities"
)

// The daily reconciliation, started by a Temporal Schedule.
const (
	ReconcileWorkflowType = "Reconcile"
	ReconcileScheduleID   = "reconcile-daily"
	// ReconcileActivity is the activity that compares every customer; it
	// is registered by package reconcile (it needs a Temporal client),
	// so it is called by name.
	ReconcileActivity = "ReconcileAll"
)

// Reconcile compares every customer's workflow with PostgreSQL, stores the
// run in reconcile_runs and, when drift is left or customers could not be
// checked, mails staff the report. It repairs only when started with
// repair set: the Schedule reports, and staff repair with `starter
// reconcile --repair` after reading the report (see the README).
func Reconcile(ctx workflow.Context, repair bool) error {
	at := workflow.Now(ctx)
	day := at.UTC().Format("2006-01-02")
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 30 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute, MaximumAttempts: 10},
		Summary:             "reconcile workflows with PostgreSQL as of " + day,
	})
	in := activities.ReconcileInput{RunKey: "daily:" + day + ":" + workflow.GetInfo(ctx).WorkflowExecution.RunID, At: at, Repair: repair}
	var res activities.ReconcileResult
	if err := workflow.ExecuteActivity(actx, ReconcileActivity, in).Get(ctx, &res); err != nil {
		return err
	}
	if res.Drifted == 0 && res.Errors == 0 {
		return nil
	}
	report := activities.StaffReport{
		Key:     "reconcile-drift:" + day,
		Subject: fmt.Sprintf("[dunning] Reconciliation %s: %d customers with drift, %d not checked", day, res.Drifted, res.Errors),
		Text:    res.Summary,
	}
	nctx := workflow.WithActivityOptions(ctx, noticeOptions("reconciliation drift report to staff"))
	return workflow.ExecuteActivity(nctx, acts.SendStaffReport, report).Get(ctx, nil)
}
