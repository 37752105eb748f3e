// Package e2e runs the system for real: the Temporal CLI's dev server, the
// worker binary, the starter binary, PostgreSQL and the fake SendGrid
// server, all on this machine.
package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/example/dunning/gateway/stripefake"
	"github.com/example/dunning/internal/devenv"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/sendgridfake"
	"github.com/example/dunning/sgevents"
	"github.com/example/dunning/store"
)

// env is shared by every test in the package.
var env struct {
	temporalAddr string
	client       client.Client
	dbURL        string
	db           *sqlx.DB
	store        *store.Store
	sendgrid     *sendgridfake.Server
	binDir       string
	policyDir    string
	workerLog    *syncWriter
	apiURL       string            // the worker's HTTP API
	webhookKey   *ecdsa.PrivateKey // signs SendGrid events
	stripe       *stripefake.Server
}

// API tokens the e2e worker accepts.
const (
	operatorToken = "operator-secret-token-0001"
	viewerToken   = "viewer-secret-token-00002"
)

const sendgridKey = "SG.e2e-test-key"

// The fake Stripe's key and webhook secret.
const (
	stripeKey    = "sk_test_e2e"
	stripeSecret = "whsec_e2e"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The servers and the shared worker live as long as the tests (bounded
	// by go test's -timeout): a deadline here would kill them under a long
	// run.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "e2e setup: "+format+"\n", args...)
		return 1
	}
	tmp, err := os.MkdirTemp("", "dunning-e2e-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)

	// Binaries first: a build error should not wait for servers.
	env.binDir = filepath.Join(tmp, "bin")
	for _, name := range []string{"worker", "starter", "demo"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(env.binDir, name), "../"+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fail("build %s: %v\n%s", name, err, out)
		}
	}
	env.policyDir, _ = filepath.Abs("testdata/policies")

	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{Output: io.Discard})
	if err != nil {
		return fail("%v", err)
	}
	defer func() { _ = srv.Stop() }()
	env.temporalAddr = srv.FrontendHostPort()
	env.client, err = client.Dial(client.Options{HostPort: env.temporalAddr, Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		return fail("%v", err)
	}
	defer env.client.Close()

	var drop func()
	env.dbURL, drop, err = pgtest.Create(ctx)
	if err != nil {
		return fail("%v", err)
	}
	defer drop()
	env.db, err = sqlx.Open("postgres", env.dbURL)
	if err != nil {
		return fail("%v", err)
	}
	defer env.db.Close()
	env.store = store.New(env.db)

	env.sendgrid = sendgridfake.NewServer(sendgridKey)
	defer env.sendgrid.Close()
	env.stripe = stripefake.NewServer(stripeKey)
	defer env.stripe.Close()

	env.webhookKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail("%v", err)
	}
	pub, err := sgevents.PublicKeyBase64(&env.webhookKey.PublicKey)
	if err != nil {
		return fail("%v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	httpAddr := l.Addr().String()
	_ = l.Close()
	env.apiURL = "http://" + httpAddr
	env.stripe.SetWebhook(env.apiURL+"/webhooks/stripe", stripeSecret)
	worker, logs, err := startWorker(ctx, map[string]string{
		"DUNNING_HTTP_ADDR":           httpAddr,
		"DUNNING_API_TOKENS":          "ops-bot:operator:" + operatorToken + ",auditor:viewer:" + viewerToken,
		"SENDGRID_WEBHOOK_PUBLIC_KEY": pub,
		"STRIPE_WEBHOOK_SECRET":       stripeSecret,
	})
	if err != nil {
		return fail("%v", err)
	}
	env.workerLog = logs
	code := m.Run()
	stopProcess(worker)
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- worker log (last 4000 bytes) ---\n%s\n", tail(logs.String(), 4000))
	}
	return code
}

// workerEnv is the environment a worker or starter process gets.
func workerEnv(extra map[string]string) []string {
	vars := map[string]string{
		"TEMPORAL_ADDRESS":    env.temporalAddr,
		"TEMPORAL_NAMESPACE":  "default",
		"DUNNING_TASK_QUEUE":  "dunning",
		"DATABASE_URL":        env.dbURL,
		"SENDGRID_API_KEY":    sendgridKey,
		"SENDGRID_API_HOST":   env.sendgrid.URL(),
		"DUNNING_FROM_EMAIL":  "billing@dunning.test",
		"DUNNING_POLICY_DIR":  env.policyDir,
		"DUNNING_ACTOR":       "e2e-staff",
		"DUNNING_CODE_SECRET": "e2e-code-secret",
		"STRIPE_API_KEY":      stripeKey,
		"STRIPE_API_BASE":     env.stripe.URL(),
		"LOG_LEVEL":           "info",
	}
	for k, v := range extra {
		vars[k] = v
	}
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// startWorker runs the worker binary and waits until it is polling.
func startWorker(ctx context.Context, extra map[string]string) (*exec.Cmd, *syncWriter, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(env.binDir, "worker"))
	cmd.Env = workerEnv(extra)
	w := &syncWriter{buf: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(w.String(), "worker ready") {
			return cmd, w, nil
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopProcess(cmd)
	return nil, nil, fmt.Errorf("worker did not start:\n%s", w.String())
}

func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// starter runs the starter binary and returns its output and exit code.
func starter(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.binDir, "starter"), args...)
	cmd.Env = workerEnv(nil)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("starter %v: %v", args, err)
	}
	return string(out), code
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}
