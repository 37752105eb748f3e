package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/monitoring"
	"github.com/example/dunning/ops"
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
				t, err := ops.ParseTime(asOf)
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
			write := map[string]func(io.Writer, reports.AgingReport) error{
				"text": reports.WriteText, "json": reports.WriteJSON, "csv": reports.WriteCSV,
			}[format]
			if write == nil {
				return usage("--format %q must be text, json or csv", format)
			}
			r, err := a.ops.Aging(context.Background(), at, opts)
			if err != nil {
				return explain(err)
			}
			return writeReport(a, write, r)
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
	var out, batch string
	var list bool
	cmd := &cobra.Command{
		Use:   "export-collections",
		Short: "Write terminated accounts' unpaid balances as CSV for the collections agency (each exported once)",
		Long: `Export the write-offs handed to collections that no earlier export included, as
CSV for the agency. Each write-off is exported exactly once: it is marked in the
same transaction that produces the file. With --out the file is written to a
temporary name and renamed only when the export succeeded.

Every export that exported something is kept as a batch (its ID is in the
export_batch column and printed on standard error). If a file was never
delivered (the command died, the disk was full), list the batches with --list
and fetch one again, byte for byte, with --batch ID.`,
		Example: `  starter export-collections --out collections-2026-11-25.csv
  starter export-collections --list
  starter export-collections --batch col-20261125T090000Z-1a2b3c4d --out again.csv`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ctx := context.Background()
			if list {
				if batch != "" || out != "" {
					return usage("--list takes neither --batch nor --out")
				}
				batches, err := a.ops.CollectionsBatches(ctx, 0)
				if err != nil {
					return explain(err)
				}
				if a.json {
					if batches == nil {
						batches = []reports.CollectionsBatch{}
					}
					return a.printJSON(batches)
				}
				if len(batches) == 0 {
					fmt.Fprintln(a.out, "no collections exports yet")
					return nil
				}
				fmt.Fprintf(a.out, "%-36s  %-20s  %6s  %s\n", "BATCH", "EXPORTED", "ROWS", "SHA-256")
				for _, b := range batches {
					sum := b.SHA256
					if !b.Kept {
						sum = "(from before files were kept: regenerated)"
					}
					fmt.Fprintf(a.out, "%-36s  %-20s  %6d  %s\n", b.BatchID, b.ExportedAt.UTC().Format(time.RFC3339), b.Rows, sum)
				}
				return nil
			}
			var buf bytes.Buffer
			var n int
			var id string
			if batch != "" {
				b, err := a.ops.FetchCollectionsBatch(ctx, &buf, batch)
				if err != nil {
					return explain(err)
				}
				n, id = b.Rows, b.BatchID
			} else {
				var err error
				n, err = a.ops.ExportCollections(ctx, &buf, time.Now())
				if err != nil {
					return explain(err)
				}
				id = reports.BatchOf(buf.Bytes())
			}
			if out == "" {
				_, err := a.out.Write(buf.Bytes())
				if err == nil && id != "" {
					fmt.Fprintf(a.errOut, "batch %s: %d write-offs\n", id, n)
				}
				return err
			}
			if err := writeFileAtomic(out, buf.Bytes()); err != nil {
				if id != "" {
					return fmt.Errorf("%w (batch %s is kept: fetch it again with --batch %s)", err, id, id)
				}
				return err
			}
			if id == "" {
				fmt.Fprintf(a.errOut, "exported %d write-offs to %s\n", n, out)
			} else {
				fmt.Fprintf(a.errOut, "exported %d write-offs to %s (batch %s)\n", n, out, id)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	cmd.Flags().BoolVar(&list, "list", false, "list past exports (batches), newest first")
	cmd.Flags().StringVar(&batch, "batch", "", "write a past export again, byte for byte, instead of exporting")
	return cmd
}

// writeFileAtomic writes to a temporary name beside path and renames it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".collections-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (a *app) ingestActivityCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ingest-activity FILE",
		Short: "Check activity events (JSON lines) with the monitoring rules; hits open reviews or suspend",
		Long: `Ingest customers' activity events from a JSON-lines file ('-' for standard
input), one event per line:

  {"event_id":"ev-1","customer_id":"acme","at":"2026-11-25T10:00:00Z","kind":"resource_created","region":"us-east-1","resource_type":"p4d.24xlarge"}

Each event is stored once (by event_id) and checked by the monitoring rules:
spend spikes against the trailing average, a new high-risk region, resource
types linked to crypto mining, bursts of account changes. Every hit is stored
with its rule and evidence and reported to the customer's workflow, which
opens a review or, when severe, suspends. Bad lines are listed and skipped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			in := os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return usage("%v", err)
				}
				defer f.Close()
				in = f
			}
			riskCfg, err := setup.RiskConfig(a.cfg)
			if err != nil {
				return usage("%v", err)
			}
			ctx := context.Background()
			st, err := a.ops.Store(ctx)
			if err != nil {
				return explain(err)
			}
			ing := &monitoring.Ingester{DB: st.DB(), Config: riskCfg, Reporter: monitoring.OpsReporter{Ops: a.ops}}
			res, err := monitoring.IngestJSONLines(ctx, ing, in)
			if err != nil {
				return &codedError{exitUnavailable, err}
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.out, "%d events: %d stored, %d already known, %d invalid, %d hits\n",
				res.Received, res.Stored, res.Duplicates, len(res.Invalid), len(res.Hits))
			for _, bad := range res.Invalid {
				fmt.Fprintf(a.out, "  line %d (%s): %s\n", bad.Line, bad.EventID, bad.Error)
			}
			for _, h := range res.Hits {
				fmt.Fprintf(a.out, "  hit %s: %s on %s (%s, %s)\n", h.NoticeID, h.Rule, h.CustomerID, h.Severity, h.Status)
			}
			if res.Received > 0 && len(res.Invalid) == res.Received {
				return usage("no valid event")
			}
			return nil
		},
	}
}

// writeReport renders a whole report before printing it, so that a writer
// that fails half-way prints nothing.
func writeReport[R any](a *app, write func(io.Writer, R) error, r R) error {
	var buf bytes.Buffer
	if err := write(&buf, r); err != nil {
		return err
	}
	_, err := a.out.Write(buf.Bytes())
	return err
}
