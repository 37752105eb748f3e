package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/activities"
)

// The dispatcher runs the delivery activity back to back, retries a run
// that fails (a worker that died, a heartbeat that timed out), and
// continues as new after its runs.
func TestWebhookDispatcherLoopsRetriesAndContinuesAsNew(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(WebhookDispatcher, workflow.RegisterOptions{Name: WebhookDispatcherType})
	env.RegisterActivity(&activities.Outbound{})
	calls := 0
	env.OnActivity(outbound.DeliverWebhooks, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
		calls++
		if in.For != time.Minute {
			t.Errorf("run for %s", in.For)
		}
		if calls == 2 || calls == 3 {
			return activities.DeliverResult{}, errors.New("worker lost")
		}
		return activities.DeliverResult{Delivered: 1}, nil
	})
	env.ExecuteWorkflow(WebhookDispatcherType, DispatcherInput{RunFor: time.Minute, Runs: 3})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("dispatcher ended with %v, want continue-as-new", err)
	}
	if calls != 5 { // three runs, one of them tried three times
		t.Fatalf("%d activity calls, want 5", calls)
	}
}
