package policy

import (
	"errors"
	"io/fs"
	"testing"
)

// Any bytes as a policy file: Lint never panics, refuses with a FieldError
// naming the file, and a file it accepts diffs clean against itself and
// gets warnings that each name the file and a field.
func FuzzLint(f *testing.F) {
	sub, err := EmbeddedFS()
	if err != nil {
		f.Fatal(err)
	}
	names, _ := fs.Glob(sub, "*.json")
	for _, n := range names {
		data, _ := fs.ReadFile(sub, n)
		f.Add(data)
	}
	f.Add(lintFile(`{"stage": "due", "offset": "0d", "action": "notice"}`, `{"retries": ["0d", "1d"], "network_attempts": 1, "network_window": "1d"}`))
	f.Add([]byte(`{"name": "lab", "version": 1, "day": "-1d"}`))
	std, err := Parse("standard.v1.json", func() []byte { d, _ := fs.ReadFile(sub, "standard.v1.json"); return d }())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ws, err := Lint("lab.v1.json", data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.File != "lab.v1.json" {
				t.Fatalf("error %v is not a FieldError naming the file", err)
			}
			return
		}
		if Compare(p, p).Differs() {
			t.Fatalf("%s differs from itself", p.ID())
		}
		_ = Compare(std, p)
		for _, w := range ws {
			if w.File != "lab.v1.json" || w.Field == "" || w.Code == "" {
				t.Fatalf("warning without file, field or code: %+v", w)
			}
		}
	})
}
