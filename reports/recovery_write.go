package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/example/dunning/money"
)

// WriteRecoveryJSON writes the recovery report as indented JSON: amounts in
// minor units (amount_minor) in sections named by their currency, the rate
// in basis points.
func WriteRecoveryJSON(w io.Writer, r RecoveryReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// RecoveryCSVHeader is the header row WriteRecoveryCSV writes.
var RecoveryCSVHeader = []string{
	"row", "policy", "month", "currency",
	"due_count", "due_amount", "collected_count", "collected_amount", "at_risk_count", "at_risk_amount",
	"recovered_count", "recovered_amount", "recovered_in_full_count", "recovery_rate_percent",
	"retry_amount", "card_update_amount", "reminder_amount", "staff_amount", "other_charge_amount",
	"median_hours", "p90_hours", "median_days", "p90_days",
	"step_source", "step", "step_count", "step_amount",
}

// WriteRecoveryCSV writes the report as CSV with a header row
// (RecoveryCSVHeader). Each group (policy and month; an empty policy or
// month is all of them) has a row "group" per currency, followed by a row
// "step" per step, which fills only the step columns. Amounts are decimals
// of the major unit (money.Decimal) and every row names its currency; the
// times are the group's, over all its currencies. Text from the database
// is neutralised against spreadsheet formulas (SafeCell).
func WriteRecoveryCSV(w io.Writer, r RecoveryReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RecoveryCSVHeader); err != nil {
		return err
	}
	write := func(policyID string, g RecoveryGroup) error {
		t := g.TimeToRecovery
		for _, c := range g.Currencies {
			dec := func(minor int64) string { return money.Decimal(minor, c.Currency) }
			cnt := func(n int64) string { return strconv.FormatInt(n, 10) }
			row := []string{"group", SafeCell(policyID), g.Month, SafeCell(c.Currency),
				cnt(c.Due.Count), dec(c.Due.Minor), cnt(c.Collected.Count), dec(c.Collected.Minor),
				cnt(c.AtRisk.Count), dec(c.AtRisk.Minor), cnt(c.Recovered.Count), dec(c.Recovered.Minor),
				cnt(c.RecoveredInFull), bpDecimal(c.RateBP)}
			for _, s := range c.BySource {
				row = append(row, dec(s.Minor))
			}
			row = append(row, optFloat(t.MedianHours), optFloat(t.P90Hours), optFloat(t.MedianDays), optFloat(t.P90Days), "", "", "", "")
			if err := cw.Write(row); err != nil {
				return err
			}
			for _, s := range c.Steps {
				row := make([]string, len(RecoveryCSVHeader))
				row[0], row[1], row[2], row[3] = "step", SafeCell(policyID), g.Month, SafeCell(c.Currency)
				copy(row[len(row)-4:], []string{s.Source, SafeCell(s.Step), cnt(s.Count), dec(s.Minor)})
				if err := cw.Write(row); err != nil {
					return err
				}
			}
		}
		return nil
	}
	groups := func(policyID string, total RecoveryGroup, months []RecoveryGroup) error {
		if err := write(policyID, total); err != nil {
			return err
		}
		for _, m := range months {
			if err := write(policyID, m); err != nil {
				return err
			}
		}
		return nil
	}
	if err := groups("", r.Total, r.Months); err != nil {
		return err
	}
	for _, p := range r.Policies {
		if err := groups(p.Policy, p.Total, p.Months); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// bpDecimal writes basis points as a percentage with two decimals.
func bpDecimal(bp *int64) string {
	if bp == nil {
		return ""
	}
	return fmt.Sprintf("%d.%02d", *bp/100, *bp%100)
}

func optFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', 2, 64)
}

// sourceNames are the sources for people.
var sourceNames = map[string]string{
	SourceRetry: "card retries", SourceCardUpdate: "card updates", SourceReminder: "reminders (pay-now page)",
	SourceStaff: "staff (bank transfers etc.)", SourceOtherCharge: "other card charges",
}

// WriteRecoveryText writes the report for a billing manager: for all
// policies and then each policy, per currency what was at risk, what came
// back and by what, the steps that brought it, how long it took, and a
// table by month.
func WriteRecoveryText(w io.Writer, r RecoveryReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Recovery of invoices due %s to %s (as of %s)\n",
		r.Options.Since.UTC().Format("2006-01-02 15:04"), r.Options.Until.UTC().Format("2006-01-02 15:04 MST"),
		r.AsOf.UTC().Format("2006-01-02 15:04 MST"))
	if r.Options.Policy != "" {
		b.WriteString("Policy: " + r.Options.Policy + "\n")
	}
	b.WriteString(`An invoice is at risk when it was not paid in full by the end of its due day,
or when its first card charge failed; what it was paid after that is recovered.
Collected is what the first card charge took on time; it is not a recovery.
`)
	if len(r.Total.Currencies) == 0 {
		b.WriteString("\nNo invoices were due in this period.\n")
	}
	section := func(title string, total RecoveryGroup, months []RecoveryGroup) {
		if len(total.Currencies) == 0 {
			return
		}
		b.WriteString("\n" + title + "\n")
		for _, c := range total.Currencies {
			writeCurrencyRecovery(&b, c)
		}
		writeTimeToRecovery(&b, "  ", total.TimeToRecovery)
		if len(months) == 0 {
			return
		}
		b.WriteString("\n  By month of the due date\n\n")
		t := table{align: []bool{false, false, true, true, true, true, true}}
		t.add("Month", "Currency", "Due", "At risk", "Recovered", "Rate", "Median days")
		for _, g := range months {
			for _, c := range g.Currencies {
				m := func(minor int64) string { return money.Format(minor, c.Currency) }
				t.add(g.Month, c.Currency, m(c.Due.Minor), m(c.AtRisk.Minor), m(c.Recovered.Minor), bpText(c.RateBP),
					floatText(g.TimeToRecovery.MedianDays))
			}
		}
		t.write(&b, "  ")
	}
	section("All policies", r.Total, r.Months)
	for _, p := range r.Policies {
		section("Policy "+cleanCell(p.Policy, 50), p.Total, p.Months)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeCurrencyRecovery(b *strings.Builder, c CurrencyRecovery) {
	m := func(minor int64) string { return money.Format(minor, c.Currency) }
	fmt.Fprintf(b, "\n  %s: %s due on %s; %s collected on time by the first card charge.\n",
		c.Currency, m(c.Due.Minor), plural(c.Due.Count, "invoice"), m(c.Collected.Minor))
	if c.AtRisk.Count == 0 {
		b.WriteString("  Nothing at risk.\n")
		return
	}
	fmt.Fprintf(b, "  At risk: %s on %s. Recovered: %s (%s) on %s, %d in full.\n",
		m(c.AtRisk.Minor), plural(c.AtRisk.Count, "invoice"), m(c.Recovered.Minor), bpText(c.RateBP),
		plural(c.Recovered.Count, "invoice"), c.RecoveredInFull)
	if c.Recovered.Minor == 0 {
		return
	}
	b.WriteString("\n")
	t := table{align: []bool{false, false, true, true, true}}
	t.add("Recovered by", "Step", "Payments", "Amount", "Share")
	for _, s := range c.BySource {
		if s.Count == 0 {
			continue
		}
		t.add(sourceNames[s.Source], "", groupDigits(s.Count), m(s.Minor), share(s.Minor, c.Recovered.Minor))
		for _, st := range c.Steps {
			if st.Source == s.Source {
				t.add("", cleanCell(StepLabel(st), 30), groupDigits(st.Count), m(st.Minor), share(st.Minor, c.Recovered.Minor))
			}
		}
	}
	t.write(b, "    ")
}

func writeTimeToRecovery(b *strings.Builder, indent string, t TimeToRecovery) {
	if t.Payments == 0 {
		return
	}
	fmt.Fprintf(b, "\n%sTime from the due date to a recovered payment (%s): median %s hours (%s days), 90th percentile %s hours (%s days).\n",
		indent, plural(t.Payments, "payment"), floatText(t.MedianHours), floatText(t.MedianDays), floatText(t.P90Hours), floatText(t.P90Days))
}

func bpText(bp *int64) string {
	if bp == nil {
		return "-"
	}
	tenths := (*bp + 5) / 10
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}

func floatText(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'f', 1, 64)
}
