// Package config reads the settings every process shares from the
// environment. Every setting has a working default for local development,
// except secrets.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/account"
)

// Config is the public configuration contract.
type Config struct {
	TemporalAddress   string // TEMPORAL_ADDRESS
	TemporalNamespace string // TEMPORAL_NAMESPACE
	TemporalAPIKey    string // TEMPORAL_API_KEY (secret): Temporal Cloud API key; turns TLS on
	TemporalTLSCert   string // TEMPORAL_TLS_CERT: client certificate file for mTLS
	TemporalTLSKey    string // TEMPORAL_TLS_KEY: its private key file
	TaskQueue         string // DUNNING_TASK_QUEUE
	DatabaseURL       string // DATABASE_URL
	SendGridAPIKey    string // SENDGRID_API_KEY (secret; empty: mail stays in the outbox)
	SendGridAPIHost   string // SENDGRID_API_HOST
	FromEmail         string // DUNNING_FROM_EMAIL
	FromName          string // DUNNING_FROM_NAME
	ReplyTo           string // DUNNING_REPLY_TO
	ProvisioningURL   string // DUNNING_PROVISIONING_URL (empty: the subscriptions table)
	PolicyDir         string // DUNNING_POLICY_DIR: extra policy files beside the embedded ones
	RiskConfig        string // DUNNING_RISK_CONFIG: a risk rules file replacing the embedded one
	StaffEmail        string // DUNNING_STAFF_EMAIL: where staff alerts go
	StaffLocale       string // DUNNING_STAFF_LOCALE: en or ko
	TemplateIDs       string // SENDGRID_TEMPLATE_IDS: "overdue_1=d-...,final_notice=d-..."
	WebhookPublicKey  string // SENDGRID_WEBHOOK_PUBLIC_KEY: verifies SendGrid's signed event webhook
	HTTPAddr          string // DUNNING_HTTP_ADDR: API and webhooks; empty: no HTTP server
	MetricsAddr       string // DUNNING_METRICS_ADDR: Prometheus /metrics on its own listener; empty: off
	APITokens         string // DUNNING_API_TOKENS (secret): "name:role:token,..."
	CodeSecret        string // DUNNING_CODE_SECRET (secret): keys SMS code hashes; the same on every worker
	AgingSchedule     string // DUNNING_AGING_SCHEDULE: cron (UTC) of the daily aging snapshot; "off" disables
	ReconcileSchedule string // DUNNING_RECONCILE_SCHEDULE: cron (UTC) of the daily reconciliation; "off" disables
	ReconcileRepair   bool   // DUNNING_RECONCILE_REPAIR: the daily reconciliation also repairs (default: it only reports)
	LogLevel          string // LOG_LEVEL: debug, info, warn, error
	// The payment gateway. Without a key cards are not charged and
	// payments are recorded by staff only.
	StripeAPIKey        string // STRIPE_API_KEY (secret)
	StripeAPIBase       string // STRIPE_API_BASE: the API's base URL (a local fake in tests and the demo)
	StripeWebhookSecret string // STRIPE_WEBHOOK_SECRET (secret): verifies POST /webhooks/stripe
	// PayLinkReturnURL is where the hosted payment page sends the
	// customer back to (DUNNING_PAY_RETURN_URL).
	PayLinkReturnURL string
	// The staff console (served under /console/ when HTTPAddr is set).
	TemporalUIURL string // DUNNING_TEMPORAL_UI_URL: the Temporal Web UI the console links each customer to
	ConsoleURL    string // DUNNING_CONSOLE_URL: the console's public origin, e.g. https://billing.example.com; empty: the request's own
	// Outbound webhooks to integrators' endpoints.
	WebhookTimeout           time.Duration // DUNNING_WEBHOOK_TIMEOUT: one delivery attempt
	WebhookRetryFirst        time.Duration // DUNNING_WEBHOOK_RETRY_FIRST: wait after the first failure
	WebhookRetryMax          time.Duration // DUNNING_WEBHOOK_RETRY_MAX: the longest wait
	WebhookGiveUp            time.Duration // DUNNING_WEBHOOK_GIVE_UP: then the delivery is failed
	WebhookAllowHTTPLoopback bool          // DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK: accept http:// to loopback endpoints
	// The worker's cache, pollers and concurrency (config/tuning.go).
	Tuning Tuning
	DB     DB // the PostgreSQL pool and driver bounds
}

