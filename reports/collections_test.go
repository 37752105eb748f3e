package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/internal/pgtest"
)

func insertWriteOff(t *testing.T, db *sqlx.DB, key, customer string, invoices []string, amount int64, currency string, collections bool, at time.Time) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO write_offs (event_key, customer_id, invoice_ids, amount_minor, currency, collections, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, key, customer, pq.Array(invoices), amount, currency, collections, at); err != nil {
		t.Fatal(err)
	}
}

// readExport parses an export, checks its header and returns its rows.
func readExport(t *testing.T, out []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !reflect.DeepEqual(rows[0], CollectionsHeader) {
		t.Fatalf("export header %v", rows)
	}
	return rows[1:]
}

func TestExportCollections(t *testing.T) {
	_, db := pgtest.New(t)
	ctx := context.Background()
	insertCustomer(t, db, "acme", "Acme, Inc.", "USD", "terminated")
	insertCustomer(t, db, "kim", "김 상사", "KRW", "terminated")
	at := time.Date(2025, 3, 1, 23, 30, 0, 0, time.UTC)
	insertWriteOff(t, db, "wo-acme", "acme", []string{"INV-acme-2", "INV-acme-3"}, 15000, "USD", true, at)
	insertWriteOff(t, db, "wo-kim", "kim", []string{"INV-kim-1"}, 1234567, "KRW", true, at.Add(time.Hour))
	insertWriteOff(t, db, "wo-goodwill", "acme", []string{"INV-acme-1"}, 5000, "USD", false, at) // not for collections
	insertWriteOff(t, db, "wo-zero", "kim", []string{"INV-kim-2"}, 0, "KRW", true, at)           // nothing to collect

	exportedAt := time.Date(2025, 3, 15, 9, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	n, err := ExportCollections(ctx, db, &buf, exportedAt)
	if err != nil {
		t.Fatal(err)
	}
	rows := readExport(t, buf.Bytes())
	if n != 2 || len(rows) != 2 {
		t.Fatalf("n = %d, rows:\n%s", n, buf.String())
	}
	batch := rows[0][10]
	want := [][]string{
		{"acme", "Acme, Inc.", "acme@example.com", "+15550100", "US", "INV-acme-2;INV-acme-3", "150.00", "USD", "2025-03-01", "wo-acme", batch},
		{"kim", "김 상사", "kim@example.com", "+15550100", "US", "INV-kim-1", "1234567", "KRW", "2025-03-02", "wo-kim", batch},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows:\n got  %q\n want %q", rows, want)
	}
	var recorded []struct {
		EventKey   string    `db:"event_key"`
		BatchID    string    `db:"batch_id"`
		ExportedAt time.Time `db:"exported_at"`
	}
	if err := db.Select(&recorded, `SELECT * FROM collections_exports ORDER BY event_key`); err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 2 || recorded[0].EventKey != "wo-acme" || recorded[1].BatchID != batch || !recorded[0].ExportedAt.Equal(exportedAt) {
		t.Errorf("collections_exports %+v", recorded)
	}

	// A second export has nothing left: a header only.
	buf.Reset()
	if n, err := ExportCollections(ctx, db, &buf, exportedAt.Add(time.Hour)); err != nil || n != 0 || len(readExport(t, buf.Bytes())) != 0 {
		t.Errorf("second export: n %d, err %v:\n%s", n, err, buf.String())
	}

	// A new write-off is exported next time, alone, in a new batch.
	insertWriteOff(t, db, "wo-acme-2", "acme", []string{"INV-acme-9"}, 1, "USD", true, at.Add(48*time.Hour))
	buf.Reset()
	n, err = ExportCollections(ctx, db, &buf, exportedAt.Add(2*time.Hour))
	rows = readExport(t, buf.Bytes())
	if err != nil || n != 1 || len(rows) != 1 || rows[0][9] != "wo-acme-2" || rows[0][6] != "0.01" || rows[0][10] == batch {
		t.Errorf("third export: n %d, err %v, rows %q", n, err, rows)
	}
}

// failingWriter fails every write, like a full disk or a closed pipe.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestExportCollectionsFailedWriteClaimsNothing(t *testing.T) {
	_, db := pgtest.New(t)
	insertCustomer(t, db, "acme", "Acme", "USD", "terminated")
	insertWriteOff(t, db, "wo-1", "acme", []string{"INV-1"}, 100, "USD", true, testAsOf)
	if _, err := ExportCollections(context.Background(), db, failingWriter{}, testAsOf); err == nil {
		t.Fatal("export to a failing writer succeeded")
	}
	var buf bytes.Buffer
	if n, err := ExportCollections(context.Background(), db, &buf, testAsOf); err != nil || n != 1 {
		t.Errorf("export after a failed one: n %d, %v", n, err)
	}
}

