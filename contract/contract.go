// Package contract declares the typed shape of a workflow's public
// handlers: an update, a query or a signal is a descriptor carrying its
// name and, as type parameters, its request and result types. The
// workflow registers its handlers through the descriptor and every caller
// (the operations client, the API, the CLI, the demo, reconciliation, the
// webhook) calls through the same descriptor, so a wrong payload type is a
// compile error on both sides instead of a decoding failure at run time.
//
// The package knows nothing of the dunning domain; workflows declares the
// descriptors (workflows/names.go).
package contract

import (
	"context"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// Update is a workflow update taking Req and answering Res.
type Update[Req, Res any] struct{ Name string }

// Query is a workflow query answering Res.
type Query[Res any] struct{ Name string }

// Signal is a workflow signal carrying T.
type Signal[T any] struct{ Name string }

// Register installs the update's handler and its validator (nil: none) in
// the workflow.
func (u Update[Req, Res]) Register(ctx workflow.Context, handler func(workflow.Context, Req) (Res, error),
	validator func(workflow.Context, Req) error,
) error {
	opts := workflow.UpdateHandlerOptions{}
	if validator != nil {
		opts.Validator = validator
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, u.Name, handler, opts)
}

// Register installs the query's handler in the workflow.
func (q Query[Res]) Register(ctx workflow.Context, handler func() (Res, error)) error {
	return workflow.SetQueryHandler(ctx, q.Name, handler)
}

// Decode reads the query's answer.
func (q Query[Res]) Decode(val converter.EncodedValue) (Res, error) {
	var res Res
	err := val.Get(&res)
	return res, err
}

// Channel is the workflow's channel of the signal.
func (s Signal[T]) Channel(ctx workflow.Context) workflow.ReceiveChannel {
	return workflow.GetSignalChannel(ctx, s.Name)
}

// Updater runs an update by name on a customer's workflow and decodes its
// answer into result, a pointer. It is the one untyped seam, implemented by
// the operations client (ops.Ops) and by test fakes; call it through Run,
// never directly.
type Updater interface {
	Update(ctx context.Context, customerID, updateName string, arg, result any) error
}

// Run runs the update u with req on the customer's workflow through up and
// returns its typed answer. An update that answered nothing (null) gives
// nil and no error.
func Run[Req, Res any](ctx context.Context, up Updater, u Update[Req, Res], customerID string, req Req) (*Res, error) {
	var res *Res
	if err := up.Update(ctx, customerID, u.Name, req, &res); err != nil {
		return nil, err
	}
	return res, nil
}

// Call runs the update u with req on the workflow workflowID straight
// through a Temporal client and waits for its answer.
func Call[Req, Res any](ctx context.Context, c client.Client, u Update[Req, Res], workflowID string, req Req) (Res, error) {
	var res Res
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   u.Name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &res)
	}
	return res, err
}

// Ask runs the query q on the workflow workflowID (its current run when
// runID is empty) through a Temporal client.
func Ask[Res any](ctx context.Context, c client.Client, q Query[Res], workflowID, runID string) (Res, error) {
	val, err := c.QueryWorkflow(ctx, workflowID, runID, q.Name)
	if err != nil {
		var zero Res
		return zero, err
	}
	return q.Decode(val)
}

// Send sends the signal s with arg to the workflow workflowID.
func Send[T any](ctx context.Context, c client.Client, s Signal[T], workflowID, runID string, arg T) error {
	return c.SignalWorkflow(ctx, workflowID, runID, s.Name, arg)
}