// DB sizes the worker's PostgreSQL pool and bounds what its connections
// wait for.
type DB struct {
	// MaxConns is the pool's size, open and idle alike, so that a steady
	// load reuses connections instead of closing and reopening them
	// (DUNNING_DB_MAX_CONNS).
	MaxConns int
	// StatementTimeout is the session's statement_timeout: the server ends
	// a statement that runs longer (DUNNING_DB_STATEMENT_TIMEOUT).
	StatementTimeout time.Duration
	// IOTimeout bounds every read and write on a connection: a server that
	// stops answering (a partition) fails the call after it instead of
	// when TCP gives up. It is longer than StatementTimeout, so a slow
	// statement is ended by the server first (DUNNING_DB_IO_TIMEOUT).
	IOTimeout time.Duration
}

// Database defaults.
const (
	DefaultDBMaxConns         = 20
	DefaultDBStatementTimeout = 30 * time.Second
	DefaultDBIOTimeout        = 45 * time.Second
)

// DefaultDB is the pool a process gets without DUNNING_DB_* settings.
func DefaultDB() DB {
	return DB{MaxConns: DefaultDBMaxConns, StatementTimeout: DefaultDBStatementTimeout, IOTimeout: DefaultDBIOTimeout}
}

// DefaultDatabaseURL is the local development database.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/dunning?sslmode=disable"

// DefaultStripeAPIBase is Stripe's API.
const DefaultStripeAPIBase = "https://api.stripe.com"

// FromEnv reads the configuration from the process environment and checks it.
func FromEnv() (Config, error) { return FromGetenv(os.Getenv) }

// FromGetenv reads the configuration through getenv (the environment, or a
// map in tests of deployment files) and checks it.
func FromGetenv(getenv func(string) string) (Config, error) {
	env := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		TemporalAddress:   env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace: env("TEMPORAL_NAMESPACE", "default"),
		TemporalAPIKey:    getenv("TEMPORAL_API_KEY"),
		TemporalTLSCert:   getenv("TEMPORAL_TLS_CERT"),
		TemporalTLSKey:    getenv("TEMPORAL_TLS_KEY"),
		TaskQueue:         env("DUNNING_TASK_QUEUE", "dunning"),
		DatabaseURL:       env("DATABASE_URL", DefaultDatabaseURL),
		SendGridAPIKey:    getenv("SENDGRID_API_KEY"),
		SendGridAPIHost:   env("SENDGRID_API_HOST", "https://api.sendgrid.com"),
		FromEmail:         env("DUNNING_FROM_EMAIL", "billing@example.com"),
		FromName:          env("DUNNING_FROM_NAME", "Billing"),
		ReplyTo:           getenv("DUNNING_REPLY_TO"),
		ProvisioningURL:   getenv("DUNNING_PROVISIONING_URL"),
		PolicyDir:         getenv("DUNNING_POLICY_DIR"),
		RiskConfig:        getenv("DUNNING_RISK_CONFIG"),
		StaffEmail:        env("DUNNING_STAFF_EMAIL", "billing-team@example.com"),
		StaffLocale:       env("DUNNING_STAFF_LOCALE", "en"),
		TemplateIDs:       getenv("SENDGRID_TEMPLATE_IDS"),
		WebhookPublicKey:  getenv("SENDGRID_WEBHOOK_PUBLIC_KEY"),
		HTTPAddr:          getenv("DUNNING_HTTP_ADDR"),
		MetricsAddr:       strings.TrimSpace(getenv("DUNNING_METRICS_ADDR")),
		APITokens:         getenv("DUNNING_API_TOKENS"),
		CodeSecret:        getenv("DUNNING_CODE_SECRET"),
		AgingSchedule:     env("DUNNING_AGING_SCHEDULE", "5 0 * * *"),
		ReconcileSchedule: env("DUNNING_RECONCILE_SCHEDULE", "35 0 * * *"),
		LogLevel:          env("LOG_LEVEL", "info"),

		StripeAPIKey:        getenv("STRIPE_API_KEY"),
		StripeAPIBase:       env("STRIPE_API_BASE", DefaultStripeAPIBase),
		StripeWebhookSecret: getenv("STRIPE_WEBHOOK_SECRET"),
		PayLinkReturnURL:    env("DUNNING_PAY_RETURN_URL", "https://example.com/billing"),

		TemporalUIURL: env("DUNNING_TEMPORAL_UI_URL", "http://localhost:8233"),
		ConsoleURL:    getenv("DUNNING_CONSOLE_URL"),
	}
	switch v := strings.ToLower(env("DUNNING_RECONCILE_REPAIR", "false")); v {
	case "true", "1", "yes":
		c.ReconcileRepair = true
	case "false", "0", "no":
	default:
		return c, fmt.Errorf("DUNNING_RECONCILE_REPAIR %q must be true or false", v)
	}
	if err := c.webhooksFromEnv(env); err != nil {
		return c, err
	}
	if err := c.tuningFromEnv(env); err != nil {
		return c, err
	}
	if err := c.dbFromEnv(env); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// webhooksFromEnv reads the outbound webhook settings.
