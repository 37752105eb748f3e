// Command worker runs the CustomerLifecycle workflow and its activities on
// the dunning task queue. It reads its settings from the environment (see
// the README), applies database migrations, registers the search
// attributes, and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/dunning/config"
	"github.com/example/dunning/service"
)

func main() {
	migrate := flag.Bool("migrate", true, "apply database migrations at start")
	flag.Parse()
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, *migrate)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run is the composition root: the worker (package service), on
// DUNNING_METRICS_ADDR its Prometheus metrics and, on DUNNING_HTTP_ADDR,
// the API and webhooks over the same connections.
func run(ctx context.Context, cfg config.Config, migrate bool) error {
	logger := cfg.Logger()
	m, err := listenMetrics(cfg, logger)
	if err != nil {
		return err
	}
	defer m.close()
	w, err := service.New(ctx, cfg, logger, service.Options{Migrate: migrate, Metrics: m.handler()})
	if err != nil {
		return err
	}
	defer w.Close()
	// The metrics endpoint stops with the worker, whatever stopped it.
	mctx, stopMetrics := context.WithCancel(ctx)
	waitMetrics, err := m.serve(mctx, cfg, logger)
	if err != nil {
		stopMetrics()
		return err
	}
	defer waitMetrics()
	defer stopMetrics()
	serve, err := serveHTTP(cfg, w.Client, w.Store, logger)
	if err != nil {
		return err
	}
	return runBeside(ctx, w.Run, serve, logger)
}

// runBeside runs the worker with the HTTP server (nil: none) beside it and
// stops the server when the worker stops, whatever stopped it: a worker
// stopped by a fatal error then exits, instead of /healthz answering for a
// process that polls nothing (Kubernetes' liveness probe relies on it).
func runBeside(ctx context.Context, run, serve func(context.Context) error, logger *slog.Logger) error {
	if serve == nil {
		return run(ctx)
	}
	sctx, stopServe := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(sctx) }()
	err := run(ctx)
	stopServe()
	if serr := <-done; serr != nil {
		logger.Warn("stopped with an error", "error", serr)
	}
	return err
}
