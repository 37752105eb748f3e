package metrics

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/reports"
)

// Book sizes for BenchmarkScrape: a large reseller's system of record.
const (
	benchCustomers = 20_000
	benchInvoices  = 1_000_000
	benchPayments  = 500_000
	benchMessages  = 1_000_000
	benchAudit     = 2_000_000
)

// loadScrapeBench fills the tables with generate_series: invoices due over
// the two years before now, a payment for every other one, an outbox row
// and two audit rows (one in twenty about provisioning) per invoice.
func loadScrapeBench(b *testing.B, db *sqlx.DB, now time.Time) {
	b.Helper()
	start := time.Now()
	// The sizes go in as literals; $1 is now.
	sizes := strings.NewReplacer("$2", strconv.Itoa(benchCustomers), "$3", strconv.Itoa(benchInvoices),
		"$4", strconv.Itoa(benchPayments), "$5", strconv.Itoa(benchMessages), "$6", strconv.Itoa(benchAudit))
	for _, q := range []string{
		`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy, monthly_fee_minor,
			instrument_type, signup_ip, status, access, dunning_stage, created_at, updated_at)
		SELECT 'c' || g, 'C' || g, 'c' || g || '@example.com', '+15550100', 'US', (ARRAY['USD','EUR','KRW'])[1 + g % 3], 'en',
			'standard.v1', 1000, 'card', '192.0.2.1',
			(ARRAY['active','active','active','past_due','suspended','terminated'])[1 + g % 6], 'limited',
			(ARRAY['none','none','overdue_1','final_notice','suspended'])[1 + g % 5], $1, $1
		FROM generate_series(1, $2) g`,
		`INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, paid_minor,
			period_start, period_end, issued_at, due_at, stage, updated_at)
		SELECT 'i' || g, 'c' || (1 + g % $2), 'subscription', CASE WHEN g % 10 = 0 THEN 'open' ELSE 'paid' END,
			(ARRAY['USD','EUR','KRW'])[1 + (1 + g % $2) % 3], 10000, CASE WHEN g % 10 = 0 THEN 0 ELSE 10000 END,
			d - interval '7 days', d, d - interval '7 days', d, 'none', d
		FROM generate_series(1, $3) g, LATERAL (SELECT $1::timestamptz - (g % 730) * interval '1 day' AS d) t`,
		`INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, actor, received_at)
		SELECT 'p' || g, 'c' || (1 + (2 * g) % $2), 10000, (ARRAY['USD','EUR','KRW'])[1 + (1 + (2 * g) % $2) % 3],
			(ARRAY['bank_transfer','card'])[1 + g % 2], 'staff', $1::timestamptz - ((2 * g) % 730) * interval '1 day' + interval '3 days'
		FROM generate_series(1, $4) g`,
		`INSERT INTO payment_allocations (customer_id, payment_id, invoice_id, amount_minor)
		SELECT 'c' || (1 + (2 * g) % $2), 'p' || g, 'i' || (2 * g), 10000 FROM generate_series(1, $4) g`,
		`INSERT INTO email_outbox (message_key, customer_id, stage, template, to_email, subject, body_text, body_html, status, channel)
		SELECT 'm' || g, 'c' || (1 + g % $2), (ARRAY['due','overdue_1','overdue_2','final_notice'])[1 + g % 4], 't', 'x@example.com', 's',
			repeat('body ', 200), repeat('<p>body</p>', 100), (ARRAY['sent','sent','sent','failed','unconfirmed'])[1 + g % 5], 'email'
		FROM generate_series(1, $5) g`,
		`INSERT INTO audit_log (event_key, customer_id, at, actor, action)
		SELECT 'e' || g, 'c' || (1 + g % $2), $1, 'system',
			CASE WHEN g % 20 = 0 THEN 'provisioning.failed' WHEN g % 40 = 1 THEN 'provisioning.recovered' ELSE 'payment.recorded' END
		FROM generate_series(1, $6) g`,
		`INSERT INTO reviews (customer_id, review_id, kind, reason, opened_at, deadline, decision)
		SELECT 'c' || g, 'r' || g, (ARRAY['onboarding','misuse'])[1 + g % 2], 'r', $1, $1::timestamptz + (g % 3 - 1) * interval '1 day',
			CASE WHEN g % 4 = 0 THEN '' ELSE 'approve' END
		FROM generate_series(1, $2 / 4) g`,
	} {
		q = sizes.Replace(q)
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, now)
		}
		if _, err := db.Exec(q, args...); err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
	}
	if _, err := db.Exec(`VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded in %s", time.Since(start).Round(time.Second))
}

// BenchmarkScrape reads every business figure once per iteration, as a
// scrape does, from a large book.
func BenchmarkScrape(b *testing.B) {
	dbURL, db := pgtest.New(b)
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	loadScrapeBench(b, db, now)
	ctx := context.Background()
	mdb, err := OpenDB(ctx, dbURL, config.DefaultDB())
	if err != nil {
		b.Fatal(err)
	}
	defer mdb.Close()
	db = mdb
	src := Postgres{DB: db, Now: func() time.Time { return now }}
	if _, err := src.Read(ctx); err != nil { // warm the buffers
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := src.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/scrape")
	// Where the time goes.
	var f Figures
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"counts", func() error { return src.counts(ctx, now, &f) }},
		{"aging", func() error {
			_, err := reports.Aging(ctx, db, now, reports.AgingOptions{TopN: 1})
			return err
		}},
		{"recovery", func() error {
			_, err := reports.Recovery(ctx, db, reports.RecoveryOptions{Since: now.Add(-RecoveryWindow), Until: now, AsOf: now})
			return err
		}},
	} {
		t := time.Now()
		if err := step.run(); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %s", step.name, time.Since(t).Round(time.Millisecond))
	}
	b.Logf("one scrape: %s (%d runs)", per.Round(time.Millisecond), b.N)
}
