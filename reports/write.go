package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
)

// WriteJSON writes the report as indented JSON. Amounts are minor units
// (amount_minor) next to their currency code; dso_days is null where DSO is
// undefined.
func WriteJSON(w io.Writer, r AgingReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the header row WriteCSV writes.
var CSVHeader = func() []string {
	h := []string{"as_of", "row", "currency", "customer_id", "customer_name", "customer_status", "customers"}
	for _, b := range csvBucketNames {
		h = append(h, b+"_count", b+"_amount")
	}
	return append(h, "total_count", "total_amount", "over_60_amount", "suspended_amount", "at_risk_amount",
		"sales_90d_amount", "dso_days")
}()

var csvBucketNames = [NumBuckets]string{"current", "days_1_30", "days_31_60", "days_61_90", "days_90_plus"}

// WriteCSV writes the report as CSV with a header row (CSVHeader): per
// currency, a row "total" followed by a row "customer" for each customer
// listed. Amounts are decimal strings in the currency's major unit
// (money.Decimal, e.g. 1234.56 for USD, 123456 for KRW) and every row names
// its currency. Customer names (and IDs) are neutralised against
// spreadsheet formulas (SafeCell). Columns that do not apply to a row are empty: customers,
// sales and DSO on customer rows, customer fields on total rows, and DSO
// where it is undefined.
func WriteCSV(w io.Writer, r AgingReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	asOf := r.AsOf.UTC().Format(time.RFC3339)
	for _, c := range r.Currencies {
		dec := func(minor int64) string { return money.Decimal(minor, c.Currency) }
		row := []string{asOf, "total", c.Currency, "", "", "", strconv.FormatInt(c.Customers, 10)}
		for _, b := range c.Buckets {
			row = append(row, strconv.FormatInt(b.Count, 10), dec(b.Minor))
		}
		dso := ""
		if c.DSODays != nil {
			dso = strconv.FormatFloat(*c.DSODays, 'f', 2, 64)
		}
		row = append(row, strconv.FormatInt(c.Total.Count, 10), dec(c.Total.Minor), dec(c.AtRisk.Over60.Minor),
			dec(c.AtRisk.Suspended.Minor), dec(c.AtRisk.Total.Minor), dec(c.Sales90dMinor), dso)
		if err := cw.Write(row); err != nil {
			return err
		}
		for _, cu := range c.TopCustomers {
			row := []string{asOf, "customer", c.Currency, SafeCell(cu.CustomerID), SafeCell(cu.Name), cu.Status, ""}
			for _, b := range cu.Buckets {
				row = append(row, strconv.FormatInt(b.Count, 10), dec(b.Minor))
			}
			suspended := int64(0)
			if cu.Status == string(account.StatusSuspended) {
				suspended = cu.Total.Minor
			}
			row = append(row, strconv.FormatInt(cu.Total.Count, 10), dec(cu.Total.Minor), dec(cu.Over60Minor),
				dec(suspended), dec(cu.AtRiskMinor), "", "")
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes the report for people: per currency, an aligned table of
// the buckets, the at-risk totals and DSO, then the customers listed with
// their buckets. Amounts are formatted with money.Format.
func WriteText(w io.Writer, r AgingReport) error {
	var b strings.Builder
	b.WriteString("Receivables aging as of " + r.AsOf.UTC().Format("2006-01-02 15:04 MST") + "\n")
	if f := describeOptions(r.Options); f != "" {
		b.WriteString(f + "\n")
	}
	b.WriteString("Days past due are whole 24-hour days since the due date; 90+ is 91 days or more.\n")
	if len(r.Currencies) == 0 {
		b.WriteString("\nNo open receivables.\n")
	}
	for _, c := range r.Currencies {
		m := func(minor int64) string { return money.Format(minor, c.Currency) }
		fmt.Fprintf(&b, "\n%s: %s open on %s from %s\n\n",
			c.Currency, m(c.Total.Minor), plural(c.Total.Count, "invoice"), plural(c.Customers, "customer"))
		t := table{align: []bool{false, true, true, true}}
		t.add("Bucket", "Invoices", "Amount", "Share")
		for _, bk := range c.Buckets {
			t.add(bk.Bucket, groupDigits(bk.Count), m(bk.Minor), share(bk.Minor, c.Total.Minor))
		}
		t.add("Total", groupDigits(c.Total.Count), m(c.Total.Minor), share(c.Total.Minor, c.Total.Minor))
		t.add("", "", "", "")
		t.add("At risk", groupDigits(c.AtRisk.Total.Count), m(c.AtRisk.Total.Minor), share(c.AtRisk.Total.Minor, c.Total.Minor))
		t.add("  61+ days", groupDigits(c.AtRisk.Over60.Count), m(c.AtRisk.Over60.Minor), share(c.AtRisk.Over60.Minor, c.Total.Minor))
		t.add("  suspended", groupDigits(c.AtRisk.Suspended.Count), m(c.AtRisk.Suspended.Minor), share(c.AtRisk.Suspended.Minor, c.Total.Minor))
		t.write(&b, "  ")
		if c.DSODays != nil {
			fmt.Fprintf(&b, "\n  DSO: %s (receivables %s / credit sales billed in the last %d days %s × %d)\n",
				dsoText(c.DSODays), m(c.Total.Minor), DSOWindowDays, m(c.Sales90dMinor), DSOWindowDays)
		} else {
			fmt.Fprintf(&b, "\n  DSO: n/a (no credit sales billed in the last %d days)\n", DSOWindowDays)
		}
		if len(c.TopCustomers) == 0 {
			continue
		}
		title := "Customers"
		if r.Options.TopN > 0 && int64(len(c.TopCustomers)) < c.Customers {
			title = fmt.Sprintf("Top %d of %s customers", len(c.TopCustomers), groupDigits(c.Customers))
		}
		b.WriteString("\n  " + title + "\n\n")
		ct := table{align: []bool{false, false, false, true, true, true, true, true, true, true}}
		head := []string{"Customer", "Name", "Status"}
		head = append(head, BucketNames[:]...)
		ct.add(append(head, "Total", "Invoices")...)
		for _, cu := range c.TopCustomers {
			row := []string{cleanCell(cu.CustomerID, 40), cleanCell(cu.Name, 30), cu.Status}
			for _, bk := range cu.Buckets {
				row = append(row, m(bk.Minor))
			}
			ct.add(append(row, m(cu.Total.Minor), groupDigits(cu.Total.Count))...)
		}
		ct.write(&b, "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SummaryText is a short plain-text summary of the report for a staff
// email: per currency, the total open, the buckets, what is at risk and DSO.
func SummaryText(r AgingReport) string {
	var b strings.Builder
	b.WriteString("Receivables aging as of " + r.AsOf.UTC().Format("2006-01-02 15:04 MST") + "\n")
	if f := describeOptions(r.Options); f != "" {
		b.WriteString(f + "\n")
	}
	if len(r.Currencies) == 0 {
		b.WriteString("\nNo open receivables.\n")
		return b.String()
	}
	for _, c := range r.Currencies {
		m := func(minor int64) string { return money.Format(minor, c.Currency) }
		fmt.Fprintf(&b, "\n%s: %s open on %s from %s.\n",
			c.Currency, m(c.Total.Minor), plural(c.Total.Count, "invoice"), plural(c.Customers, "customer"))
		parts := make([]string, 0, NumBuckets)
		for _, bk := range c.Buckets {
			parts = append(parts, bk.Bucket+" "+m(bk.Minor))
		}
		b.WriteString("  " + strings.Join(parts, ", ") + "\n")
		fmt.Fprintf(&b, "  At risk: %s (%s of the total): 61+ days past due %s, suspended customers %s.\n",
			m(c.AtRisk.Total.Minor), share(c.AtRisk.Total.Minor, c.Total.Minor), m(c.AtRisk.Over60.Minor), m(c.AtRisk.Suspended.Minor))
		fmt.Fprintf(&b, "  DSO: %s.\n", dsoText(c.DSODays))
		if len(c.TopCustomers) > 0 {
			top := c.TopCustomers[0]
			fmt.Fprintf(&b, "  Largest balance: %s (%s), %s.\n", cleanCell(top.Name, 60), top.CustomerID, m(top.Total.Minor))
		}
	}
	return b.String()
}

func describeOptions(o AgingOptions) string {
	var f []string
	if len(o.Statuses) > 0 {
		f = append(f, "customer status "+strings.Join(o.Statuses, " or "))
	}
	if o.Currency != "" {
		f = append(f, "currency "+o.Currency)
	}
	if o.TopN > 0 {
		f = append(f, fmt.Sprintf("top %d customers per currency", o.TopN))
	}
	if len(f) == 0 {
		return ""
	}
	return "Filtered: " + strings.Join(f, "; ")
}

func dsoText(d *float64) string {
	if d == nil {
		return "n/a (no credit sales in the window)"
	}
	return strconv.FormatFloat(*d, 'f', 1, 64) + " days"
}

// share is part/total as a percentage with one decimal.
func share(part, total int64) string {
	if total <= 0 {
		return "-"
	}
	var tenths int64
	if part <= (1<<63-1)/1000-total {
		tenths = (part*1000 + total/2) / total
	} else { // too large to scale in int64; a display ratio, so a float will do
		tenths = int64(float64(part)/float64(total)*1000 + 0.5)
	}
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return groupDigits(n) + " " + noun + "s"
}

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// cleanCell makes a value safe for one table cell: no control characters
// (which would break the layout) and at most max runes.
func cleanCell(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// displayWidth is how many terminal columns s takes: two for the wide
// characters of Chinese, Japanese and Korean (customer names), else one.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Han, unicode.Hangul, unicode.Hiragana, unicode.Katakana),
			r >= 0x3000 && r <= 0x303F,                             // CJK punctuation
			r >= 0xFF01 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6: // fullwidth forms
			n += 2
		default:
			n++
		}
	}
	return n
}

// table lays out rows in columns, left- or right-aligned (align[i] true is
// right), measuring in terminal columns (displayWidth).
type table struct {
	align []bool
	rows  [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder, indent string) {
	widths := make([]int, len(t.align))
	for _, row := range t.rows {
		for i, c := range row {
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	for _, row := range t.rows {
		var line strings.Builder
		line.WriteString(indent)
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-displayWidth(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if t.align[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}
