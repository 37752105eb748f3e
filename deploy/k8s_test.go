package deploy

// These tests render the Kubernetes manifests under k8s/ (every overlay,
// with the kustomize library kubectl itself uses), validate them against the
// Kubernetes schemas committed under k8s/schemas (kubeconform, strict: no
// unknown fields; no network) and check the wiring the worker relies on.
// As in compose_test.go, each check reports problems instead of failing at
// once, so that TestK8sChecksCatchBrokenManifests can break the files on
// purpose and make sure the checks notice.

//go:generate go run ./cmd/k8sschemas -version 1.37.2 -out k8s/schemas

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/yannh/kubeconform/pkg/validator"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/example/dunning/api"
	"github.com/example/dunning/config"
	"github.com/example/dunning/risk"
	"github.com/example/dunning/risk/providers"
	"github.com/example/dunning/service"
)

const (
	k8sDir = "k8s"
	// k8sVersion is the Kubernetes version the committed schemas are of.
	k8sVersion = "1.37.2"
	// apiShutdown is how long the API takes to stop (api/serve.go); the
	// Temporal worker's is service.WorkerOptions().WorkerStopTimeout.
	apiShutdown = 30 * time.Second
	// metricsPath is where the worker serves its metrics (metrics.Path;
	// that package's SDK reporter stays out of this module).
	metricsPath = "/metrics"
	// nonrootUID is distroless' nonroot user, the Dockerfile's USER.
	nonrootUID = 65532
	// healthPath is the API's unauthenticated health route: it answers
	// while the process serves, so a database outage does not restart
	// every worker at once.
	healthPath = "/healthz"
)

// k8sOverlays are the deployments the README documents.
var k8sOverlays = []string{"self-hosted", "temporal-cloud", "temporal-cloud-mtls"}

// optionalEnv are the settings the worker reads that the manifests leave
// unset on purpose, with why; everything else it reads must be provided.
var optionalEnv = map[string]string{
	"TEMPORAL_API_KEY":         "Temporal Cloud with an API key only (overlay temporal-cloud)",
	"TEMPORAL_TLS_CERT":        "Temporal Cloud with mTLS only (overlay temporal-cloud-mtls)",
	"TEMPORAL_TLS_KEY":         "Temporal Cloud with mTLS only (overlay temporal-cloud-mtls)",
	"DUNNING_REPLY_TO":         "no Reply-To header unless set",
	"DUNNING_PROVISIONING_URL": "default: the subscriptions table",
	"DUNNING_POLICY_DIR":       "default: the embedded policies",
	"DUNNING_RISK_CONFIG":      "default: the embedded risk rules",
	"TWILIO_API_BASE":          "Twilio's own API unless a fake is wanted",
}

// workerEnv is every variable the worker reads: config.FromGetenv and the
// optional providers, recorded as they ask.
func workerEnv(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	record := func(value string) func(string) string {
		return func(k string) string { seen[k] = true; return value }
	}
	if _, err := config.FromGetenv(record("")); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	// Set, so that the providers read all their settings.
	_, _ = providers.SMSFromEnv(record("x"), slog.New(slog.DiscardHandler))
	_ = providers.CreditFromEnv(record("x"), risk.Config{})
	return slices.Sorted(func(yield func(string) bool) {
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	})
}

