package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/activities"
)

// The daily run reports only (repair false), stores its run under the
// day's key, and mails staff only when drift is left or customers could
// not be checked.
func TestReconcileMailsStaffOnlyOnDrift(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result activities.ReconcileResult
		mailed bool
	}{
		{"clean", activities.ReconcileResult{Checked: 3}, false},
		{"drift", activities.ReconcileResult{Checked: 3, Drifted: 1, Summary: "3 customers checked: 2 ok, 1 with drift"}, true},
		{"not checked", activities.ReconcileResult{Checked: 3, Errors: 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.SetStartTime(time.Date(2026, 11, 25, 0, 35, 0, 0, time.UTC))
			env.RegisterWorkflow(Reconcile)
			env.RegisterActivity(&activities.Activities{})
			var got activities.ReconcileInput
			env.RegisterActivityWithOptions(func(_ context.Context, in activities.ReconcileInput) (activities.ReconcileResult, error) {
				got = in
				return tc.result, nil
			}, activity.RegisterOptions{Name: ReconcileActivity})
			var acts *activities.Activities
			var sent []activities.StaffReport
			env.OnActivity(acts.SendStaffReport, mock.Anything, mock.Anything).Return(func(_ context.Context, r activities.StaffReport) (activities.NoticeResult, error) {
				sent = append(sent, r)
				return activities.NoticeResult{Key: r.Key, Status: "sent"}, nil
			})
			env.ExecuteWorkflow(Reconcile, false)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if got.Repair || !strings.HasPrefix(got.RunKey, "daily:2026-11-25:") || got.At.Format("15:04") != "00:35" {
				t.Errorf("activity input = %+v", got)
			}
			if !tc.mailed {
				if len(sent) != 0 {
					t.Errorf("mailed on a clean run: %+v", sent)
				}
				return
			}
			if len(sent) != 1 || sent[0].Key != "reconcile-drift:2026-11-25" || sent[0].Text != tc.result.Summary ||
				!strings.Contains(sent[0].Subject, "2026-11-25") {
				t.Errorf("staff report = %+v", sent)
			}
		})
	}
}
