package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/dunning/ops"
	"github.com/example/dunning/reports"
)

func (a *app) recoveryCmd() *cobra.Command {
	var since, until, policyName string
	var csvOut bool
	cmd := &cobra.Command{
		Use:   "recovery",
		Short: "Recovery figures: how much of what went past due came back, by retries, card updates, reminders or staff",
		Long: `Print the recovery report for the invoices due in a window, per policy and month
of the due date and in total, separately for each currency.

An invoice is at risk when it was not paid in full by the end of its due day
(one policy day after the due time) or when its first card charge failed.
What it was paid after that is recovered, attributed to card retries (attempt
2 and later), the charge after a card update, the customer paying on the
pay-now page (reminders), or staff (bank transfers); for reminders and staff
the step is the last email sent before the payment. What the first charge took
on time is collected, not recovered. The time to recovery runs from the due
date to the payment, in hours and in the policy's days.

--since and --until take a time (2026-03-01, RFC 3339) or a duration before
now (180d, 36h).`,
		Example: `  starter recovery
  starter recovery --since 2026-01-01 --until 2026-04-01 --policy standard
  starter recovery --csv > recovery.csv`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			opts, err := ops.RecoveryOptions(time.Now(), since, until, policyName)
			if err != nil {
				return explain(err)
			}
			if csvOut && a.json {
				return usage("--csv and --json exclude each other")
			}
			write := reports.WriteRecoveryText
			switch {
			case a.json:
				write = reports.WriteRecoveryJSON
			case csvOut:
				write = reports.WriteRecoveryCSV
			}
			r, err := a.ops.Recovery(context.Background(), opts)
			if err != nil {
				return explain(err)
			}
			return writeReport(a, write, r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "180d", "invoices due from this time (a time, or a duration before now)")
	f.StringVar(&until, "until", "", "invoices due before this time (a time, or a duration before now; default now)")
	f.StringVar(&policyName, "policy", "", "only customers on this policy: a name (all its versions) or an ID like standard.v1")
	f.BoolVar(&csvOut, "csv", false, "print CSV instead of text")
	return cmd
}
