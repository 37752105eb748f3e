package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/internal/pgtest"
)

// smallData is a hand-made book with known figures:
//
//	USD acme (active):    $1,234.56 current, $100.00 at 45 days; plus a paid $500.00 in the window
//	USD bolt (suspended): $50.00 at 100 days (issued before the DSO window)
//	KRW kim (past_due):   ₩1,234,567 at 10 days
//	EUR old (active):     €75.00 at 200 days, no sales in the window: DSO undefined
func smallData(t *testing.T, db *sqlx.DB) {
	t.Helper()
	at := testAsOf
	insertCustomer(t, db, "acme", "Acme, Inc.", "USD", "active")
	insertCustomer(t, db, "bolt", "Bolt \"Quoted\" Ltd", "USD", "suspended")
	insertCustomer(t, db, "kim", "김 상사", "KRW", "past_due")
	insertCustomer(t, db, "old", "Old GmbH", "EUR", "active")
	insertInvoice(t, db, "INV-acme-1", "acme", "subscription", "open", "USD", 123456, 0, at.Add(-5*Day), at.Add(9*Day))
	insertInvoice(t, db, "INV-acme-2", "acme", "subscription", "open", "USD", 15000, 5000, at.Add(-59*Day), at.Add(-45*Day))
	insertInvoice(t, db, "INV-acme-3", "acme", "subscription", "paid", "USD", 50000, 50000, at.Add(-20*Day), at.Add(-6*Day))
	insertInvoice(t, db, "INV-bolt-1", "bolt", "subscription", "open", "USD", 5000, 0, at.Add(-114*Day), at.Add(-100*Day))
	insertInvoice(t, db, "INV-kim-1", "kim", "subscription", "open", "KRW", 1234567, 0, at.Add(-24*Day), at.Add(-10*Day))
	insertInvoice(t, db, "INV-kim-P", "kim", "prepayment", "open", "KRW", 999999, 0, at.Add(-24*Day), at.Add(-10*Day))
	insertInvoice(t, db, "INV-old-1", "old", "subscription", "open", "EUR", 7500, 0, at.Add(-214*Day), at.Add(-200*Day))
}

