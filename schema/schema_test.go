package schema_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/schema"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	_, db := pgtest.New(t) // already migrated once
	latest, err := schema.Latest()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	versions := make([]int64, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			versions[i], errs[i] = schema.Migrate(ctx, db.DB)
		}()
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil || versions[i] != latest {
			t.Errorf("migrator %d: version %d, err %v (latest %d)", i, versions[i], errs[i], latest)
		}
	}
	files, _ := filepath.Glob("migrations/*.sql")
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM schema_migrations WHERE version_id > 0`); err != nil || n != len(files) {
		t.Errorf("schema_migrations rows = %d, want one per migration file (%d), %v", n, len(files), err)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	_, db := pgtest.New(t)
	if _, err := db.Exec(`INSERT INTO audit_log (event_key, customer_id, at, actor, action) VALUES ('k', 'c', now(), 'a', 'x')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'b'`); err == nil {
		t.Error("audit_log row was updated")
	}
	if _, err := db.Exec(`DELETE FROM audit_log`); err == nil {
		t.Error("audit_log row was deleted")
	}
}

func TestFreshMigrationFromEmpty(t *testing.T) {
	_, db := pgtest.New(t)
	for _, table := range []string{"customers", "invoices", "payments", "payment_allocations", "email_outbox", "audit_log", "write_offs", "subscriptions"} {
		var exists bool
		if err := db.Get(&exists, `SELECT to_regclass($1) IS NOT NULL`, table); err != nil || !exists {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
}
