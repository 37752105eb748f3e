package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/metrics"
)

// metricsEndpoint is /metrics on DUNNING_METRICS_ADDR: the SDK's metrics
// from the moment the client is dialled, the business figures once the
// worker has migrated the database.
type metricsEndpoint struct {
	reg      *prometheus.Registry
	temporal client.MetricsHandler
	flush    io.Closer
	ln       net.Listener
}

// listenMetrics takes the metrics address before anything connects, so
// that a port in use is one clear error at start. Without the address it
// returns nil, and so do the methods.
func listenMetrics(cfg config.Config, logger *slog.Logger) (*metricsEndpoint, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("DUNNING_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	reg := metrics.NewRegistry()
	h, flush := metrics.NewTemporalHandler(reg, logger)
	return &metricsEndpoint{reg: reg, temporal: h, flush: flush, ln: ln}, nil
}

// handler is the SDK's metrics handler (nil without the endpoint).
func (m *metricsEndpoint) handler() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return m.temporal
}

// serve adds the business figures, read over a small pool of their own,
// and serves until ctx ends.
func (m *metricsEndpoint) serve(ctx context.Context, cfg config.Config, logger *slog.Logger) (func(), error) {
	if m == nil {
		return func() {}, nil
	}
	reg, err := setup.Policies(cfg)
	if err != nil {
		return nil, err
	}
	db, err := metrics.OpenDB(ctx, cfg.DatabaseURL, cfg.DB)
	if err != nil {
		return nil, err
	}
	m.reg.MustRegister(metrics.NewCollector(metrics.Postgres{DB: db, Policies: reg}, metrics.DefaultTimeout, logger))
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, m.ln, metrics.Handler(m.reg, logger), logger) }()
	return func() {
		if err := <-done; err != nil {
			logger.Warn("metrics endpoint stopped with an error", "error", err)
		}
		_ = db.Close()
	}, nil
}

// close flushes the SDK's last figures; after the client is closed.
func (m *metricsEndpoint) close() {
	if m != nil {
		_ = m.flush.Close()
		_ = m.ln.Close()
	}
}
