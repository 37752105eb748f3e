package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/example/dunning/config"
	"github.com/example/dunning/service"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// app is what every command shares.
type app struct {
	out, errOut io.Writer
	json        bool
	actor       string
	timeout     time.Duration
	cfg         config.Config

	temporal client.Client
	store    *store.Store
}

func newRoot(out, errOut io.Writer) *cobra.Command {
	a := &app{out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   "starter",
		Short: "Billing staff's tool for the collections and dunning system",
		Long: `starter onboards customers, records payments and changes their accounts on the
CustomerLifecycle workflows, and reads their status, emails and audit log.

It reads the same environment as the worker: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
DUNNING_TASK_QUEUE and DATABASE_URL. Changes are recorded in the audit log with
--actor (default: $DUNNING_ACTOR, else your user name).

Exit codes: 0 done; 1 refused or not found (the message says why); 2 bad input
or usage; 3 Temporal or PostgreSQL unreachable.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			cfg, err := config.FromEnv()
			if err != nil {
				return usage("%v", err)
			}
			a.cfg = cfg
			return nil
		},
		PersistentPostRun: func(*cobra.Command, []string) { a.close() },
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print JSON instead of text")
	root.PersistentFlags().StringVar(&a.actor, "actor", defaultActor(), "who is doing this, for the audit log")
	root.PersistentFlags().DurationVar(&a.timeout, "timeout", 30*time.Second, "how long to wait for the workflow")
	root.AddCommand(
		a.onboardCmd(), a.payCmd(), a.statusCmd(),
		a.suspendCmd(), a.reinstateCmd(), a.terminateCmd(),
		a.promiseCmd(), a.disputeCmd(), a.resolveCmd(), a.writeOffCmd(),
		a.outboxCmd(), a.auditCmd(), a.migrateCmd(),
	)
	return root
}

func defaultActor() string {
	if v := os.Getenv("DUNNING_ACTOR"); v != "" {
		return v
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "staff"
}

func (a *app) close() {
	if a.temporal != nil {
		a.temporal.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
}

// client connects to Temporal on first use.
func (a *app) client(ctx context.Context) (client.Client, error) {
	if a.temporal != nil {
		return a.temporal, nil
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := service.Dial(ctx, a.cfg, quiet)
	if err != nil {
		return nil, unavailable(err)
	}
	a.temporal = c
	return c, nil
}

// db connects to PostgreSQL on first use.
func (a *app) db(ctx context.Context) (*store.Store, error) {
	if a.store != nil {
		return a.store, nil
	}
	st, err := store.Open(ctx, a.cfg.DatabaseURL)
	if err != nil {
		return nil, unavailable(err)
	}
	a.store = st
	return st, nil
}

func (a *app) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), a.timeout)
}

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// update runs a workflow update and waits for its result, turning Temporal's
// errors into ones a person understands.
func (a *app) update(customerID, name, updateID string, arg, result any) error {
	ctx, cancel := a.ctx()
	defer cancel()
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(customerID),
		UpdateName:   name,
		UpdateID:     updateID,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	return a.explain(customerID, name, err)
}

// explain maps workflow errors to messages and exit codes.
func (a *app) explain(customerID, what string, err error) error {
	if err == nil {
		return nil
	}
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return refused("unknown customer %q: no workflow %s", customerID, workflows.WorkflowID(customerID))
	case strings.Contains(err.Error(), "workflow execution already completed"):
		return refused("customer %q is terminated: its lifecycle has ended", customerID)
	case errors.Is(err, context.DeadlineExceeded):
		return unavailable(fmt.Errorf("%s for %s: no answer within %s (is a worker running on task queue %s?)", what, customerID, a.timeout, a.cfg.TaskQueue))
	}
	var unavailableErr *serviceerror.Unavailable
	if errors.As(err, &unavailableErr) {
		return unavailable(err)
	}
	return refused("%s refused: %s", what, rootMessage(err))
}

// rootMessage strips the wrapping Temporal adds around a validator's error.
func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
