package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/webhooks"
	"github.com/example/dunning/workflows"
)

// A real customer on the e2e policy, run by the real worker on a task queue
// and database of its own (so that its dispatcher is the only one
// delivering them): its prepayment, its first invoice left unpaid to the
// suspension, then paid. Every event reaches a registered receiver signed
// and in order. The receiver then hangs on the payment's events and the
// worker is killed with SIGKILL mid-delivery; after a new worker starts,
// the events still arrive, once each by event ID, in order.
func TestWebhooksReachTheReceiverThroughAWorkerKill(t *testing.T) {
	t.Parallel()
	dbURL, db := pgtest.New(t)
	queue := "webhooks-e2e"
	extra := map[string]string{
		"DUNNING_TASK_QUEUE": queue, "DATABASE_URL": dbURL,
		"DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true", "DUNNING_WEBHOOK_TIMEOUT": "15s",
		"DUNNING_WEBHOOK_RETRY_FIRST": "1s", "DUNNING_WEBHOOK_RETRY_MAX": "2s",
	}
	rcv := faults.NewReceiver()
	defer rcv.Close()

	// Registration with the CLI: refused without https, then accepted with
	// the development setting for a loopback receiver.
	cli := func(vars map[string]string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(env.binDir, "starter"), args...)
		cmd.Env = workerEnv(vars)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := cli(map[string]string{"DATABASE_URL": dbURL}, "webhooks", "add", rcv.URL(), "--events", "*"); code != 2 || !strings.Contains(out, "https") {
		t.Fatalf("http endpoint without the setting: %d %s", code, out)
	}
	out, code := cli(extra, "webhooks", "add", rcv.URL(), "--events", "*", "--json")
	if code != 0 {
		t.Fatalf("webhooks add: %d %s", code, out)
	}
	var reg ops.RegisteredWebhook
	if err := json.Unmarshal([]byte(out), &reg); err != nil {
		t.Fatal(err)
	}
	rcv.SetSecret(reg.Secret)

	worker, logs, err := startWorker(context.Background(), extra)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stopProcess(worker) }()
	if strings.Contains(logs.String(), reg.Secret) {
		t.Fatal("the signing secret is in the worker's log")
	}

	app := application("hooked", "e2e")
	if _, err := env.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.WorkflowID(app.CustomerID), TaskQueue: queue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.WorkflowType, workflows.Input{Application: app}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the prepayment request", func() bool { return len(status(t, app.CustomerID).Invoices) == 1 })
	prepay := status(t, app.CustomerID).Invoices[0]
	if _, err := recordPayment(app.CustomerID, account.Payment{PaymentID: "hooked-prepay", AmountMinor: prepay.AmountMinor, Currency: "USD", Method: "bank_transfer"}); err != nil {
		t.Fatal(err)
	}
	received := func(typ webhooks.EventType) []webhooks.Event {
		var out []webhooks.Event
		for _, e := range rcv.Accepted() {
			if e.Type == typ && e.CustomerID == app.CustomerID {
				out = append(out, e)
			}
		}
		return out
	}
	// The first invoice goes unpaid up the ladder to the suspension.
	eventually(t, 90*time.Second, "account.suspended at the receiver", func() bool { return len(received(webhooks.AccountSuspended)) == 1 })
	if s := received(webhooks.AccountSuspended)[0]; s.Data.SuspensionReason != account.ReasonNonPayment || s.Data.Actor != account.SystemActor {
		t.Fatalf("suspension event %+v", s)
	}
	if paid := received(webhooks.InvoicePaid); len(paid) != 1 || paid[0].Data.Invoice.ID != prepay.ID || paid[0].Data.Invoice.Kind != account.KindPrepayment {
		t.Fatalf("prepayment paid events %+v", paid)
	}

	// The receiver hangs; the balance is paid; the first of the payment's
	// events is in flight when the worker is killed.
	rcv.SetAnswer(faults.Answer{Hang: true})
	arrived := rcv.Arrivals()
	v := status(t, app.CustomerID)
	if _, err := recordPayment(app.CustomerID, account.Payment{PaymentID: "hooked-late", AmountMinor: v.BalanceMinor, Currency: "USD", Method: "bank_transfer"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a delivery in flight", func() bool { return rcv.Arrivals() > arrived })
	if err := worker.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = worker.Process.Wait()
	killed := time.Now()
	rcv.SetAnswer(faults.OK)
	worker, logs2, err := startWorker(context.Background(), extra)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "account.reinstated at the receiver after the kill", func() bool { return len(received(webhooks.AccountReinstated)) == 1 })
	t.Logf("events delivered %s after the SIGKILL (heartbeat timeout and the attempt's lease)", time.Since(killed).Round(time.Second))
	df := received(webhooks.DunningFinished)
	if len(df) != 1 || df[0].Data.Outcome != account.InvoicePaid || df[0].Data.BalanceMinor == nil || df[0].Data.Stage != "suspended" {
		t.Fatalf("dunning finished %+v", df)
	}

	// Every delivery was signed; each customer's events arrived in the
	// order recorded; the killed attempt is in the log without outcome.
	for _, r := range rcv.Received() {
		if !r.SignatureOK {
			t.Errorf("unsigned delivery %s: %s", r.EventID, r.SigError)
		}
	}
	var order []string
	if err := db.Select(&order, `SELECT event_id FROM webhook_events WHERE customer_id = $1 ORDER BY seq`, app.CustomerID); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, e := range rcv.Accepted() {
		got = append(got, e.ID)
	}
	if len(got) > len(order) || strings.Join(got, ",") != strings.Join(order[:len(got)], ",") {
		t.Fatalf("received out of order\n got %v\nwant %v", got, order)
	}
	var open int
	if err := db.Get(&open, `SELECT count(*) FROM webhook_attempts WHERE duration_ms IS NULL`); err != nil || open < 1 {
		t.Errorf("%d attempts without outcome (the killed one should be there): %v", open, err)
	}
	hung := 0
	for _, r := range rcv.Received() {
		if r.Answer == "hang" {
			hung++
		}
	}
	if hung == 0 {
		t.Errorf("no delivery was cut off by the kill: %+v", rcv.Received())
	}
	if strings.Contains(logs.String()+logs2.String(), reg.Secret) {
		t.Error("the signing secret is in the worker's log")
	}
}
