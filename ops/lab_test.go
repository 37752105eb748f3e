package ops

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/lab"
	"github.com/example/dunning/policy"
)

// The simulation reads PostgreSQL: a database cut (reset or silent)
// answers unavailable within the ops timeout, unknown and malformed
// customers are told apart, and the read works again after the cut.
func TestSimulateDatabaseCut(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	ctx := context.Background()
	now := time.Now().UTC()
	{
		cfg := unreachable
		cfg.DatabaseURL = dbURL
		o := New(Options{Config: cfg})
		st, err := o.Store(ctx)
		if err != nil {
			t.Fatal(err)
		}
		app := application()
		app.Normalize()
		acct := account.New(app, mustStandard(t), "low", now.Add(-time.Hour))
		if _, err := st.Record(ctx, activities.CustomerSnapshot(acct, now).Row(), acct.Open(now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		o.Close()
	}
	proxied, proxy := pgtest.Behind(t, dbURL)
	cfg := unreachable
	cfg.DatabaseURL = proxied
	o := New(Options{Config: cfg, Timeout: 2 * time.Second})
	defer o.Close()
	strict, err := o.Policy("strict.v1")
	if err != nil {
		t.Fatal(err)
	}
	q := lab.Query{Since: now.Add(-24 * time.Hour), AsOf: now}
	if rep, err := o.Simulate(ctx, strict, q); err != nil || len(rep.Customers) != 1 {
		t.Fatalf("before the cut: %+v %v", rep, err)
	}
	if _, err := o.Simulate(ctx, strict, lab.Query{CustomerIDs: []string{"ghost"}, Since: q.Since, AsOf: now}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown customer: %v", err)
	}
	var inv *InvalidError
	if _, err := o.Simulate(ctx, strict, lab.Query{CustomerIDs: []string{"a b"}, Since: q.Since, AsOf: now}); !errors.As(err, &inv) {
		t.Errorf("malformed customer: %v", err)
	}
	if _, err := o.Policy("nope.v1"); !errors.As(err, &inv) {
		t.Errorf("unknown policy: %v", err)
	}
	for _, mode := range []faults.CutMode{faults.Reset, faults.Blackhole} {
		proxy.Cut(mode)
		start := time.Now()
		_, err := o.Simulate(ctx, strict, q)
		var un *UnavailableError
		if !errors.As(err, &un) {
			t.Errorf("%s: %v, want unavailable", mode, err)
		}
		if waited := time.Since(start); waited > 15*time.Second {
			t.Errorf("%s: waited %s (the ops timeout is 2s)", mode, waited)
		}
		proxy.Restore()
		if rep, err := o.Simulate(ctx, strict, q); err != nil || len(rep.Customers) != 1 {
			t.Errorf("after the %s cut: %+v %v", mode, rep, err)
		}
	}
}

func mustStandard(t *testing.T) policy.Policy {
	t.Helper()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Get("standard.v1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
