package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/config"
	"github.com/example/dunning/schema"
)

// Pool lifetimes. Connections are reused round-robin (database/sql hands
// out the longest-idle one), so at any steady load every pooled connection
// is used well within the idle limit and none is closed; the lifetime
// closes each connection once an hour, so that a fail-over or a rotated
// DNS name is picked up without a restart.
const (
	connMaxIdleTime = 10 * time.Minute
	connMaxLifetime = time.Hour
	// connectTimeout bounds dialling and the startup handshake when the
	// URL sets no connect_timeout, lib/pq's cancel request included (it
	// dials through the same path).
	connectTimeout = 10 * time.Second
	// keepAlive probes idle connections, so that a peer gone silent is
	// noticed by the kernel while no statement is running.
	keepAlive = 15 * time.Second
)

// Open opens the pool (see OpenDB) and wraps it.
func Open(ctx context.Context, url string, p config.DB) (*Store, error) {
	db, err := OpenDB(ctx, url, p)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// OpenDB is the one way the system opens a PostgreSQL pool: lib/pq through
// NewConnector, whose connections bound every read and write, with
// p.MaxConns open and idle. It checks the connection, so that a missing
// database is reported at start with one clear line rather than at the
// first query.
func OpenDB(ctx context.Context, dsn string, p config.DB) (*sqlx.DB, error) {
	c, err := NewConnector(dsn, p)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", config.Redact(dsn), err)
	}
	db, err := OpenConnector(ctx, c, p)
	if err != nil {
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %w", config.Redact(dsn), err)
	}
	return db, nil
}

// OpenConnector makes a pool of p.MaxConns connections from c and checks
// that it answers. It is OpenDB's second half, for callers that wrap the
// connector (tests count what passes through it).
func OpenConnector(ctx context.Context, c driver.Connector, p config.DB) (*sqlx.DB, error) {
	p = withDefaults(p)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(p.MaxConns)
	db.SetMaxIdleConns(p.MaxConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	db.SetConnMaxLifetime(connMaxLifetime)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return sqlx.NewDb(db, "postgres"), nil
}

// NewConnector is lib/pq's connector for dsn with the session's
// statement_timeout set from p (unless the DSN sets one) and a Dialer that
// bounds every read and write by p.IOTimeout.
//
// lib/pq honours a cancelled context only by sending the server a cancel
// request on a new connection and then reading its own connection until
// the server answers: with the server silent, both wait until TCP gives
// up, many minutes later, holding the caller and a pooled connection. The
// I/O deadline ends that wait; lib/pq then marks the connection bad
// (a *net.OpError) and database/sql closes it instead of pooling it.
func NewConnector(dsn string, p config.DB) (driver.Connector, error) {
	p = withDefaults(p)
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	if _, ok := cfg.Runtime["statement_timeout"]; !ok {
		cfg.Runtime["statement_timeout"] = fmt.Sprint(p.StatementTimeout.Milliseconds())
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.Dialer(Dialer{IOTimeout: p.IOTimeout})
	return c, nil
}

// withDefaults fills the bounds a caller left zero.
func withDefaults(p config.DB) config.DB {
	d := config.DefaultDB()
	if p.MaxConns > 0 {
		d.MaxConns = p.MaxConns
	}
	if p.StatementTimeout > 0 {
		d.StatementTimeout = p.StatementTimeout
	}
	if p.IOTimeout > 0 {
		d.IOTimeout = p.IOTimeout
	}
	return d
}

// Dialer is lib/pq's dialer (pq.Dialer and pq.DialerContext): TCP with
// keepalive, dialled under the caller's context, and connections whose
// every Read and Write must finish within IOTimeout.
type Dialer struct {
	IOTimeout time.Duration
}

// Dial dials without a deadline of its own.
func (d Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialTimeout dials within timeout.
func (d Dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// DialContext dials under ctx, which lib/pq gives as the caller's context
// bounded by connect_timeout.
func (d Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	nd := net.Dialer{KeepAlive: keepAlive}
	c, err := nd.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if d.IOTimeout <= 0 {
		return c, nil
	}
	return &deadlineConn{Conn: c, timeout: d.IOTimeout}, nil
}

// deadlineConn sets a fresh deadline before every Read and Write. A
// deadline lib/pq sets itself (connect_timeout during the handshake) is
// kept when it is sooner, until lib/pq clears it.
type deadlineConn struct {
	net.Conn
	timeout time.Duration

	mu    sync.Mutex
	fixed time.Time // lib/pq's own deadline, zero when none
}

func (c *deadlineConn) deadline() time.Time {
	d := time.Now().Add(c.timeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fixed.IsZero() && c.fixed.Before(d) {
		return c.fixed
	}
	return d
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if err := c.SetReadDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.SetWriteDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// SetDeadline records lib/pq's deadline; the next Read or Write applies it.
func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.fixed = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// migrationTimeout bounds one migration statement. Migrations are the one
// place a single statement (an index build on a large table) may rightly
// run for many minutes, longer than the pool's statement and I/O bounds.
const migrationTimeout = 12 * time.Hour

// MigrationPool is the pool migrations run over: one connection, bounded
// by migrationTimeout instead of the pool's settings.
var MigrationPool = config.DB{MaxConns: 1, StatementTimeout: migrationTimeout, IOTimeout: migrationTimeout + time.Minute}

// Migrate applies the schema migrations over a connection of their own,
// MigrationPool, instead of the configured pool.
func Migrate(ctx context.Context, dsn string) (int64, error) {
	db, err := OpenDB(ctx, dsn, MigrationPool)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return schema.Migrate(ctx, db.DB)
}
