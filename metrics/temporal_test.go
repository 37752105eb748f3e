package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The SDK's counters, gauges and timers reach the registry under
// Prometheus names: _total counters and histograms in seconds.
func TestTemporalHandlerNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, flush := NewTemporalHandler(reg, quiet())
	tagged := h.WithTags(map[string]string{"task_queue": "dunning-eu", "activity_type": "SendNotice", "bad key": "ok"})
	tagged.Counter("temporal_activity_execution_failed").Inc(2)
	tagged.Gauge("temporal_worker_task_slots_available").Update(7)
	tagged.Timer("temporal_activity_execution_latency").Record(300 * time.Millisecond)
	if err := flush.Close(); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range families {
		got[f.GetName()] = f.GetType().String()
		if f.GetName() == "temporal_activity_execution_latency_seconds" {
			hist := f.GetMetric()[0].GetHistogram()
			if hist.GetSampleCount() != 1 || hist.GetSampleSum() < 0.29 || hist.GetSampleSum() > 0.31 {
				t.Errorf("latency histogram %v", hist)
			}
		}
	}
	labels := map[string]string{}
	for _, f := range families {
		if f.GetName() == "temporal_activity_execution_failed_total" {
			for _, l := range f.GetMetric()[0].GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
		}
		if strings.HasPrefix(f.GetName(), "tally_") {
			t.Errorf("tally's own %s is exported", f.GetName())
		}
	}
	if labels["task_queue"] != "dunning-eu" || labels["bad_key"] != "ok" {
		t.Errorf("labels %v: want the task queue as configured and label names sanitized", labels)
	}
	for name, typ := range map[string]string{
		"temporal_activity_execution_failed_total":    "COUNTER",
		"temporal_worker_task_slots_available":        "GAUGE",
		"temporal_activity_execution_latency_seconds": "HISTOGRAM",
	} {
		if got[name] != typ {
			t.Errorf("%s: %q, want %s (got %v)", name, got[name], typ, got)
		}
	}
}
