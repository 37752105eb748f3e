package config

import (
	"strings"
	"testing"
)

func TestTuningDefaultsAndSettings(t *testing.T) {
	c, err := FromGetenv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Tuning != DefaultTuning {
		t.Errorf("tuning defaults = %+v, want %+v", c.Tuning, DefaultTuning)
	}
	vars := map[string]string{
		"DUNNING_WORKFLOW_CACHE_SIZE":  "25000",
		"DUNNING_WORKFLOW_POLLERS":     "8",
		"DUNNING_ACTIVITY_POLLERS":     " 16 ",
		"DUNNING_MAX_WORKFLOW_TASKS":   "200",
		"DUNNING_MAX_ACTIVITIES":       "300",
		"DUNNING_MAX_LOCAL_ACTIVITIES": "400",
	}
	c, err = FromGetenv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Tuning{WorkflowCacheSize: 25000, WorkflowPollers: 8, ActivityPollers: 16, MaxWorkflowTasks: 200, MaxActivities: 300, MaxLocalActivities: 400}
	if c.Tuning != want {
		t.Errorf("tuning = %+v, want %+v", c.Tuning, want)
	}
}

func TestBadTuningIsRefused(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"DUNNING_WORKFLOW_CACHE_SIZE", "lots"},
		{"DUNNING_WORKFLOW_CACHE_SIZE", "0"},
		{"DUNNING_WORKFLOW_CACHE_SIZE", "-5"},
		{"DUNNING_WORKFLOW_CACHE_SIZE", "10000000"},
		{"DUNNING_WORKFLOW_CACHE_SIZE", "1e4"},
		{"DUNNING_WORKFLOW_POLLERS", "1"},
		{"DUNNING_ACTIVITY_POLLERS", "1000"},
		{"DUNNING_MAX_WORKFLOW_TASKS", "2.5"},
		{"DUNNING_MAX_ACTIVITIES", "0"},
		{"DUNNING_MAX_LOCAL_ACTIVITIES", "ten"},
	} {
		_, err := FromGetenv(func(k string) string {
			if k == tc.name {
				return tc.value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: err = %v", tc.name, tc.value, err)
		}
	}
}