// copyK8s loads the manifests (not the schemas) into memory, so that a
// test can break them.
func copyK8s(t *testing.T) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(k8sDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+filepath.ToSlash(p), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

// render builds one overlay as kubectl apply -k would.
func render(fsys filesys.FileSystem, overlay string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fsys, path.Join("/", k8sDir, "overlays", overlay))
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// manifests are one overlay's rendered objects the checks look at.
type manifests struct {
	deployments []appsv1.Deployment
	services    []corev1.Service
	configMaps  []corev1.ConfigMap
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	pdbs        []policyv1.PodDisruptionBudget
	other       []string
}

func decode(rendered []byte) (manifests, error) {
	var m manifests
	for doc := range strings.SplitSeq(string(rendered), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return m, err
		}
		var err error
		switch head.Kind {
		case "Deployment":
			m.deployments = append(m.deployments, appsv1.Deployment{})
			err = yaml.UnmarshalStrict([]byte(doc), &m.deployments[len(m.deployments)-1])
		case "Service":
			m.services = append(m.services, corev1.Service{})
			err = yaml.UnmarshalStrict([]byte(doc), &m.services[len(m.services)-1])
		case "ConfigMap":
			m.configMaps = append(m.configMaps, corev1.ConfigMap{})
			err = yaml.UnmarshalStrict([]byte(doc), &m.configMaps[len(m.configMaps)-1])
		case "HorizontalPodAutoscaler":
			m.hpas = append(m.hpas, autoscalingv2.HorizontalPodAutoscaler{})
			err = yaml.UnmarshalStrict([]byte(doc), &m.hpas[len(m.hpas)-1])
		case "PodDisruptionBudget":
			m.pdbs = append(m.pdbs, policyv1.PodDisruptionBudget{})
			err = yaml.UnmarshalStrict([]byte(doc), &m.pdbs[len(m.pdbs)-1])
		default:
			m.other = append(m.other, head.Kind)
		}
		if err != nil {
			return m, fmt.Errorf("%s: %w", head.Kind, err)
		}
	}
	return m, nil
}

// checkOverlay renders an overlay and lists its problems.
func checkOverlay(fsys filesys.FileSystem, overlay string, env []string) []string {
	rendered, err := render(fsys, overlay)
	if err != nil {
		return []string{fmt.Sprintf("kustomize: %v", err)}
	}
	msgs := validateSchemas(overlay, rendered)
	m, err := decode(rendered)
	if err != nil {
		return append(msgs, fmt.Sprintf("decode: %v", err))
	}
	return append(msgs, checkWiring(overlay, m, env)...)
}

// validateSchemas runs kubeconform, strict, on the committed schemas.
func validateSchemas(overlay string, rendered []byte) []string {
	v, err := validator.New([]string{filepath.Join(k8sDir, "schemas")}, validator.Opts{KubernetesVersion: k8sVersion, Strict: true})
	if err != nil {
		return []string{fmt.Sprintf("kubeconform: %v", err)}
	}
	var msgs []string
	n := 0
	for _, r := range v.Validate(overlay, io.NopCloser(bytes.NewReader(rendered))) {
		switch r.Status {
		case validator.Valid:
			n++
		case validator.Empty:
		default:
			sig, _ := r.Resource.Signature()
			what := "?"
			if sig != nil {
				what = sig.Kind + "/" + sig.Name
			}
			msgs = append(msgs, fmt.Sprintf("schema: %s: %v", what, r.Err))
		}
	}
	if n == 0 && len(msgs) == 0 {
		msgs = append(msgs, "schema: no resource validated")
	}
	return msgs
}

