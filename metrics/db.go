package metrics

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/config"
	"github.com/example/dunning/store"
)

// dbSettings are the metrics connections' session settings. JIT compiling
// the recovery statement costs more than running it (its cost estimate is
// far above jit_above_cost); the name shows who is reading in
// pg_stat_activity.
var dbSettings = map[string]string{"jit": "off", "application_name": "dunning-metrics"}

// maxConns bounds the metrics pool: one read runs at a time, so a hung
// read holds one connection and never the worker's.
const maxConns = 2

// OpenDB opens the collector's own small pool on the worker's database,
// with dbSettings and the worker's driver bounds (p's timeouts; its size is
// maxConns), and checks that it answers.
func OpenDB(ctx context.Context, dsn string, p config.DB) (*sqlx.DB, error) {
	withSettings, err := addSettings(dsn)
	if err != nil {
		return nil, err
	}
	p.MaxConns = maxConns
	db, err := store.OpenDB(ctx, withSettings, p)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return db, nil
}

// addSettings adds dbSettings to a connection string, URL or key=value,
// as run-time parameters (lib/pq sends parameters it does not know itself
// to the server); settings the string makes itself are kept.
func addSettings(dsn string) (string, error) {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		for k, v := range dbSettings {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if strings.Contains(dsn, "://") {
		return "", fmt.Errorf("metrics: %s is not a postgres:// URL", config.Redact(dsn))
	}
	out := dsn
	for k, v := range dbSettings {
		if !strings.Contains(" "+dsn, " "+k+"=") {
			out += " " + k + "=" + v
		}
	}
	return strings.TrimSpace(out), nil
}
