package reports

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/internal/pgtest"
)

var testAsOf = time.Date(2025, 3, 15, 10, 30, 0, 0, time.UTC)

// compareReports fails the test with the first differences between two
// reports; DSO is compared with a relative tolerance.
func compareReports(t *testing.T, label string, got, want AgingReport) {
	t.Helper()
	if !got.AsOf.Equal(want.AsOf) {
		t.Errorf("%s: as of %v, want %v", label, got.AsOf, want.AsOf)
	}
	gc, wc := currencyCodes(got), currencyCodes(want)
	if !reflect.DeepEqual(gc, wc) {
		t.Fatalf("%s: currencies %v, want %v", label, gc, wc)
	}
	for i := range got.Currencies {
		g, w := got.Currencies[i], want.Currencies[i]
		switch {
		case (g.DSODays == nil) != (w.DSODays == nil):
			t.Errorf("%s %s: DSO %v, want %v", label, g.Currency, fmtDSO(g.DSODays), fmtDSO(w.DSODays))
		case g.DSODays != nil && math.Abs(*g.DSODays-*w.DSODays) > 1e-9*math.Max(1, math.Abs(*w.DSODays)):
			t.Errorf("%s %s: DSO %v, want %v", label, g.Currency, *g.DSODays, *w.DSODays)
		}
		g.DSODays, w.DSODays = nil, nil
		gcs, wcs := g.TopCustomers, w.TopCustomers
		g.TopCustomers, w.TopCustomers = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s %s totals:\n got  %+v\n want %+v", label, g.Currency, g, w)
		}
		if len(gcs) != len(wcs) {
			t.Errorf("%s %s: %d customers listed, want %d", label, g.Currency, len(gcs), len(wcs))
			continue
		}
		bad := 0
		for j := range gcs {
			if !reflect.DeepEqual(gcs[j], wcs[j]) && bad < 5 {
				bad++
				t.Errorf("%s %s customer #%d:\n got  %+v\n want %+v", label, g.Currency, j, gcs[j], wcs[j])
			}
		}
	}
}

func currencyCodes(r AgingReport) []string {
	var out []string
	for _, c := range r.Currencies {
		out = append(out, c.Currency)
	}
	return out
}

func fmtDSO(d *float64) string {
	if d == nil {
		return "nil"
	}
	return fmt.Sprint(*d)
}

func TestAgingGeneratedData(t *testing.T) {
	_, db := pgtest.New(t)
	start := time.Now()
	cs, invs := generate(1, 3000, 120_000, testAsOf)
	load(t, db, cs, invs)
	t.Logf("generated and loaded %d customers and %d invoices in %v", len(cs), len(invs), time.Since(start))

	// The data must exercise what the report has to get right.
	want := expectAging(cs, invs, testAsOf, AgingOptions{})
	if len(want.Currencies) < 4 {
		t.Fatalf("generated data has currencies %v", currencyCodes(want))
	}
	for _, c := range want.Currencies {
		for _, b := range c.Buckets {
			if b.Count < 100 {
				t.Fatalf("generated data has only %d %s invoices in bucket %s", b.Count, c.Currency, b.Bucket)
			}
		}
		if c.AtRisk.Suspended.Count == 0 || c.DSODays == nil {
			t.Fatalf("generated data has no suspended customers or sales in %s", c.Currency)
		}
	}
	excluded := map[string]int{}
	for _, in := range invs {
		switch {
		case in.Kind == "prepayment" && in.Status == "open" && in.Amount > in.Paid:
			excluded["open prepayment"]++
		case in.Status != "open":
			excluded[in.Status]++
		case in.Amount == in.Paid:
			excluded["open, nothing outstanding"]++
		case in.Issued.After(testAsOf):
			excluded["issued after as-of"]++
		case in.Paid > 0:
			excluded["partly paid (included)"]++
		}
	}
	for _, k := range []string{"open prepayment", "paid", "void", "written_off", "open, nothing outstanding", "issued after as-of", "partly paid (included)"} {
		if excluded[k] < 50 {
			t.Fatalf("generated data has only %d rows of kind %q", excluded[k], k)
		}
	}

	ctx := context.Background()
	for _, opts := range []AgingOptions{
		{},
		{TopN: 7},
		{Currency: "KRW"},
		{Statuses: []string{"suspended", "terminated"}},
		{Statuses: []string{"suspended"}, Currency: "USD", TopN: 3},
		{Currency: "GBP"}, // nothing in it
	} {
		label := fmt.Sprintf("%+v", opts)
		qs := time.Now()
		got, err := Aging(ctx, db, testAsOf, opts)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		t.Logf("%s: report in %v", label, time.Since(qs))
		compareReports(t, label, got, expectAging(cs, invs, testAsOf, opts))
	}

	// Every customer with receivables is listed once per currency, and
	// their figures add up to the currency totals.
	got, err := Aging(ctx, db, testAsOf, AgingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Currencies {
		var sum Figure
		for _, cu := range c.TopCustomers {
			sum.Count += cu.Total.Count
			sum.Minor += cu.Total.Minor
		}
		if sum != c.Total || int64(len(c.TopCustomers)) != c.Customers {
			t.Errorf("%s: customers add up to %+v over %d, total %+v over %d", c.Currency, sum, len(c.TopCustomers), c.Total, c.Customers)
		}
	}
}

func insertCustomer(t *testing.T, db *sqlx.DB, id, name, currency, status string) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
			monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at)
		VALUES ($1, $2, $1 || '@example.com', '+15550100', 'US', $3, 'en', 'standard.v1', 1000, 'card', '192.0.2.1', $4, 'full', now(), now())`,
		id, name, currency, status); err != nil {
		t.Fatal(err)
	}
}

func insertInvoice(t *testing.T, db *sqlx.DB, id, customer, kind, status, currency string, amount, paid int64, issued, due time.Time) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, paid_minor,
			period_start, period_end, issued_at, due_at, stage, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, 'none', now())`,
		id, customer, kind, status, currency, amount, paid, issued, due); err != nil {
		t.Fatal(err)
	}
}

