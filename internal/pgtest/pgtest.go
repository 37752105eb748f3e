// Package pgtest gives each test a PostgreSQL database of its own, migrated
// to the latest schema and dropped when the test ends, so that test runs and
// packages never see each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // PostgreSQL driver

	"github.com/example/dunning/schema"
)

// DefaultAdminURL is the local server that `make test` makes sure of.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server to create test databases on: DUNNING_TEST_ADMIN_URL,
// else the local default.
func AdminURL() string {
	if u := os.Getenv("DUNNING_TEST_ADMIN_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// New creates a fresh, migrated database and returns its URL and a handle.
func New(t testing.TB) (string, *sqlx.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := sqlx.Open("postgres", AdminURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("pgtest: PostgreSQL is not reachable at %s (run `make test`, which starts it, or set DUNNING_TEST_ADMIN_URL): %v", AdminURL(), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "dunning_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sqlx.Open("postgres", AdminURL())
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	if _, err := schema.Migrate(ctx, db.DB); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dbURL, db
}
