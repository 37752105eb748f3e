// Package service wires a worker process together: configuration,
// PostgreSQL, Temporal, the mail sender, the provisioner, and the worker
// that runs CustomerLifecycle and its activities. Only the commands import
// it; what ops and the CLI share with it is in internal/setup.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/activities"
	"github.com/example/dunning/config"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/reconcile"
	"github.com/example/dunning/risk/providers"
	"github.com/example/dunning/store"
	"github.com/example/dunning/webhooks"
	"github.com/example/dunning/workflows"
)

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

// EnsureWebhookDispatcher starts the workflow that delivers the outbound
// webhooks, unless it is running already (one per task queue, whichever
// worker started it).
func EnsureWebhookDispatcher(ctx context.Context, c client.Client, cfg config.Config) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WebhookDispatcherID(cfg.TaskQueue),
		TaskQueue:                cfg.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            "delivers the outbound webhooks from the outbox",
	}, workflows.WebhookDispatcherType, workflows.DispatcherInput{})
	return err
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

// Gateway is the payment gateway: Stripe with a key, else none, and the
// worker says so, since then no card is charged.
func Gateway(cfg config.Config, logger *slog.Logger) gateway.Gateway {
	if cfg.StripeAPIKey == "" {
		logger.Warn("no STRIPE_API_KEY: cards are not saved or charged and emails carry no pay-now link; payments are recorded by staff only")
		return nil
	}
	logger.Info("payment gateway: stripe", "api_base", cfg.StripeAPIBase)
	return gateway.NewStripe(cfg.StripeAPIKey, cfg.StripeAPIBase, nil)
}

// Provisioner picks the provisioner: a webhook when configured, else the
// subscriptions table.
func Provisioner(cfg config.Config, st *store.Store) activities.Provisioner {
	if cfg.ProvisioningURL != "" {
		return &activities.WebhookProvisioner{URL: cfg.ProvisioningURL}
	}
	return activities.DBProvisioner{Store: st}
}

// WorkerOptions are the worker's options with the default tuning.
func WorkerOptions() worker.Options { return WorkerOptionsFor(config.DefaultTuning) }

// WorkerOptionsFor are the worker's options for a tuning: its pollers and
// concurrency, and time to finish tasks on shutdown. The sticky cache size
// is process-wide in the SDK (worker.SetStickyWorkflowCacheSize), set by New.
func WorkerOptionsFor(t config.Tuning) worker.Options {
	return worker.Options{
		MaxConcurrentActivityTaskPollers:        t.ActivityPollers,
		MaxConcurrentWorkflowTaskPollers:        t.WorkflowPollers,
		MaxConcurrentWorkflowTaskExecutionSize:  t.MaxWorkflowTasks,
		MaxConcurrentActivityExecutionSize:      t.MaxActivities,
		MaxConcurrentLocalActivityExecutionSize: t.MaxLocalActivities,
		WorkerStopTimeout:                       20 * time.Second,
	}
}

// Options tune a worker run.
type Options struct {
	Migrate bool // apply schema migrations at start
	// Metrics receives the SDK's worker and client metrics (nil: none).
	Metrics client.MetricsHandler
}

// Worker is a connected, registered worker: its Temporal client and
// database are open, so that the command can wire what runs beside it
// (the HTTP API) over the same connections before it runs.
type Worker struct {
	Client client.Client
	Store  *store.Store

	cfg    config.Config
	logger *slog.Logger
	w      worker.Worker
}

