package deploy

// These tests load ../docker-compose.yml with ../.env through the compose-spec
// library (the loader Docker Compose itself uses: interpolation, schema
// validation, path resolution) and check the wiring the dunning system relies
// on. Each check reports problems instead of failing at once, so that
// TestChecksCatchBrokenStacks can break the files on purpose and make sure
// the checks notice.

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"go.yaml.in/yaml/v3"

	"github.com/example/dunning/config"
	"github.com/example/dunning/workflows"
)

// Service names the files refer to each other by.
const (
	svcPostgres   = "postgresql"
	svcAdminTools = "temporal-admin-tools"
	svcTemporal   = "temporal"
	svcNamespace  = "temporal-create-namespace"
	svcUI         = "temporal-ui"
	svcWorker     = "worker"
)

// contractSearchAttributes are the public contract's search attributes
// (SPEC.md), which the namespace job registers.
var contractSearchAttributes = map[string]string{
	"CustomerId":        "Keyword",
	"AccountStatus":     "Keyword",
	"DunningStage":      "Keyword",
	"RiskTier":          "Keyword",
	"ProvisioningState": "Keyword",
	"AmountOverdue":     "Int",
	"DaysPastDue":       "Int",
	"Exemptions":        "KeywordList",
}

// contractEnv are the public contract's settings the worker must be given.
var contractEnv = []string{
	"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DUNNING_TASK_QUEUE", "DATABASE_URL",
	"SENDGRID_API_KEY", "SENDGRID_API_HOST", "DUNNING_FROM_EMAIL",
	"STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET",
}

// imageRepos is the image each service without a build runs.
var imageRepos = map[string]string{
	svcPostgres:   "postgres",
	svcAdminTools: "temporalio/admin-tools",
	svcTemporal:   "temporalio/server",
	svcNamespace:  "temporalio/admin-tools",
	svcUI:         "temporalio/ui",
	svcPrometheus: "prom/prometheus",
	svcGrafana:    "grafana/grafana",
}

// imageTags is the form of each image's pinned tag.
var imageTags = map[string]*regexp.Regexp{
	"postgres":               regexp.MustCompile(`^16(\.\d+)?$`),
	"temporalio/admin-tools": regexp.MustCompile(`^1\.\d+\.\d+$`),
	"temporalio/server":      regexp.MustCompile(`^1\.\d+\.\d+$`),
	"temporalio/ui":          regexp.MustCompile(`^2\.\d+\.\d+$`),
	"prom/prometheus":        regexp.MustCompile(`^v3\.\d+\.\d+$`),
	"grafana/grafana":        regexp.MustCompile(`^1[12]\.\d+\.\d+$`),
}

// stack is the deployment files as read from the repository; the mutation
// test changes copies of it.
type stack struct {
	root         string            // repository root, absolute
	compose      string            // docker-compose.yml
	env          map[string]string // .env
	dockerfile   string
	dockerignore string
}

func readStack(t *testing.T) stack {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return string(data)
	}
	env, err := dotenv.GetEnvFromFile(map[string]string{}, []string{filepath.Join(root, ".env")})
	if err != nil {
		t.Fatalf("read .env: %v", err)
	}
	return stack{
		root:         root,
		compose:      read("docker-compose.yml"),
		env:          env,
		dockerfile:   read("Dockerfile"),
		dockerignore: read(".dockerignore"),
	}
}

// load loads the compose file the way `docker compose` does, with only the
// .env file as environment: nothing from the machine running the test leaks
// into the values checked.
func (s stack) load(extraEnv map[string]string) (*types.Project, error) {
	env := types.Mapping{}
	maps.Copy(env, s.env)
	maps.Copy(env, extraEnv)
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  s.root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(s.root, "docker-compose.yml"), Content: []byte(s.compose)}},
		Environment: env,
	})
}

// problems collects what is wrong.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// checkAll runs every check on a stack and returns the problems found.
func checkAll(s stack) []string {
	var p problems
	proj, err := s.load(nil)
	if err != nil {
		p.add("docker-compose.yml does not load: %v", err)
		return p
	}
	if proj.Name != "dunning" {
		p.add("project name %q, want dunning (top-level name:)", proj.Name)
	}
	checkImages(&p, proj)
	checkPostgres(&p, proj)
	checkTemporal(&p, proj)
	checkNamespaceJob(&p, proj)
	checkUI(&p, proj)
	checkWorker(&p, proj)
	checkMounts(&p, proj, s.root)
	checkMonitoring(&p, proj)
	checkDockerfile(&p, s.dockerfile, goMinor(s.root))
	checkDockerignore(&p, s.dockerignore)
	return p
}

func TestComposeStack(t *testing.T) {
	for _, msg := range checkAll(readStack(t)) {
		t.Error(msg)
	}
}