// checkWiring is what a reviewer would check by hand.
func checkWiring(overlay string, m manifests, env []string) []string {
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	if len(m.deployments) != 1 || len(m.services) != 1 || len(m.configMaps) != 1 || len(m.hpas) != 1 || len(m.pdbs) != 1 || len(m.other) > 0 {
		bad("want one Deployment, Service, ConfigMap, HorizontalPodAutoscaler and PodDisruptionBudget, got %d, %d, %d, %d, %d and %v",
			len(m.deployments), len(m.services), len(m.configMaps), len(m.hpas), len(m.pdbs), m.other)
		return msgs
	}
	d, svc, cm, hpa, pdb := m.deployments[0], m.services[0], m.configMaps[0], m.hpas[0], m.pdbs[0]
	for _, ns := range []string{d.Namespace, svc.Namespace, cm.Namespace, hpa.Namespace, pdb.Namespace} {
		if ns == "" {
			bad("an object without a namespace")
		}
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		bad("deployment: want one container, got %d", len(spec.Containers))
		return msgs
	}
	c := spec.Containers[0]

	// Image: pinned, never latest.
	if ref, err := reference.ParseNormalizedNamed(c.Image); err != nil {
		bad("image %q: %v", c.Image, err)
	} else if tagged, ok := ref.(reference.Tagged); !ok {
		if _, digested := ref.(reference.Digested); !digested {
			bad("image %q is not pinned to a tag or digest", c.Image)
		}
	} else if tagged.Tag() == "latest" {
		bad("image %q: latest is not a release", c.Image)
	}

	// Settings: everything the worker reads is provided or deliberately
	// optional, nothing else is set, and the worker accepts the values.
	values := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil || ef.ConfigMapRef.Name != cm.Name {
			bad("envFrom %+v: not the ConfigMap %s", ef, cm.Name)
			continue
		}
		for k, v := range cm.Data {
			values[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Key != e.Name {
				bad("env %s comes from key %s of Secret %s: name the key after the variable", e.Name, ref.Key, ref.Name)
			}
			values[e.Name] = "secret-" + strings.ToLower(e.Name)
		case e.ValueFrom != nil:
			bad("env %s: only Secrets and literal values are expected", e.Name)
		default:
			values[e.Name] = e.Value
		}
	}
	for _, k := range env {
		if _, ok := values[k]; !ok && optionalEnv[k] == "" {
			bad("env %s: the worker reads it but the manifests do not set it (nor list it as optional)", k)
		}
	}
	for k := range values {
		if !slices.Contains(env, k) {
			bad("env %s: the worker does not read it", k)
		}
	}
	// Secrets stand in as placeholders: only their presence is checked.
	values["DATABASE_URL"] = strings.Replace(values["DATABASE_URL"], "secret-database_url", "postgres://dunning@db.example.com/dunning", 1)
	cfg, err := config.FromGetenv(func(k string) string { return values[k] })
	if err != nil {
		bad("the worker would refuse its settings: %v", err)
	}
	for _, k := range []string{"DATABASE_URL", api.TokensEnv, "DUNNING_CODE_SECRET"} {
		if !fromRequiredSecret(c.Env, k) {
			bad("env %s must come from a Secret, not optional", k)
		}
	}
	if strings.HasPrefix(overlay, "temporal-cloud") {
		if cfg.TemporalAPIKey == "" && cfg.TemporalTLSCert == "" {
			bad("Temporal Cloud without TEMPORAL_API_KEY or TEMPORAL_TLS_CERT")
		}
		if cfg.TemporalAPIKey != "" && !fromRequiredSecret(c.Env, "TEMPORAL_API_KEY") {
			bad("env TEMPORAL_API_KEY must come from a Secret, not optional")
		}
	}
	for _, f := range []string{cfg.TemporalTLSCert, cfg.TemporalTLSKey} {
		if f != "" && !onSecretVolume(spec, c, f) {
			bad("%s is not on a volume mounted from a Secret", f)
		}
	}

	// Ports and probes: the probes ask the API's health route on the API's
	// port, and the Service reaches the API and the metrics.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	httpPort, metricsPort := addrPort(cfg.HTTPAddr), addrPort(cfg.MetricsAddr)
	if httpPort == 0 || metricsPort == 0 {
		bad("DUNNING_HTTP_ADDR %q and DUNNING_METRICS_ADDR %q must both be set: the probes and the Service need them", cfg.HTTPAddr, cfg.MetricsAddr)
	}
	if ports["http"] != httpPort || ports["metrics"] != metricsPort {
		bad("container ports %v: want http %d (DUNNING_HTTP_ADDR) and metrics %d (DUNNING_METRICS_ADDR)", ports, httpPort, metricsPort)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			bad("%s probe: want an httpGet probe", name)
			continue
		}
		port := p.HTTPGet.Port.IntVal
		if p.HTTPGet.Port.StrVal != "" {
			port = ports[p.HTTPGet.Port.StrVal]
		}
		if port != httpPort {
			bad("%s probe: port %s is not the API's %d", name, p.HTTPGet.Port.String(), httpPort)
		}
		if p.HTTPGet.Path != healthPath {
			bad("%s probe: path %s is not the API's health route %s", name, p.HTTPGet.Path, healthPath)
		}
		if code := serves(p.HTTPGet.Path); code != http.StatusOK {
			bad("%s probe: the API answers GET %s without a token with %d", name, p.HTTPGet.Path, code)
		}
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != fmt.Sprint(metricsPort) || a["prometheus.io/path"] != metricsPath {
		bad("pod annotations %v: want prometheus.io/scrape, port %d and path %s", a, metricsPort, metricsPath)
	}
	for _, sp := range svc.Spec.Ports {
		if _, ok := ports[sp.TargetPort.StrVal]; !ok {
			bad("service port %s: target %s is no container port", sp.Name, sp.TargetPort.String())
		}
	}
	if len(svc.Spec.Ports) != 2 {
		bad("service: want the API and the metrics ports, got %d", len(svc.Spec.Ports))
	}

	// Resources: requests and limits both set, requests within limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() {
			bad("resources: %s request and limit must both be set", r)
		} else if req.Cmp(lim) > 0 {
			bad("resources: %s request %s is above its limit %s", r, req.String(), lim.String())
		}
	}

	// Stopping: the pod's grace covers the pause and the slower stop.
	stop := max(service.WorkerOptions().WorkerStopTimeout, apiShutdown)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		stop += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < stop {
		bad("terminationGracePeriodSeconds %v: the worker needs %s to stop", deref(g), stop)
	}

	// Security: the image's non-root user, nothing writable but /tmp.
	psc, sc := spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != nonrootUID {
		bad("securityContext: want runAsNonRoot and runAsUser %d (the image's nonroot user)", nonrootUID)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("container securityContext: want readOnlyRootFilesystem and no privilege escalation")
	}

	// Labels and selectors: the Deployment, the Service and the budget
	// select the pods, and the autoscaler scales the Deployment.
	podLabels := labels.Set(d.Spec.Template.Labels)
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 || !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(podLabels) {
		bad("deployment selector %v does not select its pods %v", d.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		bad("service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchLabels) == 0 || !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
		bad("disruption budget selector %v does not select the pods %v", pdb.Spec.Selector, podLabels)
	}
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		bad("autoscaler targets %s %s %s, not the Deployment %s", ref.APIVersion, ref.Kind, ref.Name, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
		bad("autoscaler: minReplicas %v must be set and at most maxReplicas %d", deref(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas)
	} else if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntVal >= *hpa.Spec.MinReplicas {
		// Otherwise a node drain at minReplicas can never evict a worker.
		bad("disruption budget minAvailable %v must be below the autoscaler's minReplicas %d", pdb.Spec.MinAvailable, *hpa.Spec.MinReplicas)
	}
	if d.Spec.Replicas != nil {
		bad("deployment sets replicas: the autoscaler owns them (kubectl apply would reset them)")
	}
	return msgs
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func fromRequiredSecret(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional
		}
	}
	return false
}

// onSecretVolume says whether file lies under a mount of a Secret volume.
func onSecretVolume(spec corev1.PodSpec, c corev1.Container, file string) bool {
	for _, vm := range c.VolumeMounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				return true
			}
		}
	}
	return false
}

