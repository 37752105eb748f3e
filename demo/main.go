// Command demo runs the whole system on one machine: the Temporal dev server
// with its Web UI, a fresh demo database on the local PostgreSQL, the
// worker, and a handful of demo customers on the compressed `demo` policy (a
// day lasts two seconds, a month about a minute). Simulated customers pay on
// time, late, after suspension or never, promise or dispute, so every rung
// of the ladder can be watched live. Card payers are charged through a local
// fake Stripe (gateway/stripefake) that runs inside this process and sends
// its signed webhooks to the worker. Ctrl-C stops everything.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/example/dunning/gateway/stripefake"
	"github.com/example/dunning/internal/devenv"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/schema"
)

func main() {
	opts := options{}
	flag.IntVar(&opts.temporalPort, "temporal-port", 7233, "Temporal frontend port")
	flag.IntVar(&opts.uiPort, "ui-port", 8233, "Temporal Web UI port")
	flag.StringVar(&opts.database, "database", "dunning_demo", "database to (re)create on the local PostgreSQL server (ignored when DATABASE_URL is set)")
	flag.DurationVar(&opts.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	flag.StringVar(&opts.runDir, "run-dir", ".run", "where logs go")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.duration)
		defer cancel()
	}
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	temporalPort, uiPort int
	database             string
	duration             time.Duration
	runDir               string
}

func say(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }

func run(ctx context.Context, opts options) error {
	if err := os.MkdirAll(opts.runDir, 0o755); err != nil {
		return err
	}
	for _, p := range []int{opts.temporalPort, opts.uiPort} {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
			return fmt.Errorf("port %d is busy (another Temporal server or demo running?); pick others with -temporal-port / -ui-port", p)
		} else {
			_ = l.Close()
		}
	}

	dbURL, err := prepareDatabase(ctx, opts.database)
	if err != nil {
		return err
	}

	temporalLog, err := os.Create(filepath.Join(opts.runDir, "temporal.log"))
	if err != nil {
		return err
	}
	defer temporalLog.Close()
	say("starting the Temporal dev server on 127.0.0.1:%d with its Web UI on :%d (log: %s)", opts.temporalPort, opts.uiPort, temporalLog.Name())
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{Port: opts.temporalPort, UIPort: opts.uiPort, Output: temporalLog})
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the Temporal dev server")
		_ = srv.Stop()
	}()

	workerLog, err := os.Create(filepath.Join(opts.runDir, "worker.log"))
	if err != nil {
		return err
	}
	defer workerLog.Close()
	httpAddr, err := demoAddr("DUNNING_HTTP_ADDR")
	if err != nil {
		return err
	}
	metricsAddr, err := demoAddr("DUNNING_METRICS_ADDR")
	if err != nil {
		return err
	}
	// The fake Stripe outlives the worker (deferred first, so closed last):
	// the worker's last charges and webhooks still find it.
	fake := stripefake.NewServer(demoStripeKey)
	defer fake.Close()
	fake.SetWebhook(webhookURL(httpAddr), demoWebhookSecret)
	say("fake Stripe on %s, webhooks to %s", fake.URL(), webhookURL(httpAddr))
	env := append(os.Environ(),
		"TEMPORAL_ADDRESS="+srv.FrontendHostPort(),
		"DATABASE_URL="+dbURL,
		"STRIPE_API_KEY="+demoStripeKey,
		"STRIPE_API_BASE="+fake.URL(),
		"STRIPE_WEBHOOK_SECRET="+demoWebhookSecret,
		"DUNNING_HTTP_ADDR="+httpAddr,
		"DUNNING_METRICS_ADDR="+metricsAddr,
		fmt.Sprintf("DUNNING_TEMPORAL_UI_URL=http://localhost:%d", opts.uiPort),
	)
	if os.Getenv("DUNNING_API_TOKENS") == "" {
		// The worker's HTTP server (there for the Stripe webhook) wants
		// API tokens; the demo makes one for this run.
		token := rand.Text()
		env = append(env, "DUNNING_API_TOKENS=demo-staff:operator:"+token)
		say("HTTP API on http://%s and the staff console on http://%s/console/ (token %s)", httpAddr, httpAddr, token)
	}
	say("Prometheus metrics on http://%s/metrics", metricsAddr)
	worker, err := startWorker(ctx, env, workerLog)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the worker")
		_ = worker.Process.Signal(os.Interrupt)
		_ = worker.Wait()
	}()

	c, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		return err
	}
	defer c.Close()
	sim := &simulator{c: c, stripe: fake, suffix: time.Now().UTC().Format("150405")}
	if err := sim.onboard(ctx); err != nil {
		return err
	}
	printWhereToLook(opts, srv.FrontendHostPort(), dbURL, fake.URL(), httpAddr, sim)
	sim.run(ctx)
	fmt.Println()
	say("shutting down")
	return nil
}

