package setup

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/dunning/config"
	"github.com/example/dunning/policy"
)

// A file in DUNNING_POLICY_DIR may repeat a shipped version byte for byte
// or add one; changing a published version stops the worker at start.
func TestPoliciesRefuseAChangedPublishedVersion(t *testing.T) {
	sub, err := policy.EmbeddedFS()
	if err != nil {
		t.Fatal(err)
	}
	data, err := fs.ReadFile(sub, "standard.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	same := t.TempDir()
	if err := os.WriteFile(filepath.Join(same, "standard.v1.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Policies(config.Config{PolicyDir: same}); err != nil {
		t.Errorf("an identical copy: %v", err)
	}
	changed := t.TempDir()
	edited := strings.Replace(string(data), `"terms": "14d"`, `"terms": "10d"`, 1)
	if edited == string(data) {
		t.Fatal("the edit changed nothing")
	}
	if err := os.WriteFile(filepath.Join(changed, "standard.v1.json"), []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Policies(config.Config{PolicyDir: changed})
	if err == nil || !strings.Contains(err.Error(), "DUNNING_POLICY_DIR") || !strings.Contains(err.Error(), "already published") {
		t.Errorf("a changed standard.v1: %v", err)
	}
}