// getService returns a service, reporting it when missing.
func getService(p *problems, proj *types.Project, name string) (types.ServiceConfig, bool) {
	svc, ok := proj.Services[name]
	if !ok {
		p.add("service %s is missing", name)
	}
	return svc, ok
}

func envValue(svc types.ServiceConfig, key string) (string, bool) {
	v, ok := svc.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

// wantEnv reports a service's variable that is unset or not want.
func wantEnv(p *problems, svc types.ServiceConfig, key, want string) {
	got, ok := envValue(svc, key)
	switch {
	case !ok:
		p.add("%s: environment %s is not set (want %q)", svc.Name, key, want)
	case got != want:
		p.add("%s: environment %s=%q, want %q", svc.Name, key, got, want)
	}
}

// wantDependsOn reports a missing dependency or a wrong condition.
func wantDependsOn(p *problems, svc types.ServiceConfig, on, condition string) {
	dep, ok := svc.DependsOn[on]
	switch {
	case !ok:
		p.add("%s: does not depend on %s (want condition %s)", svc.Name, on, condition)
	case dep.Condition != condition:
		p.add("%s: depends on %s with condition %q, want %q", svc.Name, on, dep.Condition, condition)
	}
}

func checkImages(p *problems, proj *types.Project) {
	tags := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(proj.Services)) {
		svc := proj.Services[name]
		if svc.Image == "" {
			if svc.Build == nil {
				p.add("%s: neither image nor build", name)
			}
			continue
		}
		ref, err := reference.ParseNormalizedNamed(svc.Image)
		if err != nil {
			p.add("%s: image %q is not a valid image reference: %v", name, svc.Image, err)
			continue
		}
		repo := reference.FamiliarName(ref)
		tagged, hasTag := ref.(reference.Tagged)
		_, hasDigest := ref.(reference.Digested)
		switch {
		case !hasTag && !hasDigest:
			p.add("%s: image %q is not pinned to a tag", name, svc.Image)
			continue
		case hasTag && tagged.Tag() == "latest":
			p.add("%s: image %q uses the latest tag; pin a version", name, svc.Image)
			continue
		}
		if svc.Build != nil {
			continue // our own image, built from the Dockerfile
		}
		if want, ok := imageRepos[name]; ok && repo != want {
			p.add("%s: image %q, want a %s image", name, svc.Image, want)
		}
		if !hasTag {
			continue
		}
		if re, ok := imageTags[repo]; ok && !re.MatchString(tagged.Tag()) {
			p.add("%s: image %q: tag %q does not match %s", name, svc.Image, tagged.Tag(), re)
		}
		if prev, ok := tags[repo]; ok && prev != tagged.Tag() {
			p.add("%s: image %q differs from another service's %s:%s", name, svc.Image, repo, prev)
		}
		tags[repo] = tagged.Tag()
	}
	if a, s := tags["temporalio/admin-tools"], tags["temporalio/server"]; a != "" && s != "" && a != s {
		p.add("temporalio/admin-tools:%s and temporalio/server:%s differ: the schema tool must match the server", a, s)
	}
	for name := range imageRepos {
		if _, ok := proj.Services[name]; !ok {
			p.add("service %s is missing", name)
		}
	}
}

func checkPostgres(p *problems, proj *types.Project) {
	svc, ok := proj.Services[svcPostgres]
	if !ok {
		return // reported by checkImages
	}
	hc := svc.HealthCheck
	if hc == nil || hc.Disable || !strings.Contains(strings.Join(hc.Test, " "), "pg_isready") {
		p.add("%s: needs a healthcheck running pg_isready", svc.Name)
	}
	if _, ok := envValue(svc, "POSTGRES_PASSWORD"); !ok {
		p.add("%s: POSTGRES_PASSWORD is not set (the image refuses to start)", svc.Name)
	}
	persisted := false
	for _, v := range svc.Volumes {
		if v.Target == "/var/lib/postgresql/data" && v.Type == types.VolumeTypeVolume {
			persisted = true
		}
	}
	if !persisted {
		p.add("%s: no named volume on /var/lib/postgresql/data: the data would not outlive the container", svc.Name)
	}
}

