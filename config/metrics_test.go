package config

import (
	"strings"
	"testing"
)

func TestMetricsAddr(t *testing.T) {
	t.Setenv("DUNNING_METRICS_ADDR", "")
	if c, err := FromEnv(); err != nil || c.MetricsAddr != "" {
		t.Errorf("unset: %q, %v (want off)", c.MetricsAddr, err)
	}
	for _, good := range []string{":9090", "127.0.0.1:9464", " :9090 "} {
		t.Setenv("DUNNING_METRICS_ADDR", good)
		if c, err := FromEnv(); err != nil || c.MetricsAddr != strings.TrimSpace(good) {
			t.Errorf("%q: %q, %v", good, c.MetricsAddr, err)
		}
	}
	for _, bad := range []string{"9090", "http://localhost:9090", "localhost"} {
		t.Setenv("DUNNING_METRICS_ADDR", bad)
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "DUNNING_METRICS_ADDR") {
			t.Errorf("%q: err = %v, want one naming DUNNING_METRICS_ADDR", bad, err)
		}
	}
}
