package metrics

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
)

var testNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fill writes a small book: four customers in three currencies' worth of
// states, their invoices and payments, emails in every outcome, provisioning
// failures, reviews and monitoring hits.
func fill(t *testing.T, db *sqlx.DB) {
	t.Helper()
	day := 24 * time.Hour
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, c := range []struct{ id, currency, status, stage string }{
		{"c1", "USD", "active", "none"},
		{"c2", "USD", "past_due", "overdue_1"},
		{"c3", "KRW", "suspended", "suspended"},
		{"c4", "USD", "active", "none"},
	} {
		exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy, monthly_fee_minor,
				instrument_type, signup_ip, status, access, dunning_stage, created_at, updated_at)
			VALUES ($1, $1, $1 || '@example.com', '+15550100', 'US', $2, 'en', 'standard.v1', 1000, 'card', '192.0.2.1', $3, 'limited', $4, $5, $5)`,
			c.id, c.currency, c.status, c.stage, testNow.Add(-90*day))
	}
	invoice := func(id, customer, currency, status string, amount, paid int64, due time.Time) {
		exec(`INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, paid_minor,
				period_start, period_end, issued_at, due_at, stage, updated_at)
			VALUES ($1, $2, 'subscription', $3, $4, $5, $6, $7, $7, $7, $8, 'none', $8)`,
			id, customer, status, currency, amount, paid, due.Add(-7*day), due)
	}
	invoice("INV-c1-1", "c1", "USD", "open", 2000, 0, testNow.Add(3*day))       // current: 20.00
	invoice("INV-c2-1", "c2", "USD", "open", 10000, 2500, testNow.Add(-10*day)) // 1-30: 75.00, recovered 25.00 by staff
	invoice("INV-c3-1", "c3", "KRW", "open", 50000, 0, testNow.Add(-40*day))    // 31-60: 50000 won
	invoice("INV-c4-1", "c4", "USD", "paid", 1234, 1234, testNow.Add(-60*day))  // paid on time by card, long ago
	payment := func(id, customer, currency, method, actor string, amount int64, at time.Time, invoice string) {
		exec(`INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, actor, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, customer, amount, currency, method, actor, at)
		exec(`INSERT INTO payment_allocations (customer_id, payment_id, invoice_id, amount_minor) VALUES ($1, $2, $3, $4)`,
			customer, id, invoice, amount)
	}
	payment("p1", "c2", "USD", "bank_transfer", "sam", 2500, testNow.Add(-5*day), "INV-c2-1")
	payment("p2", "c4", "USD", "card", "gateway", 1234, testNow.Add(-62*day), "INV-c4-1")
	payment("p3", "c3", "KRW", "bank_transfer", "sam", 7000, testNow.Add(-45*day), "INV-c3-1")
	exec(`UPDATE invoices SET paid_minor = 7000 WHERE invoice_id = 'INV-c3-1'`) // 43000 won left

	message := func(key, customer, stage, channel, status string) {
		exec(`INSERT INTO email_outbox (message_key, customer_id, stage, template, to_email, subject, body_text, body_html, status, channel)
			VALUES ($1, $2, $3, $3, 'x@example.com', 's', 'b', 'b', $4, $5)`, key, customer, stage, status, channel)
	}
	message("c2:INV-c2-1:overdue_1", "c2", "overdue_1", "email", "sent")
	message("c2:INV-c2-1:overdue_1:retry", "c2", "overdue_1", "email", "failed")
	message("c3:INV-c3-1:final_notice", "c3", "final_notice", "email", "unconfirmed")
	message("c3:INV-c3-1:final_notice:sms", "c3", "final_notice", "sms", "sent")
	exec(`INSERT INTO email_events (sg_event_id, message_key, customer_id, stage, event, occurred_at, raw)
		VALUES ('sg1', 'c2:INV-c2-1:overdue_1', 'c2', 'overdue_1', 'bounce', $1, '{}'), ('sg2', NULL, NULL, NULL, 'processed', $1, '{}')`, testNow)
	exec(`INSERT INTO email_outbox_delivery (message_key, delivery_status, delivery_event_id, delivery_updated_at)
		VALUES ('c2:INV-c2-1:overdue_1', 'bounce', 'sg1', $1)`, testNow)

	audit := func(key, action string) {
		exec(`INSERT INTO audit_log (event_key, customer_id, at, actor, action) VALUES ($1, 'c3', $2, 'system', $3)`, key, testNow, action)
	}
	audit("e1", "provisioning.failed")
	audit("e2", "provisioning.failed")
	audit("e3", "provisioning.escalated")
	audit("e4", "payment.recorded")

	review := func(customer, id, kind, decision string, deadline time.Time) {
		exec(`INSERT INTO reviews (customer_id, review_id, kind, reason, opened_at, deadline, decision)
			VALUES ($1, $2, $3, 'r', $4, $5, $6)`, customer, id, kind, testNow.Add(-day), deadline, decision)
	}
	review("c3", "rv1", "misuse", "", testNow.Add(-time.Hour))  // open, past its deadline
	review("c1", "rv2", "onboarding", "", testNow.Add(day))     // open
	review("c4", "rv3", "misuse", "approve", testNow.Add(-day)) // decided

	for i, h := range []struct{ rule, severity string }{{"mining", "severe"}, {"spend_spike", "moderate"}, {"spend_spike", "moderate"}} {
		id := "ev" + string(rune('0'+i))
		exec(`INSERT INTO activity_events (event_id, customer_id, at, kind, raw, received_at) VALUES ($1, 'c3', $2, 'k', '{}', $2)`, id, testNow)
		exec(`INSERT INTO monitoring_hits (event_id, customer_id, rule, severity, evidence, created_at, report_status, reported_at)
			VALUES ($1, 'c3', $2, $3, '{}', $4, 'reported', $4)`, id, h.rule, h.severity, testNow)
	}
}