func checkTemporal(p *problems, proj *types.Project) {
	pg := proj.Services[svcPostgres]
	pgUser, _ := envValue(pg, "POSTGRES_USER")
	pgPassword, _ := envValue(pg, "POSTGRES_PASSWORD")
	if admin, ok := getService(p, proj, svcAdminTools); ok {
		wantDependsOn(p, admin, svcPostgres, types.ServiceConditionHealthy)
		wantEnv(p, admin, "POSTGRES_SEEDS", svcPostgres)
		wantEnv(p, admin, "DB_PORT", "5432")
		wantEnv(p, admin, "POSTGRES_USER", pgUser)
		wantEnv(p, admin, "POSTGRES_PWD", pgPassword)
		if !strings.HasPrefix(admin.Restart, "on-failure") && admin.Restart != "no" && admin.Restart != "" {
			p.add("%s: restart %q: a one-shot job must not restart once it succeeded", admin.Name, admin.Restart)
		}
	}
	svc, ok := getService(p, proj, svcTemporal)
	if !ok {
		return
	}
	wantDependsOn(p, svc, svcAdminTools, types.ServiceConditionCompletedSuccessfully)
	wantEnv(p, svc, "DB", "postgres12")
	wantEnv(p, svc, "DB_PORT", "5432")
	wantEnv(p, svc, "POSTGRES_SEEDS", svcPostgres)
	wantEnv(p, svc, "POSTGRES_USER", pgUser)
	wantEnv(p, svc, "POSTGRES_PWD", pgPassword)
	wantEnv(p, svc, "BIND_ON_IP", "0.0.0.0")
	if hc := svc.HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
		p.add("%s: needs a healthcheck: the namespace job, the UI and the worker wait for it", svc.Name)
	}
	if !hasPort(svc, 7233) {
		p.add("%s: does not publish its frontend port 7233", svc.Name)
	}
	dc, ok := envValue(svc, "DYNAMIC_CONFIG_FILE_PATH")
	if !ok {
		p.add("%s: DYNAMIC_CONFIG_FILE_PATH is not set", svc.Name)
		return
	}
	if !path.IsAbs(dc) {
		dc = path.Join("/etc/temporal", dc) // the image's working directory
	}
	host, ok := hostPath(svc, dc)
	if !ok {
		p.add("%s: DYNAMIC_CONFIG_FILE_PATH %s is not in a volume mounted from the repository", svc.Name, dc)
		return
	}
	checkDynamicConfig(p, host)
}

// checkDynamicConfig checks that the file parses as Temporal dynamic config:
// each key a list of {value, constraints}.
func checkDynamicConfig(p *problems, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		p.add("dynamic config: %v", err)
		return
	}
	var dc map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	if err := yaml.Unmarshal(data, &dc); err != nil {
		p.add("dynamic config %s: %v", file, err)
		return
	}
	if len(dc) == 0 {
		p.add("dynamic config %s is empty", file)
	}
	for key, entries := range dc {
		if len(entries) == 0 {
			p.add("dynamic config %s: %s has no value", file, key)
		}
		for _, e := range entries {
			if e.Value == nil {
				p.add("dynamic config %s: %s has an entry without value", file, key)
			}
		}
	}
}

func hasPort(svc types.ServiceConfig, target uint32) bool {
	for _, port := range svc.Ports {
		if port.Target == target {
			return true
		}
	}
	return false
}

// hostPath maps a path in a service's container to the file bind-mounted
// there from the host.
func hostPath(svc types.ServiceConfig, containerPath string) (string, bool) {
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if containerPath == v.Target {
			return v.Source, true
		}
		if rest, ok := strings.CutPrefix(containerPath, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(v.Source, filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

// parseSearchAttributes reads the namespace job's Name=Type list.
func parseSearchAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Fields(s) {
		name, typ, ok := strings.Cut(pair, "=")
		if !ok || name == "" || typ == "" {
			return nil, fmt.Errorf("%q is not Name=Type", pair)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s is listed twice", name)
		}
		out[name] = typ
	}
	return out, nil
}

func checkNamespaceJob(p *problems, proj *types.Project) {
	svc, ok := getService(p, proj, svcNamespace)
	if !ok {
		return
	}
	wantDependsOn(p, svc, svcTemporal, types.ServiceConditionHealthy)
	wantEnv(p, svc, "TEMPORAL_ADDRESS", "temporal:7233")
	wantEnv(p, svc, "NAMESPACE", "default")
	if admin, ok := proj.Services[svcAdminTools]; ok && admin.Image != svc.Image {
		p.add("%s: image %q differs from %s's %q", svc.Name, svc.Image, svcAdminTools, admin.Image)
	}
	raw, ok := envValue(svc, "SEARCH_ATTRIBUTES")
	if !ok {
		p.add("%s: SEARCH_ATTRIBUTES is not set", svc.Name)
		return
	}
	got, err := parseSearchAttributes(raw)
	if err != nil {
		p.add("%s: SEARCH_ATTRIBUTES: %v", svc.Name, err)
		return
	}
	if !maps.Equal(got, contractSearchAttributes) {
		p.add("%s: SEARCH_ATTRIBUTES registers %v, want exactly %v", svc.Name, got, contractSearchAttributes)
	}
}

func checkUI(p *problems, proj *types.Project) {
	svc, ok := getService(p, proj, svcUI)
	if !ok {
		return
	}
	wantEnv(p, svc, "TEMPORAL_ADDRESS", "temporal:7233")
	wantDependsOn(p, svc, svcTemporal, types.ServiceConditionHealthy)
	published := false
	for _, port := range svc.Ports {
		if port.Target == 8080 && port.Published == "8080" {
			published = true
		}
	}
	if !published {
		p.add("%s: does not publish port 8080 as 8080 (ports %+v)", svc.Name, svc.Ports)
	}
}

// initSQL matches what the PostgreSQL init script creates for the worker.
var (
	createRole = regexp.MustCompile(`(?i)CREATE\s+(?:ROLE|USER)\s+(\w+)(?:\s+WITH)?\s+LOGIN\s+PASSWORD\s+'([^']*)'`)
	createDB   = regexp.MustCompile(`(?i)CREATE\s+DATABASE\s+(\w+)\s+OWNER\s+(\w+)`)
)

// dunningDatabase reads the role, password and database that the postgresql
// service's init scripts create.
func dunningDatabase(p *problems, pg types.ServiceConfig) (user, password, db string) {
	for _, v := range pg.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") {
			continue
		}
		data, err := os.ReadFile(v.Source)
		if err != nil {
			p.add("%s: init script: %v", pg.Name, err)
			continue
		}
		if m := createRole.FindStringSubmatch(string(data)); m != nil {
			user, password = m[1], m[2]
		}
		if m := createDB.FindStringSubmatch(string(data)); m != nil {
			db = m[1]
			if user != "" && m[2] != user {
				p.add("%s: database %s is owned by %s, not by the role %s the worker logs in as", pg.Name, db, m[2], user)
			}
		}
	}
	if user == "" || db == "" {
		p.add("%s: no init script in /docker-entrypoint-initdb.d creates the worker's role and database", pg.Name)
	}
	return user, password, db
}

