package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/dunning/account"
	"github.com/example/dunning/lab"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/workflows"
)

// Exit code of policy lint when a valid file has warnings.
const exitWarnings = 1

func (a *app) policyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "The policy lab: lint and diff policy files, simulate a policy over past customers, move customers to another policy",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(a.policyLintCmd(), a.policyDiffCmd(), a.policySimulateCmd(), a.policyChangeCmd())
	return cmd
}

func (a *app) policyLintCmd() *cobra.Command {
	var allowWarnings bool
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check policy files: errors name the file and field; warnings point at what a billing manager would not want",
		Long: `Check policy files as the worker loads them, and warn about valid policies
that are probably mistakes: a final notice less than 5 days before the
suspension, a termination that no notice warns of, no suspension or no
termination step, gaps between steps longer than the card networks' retry
window (collection.network_window), retries beyond collection.network_attempts
or after the termination, a promise to pay that may outlive the invoice, and a
published policy ID reused with other settings (publish a new version).

Exit codes: 0 every file is clean; 1 warnings (0 with --allow-warnings);
2 a file is invalid or unreadable.`,
		Example: `  starter policy lint policies/standard.v3.json
  starter policy lint --json candidate/*.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, files []string) error {
			type result struct {
				File     string           `json:"file"`
				Valid    bool             `json:"valid"`
				Error    string           `json:"error,omitempty"`
				Warnings []policy.Warning `json:"warnings"`
			}
			var results []result
			invalid, warned := 0, 0
			for _, f := range files {
				r := result{File: f, Warnings: []policy.Warning{}}
				data, err := os.ReadFile(f)
				if err == nil {
					var res ops.PolicyLint
					res, err = a.ops.LintPolicy(f, data)
					if err == nil {
						r.Warnings = res.Warnings
					}
				}
				if err != nil {
					r.Error = err.Error()
					invalid++
				} else {
					r.Valid = true
				}
				if len(r.Warnings) > 0 {
					warned++
				}
				results = append(results, r)
			}
			if a.json {
				if err := a.printJSON(results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					switch {
					case r.Error != "":
						fmt.Fprintln(a.out, "invalid:", r.Error)
					case len(r.Warnings) == 0:
						fmt.Fprintf(a.out, "%s: ok\n", r.File)
					}
					for _, w := range r.Warnings {
						fmt.Fprintln(a.out, "warning:", w)
					}
				}
			}
			switch {
			case invalid > 0:
				return &codedError{exitUsage, fmt.Errorf("%d of %d policy files invalid", invalid, len(files))}
			case warned > 0 && !allowWarnings:
				return &codedError{exitWarnings, fmt.Errorf("%d of %d policy files have warnings", warned, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowWarnings, "allow-warnings", false, "exit 0 when the files are valid, even with warnings")
	return cmd
}

// loadPolicy reads a policy by ID from the published policies, or a
// policy file (a path ending in .json) that need not be published yet.
func (a *app) loadPolicy(ref string) (policy.Policy, error) {
	if strings.HasSuffix(ref, ".json") {
		data, err := os.ReadFile(ref)
		if err != nil {
			return policy.Policy{}, usage("%v", err)
		}
		p, err := policy.Parse(filepath.Base(ref), data)
		if err != nil {
			return policy.Policy{}, usage("%v", err)
		}
		return p, nil
	}
	p, err := a.ops.Policy(ref)
	return p, explain(err)
}

func (a *app) policyDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff A B",
		Short: "Two policies side by side: their ladders day by day, and every other setting that differs",
		Long: `Show two policies side by side. A and B are published policy IDs (standard.v1,
or a name for its latest version) or policy files (paths ending in .json).
Ladder steps are listed by day relative to the invoice's due date, each
policy's offsets counted in its own day (the demo policy's two-second day
lines up with 24 hours); rows marked * differ. Then the settings that
differ: day, billing interval and terms, prepayment, trust, promise, reviews,
channels and card collection retries.`,
		Example: `  starter policy diff standard.v1 strict.v1
  starter policy diff standard.v2 ./standard.v3.json --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			pa, err := a.loadPolicy(args[0])
			if err != nil {
				return err
			}
			pb, err := a.loadPolicy(args[1])
			if err != nil {
				return err
			}
			d := policy.Compare(pa, pb)
			if a.json {
				return a.printJSON(d)
			}
			return writeReport(a, writeDiff, d)
		},
	}
}

