package store_test

import (
	"context"
	"database/sql/driver"
	"sync/atomic"
)

// counting wraps the store's connector and counts what database/sql asks
// of the driver: connections opened, statements sent and transactions
// (an explicit BEGIN, or a statement outside one, which PostgreSQL runs as
// its own transaction).
type counting struct {
	driver.Connector
	conns, statements, transactions atomic.Int64
}

type countStats struct{ conns, statements, transactions int64 }

func (c *counting) stats() countStats {
	return countStats{c.conns.Load(), c.statements.Load(), c.transactions.Load()}
}

func (s countStats) minus(o countStats) countStats {
	return countStats{s.conns - o.conns, s.statements - o.statements, s.transactions - o.transactions}
}

func (c *counting) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	c.conns.Add(1)
	return &countConn{Conn: cn, c: c}, nil
}

// countConn passes every call to lib/pq's connection, which implements
// each of these interfaces (so database/sql takes the same paths as
// without the wrapper).
type countConn struct {
	driver.Conn
	c    *counting
	inTx bool
}

func (cn *countConn) statement() {
	cn.c.statements.Add(1)
	if !cn.inTx {
		cn.c.transactions.Add(1)
	}
}

func (cn *countConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	cn.statement()
	return cn.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (cn *countConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	cn.statement()
	return cn.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (cn *countConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := cn.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countStmt{Stmt: st, cn: cn}, nil
}

func (cn *countConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := cn.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	cn.c.transactions.Add(1)
	cn.inTx = true
	return &countTx{Tx: tx, cn: cn}, nil
}

func (cn *countConn) Ping(ctx context.Context) error { return cn.Conn.(driver.Pinger).Ping(ctx) }

func (cn *countConn) ResetSession(ctx context.Context) error {
	return cn.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (cn *countConn) IsValid() bool { return cn.Conn.(driver.Validator).IsValid() }

func (cn *countConn) CheckNamedValue(nv *driver.NamedValue) error {
	return cn.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type countTx struct {
	driver.Tx
	cn *countConn
}

func (t *countTx) Commit() error   { t.cn.inTx = false; return t.Tx.Commit() }
func (t *countTx) Rollback() error { t.cn.inTx = false; return t.Tx.Rollback() }

type countStmt struct {
	driver.Stmt
	cn *countConn
}

func (s *countStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.cn.statement()
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *countStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.cn.statement()
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// Compile-time checks that the wrapper offers what lib/pq offers.
var (
	_ driver.ExecerContext      = (*countConn)(nil)
	_ driver.QueryerContext     = (*countConn)(nil)
	_ driver.ConnPrepareContext = (*countConn)(nil)
	_ driver.ConnBeginTx        = (*countConn)(nil)
	_ driver.Pinger             = (*countConn)(nil)
	_ driver.SessionResetter    = (*countConn)(nil)
	_ driver.Validator          = (*countConn)(nil)
	_ driver.NamedValueChecker  = (*countConn)(nil)
)