// addrPort is the port of a listen address such as ":8088" (0: none).
func addrPort(addr string) int32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	var n int32
	if _, err := fmt.Sscan(p, &n); err != nil {
		return 0
	}
	return n
}

// noOps is an API backend the health route never calls.
type noOps struct{ api.Ops }

// serves is the status the worker's API answers GET path with, without a
// token (as the kubelet asks).
func serves(path string) int {
	h := api.New(api.Options{Ops: noOps{}, Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

func TestK8sManifests(t *testing.T) {
	env := workerEnv(t)
	dirs, err := os.ReadDir(filepath.Join(k8sDir, "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, d := range dirs {
		found = append(found, d.Name())
	}
	if !slices.Equal(found, k8sOverlays) {
		t.Errorf("overlays %v, want %v (the README documents those)", found, k8sOverlays)
	}
	// The files as they are, copied into memory like the broken ones below.
	files := copyK8s(t)
	for _, o := range found {
		t.Run(o, func(t *testing.T) {
			for _, msg := range checkOverlay(files, o, env) {
				t.Error(msg)
			}
		})
	}
	for k := range optionalEnv {
		if !slices.Contains(env, k) {
			t.Errorf("optionalEnv lists %s, which the worker does not read", k)
		}
	}
}

func TestK8sChecksCatchBrokenManifests(t *testing.T) {
	env := workerEnv(t)
	// edit replaces old, which must occur exactly once, in the file.
	type edit struct{ file, old, new string }
	base := func(file, old, new string) edit { return edit{path.Join("base", file), old, new} }
	for _, tc := range []struct {
		name    string
		overlay string
		edit    edit
		want    string
	}{
		{"unknown field", "self-hosted", base("deployment.yaml", "      automountServiceAccountToken: false", "      automountServiceAccountTokens: false"), "schema: Deployment/dunning-worker"},
		{"wrong type", "self-hosted", base("deployment.yaml", "terminationGracePeriodSeconds: 45", `terminationGracePeriodSeconds: "45s"`), "schema: Deployment/dunning-worker"},
		{"required field", "self-hosted", base("service.yaml", "    - name: metrics\n      port: 9464\n", "    - name: metrics\n"), "schema: Service/dunning-worker"},
		{"int-or-string", "self-hosted", base("pdb.yaml", "minAvailable: 1", "minAvailable: [1]"), "schema: PodDisruptionBudget"},
		{"apiVersion without a schema", "self-hosted", base("hpa.yaml", "apiVersion: autoscaling/v2", "apiVersion: autoscaling/v1"), "schema: HorizontalPodAutoscaler"},
		{"kustomize error", "self-hosted", edit{"overlays/self-hosted/kustomization.yaml", "../../base", "../../bases"}, "kustomize:"},
		{"latest image", "self-hosted", base("kustomization.yaml", `newTag: "0.1.0"`, `newTag: latest`), "latest is not a release"},
		{"unpinned image", "self-hosted", base("kustomization.yaml", "    newTag: \"0.1.0\"\n", ""), "not pinned"},
		{"setting missing", "self-hosted", base("configmap.yaml", "  DUNNING_WEBHOOK_GIVE_UP: \"72h\"\n", ""), "env DUNNING_WEBHOOK_GIVE_UP: the worker reads it"},
		{"secret missing", "self-hosted", base("deployment.yaml", "            - name: CREDIT_CHECK_TOKEN\n              valueFrom:\n                secretKeyRef: {name: dunning-secrets, key: CREDIT_CHECK_TOKEN, optional: true}\n", ""), "env CREDIT_CHECK_TOKEN: the worker reads it"},
		{"misspelt setting", "self-hosted", base("configmap.yaml", "DUNNING_STAFF_LOCALE:", "DUNNING_STAFF_LANG:"), "env DUNNING_STAFF_LANG: the worker does not read it"},
		{"refused setting", "self-hosted", base("configmap.yaml", `DUNNING_STAFF_LOCALE: "en"`, `DUNNING_STAFF_LOCALE: "fr"`), "would refuse its settings"},
		{"database optional", "self-hosted", base("deployment.yaml", "key: DATABASE_URL}", "key: DATABASE_URL, optional: true}"), "env DATABASE_URL must come from a Secret"},
		{"code secret as a literal", "self-hosted", base("deployment.yaml", "              valueFrom:\n                secretKeyRef: {name: dunning-secrets, key: DUNNING_CODE_SECRET}", "              value: changeme"), "env DUNNING_CODE_SECRET must come from a Secret"},
		{"secret key renamed", "self-hosted", base("deployment.yaml", "key: STRIPE_API_KEY,", "key: stripe-key,"), "name the key after the variable"},
		{"cloud without a key", "temporal-cloud", edit{"overlays/temporal-cloud/kustomization.yaml", "name: TEMPORAL_API_KEY", "name: TEMPORAL_KEY"}, "Temporal Cloud without TEMPORAL_API_KEY"},
		{"cloud key optional", "temporal-cloud", edit{"overlays/temporal-cloud/kustomization.yaml", "key: TEMPORAL_API_KEY}", "key: TEMPORAL_API_KEY, optional: true}"}, "env TEMPORAL_API_KEY must come from a Secret"},
		{"mTLS key not mounted", "temporal-cloud-mtls", edit{"overlays/temporal-cloud-mtls/kustomization.yaml", "mountPath: /etc/temporal-tls,", "mountPath: /etc/temporal,"}, "/etc/temporal-tls/tls.key is not on a volume mounted from a Secret"},
		{"mTLS cert alone", "temporal-cloud-mtls", edit{"overlays/temporal-cloud-mtls/kustomization.yaml", "path: /data/TEMPORAL_TLS_KEY", "path: /data/TEMPORAL_TLS_KEYFILE"}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"},
		{"probe path", "self-hosted", base("deployment.yaml", "readinessProbe:\n            httpGet: {path: /healthz,", "readinessProbe:\n            httpGet: {path: /ready,"), "readiness probe: the API answers GET /ready without a token with 401"},
		{"probe port", "self-hosted", base("deployment.yaml", "livenessProbe:\n            httpGet: {path: /healthz, port: http}", "livenessProbe:\n            httpGet: {path: /healthz, port: metrics}"), "liveness probe: port metrics is not the API's 8088"},
		{"container port apart from the setting", "self-hosted", base("configmap.yaml", `DUNNING_HTTP_ADDR: ":8088"`, `DUNNING_HTTP_ADDR: ":8080"`), "want http 8080"},
		{"no API", "self-hosted", base("configmap.yaml", "  DUNNING_HTTP_ADDR: \":8088\"\n", ""), "must both be set"},
		{"scrape port", "self-hosted", base("deployment.yaml", `prometheus.io/port: "9464"`, `prometheus.io/port: "9090"`), "want prometheus.io/scrape, port 9464"},
		{"service to no port", "self-hosted", base("service.yaml", "targetPort: metrics", "targetPort: prometheus"), "target prometheus is no container port"},
		{"request above limit", "self-hosted", base("deployment.yaml", "memory: 1Gi", "memory: 2Gi"), "memory request 2Gi is above its limit"},
		{"no CPU limit", "self-hosted", base("deployment.yaml", "              cpu: \"1\"\n", ""), "cpu request and limit must both be set"},
		{"grace too short", "self-hosted", base("deployment.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30"), "the worker needs 35s to stop"},
		{"root", "self-hosted", base("deployment.yaml", "runAsUser: 65532", "runAsUser: 0"), "want runAsNonRoot and runAsUser 65532"},
		{"writable root", "self-hosted", base("deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), "want readOnlyRootFilesystem"},
		{"autoscaler target", "self-hosted", base("hpa.yaml", "    name: dunning-worker\n  minReplicas", "    name: worker\n  minReplicas"), "autoscaler targets apps/v1 Deployment worker"},
		{"budget blocks drains", "self-hosted", base("pdb.yaml", "minAvailable: 1", "minAvailable: 2"), "must be below the autoscaler's minReplicas 2"},
		{"fixed replicas", "self-hosted", base("deployment.yaml", "spec:\n  selector:", "spec:\n  replicas: 3\n  selector:"), "the autoscaler owns them"},
		{"selectors not labels", "self-hosted", base("kustomization.yaml", "includeSelectors: true", "includeSelectors: false"), "selector"},
		{"no namespace", "self-hosted", edit{"overlays/self-hosted/kustomization.yaml", "namespace: dunning\n", ""}, "without a namespace"},
		{"extra object", "self-hosted", edit{"overlays/self-hosted/kustomization.yaml", "patches:\n", "configMapGenerator:\n  - name: extra\n    literals: [A=b]\npatches:\n"}, "want one Deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := copyK8s(t)
			p := path.Join("/", k8sDir, tc.edit.file)
			b, err := files.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), tc.edit.old); n != 1 {
				t.Fatalf("mutation: %q occurs %d times in %s", tc.edit.old, n, tc.edit.file)
			}
			if err := files.WriteFile(p, []byte(strings.Replace(string(b), tc.edit.old, tc.edit.new, 1))); err != nil {
				t.Fatal(err)
			}
			msgs := checkOverlay(files, tc.overlay, env)
			t.Logf("%q", msgs)
			if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, tc.want) }) {
				t.Errorf("want a problem with %q, got %q", tc.want, msgs)
			}
		})
	}
}
