package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/example/dunning/reconcile"
)

func (a *app) reconcileCmd() *cobra.Command {
	var opts reconcile.Options
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Compare every customer's workflow with PostgreSQL; report drift, and with --repair resync it",
		Long: `Compare each customer's workflow state (the GetLedger query) with PostgreSQL: the
customers row's status, access, balance, credit and event sequence, the open
invoices, the payments, the audit log's extent and, with the table
provisioner, the subscriptions row. Every difference is listed per customer
with both values. A workflow still recording its last change is reported as
in progress, not as drift.

With --repair, customers whose drift a resync can repair get the Resync
update: the workflow re-records its customers row, every open invoice and the
payments PostgreSQL lacks (method "reconciled"), in the audit log under
--actor, and is checked again. Repeating a repair changes nothing more.
What the workflow no longer knows (closed invoices, past audit events, a row
ahead of the workflow) is reported for staff to check by hand.

Exit codes: 0 no drift (or all of it repaired); 1 drift left; 2 bad input;
3 Temporal or PostgreSQL unreachable, or a customer could not be checked.`,
		Example: `  starter reconcile
  starter reconcile --customer acme --json
  starter reconcile --repair --actor alice`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			opts.Actor = a.actor
			rep, err := a.ops.Reconcile(context.Background(), opts)
			if err != nil {
				return explain(err)
			}
			var buf bytes.Buffer
			if a.json {
				err = reconcile.WriteJSON(&buf, rep)
			} else {
				err = reconcile.WriteText(&buf, rep)
			}
			if err != nil {
				return err
			}
			if _, err := a.out.Write(buf.Bytes()); err != nil {
				return err
			}
			switch {
			case rep.Errors > 0:
				return &codedError{exitUnavailable, fmt.Errorf("%d customers could not be checked", rep.Errors)}
			case rep.HasDrift():
				return &codedError{exitRefused, fmt.Errorf("drift found in %d customers", rep.Drifted)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.CustomerID, "customer", "", "only this customer")
	f.BoolVar(&opts.Repair, "repair", false, "resync customers with repairable drift, then check them again")
	f.StringVar(&opts.Reason, "reason", "", `the audit reason of repairs (default "reconciliation repair")`)
	return cmd
}