// The fake Stripe's credentials: test-mode shapes, valid for the fake only.
const (
	demoStripeKey     = "sk_test_demo"
	demoWebhookSecret = "whsec_demo"
)

// demoAddr is where the worker serves its API and webhooks
// (DUNNING_HTTP_ADDR) or its metrics (DUNNING_METRICS_ADDR): the
// environment's value if set, else a free port of 127.0.0.1.
func demoAddr(env string) (string, error) {
	if a := os.Getenv(env); a != "" {
		return a, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// webhookURL is the worker's Stripe webhook for an HTTP address; one that
// listens on every interface (":8080", "0.0.0.0:8080") is reached on
// 127.0.0.1.
func webhookURL(httpAddr string) string {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "http://" + httpAddr + "/webhooks/stripe"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/webhooks/stripe"
}

// prepareDatabase uses DATABASE_URL as it is, or drops and recreates the demo
// database on the local server, and migrates it.
func prepareDatabase(ctx context.Context, name string) (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		say("using DATABASE_URL as it is (no reset)")
		return u, migrate(ctx, u)
	}
	admin := pgtest.AdminURL()
	db, err := sqlx.Open("postgres", admin)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return "", fmt.Errorf("PostgreSQL is not reachable at %s (make demo starts it; or set DATABASE_URL): %w", admin, err)
	}
	say("recreating database %s on %s", name, admin)
	if _, err := db.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		return "", err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String(), migrate(ctx, u.String())
}

func migrate(ctx context.Context, dbURL string) error {
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := schema.Migrate(ctx, db.DB)
	if err == nil {
		say("database schema at version %d", v)
	}
	return err
}

// startWorker runs the worker binary that sits next to this one.
func startWorker(ctx context.Context, env []string, log *os.File) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(filepath.Dir(self), "worker")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no worker binary next to the demo (%s): run `make demo`, which builds both", bin)
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	say("worker started (pid %d, log: %s)", cmd.Process.Pid, log.Name())
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(log.Name())
		if strings.Contains(string(data), "worker ready") {
			return cmd, nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	data, _ := os.ReadFile(log.Name())
	return nil, errors.New("the worker did not start:\n" + string(data))
}

func printWhereToLook(opts options, temporalAddr, dbURL, stripeURL, httpAddr string, sim *simulator) {
	ui := fmt.Sprintf("http://localhost:%d/namespaces/default/workflows", opts.uiPort)
	fmt.Printf(`
──────────────────────────────────────────────────────────────────────────────
 The demo is running. Policy "demo": a day lasts 2 s, a month about a minute.

 Temporal Web UI   %s
   filter, e.g.    AccountStatus = "suspended"   or   DunningStage = "final_notice"
 Customers         %s
 Status            TEMPORAL_ADDRESS=%s bin/starter status %s
 Emails (outbox)   DATABASE_URL='%s' bin/starter outbox %s
 Logs              %s/worker.log, %s/temporal.log

 Cards             charged through a fake Stripe at %s (key %s)
   card payers     %s
   charge attempts psql '%s' -c 'SELECT customer_id, invoice_id, attempt, trigger, status, decline_code, requested_at FROM charge_attempts ORDER BY requested_at'
   pay-now pages   %s/pay/cs_test_...   (the link in each invoice email; the emails' pay_url)
   webhooks        the fake posts its signed events to %s

 Ctrl-C stops everything.
──────────────────────────────────────────────────────────────────────────────
`, ui, sim.ids(), temporalAddr, sim.first(), dbURL, sim.first(), opts.runDir, opts.runDir,
		stripeURL, demoStripeKey, sim.cardIDs(), dbURL, stripeURL, webhookURL(httpAddr))
}
