package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/syncbuf"
	"github.com/example/dunning/service"
)

// Kind is which worker a bench process runs.
type Kind string

const (
	KindProduct  Kind = "product"  // service.New: CustomerLifecycle and the real activities
	KindSkeleton Kind = "skeleton" // Skeleton and the no-op activities
)

// Mem is a worker process's memory: the Go heap in use after a full GC
// and the resident set from /proc.
type Mem struct {
	HeapBytes  uint64 `json:"heap_bytes"`
	RSSBytes   uint64 `json:"rss_bytes"`
	StackBytes uint64 `json:"stack_bytes"` // goroutine stacks: a cached workflow's coroutines live here, not in the heap
	Goroutines int    `json:"goroutines"`
}

// workerMain is the worker role: the bench re-executes itself with
// "worker" so that each worker has a process of its own to measure. Its
// configuration comes from the environment, as the real worker's does
// (config.FromEnv); BENCH_KIND and BENCH_CACHE say what to run. It prints
// "ready <addr>" once polling, serves GET /mem on addr, and stops on
// SIGINT or SIGTERM.
func workerMain() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cache, err := strconv.Atoi(os.Getenv("BENCH_CACHE"))
	if err != nil || cache < 1 {
		return fmt.Errorf("BENCH_CACHE %q must be a positive number", os.Getenv("BENCH_CACHE"))
	}
	worker.SetStickyWorkflowCacheSize(cache)
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	errs := make(chan error, 1)
	running := false // the product's Run, which must end before its client closes
	switch Kind(os.Getenv("BENCH_KIND")) {
	case KindProduct:
		wk, err := service.New(ctx, cfg, logger, service.Options{})
		if err != nil {
			return err
		}
		defer wk.Close()
		running = true
		go func() { errs <- wk.Run(ctx) }()
	case KindSkeleton:
		c, err := client.Dial(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: tlog.NewStructuredLogger(logger)})
		if err != nil {
			return err
		}
		defer c.Close()
		w := worker.New(c, cfg.TaskQueue, service.WorkerOptions())
		registerSkeleton(w)
		if err := w.Start(); err != nil {
			return err
		}
		defer w.Stop()
	default:
		return fmt.Errorf("BENCH_KIND %q must be %s or %s", os.Getenv("BENCH_KIND"), KindProduct, KindSkeleton)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mem", func(w http.ResponseWriter, _ *http.Request) {
		m, err := readMem()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(m)
	})
	// Profiles of the worker alone, for -profile (loopback only).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Printf("ready %s\n", ln.Addr())
	select {
	case <-ctx.Done():
		if running {
			return <-errs
		}
		return nil
	case err := <-errs:
		return err
	}
}

// readMem collects garbage first, so that the heap is what is live.
func readMem() (Mem, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := rssBytes()
	return Mem{HeapBytes: ms.HeapAlloc, RSSBytes: rss, StackBytes: ms.StackInuse, Goroutines: runtime.NumGoroutine()}, err
}

func rssBytes() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseRSS(string(data))
}

// parseRSS reads VmRSS (in kB) from /proc/<pid>/status.
func parseRSS(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// child is a worker process the bench started.
type child struct {
	cmd  *exec.Cmd
	addr string
	logs *syncbuf.Buffer
}

// startChild re-executes the bench binary as a worker of the kind on the
// queue and waits until it is polling.
func startChild(ctx context.Context, e *benchEnv, kind Kind, queue string, cache int) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "worker")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"BENCH_KIND=" + string(kind), "BENCH_CACHE=" + strconv.Itoa(cache),
		"TEMPORAL_ADDRESS=" + e.temporalAddr, "TEMPORAL_NAMESPACE=default",
		"DUNNING_TASK_QUEUE=" + queue, "DATABASE_URL=" + e.dbURL, "DUNNING_POLICY_DIR=" + e.policyDir,
		"DUNNING_AGING_SCHEDULE=off", "DUNNING_RECONCILE_SCHEDULE=off", "DUNNING_CODE_SECRET=bench-code-secret",
		"LOG_LEVEL=warn",
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	logs := &syncbuf.Buffer{}
	cmd.Stderr = io.MultiWriter(logs, prefixed(os.Stderr, string(kind)+" worker: "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- addr
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-ready:
		return &child{cmd: cmd, addr: addr, logs: logs}, nil
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("%s worker did not start:\n%s", kind, logs.String())
}

func (ch *child) mem(ctx context.Context) (Mem, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ch.addr+"/mem", nil)
	if err != nil {
		return Mem{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return Mem{}, err
	}
	defer res.Body.Close()
	var m Mem
	if res.StatusCode != http.StatusOK {
		return m, fmt.Errorf("worker /mem: %s", res.Status)
	}
	return m, json.NewDecoder(res.Body).Decode(&m)
}

// profile saves the worker's profile (heap, or profile?seconds=N for CPU)
// to path.
func (ch *child) profile(ctx context.Context, which, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ch.addr+"/debug/pprof/"+which, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("worker profile %s: %s", which, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// stop asks the worker to finish and waits for it.
func (ch *child) stop() {
	_ = ch.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = ch.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = ch.cmd.Process.Kill()
		<-done
	}
}

// prefixed writes each chunk the worker logs (warnings and errors only)
// with the worker's name in front.
func prefixed(w io.Writer, prefix string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		_, err := fmt.Fprintf(w, "%s%s", prefix, p)
		return len(p), err
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
