package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/example/dunning/internal/pgtest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The demo command brings up the Web UI with the demo customers visible and
// searchable by their search attributes, and stops cleanly.
func TestDemoRunsAndShowsCustomers(t *testing.T) {
	t.Parallel()
	tport, uport := freePort(t), freePort(t)
	var out bytes.Buffer
	w := &syncWriter{buf: &out}
	cmd := exec.Command(filepath.Join(env.binDir, "demo"),
		"-temporal-port", strconv.Itoa(tport), "-ui-port", strconv.Itoa(uport),
		"-database", "dunning_demo_e2e", "-duration", "40s", "-run-dir", t.TempDir())
	// The CLI the suite uses, as `make demo` passes the one
	// scripts/ensure-temporal.sh found: without it a clean clone's demo
	// builds its own, which under CI's load outlasted the wait below.
	cmd.Env = workerEnv(map[string]string{"DATABASE_URL": "", "SENDGRID_API_KEY": "", "TEMPORAL_ADDRESS": "", "TEMPORAL_CLI": os.Getenv("TEMPORAL_CLI")})
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("demo output:\n%s", tail(w.String(), 3000))
		}
		if admin, err := sqlx.Open("postgres", pgtest.AdminURL()); err == nil {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS dunning_demo_e2e WITH (FORCE)")
			_ = admin.Close()
		}
	}()
	eventually(t, 90*time.Second, "the demo to start", func() bool { return strings.Contains(w.String(), "The demo is running") })

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", uport))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Web UI on :%d: %v %v", uport, resp, err)
	}
	_ = resp.Body.Close()

	c, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", tport)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The demo customers become searchable by their status and risk tier.
	eventually(t, 30*time.Second, "demo customers active in visibility", func() bool {
		res, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `WorkflowType = "CustomerLifecycle" AND AccountStatus = "active" AND RiskTier = "low"`,
		})
		return err == nil && len(res.Executions) >= 5
	})
	eventually(t, 30*time.Second, "the prepaid card refused", func() bool {
		res, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `CustomerId STARTS_WITH "prepaid-" AND AccountStatus = "terminated" AND RiskTier = "high"`,
		})
		return err == nil && len(res.Executions) == 1
	})
	res, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: `CustomerId STARTS_WITH "prompt-"`})
	if err != nil || len(res.Executions) != 1 {
		t.Errorf("CustomerId search: %v %v", res, err)
	}
	// The card payers are onboarded beside them, charged through the
	// demo's own fake Stripe.
	for _, p := range []string{"softcard-", "expiring-", "stolen-", "chargeback-", "paylink-"} {
		res, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: `CustomerId STARTS_WITH "` + p + `"`})
		if err != nil || len(res.Executions) != 1 {
			t.Errorf("card payer %s: %v %v", p, res, err)
		}
	}
	if !strings.Contains(w.String(), "fake Stripe on http://127.0.0.1:") {
		t.Errorf("the demo does not say where its fake Stripe is")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("demo did not stop after its duration")
	}
	for _, want := range []string{"stopping the worker", "stopping the Temporal dev server"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
