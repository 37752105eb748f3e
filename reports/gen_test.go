package reports

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the driver, for COPY
)

// Test data: customers and invoices generated in Go, loaded with COPY, and
// an independent computation of the report over the same rows.

type genCustomer struct {
	ID, Name, Email, Phone, Country, Currency, Status string
}

type genInvoice struct {
	ID, CustomerID, Kind, Status, Currency string
	Amount, Paid                           int64
	Issued, Due                            time.Time
}

var genCurrencies = []string{"USD", "KRW", "EUR", "JPY"}

var genStatuses = []string{
	"active", "active", "active", "active", "active", "past_due", "past_due",
	"suspended", "suspended", "terminated", "awaiting_prepayment", "manual_review",
}

// generate makes nCustomers customers and nInvoices invoices around asOf,
// covering every bucket and its edges, and every kind of row the report must
// leave out: paid, void, written off, open but fully paid, zero amounts,
// prepayments, and invoices issued after asOf.
func generate(seed uint64, nCustomers, nInvoices int, asOf time.Time) ([]genCustomer, []genInvoice) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cs := make([]genCustomer, nCustomers)
	for i := range cs {
		id := fmt.Sprintf("C%06d", i)
		cs[i] = genCustomer{
			ID: id, Name: fmt.Sprintf("Customer %d, Ltd.", i), Email: id + "@example.com",
			Phone: fmt.Sprintf("+1555%07d", i), Country: "US",
			Currency: genCurrencies[rng.IntN(len(genCurrencies))], Status: genStatuses[rng.IntN(len(genStatuses))],
		}
	}
	edges := []int{0, 1, 30, 31, 60, 61, 90, 91}
	invs := make([]genInvoice, nInvoices)
	for i := range invs {
		c := cs[rng.IntN(len(cs))]
		cur := c.Currency
		if rng.IntN(50) == 0 { // a few invoices in another currency than the customer's
			cur = genCurrencies[rng.IntN(len(genCurrencies))]
		}
		var due time.Time
		switch r := rng.IntN(100); {
		case r < 10: // exactly on a bucket edge, or one second either side
			due = asOf.Add(-time.Duration(edges[rng.IntN(len(edges))]) * Day).Add(time.Duration(rng.IntN(3)-1) * time.Second)
		default:
			due = asOf.Add(time.Duration(rng.Int64N(int64(245*Day))) - 200*Day).Truncate(time.Second)
		}
		issued := due.Add(-14 * Day)
		if rng.IntN(50) == 0 { // issued on an edge of the DSO window, or one second either side
			issued = asOf.Add(time.Duration(rng.IntN(3)-1) * time.Second)
			if rng.IntN(2) == 0 {
				issued = issued.Add(-90 * Day)
			}
			due = issued.Add(14 * Day)
		}
		if rng.IntN(33) == 0 { // issued after asOf: not a receivable yet, not a sale in the window
			issued = asOf.Add(time.Duration(1+rng.Int64N(int64(10*Day/time.Second))) * time.Second)
			due = issued.Add(14 * Day)
		}
		var amount int64
		switch cur {
		case "KRW", "JPY":
			amount = 1000 + rng.Int64N(5_000_000)
		default:
			amount = 500 + rng.Int64N(500_000)
		}
		if rng.IntN(200) == 0 {
			amount = 0
		}
		kind := "subscription"
		if rng.IntN(25) == 0 {
			kind = "prepayment"
		}
		status, paid := "open", int64(0)
		switch r := rng.IntN(100); {
		case r < 45:
			switch p := rng.IntN(100); {
			case p < 30 && amount > 1:
				paid = 1 + rng.Int64N(amount-1) // partly paid
			case p < 33:
				paid = amount // fully paid but still open: nothing outstanding
			}
		case r < 75:
			status, paid = "paid", amount
		case r < 85:
			status = "void"
		default:
			status = "written_off"
			if amount > 1 && rng.IntN(3) == 0 {
				paid = rng.Int64N(amount)
			}
		}
		invs[i] = genInvoice{
			ID: fmt.Sprintf("INV-%07d", i), CustomerID: c.ID, Kind: kind, Status: status, Currency: cur,
			Amount: amount, Paid: paid, Issued: issued, Due: due,
		}
	}
	return cs, invs
}