func (c *Config) webhooksFromEnv(env func(key, def string) string) error {
	for _, d := range []struct {
		name, def string
		to        *time.Duration
	}{
		{"DUNNING_WEBHOOK_TIMEOUT", "10s", &c.WebhookTimeout},
		{"DUNNING_WEBHOOK_RETRY_FIRST", "30s", &c.WebhookRetryFirst},
		{"DUNNING_WEBHOOK_RETRY_MAX", "6h", &c.WebhookRetryMax},
		{"DUNNING_WEBHOOK_GIVE_UP", "72h", &c.WebhookGiveUp},
	} {
		v, err := time.ParseDuration(env(d.name, d.def))
		if err != nil || v <= 0 {
			return fmt.Errorf("%s %q must be a positive duration like %s", d.name, env(d.name, d.def), d.def)
		}
		*d.to = v
	}
	if c.WebhookTimeout > time.Minute {
		// A delivery run waits for its attempts; the dispatcher allows it
		// two minutes beyond its five.
		return fmt.Errorf("DUNNING_WEBHOOK_TIMEOUT %s must be at most 1m", c.WebhookTimeout)
	}
	if c.WebhookRetryMax < c.WebhookRetryFirst || c.WebhookGiveUp < c.WebhookRetryFirst {
		return fmt.Errorf("DUNNING_WEBHOOK_RETRY_MAX (%s) and DUNNING_WEBHOOK_GIVE_UP (%s) must not be shorter than DUNNING_WEBHOOK_RETRY_FIRST (%s)",
			c.WebhookRetryMax, c.WebhookGiveUp, c.WebhookRetryFirst)
	}
	switch v := strings.ToLower(env("DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK", "false")); v {
	case "true", "1", "yes":
		c.WebhookAllowHTTPLoopback = true
	case "false", "0", "no":
	default:
		return fmt.Errorf("DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK %q must be true or false", v)
	}
	return nil
}

// dbFromEnv reads the pool and driver bounds.
func (c *Config) dbFromEnv(env func(key, def string) string) error {
	c.DB = DefaultDB()
	if v := env("DUNNING_DB_MAX_CONNS", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("DUNNING_DB_MAX_CONNS %q must be a whole number from 1 to 1000", v)
		}
		c.DB.MaxConns = n
	}
	for _, d := range []struct {
		name string
		def  time.Duration
		to   *time.Duration
	}{
		{"DUNNING_DB_STATEMENT_TIMEOUT", DefaultDBStatementTimeout, &c.DB.StatementTimeout},
		{"DUNNING_DB_IO_TIMEOUT", DefaultDBIOTimeout, &c.DB.IOTimeout},
	} {
		v := env(d.name, d.def.String())
		t, err := time.ParseDuration(v)
		if err != nil || t < time.Second {
			return fmt.Errorf("%s %q must be a duration of at least 1s, like %s", d.name, v, d.def)
		}
		*d.to = t
	}
	return c.DB.Validate()
}

// Validate checks that the bounds fit together.
func (d DB) Validate() error {
	if d.MaxConns < 1 {
		return fmt.Errorf("DUNNING_DB_MAX_CONNS %d must be at least 1", d.MaxConns)
	}
	if d.StatementTimeout <= 0 || d.IOTimeout <= d.StatementTimeout {
		return fmt.Errorf("DUNNING_DB_IO_TIMEOUT (%s) must be longer than DUNNING_DB_STATEMENT_TIMEOUT (%s), so that the server ends a slow statement before the driver gives up on the connection",
			d.IOTimeout, d.StatementTimeout)
	}
	return nil
}

