package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/example/dunning/ops"
)

func (a *app) listCmd() *cobra.Command {
	var f ops.ListFilter
	var token string
	cmd := &cobra.Command{
		Use:   "list [--status S] [--stage S] [--risk-tier T] [--min-days-past-due N] [--exemption E]",
		Short: "List customers by status, dunning stage, risk tier or days past due",
		Long: `List customers from Temporal's visibility store by the search attributes their
workflows keep up to date: AccountStatus, DunningStage, RiskTier, DaysPastDue
and Exemptions (the same query works in the Temporal Web UI). Filters combine with AND;
without any, every customer is listed, those whose lifecycle ended included.

Amounts overdue are in minor units of each customer's currency. At most
--limit customers are printed; when there are more, the last line gives the
--page-token for the next page.`,
		Example: `  starter list --status past_due --min-days-past-due 30
  starter list --stage final_notice --json
  starter list --status suspended --risk-tier high`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var err error
			if f.PageToken, err = ops.DecodePageToken(token); err != nil {
				return usage("--page-token: %v", err)
			}
			customers, next, err := a.ops.List(context.Background(), f)
			if err != nil {
				return explain(err)
			}
			page := ops.NewPage(customers, next)
			if a.json {
				return a.printJSON(page)
			}
			return printList(a, page)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Status, "status", "", "account status: screening, manual_review, awaiting_prepayment, active, past_due, suspended or terminated")
	fl.StringVar(&f.Stage, "stage", "", "dunning stage, e.g. overdue_1, final_notice, or none")
	fl.StringVar(&f.RiskTier, "risk-tier", "", "risk tier, e.g. low, medium or high")
	fl.IntVar(&f.MinDaysPastDue, "min-days-past-due", 0, "only customers at least this many days past due")
	fl.StringVar(&f.Exemption, "exemption", "", "only customers with this exemption: enforcement_off, no_dunning or manual_pay")
	fl.IntVar(&f.PageSize, "limit", ops.DefaultPageSize, fmt.Sprintf("customers per page, at most %d", ops.MaxPageSize))
	fl.StringVar(&token, "page-token", "", "the next page, as a previous listing printed it")
	return cmd
}

func printList(a *app, p ops.Page) error {
	if len(p.Customers) == 0 {
		fmt.Fprintln(a.out, "No customers.")
		return nil
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tNAME\tSTATUS\tSTAGE\tRISK\tOVERDUE (MINOR)\tDAYS PAST DUE\tEXEMPT")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, c := range p.Customers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.CustomerID, dash(c.Name), dash(c.Status), dash(c.DunningStage), dash(c.RiskTier),
			c.AmountOverdueMinor, c.DaysPastDue, dash(strings.Join(c.Exemptions, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.NextPageToken != "" {
		fmt.Fprintf(a.out, "More customers: add --page-token %s\n", p.NextPageToken)
	}
	return nil
}
