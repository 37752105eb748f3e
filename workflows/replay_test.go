package workflows

import (
	"compress/gzip"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/policy"
)

// Histories recorded from real runs (see e2e, DUNNING_RECORD_HISTORIES) must
// replay with the current workflow code. A change that breaks this would
// break every running customer: guard it with workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	// One directory per version branch (see testdata/histories/README.md).
	files, err := filepath.Glob("testdata/histories/*/*.json.gz")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories in testdata/histories (%v)", err)
	}
	// The shipped policies and those the e2e tests ran with, as the
	// recording worker had them (DUNNING_POLICY_DIR): since lean a
	// history names its policy by ID and content hash only.
	reg, err := policy.LoadFS(must(policy.EmbeddedFS()))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddFS(os.DirFS("testdata/histories/policies")); err != nil {
		t.Fatal(err)
	}
	out := io.Discard
	if os.Getenv("REPLAY_DEBUG") != "" {
		out = os.Stderr
	}
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			// Files are named <scenario>__<workflow ID>__run<N>.json.gz.
			parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".json.gz"), "__")
			if len(parts) != 3 {
				t.Fatalf("%s: want <scenario>__<workflow ID>__run<N>.json.gz", f)
			}
			file, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			r, err := gzip.NewReader(file)
			if err != nil {
				t.Fatal(err)
			}
			hist, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions((&Workflows{Policies: reg}).CustomerLifecycle, workflow.RegisterOptions{Name: WorkflowType})
			opts := worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: parts[1]}}
			if err := replayer.ReplayWorkflowHistoryWithOptions(logger, hist, opts); err != nil {
				t.Errorf("%s does not replay: %v", f, err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
