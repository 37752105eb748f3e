// Package schema holds the PostgreSQL migrations, embedded in the binary and
// applied with goose. A PostgreSQL advisory lock serialises concurrent
// migrators, so two workers starting at once, or a second run, are safe.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every pending migration and returns the schema version.
func Migrate(ctx context.Context, db *sql.DB) (int64, error) {
	p, err := provider(db)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// Latest is the version the embedded migrations lead to.
func Latest() (int64, error) {
	sources, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(sources) == 0 {
		return 0, fmt.Errorf("no embedded migrations: %v", err)
	}
	var v int64
	if _, err := fmt.Sscanf(sources[len(sources)-1], "migrations/%05d_", &v); err != nil {
		return 0, err
	}
	return v, nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	// Out-of-order: migrations written in parallel branches may land with a
	// lower number than one already applied; each applies once either way.
	return goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker), goose.WithTableName("schema_migrations"), goose.WithAllowOutofOrder(true))
}