// The figures exported are the tables' contents, money in major units.
func TestCollectorExportsTheTables(t *testing.T) {
	_, db := pgtest.New(t)
	fill(t, db)
	c := NewCollector(Postgres{DB: db, Now: func() time.Time { return testNow }}, 0, quiet())
	want := `
# HELP dunning_metrics_scrape_success 1 when the business figures were read from PostgreSQL for this scrape, 0 when the read failed or timed out (then no dunning_* figure is exported).
# TYPE dunning_metrics_scrape_success gauge
dunning_metrics_scrape_success 1
# HELP dunning_customers Customers by account status and dunning stage.
# TYPE dunning_customers gauge
dunning_customers{stage="none",status="active"} 2
dunning_customers{stage="overdue_1",status="past_due"} 1
dunning_customers{stage="suspended",status="suspended"} 1
# HELP dunning_receivables_open_amount Unpaid amount of open subscription invoices, in major units of the currency, by aging bucket (current is not yet a day past due).
# TYPE dunning_receivables_open_amount gauge
dunning_receivables_open_amount{bucket="1-30",currency="KRW"} 0
dunning_receivables_open_amount{bucket="1-30",currency="USD"} 75
dunning_receivables_open_amount{bucket="31-60",currency="KRW"} 43000
dunning_receivables_open_amount{bucket="31-60",currency="USD"} 0
dunning_receivables_open_amount{bucket="61-90",currency="KRW"} 0
dunning_receivables_open_amount{bucket="61-90",currency="USD"} 0
dunning_receivables_open_amount{bucket="90+",currency="KRW"} 0
dunning_receivables_open_amount{bucket="90+",currency="USD"} 0
dunning_receivables_open_amount{bucket="current",currency="KRW"} 0
dunning_receivables_open_amount{bucket="current",currency="USD"} 20
# HELP dunning_receivables_open_invoices Open subscription invoices with an unpaid amount, by currency and aging bucket.
# TYPE dunning_receivables_open_invoices gauge
dunning_receivables_open_invoices{bucket="1-30",currency="KRW"} 0
dunning_receivables_open_invoices{bucket="1-30",currency="USD"} 1
dunning_receivables_open_invoices{bucket="31-60",currency="KRW"} 1
dunning_receivables_open_invoices{bucket="31-60",currency="USD"} 0
dunning_receivables_open_invoices{bucket="61-90",currency="KRW"} 0
dunning_receivables_open_invoices{bucket="61-90",currency="USD"} 0
dunning_receivables_open_invoices{bucket="90+",currency="KRW"} 0
dunning_receivables_open_invoices{bucket="90+",currency="USD"} 0
dunning_receivables_open_invoices{bucket="current",currency="KRW"} 0
dunning_receivables_open_invoices{bucket="current",currency="USD"} 1
# HELP dunning_outbox_messages Outbox messages by channel, stage and outbox status (pending, sending, sent, logged, failed, unconfirmed).
# TYPE dunning_outbox_messages gauge
dunning_outbox_messages{channel="email",stage="final_notice",status="unconfirmed"} 1
dunning_outbox_messages{channel="email",stage="overdue_1",status="failed"} 1
dunning_outbox_messages{channel="email",stage="overdue_1",status="sent"} 1
dunning_outbox_messages{channel="sms",stage="final_notice",status="sent"} 1
# HELP dunning_email_deliveries Emails by stage and the latest delivery status SendGrid's event webhook reported (delivered, bounce, dropped, ...).
# TYPE dunning_email_deliveries gauge
dunning_email_deliveries{stage="overdue_1",status="bounce"} 1
# HELP dunning_email_events_total SendGrid delivery events recorded, by stage of the email and event.
# TYPE dunning_email_events_total counter
dunning_email_events_total{event="bounce",stage="overdue_1"} 1
dunning_email_events_total{event="processed",stage=""} 1
# HELP dunning_provisioning_events_total Provisioning rounds that failed, escalations to staff, and recoveries, from the audit log.
# TYPE dunning_provisioning_events_total counter
dunning_provisioning_events_total{event="provisioning.escalated"} 1
dunning_provisioning_events_total{event="provisioning.failed"} 2
dunning_provisioning_events_total{event="provisioning.recovered"} 0
# HELP dunning_payments_total Payments recorded, by method and currency.
# TYPE dunning_payments_total counter
dunning_payments_total{currency="KRW",method="bank_transfer"} 1
dunning_payments_total{currency="USD",method="bank_transfer"} 1
dunning_payments_total{currency="USD",method="card"} 1
# HELP dunning_payments_amount_total Amount of the payments recorded, in major units of the currency, by method and currency.
# TYPE dunning_payments_amount_total counter
dunning_payments_amount_total{currency="KRW",method="bank_transfer"} 7000
dunning_payments_amount_total{currency="USD",method="bank_transfer"} 25
dunning_payments_amount_total{currency="USD",method="card"} 12.34
# HELP dunning_reviews_open Reviews waiting for a staff decision, by kind (onboarding, misuse).
# TYPE dunning_reviews_open gauge
dunning_reviews_open{kind="misuse"} 1
dunning_reviews_open{kind="onboarding"} 1
# HELP dunning_reviews_overdue Open reviews past their deadline, by kind.
# TYPE dunning_reviews_overdue gauge
dunning_reviews_overdue{kind="misuse"} 1
dunning_reviews_overdue{kind="onboarding"} 0
# HELP dunning_monitoring_hits_total Activity-monitoring rule hits, by rule and severity.
# TYPE dunning_monitoring_hits_total counter
dunning_monitoring_hits_total{rule="mining",severity="severe"} 1
dunning_monitoring_hits_total{rule="spend_spike",severity="moderate"} 2
# HELP dunning_recovery_at_risk_amount What invoices due in the last 30 days still owed when they went at risk (past their due day or their first charge failed), in major units.
# TYPE dunning_recovery_at_risk_amount gauge
dunning_recovery_at_risk_amount{currency="USD"} 100
# HELP dunning_recovery_recovered_amount What at-risk invoices due in the last 30 days were paid afterwards, in major units, by source (retry, card_update, reminder, staff, other_charge).
# TYPE dunning_recovery_recovered_amount gauge
dunning_recovery_recovered_amount{currency="USD",source="card_update"} 0
dunning_recovery_recovered_amount{currency="USD",source="other_charge"} 0
dunning_recovery_recovered_amount{currency="USD",source="reminder"} 0
dunning_recovery_recovered_amount{currency="USD",source="retry"} 0
dunning_recovery_recovered_amount{currency="USD",source="staff"} 25
`
	names := []string{NameScrapeSuccess, "dunning_customers", "dunning_receivables_open_amount", "dunning_receivables_open_invoices",
		"dunning_outbox_messages", "dunning_email_deliveries", "dunning_email_events_total", "dunning_provisioning_events_total",
		"dunning_payments_total", "dunning_payments_amount_total", "dunning_reviews_open", "dunning_reviews_overdue",
		"dunning_monitoring_hits_total", "dunning_recovery_at_risk_amount", "dunning_recovery_recovered_amount"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// An empty database exports the fixed sets at zero and nothing else.
func TestCollectorOnAnEmptyDatabase(t *testing.T) {
	_, db := pgtest.New(t)
	c := NewCollector(Postgres{DB: db}, 0, quiet())
	if got := testutil.ToFloat64(only(c, NameScrapeSuccess)); got != 1 {
		t.Errorf("scrape success %v", got)
	}
	if n := testutil.CollectAndCount(c, "dunning_provisioning_events_total"); n != 3 {
		t.Errorf("provisioning series %d, want 3 at zero", n)
	}
	if n := testutil.CollectAndCount(c, "dunning_customers", "dunning_payments_total"); n != 0 {
		t.Errorf("%d customer or payment series on an empty database", n)
	}
}

// only is c's metrics named name, as a collector testutil.ToFloat64 reads.
func only(c *Collector, name string) *filtered { return &filtered{c: c, name: name} }

// The database cut off (connections reset, then a silent partition) makes
// a scrape answer within the timeout with the success gauge at 0, and the
// figures come back once the database does.
func TestScrapeSurvivesADatabaseCut(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	proxied, proxy := pgtest.Behind(t, dbURL)
	db, err := OpenDB(context.Background(), proxied, config.DefaultDB())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const timeout = 500 * time.Millisecond
	c := NewCollector(Postgres{DB: db}, timeout, quiet())
	scrape := func(label string, want float64) {
		t.Helper()
		start := time.Now()
		got := testutil.ToFloat64(only(c, NameScrapeSuccess))
		took := time.Since(start)
		if got != want {
			t.Errorf("%s: %s = %v, want %v", label, NameScrapeSuccess, got, want)
		}
		if took > timeout+time.Second {
			t.Errorf("%s: the scrape took %s (timeout %s)", label, took, timeout)
		}
	}
	scrape("open", 1)
	for _, mode := range []faults.CutMode{faults.Reset, faults.Blackhole} {
		proxy.Cut(mode)
		scrape(mode.String(), 0)
		scrape(mode.String()+" again", 0)
		proxy.Restore()
	}
	// The read left hanging by the partition may hold a connection until
	// the bytes flow again; a later scrape gets the figures.
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(only(c, NameScrapeSuccess)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no successful scrape 20s after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := proxy.Stats(); s.Reset == 0 || s.Held == 0 {
		t.Errorf("the cuts did not reach the collector's connections: %+v", s)
	}
}

// The counts over the big tables can be answered from the indexes made for
// them (migration 135) and the open reviews' partial index.
func TestCountsCanUseIndexes(t *testing.T) {
	_, db := pgtest.New(t)
	fill(t, db)
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec(`SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"outbox":       "email_outbox_metrics_idx",
		"provisioning": "audit_log_provisioning_idx",
		"payments":     "payments_metrics_idx",
		"reviews":      "reviews_open_idx",
	}
	var f Figures
	for _, q := range countQueries(testNow, &f) {
		index, ok := want[q.what]
		if !ok {
			continue
		}
		delete(want, q.what)
		var lines []string
		if err := tx.Select(&lines, "EXPLAIN "+q.query, q.args...); err != nil {
			t.Fatal(err)
		}
		if plan := strings.Join(lines, "\n"); !strings.Contains(plan, index) {
			t.Errorf("%s: the plan does not use %s:\n%s", q.what, index, plan)
		}
	}
	if len(want) > 0 {
		t.Errorf("no query for %v", want)
	}
}

// The collector's pool has its session settings, whichever form the
// connection string takes.
func TestOpenDBSettings(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	u, _ := url.Parse(dbURL)
	kv := "host=" + u.Hostname() + " port=" + u.Port() + " user=postgres dbname=" + strings.TrimPrefix(u.Path, "/") + " sslmode=disable"
	for _, dsn := range []string{dbURL, kv, dbURL + "&application_name=mine"} {
		db, err := OpenDB(context.Background(), dsn, config.DefaultDB())
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		var jit, name string
		if err := db.QueryRow(`SELECT current_setting('jit'), current_setting('application_name')`).Scan(&jit, &name); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		wantName := "dunning-metrics"
		if strings.Contains(dsn, "mine") {
			wantName = "mine"
		}
		if jit != "off" || name != wantName {
			t.Errorf("%s: jit %s, application_name %s", dsn, jit, name)
		}
	}
	if _, err := OpenDB(context.Background(), "mysql://x@y/z", config.DefaultDB()); err == nil {
		t.Error("a mysql URL was accepted")
	}
}
