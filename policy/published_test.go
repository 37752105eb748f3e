package policy

import (
	"bufio"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestPublishedPoliciesNeverChange: a running customer carries only its
// policy's ID and content hash, so a published file must keep its bytes.
// published.sum lists every shipped file's hash; a new version is
// appended to it, a listed one never edited or removed.
func TestPublishedPoliciesNeverChange(t *testing.T) {
	f, err := os.Open("published.sum")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	listed := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hash, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("published.sum: bad line %q (want \"<sha256>  <file>\")", sc.Text())
		}
		listed[name] = hash
	}
	sub, err := EmbeddedFS()
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(sub, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	shipped := map[string]bool{}
	for _, name := range files {
		shipped[name] = true
		data, err := fs.ReadFile(sub, name)
		if err != nil {
			t.Fatal(err)
		}
		got := ContentHash(data)
		want, ok := listed[name]
		switch {
		case !ok:
			t.Errorf("%s is not in published.sum: append the line %q", name, got+"  "+name)
		case got != want:
			t.Errorf("%s changed after publication (hash %s, published %s): restore it and put the change in a new version", name, got, want)
		}
	}
	for name := range listed {
		if !shipped[name] {
			t.Errorf("%s is in published.sum but no longer shipped: customers on it could not resume", name)
		}
	}
}

func TestResolveChecksTheContentHash(t *testing.T) {
	reg, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	p, hash, err := reg.Lookup("standard")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Resolve(p.ID(), hash); err != nil || got != p {
		t.Errorf("Resolve(%s) = %p, %v; want the shared %p", p.ID(), got, err, p)
	}
	if _, err := reg.Resolve(p.ID(), strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "content hash") {
		t.Errorf("a different hash: %v", err)
	}
	if _, err := reg.Resolve("standard.v99", hash); err == nil || !strings.Contains(err.Error(), "not on this worker") {
		t.Errorf("a missing version: %v", err)
	}
}
