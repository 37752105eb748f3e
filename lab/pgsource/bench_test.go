package pgsource_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/lab"
	"github.com/example/dunning/lab/pgsource"
	"github.com/example/dunning/store"
)

// BenchmarkSimulate measures a simulation of strict.v1 over recorded
// customers (the scripts of customers(), repeated under new IDs, 200 days
// each): the read from PostgreSQL and the re-runs together.
//
//	go test ./lab/pgsource -run '^$' -bench Simulate -benchtime 3x
func BenchmarkSimulate(b *testing.B) {
	const copies = 30 // × 7 scripts = 210 customers
	_, db := pgtest.New(b)
	standard, strict := registry(b)
	acts := &activities.Activities{Store: store.New(db)}
	n := 0
	for i := range copies {
		for _, c := range customers() {
			c.id = fmt.Sprintf("%s-%03d", c.id, i)
			drive(b, c, standard, func(a *account.Account, now time.Time, ev []account.Event) {
				if _, err := acts.Record(context.Background(), activities.RecordInput{Customer: activities.CustomerSnapshot(a, now), Events: ev}); err != nil {
					b.Fatal(err)
				}
			})
			n++
		}
	}
	src := pgsource.Source{DB: db}
	b.ResetTimer()
	for range b.N {
		rep, err := lab.Simulate(context.Background(), src, strict, lab.Query{Since: t0.Add(-day), AsOf: asOf})
		if err != nil || len(rep.Customers) != n {
			b.Fatalf("%d customers, %v", len(rep.Customers), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/customer")
}
