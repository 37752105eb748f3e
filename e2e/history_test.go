package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/workflows"
)

// histories fetches every run of a customer's workflow, oldest first.
func histories(t *testing.T, customerID string) []*historypb.History {
	t.Helper()
	ctx := context.Background()
	res, err := env.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = %q", workflows.WorkflowID(customerID)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*historypb.History
	for i := len(res.Executions) - 1; i >= 0; i-- { // visibility lists newest first
		run := res.Executions[i].Execution
		it := env.client.GetWorkflowHistory(ctx, run.WorkflowId, run.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		h := &historypb.History{}
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
		}
		out = append(out, h)
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// checkReplay replays every run of the customer's workflow with the current
// workflow code: any non-determinism fails the test. With
// DUNNING_RECORD_HISTORIES set to a directory, the histories are also saved
// there (that is how workflows/testdata/histories is made).
func checkReplay(t *testing.T, customerID string) {
	t.Helper()
	// The worker's policies (DUNNING_POLICY_DIR): a lean history names
	// its policy by ID and content hash only.
	reg, err := setup.Policies(config.Config{PolicyDir: env.policyDir})
	if err != nil {
		t.Fatal(err)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions((&workflows.Workflows{Policies: reg}).CustomerLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	dir := os.Getenv("DUNNING_RECORD_HISTORIES")
	wid := workflows.WorkflowID(customerID)
	for i, h := range histories(t, customerID) {
		opts := worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: wid}}
		if err := replayer.ReplayWorkflowHistoryWithOptions(logger, h, opts); err != nil {
			t.Errorf("run %d of %s does not replay: %v", i, customerID, err)
		}
		if dir != "" {
			data, err := protojson.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			if _, err := zw.Write(data); err != nil || zw.Close() != nil {
				t.Fatal("compress history")
			}
			// The workflow ID is part of the name: the workflow checks it.
			name := fmt.Sprintf("%s__%s__run%d.json.gz", unsafeName.ReplaceAllString(t.Name(), "-"), wid, i)
			if err := os.WriteFile(filepath.Join(dir, name), gz.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
