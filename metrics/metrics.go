// Package metrics is what the worker exports to Prometheus: the Temporal
// SDK's worker and client metrics (through the SDK's tally contrib and
// tally's Prometheus reporter) and the business figures, read from
// PostgreSQL at scrape time by a prometheus.Collector, all on one registry
// served at /metrics on DUNNING_METRICS_ADDR.
//
// The business figures come from the tables, not from this process, so
// every worker replica exports the same values; dashboards aggregate them
// with max without(instance). Money is in the currency's major units
// (dollars, won) as a float, labelled with the ISO 4217 code: amounts in
// different currencies are never added together.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the metrics are served.
const Path = "/metrics"

// NewRegistry is a registry with the Go runtime's and the process's
// standard metrics (go_*, process_*); the SDK's and the business metrics
// are added to it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the registry in Prometheus' text (or OpenMetrics) format.
// A collector's error is logged and the rest is still served, so that a
// database outage shows as dunning_metrics_scrape_success 0 beside the SDK's
// metrics instead of a failed scrape.
func Handler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}))
	return mux
}

// Serve serves h on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      DefaultTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(shutdownCtx)
	}()
	logger.Info("metrics listening", "addr", ln.Addr().String(), "path", Path)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-done
}