// load writes the customers and invoices with COPY.
func load(t testing.TB, db *sqlx.DB, cs []genCustomer, invs []genInvoice) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	now := time.Now()
	stmt, err := tx.Prepare(`COPY customers (customer_id, name, email, phone, country, currency,
		locale, policy, monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at) FROM STDIN`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if _, err := stmt.Exec(c.ID, c.Name, c.Email, c.Phone, c.Country, c.Currency, "en", "standard.v1", 10000,
			"card", "192.0.2.1", c.Status, "full", now, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stmt.Exec(); err != nil {
		t.Fatal(err)
	}
	if err := stmt.Close(); err != nil {
		t.Fatal(err)
	}
	stmt, err = tx.Prepare(`COPY invoices (invoice_id, customer_id, kind, status, currency, amount_minor,
		paid_minor, period_start, period_end, issued_at, due_at, stage, updated_at) FROM STDIN`)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range invs {
		if _, err := stmt.Exec(in.ID, in.CustomerID, in.Kind, in.Status, in.Currency, in.Amount, in.Paid,
			in.Issued, in.Issued.Add(30*Day), in.Issued, in.Due, "none", now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stmt.Exec(); err != nil {
		t.Fatal(err)
	}
	if err := stmt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ANALYZE customers; ANALYZE invoices`); err != nil {
		t.Fatal(err)
	}
}

// expectAging computes the report over the generated rows in plain Go, by
// the definitions and not by the SQL's method: age each invoice in whole
// seconds, divide by 86,400, and add up.
func expectAging(cs []genCustomer, invs []genInvoice, asOf time.Time, opts AgingOptions) AgingReport {
	byID := map[string]genCustomer{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	keep := func(in genInvoice) bool {
		if opts.Currency != "" && in.Currency != opts.Currency {
			return false
		}
		return len(opts.Statuses) == 0 || slices.Contains(opts.Statuses, byID[in.CustomerID].Status)
	}
	bucketOf := func(due time.Time) int {
		secs := asOf.Unix() - due.Unix()
		days := int64(0)
		if secs > 0 {
			days = secs / 86400
		}
		switch {
		case days == 0:
			return 0
		case days <= 30:
			return 1
		case days <= 60:
			return 2
		case days <= 90:
			return 3
		default:
			return 4
		}
	}
	type key struct{ cur, cust string }
	perCustomer := map[key]*CustomerAging{}
	sales := map[string]int64{}
	windowStart := asOf.Add(-90 * 24 * time.Hour)
	for _, in := range invs {
		if !keep(in) || in.Kind != "subscription" {
			continue
		}
		if in.Status != "void" && in.Issued.After(windowStart) && !in.Issued.After(asOf) {
			sales[in.Currency] += in.Amount
		}
		if in.Status != "open" || in.Amount-in.Paid <= 0 || in.Issued.After(asOf) {
			continue
		}
		k := key{in.Currency, in.CustomerID}
		ca := perCustomer[k]
		if ca == nil {
			c := byID[in.CustomerID]
			ca = &CustomerAging{CustomerID: c.ID, Name: c.Name, Status: c.Status, Currency: in.Currency}
			for b := range NumBuckets {
				ca.Buckets[b].Bucket = BucketNames[b]
			}
			perCustomer[k] = ca
		}
		b := bucketOf(in.Due)
		ca.Buckets[b].Count++
		ca.Buckets[b].Minor += in.Amount - in.Paid
		ca.Total.Count++
		ca.Total.Minor += in.Amount - in.Paid
		if b >= 3 {
			ca.Over60Minor += in.Amount - in.Paid
		}
	}
	sections := map[string]*CurrencyAging{}
	section := func(cur string) *CurrencyAging {
		if sections[cur] == nil {
			s := &CurrencyAging{Currency: cur, TopCustomers: []CustomerAging{}}
			for b := range NumBuckets {
				s.Buckets[b].Bucket = BucketNames[b]
			}
			sections[cur] = s
		}
		return sections[cur]
	}
	for cur, m := range sales {
		section(cur).Sales90dMinor = m
	}
	for k, ca := range perCustomer {
		s := section(k.cur)
		s.Customers++
		for b := range NumBuckets {
			s.Buckets[b].Count += ca.Buckets[b].Count
			s.Buckets[b].Minor += ca.Buckets[b].Minor
		}
		s.Total.Count += ca.Total.Count
		s.Total.Minor += ca.Total.Minor
		over60 := Figure{Count: ca.Buckets[3].Count + ca.Buckets[4].Count, Minor: ca.Over60Minor}
		s.AtRisk.Over60.Count += over60.Count
		s.AtRisk.Over60.Minor += over60.Minor
		ca.AtRiskMinor = ca.Over60Minor
		if ca.Status == "suspended" {
			ca.AtRiskMinor = ca.Total.Minor
			s.AtRisk.Suspended.Count += ca.Total.Count
			s.AtRisk.Suspended.Minor += ca.Total.Minor
			s.AtRisk.Total.Count += ca.Total.Count
			s.AtRisk.Total.Minor += ca.Total.Minor
		} else {
			s.AtRisk.Total.Count += over60.Count
			s.AtRisk.Total.Minor += over60.Minor
		}
		s.TopCustomers = append(s.TopCustomers, *ca)
	}
	r := AgingReport{AsOf: asOf, Options: opts, Currencies: []CurrencyAging{}}
	for _, s := range sections {
		if s.Sales90dMinor > 0 {
			d := float64(s.Total.Minor) * 90 / float64(s.Sales90dMinor)
			s.DSODays = &d
		}
		slices.SortFunc(s.TopCustomers, func(a, b CustomerAging) int {
			if a.Total.Minor != b.Total.Minor {
				if a.Total.Minor > b.Total.Minor {
					return -1
				}
				return 1
			}
			return strings.Compare(a.CustomerID, b.CustomerID)
		})
		if opts.TopN > 0 && len(s.TopCustomers) > opts.TopN {
			s.TopCustomers = s.TopCustomers[:opts.TopN]
		}
		r.Currencies = append(r.Currencies, *s)
	}
	slices.SortFunc(r.Currencies, func(a, b CurrencyAging) int { return strings.Compare(a.Currency, b.Currency) })
	return r
}
