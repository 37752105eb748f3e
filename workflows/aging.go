package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/activities"
)

// The daily receivables snapshot, started by a Temporal Schedule.
const (
	AgingWorkflowType = "AgingSnapshot"
	AgingScheduleID   = "aging-snapshot-daily"
)

// AgingSnapshot stores the day's receivables aging and mails staff its
// summary. Both steps are idempotent for the day, so a rerun is harmless.
func AgingSnapshot(ctx workflow.Context) error {
	asOf := workflow.Now(ctx)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute, MaximumAttempts: 20},
		Summary:             "receivables aging as of " + asOf.UTC().Format("2006-01-02"),
	})
	var res activities.SnapshotResult
	if err := workflow.ExecuteActivity(ctx, acts.SaveAgingSnapshot, asOf).Get(ctx, &res); err != nil {
		return err
	}
	day := asOf.UTC().Format("2006-01-02")
	report := activities.StaffReport{Key: "aging-summary:" + day, Subject: "[dunning] Receivables aging " + day, Text: res.Summary}
	ctx = workflow.WithActivityOptions(ctx, noticeOptions("aging summary to staff"))
	return workflow.ExecuteActivity(ctx, acts.SendStaffReport, report).Get(ctx, nil)
}