// New loads the rules, connects to Temporal and PostgreSQL, migrates the
// schema (with Migrate), registers the search attributes, the schedules,
// the workflows and the activities. Close it when done.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (*Worker, error) {
	reg, err := setup.Policies(cfg)
	if err != nil {
		return nil, err
	}
	riskCfg, err := setup.RiskConfig(cfg)
	if err != nil {
		return nil, err
	}
	mailer, err := Mailer(cfg, logger)
	if err != nil {
		return nil, err
	}
	sms, err := providers.SMSFromEnv(os.Getenv, logger)
	if err != nil {
		return nil, err
	}
	// Both connections are checked before anything is logged or changed,
	// so that a missing server is the only line printed.
	c, err := setup.DialWithMetrics(ctx, cfg, logger, opts.Metrics)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DB)
	if err != nil {
		c.Close()
		return nil, err
	}
	wk := &Worker{Client: c, Store: st, cfg: cfg, logger: logger}
	if opts.Migrate {
		v, err := store.Migrate(ctx, cfg.DatabaseURL)
		if err != nil {
			wk.Close()
			return nil, err
		}
		logger.Info("database schema ready", "version", v)
	}
	if err := EnsureSearchAttributes(ctx, c, cfg.TemporalNamespace, logger); err != nil {
		logger.Warn("search attributes not registered; register them with your Temporal admin tools", "error", err)
	}
	// Process-wide, and read when the first worker starts.
	worker.SetStickyWorkflowCacheSize(cfg.Tuning.WorkflowCacheSize)
	w := worker.New(c, cfg.TaskQueue, WorkerOptionsFor(cfg.Tuning))
	logger.Info("worker tuning", "cache", cfg.Tuning.WorkflowCacheSize, "workflow_pollers", cfg.Tuning.WorkflowPollers,
		"activity_pollers", cfg.Tuning.ActivityPollers, "max_workflow_tasks", cfg.Tuning.MaxWorkflowTasks,
		"max_activities", cfg.Tuning.MaxActivities, "max_local_activities", cfg.Tuning.MaxLocalActivities)
	wfs := &workflows.Workflows{Policies: reg, Risk: riskCfg}
	w.RegisterWorkflowWithOptions(wfs.CustomerLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
	w.RegisterWorkflowWithOptions(workflows.AgingSnapshot, workflow.RegisterOptions{Name: workflows.AgingWorkflowType})
	if err := EnsureAgingSchedule(ctx, c, cfg); err != nil {
		logger.Warn("daily aging schedule not set up", "error", err)
	}
	w.RegisterWorkflowWithOptions(workflows.Reconcile, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowType})
	w.RegisterActivityWithOptions((&reconcile.Activities{Reconciler: setup.Reconciler(cfg, c, st), Store: st}).ReconcileAll,
		activity.RegisterOptions{Name: workflows.ReconcileActivity})
	if err := EnsureReconcileSchedule(ctx, c, cfg); err != nil {
		logger.Warn("daily reconciliation schedule not set up", "error", err)
	}
	w.RegisterWorkflowWithOptions(workflows.WebhookDispatcher, workflow.RegisterOptions{Name: workflows.WebhookDispatcherType})
	w.RegisterActivity(&activities.Outbound{Store: st, Timeout: cfg.WebhookTimeout, Parallel: activities.DefaultWebhookParallel, Logger: logger,
		Schedule: webhooks.Schedule{First: cfg.WebhookRetryFirst, Max: cfg.WebhookRetryMax, GiveUp: cfg.WebhookGiveUp}})
	if err := EnsureWebhookDispatcher(ctx, c, cfg); err != nil {
		logger.Warn("webhook dispatcher not started; it is tried again at the next worker start", "error", err)
	}
	w.RegisterActivity(&activities.Activities{
		Store:        st,
		Mailer:       mailer,
		Provisioner:  Provisioner(cfg, st),
		SMS:          sms,
		Credit:       providers.CreditFromEnv(os.Getenv, riskCfg),
		Risk:         riskCfg,
		Logger:       logger,
		StaffEmail:   cfg.StaffEmail,
		StaffLocale:  cfg.StaffLocale,
		FromName:     cfg.FromName,
		CodeSecret:   cfg.CodeSecret,
		Gateway:      Gateway(cfg, logger),
		PayReturnURL: cfg.PayLinkReturnURL,
	})
	wk.w = w
	return wk, nil
}

// Run runs the worker until ctx is done, finishing running tasks.
func (wk *Worker) Run(ctx context.Context) error {
	logger := wk.logger
	logger.Info("worker ready", "config", wk.cfg)
	stop := make(chan any)
	go func() {
		<-ctx.Done()
		logger.Info("shutting down: finishing running tasks")
		close(stop)
	}()
	if err := wk.w.Run(stop); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	logger.Info("worker stopped")
	return nil
}

// Close closes the connections.
func (wk *Worker) Close() {
	_ = wk.Store.Close()
	wk.Client.Close()
}
