package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: a summary line, then each
// customer that is not ok with its drift, both values side by side.
func WriteText(w io.Writer, r Report) error {
	fmt.Fprintln(w, Summary(r))
	if len(r.Customers) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Customers {
		head := fmt.Sprintf("\n%s: %s", c.CustomerID, strings.ReplaceAll(c.State, "_", " "))
		if c.Execution != "" {
			head += " (workflow " + c.Execution + ")"
		}
		fmt.Fprintln(tw, head)
		if c.Error != "" {
			fmt.Fprintf(tw, "  %s\n", c.Error)
		}
		if len(c.Drift) > 0 {
			fmt.Fprintln(tw, "  FIELD\tWORKFLOW\tPOSTGRESQL\tREPAIR\tNOTE")
			for _, d := range c.Drift {
				fix := "by hand"
				if d.Repairable {
					fix = "resync"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", d.Field, d.Workflow, d.Database, fix, d.Note)
			}
		}
		if c.Repair != nil {
			fmt.Fprintf(tw, "  resynced: %d open invoices re-recorded, %d payments restored %v\n",
				c.Repair.Invoices, len(c.Repair.PaymentsRestored), c.Repair.PaymentsRestored)
			if len(c.Remaining) > 0 {
				fmt.Fprintln(tw, "  still different after the repair:")
				for _, d := range c.Remaining {
					fmt.Fprintf(tw, "  %s\t%s\t%s\t\t%s\n", d.Field, d.Workflow, d.Database, d.Note)
				}
			}
		}
	}
	return tw.Flush()
}

// Summary is the report's one-line summary.
func Summary(r Report) string {
	s := fmt.Sprintf("%d customers checked: %d ok, %d with drift", r.Checked, r.OK, r.Drifted)
	if r.Repair || r.Repaired > 0 {
		s += fmt.Sprintf(", %d repaired", r.Repaired)
	}
	if r.InProgress > 0 {
		s += fmt.Sprintf(", %d still recording", r.InProgress)
	}
	if r.Errors > 0 {
		s += fmt.Sprintf(", %d not checked", r.Errors)
	}
	return s
}
