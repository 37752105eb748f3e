// Command worker runs the CustomerLifecycle workflow and its activities on
// the dunning task queue. It reads its settings from the environment (see
// the README), applies database migrations, registers the search
// attributes, and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
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
	if serve != nil {
		done := make(chan error, 1)
		go func() { done <- serve(ctx) }()
		defer func() {
			if err := <-done; err != nil {
				logger.Warn("stopped with an error", "error", err)
			}
		}()
	}
	return w.Run(ctx)
}