func TestExportCollectionsConcurrent(t *testing.T) {
	_, db := pgtest.New(t)
	ctx := context.Background()
	const customers, writeOffs, exporters = 50, 2000, 6
	for i := range customers {
		insertCustomer(t, db, fmt.Sprintf("c%03d", i), fmt.Sprintf("Customer %d", i), "USD", "terminated")
	}
	if _, err := db.Exec(`INSERT INTO write_offs (event_key, customer_id, invoice_ids, amount_minor, currency, collections, at)
		SELECT 'wo-' || g, 'c' || lpad((g % $1)::text, 3, '0'), ARRAY['INV-' || g], 100 + g, 'USD', true, $2
		FROM generate_series(1, $3) g`, customers, testAsOf, writeOffs); err != nil {
		t.Fatal(err)
	}

	// Several rounds of exporters started together, with write-offs arriving
	// in between; every write-off ends up in exactly one output.
	seen := map[string]string{}  // write-off -> batch
	files := map[string][]byte{} // batch -> the file its exporter produced
	total := 0
	for round := range 3 {
		outs := make([]bytes.Buffer, exporters)
		ns := make([]int, exporters)
		errs := make([]error, exporters)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range exporters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ns[i], errs[i] = ExportCollections(ctx, db, &outs[i], testAsOf.Add(time.Duration(round)*time.Hour))
			}()
		}
		close(start)
		if round < 2 { // more arrive while the exports run
			insertWriteOff(t, db, fmt.Sprintf("wo-late-%d", round), "c001", []string{"INV-late"}, 500, "USD", true, testAsOf)
		}
		wg.Wait()
		busy := 0
		for i := range exporters {
			if errs[i] != nil {
				t.Fatalf("round %d exporter %d: %v", round, i, errs[i])
			}
			rows := readExport(t, outs[i].Bytes())
			if len(rows) != ns[i] {
				t.Errorf("exporter %d returned %d but wrote %d rows", i, ns[i], len(rows))
			}
			if ns[i] > 0 {
				busy++
				files[rows[0][10]] = bytes.Clone(outs[i].Bytes())
			}
			total += ns[i]
			for _, r := range rows {
				if prev, dup := seen[r[9]]; dup {
					t.Errorf("write-off %s exported twice (batches %s and %s)", r[9], prev, r[10])
				}
				seen[r[9]] = r[10]
			}
		}
		t.Logf("round %d: rows per exporter %v", round, ns)
	}
	if want := writeOffs + 2; total != want || len(seen) != want {
		t.Errorf("exported %d rows, %d distinct write-offs; want %d", total, len(seen), want)
	}
	var recorded []struct {
		EventKey string `db:"event_key"`
		BatchID  string `db:"batch_id"`
	}
	if err := db.Select(&recorded, `SELECT event_key, batch_id FROM collections_exports`); err != nil {
		t.Fatal(err)
	}
	if len(recorded) != len(seen) {
		t.Errorf("collections_exports has %d rows, outputs %d", len(recorded), len(seen))
	}
	for _, r := range recorded {
		if seen[r.EventKey] != r.BatchID {
			t.Errorf("%s recorded in batch %s but output in %q", r.EventKey, r.BatchID, seen[r.EventKey])
		}
	}
	// Every batch is listed and fetched again byte for byte.
	batches, err := ListCollectionsBatches(ctx, db, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != len(files) {
		t.Errorf("%d batches listed, %d produced", len(batches), len(files))
	}
	for _, b := range batches {
		var again bytes.Buffer
		if _, err := FetchCollectionsBatch(ctx, db, &again, b.BatchID); err != nil {
			t.Fatal(err)
		}
		if !b.Kept || !bytes.Equal(again.Bytes(), files[b.BatchID]) {
			t.Errorf("batch %s (kept %v) fetched differently from what its export wrote", b.BatchID, b.Kept)
		}
	}
}

// TestExportCollectionsWaitsForAConcurrentClaim forces the interleaving the
// design is about: an export runs while another transaction holds an
// uncommitted claim on a write-off. It must wait, then skip the write-off if
// the other commits, or export it if the other rolls back.
func TestExportCollectionsWaitsForAConcurrentClaim(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			_, db := pgtest.New(t)
			ctx := context.Background()
			insertCustomer(t, db, "acme", "Acme", "USD", "terminated")
			insertWriteOff(t, db, "wo-a", "acme", []string{"INV-a"}, 100, "USD", true, testAsOf)
			insertWriteOff(t, db, "wo-b", "acme", []string{"INV-b"}, 200, "USD", true, testAsOf)

			other, err := db.Beginx()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = other.Rollback() }()
			if _, err := other.Exec(`INSERT INTO collections_exports (event_key, batch_id, exported_at) VALUES ('wo-a', 'other', now())`); err != nil {
				t.Fatal(err)
			}

			var buf bytes.Buffer
			done := make(chan error, 1)
			var n int
			go func() {
				var err error
				n, err = ExportCollections(ctx, db, &buf, testAsOf)
				done <- err
			}()
			// Wait until the export is blocked on the other transaction's claim.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var waiting int
				if err := db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("export finished without waiting for the concurrent claim: n %d, %v", n, err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("export never waited for the concurrent claim")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if commit {
				err = other.Commit()
			} else {
				err = other.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range readExport(t, buf.Bytes()) {
				keys = append(keys, r[9])
			}
			want := []string{"wo-a", "wo-b"}
			if commit {
				want = []string{"wo-b"}
			}
			if n != len(want) || !reflect.DeepEqual(keys, want) {
				t.Errorf("exported %d: %v, want %v", n, keys, want)
			}
		})
	}
}
