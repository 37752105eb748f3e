package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/dunning/reports"
)

func (a *app) agingCmd() *cobra.Command {
	var asOf, format, statuses string
	var opts reports.AgingOptions
	cmd := &cobra.Command{
		Use:   "aging",
		Short: "Receivables aging: open invoices by days past due, per customer and currency, with DSO",
		Long: `Print the receivables aging report: open subscription invoices bucketed as
current, 1-30, 31-60, 61-90 and 90+ days past due, per customer and in total,
separately for each currency, with at-risk totals and DSO (days sales
outstanding over the trailing 90 days).`,
		Example: `  starter aging
  starter aging --format csv --currency USD > aging.csv
  starter aging --status past_due,suspended --top-n 20`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			at := time.Now()
			if asOf != "" {
				t, err := parseTime(asOf)
				if err != nil {
					return usage("--as-of: %v", err)
				}
				at = t
			}
			if statuses != "" {
				opts.Statuses = strings.Split(statuses, ",")
			}
			if a.json {
				format = "json"
			}
			write := map[string]func(*bytes.Buffer, reports.AgingReport) error{
				"text": func(b *bytes.Buffer, r reports.AgingReport) error { return reports.WriteText(b, r) },
				"json": func(b *bytes.Buffer, r reports.AgingReport) error { return reports.WriteJSON(b, r) },
				"csv":  func(b *bytes.Buffer, r reports.AgingReport) error { return reports.WriteCSV(b, r) },
			}[format]
			if write == nil {
				return usage("--format %q must be text, json or csv", format)
			}
			r, err := a.ops.Aging(context.Background(), at, opts)
			if err != nil {
				return explain(err)
			}
			var buf bytes.Buffer
			if err := write(&buf, r); err != nil {
				return err
			}
			_, err = a.out.Write(buf.Bytes())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&asOf, "as-of", "", "age as of this time (RFC 3339 or YYYY-MM-DD; default now)")
	f.StringVar(&format, "format", "text", "text, json or csv")
	f.StringVar(&opts.Currency, "currency", "", "only this ISO 4217 currency")
	f.StringVar(&statuses, "status", "", "only customers in these statuses, comma-separated")
	f.IntVar(&opts.TopN, "top-n", 0, "list only the N customers owing most per currency (totals still cover all)")
	return cmd
}

func (a *app) exportCollectionsCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export-collections",
		Short: "Write terminated accounts' unpaid balances as CSV for the collections agency (each exported once)",
		Long: `Export the write-offs handed to collections that no earlier export included, as
CSV for the agency. Each write-off is exported exactly once: it is marked in the
same transaction that produces the file. With --out the file is written to a
temporary name and renamed only when the export succeeded.`,
		Example: "  starter export-collections --out collections-2026-11-25.csv",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var buf bytes.Buffer
			n, err := a.ops.ExportCollections(context.Background(), &buf, time.Now())
			if err != nil {
				return explain(err)
			}
			if out == "" {
				_, err = a.out.Write(buf.Bytes())
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), ".collections-*.csv")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := tmp.Write(buf.Bytes()); err != nil {
				_ = tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			fmt.Fprintf(a.errOut, "exported %d write-offs to %s\n", n, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	return cmd
}
