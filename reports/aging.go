// Package reports reads the system of record for billing staff: the
// receivables aging report with at-risk totals and DSO, its daily snapshot,
// the export of terminated accounts' balances to the collections agency, and
// the recovery report (what went past due and how it came back).
//
// Every figure is aggregated in PostgreSQL; Go only shapes the result (the
// recovery report's rules are one statement too, whose rows Go adds up into
// its groups and percentiles). Money
// is int64 minor units plus an ISO 4217 code, and amounts in different
// currencies are never added together.
package reports

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
)

// Day is the length of a day for aging: 24 hours, whatever the calendar or
// the customer's dunning policy says.
const Day = 24 * time.Hour

// DSOWindowDays is the trailing window, in days, that DSO measures credit
// sales over.
const DSOWindowDays = 90

// Aging buckets, as indexes into the Buckets arrays.
const (
	Current    = iota // not past due by a whole day yet (includes not yet due)
	Days1to30         // 1 to 30 whole days past due
	Days31to60        // 31 to 60
	Days61to90        // 61 to 90
	Days90Plus        // more than 90 (91 and over)
	NumBuckets
)

// BucketNames are the buckets' names in reports.
var BucketNames = [NumBuckets]string{"current", "1-30", "31-60", "61-90", "90+"}

// bucketStart is the first day past due that falls in each bucket.
var bucketStart = [NumBuckets]int{0, 1, 31, 61, 91}

// DaysPastDue is the number of whole days (24h each) from due to asOf,
// rounded down; an invoice that is not yet due, or due exactly at asOf, is 0
// days past due. It is how account.DaysPastDue counts, with a 24-hour day.
func DaysPastDue(due, asOf time.Time) int {
	d := asOf.Sub(due)
	if d <= 0 {
		return 0
	}
	return int(d / Day)
}

// BucketOf is the aging bucket of an invoice that is the given number of
// whole days past due: 0 is current, 1-30, 31-60 and 61-90 are inclusive at
// both ends, and 90+ starts at 91.
func BucketOf(daysPastDue int) int {
	b := Current
	for i := Days1to30; i < NumBuckets; i++ {
		if daysPastDue >= bucketStart[i] {
			b = i
		}
	}
	return b
}

// Figure is a number of invoices and their unpaid amount, in minor units of
// the currency of the section it is in.
type Figure struct {
	Count int64 `json:"count"`
	Minor int64 `json:"amount_minor"`
}

// BucketFigure is a Figure with its bucket's name.
type BucketFigure struct {
	Bucket string `json:"bucket"`
	Figure
}

// CustomerAging is one customer's open receivables in one currency.
type CustomerAging struct {
	CustomerID string                   `json:"customer_id"`
	Name       string                   `json:"name"`
	Status     string                   `json:"status"` // the customer's account status
	Currency   string                   `json:"currency"`
	Buckets    [NumBuckets]BucketFigure `json:"buckets"`
	Total      Figure                   `json:"total"`
	// Over60Minor is what is 61 or more days past due.
	Over60Minor int64 `json:"over_60_minor"`
	// AtRiskMinor is everything the customer owes when the customer is
	// suspended, else Over60Minor.
	AtRiskMinor int64 `json:"at_risk_minor"`
}

// AtRisk are the receivables least likely to be collected.
type AtRisk struct {
	Over60    Figure `json:"over_60"`   // 61 or more days past due
	Suspended Figure `json:"suspended"` // all open receivables of suspended customers
	Total     Figure `json:"total"`     // either of the two, each invoice counted once
}

