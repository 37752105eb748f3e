package reports

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/internal/pgtest"
)

// BenchmarkAging1M loads 1,000,000 invoices over 20,000 customers (two years
// of monthly-ish billing, four currencies, about 10% still open, as in a
// real book where most invoices are paid), then times the full aging report.
// It reports the time per report in ms and logs the EXPLAIN (ANALYZE,
// BUFFERS) plan. It asserts nothing about time; it fails only when the plan
// reads the invoices table sequentially or does not use the receivables
// indexes, which is a design check, not a timing one.
//
//	go test ./reports -run '^$' -bench Aging1M -benchtime 1x
func BenchmarkAging1M(b *testing.B) {
	_, db := pgtest.New(b)
	ctx := context.Background()
	asOf := time.Date(2025, 3, 15, 10, 30, 0, 0, time.UTC)
	loadBench(b, db, asOf)

	var r AgingReport
	var err error
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if r, err = Aging(ctx, db, asOf, AgingOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/report")
	b.Logf("aging report over %d invoices: %.1f ms per report (%d runs)", benchInvoices, float64(elapsed.Microseconds())/1000/float64(b.N), b.N)
	for _, c := range r.Currencies {
		b.Logf("%s: %d open invoices, %d customers, DSO %s", c.Currency, c.Total.Count, c.Customers, dsoText(c.DSODays))
	}

	topStart := time.Now()
	if _, err := Aging(ctx, db, asOf, AgingOptions{Statuses: []string{"suspended", "past_due"}, Currency: "USD", TopN: 20}); err != nil {
		b.Fatal(err)
	}
	b.Logf("filtered report (past_due+suspended, USD, top 20): %.1f ms", float64(time.Since(topStart).Microseconds())/1000)

	tx, err := db.Beginx()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec(`SET LOCAL work_mem = '` + reportWorkMem + `'`); err != nil {
		b.Fatal(err)
	}
	plan := explain(b, tx, asOf, AgingOptions{}, true) // as Aging runs it
	b.Logf("EXPLAIN (ANALYZE, BUFFERS):\n%s", plan)
	if strings.Contains(plan, "Seq Scan on invoices") {
		b.Fatal("the aging report reads the invoices table sequentially")
	}
	for _, idx := range []string{"invoices_receivables_idx", "invoices_credit_sales_idx"} {
		if !strings.Contains(plan, idx) {
			b.Fatalf("the plan does not use %s", idx)
		}
	}
}

// benchCustomers and benchInvoices size the benchmark's book.
const benchCustomers, benchInvoices = 20_000, 1_000_000

// loadBench fills the database for BenchmarkAging1M with generate_series:
// the rows are made by PostgreSQL itself, which takes seconds, not minutes.
func loadBench(b *testing.B, db *sqlx.DB, asOf time.Time) {
	b.Helper()
	ctx := context.Background()
	const customers, invoices = benchCustomers, benchInvoices
	loadStart := time.Now()
	if _, err := db.ExecContext(ctx, `
		INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy, monthly_fee_minor,
			instrument_type, signup_ip, status, access, created_at, updated_at)
		SELECT 'C' || lpad(g::text, 6, '0'), 'Customer ' || g, 'c' || g || '@example.com', '+1555' || lpad(g::text, 7, '0'),
			'US', (ARRAY['USD', 'KRW', 'EUR', 'JPY'])[1 + g % 4], 'en', 'standard.v1', 10000, 'card', '192.0.2.1',
			(ARRAY['active', 'active', 'active', 'active', 'active', 'past_due', 'past_due', 'suspended', 'terminated', 'active'])[1 + (g / 4) % 10],
			'full', now(), now()
		FROM generate_series(0, $1 - 1) g`, customers); err != nil {
		b.Fatal(err)
	}
	// Each invoice: a customer, a due date spread over the two years before
	// asOf (to a month after), issued 14 days before due. Invoices due in the
	// last 120 days are open 40% of the time, older ones 3%; the rest are
	// paid, void or written off. A few are prepayments.
	if _, err := db.ExecContext(ctx, `
		INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, paid_minor,
			period_start, period_end, issued_at, due_at, stage, updated_at)
		SELECT 'I' || lpad(g::text, 8, '0'), 'C' || lpad(c::text, 6, '0'),
			CASE WHEN g % 40 = 0 THEN 'prepayment' ELSE 'subscription' END,
			st, (ARRAY['USD', 'KRW', 'EUR', 'JPY'])[1 + c % 4], amt,
			CASE WHEN st = 'paid' THEN amt WHEN st = 'open' AND r2 < 0.2 THEN floor(amt * r2)::bigint ELSE 0 END,
			due - interval '44 days', due - interval '14 days', due - interval '14 days', due, 'none', now()
		FROM (
			SELECT g, (g * 7919) % $1 AS c, due, r2,
				CASE WHEN r < CASE WHEN due > $3::timestamptz - interval '120 days' THEN 0.40 ELSE 0.03 END THEN 'open'
					WHEN r < 0.85 THEN 'paid' WHEN r < 0.92 THEN 'void' ELSE 'written_off' END AS st,
				CASE WHEN (g * 7919) % $1 % 2 = 1 THEN 1000 + (g * 104729) % 5000000 ELSE 500 + (g * 104729) % 500000 END AS amt
			FROM (
				SELECT g, random() AS r, random() AS r2,
					$3::timestamptz - interval '730 days' + random() * interval '760 days' AS due
				FROM generate_series(1, $2::bigint) g
			) x
		) y`, customers, invoices, asOf); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) customers`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) invoices`); err != nil {
		b.Fatal(err)
	}
	var open int
	if err := db.GetContext(ctx, &open, `SELECT count(*) FROM invoices WHERE status = 'open'`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d customers and %d invoices (%d open) in %v", customers, invoices, open, time.Since(loadStart))

}