func smallReport(t *testing.T) (*sqlx.DB, AgingReport) {
	t.Helper()
	_, db := pgtest.New(t)
	smallData(t, db)
	r, err := Aging(context.Background(), db, testAsOf, AgingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return db, r
}

func TestSmallReportFigures(t *testing.T) {
	_, r := smallReport(t)
	if got := currencyCodes(r); !reflect.DeepEqual(got, []string{"EUR", "KRW", "USD"}) {
		t.Fatalf("currencies %v", got)
	}
	usd, _ := r.Currency("USD")
	if usd.Total != (Figure{3, 138456}) || usd.Customers != 2 || usd.Sales90dMinor != 123456+15000+50000 ||
		usd.Buckets[Current].Minor != 123456 || usd.Buckets[Days31to60].Minor != 10000 || usd.Buckets[Days90Plus].Minor != 5000 {
		t.Errorf("USD %+v", usd)
	}
	if usd.AtRisk != (AtRisk{Over60: Figure{1, 5000}, Suspended: Figure{1, 5000}, Total: Figure{1, 5000}}) {
		t.Errorf("USD at risk %+v", usd.AtRisk)
	}
	if usd.DSODays == nil || *usd.DSODays != 138456.0/188456.0*90 {
		t.Errorf("USD DSO %v", fmtDSO(usd.DSODays))
	}
	if len(usd.TopCustomers) != 2 || usd.TopCustomers[0].CustomerID != "acme" || usd.TopCustomers[1].AtRiskMinor != 5000 {
		t.Errorf("USD customers %+v", usd.TopCustomers)
	}
	krw, _ := r.Currency("KRW")
	if krw.Total != (Figure{1, 1234567}) || krw.Buckets[Days1to30].Minor != 1234567 || krw.Sales90dMinor != 1234567 {
		t.Errorf("KRW %+v", krw)
	}
	eur, _ := r.Currency("EUR")
	if eur.DSODays != nil || eur.Sales90dMinor != 0 || eur.AtRisk.Total.Minor != 7500 {
		t.Errorf("EUR %+v", eur)
	}
}

func TestWriteText(t *testing.T) {
	db, r := smallReport(t)
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"Receivables aging as of 2025-03-15 10:30 UTC",
		"USD: $1,384.56 open on 3 invoices from 2 customers",
		"KRW: ₩1,234,567 open on 1 invoice from 1 customer\n",
		"EUR: €75.00 open",
		"$1,234.56", "₩1,234,567",
		"DSO: n/a",
		"DSO: 66.1 days", // 138456 / 188456 × 90 = 66.12
		"Bolt \"Quoted\" Ltd",
		"김 상사",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	// Tables are aligned: the rows of each block have the same width, and
	// right-aligned amounts end in the same column.
	blocks := strings.Split(out, "\n\n")
	checked := 0
	for _, block := range blocks {
		lines := strings.Split(strings.TrimRight(block, "\n"), "\n")
		if !strings.HasPrefix(strings.TrimSpace(lines[0]), "Bucket") && !strings.HasPrefix(strings.TrimSpace(lines[0]), "Customer ") {
			continue
		}
		checked++
		width := displayWidth(lines[0])
		for _, l := range lines {
			if l != "" && displayWidth(l) != width {
				t.Errorf("misaligned row (%d columns, header %d):\n%s\n%s", displayWidth(l), width, lines[0], l)
			}
		}
	}
	if checked != 6 {
		t.Errorf("found %d tables, want 6", checked)
	}

	top, err := Aging(context.Background(), db, testAsOf, AgingOptions{TopN: 1, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := WriteText(&buf, top); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Filtered: currency USD; top 1 customers per currency", "Top 1 of 2 customers", "acme"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("top-1 text lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "bolt") || strings.Contains(buf.String(), "KRW") {
		t.Errorf("top-1 USD text lists more than it should:\n%s", buf.String())
	}

	var empty bytes.Buffer
	if err := WriteText(&empty, AgingReport{AsOf: testAsOf}); err != nil || !strings.Contains(empty.String(), "No open receivables") {
		t.Errorf("empty report: %q, %v", empty.String(), err)
	}
}

func TestWriteJSON(t *testing.T) {
	_, r := smallReport(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back AgingReport
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !back.AsOf.Equal(r.AsOf) {
		t.Errorf("as_of %v", back.AsOf)
	}
	back.AsOf = r.AsOf
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON does not round-trip:\n%s", buf.String())
	}
	var raw map[string]any
	_ = json.Unmarshal(buf.Bytes(), &raw)
	eur := raw["currencies"].([]any)[0].(map[string]any)
	if eur["currency"] != "EUR" || eur["dso_days"] != nil {
		t.Errorf("EUR section %v", eur)
	}
	b0 := eur["buckets"].([]any)[0].(map[string]any)
	if b0["bucket"] != "current" || b0["count"] != 0.0 || b0["amount_minor"] != 0.0 {
		t.Errorf("bucket %v", b0)
	}
	for _, want := range []string{`"as_of": "2025-03-15T10:30:00Z"`, `"amount_minor": 138456`, `"customer_count": 2`, `"bucket": "90+"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	_, r := smallReport(t)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], CSVHeader) {
		t.Fatalf("header %v", rows[0])
	}
	if len(rows) != 1+3+4 { // header, 3 totals, 4 customer rows
		t.Fatalf("%d rows:\n%v", len(rows), rows)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	get := func(row []string, name string) string { return row[col[name]] }
	var usd, kim, bolt, eur []string
	for _, row := range rows[1:] {
		if len(row) != len(CSVHeader) {
			t.Fatalf("row %v", row)
		}
		switch {
		case get(row, "row") == "total" && get(row, "currency") == "USD":
			usd = row
		case get(row, "row") == "total" && get(row, "currency") == "EUR":
			eur = row
		case get(row, "customer_id") == "kim":
			kim = row
		case get(row, "customer_id") == "bolt":
			bolt = row
		}
	}
	checks := []struct {
		row       []string
		col, want string
	}{
		{usd, "as_of", "2025-03-15T10:30:00Z"},
		{usd, "customers", "2"},
		{usd, "current_amount", "1234.56"},
		{usd, "days_31_60_amount", "100.00"},
		{usd, "days_90_plus_count", "1"},
		{usd, "total_amount", "1384.56"},
		{usd, "at_risk_amount", "50.00"},
		{usd, "sales_90d_amount", "1884.56"},
		{usd, "dso_days", "66.12"},
		{eur, "dso_days", ""},
		{eur, "days_90_plus_amount", "75.00"},
		{kim, "currency", "KRW"},
		{kim, "customer_name", "김 상사"},
		{kim, "days_1_30_amount", "1234567"},
		{kim, "total_amount", "1234567"},
		{kim, "customer_status", "past_due"},
		{bolt, "customer_name", "Bolt \"Quoted\" Ltd"},
		{bolt, "suspended_amount", "50.00"},
		{bolt, "at_risk_amount", "50.00"},
		{bolt, "sales_90d_amount", ""},
	}
	for _, c := range checks {
		if c.row == nil {
			t.Fatalf("missing row for %s", c.col)
		}
		if got := get(c.row, c.col); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.row[col["customer_id"]]+c.row[col["currency"]], c.col, got, c.want)
		}
	}
}

func TestSummaryText(t *testing.T) {
	_, r := smallReport(t)
	s := SummaryText(r)
	t.Log("\n" + s)
	for _, want := range []string{
		"Receivables aging as of 2025-03-15 10:30 UTC",
		"USD: $1,384.56 open on 3 invoices from 2 customers.",
		"current $1,234.56, 1-30 $0.00, 31-60 $100.00, 61-90 $0.00, 90+ $50.00",
		"At risk: $50.00 (3.6% of the total): 61+ days past due $50.00, suspended customers $50.00.",
		"DSO: 66.1 days.",
		"KRW: ₩1,234,567 open",
		"Largest balance: Acme, Inc. (acme), $1,334.56.",
		"EUR: €75.00 open",
		"DSO: n/a",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if len(strings.Split(s, "\n")) > 25 {
		t.Errorf("summary is not short:\n%s", s)
	}
	if s := SummaryText(AgingReport{AsOf: testAsOf}); !strings.Contains(s, "No open receivables") {
		t.Errorf("empty summary %q", s)
	}
}