// CurrencyAging is the report for one currency.
type CurrencyAging struct {
	Currency string `json:"currency"`
	// Customers is the number of customers with open receivables in this
	// currency, before TopN is applied.
	Customers int64                    `json:"customer_count"`
	Buckets   [NumBuckets]BucketFigure `json:"buckets"`
	Total     Figure                   `json:"total"`
	AtRisk    AtRisk                   `json:"at_risk"`
	// Sales90dMinor is the credit sales billed in the DSO window: the
	// amounts of subscription invoices issued in (asOf-90 days, asOf] that
	// were not voided, paid or not. Prepayments are not credit sales.
	Sales90dMinor int64 `json:"sales_90d_minor"`
	// DSODays is days sales outstanding:
	//
	//	DSO = Total.Minor / Sales90dMinor × 90
	//
	// that is, open receivables as of asOf over the credit sales billed in
	// the trailing 90 days, times 90. It is nil when there were no such
	// sales (the ratio is undefined).
	DSODays *float64 `json:"dso_days"`
	// Customers with open receivables, the largest total first (ties by
	// customer ID); only the first TopN when TopN is set.
	TopCustomers []CustomerAging `json:"customers"`
}

// AgingReport is the receivables aging report: one section per currency,
// sorted by currency code.
type AgingReport struct {
	AsOf       time.Time       `json:"as_of"`
	Options    AgingOptions    `json:"options"`
	Currencies []CurrencyAging `json:"currencies"`
}

// Currency returns the section for a currency code.
func (r AgingReport) Currency(code string) (CurrencyAging, bool) {
	for _, c := range r.Currencies {
		if c.Currency == code {
			return c, true
		}
	}
	return CurrencyAging{}, false
}

// AgingOptions narrows the report. The zero value reports everything.
type AgingOptions struct {
	// Statuses keeps only customers whose account status is one of these
	// (e.g. "suspended"); empty keeps all. It applies to every figure,
	// DSO included.
	Statuses []string `json:"customer_statuses,omitempty"`
	// Currency keeps only this ISO 4217 currency; empty keeps all.
	Currency string `json:"currency,omitempty"`
	// TopN lists only the N customers owing most in each currency; 0 lists
	// them all. Totals always cover every customer.
	TopN int `json:"top_n,omitempty"`
}

var customerStatuses = []account.Status{
	account.StatusScreening, account.StatusManualReview, account.StatusAwaitingPrepayment,
	account.StatusActive, account.StatusPastDue, account.StatusSuspended, account.StatusTerminated,
}

// Validate says what is wrong with the options, if anything.
func (o AgingOptions) Validate() error {
	for _, s := range o.Statuses {
		if !slices.Contains(customerStatuses, account.Status(s)) {
			return fmt.Errorf("customer status %q is not one of %v", s, customerStatuses)
		}
	}
	if o.Currency != "" {
		if _, err := money.LookupCurrency(o.Currency); err != nil {
			return err
		}
	}
	if o.TopN < 0 {
		return fmt.Errorf("top_n must be 0 (all customers) or positive, got %d", o.TopN)
	}
	return nil
}

// Aging reports the open receivables as of asOf: subscription invoices with
// status 'open', an unpaid amount (amount_minor - paid_minor > 0) and issued
// at or before asOf, bucketed by DaysPastDue(due_at, asOf). Prepayment
// requests are not receivables and are left out, as are paid, void and
// written-off invoices. Disputed invoices and invoices under a promise to
// pay are still owed and are included. Invoice and customer status are read
// as they are now: asOf (normally now) moves the aging clock, it does not
// reconstruct past payments.
//
// The whole report is one SQL statement, so its figures come from one
// snapshot of the database. It reads the partial index
// invoices_receivables_idx (open receivables only) and
// invoices_credit_sales_idx (DSO window), never the whole invoices table.
func Aging(ctx context.Context, db *sqlx.DB, asOf time.Time, opts AgingOptions) (AgingReport, error) {
	if err := opts.Validate(); err != nil {
		return AgingReport{}, err
	}
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return AgingReport{}, err
	}
	defer func() { _ = tx.Rollback() }()
	r, err := aging(ctx, tx, asOf, opts)
	if err != nil {
		return AgingReport{}, err
	}
	return r, tx.Commit()
}

// reportWorkMem is the memory PostgreSQL may use for each sort and hash of
// the report, set for the report's transaction only. With the 4MB default,
// grouping a large book by customer spills to disk.
const reportWorkMem = "64MB"

