package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/dunning/config"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/ops"
)

// app is what every command shares.
type app struct {
	out, errOut io.Writer
	json        bool
	actor       string
	timeout     time.Duration
	cfg         config.Config

	ops *ops.Ops // connects to Temporal and PostgreSQL on first use
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
			a.ops = ops.New(ops.Options{Config: cfg, Timeout: a.timeout})
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
		a.onboardCmd(), a.payCmd(), a.statusCmd(), a.listCmd(),
		a.suspendCmd(), a.reinstateCmd(), a.terminateCmd(),
		a.promiseCmd(), a.cardCmd(), a.disputeCmd(), a.resolveCmd(), a.writeOffCmd(),
		a.verifyPhoneCmd(), a.requestCodeCmd(), a.reportAbuseCmd(), a.reviewCmd(),
		a.budgetCmd(), a.usageCmd(), a.subscriptionCmd(), a.exemptionCmd(),
		a.outboxCmd(), a.auditCmd(), a.agingCmd(), a.recoveryCmd(), a.exportCollectionsCmd(), a.ingestActivityCmd(), a.migrateCmd(), a.reconcileCmd(), a.queueCmd(),
		a.webhooksCmd(),
		a.policyCmd(),
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
	if a.ops != nil {
		a.ops.Close()
	}
}

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// update runs a workflow update and waits for its result. The argument is
// validated first and nothing is sent when it is bad.
func update[Req, Res any](a *app, customerID string, u contract.Update[Req, Res], req Req) (Res, error) {
	var zero Res
	res, err := contract.Run(context.Background(), a.ops, u, customerID, req)
	if err != nil {
		return zero, explain(err)
	}
	if res == nil {
		return zero, nil
	}
	return *res, nil
}

// explain gives an ops error its exit code; the message is already one a
// person understands.
func explain(err error) error {
	var (
		invalid *ops.InvalidError
		refusal *ops.RefusedError
		down    *ops.UnavailableError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &invalid):
		return &codedError{exitUsage, err}
	case errors.As(err, &down):
		return &codedError{exitUnavailable, err}
	case errors.As(err, &refusal), errors.Is(err, ops.ErrNotFound), errors.Is(err, ops.ErrTerminated):
		return &codedError{exitRefused, err}
	}
	return err
}
