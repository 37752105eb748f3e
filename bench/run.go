package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/devenv"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/workflows"
)

// benchEnv is one dev server and one database, shared by every worker the
// bench starts.
type benchEnv struct {
	temporalAddr string
	c            client.Client
	dbURL        string
	dbName       string
	admin        *sqlx.DB // on the admin database, so that its session is not the bench database's
	policyDir    string
	quiet        SkeletonInput // the quiet policy's waits, for the skeleton
	cleanup      []func()
}

func (e *benchEnv) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

// setupEnv starts the dev server (internal/devenv, as the demo and the e2e
// tests do), creates and migrates a database (internal/pgtest) and writes
// the bench policies.
func setupEnv(ctx context.Context, cycle time.Duration) (*benchEnv, error) {
	e := &benchEnv{}
	dir, err := os.MkdirTemp("", "dunning-bench-")
	if err != nil {
		return nil, err
	}
	e.cleanup = append(e.cleanup, func() { _ = os.RemoveAll(dir) })
	e.policyDir = dir
	quiet, err := quietPolicy(cycle)
	if err != nil {
		e.close()
		return nil, err
	}
	for name, data := range map[string][]byte{"bench.v1.json": quiet, "benchmonth.v1.json": []byte(monthPolicy)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			e.close()
			return nil, err
		}
	}
	p, _, _ := policy.Lint("bench.v1.json", quiet)
	e.quiet = SkeletonInput{ReminderAfter: p.Prepayment.ReminderAfter, Interval: p.Billing.Interval.Duration, Upcoming: p.Billing.Terms + p.Ladder[0].Offset}
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{Output: io.Discard})
	if err != nil {
		e.close()
		return nil, err
	}
	e.cleanup = append(e.cleanup, func() { _ = srv.Stop() })
	e.temporalAddr = srv.FrontendHostPort()
	e.c, err = client.Dial(client.Options{HostPort: e.temporalAddr, Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		e.close()
		return nil, err
	}
	e.cleanup = append(e.cleanup, e.c.Close)
	var drop func()
	e.dbURL, drop, err = pgtest.Create(ctx)
	if err != nil {
		e.close()
		return nil, err
	}
	e.cleanup = append(e.cleanup, drop)
	u, _ := url.Parse(e.dbURL)
	e.dbName = strings.TrimPrefix(u.Path, "/")
	e.admin, err = sqlx.Open("postgres", pgtest.AdminURL())
	if err != nil {
		e.close()
		return nil, err
	}
	e.admin.SetMaxOpenConns(1)
	e.cleanup = append(e.cleanup, func() { _ = e.admin.Close() })
	return e, nil
}

// sessions is how many connections the bench database has accepted since
// the server started (pg_stat_database.sessions, PostgreSQL 14+).
func (e *benchEnv) sessions(ctx context.Context) (int64, error) {
	var n int64
	err := e.admin.GetContext(ctx, &n, `SELECT sessions FROM pg_stat_database WHERE datname = $1`, e.dbName)
	if err != nil {
		return 0, fmt.Errorf("read pg_stat_database.sessions (PostgreSQL 14 or newer): %w", err)
	}
	return n, nil
}

// Fee and prepayment of the bench customers (the quiet policy prepays one
// period).
const benchFeeMinor = 10000

// application is a customer that screening approves with prepayment: a
// free-mail address and a medium-risk country, as the e2e customers; each
// has its own phone and signup IP (198.18.0.0/15, the benchmarking
// range), so that no velocity rule sends one to review.
func application(id, pol string, i int) account.Application {
	return account.Application{
		CustomerID: id, Name: "Bench " + id, Email: id + "@gmail.com", Phone: fmt.Sprintf("+5255%08d", 10000000+i),
		Country: "MX", Currency: "USD", Locale: "en", Policy: pol,
		Plan:              account.Plan{MonthlyFeeMinor: benchFeeMinor},
		PaymentInstrument: account.PaymentInstrument{Type: "bank_transfer"},
		SignupIP:          fmt.Sprintf("198.%d.%d.%d", 18+(i>>16)&1, (i>>8)&255, i&255),
	}
}

// start starts customer i of the kind on queue and returns its run.
func (e *benchEnv) start(ctx context.Context, kind Kind, queue, id, pol string, i int) (client.WorkflowRun, error) {
	if kind == KindProduct {
		app := application(id, pol, i)
		return e.c.ExecuteWorkflow(ctx, ops.StartOptions(app, queue), workflows.WorkflowType, workflows.Input{Application: app})
	}
	in := e.quiet
	in.CustomerID = id
	return e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(id), TaskQueue: queue}, SkeletonType, in)
}

