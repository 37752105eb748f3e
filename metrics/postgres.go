package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reports"
)

// RecoveryWindow is how far back the recovery figures look: invoices due
// in the last 30 days.
const RecoveryWindow = 30 * reports.Day

// Postgres reads the figures from the system of record. The counts come
// from one read-only snapshot; receivables and recovery are the aging and
// recovery reports' own statements (package reports), so the dashboard
// and the reports agree.
type Postgres struct {
	DB       *sqlx.DB         // OpenDB's pool
	Policies *policy.Registry // the policies' day lengths for recovery (nil: the embedded ones)
	Now      func() time.Time // nil: time.Now
}

// provisioningEvents are the audit log's provisioning outcomes counted;
// audit_log_provisioning_idx is on exactly these.
var provisioningEvents = []string{string(account.EventProvisioningFailed), string(account.EventProvisioningEscalated), string(account.EventProvisioningRecovered)}

// reviewKinds are the kinds of review, exported even when none is open.
var reviewKinds = []string{"onboarding", "misuse"}

// Read implements Source.
func (p Postgres) Read(ctx context.Context) (Figures, error) {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	var f Figures // scanned by sqlx's default mapping: field Count is column count
	if err := p.counts(ctx, now, &f); err != nil {
		return Figures{}, err
	}
	aging, err := reports.Aging(ctx, p.DB, now, reports.AgingOptions{TopN: 1})
	if err != nil {
		return Figures{}, err
	}
	for _, c := range aging.Currencies {
		for _, b := range c.Buckets {
			f.Receivables = append(f.Receivables, Receivable{Currency: c.Currency, Bucket: b.Bucket, Invoices: b.Count, Minor: b.Minor})
		}
	}
	rec, err := reports.Recovery(ctx, p.DB, reports.RecoveryOptions{Since: now.Add(-RecoveryWindow), Until: now, AsOf: now, Policies: p.Policies})
	if err != nil {
		return Figures{}, err
	}
	for _, c := range rec.Total.Currencies {
		r := Recovery{Currency: c.Currency, AtRiskMinor: c.AtRisk.Minor, RecoveredMinor: map[string]int64{}}
		for _, s := range c.BySource {
			r.RecoveredMinor[s.Source] = s.Minor
		}
		f.Recovery = append(f.Recovery, r)
	}
	return f, nil
}

// counts reads the grouped counts in one read-only transaction, which
// PostgreSQL itself ends when the scrape's deadline passes.
func (p Postgres) counts(ctx context.Context, now time.Time, f *Figures) error {
	tx, err := p.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if d, ok := ctx.Deadline(); ok {
		ms := max(time.Until(d).Milliseconds(), 1)
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", ms)); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	for _, q := range countQueries(now, f) {
		if err := tx.SelectContext(ctx, q.dest, q.query, q.args...); err != nil {
			return fmt.Errorf("metrics: %s: %w", q.what, err)
		}
	}
	return tx.Commit()
}

// countQuery is one grouped count and where its rows go.
type countQuery struct {
	what  string
	dest  any
	query string
	args  []any
}

// countQueries are the counts read into f.
func countQueries(now time.Time, f *Figures) []countQuery {
	return []countQuery{
		{"customers", &f.Customers, `SELECT status, dunning_stage AS stage, count(*) AS count FROM customers GROUP BY 1, 2`, nil},
		{"outbox", &f.Messages, `SELECT channel, stage, status, count(*) AS count FROM email_outbox GROUP BY 1, 2, 3`, nil},
		{"deliveries", &f.Deliveries, `SELECT o.stage, d.delivery_status AS status, count(*) AS count
			FROM email_outbox_delivery d JOIN email_outbox o ON o.message_key = d.message_key GROUP BY 1, 2`, nil},
		{"email events", &f.EmailEvents, `SELECT coalesce(stage, '') AS stage, event, count(*) AS count FROM email_events GROUP BY 1, 2`, nil},
		// The event types are spelled out so that the partial index applies.
		{"provisioning", &f.Provisioning, `SELECT e.event, count(a.action) AS count
			FROM unnest($1::text[]) AS e(event)
			LEFT JOIN audit_log a ON a.action = e.event
				AND a.action IN ('` + string(account.EventProvisioningFailed) + `', '` + string(account.EventProvisioningEscalated) + `', '` + string(account.EventProvisioningRecovered) + `')
			GROUP BY 1`, []any{pq.Array(provisioningEvents)}},
		{"payments", &f.Payments, `SELECT method, trim(currency) AS currency, count(*) AS count, sum(amount_minor)::bigint AS minor
			FROM payments GROUP BY 1, 2`, nil},
		{"reviews", &f.Reviews, `SELECT k.kind, count(r.review_id) AS open, count(r.review_id) FILTER (WHERE r.deadline < $2) AS overdue
			FROM unnest($1::text[]) AS k(kind)
			LEFT JOIN reviews r ON r.kind = k.kind AND r.decision = ''
			GROUP BY 1`, []any{pq.Array(reviewKinds), now}},
		{"monitoring hits", &f.MonitoringHits, `SELECT rule, severity, count(*) AS count FROM monitoring_hits GROUP BY 1, 2`, nil},
	}
}
