package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/store"
)

// openCounted opens the store's pool on dbURL through a counting connector.
func openCounted(t testing.TB, dbURL string, p config.DB) (*store.Store, *counting) {
	t.Helper()
	c, err := store.NewConnector(dbURL, p)
	if err != nil {
		t.Fatal(err)
	}
	cc := &counting{Connector: c}
	db, err := store.OpenConnector(context.Background(), cc, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return store.New(db), cc
}

// workload is one round of what an activity does: record a customer's
// figures, write and finish an email, read the customer back.
func workload(ctx context.Context, st *store.Store, worker, round int) error {
	id := fmt.Sprintf("c%d", worker)
	now := time.Now().UTC().Truncate(time.Microsecond)
	row := store.Customer{CustomerID: id, Name: "Acme", Email: "billing@acme.test", Phone: "+14155550100", Country: "US",
		Currency: "USD", Locale: "en", Policy: "standard.v3", MonthlyFeeMinor: 10000, InstrumentType: "bank_transfer",
		SignupIP: "203.0.113.7", RiskTier: "low", Status: "active", Access: "limited", DunningStage: "none",
		CreatedAt: now, UpdatedAt: now, EventSeq: int64(round)}
	if _, err := st.Record(ctx, row, nil); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	key := fmt.Sprintf("%s:notice:%d", id, round)
	if _, err := st.ClaimOutbox(ctx, store.OutboxMessage{MessageKey: key, CustomerID: sql.NullString{String: id, Valid: true},
		Stage: "due", Template: "due", ToEmail: "billing@acme.test", Subject: "Invoice due", BodyText: "text", BodyHTML: "<p>html</p>"}); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if err := st.FinishOutbox(ctx, key, store.OutboxSent, "sg-"+key, ""); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	if _, err := st.CustomerByID(ctx, id); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// run runs rounds of the workload on workers goroutines at once.
func run(t testing.TB, st *store.Store, workers, rounds, from int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := from; r < from+rounds; r++ {
				if err := workload(context.Background(), st, w, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// At steady state the pool opens no connection: once it holds its
// MaxConns, concurrent activities (more of them than connections) reuse
// them. database/sql's default of two idle connections closed the rest
// after each use and reopened them.
func TestPoolOpensNoConnectionAtSteadyState(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	p := config.DB{MaxConns: 6}
	st, cc := openCounted(t, dbURL, p)
	run(t, st, 2*p.MaxConns, 3, 0) // warm-up: every connection opened
	if got := st.DB().Stats().OpenConnections; got != p.MaxConns {
		t.Fatalf("after warm-up the pool holds %d connections, want %d", got, p.MaxConns)
	}
	before := cc.stats()
	run(t, st, 2*p.MaxConns, 20, 3)
	d := cc.stats().minus(before)
	if d.conns != 0 {
		t.Errorf("%d connections opened for %d operations at steady state, want none", d.conns, d.statements)
	}
	if d.statements == 0 {
		t.Fatal("no statements counted: the counter is not in the path")
	}
	if s := st.DB().Stats(); s.MaxIdleClosed != 0 || s.MaxIdleTimeClosed != 0 || s.MaxLifetimeClosed != 0 || s.OpenConnections > p.MaxConns {
		t.Errorf("pool churned: %+v", s)
	}
}

// The same workload on the old settings (20 open, database/sql's 2 idle)
// does open connections at steady state: the test above can fail.
func TestTwoIdleConnectionsChurn(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	p := config.DB{MaxConns: 6}
	st, cc := openCounted(t, dbURL, p)
	st.DB().SetMaxIdleConns(2)
	run(t, st, 2*p.MaxConns, 3, 0)
	before := cc.stats()
	run(t, st, 2*p.MaxConns, 20, 3)
	if d := cc.stats().minus(before); d.conns == 0 {
		t.Errorf("no connection opened with 2 idle of %d: the workload does not load the pool", p.MaxConns)
	}
}

// A silent server (the proxy accepts and never answers) fails a store call
// within the I/O timeout, whatever the caller's context, and the stuck
// connection is closed rather than pooled; once the network heals the pool
// works again.
func TestSilentServerFailsTheCallAndFreesTheConnection(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	viaProxy, proxy := pgtest.Behind(t, dbURL)
	p := config.DB{MaxConns: 2, StatementTimeout: time.Second, IOTimeout: 2 * time.Second}
	st, err := store.Open(context.Background(), viaProxy, p)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CustomerByID(context.Background(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before the cut: %v", err)
	}
	proxy.Cut(faults.Blackhole)
	// An activity's context (a deadline well before the I/O timeout), and
	// one that never ends.
	activityCtx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"activity deadline", activityCtx}, {"no deadline", context.Background()}} {
		name, ctx := c.name, c.ctx
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := st.CustomerByID(ctx, "nobody")
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: a silent server answered %v", name, err)
			}
			t.Logf("%s: %v after %s", name, err, time.Since(start).Round(time.Millisecond))
		case <-time.After(10 * p.IOTimeout):
			t.Fatalf("%s: the call still waits on a silent server after %s", name, 10*p.IOTimeout)
		}
		if s := st.DB().Stats(); s.InUse != 0 {
			t.Errorf("%s: %d connections still in use after the call returned", name, s.InUse)
		}
	}
	if s := st.DB().Stats(); s.OpenConnections != 0 {
		t.Errorf("%d connections kept after the silent server's calls failed, want none pooled", s.OpenConnections)
	}
	proxy.Restore()
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := st.CustomerByID(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after the network healed: %v", err)
	}
}

// A statement that runs longer than the statement timeout is ended by the
// server with its own error, before the driver's I/O timeout gives up on
// the connection, which stays usable.
func TestSlowStatementIsEndedByTheServer(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	p := config.DB{MaxConns: 1, StatementTimeout: time.Second, IOTimeout: 5 * time.Second}
	st, cc := openCounted(t, dbURL, p)
	_, err := st.DB().ExecContext(context.Background(), "SELECT pg_sleep(3)")
	if err == nil || !containsAll(err.Error(), "statement timeout") {
		t.Fatalf("slow statement: %v, want the server's statement timeout", err)
	}
	opened := cc.stats().conns
	if _, err := st.DB().ExecContext(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if cc.stats().conns != opened {
		t.Error("the connection was dropped after the server ended the statement")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// BenchmarkPoolChurn runs the workload on 2×8 goroutines against a pool of
// 8 (the old settings: database/sql's 2 idle; the new: idle = open) and
// reports connections opened per store operation after a warm-up.
func BenchmarkPoolChurn(b *testing.B) {
	for _, idle := range []int{2, 8} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			dbURL, _ := pgtest.New(b)
			p := config.DB{MaxConns: 8}
			st, cc := openCounted(b, dbURL, p)
			st.DB().SetMaxIdleConns(idle)
			run(b, st, 2*p.MaxConns, 2, 0)
			before := cc.stats()
			b.ResetTimer()
			rounds := max(1, b.N/(2*p.MaxConns))
			run(b, st, 2*p.MaxConns, rounds, 2)
			b.StopTimer()
			d := cc.stats().minus(before)
			b.ReportMetric(float64(d.conns)/float64(d.statements), "conns/stmt")
			b.ReportMetric(float64(d.conns)/float64(rounds*2*p.MaxConns), "conns/round")
		})
	}
}

// Migrations run over a connection of their own, without the pool's
// statement bound: a statement longer than the configured
// statement_timeout (an index build) still completes there.
func TestMigrationConnectionIsNotBoundByThePoolTimeouts(t *testing.T) {
	url, _ := pgtest.New(t)
	if _, err := store.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenDB(context.Background(), url, config.DB{MaxConns: 1, StatementTimeout: 200 * time.Millisecond, IOTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`SELECT pg_sleep(0.5)`); err == nil {
		t.Fatal("the pool's statement_timeout did not end a 0.5 s statement")
	}
	mig, err := store.OpenDB(context.Background(), url, store.MigrationPool)
	if err != nil {
		t.Fatal(err)
	}
	defer mig.Close()
	var timeout string
	if err := mig.Get(&timeout, `SHOW statement_timeout`); err != nil {
		t.Fatal(err)
	}
	if _, err := mig.Exec(`SELECT pg_sleep(0.5)`); err != nil {
		t.Errorf("a 0.5 s statement on the migration pool: %v", err)
	}
	if timeout != "12h" {
		t.Errorf("migration statement_timeout = %q, want 12h", timeout)
	}
}
