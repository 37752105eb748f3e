// Package service wires a worker process together: configuration,
// PostgreSQL, Temporal, the mail sender, the provisioner, and the worker
// that runs CustomerLifecycle and its activities.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/activities"
	"github.com/example/dunning/config"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reconcile"
	"github.com/example/dunning/risk"
	"github.com/example/dunning/risk/providers"
	"github.com/example/dunning/schema"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// Dial connects to Temporal and checks that the server answers, so that a
// missing server is one clear error at start.
func Dial(ctx context.Context, cfg config.Config, logger *slog.Logger) (client.Client, error) {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	opts := client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(logger),
	}
	if err := temporalSecurity(cfg, &opts); err != nil {
		return nil, err
	}
	c, err := client.DialContext(dialCtx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %w", cfg.TemporalAddress, cfg.TemporalNamespace, err)
	}
	if _, err := c.CheckHealth(dialCtx, &client.CheckHealthRequest{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("the Temporal server at %s is not healthy: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

// temporalSecurity sets TLS for a real cluster: an API key (Temporal Cloud)
// or a client certificate (mTLS); either turns TLS on.
func temporalSecurity(cfg config.Config, opts *client.Options) error {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.TemporalTLSCert != "" || cfg.TemporalTLSKey != "":
		cert, err := tls.LoadX509KeyPair(cfg.TemporalTLSCert, cfg.TemporalTLSKey)
		if err != nil {
			return fmt.Errorf("TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	case cfg.TemporalAPIKey != "":
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
	default:
		return nil
	}
	opts.ConnectionOptions.TLS = tlsCfg
	return nil
}

// EnsureSearchAttributes registers the custom search attributes that are
// missing. Servers that do not allow it (Temporal Cloud manages them in its
// own console) only get a warning.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, logger *slog.Logger) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributeTypes() {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		return fmt.Errorf("register search attributes: %w", err)
	}
	logger.Info("registered search attributes", "count", len(missing))
	return nil
}

// EnsureAgingSchedule creates the Temporal Schedule that runs the daily
// receivables snapshot (DUNNING_AGING_SCHEDULE, a cron expression in UTC;
// "off" disables it). One that exists already is kept as it is.
func EnsureAgingSchedule(ctx context.Context, c client.Client, cfg config.Config) error {
	if cfg.AgingSchedule == "off" {
		return nil
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   workflows.AgingScheduleID,
		Spec: client.ScheduleSpec{CronExpressions: []string{cfg.AgingSchedule}},
		Action: &client.ScheduleWorkflowAction{
			ID: "aging-snapshot", Workflow: workflows.AgingWorkflowType, TaskQueue: cfg.TaskQueue,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "daily receivables aging snapshot and staff summary",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	return err
}

// EnsureReconcileSchedule creates the Temporal Schedule that runs the daily
// reconciliation (DUNNING_RECONCILE_SCHEDULE, a cron expression in UTC;
// "off" disables it). One that exists already is kept as it is.
func EnsureReconcileSchedule(ctx context.Context, c client.Client, cfg config.Config) error {
	if cfg.ReconcileSchedule == "off" {
		return nil
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   workflows.ReconcileScheduleID,
		Spec: client.ScheduleSpec{CronExpressions: []string{cfg.ReconcileSchedule}},
		Action: &client.ScheduleWorkflowAction{
			ID: "reconcile", Workflow: workflows.ReconcileWorkflowType, TaskQueue: cfg.TaskQueue,
			Args: []any{cfg.ReconcileRepair},
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "daily reconciliation of the customers' workflows with PostgreSQL",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	return err
}

// Reconciler compares the customers' workflows with PostgreSQL, over c and
// st. The subscriptions table is compared when it is the provisioner.
func Reconciler(cfg config.Config, c client.Client, st *store.Store) *reconcile.Reconciler {
	return &reconcile.Reconciler{
		Workflows:     reconcile.Temporal{Client: c},
		Database:      st,
		Subscriptions: cfg.ProvisioningURL == "",
	}
}

// Policies returns the embedded policies plus any in DUNNING_POLICY_DIR.
func Policies(cfg config.Config) (*policy.Registry, error) {
	if cfg.PolicyDir == "" {
		return policy.Embedded()
	}
	// The shipped policies first, then the directory's: a file there may
	// add a policy or a newer version.
	sub, err := policy.EmbeddedFS()
	if err != nil {
		return nil, err
	}
	merged, err := policy.LoadFS(sub)
	if err != nil {
		return nil, err
	}
	if err := merged.AddFS(os.DirFS(cfg.PolicyDir)); err != nil {
		return nil, fmt.Errorf("DUNNING_POLICY_DIR: %w", err)
	}
	return merged, nil
}

// Mailer picks the mail sender: SendGrid with an API key, else the outbox
// and log only.
func Mailer(cfg config.Config, logger *slog.Logger) (mail.Sender, error) {
	if cfg.SendGridAPIKey == "" {
		return mail.LogSender{Logger: logger}, nil
	}
	ids, err := mail.ParseTemplateIDs(cfg.TemplateIDs)
	if err != nil {
		return nil, fmt.Errorf("SENDGRID_TEMPLATE_IDS: %w", err)
	}
	return &mail.SendGrid{APIKey: cfg.SendGridAPIKey, Host: cfg.SendGridAPIHost, From: cfg.FromEmail, FromName: cfg.FromName,
		ReplyTo: cfg.ReplyTo, TemplateIDs: ids}, nil
}

// RiskConfig is the embedded risk rules, or DUNNING_RISK_CONFIG's.
func RiskConfig(cfg config.Config) (risk.Config, error) {
	if cfg.RiskConfig == "" {
		return risk.DefaultConfig()
	}
	rc, err := risk.LoadConfig(cfg.RiskConfig)
	if err != nil {
		return risk.Config{}, fmt.Errorf("DUNNING_RISK_CONFIG: %w", err)
	}
	return rc, nil
}

// Provisioner picks the provisioner: a webhook when configured, else the
// subscriptions table.
func Provisioner(cfg config.Config, st *store.Store) activities.Provisioner {
	if cfg.ProvisioningURL != "" {
		return &activities.WebhookProvisioner{URL: cfg.ProvisioningURL}
	}
	return activities.DBProvisioner{Store: st}
}

// WorkerOptions are the worker's tuning: more activity pollers than the
// SDK's two, because notices are many and short; time to finish tasks on
// shutdown.
func WorkerOptions() worker.Options {
	return worker.Options{
		MaxConcurrentActivityTaskPollers: 8,
		MaxConcurrentWorkflowTaskPollers: 4,
		WorkerStopTimeout:                20 * time.Second,
	}
}

// Options tune a worker run.
type Options struct {
	Migrate bool // apply schema migrations at start
	// Beside sets up what runs beside the worker once Temporal and
	// PostgreSQL answer (the worker command serves the API there). It
	// returns a function that runs until its context ends, or nil for
	// nothing; an error stops the start.
	Beside func(config.Config, client.Client, *store.Store, *slog.Logger) (func(context.Context) error, error)
}

// Run connects everything and runs the worker until ctx is done.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) error {
	reg, err := Policies(cfg)
	if err != nil {
		return err
	}
	riskCfg, err := RiskConfig(cfg)
	if err != nil {
		return err
	}
	mailer, err := Mailer(cfg, logger)
	if err != nil {
		return err
	}
	sms, err := providers.SMSFromEnv(os.Getenv, logger)
	if err != nil {
		return err
	}
	// Both connections are checked before anything is logged or changed,
	// so that a missing server is the only line printed.
	c, err := Dial(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if opts.Migrate {
		v, err := schema.Migrate(ctx, st.DB().DB)
		if err != nil {
			return err
		}
		logger.Info("database schema ready", "version", v)
	}
	if err := EnsureSearchAttributes(ctx, c, cfg.TemporalNamespace, logger); err != nil {
		logger.Warn("search attributes not registered; register them with your Temporal admin tools", "error", err)
	}
	w := worker.New(c, cfg.TaskQueue, WorkerOptions())
	wfs := &workflows.Workflows{Policies: reg, Risk: riskCfg}
	w.RegisterWorkflowWithOptions(wfs.CustomerLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
	w.RegisterWorkflowWithOptions(workflows.AgingSnapshot, workflow.RegisterOptions{Name: workflows.AgingWorkflowType})
	if err := EnsureAgingSchedule(ctx, c, cfg); err != nil {
		logger.Warn("daily aging schedule not set up", "error", err)
	}
	w.RegisterWorkflowWithOptions(workflows.Reconcile, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowType})
	w.RegisterActivityWithOptions((&reconcile.Activities{Reconciler: Reconciler(cfg, c, st), Store: st}).ReconcileAll,
		activity.RegisterOptions{Name: workflows.ReconcileActivity})
	if err := EnsureReconcileSchedule(ctx, c, cfg); err != nil {
		logger.Warn("daily reconciliation schedule not set up", "error", err)
	}
	w.RegisterActivity(&activities.Activities{
		Store:       st,
		Mailer:      mailer,
		Provisioner: Provisioner(cfg, st),
		SMS:         sms,
		Credit:      providers.CreditFromEnv(os.Getenv, riskCfg),
		Risk:        riskCfg,
		Logger:      logger,
		StaffEmail:  cfg.StaffEmail,
		StaffLocale: cfg.StaffLocale,
		FromName:    cfg.FromName,
		CodeSecret:  cfg.CodeSecret,
	})
	if opts.Beside != nil {
		run, err := opts.Beside(cfg, c, st, logger)
		if err != nil {
			return err
		}
		if run != nil {
			done := make(chan error, 1)
			go func() { done <- run(ctx) }()
			defer func() {
				if err := <-done; err != nil {
					logger.Warn("stopped with an error", "error", err)
				}
			}()
		}
	}
	logger.Info("worker ready", "config", cfg)
	stop := make(chan any)
	go func() {
		<-ctx.Done()
		logger.Info("shutting down: finishing running tasks")
		close(stop)
	}()
	if err := w.Run(stop); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	logger.Info("worker stopped")
	return nil
}
