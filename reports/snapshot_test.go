package reports

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/internal/pgtest"
)

func snapshotsOn(t *testing.T, db *sqlx.DB, day time.Time) map[string]Snapshot {
	t.Helper()
	rows, err := Snapshots(context.Background(), db, day, day)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Snapshot{}
	for _, s := range rows {
		if _, dup := out[s.Currency]; dup {
			t.Fatalf("two snapshot rows for %s on %s", s.Currency, day.Format("2006-01-02"))
		}
		out[s.Currency] = s
	}
	return out
}

func checkSnapshotMatches(t *testing.T, s Snapshot, c CurrencyAging) {
	t.Helper()
	got := []int64{s.Customers, s.CurrentCount, s.CurrentMinor, s.Days1to30Count, s.Days1to30Minor, s.Days31to60Count,
		s.Days31to60Minor, s.Days61to90Count, s.Days61to90Minor, s.Days90PlusCount, s.Days90PlusMinor, s.TotalCount,
		s.TotalMinor, s.Over60Minor, s.SuspendedMinor, s.AtRiskMinor, s.Sales90dMinor}
	b := c.Buckets
	want := []int64{c.Customers, b[0].Count, b[0].Minor, b[1].Count, b[1].Minor, b[2].Count, b[2].Minor, b[3].Count,
		b[3].Minor, b[4].Count, b[4].Minor, c.Total.Count, c.Total.Minor, c.AtRisk.Over60.Minor,
		c.AtRisk.Suspended.Minor, c.AtRisk.Total.Minor, c.Sales90dMinor}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s snapshot field %d = %d, want %d (%+v)", c.Currency, i, got[i], want[i], s)
		}
	}
	if (s.DSODays == nil) != (c.DSODays == nil) || (s.DSODays != nil && *s.DSODays != *c.DSODays) {
		t.Errorf("%s snapshot DSO %v, want %v", c.Currency, fmtDSO(s.DSODays), fmtDSO(c.DSODays))
	}
}

func TestSnapshotIdempotent(t *testing.T) {
	_, db := pgtest.New(t)
	smallData(t, db)
	ctx := context.Background()
	day := SnapshotDate(testAsOf)

	r1, err := SaveSnapshot(ctx, db, testAsOf)
	if err != nil {
		t.Fatal(err)
	}
	rows := snapshotsOn(t, db, day)
	if len(rows) != 3 {
		t.Fatalf("snapshot rows %v", rows)
	}
	for _, c := range r1.Currencies {
		checkSnapshotMatches(t, rows[c.Currency], c)
		if !rows[c.Currency].AgedAt.Equal(testAsOf) || rows[c.Currency].AsOf.Format("2006-01-02") != "2025-03-15" {
			t.Errorf("%s snapshot dated %v aged at %v", c.Currency, rows[c.Currency].AsOf, rows[c.Currency].AgedAt)
		}
	}

	// The same run again (an activity retry) changes no figures.
	if _, err := SaveSnapshot(ctx, db, testAsOf); err != nil {
		t.Fatal(err)
	}
	again := snapshotsOn(t, db, day)
	for _, c := range r1.Currencies {
		checkSnapshotMatches(t, again[c.Currency], c)
	}

	// A later run the same day, after a payment and the EUR invoice being
	// written off, replaces the day's rows: USD changes, EUR goes.
	if _, err := db.Exec(`UPDATE invoices SET paid_minor = amount_minor, status = 'paid' WHERE invoice_id = 'INV-acme-1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE invoices SET status = 'written_off' WHERE invoice_id = 'INV-old-1'`); err != nil {
		t.Fatal(err)
	}
	later := testAsOf.Add(5 * time.Hour)
	r2, err := SaveSnapshot(ctx, db, later)
	if err != nil {
		t.Fatal(err)
	}
	rows = snapshotsOn(t, db, day)
	if len(rows) != 2 || len(r2.Currencies) != 2 {
		t.Fatalf("after the replacing run: rows %v, report %v", rows, currencyCodes(r2))
	}
	for _, c := range r2.Currencies {
		checkSnapshotMatches(t, rows[c.Currency], c)
		if !rows[c.Currency].AgedAt.Equal(later) {
			t.Errorf("%s aged at %v", c.Currency, rows[c.Currency].AgedAt)
		}
	}
	if rows["USD"].TotalMinor != 15000-5000+5000 {
		t.Errorf("USD after payment %+v", rows["USD"])
	}

	// Another day gets rows of its own and leaves this one alone.
	next := testAsOf.Add(Day)
	if _, err := SaveSnapshot(ctx, db, next); err != nil {
		t.Fatal(err)
	}
	if n := len(snapshotsOn(t, db, SnapshotDate(next))); n != 2 {
		t.Errorf("next day has %d rows", n)
	}
	if n := len(snapshotsOn(t, db, day)); n != 2 {
		t.Errorf("first day has %d rows after the next day's run", n)
	}
	var total int
	if err := db.Get(&total, `SELECT count(*) FROM aging_snapshots`); err != nil || total != 4 {
		t.Errorf("aging_snapshots has %d rows, %v", total, err)
	}
}

func TestSnapshotConcurrentRuns(t *testing.T) {
	_, db := pgtest.New(t)
	smallData(t, db)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	start := make(chan struct{})
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = SaveSnapshot(ctx, db, testAsOf.Add(time.Duration(i)*time.Minute))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	rows := snapshotsOn(t, db, SnapshotDate(testAsOf))
	if len(rows) != 3 {
		t.Fatalf("rows %v", rows)
	}
	// All rows come from the same run.
	var agedAt time.Time
	for _, s := range rows {
		if agedAt.IsZero() {
			agedAt = s.AgedAt
		} else if !s.AgedAt.Equal(agedAt) {
			t.Errorf("rows from different runs: %v and %v", agedAt, s.AgedAt)
		}
	}
}
