package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/activities"
)

func TestAgingSnapshotMailsTheDaysSummary(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC))
	env.RegisterWorkflow(AgingSnapshot)
	env.RegisterActivity(&activities.Activities{})
	var acts *activities.Activities
	var saved time.Time
	var sent activities.StaffReport
	env.OnActivity(acts.SaveAgingSnapshot, mock.Anything, mock.Anything).Return(func(_ context.Context, asOf time.Time) (activities.SnapshotResult, error) {
		saved = asOf
		return activities.SnapshotResult{AsOf: asOf, Currencies: 2, Summary: "USD: $1,234.00 open"}, nil
	})
	env.OnActivity(acts.SendStaffReport, mock.Anything, mock.Anything).Return(func(_ context.Context, r activities.StaffReport) (activities.NoticeResult, error) {
		sent = r
		return activities.NoticeResult{Key: r.Key, Status: "sent"}, nil
	})
	env.ExecuteWorkflow(AgingSnapshot)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if saved.Format("2006-01-02 15:04") != "2026-11-25 00:05" {
		t.Errorf("snapshot as of %v", saved)
	}
	if sent.Key != "aging-summary:2026-11-25" || !strings.Contains(sent.Subject, "2026-11-25") || sent.Text != "USD: $1,234.00 open" {
		t.Errorf("staff report = %+v", sent)
	}
}
