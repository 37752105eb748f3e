package lab

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/example/dunning/reports"
)

func date(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// WriteText writes the report for a person: one block per customer whose
// outcome differs, then the totals.
func WriteText(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Simulation of %s over %d customers with records since %s, as of %s: %d would differ.\n\n",
		r.Policy, r.Totals.Customers, r.Since.UTC().Format(time.DateOnly), r.AsOf.UTC().Format(time.RFC3339), r.Totals.Differing)
	for _, c := range r.Customers {
		if !c.Differs() && len(c.Refused) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s (%s, recorded under %s)\n", c.CustomerID, c.Currency, c.RecordedPolicy)
		fmt.Fprintf(tw, "\t\trecorded\tsimulated\n")
		fmt.Fprintf(tw, "\tsuspended\t%s\t%s\t%s\n", date(c.Recorded.SuspendedAt), date(c.Simulated.SuspendedAt), c.Suspension)
		fmt.Fprintf(tw, "\tterminated\t%s\t%s\t%s\n", date(c.Recorded.TerminatedAt), date(c.Simulated.TerminatedAt), c.Termination)
		fmt.Fprintf(tw, "\temails\t%d\t%d\n", sum(c.Recorded.Emails), sum(c.Simulated.Emails))
		stages := maps.Clone(c.Recorded.Emails)
		maps.Copy(stages, c.Simulated.Emails)
		for _, st := range slices.Sorted(maps.Keys(stages)) {
			if c.Recorded.Emails[st] != c.Simulated.Emails[st] {
				fmt.Fprintf(tw, "\t  %s\t%d\t%d\n", st, c.Recorded.Emails[st], c.Simulated.Emails[st])
			}
		}
		for i, name := range reports.BucketNames {
			if c.Recorded.Aging[i] != c.Simulated.Aging[i] {
				fmt.Fprintf(tw, "\towed %s\t%d\t%d\n", name, c.Recorded.Aging[i].Minor, c.Simulated.Aging[i].Minor)
			}
		}
		if c.Recorded.WrittenOffMinor != c.Simulated.WrittenOffMinor {
			fmt.Fprintf(tw, "\twritten off\t%d\t%d\n", c.Recorded.WrittenOffMinor, c.Simulated.WrittenOffMinor)
		}
		for _, s := range c.Refused {
			fmt.Fprintf(tw, "\tnot replayed: %s\n", s)
		}
		fmt.Fprintln(tw)
	}
	for _, l := range r.LeftOut {
		fmt.Fprintf(tw, "%s not simulated: %s\n", l.CustomerID, l.Reason)
	}
	if len(r.LeftOut) > 0 {
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "Totals\n")
	for _, k := range []Change{ChangeSooner, ChangeLater, ChangeNew, ChangeAvoided, ChangeNone} {
		fmt.Fprintf(tw, "\tsuspension %s\t%d\ttermination %s\t%d\n", k, r.Totals.Suspension[k], k, r.Totals.Termination[k])
	}
	fmt.Fprintf(tw, "\temails by stage\trecorded\tsimulated\n")
	for _, stage := range slices.Sorted(maps.Keys(r.Totals.Emails)) {
		e := r.Totals.Emails[stage]
		fmt.Fprintf(tw, "\t%s\t%d\t%d\n", stage, e[0], e[1])
	}
	for _, ct := range r.Totals.Currencies {
		fmt.Fprintf(tw, "\towed in %s by bucket\trecorded\tsimulated\n", ct.Currency)
		for i, name := range reports.BucketNames {
			fmt.Fprintf(tw, "\t%s\t%d (%d)\t%d (%d)\n", name, ct.RecordedAging[i].Minor, ct.RecordedAging[i].Count,
				ct.SimulatedAging[i].Minor, ct.SimulatedAging[i].Count)
		}
		fmt.Fprintf(tw, "\twritten off\t%d\t%d\n", ct.RecordedWrittenOff, ct.SimulatedWrittenOff)
	}
	return tw.Flush()
}

// csvHeader names the CSV columns: one row per customer, then one total
// row per currency with customer_id "TOTAL".
func csvHeader() []string {
	h := []string{"customer_id", "currency", "recorded_policy", "recorded_suspended_at", "simulated_suspended_at", "suspension",
		"recorded_terminated_at", "simulated_terminated_at", "termination", "recorded_emails", "simulated_emails"}
	for _, side := range []string{"recorded", "simulated"} {
		for _, b := range reports.BucketNames {
			h = append(h, side+"_"+b+"_minor")
		}
	}
	return append(h, "recorded_written_off_minor", "simulated_written_off_minor", "not_replayed")
}

// WriteCSV writes the report as CSV. Text that came from outside (the
// refusal messages quote recorded values) is neutralised for spreadsheets.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader())
	money := func(row []string, rec, sim [reports.NumBuckets]reports.Figure, recWO, simWO int64) []string {
		for _, f := range rec {
			row = append(row, strconv.FormatInt(f.Minor, 10))
		}
		for _, f := range sim {
			row = append(row, strconv.FormatInt(f.Minor, 10))
		}
		return append(row, strconv.FormatInt(recWO, 10), strconv.FormatInt(simWO, 10))
	}
	for _, c := range r.Customers {
		row := []string{c.CustomerID, c.Currency, c.RecordedPolicy, date(c.Recorded.SuspendedAt), date(c.Simulated.SuspendedAt), string(c.Suspension),
			date(c.Recorded.TerminatedAt), date(c.Simulated.TerminatedAt), string(c.Termination),
			strconv.Itoa(sum(c.Recorded.Emails)), strconv.Itoa(sum(c.Simulated.Emails))}
		row = money(row, c.Recorded.Aging, c.Simulated.Aging, c.Recorded.WrittenOffMinor, c.Simulated.WrittenOffMinor)
		_ = cw.Write(append(row, reports.SafeCell(strings.Join(c.Refused, "; "))))
	}
	mails := map[string][2]int{} // by currency: recorded, simulated
	for _, c := range r.Customers {
		m := mails[c.Currency]
		m[0] += sum(c.Recorded.Emails)
		m[1] += sum(c.Simulated.Emails)
		mails[c.Currency] = m
	}
	for _, ct := range r.Totals.Currencies {
		m := mails[ct.Currency]
		row := []string{"TOTAL", ct.Currency, "", "", "", "", "", "", "", strconv.Itoa(m[0]), strconv.Itoa(m[1])}
		row = money(row, ct.RecordedAging, ct.SimulatedAging, ct.RecordedWrittenOff, ct.SimulatedWrittenOff)
		_ = cw.Write(append(row, ""))
	}
	cw.Flush()
	return cw.Error()
}
