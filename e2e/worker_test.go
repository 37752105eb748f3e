package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A worker started without its database or its Temporal server says so in
// one line and exits non-zero.
func TestWorkerRefusesToStartWithoutDependencies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"no postgres", map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable"}, "worker: cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/nowhere"},
		{"no temporal", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}, "worker: cannot reach Temporal at 127.0.0.1:1 (namespace default)"},
		{"bad config", map[string]string{"SENDGRID_API_HOST": "api.sendgrid.com"}, "worker: SENDGRID_API_HOST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(env.binDir, "worker"))
			cmd.Env = workerEnv(tc.extra)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Errorf("output:\n%s\nwant one line starting %q", out, tc.want)
			}
		})
	}
}
