package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/example/dunning/account"
	"github.com/example/dunning/api"
	"github.com/example/dunning/config"
	"github.com/example/dunning/console"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/monitoring"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/sgevents"
	"github.com/example/dunning/store"
	"github.com/example/dunning/stripeevents"
	"github.com/example/dunning/workflows"
)

// BounceNotifier tells a customer's workflow that its email address stopped
// working, with the EmailUndeliverable signal.
type BounceNotifier struct{ Client client.Client }

// EmailUndeliverable implements sgevents.Notifier. A customer whose
// lifecycle has ended (or never existed here) has nobody left to tell.
func (n BounceNotifier) EmailUndeliverable(ctx context.Context, customerID, messageKey, event, reason string) error {
	err := contract.Send(ctx, n.Client, workflows.SignalEmailUndeliverable, workflows.WorkflowID(customerID), "",
		account.Bounce{MessageKey: messageKey, Event: event, Reason: reason})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// serveHTTP sets up, on DUNNING_HTTP_ADDR, the staff API with activity
// monitoring and, when their secrets are configured, the SendGrid and Stripe
// webhooks, with their background retries: monitoring hits not yet
// reported, bounce notifications SendGrid stopped resending, and Stripe
// events not yet handed over. Without the address it does nothing.
func serveHTTP(cfg config.Config, c client.Client, st *store.Store, logger *slog.Logger) (func(context.Context) error, error) {
	if cfg.HTTPAddr == "" {
		return nil, nil
	}
	h, jobs, err := httpHandler(cfg, c, st, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("DUNNING_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	return func(ctx context.Context) error {
		for _, job := range jobs {
			go job(ctx)
		}
		return api.Serve(ctx, ln, h, logger)
	}, nil
}

// httpHandler builds the HTTP handler and the background jobs to run beside it.
func httpHandler(cfg config.Config, c client.Client, st *store.Store, logger *slog.Logger) (http.Handler, []func(context.Context), error) {
	tokens, err := api.ParseTokens(cfg.APITokens)
	if err != nil {
		return nil, nil, fmt.Errorf("DUNNING_API_TOKENS: %w", err)
	}
	o := ops.New(ops.Options{Config: cfg, Client: c, Store: st, Logger: logger})
	riskCfg, err := setup.RiskConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	ing := &monitoring.Ingester{DB: st.DB(), Config: riskCfg, Reporter: monitoring.OpsReporter{Ops: o}, Logger: logger}
	webhooks := map[string]http.Handler{}
	jobs := []func(context.Context){func(ctx context.Context) {
		// Monitoring hits whose report to the workflow failed.
		every(ctx, time.Minute, func() {
			if n, err := ing.ReportPending(ctx); err != nil {
				logger.Warn("monitoring hits still pending", "error", err)
			} else if n > 0 {
				logger.Info("reported pending monitoring hits", "count", n)
			}
		})
	}}
	if cfg.WebhookPublicKey != "" {
		events := sgevents.NewStore(st.DB())
		notifier := BounceNotifier{Client: c}
		h, err := sgevents.NewHandler(sgevents.Config{PublicKey: cfg.WebhookPublicKey, Store: events, Notifier: notifier, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("SENDGRID_WEBHOOK_PUBLIC_KEY: %w", err)
		}
		webhooks["POST /webhooks/sendgrid"] = h
		jobs = append(jobs, func(ctx context.Context) {
			every(ctx, time.Minute, func() {
				if n, err := events.NotifyPending(ctx, notifier, nil); err != nil {
					logger.Warn("bounce notifications still pending", "error", err)
				} else if n > 0 {
					logger.Info("sent pending bounce notifications", "count", n)
				}
			})
		})
	}
	if cfg.StripeWebhookSecret != "" {
		h, err := stripeevents.NewHandler(stripeevents.Config{Secret: cfg.StripeWebhookSecret,
			Store: stripeevents.NewStore(st.DB()), Notifier: GatewayNotifier{Ops: o}, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("STRIPE_WEBHOOK_SECRET: %w", err)
		}
		webhooks["POST /webhooks/stripe"] = h
		jobs = append(jobs, func(ctx context.Context) {
			every(ctx, time.Minute, func() {
				if n, err := h.ProcessPending(ctx); err != nil {
					logger.Warn("stripe events still pending", "error", err)
				} else if n > 0 {
					logger.Info("processed pending stripe events", "count", n)
				}
			})
		})
	}
	h := api.New(api.Options{Ops: o, Reports: o, Tokens: tokens, Webhooks: webhooks, Activity: monitoring.Handler(ing), Reconciler: o, Outbound: o, Lab: o, Logger: logger})
	// The staff console beside the API, on the same tokens.
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.New(console.Options{Ops: o, Queue: o, Outbound: o, Sessions: console.PGSessions{DB: st.DB()}, Tokens: tokens,
		TemporalUIURL: cfg.TemporalUIURL, Namespace: cfg.TemporalNamespace, PublicURL: cfg.ConsoleURL, Logger: logger}))
	mux.Handle("/", h)
	return mux, jobs, nil
}

// every runs f at each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
