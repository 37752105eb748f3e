package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/reports"
)

// runDB runs the starter with args (DATABASE_URL set by the test) and returns standard output, standard
// error and the exit code main would give.
func runDB(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	code := 0
	if err := root.Execute(); err != nil {
		errOut.WriteString(err.Error())
		code = exitCode(err)
	}
	return out.String(), errOut.String(), code
}

// An export whose file was never delivered (here: --out names a directory
// that does not exist, so the file cannot be written after the write-offs
// were marked exported) is listed and fetched again; the write-off is not
// exported a second time.
func TestExportCollectionsBatchFetchedAgain(t *testing.T) {
	dbURL, db := pgtest.New(t)
	t.Setenv("DATABASE_URL", dbURL)
	if _, err := db.Exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
			monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at)
		VALUES ('acme', '@SUM(1+1)', 'billing@acme.test', '+14155550100', 'US', 'USD', 'en', 'standard.v1', 1000, 'card',
			'192.0.2.1', 'terminated', 'none', now(), now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO write_offs (event_key, customer_id, invoice_ids, amount_minor, currency, collections, at)
		VALUES ('acme/40', 'acme', $1, 15000, 'USD', true, $2)`, pq.Array([]string{"INV-acme-0003"}), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	_, errOut, code := runDB(t, "export-collections", "--out", filepath.Join(dir, "missing", "c.csv"))
	if code == 0 || !strings.Contains(errOut, "fetch it again with --batch col-") {
		t.Fatalf("undelivered export: %d %s", code, errOut)
	}

	out, _, code := runDB(t, "export-collections", "--list", "--json")
	var batches []reports.CollectionsBatch
	if code != 0 || json.Unmarshal([]byte(out), &batches) != nil || len(batches) != 1 || batches[0].Rows != 1 {
		t.Fatalf("--list: %d %s", code, out)
	}
	id := batches[0].BatchID
	if !strings.Contains(errOut, id) {
		t.Errorf("the failed export did not name batch %s: %s", id, errOut)
	}
	if out, _, code := runDB(t, "export-collections", "--list"); code != 0 || !strings.Contains(out, id) {
		t.Errorf("--list text: %d %s", code, out)
	}

	// Nothing is left to export.
	out, _, code = runDB(t, "export-collections")
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("second export: %d %q", code, out)
	}

	path := filepath.Join(dir, "again.csv")
	if _, errOut, code := runDB(t, "export-collections", "--batch", id, "--out", path); code != 0 {
		t.Fatalf("--batch: %d %s", code, errOut)
	}
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(again)
	if hex.EncodeToString(sum[:]) != batches[0].SHA256 || !strings.Contains(string(again), "'@SUM(1+1)") ||
		!strings.Contains(string(again), ",150.00,USD,") {
		t.Errorf("fetched again:\n%s", again)
	}
	stdout, _, code := runDB(t, "export-collections", "--batch", id)
	if code != 0 || stdout != string(again) {
		t.Errorf("--batch to standard output: %d %q", code, stdout)
	}

	if _, errOut, code := runDB(t, "export-collections", "--batch", "col-nope"); code != exitRefused || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown batch: %d %s", code, errOut)
	}
	if _, errOut, code := runDB(t, "export-collections", "--batch", "../../etc/passwd"); code != exitUsage || !strings.Contains(errOut, "batch") {
		t.Errorf("malformed batch: %d %s", code, errOut)
	}
	if _, _, code := runDB(t, "export-collections", "--list", "--batch", id); code != exitUsage {
		t.Errorf("--list with --batch: %d", code)
	}
}
