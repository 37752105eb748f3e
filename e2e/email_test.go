package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/example/dunning/policy"
	"github.com/example/dunning/sendgridfake"
	"github.com/example/dunning/sgevents"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// postEvents sends a SendGrid event batch to the worker's webhook.
func postEvents(t *testing.T, at time.Time, events []map[string]any) int {
	t.Helper()
	body, _ := json.Marshal(events)
	req, err := sgevents.NewSignedRequest(context.Background(), env.apiURL+"/webhooks/sendgrid", env.webhookKey, at, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// A signed hard bounce reaches the customer's workflow: staff are alerted
// and later notices go by SMS. Forged and stale batches are refused.
func TestBounceWebhookSwitchesToSMS(t *testing.T) {
	t.Parallel()
	app := application("bouncy", "e2e")
	onboard(t, app)
	key := "bouncy:INV-bouncy-0001:prepayment_request"
	var msg sendgridfake.Message
	eventually(t, 20*time.Second, "the prepayment email", func() bool {
		m := env.sendgrid.ByCustomArg("dunning_key", key)
		if len(m) == 1 {
			msg = m[0]
		}
		return len(m) == 1
	})
	bounce := []map[string]any{{
		"email": app.Email, "timestamp": time.Now().Unix(), "event": "bounce", "type": "bounce",
		"reason": "550 5.1.1 The email account that you tried to reach does not exist", "status": "5.1.1",
		"sg_event_id": "evt-bouncy-1", "sg_message_id": msg.ID + ".filter0001", "dunning_key": key,
		"customer_id": app.CustomerID, "invoice_id": "INV-bouncy-0001", "stage": "prepayment_request",
	}}
	if code := postEvents(t, time.Now().Add(-time.Hour), bounce); code != 403 {
		t.Errorf("stale batch: %d", code)
	}
	body, _ := json.Marshal(bounce)
	req, _ := http.NewRequest("POST", env.apiURL+"/webhooks/sendgrid", bytes.NewReader(body))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("unsigned batch: %v %v", resp, err)
	}
	if code := postEvents(t, time.Now(), bounce); code != 200 {
		t.Fatalf("signed bounce: %d", code)
	}
	if code := postEvents(t, time.Now(), bounce); code != 200 { // SendGrid resends: recorded once
		t.Fatalf("repeat: %d", code)
	}
	eventually(t, 20*time.Second, "the workflow to switch to SMS", func() bool {
		v, err := tryStatus(app.CustomerID)
		return err == nil && !v.EmailOK && v.Channel == policy.ChannelSMS
	})
	// The prepayment reminder (10 s after the request) now goes by SMS, and
	// staff got exactly one alert about the address.
	eventually(t, 30*time.Second, "the reminder by SMS", func() bool {
		r := outboxKeys(t, app.CustomerID)["bouncy:INV-bouncy-0001:prepayment_reminder"]
		return r.Status == store.OutboxSent && r.Channel == string(policy.ChannelSMS) && r.ToEmail == app.Phone
	})
	alerts := 0
	for k, r := range outboxKeys(t, app.CustomerID) {
		if strings.Contains(k, ":staff:address_undeliverable:") && r.ToEmail == "billing-team@example.com" {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d staff alerts about the address", alerts)
	}
	var events int
	_ = env.db.Get(&events, `SELECT count(*) FROM email_events WHERE message_key = $1`, key)
	if events != 1 {
		t.Errorf("%d events recorded for %s", events, key)
	}
	// Staff see the delivery status beside each message.
	if out, code := starter(t, "outbox", app.CustomerID); code != 0 || !strings.Contains(out, "bounce") || !strings.Contains(out, key) {
		t.Errorf("starter outbox: %d %s", code, out)
	}
}

// The crash window: the worker dies after SendGrid accepted a mail and
// before the outbox recorded it. The next attempt must not send it again;
// it marks the mail unconfirmed and alerts staff.
func TestWorkerCrashAfterSendGridAcceptedSendsOnce(t *testing.T) {
	t.Parallel()
	fake := sendgridfake.NewServer(sendgridKey)
	defer fake.Close()
	// The first two mails are held: the prepayment request and the phone
	// verification email go out together, in either order.
	fake.Inject(sendgridfake.Fault{Hold: 2 * time.Minute}, sendgridfake.Fault{Hold: 2 * time.Minute})
	queue := "crash-queue"
	extra := map[string]string{"DUNNING_TASK_QUEUE": queue, "SENDGRID_API_HOST": fake.URL()}
	worker, logs, err := startWorker(context.Background(), extra)
	if err != nil {
		t.Fatal(err)
	}
	app := application("crashy", "e2e")
	if _, err := env.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.WorkflowID(app.CustomerID), TaskQueue: queue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.WorkflowType, workflows.Input{Application: app}); err != nil {
		t.Fatal(err)
	}
	key := "crashy:INV-crashy-0001:prepayment_request"
	eventually(t, 30*time.Second, "SendGrid to accept the prepayment email", func() bool { return len(fake.ByCustomArg("dunning_key", key)) == 1 })
	// SendGrid has the mail; the worker waits for the answer. Kill it.
	_ = worker.Process.Kill()
	_ = worker.Wait()
	if r := outboxRows(t, app.CustomerID)[key]; r.Status != store.OutboxSending {
		t.Fatalf("before the restart the row is %q, want sending", r.Status)
	}
	restarted, _, err := startWorker(context.Background(), extra)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	defer stopProcess(restarted)
	// The attempt times out (a minute) and the retry finds the row in
	// "sending": it must not send again.
	eventually(t, 120*time.Second, "the mail marked unconfirmed", func() bool {
		return outboxRows(t, app.CustomerID)[key].Status == store.OutboxUnconfirmed
	})
	if n := len(fake.ByCustomArg("dunning_key", key)); n != 1 {
		t.Errorf("SendGrid got the mail %d times", n)
	}
	eventually(t, 30*time.Second, "a staff alert", func() bool {
		for k := range outboxRows(t, app.CustomerID) {
			if strings.Contains(k, ":staff:email_unconfirmed:") {
				return true
			}
		}
		return false
	})
	// The lifecycle went on: the reminder went out (through the same fake).
	eventually(t, 30*time.Second, "the prepayment reminder", func() bool {
		return outboxRows(t, app.CustomerID)["crashy:INV-crashy-0001:prepayment_reminder"].Status == store.OutboxSent
	})
	if n := len(fake.ByCustomArg("dunning_key", "crashy:INV-crashy-0001:prepayment_reminder")); n != 1 {
		t.Errorf("the reminder reached SendGrid %d times", n)
	}
}

// The starter's list, report-abuse and review commands against the real
// worker, with refused operations and their messages.
func TestStarterRiskCommands(t *testing.T) {
	t.Parallel()
	app := application("cli-risk", "e2e")
	onboardActive(t, app)
	out, code := starter(t, "report-abuse", app.CustomerID, "--notice-id", "CMP-1", "--category", "spam", "--source", "complaint", "--detail", "newsletter complaints")
	if code != 0 || !strings.Contains(out, "Status:   active") {
		t.Errorf("report-abuse: %d %s", code, out)
	}
	if out, code := starter(t, "review", app.CustomerID, "--decision", "approve", "--note", "x"); code != 1 || !strings.Contains(out, "misuse review: decide reinstate or terminate") {
		t.Errorf("wrong decision: %d %s", code, out)
	}
	if out, code := starter(t, "review", app.CustomerID, "--decision", "reinstate", "--note", "mailing list is opt-in"); code != 0 {
		t.Errorf("review: %d %s", code, out)
	}
	if out, code := starter(t, "usage", app.CustomerID, "--usage-id", "u-1", "--amount-minor", "-5"); code != 2 || !strings.Contains(out, "amount_minor") {
		t.Errorf("negative usage: %d %s", code, out)
	}
	if out, code := starter(t, "budget", app.CustomerID, "--limit-minor", "5000", "--notice-percents", "50,100"); code != 0 {
		t.Errorf("budget: %d %s", code, out)
	}
	if out, code := starter(t, "usage", app.CustomerID, "--usage-id", "u-1", "--amount-minor", "3000"); code != 0 {
		t.Errorf("usage: %d %s", code, out)
	}
	if out, code := starter(t, "usage", app.CustomerID, "--usage-id", "u-1", "--amount-minor", "3001"); code != 1 || !strings.Contains(out, `usage_id "u-1" was already reported for 3000`) {
		t.Errorf("reused usage_id: %d %s", code, out)
	}
	eventually(t, 20*time.Second, "cli-risk listed", func() bool {
		out, code := starter(t, "list", "--status", "active", "--json")
		return code == 0 && strings.Contains(out, `"cli-risk"`)
	})
	out, code = starter(t, "export-collections", "--out", filepath.Join(t.TempDir(), "c.csv"))
	if code != 0 {
		t.Errorf("export: %d %s", code, out)
	}
}
