package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/example/dunning/account"
)

// call sends a request to the worker's API and decodes a JSON answer.
func call(t *testing.T, token, method, path string, body any, out any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, env.apiURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode, string(data)
}

// The staff API on the real worker: roles, refusals with the validator's
// reason, the audit actor from the token, lists by search attribute, and
// the reports.
func TestHTTPAPI(t *testing.T) {
	t.Parallel()
	if code, _ := call(t, "", "GET", "/healthz", nil, nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	app := application("api-cust", "e2e")
	if code, body := call(t, "", "POST", "/v1/customers", app, nil); code != 401 {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := call(t, viewerToken, "POST", "/v1/customers", app, nil); code != 403 || !strings.Contains(body, "forbidden") {
		t.Errorf("viewer onboarding: %d %s", code, body)
	}
	if code, body := call(t, operatorToken, "POST", "/v1/customers", app, nil); code != 201 {
		t.Fatalf("onboard: %d %s", code, body)
	}
	if code, body := call(t, operatorToken, "POST", "/v1/customers", app, nil); code != 409 || !strings.Contains(body, "already exists") {
		t.Errorf("onboard twice: %d %s", code, body)
	}
	var v account.StatusView
	eventually(t, 20*time.Second, "screening", func() bool {
		code, _ := call(t, viewerToken, "GET", "/v1/customers/api-cust", nil, &v)
		return code == 200 && v.Status == account.StatusAwaitingPrepayment
	})
	pay := account.Payment{PaymentID: "api-pre", AmountMinor: v.Invoices[0].AmountMinor, Currency: "USD", Method: "card"}
	if code, _ := call(t, viewerToken, "POST", "/v1/customers/api-cust/payments", pay, nil); code != 403 {
		t.Errorf("viewer paying: %d", code)
	}
	bad := pay
	bad.PaymentID, bad.Currency = "api-eur", "EUR"
	if code, body := call(t, operatorToken, "POST", "/v1/customers/api-cust/payments", bad, nil); code != 409 || !strings.Contains(body, "currency EUR does not match the account currency USD") {
		t.Errorf("wrong currency: %d %s", code, body)
	}
	neg := pay
	neg.AmountMinor = -1
	if code, body := call(t, operatorToken, "POST", "/v1/customers/api-cust/payments", neg, nil); code != 400 || !strings.Contains(body, "amount_minor") {
		t.Errorf("negative amount: %d %s", code, body)
	}
	var res account.PaymentResult
	if code, body := call(t, operatorToken, "POST", "/v1/customers/api-cust/payments", pay, &res); code != 200 || res.Status != account.StatusActive {
		t.Fatalf("payment: %d %s", code, body)
	}
	if code, _ := call(t, operatorToken, "GET", "/v1/customers/nobody", nil, nil); code != 404 {
		t.Errorf("unknown customer: %d", code)
	}
	var audit struct {
		Entries []struct {
			Action string `json:"action"`
			Actor  string `json:"actor"`
		} `json:"entries"`
	}
	call(t, viewerToken, "GET", "/v1/customers/api-cust/audit", nil, &audit)
	found := false
	for _, a := range audit.Entries {
		found = found || (a.Action == string(account.EventPaymentRecorded) && a.Actor == "ops-bot")
	}
	if !found {
		t.Errorf("payment not audited as ops-bot: %+v", audit)
	}
	// Lists come from the search attributes (visibility is eventually consistent).
	eventually(t, 20*time.Second, "api-cust listed as active", func() bool {
		var list struct {
			Customers []struct {
				CustomerID string `json:"customer_id"`
			} `json:"customers"`
		}
		code, _ := call(t, viewerToken, "GET", "/v1/customers?status=active&page_size=1000", nil, &list)
		for _, c := range list.Customers {
			if c.CustomerID == "api-cust" {
				return code == 200
			}
		}
		return false
	})
	// A provider's enforcement notice through the API suspends at once.
	notice := map[string]any{"customer_id": "api-cust", "notice_id": "ABUSE-7", "category": "ddos", "detail": "outbound flood from vm-2"}
	if code, body := call(t, operatorToken, "POST", "/v1/enforcement-notices", notice, &v); code != 200 || v.Status != account.StatusSuspended {
		t.Errorf("enforcement notice: %d %s", code, body)
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", env.apiURL+"/v1/reports/aging?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(csv), "currency") {
		t.Errorf("aging csv: %d %s", resp.StatusCode, csv)
	}
}

// The worker sets up the daily aging Schedule; triggering it stores the
// day's snapshot and mails staff the summary once.
func TestDailyAgingSchedule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := env.client.ScheduleClient().GetHandle(ctx, "aging-snapshot-daily")
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatalf("schedule: %v", err)
	}
	if cal := desc.Schedule.Spec.Calendars; len(cal) != 1 || cal[0].Minute[0].Start != 5 || cal[0].Hour[0].Start != 0 {
		t.Errorf("schedule spec: %+v", desc.Schedule.Spec)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	key := "aging-summary:" + time.Now().UTC().Format("2006-01-02")
	eventually(t, 60*time.Second, "the staff summary", func() bool {
		m, err := env.store.OutboxMessageByKey(ctx, key)
		return err == nil && m.Status == "sent" && m.ToEmail == "billing-team@example.com" && strings.Contains(m.BodyText, "Receivables aging")
	})
	// One snapshot row per currency with open receivables today.
	var snapshots, currencies int
	_ = env.db.Get(&snapshots, `SELECT count(*) FROM aging_snapshots WHERE as_of = current_date`)
	_ = env.db.Get(&currencies, `SELECT count(DISTINCT currency) FROM invoices WHERE status = 'open' AND kind = 'subscription' AND amount_minor > paid_minor`)
	if snapshots != currencies {
		t.Errorf("%d snapshot rows for %d currencies", snapshots, currencies)
	}
	if n := len(env.sendgrid.ByCustomArg("dunning_key", key)); n != 1 {
		t.Errorf("summary sent %d times", n)
	}
}

// Activity events posted to the API are checked by the monitoring rules: a
// mining resource suspends the customer and opens a review; the hit is
// stored with its evidence. The CLI ingests a file the same way, listing
// bad lines.
func TestActivityMonitoringSuspendsOnMining(t *testing.T) {
	t.Parallel()
	app := application("gpu-farm", "e2e")
	onboardActive(t, app)
	now := time.Now().UTC().Format(time.RFC3339)
	lines := `{"event_id":"gf-1","customer_id":"gpu-farm","at":"` + now + `","kind":"login","region":"us-east-1"}
{"event_id":"gf-2","customer_id":"gpu-farm","at":"` + now + `","kind":"resource_created","region":"us-east-1","resource_type":"p4d.24xlarge"}
`
	req, _ := http.NewRequest("POST", env.apiURL+"/v1/activity", strings.NewReader(lines))
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"rule":"crypto_mining_resource"`) {
		t.Fatalf("ingest: %d %s", resp.StatusCode, body)
	}
	eventually(t, 20*time.Second, "suspension for mining", func() bool {
		v, err := tryStatus(app.CustomerID)
		return err == nil && v.Status == account.StatusSuspended && len(v.Reviews) == 1 && v.Reviews[0].Source == account.SourceMonitoring
	})
	var evidence string
	if err := env.db.Get(&evidence, `SELECT evidence::text FROM monitoring_hits WHERE event_id = 'gf-2' AND rule = 'crypto_mining_resource'`); err != nil || !strings.Contains(evidence, "p4d.24xlarge") {
		t.Errorf("stored hit: %q %v", evidence, err)
	}
	file := filepath.Join(t.TempDir(), "activity.jsonl")
	_ = os.WriteFile(file, []byte(lines+"{not json}\n"), 0o600)
	out, code := starter(t, "ingest-activity", file)
	if code != 0 || !strings.Contains(out, "3 events: 0 stored, 2 already known, 1 invalid") || !strings.Contains(out, "line 3") {
		t.Errorf("starter ingest-activity: %d %s", code, out)
	}
}
