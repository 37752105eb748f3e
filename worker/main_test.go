package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/example/dunning/api"
)

// healthServer is the API's own server with a /healthz like the API's,
// on a free port.
func healthServer(t *testing.T) (string, func(context.Context) error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	logger := slog.New(slog.DiscardHandler)
	return "http://" + ln.Addr().String() + "/healthz", func(ctx context.Context) error { return api.Serve(ctx, ln, mux, logger) }
}

func healthy(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// A Temporal worker that stops on a fatal error takes the HTTP server
// down with it, so that the liveness probe fails and the pod restarts.
func TestRunBesideStopsTheServerWhenTheWorkerFails(t *testing.T) {
	url, serve := healthServer(t)
	fatal := errors.New("worker: namespace not found")
	failNow := make(chan struct{})
	run := func(context.Context) error {
		<-failNow
		return fatal
	}
	out := make(chan error, 1)
	go func() { out <- runBeside(context.Background(), run, serve, slog.New(slog.DiscardHandler)) }()
	deadline := time.Now().Add(5 * time.Second)
	for !healthy(url) {
		if time.Now().After(deadline) {
			t.Fatal("the server never answered /healthz while the worker ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(failNow)
	select {
	case err := <-out:
		if !errors.Is(err, fatal) {
			t.Fatalf("runBeside returned %v, want the worker's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runBeside did not return after the worker failed: the process would hang with /healthz answering")
	}
	if healthy(url) {
		t.Fatal("/healthz still answers after the worker stopped")
	}
}

// On SIGTERM both stop, and the worker's clean stop is no error.
func TestRunBesideStopsBothOnCancel(t *testing.T) {
	url, serve := healthServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	run := func(ctx context.Context) error { <-ctx.Done(); return nil }
	out := make(chan error, 1)
	go func() { out <- runBeside(ctx, run, serve, slog.New(slog.DiscardHandler)) }()
	deadline := time.Now().Add(5 * time.Second)
	for !healthy(url) {
		if time.Now().After(deadline) {
			t.Fatal("the server never answered /healthz")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-out:
		if err != nil {
			t.Fatalf("runBeside: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runBeside did not return after the cancel")
	}
	if healthy(url) {
		t.Fatal("/healthz still answers after the stop")
	}
}

// Without DUNNING_HTTP_ADDR the worker runs alone.
func TestRunBesideWithoutServer(t *testing.T) {
	fatal := errors.New("fatal")
	if err := runBeside(context.Background(), func(context.Context) error { return fatal }, nil, slog.New(slog.DiscardHandler)); !errors.Is(err, fatal) {
		t.Fatalf("runBeside: %v", err)
	}
}