func TestAgingBucketEdges(t *testing.T) {
	_, db := pgtest.New(t)
	asOf := testAsOf
	cases := []struct {
		name   string
		due    time.Time
		days   int
		bucket string
	}{
		{"not yet due", asOf.Add(time.Hour), 0, "current"},
		{"due exactly at as-of", asOf, 0, "current"},
		{"one second past due", asOf.Add(-time.Second), 0, "current"},
		{"a microsecond short of a day", asOf.Add(-Day + time.Microsecond), 0, "current"},
		{"exactly 1 day", asOf.Add(-1 * Day), 1, "1-30"},
		{"exactly 30 days", asOf.Add(-30 * Day), 30, "1-30"},
		{"a second short of 31 days", asOf.Add(-31*Day + time.Second), 30, "1-30"},
		{"exactly 31 days", asOf.Add(-31 * Day), 31, "31-60"},
		{"exactly 60 days", asOf.Add(-60 * Day), 60, "31-60"},
		{"exactly 61 days", asOf.Add(-61 * Day), 61, "61-90"},
		{"exactly 90 days", asOf.Add(-90 * Day), 90, "61-90"},
		{"a second short of 91 days", asOf.Add(-91*Day + time.Second), 90, "61-90"},
		{"exactly 91 days", asOf.Add(-91 * Day), 91, "90+"},
		{"400 days", asOf.Add(-400 * Day), 400, "90+"},
	}
	for i, c := range cases {
		id := fmt.Sprintf("edge-%02d", i)
		insertCustomer(t, db, id, c.name, "USD", "active")
		insertInvoice(t, db, "INV-"+id, id, "subscription", "open", "USD", int64(100+i), 0, c.due.Add(-14*Day), c.due)
		if d := DaysPastDue(c.due, asOf); d != c.days || BucketNames[BucketOf(d)] != c.bucket {
			t.Errorf("%s: DaysPastDue %d in %s, want %d in %s", c.name, d, BucketNames[BucketOf(d)], c.days, c.bucket)
		}
	}
	// The same instant in another time zone ages the same.
	for _, at := range []time.Time{asOf, asOf.In(time.FixedZone("KST", 9*3600)), asOf.In(time.FixedZone("PST", -8*3600))} {
		r, err := Aging(context.Background(), db, at, AgingOptions{})
		if err != nil {
			t.Fatal(err)
		}
		usd, ok := r.Currency("USD")
		if !ok || len(usd.TopCustomers) != len(cases) {
			t.Fatalf("report %+v", r)
		}
		for _, cu := range usd.TopCustomers {
			i := 0
			_, _ = fmt.Sscanf(cu.CustomerID, "edge-%02d", &i)
			c := cases[i]
			for b, f := range cu.Buckets {
				want := int64(0)
				if BucketNames[b] == c.bucket {
					want = 1
				}
				if f.Count != want || (want == 1 && f.Minor != int64(100+i)) {
					t.Errorf("as of %v: %s (due %v) is in %s with %+v, want in %s", at, c.name, c.due, f.Bucket, f.Figure, c.bucket)
				}
			}
		}
		if usd.Total.Count != int64(len(cases)) {
			t.Errorf("total %+v", usd.Total)
		}
	}
}

func TestAgingOptionsValidation(t *testing.T) {
	_, db := pgtest.New(t)
	for _, opts := range []AgingOptions{
		{Statuses: []string{"nonsense"}},
		{Currency: "usd"},
		{Currency: "XXX"},
		{TopN: -1},
	} {
		if _, err := Aging(context.Background(), db, testAsOf, opts); err == nil {
			t.Errorf("%+v accepted", opts)
		}
	}
	if _, err := Aging(context.Background(), db, time.Time{}, AgingOptions{}); err == nil {
		t.Error("zero as-of accepted")
	}
	r, err := Aging(context.Background(), db, testAsOf, AgingOptions{})
	if err != nil || len(r.Currencies) != 0 {
		t.Errorf("empty database: %+v, %v", r, err)
	}
}

// TestAgingQueryCanUseIndexes checks that the indexes' predicates match
// the query's, so the planner can use them. On a small table the planner
// may rightly prefer a sequential scan, so this test takes that choice
// away; BenchmarkAging1M checks the planner's own choice at scale.
func TestAgingQueryCanUseIndexes(t *testing.T) {
	_, db := pgtest.New(t)
	cs, invs := generate(2, 500, 20_000, testAsOf)
	load(t, db, cs, invs)
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec(`SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []AgingOptions{{}, {Statuses: []string{"suspended"}, Currency: "USD", TopN: 5}} {
		plan := explain(t, tx, testAsOf, opts, false)
		if !strings.Contains(plan, "invoices_receivables_idx") || !strings.Contains(plan, "invoices_credit_sales_idx") {
			t.Errorf("%+v: plan does not use the receivables indexes:\n%s", opts, plan)
		}
	}
}

// explain returns the report query's plan, with ANALYZE and BUFFERS if asked.
func explain(t testing.TB, db sqlx.Queryer, asOf time.Time, opts AgingOptions, analyze bool) string {
	t.Helper()
	q, args := agingQuery(asOf.Truncate(time.Microsecond), opts)
	prefix := "EXPLAIN "
	if analyze {
		prefix = "EXPLAIN (ANALYZE, BUFFERS) "
	}
	var lines []string
	if err := sqlx.Select(db, &lines, prefix+q, args...); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