// Validate checks the settings that can be checked without connecting.
func (c Config) Validate() error {
	if u, err := url.Parse(c.SendGridAPIHost); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("SENDGRID_API_HOST %q must be a base URL with scheme, e.g. https://api.sendgrid.com", c.SendGridAPIHost)
	}
	if !strings.Contains(c.FromEmail, "@") {
		return fmt.Errorf("DUNNING_FROM_EMAIL %q is not an email address", c.FromEmail)
	}
	if c.ProvisioningURL != "" {
		if u, err := url.Parse(c.ProvisioningURL); err != nil || u.Host == "" {
			return fmt.Errorf("DUNNING_PROVISIONING_URL %q is not a URL", c.ProvisioningURL)
		}
	}
	for _, u := range []struct{ name, v string }{{"STRIPE_API_BASE", c.StripeAPIBase}, {"DUNNING_PAY_RETURN_URL", c.PayLinkReturnURL}} {
		if pu, err := url.Parse(u.v); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fmt.Errorf("%s %q must be a base URL with scheme, e.g. https://api.stripe.com", u.name, u.v)
		}
	}
	if pu, err := url.Parse(c.TemporalUIURL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("DUNNING_TEMPORAL_UI_URL %q must be a base URL with scheme, e.g. http://localhost:8233", c.TemporalUIURL)
	}
	if c.ConsoleURL != "" {
		if pu, err := url.Parse(c.ConsoleURL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || (pu.Path != "" && pu.Path != "/") {
			return fmt.Errorf("DUNNING_CONSOLE_URL %q must be an origin with scheme and no path, e.g. https://billing.example.com", c.ConsoleURL)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("DUNNING_METRICS_ADDR %q must be host:port or :port, e.g. :9090", c.MetricsAddr)
		}
	}
	if (c.TemporalTLSCert == "") != (c.TemporalTLSKey == "") {
		return fmt.Errorf("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together")
	}
	if !strings.Contains(c.StaffEmail, "@") {
		return fmt.Errorf("DUNNING_STAFF_EMAIL %q is not an email address", c.StaffEmail)
	}
	if c.StaffLocale != account.LocaleEnglish && c.StaffLocale != account.LocaleKorean {
		return fmt.Errorf("DUNNING_STAFF_LOCALE %q must be en or ko", c.StaffLocale)
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	return nil
}

// Level is the slog level for LOG_LEVEL.
func (c Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL %q must be debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// LogValue keeps secrets out of logs: the API key and any database password
// are never printed.
func (c Config) LogValue() slog.Value {
	key := "unset (mail stays in the outbox)"
	if c.SendGridAPIKey != "" {
		key = "set"
	}
	set := func(v string) string {
		if v == "" {
			return "unset"
		}
		return "set"
	}
	return slog.GroupValue(
		slog.String("temporal", c.TemporalAddress),
		slog.String("namespace", c.TemporalNamespace),
		slog.String("temporal_api_key", set(c.TemporalAPIKey)),
		slog.String("task_queue", c.TaskQueue),
		slog.String("database", Redact(c.DatabaseURL)),
		slog.Int("db_max_conns", c.DB.MaxConns),
		slog.Duration("db_io_timeout", c.DB.IOTimeout),
		slog.String("sendgrid_host", c.SendGridAPIHost),
		slog.String("sendgrid_key", key),
		slog.String("from", c.FromEmail),
		slog.String("staff", c.StaffEmail),
		slog.String("http", c.HTTPAddr),
		slog.String("metrics", c.MetricsAddr),
		slog.String("api_tokens", set(c.APITokens)),
		slog.String("webhook_key", set(c.WebhookPublicKey)),
		slog.String("code_secret", set(c.CodeSecret)),
		slog.String("stripe_base", c.StripeAPIBase),
		slog.String("stripe_key", set(c.StripeAPIKey)),
		slog.String("stripe_webhook_secret", set(c.StripeWebhookSecret)),
	)
}

// Redact hides the password in a connection string (URL or key=value
// form) for logs and errors.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	return passwordKV.ReplaceAllString(dsn, "password=xxxxx")
}

var passwordKV = regexp.MustCompile(`password=('[^']*'|\S*)`)

// Logger builds the process logger at the configured level.
func (c Config) Logger() *slog.Logger {
	level, _ := c.Level()
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
