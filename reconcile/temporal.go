package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/workflows"
)

// Temporal reaches the customers' workflows.
type Temporal struct {
	Client client.Client
	// Timeout bounds each call (a query replays a closed workflow's whole
	// last run on a worker); default 30s.
	Timeout time.Duration
	// PageSize of the workflow listing; default 1000.
	PageSize int
}

func (t Temporal) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := t.Timeout
	if d <= 0 {
		d = 30 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

// Ledger implements Workflows.
func (t Temporal) Ledger(ctx context.Context, customerID string) (account.Ledger, string, error) {
	q := workflows.QueryGetLedger
	var l account.Ledger
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	id := workflows.WorkflowID(customerID)
	d, err := t.Client.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return l, "", ErrNoWorkflow
	}
	if err != nil {
		return l, "", t.explain("describe", id, err)
	}
	exec := executionStatus(d.GetWorkflowExecutionInfo().GetStatus().String())
	val, err := t.Client.QueryWorkflow(ctx, id, "", q.Name)
	var failed *serviceerror.QueryFailed
	if err != nil && exec != "running" && errors.As(err, &failed) {
		// A closed workflow that never installed the query: it failed
		// before it opened the account.
		return l, exec, fmt.Errorf("%w: %s", ErrNoLedger, failed.Message)
	}
	if err != nil {
		return l, exec, t.explain("query "+q.Name+" on", id, err)
	}
	if l, err = q.Decode(val); err != nil {
		return l, exec, fmt.Errorf("ledger of %s: %w", customerID, err)
	}
	return l, exec, nil
}

func executionStatus(s string) string {
	return strings.ToLower(strings.TrimPrefix(s, "WORKFLOW_EXECUTION_STATUS_"))
}

func (t Temporal) explain(what, id string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: no answer in time (is a worker running?)", what, id)
	}
	return fmt.Errorf("%s %s: %w", what, id, err)
}

// Resync implements Workflows.
func (t Temporal) Resync(ctx context.Context, customerID string, r account.Resync) (account.ResyncResult, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	res, err := contract.Call(ctx, t.Client, workflows.UpdateResync, workflows.WorkflowID(customerID), r)
	if err != nil && strings.Contains(err.Error(), "workflow execution already completed") {
		return res, ErrClosed
	}
	if err != nil {
		return res, t.explain("resync", workflows.WorkflowID(customerID), err)
	}
	return res, nil
}

// ListQuery selects every customer's latest run.
var ListQuery = `WorkflowType = "` + workflows.WorkflowType + `" AND ExecutionStatus != "ContinuedAsNew"`

// CustomerIDs implements Workflows.
func (t Temporal) CustomerIDs(ctx context.Context, token []byte) ([]string, []byte, error) {
	size := t.PageSize
	if size <= 0 {
		size = 1000
	}
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: int32(size), NextPageToken: token, Query: ListQuery,
	})
	if err != nil {
		return nil, nil, err
	}
	var ids []string
	for _, info := range resp.GetExecutions() {
		var id string
		if p, ok := info.GetSearchAttributes().GetIndexedFields()[workflows.AttrCustomerID.GetName()]; ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &id)
		}
		if id == "" {
			id = strings.TrimPrefix(info.GetExecution().GetWorkflowId(), "customer-")
		}
		ids = append(ids, id)
	}
	return ids, resp.GetNextPageToken(), nil
}
