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
	defer stop()
	if err := service.Run(ctx, cfg, cfg.Logger(), service.Options{Migrate: *migrate, Beside: serveHTTP}); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
