package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/example/dunning/activities"
	"github.com/example/dunning/store"
)

// Activities runs the scheduled reconciliation. It is registered beside
// the customer activities; its method is called by name
// (workflows.ReconcileActivity).
type Activities struct {
	Reconciler *Reconciler
	Store      *store.Store
	Actor      string // the audit actor of scheduled repairs; default "reconcile-schedule"
}

// ReconcileAll checks every customer (and repairs when asked), stores the
// run in reconcile_runs under its key, and returns its summary. It
// heartbeats as it goes.
func (a *Activities) ReconcileAll(ctx context.Context, in activities.ReconcileInput) (activities.ReconcileResult, error) {
	r := *a.Reconciler
	if activity.IsActivity(ctx) {
		r.Progress = func(n int) { activity.RecordHeartbeat(ctx, n) }
	}
	actor := a.Actor
	if actor == "" {
		actor = "reconcile-schedule"
	}
	rep, err := r.Run(ctx, Options{Repair: in.Repair, Actor: actor, Reason: "scheduled reconciliation " + in.RunKey})
	if err != nil {
		return activities.ReconcileResult{}, err
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return activities.ReconcileResult{}, err
	}
	if err := a.Store.SaveReconcileRun(ctx, store.ReconcileRun{
		RunKey: in.RunKey, StartedAt: rep.StartedAt, FinishedAt: rep.FinishedAt, Checked: rep.Checked,
		Drifted: rep.Drifted, Repaired: rep.Repaired, Errors: rep.Errors, Report: data,
	}); err != nil {
		return activities.ReconcileResult{}, fmt.Errorf("save reconciliation run: %w", err)
	}
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		return activities.ReconcileResult{}, err
	}
	text.WriteString("\nRepair what a resync can repair with: starter reconcile --repair\n")
	return activities.ReconcileResult{RunKey: in.RunKey, Checked: rep.Checked, Drifted: rep.Drifted, Repaired: rep.Repaired,
		Errors: rep.Errors, Summary: text.String()}, nil
}
