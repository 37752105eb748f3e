// Command k8sschemas writes the JSON schemas the manifests under k8s/ are
// validated against, in kubeconform's layout
// (<out>/v<version>-standalone-strict/<kind>-<group>-<version>.json), from
// the OpenAPI document that the k8s.io/kubernetes module of that version
// ships (api/openapi-spec/swagger.json). The tests read the committed
// files, so that validation needs no network; run it again (go generate)
// when the manifests use a new kind or the Kubernetes version moves.
//
// The schemas are what kubeconform's own schema fork holds: every $ref
// expanded (standalone), objects closed to unknown fields (strict),
// int-or-string as either, kind and apiVersion fixed; descriptions dropped
// to keep them small.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kinds are the resources the manifests may hold.
var kinds = []gvk{
	{"", "v1", "ConfigMap"},
	{"", "v1", "Service"},
	{"apps", "v1", "Deployment"},
	{"autoscaling", "v2", "HorizontalPodAutoscaler"},
	{"policy", "v1", "PodDisruptionBudget"},
}

type gvk struct{ Group, Version, Kind string }

func (k gvk) apiVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// file is kubeconform's name for the kind's schema.
func (k gvk) file() string {
	name := strings.ToLower(k.Kind)
	if k.Group != "" {
		name += "-" + strings.Split(k.Group, ".")[0]
	}
	return name + "-" + k.Version + ".json"
}

func main() {
	version := flag.String("version", "1.37.2", "Kubernetes version (a k8s.io/kubernetes module version without the v)")
	out := flag.String("out", "k8s/schemas", "schema directory")
	flag.Parse()
	if err := run(*version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschemas:", err)
		os.Exit(1)
	}
}

func run(version, out string) error {
	dir, err := moduleDir("k8s.io/kubernetes@v" + version)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "api", "openapi-spec", "swagger.json"))
	if err != nil {
		return err
	}
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("swagger.json: %w", err)
	}
	to := filepath.Join(out, "v"+version+"-standalone-strict")
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, k := range kinds {
		name, err := definitionOf(spec.Definitions, k)
		if err != nil {
			return err
		}
		s := expand(spec.Definitions, spec.Definitions[name], map[string]bool{name: true}).(map[string]any)
		props := s["properties"].(map[string]any)
		props["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
		props["apiVersion"] = map[string]any{"type": "string", "enum": []any{k.apiVersion()}}
		s["required"] = union(s["required"], "apiVersion", "kind")
		s["$schema"] = "http://json-schema.org/schema#"
		b, err := json.MarshalIndent(s, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, k.file()), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// moduleDir downloads a module through the Go module proxy (the go
// command's own cache) and returns where it is.
func moduleDir(mod string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go mod download %s: %v: %s%s", mod, err, stderr.String(), stdout.String())
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in %q", mod, stdout.String())
	}
	return m.Dir, nil
}

// definitionOf finds the kind's definition by its group-version-kind tag.
func definitionOf(defs map[string]map[string]any, k gvk) (string, error) {
	for name, d := range defs {
		tags, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, t := range tags {
			m, _ := t.(map[string]any)
			if m["group"] == k.Group && m["version"] == k.Version && m["kind"] == k.Kind {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("no definition for %s %s", k.apiVersion(), k.Kind)
}

// expand inlines every $ref (a definition already being expanded on the
// path is left open, as {}), closes objects with properties to unknown
// fields and drops what validation does not need.
func expand(defs map[string]map[string]any, v any, path map[string]bool) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/definitions/")
			if path[name] {
				return map[string]any{}
			}
			path[name] = true
			defer delete(path, name)
			return expand(defs, defs[name], path)
		}
		out := map[string]any{}
		for key, val := range v {
			if key == "description" || strings.HasPrefix(key, "x-kubernetes-") {
				continue
			}
			if key == "properties" {
				// Property names, not keywords: keep them all.
				props := map[string]any{}
				for p, ps := range val.(map[string]any) {
					props[p] = expand(defs, ps, path)
				}
				out[key] = props
				continue
			}
			out[key] = expand(defs, val, path)
		}
		if out["format"] == "int-or-string" {
			delete(out, "format")
			delete(out, "type")
			out["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
		}
		if _, ok := out["properties"]; ok {
			if _, set := out["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = expand(defs, e, path)
		}
		return out
	}
	return v
}

func union(list any, names ...string) []any {
	out, _ := list.([]any)
	for _, n := range names {
		found := false
		for _, e := range out {
			found = found || e == n
		}
		if !found {
			out = append(out, n)
		}
	}
	return out
}