func writeDiff(w io.Writer, d policy.Diff) error {
	steps := func(s []policy.StepView) string {
		if len(s) == 0 {
			return "-"
		}
		var parts []string
		for _, v := range s {
			parts = append(parts, fmt.Sprintf("%s (%s)", v.Stage, v.Action))
		}
		return strings.Join(parts, ", ")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, " \tDAY\t%s\t%s\n", d.A, d.B)
	for _, r := range d.Days {
		mark := "*"
		if r.Same {
			mark = " "
		}
		fmt.Fprintf(tw, "%s\t%+g\t%s\t%s\n", mark, r.Day, steps(r.A), steps(r.B))
	}
	if len(d.Settings) > 0 {
		fmt.Fprintf(tw, "\n \tSETTING\t%s\t%s\n", d.A, d.B)
		for _, s := range d.Settings {
			fmt.Fprintf(tw, "*\t%s\t%s\t%s\n", s.Field, s.A, s.B)
		}
	}
	if !d.Differs() {
		fmt.Fprintln(tw, "The policies do not differ.")
	}
	return tw.Flush()
}

func (a *app) policySimulateCmd() *cobra.Command {
	var pol, customers, since, format string
	var csv bool
	cmd := &cobra.Command{
		Use:   "simulate --policy ID|FILE [--customers a,b] [--since 180d] [--json|--csv]",
		Short: "Re-run what really happened to past customers under another policy, and show what would have differed",
		Long: `Re-run the account state machine over what really happened to customers
(their approval, payments, usage, promises, disputes and resolutions, and the
suspensions, reinstatements, terminations and write-offs staff made, at their
recorded times, read from PostgreSQL) under the policy given, and compare
with what was recorded: suspension and termination sooner, later, new or
avoided; the emails by stage; what is owed at the end in each aging bucket;
what was written off. Per customer and in total, as text, JSON or CSV.

Nothing is written: the records are read in one read-only snapshot. The
customers are those named with --customers, else every customer with
anything recorded since --since (each is re-run from its start). The
policy is a published ID or a policy file not yet published.

A customer's behaviour is replayed as recorded: a payment made after a
reminder keeps its time even if the policy would have sent that reminder
later or never. Updates the policy's account refuses (a promise on an
invoice it never issued, a payment after it terminated the account) are
listed as not replayed. See the README for what is not simulated.`,
		Example: `  starter policy simulate --policy strict.v1
  starter policy simulate --policy ./standard.v3.json --since 90d --csv > sim.csv
  starter policy simulate --policy strict.v1 --customers acme,globex --json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if pol == "" {
				return usage("--policy is required (a policy ID like strict.v1 or a policy file)")
			}
			if a.json {
				format = "json"
			}
			if csv {
				format = "csv"
			}
			write := map[string]func(io.Writer, lab.Report) error{"text": lab.WriteText, "csv": lab.WriteCSV, "json": nil}
			if _, ok := write[format]; !ok {
				return usage("--format %q must be text, json or csv", format)
			}
			now := time.Now().UTC()
			from, err := ops.ParseTimeOrAgo(since, now)
			if err != nil {
				return usage("--since: %v", err)
			}
			p, err := a.loadPolicy(pol)
			if err != nil {
				return err
			}
			q := lab.Query{Since: from, AsOf: now}
			if customers != "" {
				q.CustomerIDs = strings.Split(customers, ",")
			}
			rep, err := a.ops.Simulate(context.Background(), p, q)
			if err != nil {
				return explain(err)
			}
			if format == "json" {
				return a.printJSON(rep)
			}
			return writeReport(a, write[format], rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&pol, "policy", "", "the policy to simulate: an ID (strict.v1) or a policy file")
	f.StringVar(&customers, "customers", "", "only these customers, comma-separated")
	f.StringVar(&since, "since", "180d", "customers with anything recorded since then: a duration before now (180d) or a time")
	f.StringVar(&format, "format", "text", "text, json or csv")
	f.BoolVar(&csv, "csv", false, "print CSV (same as --format csv)")
	return cmd
}

// maxPolicyMoves bounds one filtered move.
const maxPolicyMoves = 10_000

func (a *app) policyChangeCmd() *cobra.Command {
	var req account.PolicyChange
	var f ops.ListFilter
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "change [CUSTOMER_ID...] --to POLICY_ID --reason TEXT [--status S --stage S --risk-tier T --min-days-past-due N] [--dry-run]",
		Short: "Move running customers to another policy version, deliberately and audited",
		Long: `Move customers to another policy version with the ChangePolicy update, recorded
in the audit log with --actor and --reason. Running customers otherwise keep
the version they started with. Open invoices keep their amount and due date;
their ladders are re-anchored on the new policy's (see the README): stages
already reached stay reached, the next step is the new ladder's first step
not yet reached, at its own time or now if that has passed, and the steps
after it keep the new ladder's spacing.

Name the customers, or select them with the filters of starter list (running
customers only). --dry-run prints who would move and changes nothing.
Customers the update refuses (already on the policy, terminated) are listed;
the exit code is then 1.`,
		Example: `  starter policy change acme --to strict.v2 --reason "high-risk tier after chargebacks"
  starter policy change --status past_due --risk-tier high --to strict.v2 --reason "tier review" --dry-run`,
		RunE: func(_ *cobra.Command, ids []string) error {
			req.Actor = a.actor
			if err := req.Validate(); err != nil {
				return usage("%v", err)
			}
			filtered := f.Status != "" || f.Stage != "" || f.RiskTier != "" || f.MinDaysPastDue != 0
			switch {
			case len(ids) > 0 && filtered:
				return usage("name customers or give filters, not both")
			case len(ids) == 0 && !filtered:
				return usage("name the customers to move, or select them with --status, --stage, --risk-tier or --min-days-past-due")
			}
			if _, err := a.ops.Policy(req.To); err != nil {
				return explain(err)
			}
			if filtered {
				var err error
				if ids, err = a.runningCustomers(f); err != nil {
					return err
				}
			}
			for _, id := range ids {
				if err := account.ValidateCustomerID(id); err != nil {
					return usage("%v", err)
				}
			}
			if dryRun {
				for _, id := range ids {
					fmt.Fprintln(a.out, id)
				}
				fmt.Fprintf(a.out, "%d customers would move to %s (dry run: nothing changed)\n", len(ids), req.To)
				return nil
			}
			refused := 0
			for _, id := range ids {
				v, err := update(a, id, workflows.UpdateChangePolicy, req)
				if err != nil {
					if exitCode(err) != exitRefused {
						return err // unavailable or bad input: stop
					}
					refused++
					fmt.Fprintf(a.out, "%s: not moved: %v\n", id, err)
					continue
				}
				fmt.Fprintf(a.out, "%s: moved to %s (%s)\n", id, v.Policy, v.Status)
			}
			if refused > 0 {
				return &codedError{exitRefused, fmt.Errorf("%d of %d customers not moved", refused, len(ids))}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.To, "to", "", "the policy version to move to, e.g. strict.v2 (required)")
	fl.StringVar(&req.Reason, "reason", "", "why, for the audit log (required)")
	fl.StringVar(&f.Status, "status", "", "only customers in this account status")
	fl.StringVar(&f.Stage, "stage", "", "only customers at this dunning stage")
	fl.StringVar(&f.RiskTier, "risk-tier", "", "only customers in this risk tier")
	fl.IntVar(&f.MinDaysPastDue, "min-days-past-due", 0, "only customers at least this many days past due")
	fl.BoolVar(&dryRun, "dry-run", false, "print who would move and change nothing")
	return cmd
}

// runningCustomers lists the running customers the filter selects, every
// page.
func (a *app) runningCustomers(f ops.ListFilter) ([]string, error) {
	var ids []string
	f.PageSize = ops.MaxPageSize
	for {
		page, next, err := a.ops.List(context.Background(), f)
		if err != nil {
			return nil, explain(err)
		}
		for _, c := range page {
			if c.ExecutionStatus == ops.ExecutionRunning {
				ids = append(ids, c.CustomerID)
			}
		}
		if len(ids) > maxPolicyMoves {
			return nil, usage("more than %d customers match: narrow the filters", maxPolicyMoves)
		}
		if len(next) == 0 {
			return ids, nil
		}
		f.PageToken = next
	}
}
