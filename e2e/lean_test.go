package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/workflows"
)

// carryProbe upserts search attributes in its first run only, then
// continues as new and waits for a signal: what the lean version relies on
// (search attributes carry over with continue-as-new) on a real server.
func carryProbe(ctx workflow.Context, customerID string, run int) error {
	if run == 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.AttrCustomerID.ValueSet(customerID),
			workflows.AttrAccountStatus.ValueSet("active"), workflows.AttrAmountOverdue.ValueSet(42)); err != nil {
			return err
		}
		return workflow.NewContinueAsNewError(ctx, carryProbe, customerID, run+1)
	}
	workflow.GetSignalChannel(ctx, "done").Receive(ctx, nil)
	return nil
}

// TestSearchAttributesCarryOverContinueAsNew: after continue-as-new the new
// run is found by the attributes the previous run upserted, although it
// upserted none itself.
func TestSearchAttributesCarryOverContinueAsNew(t *testing.T) {
	queue := "carry-probe"
	w := worker.New(env.client, queue, worker.Options{})
	w.RegisterWorkflow(carryProbe)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	id := fmt.Sprintf("carry-%d", time.Now().UnixNano())
	run, err := env.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: queue}, carryProbe, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var second string
	eventually(t, 30*time.Second, "the second run visible by its carried attributes", func() bool {
		res, err := env.client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`CustomerId = %q AND AccountStatus = "active" AND AmountOverdue = 42 AND ExecutionStatus = "Running"`, id),
		})
		if err != nil || len(res.Executions) != 1 {
			return false
		}
		second = res.Executions[0].Execution.RunId
		return second != run.GetRunID()
	})
	iter := env.client.GetWorkflowHistory(context.Background(), id, second, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventType == enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES {
			t.Fatalf("the second run upserted search attributes: %v", ev)
		}
	}
	if err := env.client.SignalWorkflow(context.Background(), id, second, "done", nil); err != nil {
		t.Fatal(err)
	}
}
