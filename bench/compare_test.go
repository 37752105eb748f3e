package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// The bench re-executes its own binary as a worker; under go test that is
// the test binary, so TestMain plays the worker role too.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		if err := workerMain(); err != nil {
			fmt.Fprintln(os.Stderr, "bench worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCompareSmoke runs the compare with two customers a side on a real
// dev server and database (about 40 s; the months scenario, 70 s more, is
// left out). It checks what the bench found, not how fast: every customer
// onboarded and invoiced, every invoice done after it fell due, memory
// read from both workers with every customer cached, and the report carrying every row.
func TestCompareSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server and two workers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sz := sizes{customers: 2, cache: 100, conc: 2, cycle: 10 * time.Second}
	e, err := setupEnv(ctx, sz.cycle)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	var rs []PhaseResult
	for _, k := range []Kind{KindSkeleton, KindProduct} {
		r, err := e.phase(ctx, k, sz, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if len(r.Lags) != sz.customers {
			t.Errorf("%s: %d invoices, want %d", k, len(r.Lags), sz.customers)
		}
		for _, l := range r.Lags {
			if l < 0 {
				t.Errorf("%s: invoice done %s before it fell due: the wrong timer was taken", k, l)
			}
		}
		if r.Onboard <= 0 || r.Base.RSSBytes == 0 || r.Loaded.HeapBytes == 0 {
			t.Errorf("%s: onboard %s, memory %+v %+v", k, r.Onboard, r.Base, r.Loaded)
		}
		// Memory per cached customer means every customer cached: each
		// cached workflow keeps at least its main coroutine, a goroutine.
		if got := r.Loaded.Goroutines - r.Base.Goroutines; got < sz.customers {
			t.Errorf("%s: %d more goroutines for %d customers: not all cached when memory was read", k, got, sz.customers)
		}
		if r.Overlap {
			t.Errorf("%s: an invoice fell due before the last payment", k)
		}
		rs = append(rs, r)
	}
	// The skeleton touches no database: a session counted for it would be
	// the bench's own, or another database's.
	if rs[0].SessOnboard != 0 || rs[0].SessBurst != 0 {
		t.Errorf("skeleton opened %d+%d PostgreSQL sessions", rs[0].SessOnboard, rs[0].SessBurst)
	}
	rows := compareRows(rs[1], rs[0])
	if math.IsNaN(rows[0].Ratio()) || rows[0].Ratio() <= 0 {
		t.Errorf("throughput ratio %v", rows[0].Ratio())
	}
	report := compareReport(sz, rs[1], rs[0], nil)
	for _, want := range []string{"onboarding throughput", "burst lag p99", "RSS per 1,000 cached", "PG connections per burst invoice", `{"bench":"compare"`} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}
