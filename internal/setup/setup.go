// Package setup turns the configuration into what a process needs before
// it can do anything: a checked connection to Temporal, the policies, the
// risk rules and the reconciler. It sits below the commands and ops and
// above the domain packages, so that ops and the commands share it without
// ops depending on the worker's wiring (package service).
package setup

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/example/dunning/config"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reconcile"
	"github.com/example/dunning/risk"
	"github.com/example/dunning/store"
)

// Dial connects to Temporal and checks that the server answers, so that a
// missing server is one clear error at start.
func Dial(ctx context.Context, cfg config.Config, logger *slog.Logger) (client.Client, error) {
	return DialWithMetrics(ctx, cfg, logger, nil)
}

// DialWithMetrics is Dial with the SDK's metrics going to metrics (the
// worker's Prometheus registry; nil: none).
func DialWithMetrics(ctx context.Context, cfg config.Config, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	opts := client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         tlog.NewStructuredLogger(logger),
		MetricsHandler: metrics,
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
