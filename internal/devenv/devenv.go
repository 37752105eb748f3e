// Package devenv starts what the system needs on a developer's machine: the
// Temporal CLI's dev server (with its Web UI and the search attributes) and
// a database on the local PostgreSQL server. The demo and the end-to-end
// tests use it, so that both run the same way.
package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/workflows"
)

// TemporalCLIVersion is the CLI the project installs when none is on PATH;
// it is the newest that installs through the Go module proxy.
const TemporalCLIVersion = "v1.5.1"

// RepoRoot finds the module root above the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the repository (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// TemporalCLI finds the temporal binary: $TEMPORAL_CLI, then `temporal` on
// PATH, then bin/temporal in the repository. With none, it installs the
// pinned version into bin/ with `go install` (a few minutes the first time;
// the Go build cache makes later installs quick).
func TemporalCLI(ctx context.Context, log io.Writer) (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("TEMPORAL_CLI=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	local := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	fmt.Fprintf(log, "installing the Temporal CLI %s into %s (a few minutes the first time)...\n", TemporalCLIVersion, filepath.Dir(local))
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/temporalio/cli/cmd/temporal@"+TemporalCLIVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(local))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install the Temporal CLI: %w", err)
	}
	return local, nil
}

// TemporalOptions configure a dev server.
type TemporalOptions struct {
	Port     int    // frontend port; 0 picks a free one
	UIPort   int    // Web UI port; 0 disables the UI
	DBFile   string // SQLite file to keep state in; empty keeps it in memory
	LogLevel string // default "warn"
	Output   io.Writer
}

// StartTemporal starts `temporal server start-dev` with the search
// attributes registered, and waits until it answers.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*testsuite.DevServer, error) {
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	cli, err := TemporalCLI(ctx, out)
	if err != nil {
		return nil, err
	}
	so := testsuite.DevServerOptions{
		ExistingPath:     cli,
		ClientOptions:    &client.Options{Namespace: "default", Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))},
		DBFilename:       opts.DBFile,
		LogLevel:         opts.LogLevel,
		LogFormat:        "pretty",
		SearchAttributes: searchAttributes(),
		Stdout:           out,
		Stderr:           out,
	}
	if so.LogLevel == "" {
		so.LogLevel = "warn"
	}
	if opts.Port != 0 {
		so.ClientOptions.HostPort = "127.0.0.1:" + strconv.Itoa(opts.Port)
	}
	if opts.UIPort != 0 {
		so.EnableUI = true
		so.UIPort = strconv.Itoa(opts.UIPort)
	}
	srv, err := testsuite.StartDevServer(ctx, so)
	if err != nil {
		return nil, fmt.Errorf("start the Temporal dev server (%s): %w", cli, err)
	}
	return srv, nil
}

func searchAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		workflows.AttrCustomerID.ValueSet(""),
		workflows.AttrAccountStatus.ValueSet(""),
		workflows.AttrDunningStage.ValueSet(""),
		workflows.AttrRiskTier.ValueSet(""),
		workflows.AttrAmountOverdue.ValueSet(0),
		workflows.AttrDaysPastDue.ValueSet(0),
	)
}
