package reports

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/money"
)

// CollectionsHeader is the header row of the collections export.
var CollectionsHeader = []string{
	"customer_id", "name", "email", "phone", "country", "invoice_ids", "amount", "currency",
	"written_off_date", "write_off_id", "export_batch",
}

// ExportCollections writes, as CSV for the collections agency, every
// write-off handed to collections (write_offs.collections, written when an
// account is terminated) that no earlier export has included, and returns
// how many it wrote. Each row is one write-off: the customer's contact
// details, the invoice IDs (separated by ";"), the amount as a decimal in
// the major unit (money.Decimal) with its currency, the write-off's UTC
// date, its key and the export batch ID. Write-offs of nothing (amount 0)
// are not exported. With nothing to export it writes the header only.
//
// Each write-off is exported exactly once. Claiming and writing happen in
// one transaction: the write-offs are claimed by inserting them into
// collections_exports under a new batch ID with ON CONFLICT DO NOTHING, so
// when two exports run at once, the second blocks on the first's
// uncommitted claims and then skips them (or takes them over if the first
// rolls back). The CSV is written and flushed to w before the transaction
// commits, so a failed write leaves nothing claimed.
//
// On error, discard what was written to w: nothing was recorded as
// exported, except in the one case where the commit itself fails with an
// unknown outcome (a lost connection); then the export_batch column of the
// output can be looked up in collections_exports to reconcile.
func ExportCollections(ctx context.Context, db *sqlx.DB, w io.Writer, exportedAt time.Time) (n int, err error) {
	if exportedAt.IsZero() {
		return 0, fmt.Errorf("export time is required")
	}
	batch, err := newBatchID(exportedAt)
	if err != nil {
		return 0, err
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()

	// The primary key on collections_exports.event_key is the arbiter: a
	// write-off claimed by a concurrent export (committed or not) is not
	// inserted again, and RETURNING lists only what this batch claimed.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO collections_exports (event_key, batch_id, exported_at)
		SELECT w.event_key, $1, $2
		FROM write_offs w
		WHERE w.collections AND w.amount_minor > 0
			AND NOT EXISTS (SELECT 1 FROM collections_exports e WHERE e.event_key = w.event_key)
		ORDER BY w.event_key
		ON CONFLICT (event_key) DO NOTHING`, batch, exportedAt); err != nil {
		return 0, fmt.Errorf("claim write-offs for export: %w", err)
	}
	var rows []struct {
		CustomerID  string         `db:"customer_id"`
		Name        string         `db:"name"`
		Email       string         `db:"email"`
		Phone       string         `db:"phone"`
		Country     string         `db:"country"`
		InvoiceIDs  pq.StringArray `db:"invoice_ids"`
		AmountMinor int64          `db:"amount_minor"`
		Currency    string         `db:"currency"`
		At          time.Time      `db:"at"`
		EventKey    string         `db:"event_key"`
	}
	if err := tx.SelectContext(ctx, &rows, `
		SELECT w.customer_id, c.name, c.email, c.phone, trim(c.country) AS country, w.invoice_ids,
			w.amount_minor, trim(w.currency) AS currency, w.at, w.event_key
		FROM collections_exports e
		JOIN write_offs w ON w.event_key = e.event_key
		JOIN customers c ON c.customer_id = w.customer_id
		WHERE e.batch_id = $1
		ORDER BY w.at, w.event_key`, batch); err != nil {
		return 0, fmt.Errorf("read write-offs for export: %w", err)
	}

	cw := csv.NewWriter(w)
	if err := cw.Write(CollectionsHeader); err != nil {
		return 0, err
	}
	for _, r := range rows {
		if err := cw.Write([]string{
			r.CustomerID, r.Name, r.Email, r.Phone, r.Country, strings.Join(r.InvoiceIDs, ";"),
			money.Decimal(r.AmountMinor, r.Currency), r.Currency, r.At.UTC().Format("2006-01-02"),
			r.EventKey, batch,
		}); err != nil {
			return 0, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("write collections export: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record collections export %s: %w", batch, err)
	}
	return len(rows), nil
}

// newBatchID names an export: its time and a random suffix, so that two
// exports in the same second differ.
func newBatchID(at time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "col-" + at.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), nil
}