func aging(ctx context.Context, tx *sqlx.Tx, asOf time.Time, opts AgingOptions) (AgingReport, error) {
	if err := opts.Validate(); err != nil {
		return AgingReport{}, err
	}
	if asOf.IsZero() {
		return AgingReport{}, fmt.Errorf("as-of time is required")
	}
	asOf = asOf.Truncate(time.Microsecond) // PostgreSQL's resolution, so edges compare exactly
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '`+reportWorkMem+`'`); err != nil {
		return AgingReport{}, err
	}
	query, args := agingQuery(asOf, opts)
	var rows []agingRow
	if err := tx.SelectContext(ctx, &rows, query, args...); err != nil {
		return AgingReport{}, fmt.Errorf("aging report: %w", err)
	}
	// Currency totals first, then the currency's customers by rank. Sorted
	// here rather than in SQL: cheaper, and byte order like Go's.
	slices.SortFunc(rows, func(a, b agingRow) int {
		if c := strings.Compare(a.Currency, b.Currency); c != 0 {
			return c
		}
		if a.IsTotal != b.IsTotal {
			if a.IsTotal {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Pos, b.Pos)
	})
	r := AgingReport{AsOf: asOf, Options: opts, Currencies: []CurrencyAging{}}
	for _, row := range rows {
		if row.IsTotal {
			r.Currencies = append(r.Currencies, row.currency())
			continue
		}
		if len(r.Currencies) == 0 || r.Currencies[len(r.Currencies)-1].Currency != row.Currency {
			return AgingReport{}, fmt.Errorf("aging report: customer row for %s %s without its currency total", row.CustomerID, row.Currency)
		}
		c := &r.Currencies[len(r.Currencies)-1]
		c.TopCustomers = append(c.TopCustomers, row.customer())
	}
	return r, nil
}

// agingRow is a row of agingQuery's result: a currency total (IsTotal) or
// one customer's figures in a currency.
type agingRow struct {
	IsTotal    bool   `db:"is_total"`
	Currency   string `db:"currency"`
	CustomerID string `db:"customer_id"`
	Name       string `db:"name"`
	Status     string `db:"status"`
	Pos        int64  `db:"pos"`
	Customers  int64  `db:"customers"`
	// Count and unpaid amount per bucket, in Buckets order.
	N0, N1, N2, N3, N4 int64
	M0, M1, M2, M3, M4 int64
	SuspendedN         int64 `db:"suspended_n"`
	SuspendedM         int64 `db:"suspended_m"`
	AtRiskN            int64 `db:"at_risk_n"`
	AtRiskM            int64 `db:"at_risk_m"`
	SalesM             int64 `db:"sales_m"`
}

func (row agingRow) buckets() (b [NumBuckets]BucketFigure, total, over60 Figure) {
	n := [NumBuckets]int64{row.N0, row.N1, row.N2, row.N3, row.N4}
	m := [NumBuckets]int64{row.M0, row.M1, row.M2, row.M3, row.M4}
	for i := range NumBuckets {
		b[i] = BucketFigure{Bucket: BucketNames[i], Figure: Figure{Count: n[i], Minor: m[i]}}
		total.Count += n[i]
		total.Minor += m[i]
		if i >= Days61to90 {
			over60.Count += n[i]
			over60.Minor += m[i]
		}
	}
	return b, total, over60
}

func (row agingRow) currency() CurrencyAging {
	b, total, over60 := row.buckets()
	c := CurrencyAging{
		Currency: row.Currency, Customers: row.Customers, Buckets: b, Total: total,
		AtRisk: AtRisk{
			Over60:    over60,
			Suspended: Figure{Count: row.SuspendedN, Minor: row.SuspendedM},
			Total:     Figure{Count: row.AtRiskN, Minor: row.AtRiskM},
		},
		Sales90dMinor: row.SalesM,
		TopCustomers:  []CustomerAging{},
	}
	c.DSODays = DSO(total.Minor, row.SalesM)
	return c
}

func (row agingRow) customer() CustomerAging {
	b, total, over60 := row.buckets()
	c := CustomerAging{
		CustomerID: row.CustomerID, Name: row.Name, Status: row.Status, Currency: row.Currency,
		Buckets: b, Total: total, Over60Minor: over60.Minor, AtRiskMinor: over60.Minor,
	}
	if row.Status == string(account.StatusSuspended) {
		c.AtRiskMinor = total.Minor
	}
	return c
}

// DSO is days sales outstanding over the DSO window:
//
//	DSO = receivables / credit sales in the trailing 90 days × 90
//
// with both amounts in minor units of the same currency. It is nil when
// there were no sales, where the ratio is undefined.
func DSO(receivablesMinor, salesMinor int64) *float64 {
	if salesMinor <= 0 {
		return nil
	}
	d := float64(receivablesMinor) / float64(salesMinor) * DSOWindowDays
	return &d
}

// agingQuery builds the report's single statement. Bucket edges are
// computed in Go as instants ($2..$5): an invoice is past bucket b's start
// when due_at <= asOf - bucketStart[b] days, which is exactly
// DaysPastDue >= bucketStart[b]. So:
//
//	current  due_at > asOf-1d
//	1-30     asOf-31d < due_at <= asOf-1d
//	31-60    asOf-61d < due_at <= asOf-31d
//	61-90    asOf-91d < due_at <= asOf-61d
//	90+                 due_at <= asOf-91d
//
// Invoices are aggregated per customer and currency first (one pass over
// invoices_receivables_idx); only those rows are joined to customers,
// ranked for TopN and summed into currency totals. Credit sales for DSO
// come from a range scan of invoices_credit_sales_idx and are full-joined
// in, so a currency with sales but nothing open still shows (with DSO 0).
func agingQuery(asOf time.Time, opts AgingOptions) (string, []any) {
	args := []any{asOf} // $1
	for b := Days1to30; b < NumBuckets; b++ {
		args = append(args, asOf.Add(-time.Duration(bucketStart[b])*Day)) // $2..$5
	}
	args = append(args, asOf.Add(-DSOWindowDays*Day)) // $6: start of the DSO window (exclusive)
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	invoiceFilter, customerFilter, salesJoin, topN := "", "", "", ""
	if opts.Currency != "" {
		invoiceFilter = " AND i.currency = " + param(opts.Currency)
	}
	if len(opts.Statuses) > 0 {
		p := param(pq.Array(opts.Statuses))
		customerFilter = " WHERE c.status = ANY(" + p + "::text[])"
		salesJoin = " JOIN customers c ON c.customer_id = i.customer_id AND c.status = ANY(" + p + "::text[])"
	}
	if opts.TopN > 0 {
		topN = " WHERE r.pos <= " + param(opts.TopN)
	}
	return `
WITH per_customer AS (
	SELECT i.customer_id, trim(i.currency) AS currency,
		count(*) FILTER (WHERE i.due_at > $2) AS n0,
		count(*) FILTER (WHERE i.due_at <= $2 AND i.due_at > $3) AS n1,
		count(*) FILTER (WHERE i.due_at <= $3 AND i.due_at > $4) AS n2,
		count(*) FILTER (WHERE i.due_at <= $4 AND i.due_at > $5) AS n3,
		count(*) FILTER (WHERE i.due_at <= $5) AS n4,
		coalesce(sum(i.amount_minor - i.paid_minor) FILTER (WHERE i.due_at > $2), 0)::bigint AS m0,
		coalesce(sum(i.amount_minor - i.paid_minor) FILTER (WHERE i.due_at <= $2 AND i.due_at > $3), 0)::bigint AS m1,
		coalesce(sum(i.amount_minor - i.paid_minor) FILTER (WHERE i.due_at <= $3 AND i.due_at > $4), 0)::bigint AS m2,
		coalesce(sum(i.amount_minor - i.paid_minor) FILTER (WHERE i.due_at <= $4 AND i.due_at > $5), 0)::bigint AS m3,
		coalesce(sum(i.amount_minor - i.paid_minor) FILTER (WHERE i.due_at <= $5), 0)::bigint AS m4
	FROM invoices i
	WHERE i.status = 'open' AND i.kind = 'subscription' AND i.amount_minor > i.paid_minor
		AND i.issued_at <= $1` + invoiceFilter + `
	GROUP BY i.customer_id, i.currency
), aged AS (
	SELECT p.*, c.name, c.status,
		p.n0 + p.n1 + p.n2 + p.n3 + p.n4 AS total_n,
		p.m0 + p.m1 + p.m2 + p.m3 + p.m4 AS total_m
	FROM per_customer p JOIN customers c ON c.customer_id = p.customer_id` + customerFilter + `
), totals AS (
	SELECT a.currency, count(*) AS customers,
		sum(a.n0)::bigint AS n0, sum(a.n1)::bigint AS n1, sum(a.n2)::bigint AS n2,
		sum(a.n3)::bigint AS n3, sum(a.n4)::bigint AS n4,
		sum(a.m0)::bigint AS m0, sum(a.m1)::bigint AS m1, sum(a.m2)::bigint AS m2,
		sum(a.m3)::bigint AS m3, sum(a.m4)::bigint AS m4,
		coalesce(sum(a.total_n) FILTER (WHERE a.status = 'suspended'), 0)::bigint AS suspended_n,
		coalesce(sum(a.total_m) FILTER (WHERE a.status = 'suspended'), 0)::bigint AS suspended_m,
		-- at risk: all of a suspended customer's, else 61+ days (61-90 and 90+)
		sum(CASE WHEN a.status = 'suspended' THEN a.total_n ELSE a.n3 + a.n4 END)::bigint AS at_risk_n,
		sum(CASE WHEN a.status = 'suspended' THEN a.total_m ELSE a.m3 + a.m4 END)::bigint AS at_risk_m
	FROM aged a
	GROUP BY a.currency
), sales AS (
	SELECT trim(i.currency) AS currency, sum(i.amount_minor)::bigint AS sales_m
	FROM invoices i` + salesJoin + `
	WHERE i.kind = 'subscription' AND i.status <> 'void' AND i.issued_at > $6 AND i.issued_at <= $1` + invoiceFilter + `
	GROUP BY i.currency
)
SELECT true AS is_total, coalesce(t.currency, s.currency) AS currency, '' AS customer_id, '' AS name, '' AS status,
	0::bigint AS pos, coalesce(t.customers, 0) AS customers,
	coalesce(t.n0, 0) AS n0, coalesce(t.n1, 0) AS n1, coalesce(t.n2, 0) AS n2, coalesce(t.n3, 0) AS n3, coalesce(t.n4, 0) AS n4,
	coalesce(t.m0, 0) AS m0, coalesce(t.m1, 0) AS m1, coalesce(t.m2, 0) AS m2, coalesce(t.m3, 0) AS m3, coalesce(t.m4, 0) AS m4,
	coalesce(t.suspended_n, 0) AS suspended_n, coalesce(t.suspended_m, 0) AS suspended_m,
	coalesce(t.at_risk_n, 0) AS at_risk_n, coalesce(t.at_risk_m, 0) AS at_risk_m,
	coalesce(s.sales_m, 0) AS sales_m
FROM totals t FULL JOIN sales s ON s.currency = t.currency
UNION ALL
SELECT false, r.currency, r.customer_id, r.name, r.status, r.pos, 0,
	r.n0, r.n1, r.n2, r.n3, r.n4, r.m0, r.m1, r.m2, r.m3, r.m4,
	0, 0, 0, 0, 0
FROM (
	SELECT a.*, row_number() OVER (PARTITION BY a.currency ORDER BY a.total_m DESC, a.customer_id COLLATE "C") AS pos
	FROM aged a
) r` + topN, args
}
