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

	"github.com/example/dunning/internal/faults"
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

// New creates a fresh, migrated database for the test and returns its URL
// and a handle. The database is dropped when the test ends.
func New(t testing.TB) (string, *sqlx.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dbURL, drop, err := Create(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		drop()
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		drop()
	})
	return dbURL, db
}

// Create makes a fresh, migrated database and returns its URL and a function
// that drops it. It is for TestMain, where there is no testing.T.
func Create(ctx context.Context) (string, func(), error) {
	admin, err := sqlx.Open("postgres", AdminURL())
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		return "", nil, fmt.Errorf("PostgreSQL is not reachable at %s (run `make test`, which starts it, or set DUNNING_TEST_ADMIN_URL): %w", AdminURL(), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "dunning_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if admin, err := sqlx.Open("postgres", AdminURL()); err == nil {
			_, _ = admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
			_ = admin.Close()
		}
	}
	u, err := url.Parse(AdminURL())
	if err != nil {
		drop()
		return "", nil, err
	}
	u.Path = "/" + name
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		drop()
		return "", nil, err
	}
	defer db.Close()
	if _, err := schema.Migrate(ctx, db.DB); err != nil {
		drop()
		return "", nil, err
	}
	return u.String(), drop, nil
}

// Behind returns dbURL as reached through a fault-injecting TCP proxy
// that the test owns (closed when it ends), and the proxy: cut it to take
// the database away from whoever connects through the URL.
func Behind(t testing.TB, dbURL string) (string, *faults.Proxy) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	proxy, err := faults.NewProxy(u.Host)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	u.Host = proxy.Addr()
	return u.String(), proxy
}
