package reports

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"errors"
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
// The file is kept with its batch (collections_export_batches, in the same
// transaction), so an export that was generated but never delivered (the
// caller died, or the commit's outcome was unknown) can be listed with
// ListCollectionsBatches and fetched again, byte for byte, with
// FetchCollectionsBatch. An export of nothing keeps no batch.
//
// On error, discard what was written to w: nothing was recorded as
// exported, except in the one case where the commit itself fails with an
// unknown outcome (a lost connection); then the export_batch column of the
// output names the batch to look for.
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
	rows, err := batchRows(ctx, tx, batch)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	if err := writeCollections(&buf, rows, batch); err != nil {
		return 0, err
	}
	if len(rows) > 0 {
		sum := sha256.Sum256(buf.Bytes())
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO collections_export_batches (batch_id, exported_at, row_count, csv, sha256)
			VALUES ($1, $2, $3, $4, $5)`, batch, exportedAt, len(rows), buf.Bytes(), hex.EncodeToString(sum[:])); err != nil {
			return 0, fmt.Errorf("keep collections export %s: %w", batch, err)
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return 0, fmt.Errorf("write collections export: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record collections export %s: %w", batch, err)
	}
	return len(rows), nil
}

// collectionsRow is one write-off of an export.
type collectionsRow struct {
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

// batchRows reads the write-offs of a batch, in file order.
func batchRows(ctx context.Context, q sqlx.QueryerContext, batch string) ([]collectionsRow, error) {
	var rows []collectionsRow
	if err := sqlx.SelectContext(ctx, q, &rows, `
		SELECT w.customer_id, c.name, c.email, c.phone, trim(c.country) AS country, w.invoice_ids,
			w.amount_minor, trim(w.currency) AS currency, w.at, w.event_key
		FROM collections_exports e
		JOIN write_offs w ON w.event_key = e.event_key
		JOIN customers c ON c.customer_id = w.customer_id
		WHERE e.batch_id = $1
		ORDER BY w.at, w.event_key`, batch); err != nil {
		return nil, fmt.Errorf("read write-offs for export: %w", err)
	}
	return rows, nil
}

// writeCollections writes the CSV of a batch. Customer-supplied text is
// neutralised against spreadsheet formulas (SafeCell); amounts, dates and
// keys are ours and written as they are.
func writeCollections(w io.Writer, rows []collectionsRow, batch string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CollectionsHeader); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write([]string{
			SafeCell(r.CustomerID), SafeCell(r.Name), SafeCell(r.Email), safePhone(r.Phone), SafeCell(r.Country),
			strings.Join(r.InvoiceIDs, ";"), money.Decimal(r.AmountMinor, r.Currency), r.Currency,
			r.At.UTC().Format("2006-01-02"), r.EventKey, batch,
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write collections export: %w", err)
	}
	return nil
}

// BatchOf reads the batch ID from an export's first row: "" for an export
// of nothing.
func BatchOf(csvData []byte) string {
	r := csv.NewReader(bytes.NewReader(csvData))
	if _, err := r.Read(); err != nil {
		return ""
	}
	row, err := r.Read()
	if err != nil || len(row) != len(CollectionsHeader) {
		return ""
	}
	return row[len(row)-1]
}

// CollectionsBatch is one past collections export.
type CollectionsBatch struct {
	BatchID    string    `json:"batch_id" db:"batch_id"`
	ExportedAt time.Time `json:"exported_at" db:"exported_at"`
	Rows       int       `json:"rows" db:"row_count"`
	// SHA256 is the hex digest of the file as first produced; empty for a
	// batch from before files were kept (it is regenerated when fetched).
	SHA256 string `json:"sha256" db:"sha256"`
	Kept   bool   `json:"kept" db:"kept"` // the file itself is kept
}

// ErrNoSuchBatch is returned by FetchCollectionsBatch for an unknown batch.
var ErrNoSuchBatch = errors.New("no such collections export batch")

// ListCollectionsBatches lists past exports that exported something,
// newest first, at most limit (0: all).
func ListCollectionsBatches(ctx context.Context, db *sqlx.DB, limit int) ([]CollectionsBatch, error) {
	var out []CollectionsBatch
	q := `
		SELECT batch_id, exported_at, row_count, sha256, true AS kept FROM collections_export_batches
		UNION ALL
		SELECT e.batch_id, min(e.exported_at), count(*)::int, '', false
		FROM collections_exports e
		WHERE NOT EXISTS (SELECT 1 FROM collections_export_batches b WHERE b.batch_id = e.batch_id)
		GROUP BY e.batch_id
		ORDER BY exported_at DESC, batch_id DESC`
	args := []any{}
	if limit > 0 {
		q += ` LIMIT $1`
		args = append(args, limit)
	}
	if err := db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("list collections exports: %w", err)
	}
	return out, nil
}

// FetchCollectionsBatch writes a past export again, byte for byte as it
// was first produced, and returns its description. Batches from before
// files were kept are regenerated from what they claimed.
func FetchCollectionsBatch(ctx context.Context, db *sqlx.DB, w io.Writer, batch string) (CollectionsBatch, error) {
	var kept struct {
		CollectionsBatch
		CSV []byte `db:"csv"`
	}
	err := db.GetContext(ctx, &kept, `
		SELECT batch_id, exported_at, row_count, sha256, true AS kept, csv
		FROM collections_export_batches WHERE batch_id = $1`, batch)
	switch {
	case err == nil:
		sum := sha256.Sum256(kept.CSV)
		if hex.EncodeToString(sum[:]) != kept.SHA256 {
			return kept.CollectionsBatch, fmt.Errorf("collections export %s: the kept file does not match its digest", batch)
		}
		_, err = w.Write(kept.CSV)
		return kept.CollectionsBatch, err
	case !errors.Is(err, sql.ErrNoRows):
		return CollectionsBatch{}, fmt.Errorf("collections export %s: %w", batch, err)
	}
	rows, err := batchRows(ctx, db, batch)
	if err != nil {
		return CollectionsBatch{}, err
	}
	if len(rows) == 0 {
		return CollectionsBatch{}, fmt.Errorf("%w: %q", ErrNoSuchBatch, batch)
	}
	var exportedAt time.Time
	if err := db.GetContext(ctx, &exportedAt, `SELECT min(exported_at) FROM collections_exports WHERE batch_id = $1`, batch); err != nil {
		return CollectionsBatch{}, fmt.Errorf("collections export %s: %w", batch, err)
	}
	var buf bytes.Buffer
	if err := writeCollections(&buf, rows, batch); err != nil {
		return CollectionsBatch{}, err
	}
	_, err = w.Write(buf.Bytes())
	return CollectionsBatch{BatchID: batch, ExportedAt: exportedAt, Rows: len(rows)}, err
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
