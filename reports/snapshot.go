package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// SnapshotDate is the aging_snapshots.as_of date for an as-of time: its UTC
// calendar date.
func SnapshotDate(asOf time.Time) time.Time {
	y, m, d := asOf.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// SaveSnapshot computes the full aging report (no filters) as of asOf and
// stores its currency totals in aging_snapshots, one row per currency for
// asOf's UTC date (SnapshotDate), and returns the report.
//
// It is idempotent and the last run of a day wins: a second run for the
// same date replaces that date's rows — it updates the currencies it
// reports and deletes the currencies it no longer reports — rather than
// keeping the first. A rerun is made on purpose (after a late-recorded
// payment, a fix, or an activity retried after a timeout), and what staff
// want for the day is the latest figures, while a retry that recomputes the
// same figures changes nothing. Runs for the same date are serialised by a
// transaction-level advisory lock, and the report is computed after the
// lock is taken, so the stored rows always come from one run, never a mix.
//
// created_at is when the row's figures were computed, and aged_at is asOf.
func SaveSnapshot(ctx context.Context, db *sqlx.DB, asOf time.Time) (AgingReport, error) {
	if asOf.IsZero() {
		return AgingReport{}, fmt.Errorf("as-of time is required")
	}
	day := SnapshotDate(asOf)
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return AgingReport{}, err
	}
	defer func() { _ = tx.Rollback() }()
	// Two int4 keys: the table's and the day number since 1970-01-01.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('aging_snapshots'), $1)`,
		int32(day.Unix()/86400)); err != nil {
		return AgingReport{}, fmt.Errorf("snapshot lock: %w", err)
	}
	r, err := aging(ctx, tx, asOf, AgingOptions{})
	if err != nil {
		return AgingReport{}, err
	}
	currencies := make([]string, 0, len(r.Currencies))
	for _, c := range r.Currencies {
		currencies = append(currencies, c.Currency)
		b := c.Buckets
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO aging_snapshots (as_of, currency, aged_at, customers,
				current_count, current_minor, days_1_30_count, days_1_30_minor, days_31_60_count, days_31_60_minor,
				days_61_90_count, days_61_90_minor, days_90_plus_count, days_90_plus_minor, total_count, total_minor,
				over_60_minor, suspended_minor, at_risk_minor, sales_90d_minor, dso_days, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, now())
			ON CONFLICT (as_of, currency) DO UPDATE SET
				aged_at = EXCLUDED.aged_at, customers = EXCLUDED.customers,
				current_count = EXCLUDED.current_count, current_minor = EXCLUDED.current_minor,
				days_1_30_count = EXCLUDED.days_1_30_count, days_1_30_minor = EXCLUDED.days_1_30_minor,
				days_31_60_count = EXCLUDED.days_31_60_count, days_31_60_minor = EXCLUDED.days_31_60_minor,
				days_61_90_count = EXCLUDED.days_61_90_count, days_61_90_minor = EXCLUDED.days_61_90_minor,
				days_90_plus_count = EXCLUDED.days_90_plus_count, days_90_plus_minor = EXCLUDED.days_90_plus_minor,
				total_count = EXCLUDED.total_count, total_minor = EXCLUDED.total_minor,
				over_60_minor = EXCLUDED.over_60_minor, suspended_minor = EXCLUDED.suspended_minor,
				at_risk_minor = EXCLUDED.at_risk_minor, sales_90d_minor = EXCLUDED.sales_90d_minor,
				dso_days = EXCLUDED.dso_days, created_at = EXCLUDED.created_at`,
			day.Format("2006-01-02"), c.Currency, r.AsOf, c.Customers,
			b[Current].Count, b[Current].Minor, b[Days1to30].Count, b[Days1to30].Minor,
			b[Days31to60].Count, b[Days31to60].Minor, b[Days61to90].Count, b[Days61to90].Minor,
			b[Days90Plus].Count, b[Days90Plus].Minor, c.Total.Count, c.Total.Minor,
			c.AtRisk.Over60.Minor, c.AtRisk.Suspended.Minor, c.AtRisk.Total.Minor, c.Sales90dMinor, c.DSODays,
		); err != nil {
			return AgingReport{}, fmt.Errorf("snapshot %s %s: %w", day.Format("2006-01-02"), c.Currency, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM aging_snapshots WHERE as_of = $1 AND NOT (currency = ANY($2::text[]))`,
		day.Format("2006-01-02"), pq.Array(currencies)); err != nil {
		return AgingReport{}, fmt.Errorf("snapshot %s: %w", day.Format("2006-01-02"), err)
	}
	if err := tx.Commit(); err != nil {
		return AgingReport{}, fmt.Errorf("snapshot %s: %w", day.Format("2006-01-02"), err)
	}
	return r, nil
}

// Snapshot is an aging_snapshots row.
type Snapshot struct {
	AsOf            time.Time `db:"as_of" json:"as_of"`
	Currency        string    `db:"currency" json:"currency"`
	AgedAt          time.Time `db:"aged_at" json:"aged_at"`
	Customers       int64     `db:"customers" json:"customers"`
	CurrentCount    int64     `db:"current_count" json:"current_count"`
	CurrentMinor    int64     `db:"current_minor" json:"current_minor"`
	Days1to30Count  int64     `db:"days_1_30_count" json:"days_1_30_count"`
	Days1to30Minor  int64     `db:"days_1_30_minor" json:"days_1_30_minor"`
	Days31to60Count int64     `db:"days_31_60_count" json:"days_31_60_count"`
	Days31to60Minor int64     `db:"days_31_60_minor" json:"days_31_60_minor"`
	Days61to90Count int64     `db:"days_61_90_count" json:"days_61_90_count"`
	Days61to90Minor int64     `db:"days_61_90_minor" json:"days_61_90_minor"`
	Days90PlusCount int64     `db:"days_90_plus_count" json:"days_90_plus_count"`
	Days90PlusMinor int64     `db:"days_90_plus_minor" json:"days_90_plus_minor"`
	TotalCount      int64     `db:"total_count" json:"total_count"`
	TotalMinor      int64     `db:"total_minor" json:"total_minor"`
	Over60Minor     int64     `db:"over_60_minor" json:"over_60_minor"`
	SuspendedMinor  int64     `db:"suspended_minor" json:"suspended_minor"`
	AtRiskMinor     int64     `db:"at_risk_minor" json:"at_risk_minor"`
	Sales90dMinor   int64     `db:"sales_90d_minor" json:"sales_90d_minor"`
	DSODays         *float64  `db:"dso_days" json:"dso_days"`
	CreatedAt       time.Time `db:"created_at" json:"created_at"`
}

// Snapshots lists the stored snapshots for dates in [from, to], by date
// then currency: the trend of the aging report.
func Snapshots(ctx context.Context, db *sqlx.DB, from, to time.Time) ([]Snapshot, error) {
	var rows []Snapshot
	err := db.SelectContext(ctx, &rows, `SELECT as_of, trim(currency) AS currency, aged_at, customers,
			current_count, current_minor, days_1_30_count, days_1_30_minor, days_31_60_count, days_31_60_minor,
			days_61_90_count, days_61_90_minor, days_90_plus_count, days_90_plus_minor, total_count, total_minor,
			over_60_minor, suspended_minor, at_risk_minor, sales_90d_minor, dso_days, created_at
		FROM aging_snapshots WHERE as_of BETWEEN $1 AND $2 ORDER BY as_of, currency`,
		SnapshotDate(from).Format("2006-01-02"), SnapshotDate(to).Format("2006-01-02"))
	return rows, err
}
