package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DUNNING_TASK_QUEUE", "DATABASE_URL",
		"SENDGRID_API_KEY", "SENDGRID_API_HOST", "DUNNING_FROM_EMAIL", "LOG_LEVEL"} {
		t.Setenv(k, "")
	}
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.TaskQueue != "dunning" || c.TemporalNamespace != "default" || c.TemporalAddress != "127.0.0.1:7233" ||
		c.SendGridAPIHost != "https://api.sendgrid.com" || c.DatabaseURL != DefaultDatabaseURL {
		t.Errorf("defaults = %+v", c)
	}
}

func TestBadSettingsAreRefused(t *testing.T) {
	for k, v := range map[string]string{
		"SENDGRID_API_HOST":        "api.sendgrid.com",
		"DUNNING_FROM_EMAIL":       "billing",
		"LOG_LEVEL":                "loud",
		"DUNNING_PROVISIONING_URL": "not a url",
		"TEMPORAL_TLS_CERT":        "/etc/cert.pem",
		"DUNNING_STAFF_LOCALE":     "fr",
		"DUNNING_RECONCILE_REPAIR": "sometimes",
		"DUNNING_TEMPORAL_UI_URL":  "localhost:8233",
		"DUNNING_CONSOLE_URL":      "https://billing.example.com/console",
	} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%q: err = %v", k, v, err)
			}
		})
	}
}

func TestSecretsStayOutOfLogs(t *testing.T) {
	t.Setenv("SENDGRID_API_KEY", "SG.supersecret")
	t.Setenv("TEMPORAL_API_KEY", "tmprl-supersecret")
	t.Setenv("DUNNING_API_TOKENS", "bot:operator:supersecret-token-1")
	t.Setenv("DATABASE_URL", "postgres://app:hunter2@db:5432/dunning")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	out := buf.String()
	if strings.Contains(out, "supersecret") || strings.Contains(out, "hunter2") {
		t.Errorf("secret in log: %s", out)
	}
	if !strings.Contains(out, "sendgrid_key=set") || !strings.Contains(out, "app:xxxxx@db") {
		t.Errorf("log = %s", out)
	}
}

func TestReconcileSchedule(t *testing.T) {
	c, err := FromGetenv(func(string) string { return "" })
	if err != nil || c.ReconcileSchedule != "35 0 * * *" || c.ReconcileRepair {
		t.Errorf("defaults: %q repair %v, %v", c.ReconcileSchedule, c.ReconcileRepair, err)
	}
	env := map[string]string{"DUNNING_RECONCILE_SCHEDULE": "off", "DUNNING_RECONCILE_REPAIR": "TRUE"}
	c, err = FromGetenv(func(k string) string { return env[k] })
	if err != nil || c.ReconcileSchedule != "off" || !c.ReconcileRepair {
		t.Errorf("set: %q repair %v, %v", c.ReconcileSchedule, c.ReconcileRepair, err)
	}
}

func TestWebhookSettings(t *testing.T) {
	c, err := FromGetenv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookTimeout.String() != "10s" || c.WebhookRetryFirst.String() != "30s" || c.WebhookRetryMax.String() != "6h0m0s" ||
		c.WebhookGiveUp.String() != "72h0m0s" || c.WebhookAllowHTTPLoopback {
		t.Errorf("webhook defaults = %+v", c)
	}
	for name, vars := range map[string]map[string]string{
		"DUNNING_WEBHOOK_TIMEOUT":             {"DUNNING_WEBHOOK_TIMEOUT": "ten"},
		"DUNNING_WEBHOOK_TIMEOUT ":            {"DUNNING_WEBHOOK_TIMEOUT": "5m"},
		"DUNNING_WEBHOOK_RETRY_FIRST":         {"DUNNING_WEBHOOK_RETRY_FIRST": "-1s"},
		"DUNNING_WEBHOOK_GIVE_UP":             {"DUNNING_WEBHOOK_GIVE_UP": "0s"},
		"DUNNING_WEBHOOK_RETRY_MAX":           {"DUNNING_WEBHOOK_RETRY_FIRST": "1m", "DUNNING_WEBHOOK_RETRY_MAX": "30s"},
		"DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK": {"DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK": "maybe"},
	} {
		if _, err := FromGetenv(func(k string) string { return vars[k] }); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(name)) {
			t.Errorf("%v: err = %v", vars, err)
		}
	}
}

func TestDBSettings(t *testing.T) {
	c, err := FromGetenv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.DB != DefaultDB() || c.DB.MaxConns != 20 {
		t.Errorf("db defaults = %+v", c.DB)
	}
	set := map[string]string{"DUNNING_DB_MAX_CONNS": "64", "DUNNING_DB_STATEMENT_TIMEOUT": "2m", "DUNNING_DB_IO_TIMEOUT": "3m"}
	c, err = FromGetenv(func(k string) string { return set[k] })
	if err != nil {
		t.Fatal(err)
	}
	if want := (DB{MaxConns: 64, StatementTimeout: 2 * time.Minute, IOTimeout: 3 * time.Minute}); c.DB != want {
		t.Errorf("db = %+v, want %+v", c.DB, want)
	}
	for name, vars := range map[string]map[string]string{
		"DUNNING_DB_MAX_CONNS":          {"DUNNING_DB_MAX_CONNS": "0"},
		"DUNNING_DB_MAX_CONNS ":         {"DUNNING_DB_MAX_CONNS": "twenty"},
		"DUNNING_DB_MAX_CONNS  ":        {"DUNNING_DB_MAX_CONNS": "5000"},
		"DUNNING_DB_STATEMENT_TIMEOUT":  {"DUNNING_DB_STATEMENT_TIMEOUT": "500ms"},
		"DUNNING_DB_IO_TIMEOUT":         {"DUNNING_DB_IO_TIMEOUT": "soon"},
		"DUNNING_DB_IO_TIMEOUT ":        {"DUNNING_DB_IO_TIMEOUT": "20s"}, // not longer than the 30s statement timeout
		"DUNNING_DB_STATEMENT_TIMEOUT ": {"DUNNING_DB_STATEMENT_TIMEOUT": "1m", "DUNNING_DB_IO_TIMEOUT": "1m"},
	} {
		if _, err := FromGetenv(func(k string) string { return vars[k] }); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(name)) {
			t.Errorf("%v: err = %v", vars, err)
		}
	}
}
