package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

// metricsQueue is the task queue of the worker this test scrapes, so that
// this customer's workflow and activities run on it alone.
const metricsQueue = "metrics-e2e"

// scrapeMetrics reads a worker's /metrics as metric families.
func scrapeMetrics(url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s: %d %s", url, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// exported says whether a name a dashboard query selects is among the
// families: a histogram's series are <family>_bucket, _sum and _count.
func exported(families map[string]*dto.MetricFamily, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f, ok := families[base]; ok {
			t := f.GetType()
			if t == dto.MetricType_HISTOGRAM || (suffix != "_bucket" && t == dto.MetricType_SUMMARY) {
				return true
			}
		}
	}
	return false
}

// prometheusOwn are series Prometheus makes about each scrape itself; no
// target exports them.
var prometheusOwn = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

// dashboardMetrics is the list deploy/monitoring_test.go keeps equal to the
// dashboards' PromQL.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../deploy/grafana/dashboard-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !slices.Contains(prometheusOwn, line) {
			names = append(names, line)
		}
	}
	if len(names) < 10 {
		t.Fatalf("only %d metrics listed: %q", len(names), names)
	}
	return names
}

// sample is the value of the series of a family whose labels include
// want, summed over the matching series.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		}
	}
	return sum, found
}

// A real worker, after real work (onboarding, a provisioning system that
// refuses, a late payment, a monitoring hit, a SendGrid event), exports
// every metric the Grafana dashboard uses, with the figures of that work.
func TestDashboardMetricsAreExported(t *testing.T) {
	t.Parallel()
	id := "metrics-1"
	prov := faults.NewProvisioning()
	defer prov.Close()
	prov.SetCustomerAnswer(id, faults.Answer{Status: http.StatusUnprocessableEntity}) // refused: provisioning fails at once

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, logs, err := startWorker(ctx, map[string]string{
		"DUNNING_METRICS_ADDR":       addr,
		"DUNNING_TASK_QUEUE":         metricsQueue,
		"DUNNING_PROVISIONING_URL":   prov.URL(),
		"DUNNING_AGING_SCHEDULE":     "off",
		"DUNNING_RECONCILE_SCHEDULE": "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopProcess(w)
	url := "http://" + addr + "/metrics"
	if !strings.Contains(logs.String(), "metrics listening") {
		t.Errorf("the worker does not say where its metrics are:\n%s", logs.String())
	}
	// A second worker on the same metrics address stops at start, naming it.
	second := exec.Command(filepath.Join(env.binDir, "worker"))
	second.Env = workerEnv(map[string]string{"DUNNING_METRICS_ADDR": addr, "DUNNING_TASK_QUEUE": metricsQueue})
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "DUNNING_METRICS_ADDR "+addr) {
		t.Errorf("a worker on a metrics port in use: %v\n%s", err, out)
	}

	app := application(id, "e2e")
	// Started as ops starts a customer, on this worker's own task queue.
	if _, err := env.client.ExecuteWorkflow(context.Background(), ops.StartOptions(app, metricsQueue), workflows.WorkflowType,
		workflows.Input{Application: app}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the prepayment request", func() bool { return len(status(t, id).Invoices) == 1 })
	pre := status(t, id).Invoices[0]
	if _, err := recordPayment(id, account.Payment{PaymentID: id + "-prepay", AmountMinor: pre.AmountMinor, Currency: "USD", Method: "bank_transfer"}); err != nil {
		t.Fatalf("prepay: %v", err)
	}
	// A SendGrid event for the prepayment request, through the webhook.
	key := id + ":" + pre.ID + ":prepayment_request"
	eventually(t, 20*time.Second, "the prepayment email", func() bool { return len(env.sendgrid.ByCustomArg("dunning_key", key)) == 1 })
	msg := env.sendgrid.ByCustomArg("dunning_key", key)[0]
	if code := postEvents(t, time.Now(), []map[string]any{{
		"email": app.Email, "timestamp": time.Now().Unix(), "event": "delivered", "sg_event_id": "evt-" + id + "-1",
		"sg_message_id": msg.ID + ".filter0001", "dunning_key": key, "customer_id": id, "invoice_id": pre.ID, "stage": "prepayment_request",
	}}); code != http.StatusOK {
		t.Fatalf("SendGrid event: %d", code)
	}
	// The first subscription invoice goes past due (at risk), then is paid
	// late by staff: recovered.
	var inv account.InvoiceView
	eventually(t, 60*time.Second, "a subscription invoice past due", func() bool {
		for _, i := range status(t, id).Invoices {
			if i.ID != pre.ID && i.DaysPastDue >= 2 {
				inv = i
				return true
			}
		}
		return false
	})
	if _, err := recordPayment(id, account.Payment{PaymentID: id + "-late", AmountMinor: inv.AmountMinor / 2, Currency: "USD", Method: "bank_transfer"}); err != nil {
		t.Fatalf("late payment: %v", err)
	}
	// Activity that a monitoring rule flags.
	now := time.Now().UTC().Format(time.RFC3339)
	req, _ := http.NewRequest(http.MethodPost, env.apiURL+"/v1/activity", strings.NewReader(
		`{"event_id":"`+id+`-a1","customer_id":"`+id+`","at":"`+now+`","kind":"resource_created","region":"us-east-1","resource_type":"p4d.24xlarge"}`+"\n"))
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("activity: %v %v", resp, err)
	} else {
		_ = resp.Body.Close()
	}

	want := dashboardMetrics(t)
	var families map[string]*dto.MetricFamily
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		families, err = scrapeMetrics(url)
		missing = missing[:0]
		for _, name := range want {
			if err == nil && !exported(families, name) {
				missing = append(missing, name)
			}
		}
		if err == nil && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the worker's /metrics lacks what the dashboard uses: %q (scrape error %v)\nworker log:\n%s",
				missing, err, tail(logs.String(), 3000))
		}
		time.Sleep(time.Second)
	}
	t.Logf("all %d dashboard metrics exported, among %d families", len(want), len(families))

	// And they carry this customer's figures.
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"dunning_metrics_scrape_success", nil, 1},
		{"dunning_provisioning_events_total", map[string]string{"event": string(account.EventProvisioningFailed)}, 1},
		{"dunning_payments_total", map[string]string{"method": "bank_transfer", "currency": "USD"}, 2},
		{"dunning_recovery_recovered_amount", map[string]string{"currency": "USD", "source": "staff"}, float64(inv.AmountMinor/2) / 100},
		{"dunning_email_deliveries", map[string]string{"stage": "prepayment_request", "status": "delivered"}, 1},
		{"dunning_monitoring_hits_total", map[string]string{"rule": "crypto_mining_resource"}, 1},
		{"temporal_activity_execution_failed_total", map[string]string{"activity_type": "Provision", "task_queue": metricsQueue}, 1},
	} {
		got, ok := sample(families, c.name, c.labels)
		if !ok || got < c.min {
			t.Errorf("%s%v = %v (present %v), want at least %v; exported: %v", c.name, c.labels, got, ok, c.min, families[c.name])
		}
	}
}

// A dashboard's histogram series name its family's _bucket, _sum or _count;
// a counter or gauge has no such series.
func TestExportedNamesHistogramSeries(t *testing.T) {
	h, g := dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE
	families := map[string]*dto.MetricFamily{
		"lat_seconds": {Type: &h},
		"slots":       {Type: &g},
	}
	for name, want := range map[string]bool{
		"lat_seconds": true, "lat_seconds_bucket": true, "lat_seconds_sum": true, "lat_seconds_count": true,
		"slots": true, "slots_bucket": false, "slots_count": false, "lat": false, "other_total": false,
	} {
		if got := exported(families, name); got != want {
			t.Errorf("exported(%s) = %v, want %v", name, got, want)
		}
	}
}