func checkWorker(p *problems, proj *types.Project) {
	svc, ok := getService(p, proj, svcWorker)
	if !ok {
		return
	}
	if svc.Build == nil {
		p.add("%s: not built from the repository's Dockerfile", svc.Name)
	} else {
		df := svc.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if _, err := os.Stat(filepath.Join(svc.Build.Context, df)); err != nil {
			p.add("%s: build: %v", svc.Name, err)
		}
	}
	for _, key := range contractEnv {
		if _, ok := envValue(svc, key); !ok {
			p.add("%s: public contract variable %s is not set", svc.Name, key)
		}
	}
	wantEnv(p, svc, "TEMPORAL_ADDRESS", "temporal:7233")
	wantEnv(p, svc, "TEMPORAL_NAMESPACE", "default")
	wantEnv(p, svc, "DUNNING_TASK_QUEUE", "dunning")
	if ns, ok := proj.Services[svcNamespace]; ok {
		a, _ := envValue(ns, "NAMESPACE")
		b, _ := envValue(svc, "TEMPORAL_NAMESPACE")
		if a != b {
			p.add("%s: namespace %q is not the one %s creates (%q)", svc.Name, b, svcNamespace, a)
		}
	}
	wantDependsOn(p, svc, svcTemporal, types.ServiceConditionHealthy)
	wantDependsOn(p, svc, svcNamespace, types.ServiceConditionCompletedSuccessfully)
	wantDependsOn(p, svc, svcPostgres, types.ServiceConditionHealthy)
	if !strings.HasPrefix(svc.Restart, "on-failure") && svc.Restart != "always" && svc.Restart != "unless-stopped" {
		p.add("%s: restart %q: the worker must come back when it fails", svc.Name, svc.Restart)
	}

	// DATABASE_URL: the dunning database on the postgresql service, with the
	// role its init script creates.
	if raw, ok := envValue(svc, "DATABASE_URL"); ok {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.add("%s: DATABASE_URL %q is not a postgres:// URL", svc.Name, config.Redact(raw))
		} else {
			if u.Hostname() != svcPostgres {
				p.add("%s: DATABASE_URL host %q, want the %s service", svc.Name, u.Hostname(), svcPostgres)
			}
			if port := u.Port(); port != "" && port != "5432" {
				p.add("%s: DATABASE_URL port %s, want 5432 (the port inside the network)", svc.Name, port)
			}
			if sslmode := u.Query().Get("sslmode"); sslmode != "disable" {
				p.add("%s: DATABASE_URL sslmode=%q: the postgres image serves no TLS, want disable", svc.Name, sslmode)
			}
			if pg, ok := proj.Services[svcPostgres]; ok {
				user, password, db := dunningDatabase(p, pg)
				gotPassword, _ := u.User.Password()
				if u.User.Username() != user || gotPassword != password {
					p.add("%s: DATABASE_URL logs in as %q, not as the role %q the init script creates (or with another password)", svc.Name, u.User.Username(), user)
				}
				if got := strings.TrimPrefix(u.Path, "/"); got != db {
					p.add("%s: DATABASE_URL database %q, want %q (created by the init script)", svc.Name, got, db)
				}
			}
		}
	}

	// The worker's own configuration check accepts the values.
	_, err := config.FromGetenv(func(key string) string {
		v, _ := envValue(svc, key)
		return v
	})
	if err != nil {
		p.add("%s: the worker would refuse its environment: %v", svc.Name, err)
	}
}