// pay runs the RecordPayment update, as staff or the gateway webhook do.
func (e *benchEnv) pay(ctx context.Context, wfID string, p account.Payment) error {
	h, err := e.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: wfID, UpdateName: workflows.UpdateRecordPayment.Name,
		Args: []any{p}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	var res account.PaymentResult
	return h.Get(ctx, &res)
}

// history reads one run's events.
func (e *benchEnv) history(ctx context.Context, wfID, runID string) ([]*historypb.HistoryEvent, error) {
	it := e.c.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// waitNotice polls the run's history until the notice of the template is
// done and returns the history.
func (e *benchEnv) waitNotice(ctx context.Context, wfID, runID, template string) ([]*historypb.HistoryEvent, error) {
	for {
		h, err := e.history(ctx, wfID, runID)
		if err != nil {
			return nil, err
		}
		if _, _, ok := NoticeDone(h, template); ok {
			return h, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no %s notice: %w", wfID, template, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// forEach runs f for 0..n-1 on conc goroutines, in order of i, and returns
// the first error.
func forEach(ctx context.Context, n, conc int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// backlog samples the task queue's backlog (DescribeTaskQueue with
// report_stats) until stopped, keeping the largest count and age.
type backlog struct {
	mu       sync.Mutex
	maxCount int64
	maxAge   time.Duration
	err      error
}

func (b *backlog) sample(ctx context.Context, c client.Client, queue string) {
	for ctx.Err() == nil {
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			res, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{Namespace: "default",
				TaskQueue: &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}, TaskQueueType: typ, ReportStats: true})
			b.mu.Lock()
			if err != nil && ctx.Err() == nil {
				b.err = err
			} else if s := res.GetStats(); s != nil {
				b.maxCount = max(b.maxCount, s.GetApproximateBacklogCount())
				b.maxAge = max(b.maxAge, s.GetApproximateBacklogAge().AsDuration())
			}
			b.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// PhaseResult is what one worker kind did with n customers.
type PhaseResult struct {
	Kind           Kind
	N              int
	Onboard        time.Duration // first start to the last prepayment request done
	Lags           []time.Duration
	DueSpread      time.Duration // first to last invoice due
	Drain          time.Duration // last invoice due to the last invoice done
	Overlap        bool          // an invoice fell due before the last payment was in
	Base, Loaded   Mem
	SessOnboard    int64 // new PostgreSQL sessions while onboarding
	SessBurst      int64 // ... while paying and invoicing
	BacklogCount   int64
	BacklogAge     time.Duration
	BacklogSampled bool
}

// OnboardRate is customers per second.
func (r PhaseResult) OnboardRate() float64 { return float64(r.N) / r.Onboard.Seconds() }

// PerThousand is bytes per 1,000 cached customers above the idle worker.
func PerThousand(base, loaded uint64, n int) float64 {
	return (float64(loaded) - float64(base)) / float64(n) * 1000
}

// phase runs n customers of the kind on the quiet policy: start them all,
// wait until each one's prepayment request is done (onboarded), pay every
// prepayment, wait until each one's first invoice is done (the burst),
// then read the worker's memory with every customer still cached.
func (e *benchEnv) phase(ctx context.Context, kind Kind, sz sizes, log io.Writer) (PhaseResult, error) {
	n, conc := sz.customers, sz.conc
	r := PhaseResult{Kind: kind, N: n}
	queue := "bench-" + string(kind)
	ch, err := startChild(ctx, e, kind, queue, sz.cache)
	if err != nil {
		return r, err
	}
	defer ch.stop()
	time.Sleep(2 * time.Second) // the product's start-up work (dispatcher workflow) settles
	if r.Base, err = ch.mem(ctx); err != nil {
		return r, err
	}
	bctx, stopSampling := context.WithCancel(ctx)
	bl := &backlog{}
	go bl.sample(bctx, e.c, queue)
	defer stopSampling()

	ids := make([]string, n)
	runs := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%06d", string(kind[0]), i)
	}
	s0, err := e.sessions(ctx)
	if err != nil {
		return r, err
	}
	fmt.Fprintf(log, "%s: onboarding %d customers\n", kind, n)
	var profiling sync.WaitGroup
	defer profiling.Wait()
	if sz.profile != "" {
		profiling.Add(1)
		go func() { // the first seconds of onboarding
			defer profiling.Done()
			if err := ch.profile(ctx, "profile?seconds=10", filepath.Join(sz.profile, string(kind)+"-onboarding-cpu.pprof")); err != nil {
				fmt.Fprintf(log, "%s: CPU profile: %v\n", kind, err)
			}
		}()
	}
	t0 := time.Now()
	if err := forEach(ctx, n, conc, func(ctx context.Context, i int) error {
		run, err := e.start(ctx, kind, queue, ids[i], "bench", i)
		if err != nil {
			return err
		}
		runs[i] = run.GetRunID()
		return nil
	}); err != nil {
		return r, fmt.Errorf("start: %w", err)
	}
	var last time.Time
	var mu sync.Mutex
	if err := forEach(ctx, n, 4, func(ctx context.Context, i int) error {
		h, err := e.waitNotice(ctx, workflows.WorkflowID(ids[i]), runs[i], "prepayment_request")
		if err != nil {
			return err
		}
		_, done, _ := NoticeDone(h, "prepayment_request")
		mu.Lock()
		last = later(last, done)
		mu.Unlock()
		return nil
	}); err != nil {
		return r, err
	}
	r.Onboard = last.Sub(t0)
	s1, err := e.sessions(ctx)
	if err != nil {
		return r, err
	}
	fmt.Fprintf(log, "%s: onboarded in %s; paying the prepayments\n", kind, r.Onboard.Round(time.Millisecond))
	if err := forEach(ctx, n, conc, func(ctx context.Context, i int) error {
		return e.pay(ctx, workflows.WorkflowID(ids[i]), account.Payment{PaymentID: ids[i] + "-prepay", AmountMinor: benchFeeMinor,
			Currency: "USD", Method: "bank_transfer"})
	}); err != nil {
		return r, fmt.Errorf("pay: %w", err)
	}
	paidAt := time.Now()
	fmt.Fprintf(log, "%s: paid; waiting for the invoices (cycle %s)\n", kind, e.quiet.Interval)
	var firstDue, lastDue, lastDone time.Time
	if err := forEach(ctx, n, 4, func(ctx context.Context, i int) error {
		h, err := e.waitNotice(ctx, workflows.WorkflowID(ids[i]), runs[i], "invoice_issued")
		if err != nil {
			return err
		}
		sched, done, _ := NoticeDone(h, "invoice_issued")
		due, ok := DueAt(h, sched)
		if !ok {
			return fmt.Errorf("%s: no billing timer before the invoice", ids[i])
		}
		mu.Lock()
		defer mu.Unlock()
		r.Lags = append(r.Lags, done.Sub(due))
		if firstDue.IsZero() || due.Before(firstDue) {
			firstDue = due
		}
		lastDue, lastDone = later(lastDue, due), later(lastDone, done)
		return nil
	}); err != nil {
		return r, err
	}
	r.DueSpread, r.Drain, r.Overlap = lastDue.Sub(firstDue), lastDone.Sub(lastDue), firstDue.Before(paidAt)
	s2, err := e.sessions(ctx)
	if err != nil {
		return r, err
	}
	r.SessOnboard, r.SessBurst = s1-s0, s2-s1
	stopSampling()
	bl.mu.Lock()
	r.BacklogCount, r.BacklogAge, r.BacklogSampled = bl.maxCount, bl.maxAge, bl.err == nil
	bl.mu.Unlock()
	// Every customer has continued as new after its invoice: memory is
	// read once each new run's first workflow task is done, so that every
	// customer is in the cache.
	if err := forEach(ctx, n, 4, func(ctx context.Context, i int) error { return e.settled(ctx, ids[i], runs[i]) }); err != nil {
		return r, err
	}
	if r.Loaded, err = ch.mem(ctx); err != nil {
		return r, err
	}
	if sz.profile != "" {
		if err := ch.profile(ctx, "heap", filepath.Join(sz.profile, string(kind)+"-cached-heap.pprof")); err != nil {
			return r, err
		}
	}
	return r, nil
}

// settled waits until the customer's workflow has continued as new from
// firstRun and the new run's first workflow task is done: its state is in
// the worker's cache.
func (e *benchEnv) settled(ctx context.Context, id, firstRun string) error {
	for {
		d, err := e.c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
		if err != nil {
			return err
		}
		// A new run whose first workflow task is done has at least its
		// start, and the task scheduled, started and completed. Waiting
		// for no pending task instead never ends while the customers keep
		// being billed.
		info := d.GetWorkflowExecutionInfo()
		if info.GetExecution().GetRunId() != firstRun && info.GetHistoryLength() >= 4 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not settled: %w", id, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
