package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/dunning/money"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/policy"
)

func (a *app) queueCmd() *cobra.Command {
	var horizon string
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "The staff work queue: reviews, provider notices, promises and suspensions falling due, failed emails and provisioning",
		Long: `Print what staff owe an answer to, soonest first: open reviews and provider
notices by deadline, promises to pay ending and suspensions coming within
--horizon, emails that failed or bounced in the last 14 days, and customers
whose provisioning is failing. A suspension's time is the earliest the
ladder can reach it; a broken promise moves it later (status shows the
exact next action).`,
		Example: `  starter queue
  starter queue --horizon 2d --json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			h, err := policy.ParseDuration(horizon)
			if err != nil {
				return usage("--horizon: %v", err)
			}
			items, err := a.ops.WorkQueue(context.Background(), time.Now(), h)
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(items)
			}
			return printQueue(a.out, items)
		},
	}
	cmd.Flags().StringVar(&horizon, "horizon", "7d", "how far ahead promises and suspensions are shown (at most 90d)")
	return cmd
}

func printQueue(w io.Writer, items []ops.WorkItem) error {
	if len(items) == 0 {
		fmt.Fprintln(w, "Nothing in the work queue.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DUE\tKIND\tCUSTOMER\tINVOICE\tREF\tDETAIL")
	for _, it := range items {
		detail := strings.ReplaceAll(it.Detail, "\n", " ")
		if it.AmountMinor != 0 {
			detail = strings.TrimSpace(money.Format(it.AmountMinor, it.Currency) + " " + detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", when(it.Due), it.Kind, it.CustomerID, orDash(it.InvoiceID), orDash(it.Ref), orDash(detail))
	}
	return tw.Flush()
}
