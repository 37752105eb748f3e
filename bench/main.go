// Command bench measures the product against a same-shape skeleton on one
// Temporal dev server and one PostgreSQL database (issue 14):
//
//	go run ./bench compare [-customers 300] [-cycle 40s] [-cache 10000] [-months=true]
//	go run ./bench scale -n 5000
//
// compare runs the skeleton's worker, then the product's, each in a
// process of its own (the bench re-executes itself as "bench worker") with
// the same poller counts and task-queue settings (service.WorkerOptions),
// and prints onboarding throughput, the billing burst's lag, worker memory
// per 1,000 cached customers, PostgreSQL connections opened, and the
// product's history events per customer-month against the justified
// minimum. scale runs the product alone with many customers and reports
// memory, the task queue's backlog and how long the burst takes to drain.
// docs/benchmarks.md says what each figure means.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench compare|scale [flags] (bench <command> -h for the flags)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "compare":
		err = compareMain(os.Args[2:])
	case "scale":
		err = scaleMain(os.Args[2:])
	case "worker":
		err = workerMain()
	default:
		err = fmt.Errorf("unknown command %q: compare or scale", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// sizes are the flags compare and scale share.
type sizes struct {
	customers, cache, conc int
	cycle                  time.Duration
	profile                string // directory for the workers' profiles; empty: none
}

func (s *sizes) register(fs *flag.FlagSet, customers int, cycle time.Duration) {
	fs.IntVar(&s.customers, "customers", customers, "customers to onboard; all of them pay and form the billing burst")
	fs.IntVar(&s.cache, "cache", 0, "sticky workflow cache size (0: customers + 1000, so that all stay cached)")
	fs.IntVar(&s.conc, "concurrency", 16, "client calls in flight at once when starting and paying customers")
	fs.StringVar(&s.profile, "profile", "", "directory to save each worker's CPU profile (first 10 s of onboarding) and heap profile (all customers cached) in")
	fs.DurationVar(&s.cycle, "cycle", cycle, "billing interval of the quiet policy: must outlast paying every prepayment, so that the invoices fall due after the last payment")
}

func (s *sizes) check() error {
	if s.customers < 1 || s.conc < 1 || s.cache < 0 {
		return fmt.Errorf("-customers and -concurrency must be positive and -cache not negative")
	}
	if s.cache == 0 {
		s.cache = s.customers + 1000
	}
	if s.profile != "" {
		if err := os.MkdirAll(s.profile, 0o755); err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}
	if s.cache < s.customers {
		return fmt.Errorf("-cache %d is smaller than -customers %d: memory per cached customer needs them all cached", s.cache, s.customers)
	}
	return nil
}

func compareMain(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	var sz sizes
	sz.register(fs, 300, 40*time.Second)
	months := fs.Bool("months", true, "also measure the product's history events per customer-month (about 70 s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, log, e, done, err := begin(sz)
	if err != nil {
		return err
	}
	defer done()
	var phases []PhaseResult
	for _, k := range []Kind{KindSkeleton, KindProduct} {
		r, err := e.phase(ctx, k, sz, log)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		phases = append(phases, r)
	}
	var ms []MonthResult
	if *months {
		if ms, err = e.months(ctx, log); err != nil {
			return fmt.Errorf("months: %w", err)
		}
	}
	fmt.Print(compareReport(sz, phases[1], phases[0], ms))
	return nil
}

func compareRows(p, s PhaseResult) []Row {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mb := func(v float64) float64 { return v / (1 << 20) }
	perN := func(v int64, n int) float64 { return float64(v) / float64(n) }
	return []Row{
		{"onboarding throughput", "customers/s", p.OnboardRate(), s.OnboardRate()},
		{"burst lag p50", "ms", ms(Percentile(p.Lags, 50)), ms(Percentile(s.Lags, 50))},
		{"burst lag p99", "ms", ms(Percentile(p.Lags, 99)), ms(Percentile(s.Lags, 99))},
		{"burst drain after last due", "ms", ms(p.Drain), ms(s.Drain)},
		{"heap per 1,000 cached", "MB", mb(PerThousand(p.Base.HeapBytes, p.Loaded.HeapBytes, p.N)), mb(PerThousand(s.Base.HeapBytes, s.Loaded.HeapBytes, s.N))},
		{"RSS per 1,000 cached", "MB", mb(PerThousand(p.Base.RSSBytes, p.Loaded.RSSBytes, p.N)), mb(PerThousand(s.Base.RSSBytes, s.Loaded.RSSBytes, s.N))},
		{"stacks per 1,000 cached", "MB", mb(PerThousand(p.Base.StackBytes, p.Loaded.StackBytes, p.N)), mb(PerThousand(s.Base.StackBytes, s.Loaded.StackBytes, s.N))},
		{"goroutines per cached customer", "goroutines", perN(int64(p.Loaded.Goroutines-p.Base.Goroutines), p.N), perN(int64(s.Loaded.Goroutines-s.Base.Goroutines), s.N)},
		{"PG connections per onboarding", "new sessions", perN(p.SessOnboard, p.N), math.NaN()},
		{"PG connections per burst invoice", "new sessions", perN(p.SessBurst, p.N), math.NaN()},
	}
}

func monthRows(ms []MonthResult) []Row {
	var rows []Row
	for _, m := range ms {
		rows = append(rows, Row{m.Scenario + " vs justified minimum", "events", m.Events(), m.Minimum()})
	}
	for _, m := range ms {
		rows = append(rows, Row{m.Scenario + ", billable actions", "actions", m.ActionsPerMonth(), math.NaN()})
	}
	return rows
}

func compareReport(sz sizes, p, s PhaseResult, ms []MonthResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\ncompare: %d customers each, cycle %s, cache %d, skeleton first then product, pollers as service.WorkerOptions\n", sz.customers, sz.cycle, sz.cache)
	for _, r := range []PhaseResult{p, s} {
		fmt.Fprintf(&b, "  %-8s onboarded in %s; invoices due over %s%s; idle worker heap %.1f MB, RSS %.1f MB; backlog max %s\n",
			r.Kind, r.Onboard.Round(time.Millisecond), r.DueSpread.Round(time.Millisecond), overlapNote(r), float64(r.Base.HeapBytes)/(1<<20), float64(r.Base.RSSBytes)/(1<<20), backlogNote(r))
	}
	rows := compareRows(p, s)
	b.WriteString("\n" + Table(rows))
	if len(ms) > 0 {
		b.WriteString("\nproduct history events per customer-month (skeleton column: the justified minimum)\n")
		b.WriteString(Table(monthRows(ms)))
		for _, m := range ms {
			c := m.Counted
			fmt.Fprintf(&b, "  %s over %d month(s): %d events; minimum %d = 2x%d waits + 3x%d activities + 1x%d records + 3x%d wake-ups + 2x%d updates\n",
				m.Scenario, m.Months, m.Total, c.Minimum(), c.Waits, c.Activities, c.Records, c.WakeUps, c.Updates)
		}
	}
	extra := map[string]any{"customers": sz.customers, "cycle_s": sz.cycle.Seconds(), "cache": sz.cache}
	b.WriteString("\n" + JSONLine("compare", append(rows, monthRows(ms)...), extra) + "\n")
	return b.String()
}

func overlapNote(r PhaseResult) string {
	if r.Overlap {
		return " (WARNING: some fell due before the last payment: raise -cycle)"
	}
	return ""
}

func backlogNote(r PhaseResult) string {
	if !r.BacklogSampled {
		return "not reported by the server"
	}
	return fmt.Sprintf("%d tasks, age %s", r.BacklogCount, r.BacklogAge.Round(time.Millisecond))
}

func scaleMain(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var sz sizes
	sz.register(fs, 100000, 0)
	fs.IntVar(&sz.customers, "n", 100000, "customers (same as -customers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if sz.cycle == 0 { // paying runs at some 25-50 a second on a 2-core machine
		sz.cycle = min(max(60*time.Second, time.Duration(sz.customers)*40*time.Millisecond), 50*time.Minute).Round(time.Second)
	}
	ctx, log, e, done, err := begin(sz)
	if err != nil {
		return err
	}
	defer done()
	began := time.Now()
	r, err := e.phase(ctx, KindProduct, sz, log)
	if err != nil {
		return err
	}
	fmt.Print(scaleReport(sz, r, time.Since(began)))
	return nil
}

func scaleReport(sz sizes, r PhaseResult, took time.Duration) string {
	var b strings.Builder
	mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
	fmt.Fprintf(&b, "\nscale: %d customers, cycle %s, cache %d, whole run %s\n", r.N, sz.cycle, sz.cache, took.Round(time.Second))
	fmt.Fprintf(&b, "  onboarding      %s (%.1f customers/s)\n", r.Onboard.Round(time.Millisecond), r.OnboardRate())
	fmt.Fprintf(&b, "  worker memory   idle heap %.1f MB, RSS %.1f MB; with all cached heap %.1f MB, RSS %.1f MB (%.1f / %.1f MB per 1,000)\n",
		mb(r.Base.HeapBytes), mb(r.Base.RSSBytes), mb(r.Loaded.HeapBytes), mb(r.Loaded.RSSBytes),
		PerThousand(r.Base.HeapBytes, r.Loaded.HeapBytes, r.N)/(1<<20), PerThousand(r.Base.RSSBytes, r.Loaded.RSSBytes, r.N)/(1<<20))
	fmt.Fprintf(&b, "  cached          %.1f MB of goroutine stacks per 1,000, %.2f goroutines per customer\n",
		PerThousand(r.Base.StackBytes, r.Loaded.StackBytes, r.N)/(1<<20), float64(r.Loaded.Goroutines-r.Base.Goroutines)/float64(r.N))
	fmt.Fprintf(&b, "  backlog         max %s\n", backlogNote(r))
	fmt.Fprintf(&b, "  burst           %d invoices due over %s%s; drained %s after the last fell due; lag p50 %s, p99 %s\n",
		len(r.Lags), r.DueSpread.Round(time.Millisecond), overlapNote(r), r.Drain.Round(time.Millisecond),
		Percentile(r.Lags, 50).Round(time.Millisecond), Percentile(r.Lags, 99).Round(time.Millisecond))
	fmt.Fprintf(&b, "  PostgreSQL      %.2f new connections per onboarding, %.2f per burst invoice\n", float64(r.SessOnboard)/float64(r.N), float64(r.SessBurst)/float64(r.N))
	row := []Row{
		{"onboarding throughput", "customers/s", r.OnboardRate(), math.NaN()},
		{"heap with all cached", "MB", mb(r.Loaded.HeapBytes), math.NaN()},
		{"RSS with all cached", "MB", mb(r.Loaded.RSSBytes), math.NaN()},
		{"burst drain after last due", "ms", float64(r.Drain) / float64(time.Millisecond), math.NaN()},
		{"burst lag p99", "ms", float64(Percentile(r.Lags, 99)) / float64(time.Millisecond), math.NaN()},
		{"backlog max", "tasks", float64(r.BacklogCount), math.NaN()},
	}
	b.WriteString(JSONLine("scale", row, map[string]any{"customers": r.N, "cycle_s": sz.cycle.Seconds(), "run_s": math.Round(took.Seconds())}) + "\n")
	return b.String()
}

// begin checks the sizes and starts what every command needs: the
// dev server and database (setupEnv), a context Ctrl-C cancels and the
// log; done releases them.
func begin(sz sizes) (context.Context, *lockedWriter, *benchEnv, func(), error) {
	if err := sz.check(); err != nil {
		return nil, nil, nil, nil, err
	}
	if _, err := quietPolicy(sz.cycle); err != nil {
		return nil, nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	e, err := setupEnv(ctx, sz.cycle)
	if err != nil {
		stop()
		return nil, nil, nil, nil, err
	}
	return ctx, &lockedWriter{w: os.Stderr}, e, func() { e.close(); stop() }, nil
}

// lockedWriter serialises writes from the phases' goroutines and the
// workers' output copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