// checkMounts checks every volume: files and directories mounted from the
// repository exist there, named volumes are declared, and the scripts the
// one-shot jobs run are mounted from the repository.
func checkMounts(p *problems, proj *types.Project, root string) {
	for _, name := range slices.Sorted(maps.Keys(proj.Services)) {
		svc := proj.Services[name]
		for _, v := range svc.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				rel, err := filepath.Rel(root, v.Source)
				if err != nil || strings.HasPrefix(rel, "..") {
					p.add("%s: mounts %s from outside the repository", name, v.Source)
					continue
				}
				if _, err := os.Stat(v.Source); err != nil {
					p.add("%s: mounts %s, which is not in the repository", name, rel)
				}
			case types.VolumeTypeVolume:
				if _, ok := proj.Volumes[v.Source]; !ok && v.Source != "" {
					p.add("%s: volume %s is not declared", name, v.Source)
				}
			}
		}
		// A script a job runs must come from the repository.
		for _, arg := range slices.Concat([]string(svc.Entrypoint), []string(svc.Command)) {
			if !strings.HasSuffix(arg, ".sh") {
				continue
			}
			host, ok := hostPath(svc, arg)
			if !ok {
				p.add("%s: runs %s, which no volume mounts from the repository", name, arg)
				continue
			}
			if _, err := os.Stat(host); err != nil {
				p.add("%s: runs %s: %v", name, arg, err)
			}
		}
	}
	for _, name := range []string{svcAdminTools, svcNamespace} {
		svc, ok := proj.Services[name]
		if !ok {
			continue
		}
		if !slices.ContainsFunc(slices.Concat([]string(svc.Entrypoint), []string(svc.Command)), func(a string) bool {
			return strings.HasSuffix(a, ".sh")
		}) {
			p.add("%s: runs no script from deploy/", name)
		}
	}
}

// goMinor is the Go release (1.26) of the repository's go.mod.
func goMinor(root string) string {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// dockerStage is one FROM of a Dockerfile with its instructions.
type dockerStage struct {
	image, name string
	lines       []string // instructions after FROM, continuations joined
}

// parseDockerfile splits a Dockerfile into stages, with the ARGs declared
// before the first FROM substituted in the FROM lines.
func parseDockerfile(text string) []dockerStage {
	var lines []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	args := map[string]string{}
	var stages []dockerStage
	for _, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "ARG":
			if len(stages) == 0 {
				k, v, _ := strings.Cut(strings.TrimSpace(rest), "=")
				args[k] = v
			}
		case "FROM":
			f := strings.Fields(os.Expand(rest, func(k string) string { return args[k] }))
			var st dockerStage
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				case st.image == "":
					st.image = f[i]
				}
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		}
	}
	return stages
}

func checkDockerfile(p *problems, text, goMinor string) {
	stages := parseDockerfile(text)
	if len(stages) < 2 {
		p.add("Dockerfile: want a build stage and a runtime stage, found %d stage(s)", len(stages))
		return
	}
	build, final := stages[0], stages[len(stages)-1]
	if want := "golang:" + goMinor + "-bookworm"; build.image != want {
		p.add("Dockerfile: build stage FROM %s, want %s (go.mod's Go release)", build.image, want)
	}
	if build.name == "" {
		p.add("Dockerfile: the build stage has no name to copy from")
	}
	var goBuild string
	cgoOff := false
	for _, l := range build.lines {
		if strings.HasPrefix(l, "ENV ") && strings.Contains(l, "CGO_ENABLED=0") {
			cgoOff = true
		}
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			goBuild = l
		}
	}
	if goBuild == "" {
		p.add("Dockerfile: the build stage runs no go build")
	} else {
		fields := strings.Fields(goBuild)
		for _, pkg := range []string{"./worker", "./starter"} {
			if !slices.Contains(fields, pkg) {
				p.add("Dockerfile: go build does not build %s", pkg)
			}
		}
		if !slices.Contains(fields, "-trimpath") {
			p.add("Dockerfile: go build without -trimpath")
		}
		if !cgoOff && !strings.Contains(goBuild, "CGO_ENABLED=0") {
			p.add("Dockerfile: go build without CGO_ENABLED=0: the binaries would not be static")
		}
	}
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static-debian12:nonroot") && final.image != "debian:bookworm-slim" {
		p.add("Dockerfile: runtime stage FROM %s, want gcr.io/distroless/static-debian12:nonroot or debian:bookworm-slim", final.image)
	}
	var copied, user, entrypoint string
	for _, l := range final.lines {
		switch instr, rest, _ := strings.Cut(l, " "); strings.ToUpper(instr) {
		case "COPY":
			if strings.Contains(rest, "--from="+build.name) {
				copied += " " + rest
			}
		case "USER":
			user = strings.TrimSpace(rest)
		case "ENTRYPOINT":
			entrypoint = rest
		case "RUN":
			if final.image != "debian:bookworm-slim" {
				break
			}
			if strings.Contains(rest, "apt-get install") && !strings.Contains(rest, "ca-certificates") {
				p.add("Dockerfile: the runtime stage needs ca-certificates for SendGrid over HTTPS")
			}
		}
	}
	for _, bin := range []string{"worker", "starter"} {
		if !regexp.MustCompile(`\b` + bin + `\b`).MatchString(copied) {
			p.add("Dockerfile: the runtime stage does not copy %s from the build stage", bin)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); user == "" || u == "root" || u == "0" {
		p.add("Dockerfile: the runtime stage runs as %q; want a non-root USER", user)
	}
	if !strings.Contains(entrypoint, "worker") {
		p.add("Dockerfile: ENTRYPOINT %q does not run the worker", entrypoint)
	}
}

