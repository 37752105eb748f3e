package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/risk"
	"github.com/example/dunning/risk/providers"
	"github.com/example/dunning/sendgridfake"
	"github.com/example/dunning/service"
	"github.com/example/dunning/workflows"
)

// memCustomers is how many customers BenchmarkMemoryPerCachedCustomer
// keeps cached (DUNNING_BENCH_CUSTOMERS overrides it).
const memCustomers = 200

// BenchmarkMemoryPerCachedCustomer runs customers in one in-process worker
// (its sticky cache larger than their number) until each waits for its
// prepayment (or a review) on the standard policy, then reports the
// worker's live heap after GC and its goroutine stacks per cached customer. DUNNING_BENCH_HEAP_PROFILE=<file> writes a
// heap profile (go tool pprof -sample_index=inuse_space <file>).
//
// go test ./e2e -run '^$' -bench MemoryPerCachedCustomer -benchtime 1x
func BenchmarkMemoryPerCachedCustomer(b *testing.B) {
	n := memCustomers
	if v := os.Getenv("DUNNING_BENCH_CUSTOMERS"); v != "" {
		_, _ = fmt.Sscan(v, &n)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := policy.Embedded()
	if err != nil {
		b.Fatal(err)
	}
	riskCfg, err := risk.DefaultConfig()
	if err != nil {
		b.Fatal(err)
	}
	sms, err := providers.SMSFromEnv(func(string) string { return "" }, quiet)
	if err != nil {
		b.Fatal(err)
	}
	fake := sendgridfake.NewServer(sendgridKey)
	defer fake.Close()
	worker.SetStickyWorkflowCacheSize(4 * n)
	if os.Getenv("DUNNING_BENCH_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 4096 // a profile fine enough to see per-customer objects
	}
	for i := 0; i < b.N; i++ {
		c, err := client.Dial(client.Options{HostPort: env.temporalAddr, Logger: tlog.NewStructuredLogger(quiet)})
		if err != nil {
			b.Fatal(err)
		}
		queue := fmt.Sprintf("bench-mem-%d", time.Now().UnixNano())
		w := worker.New(c, queue, service.WorkerOptions())
		w.RegisterWorkflowWithOptions((&workflows.Workflows{Policies: reg, Risk: riskCfg}).CustomerLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
		w.RegisterActivity(&activities.Activities{Store: env.store, Logger: quiet, StaffEmail: "staff@customers.test", StaffLocale: "en",
			Mailer:      &mail.SendGrid{APIKey: sendgridKey, Host: fake.URL(), From: "billing@dunning.test"},
			Provisioner: activities.DBProvisioner{Store: env.store}, SMS: sms, Credit: providers.CreditFromEnv(func(string) string { return "" }, riskCfg),
			Risk: riskCfg, CodeSecret: "bench-secret"})
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		before, stackBefore := liveHeap()
		ids := make([]string, n)
		for j := range ids {
			id := fmt.Sprintf("mem%d-%d", time.Now().UnixNano()%1_000_000_000, j)
			ids[j] = id
			app := account.Application{CustomerID: id, Name: "Customer " + id, Email: fmt.Sprintf("billing@%s.example.com", id), Phone: fmt.Sprintf("+5255%08d", 50_000_000+j),
				Country: "MX", Currency: "USD", Locale: "en", Policy: "standard", Plan: account.Plan{MonthlyFeeMinor: 10000},
				PaymentInstrument: account.PaymentInstrument{Type: "bank_transfer"}, SignupIP: fmt.Sprintf("10.%d.%d.%d", j/65536, j/256%256, j%256+1)}
			if _, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
				ID: workflows.WorkflowID(id), TaskQueue: queue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			}, workflows.WorkflowType, workflows.Input{Application: app}); err != nil {
				b.Fatal(err)
			}
		}
		// Every customer waits: its prepayment request issued and emailed.
		deadline := time.Now().Add(5 * time.Minute)
		waiting := 0
		for _, id := range ids {
			for {
				var v account.StatusView
				resp, err := c.QueryWorkflow(context.Background(), workflows.WorkflowID(id), "", workflows.QueryGetStatus.Name)
				if err == nil && resp.Get(&v) == nil && (len(v.Invoices) == 1 || v.Status == account.StatusManualReview) {
					waiting++
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("customer %s not waiting for its prepayment: %v %+v", id, err, v)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		time.Sleep(2 * time.Second) // the last tasks complete
		after, stackAfter := liveHeap()
		if path := os.Getenv("DUNNING_BENCH_HEAP_PROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		}
		b.ReportMetric(float64(after-before)/float64(waiting)/1024, "KB-heap/cached-customer")
		// Each workflow coroutine is a goroutine: its stack is not heap.
		b.ReportMetric(float64(stackAfter-stackBefore)/float64(waiting)/1024, "KB-stack/cached-customer")
		b.ReportMetric(float64(waiting), "customers")
		for _, id := range ids {
			_ = c.TerminateWorkflow(context.Background(), workflows.WorkflowID(id), "", "benchmark done")
		}
		w.Stop()
		c.Close()
	}
}

// liveHeap is the heap and the goroutine stacks in use after a full
// collection.
func liveHeap() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}