// dockerignored reports whether .dockerignore patterns leave a path (relative
// to the repository, slash-separated) out of the build context.
func dockerignored(patterns []string, rel string) bool {
	ignored := false
	parts := strings.Split(rel, "/")
	for _, pat := range patterns {
		neg := strings.HasPrefix(pat, "!")
		pat = strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "/")
		match := false
		for i := 1; i <= len(parts) && !match; i++ {
			prefix := strings.Join(parts[:i], "/")
			if m, _ := path.Match(pat, prefix); m {
				match = true
			}
			if base, ok := strings.CutPrefix(pat, "**/"); ok {
				if m, _ := path.Match(base, parts[i-1]); m {
					match = true
				}
			}
		}
		if match {
			ignored = !neg
		}
	}
	return ignored
}

func dockerignorePatterns(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func checkDockerignore(p *problems, text string) {
	pats := dockerignorePatterns(text)
	for _, rel := range []string{".git/HEAD", "bin/worker", ".run/x", ".env", "worker/worker.test"} {
		if !dockerignored(pats, rel) {
			p.add(".dockerignore: %s would be sent to the build", rel)
		}
	}
	for _, rel := range []string{"go.mod", "go.sum", "worker/main.go", "starter/main.go"} {
		if dockerignored(pats, rel) {
			p.add(".dockerignore: leaves out %s, which the build needs", rel)
		}
	}
}

// TestDockerContextHasSources checks that .dockerignore keeps every source
// file (and embedded file) of the packages the image builds.
func TestDockerContextHasSources(t *testing.T) {
	s := readStack(t)
	cmd := exec.Command("go", "list", "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./worker", "./starter")
	cmd.Dir = s.root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pats := dockerignorePatterns(s.dockerignore)
	files := strings.Fields(string(out))
	if len(files) == 0 {
		t.Fatal("go list found no source files")
	}
	for _, f := range files {
		rel, err := filepath.Rel(s.root, f)
		if err != nil {
			t.Fatal(err)
		}
		if dockerignored(pats, filepath.ToSlash(rel)) {
			t.Errorf(".dockerignore leaves out %s, which the image's build needs", rel)
		}
	}
}

// TestSearchAttributesMatchWorkflows keeps the namespace job's list and the
// worker's own registration (workflows.SearchAttributes) the same.
func TestSearchAttributesMatchWorkflows(t *testing.T) {
	if got := workflows.SearchAttributes(); !maps.Equal(got, contractSearchAttributes) {
		t.Errorf("workflows.SearchAttributes() = %v, the public contract (and docker-compose.yml) say %v", got, contractSearchAttributes)
	}
}

// TestSendGridKeyFromEnvironment: the key comes from the user's environment
// and is empty (mail stays in the outbox) when not set there; it is not
// written in the repository's files.
func TestSendGridKeyFromEnvironment(t *testing.T) {
	s := readStack(t)
	if _, ok := s.env["SENDGRID_API_KEY"]; ok {
		t.Error(".env sets SENDGRID_API_KEY: secrets stay out of the repository")
	}
	for _, tc := range []struct{ env, want string }{{"", ""}, {"SG.test-key", "SG.test-key"}} {
		proj, err := s.load(map[string]string{"SENDGRID_API_KEY": tc.env})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := envValue(proj.Services[svcWorker], "SENDGRID_API_KEY")
		if !ok || got != tc.want {
			t.Errorf("with SENDGRID_API_KEY=%q in the environment the worker gets %q (set %v), want %q", tc.env, got, ok, tc.want)
		}
	}
}

// TestVersionsArePinnedInDotEnv: the compose file takes its image versions
// from .env and refuses to start without them.
func TestVersionsArePinnedInDotEnv(t *testing.T) {
	s := readStack(t)
	for _, key := range []string{"TEMPORAL_VERSION", "TEMPORAL_ADMINTOOLS_VERSION", "TEMPORAL_UI_VERSION", "POSTGRESQL_VERSION",
		"PROMETHEUS_VERSION", "GRAFANA_VERSION"} {
		if s.env[key] == "" {
			t.Errorf(".env does not set %s", key)
			continue
		}
		env := maps.Clone(s.env)
		delete(env, key)
		if _, err := (stack{root: s.root, compose: s.compose, env: env}).load(nil); err == nil {
			t.Errorf("docker-compose.yml loads without %s: a missing pin must stop it", key)
		}
	}
}

// TestChecksCatchBrokenStacks breaks the files in ways that would break the
// stack and makes sure the checks report each one.
func TestChecksCatchBrokenStacks(t *testing.T) {
	base := readStack(t)
	if msgs := checkAll(base); len(msgs) > 0 {
		t.Fatalf("the stack itself has problems (see TestComposeStack): %v", msgs)
	}
	// compose replaces old (which must occur exactly once) in docker-compose.yml.
	compose := func(old, new string) func(*testing.T, *stack) {
		return func(t *testing.T, s *stack) {
			if n := strings.Count(s.compose, old); n != 1 {
				t.Fatalf("mutation: %q occurs %d times in docker-compose.yml", old, n)
			}
			s.compose = strings.Replace(s.compose, old, new, 1)
		}
	}
	dockerfile := func(old, new string) func(*testing.T, *stack) {
		return func(t *testing.T, s *stack) {
			if n := strings.Count(s.dockerfile, old); n != 1 {
				t.Fatalf("mutation: %q occurs %d times in Dockerfile", old, n)
			}
			s.dockerfile = strings.Replace(s.dockerfile, old, new, 1)
		}
	}
	envVar := func(key, value string) func(*testing.T, *stack) {
		return func(t *testing.T, s *stack) { s.env[key] = value }
	}
	for _, tc := range []struct {
		name   string
		mutate func(*testing.T, *stack)
		want   string
	}{
		{"worker Temporal address", compose("TEMPORAL_ADDRESS: temporal:7233\n      TEMPORAL_NAMESPACE", "TEMPORAL_ADDRESS: localhost:7233\n      TEMPORAL_NAMESPACE"), `worker: environment TEMPORAL_ADDRESS="localhost:7233"`},
		{"worker task queue", compose("DUNNING_TASK_QUEUE: dunning", "DUNNING_TASK_QUEUE: billing"), "DUNNING_TASK_QUEUE"},
		{"worker namespace", compose("TEMPORAL_NAMESPACE: default", "TEMPORAL_NAMESPACE: dunning"), "TEMPORAL_NAMESPACE"},
		{"contract variable missing", compose("      DUNNING_FROM_EMAIL: ${DUNNING_FROM_EMAIL:-billing@example.com}\n", ""), "DUNNING_FROM_EMAIL is not set"},
		{"SendGrid host without scheme", compose("${SENDGRID_API_HOST:-https://api.sendgrid.com}", "${SENDGRID_API_HOST:-api.sendgrid.com}"), "would refuse its environment"},
		{"database on localhost", compose("@postgresql:5432/dunning", "@localhost:5432/dunning"), `DATABASE_URL host "localhost"`},
		{"database name", compose("@postgresql:5432/dunning?", "@postgresql:5432/postgres?"), `DATABASE_URL database "postgres"`},
		{"database role", compose("postgres://dunning:dunning@", "postgres://temporal:temporal@"), "DATABASE_URL logs in as"},
		{"temporal before its schema", compose("condition: service_completed_successfully\n    environment:\n      DB: postgres12", "condition: service_started\n    environment:\n      DB: postgres12"), "temporal: depends on temporal-admin-tools with condition"},
		{"worker before the namespace", compose("      temporal-create-namespace:\n        condition: service_completed_successfully\n", ""), "worker: does not depend on temporal-create-namespace"},
		{"latest image", compose("temporalio/ui:${TEMPORAL_UI_VERSION:?set in .env}", "temporalio/ui:latest"), "latest"},
		{"unpinned image", compose("temporalio/ui:${TEMPORAL_UI_VERSION:?set in .env}", "temporalio/ui"), "not pinned"},
		{"latest in .env", envVar("TEMPORAL_VERSION", "latest"), "latest"},
		{"server and admin-tools apart", envVar("TEMPORAL_ADMINTOOLS_VERSION", "1.29.1"), "differ"},
		{"wrong image", compose("image: postgres:${POSTGRESQL_VERSION", "image: mysql:${POSTGRESQL_VERSION"), "want a postgres image"},
		{"search attribute type", compose("DaysPastDue=Int", "DaysPastDue=Keyword"), "SEARCH_ATTRIBUTES registers"},
		{"search attribute missing", compose(" RiskTier=Keyword", ""), "SEARCH_ATTRIBUTES registers"},
		{"search attribute extra", compose("DaysPastDue=Int", "DaysPastDue=Int Plan=Keyword"), "SEARCH_ATTRIBUTES registers"},
		{"UI address", compose("TEMPORAL_ADDRESS: temporal:7233\n    ports:\n      - 127.0.0.1:${TEMPORAL_UI_HOST_PORT", "TEMPORAL_ADDRESS: temporal:7234\n    ports:\n      - 127.0.0.1:${TEMPORAL_UI_HOST_PORT"), "temporal-ui: environment TEMPORAL_ADDRESS"},
		{"UI port", compose("${TEMPORAL_UI_HOST_PORT:-8080}:8080", "${TEMPORAL_UI_HOST_PORT:-8080}:8088"), "does not publish port 8080"},
		{"UI port in .env", envVar("TEMPORAL_UI_HOST_PORT", "8088"), "does not publish port 8080"},
		{"postgres healthcheck", compose(`"pg_isready -h 127.0.0.1 -U temporal -d postgres"`, `"true"`), "pg_isready"},
		{"missing script", compose("./deploy/temporal/setup-postgres.sh:", "./deploy/temporal/setup-postgresql.sh:"), "not in the repository"},
		{"script not mounted", compose(`command: ["/scripts/create-namespace.sh"]`, `command: ["/scripts/namespace.sh"]`), "no volume mounts"},
		{"missing dynamic config", compose("DYNAMIC_CONFIG_FILE_PATH: config/dynamicconfig/development-sql.yaml", "DYNAMIC_CONFIG_FILE_PATH: config/dynamicconfig/production.yaml"), "no such file"},
		{"missing init script", compose("./deploy/postgres/init-dunning.sql:", "./deploy/postgres/init.sql:"), "init script"},
		{"temporal on the wrong database", compose("DB: postgres12", "DB: mysql8"), `DB="mysql8"`},
		{"dockerfile without starter", dockerfile("./worker ./starter", "./worker"), "does not build ./starter"},
		{"dockerfile with cgo", dockerfile("CGO_ENABLED=0 go build", "go build"), "CGO_ENABLED=0"},
		{"dockerfile without trimpath", dockerfile("-trimpath ", ""), "-trimpath"},
		{"dockerfile as root", dockerfile("USER nonroot:nonroot", "USER root"), "non-root"},
		{"dockerfile other Go", dockerfile("ARG GO_VERSION=1.26", "ARG GO_VERSION=1.22"), "golang:1.22-bookworm"},
		{"dockerfile entrypoint", dockerfile(`ENTRYPOINT ["/usr/local/bin/worker"]`, `ENTRYPOINT ["/usr/local/bin/starter"]`), "does not run the worker"},
		{"dockerignore lets .git in", func(t *testing.T, s *stack) {
			s.dockerignore = strings.Replace(s.dockerignore, ".git\n", "", 1)
		}, ".git/HEAD"},
		{"dockerignore drops sources", func(t *testing.T, s *stack) { s.dockerignore += "worker\n" }, "worker/main.go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.env = maps.Clone(base.env)
			tc.mutate(t, &s)
			msgs := checkAll(s)
			t.Logf("reported: %q", msgs)
			if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, tc.want) }) {
				t.Errorf("no problem mentioning %q reported; got %q", tc.want, msgs)
			}
		})
	}
}

// The worker serves the API and the console only when tokens are given:
// an HTTP server without tokens would refuse every request, so it stays off.
func TestComposeConsoleNeedsTokens(t *testing.T) {
	s := readStack(t)
	for _, tc := range []struct {
		tokens, want string
	}{
		{"", ""},
		{"alice:operator:0123456789abcdef", ":8088"},
	} {
		proj, err := s.load(map[string]string{"DUNNING_API_TOKENS": tc.tokens})
		if err != nil {
			t.Fatal(err)
		}
		var p problems
		svc, ok := getService(&p, proj, svcWorker)
		if !ok {
			t.Fatal(p)
		}
		if got, _ := envValue(svc, "DUNNING_HTTP_ADDR"); got != tc.want {
			t.Errorf("tokens %q: DUNNING_HTTP_ADDR = %q, want %q", tc.tokens, got, tc.want)
		}
		if got, _ := envValue(svc, "DUNNING_API_TOKENS"); got != tc.tokens {
			t.Errorf("DUNNING_API_TOKENS = %q, want %q", got, tc.tokens)
		}
		if !hasPort(svc, 8088) {
			t.Errorf("the worker's port 8088 is not published")
		}
	}
}
