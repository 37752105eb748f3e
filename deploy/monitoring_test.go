package deploy

// Checks of the monitoring half of the stack: the worker's metrics port,
// Prometheus scraping it, Grafana's provisioned datasource and dashboards,
// and the dashboards' PromQL, parsed with Prometheus' own parser.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

const (
	svcPrometheus = "prometheus"
	svcGrafana    = "grafana"
	// scrapeJob is the job name the dashboard's up{job=...} refers to.
	scrapeJob = "dunning-worker"
	// workerReadTimeout is the worker's bound on reading the business
	// figures (metrics.DefaultTimeout); a scrape must be allowed longer.
	workerReadTimeout = 5 * time.Second
	// dashboardMetricsFile lists every metric the dashboards use, one a
	// line; the end-to-end test checks each against a real worker.
	dashboardMetricsFile = "deploy/grafana/dashboard-metrics.txt"
)

// prometheusConfig is the part of prometheus.yml the checks read.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		ScrapeTimeout string `yaml:"scrape_timeout"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func checkMonitoring(p *problems, proj *types.Project) {
	worker, ok := proj.Services[svcWorker]
	if !ok {
		return // reported by checkWorker
	}
	port := ""
	if addr, ok := envValue(worker, "DUNNING_METRICS_ADDR"); !ok || addr == "" {
		p.add("%s: DUNNING_METRICS_ADDR is not set: Prometheus has nothing to scrape", worker.Name)
	} else if _, port, _ = net.SplitHostPort(addr); port == "" {
		p.add("%s: DUNNING_METRICS_ADDR %q has no port", worker.Name, addr)
	}
	if prom, ok := getService(p, proj, svcPrometheus); ok {
		wantDependsOn(p, prom, svcWorker, types.ServiceConditionStarted)
		checkScrapeConfig(p, prom, port)
	}
	if graf, ok := getService(p, proj, svcGrafana); ok {
		wantDependsOn(p, graf, svcPrometheus, types.ServiceConditionStarted)
		checkGrafana(p, graf)
	}
}

// flagValue is the value of --name=value among a service's arguments.
func flagValue(svc types.ServiceConfig, name, def string) string {
	for _, a := range slices.Concat([]string(svc.Entrypoint), []string(svc.Command)) {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return def
}

// checkScrapeConfig: the config file Prometheus is told to read is mounted
// from the repository and has a job scraping the worker's metrics port.
func checkScrapeConfig(p *problems, prom types.ServiceConfig, workerPort string) {
	file := flagValue(prom, "config.file", "/etc/prometheus/prometheus.yml")
	host, ok := hostPath(prom, file)
	if !ok {
		p.add("%s: its config file %s is not mounted from the repository", prom.Name, file)
		return
	}
	data, err := os.ReadFile(host)
	if err != nil {
		p.add("%s: config: %v", prom.Name, err)
		return
	}
	var cfg prometheusConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		p.add("%s: %s: %v", prom.Name, file, err)
		return
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		targets := false
		for _, st := range sc.StaticConfigs {
			targets = targets || slices.Contains(st.Targets, net.JoinHostPort(svcWorker, workerPort))
		}
		for _, dns := range sc.DNSSDConfigs {
			targets = targets || (slices.Contains(dns.Names, svcWorker) && strconv.Itoa(dns.Port) == workerPort && (dns.Type == "A" || dns.Type == ""))
		}
		if !targets {
			continue
		}
		found = true
		if sc.JobName != scrapeJob {
			p.add("%s: the job scraping the worker is %q, want %q (the dashboard's up{job=...})", prom.Name, sc.JobName, scrapeJob)
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			p.add("%s: metrics_path %q, the worker serves /metrics", prom.Name, sc.MetricsPath)
		}
		if d, err := time.ParseDuration(sc.ScrapeTimeout); sc.ScrapeTimeout != "" && (err != nil || d <= workerReadTimeout) {
			p.add("%s: scrape_timeout %q must be longer than the worker's %s bound on reading the figures", prom.Name, sc.ScrapeTimeout, workerReadTimeout)
		}
	}
	if !found {
		p.add("%s: no scrape job targets %s on its metrics port %q", prom.Name, svcWorker, workerPort)
	}
}

// grafanaDatasources and grafanaProviders are Grafana's provisioning files.
type grafanaDatasources struct {
	Datasources []struct {
		Name string `yaml:"name"`
		UID  string `yaml:"uid"`
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	} `yaml:"datasources"`
}

type grafanaProviders struct {
	Providers []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

// provisioningFiles reads the YAML files of one provisioning directory.
func provisioningFiles(p *problems, graf types.ServiceConfig, dir string) map[string][]byte {
	host, ok := hostPath(graf, "/etc/grafana/provisioning/"+dir)
	if !ok {
		p.add("%s: /etc/grafana/provisioning/%s is not mounted from the repository", graf.Name, dir)
		return nil
	}
	out := map[string][]byte{}
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(host, pattern))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				p.add("%s: %v", graf.Name, err)
				continue
			}
			out[filepath.Base(f)] = data
		}
	}
	if len(out) == 0 {
		p.add("%s: no provisioning file in %s", graf.Name, dir)
	}
	return out
}

// checkGrafana: a datasource points at the prometheus service, a provider
// loads dashboards from a directory of the repository, and every dashboard
// there is sound (checkDashboard).
func checkGrafana(p *problems, graf types.ServiceConfig) {
	uids := map[string]bool{}
	for name, data := range provisioningFiles(p, graf, "datasources") {
		var ds grafanaDatasources
		if err := yaml.Unmarshal(data, &ds); err != nil {
			p.add("%s: datasources/%s: %v", graf.Name, name, err)
			continue
		}
		for _, d := range ds.Datasources {
			if d.Type != "prometheus" {
				continue
			}
			u, err := url.Parse(d.URL)
			if err != nil || u.Hostname() != svcPrometheus || u.Port() != "9090" {
				p.add("%s: datasource %s has url %q, want the %s service on 9090", graf.Name, d.Name, d.URL, svcPrometheus)
				continue
			}
			uids[d.UID] = true
		}
	}
	if len(uids) == 0 {
		p.add("%s: no Prometheus datasource on the %s service is provisioned", graf.Name, svcPrometheus)
	}
	dashboards := 0
	for name, data := range provisioningFiles(p, graf, "dashboards") {
		var pr grafanaProviders
		if err := yaml.Unmarshal(data, &pr); err != nil {
			p.add("%s: dashboards/%s: %v", graf.Name, name, err)
			continue
		}
		for _, prov := range pr.Providers {
			host, ok := hostPath(graf, prov.Options.Path)
			if !ok {
				p.add("%s: dashboard provider %s reads %s, which is not mounted from the repository", graf.Name, prov.Name, prov.Options.Path)
				continue
			}
			files, _ := filepath.Glob(filepath.Join(host, "*.json"))
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					p.add("%s: %v", graf.Name, err)
					continue
				}
				dashboards++
				checkDashboard(p, filepath.Base(f), data, uids)
			}
		}
	}
	if dashboards == 0 {
		p.add("%s: no dashboard is provisioned", graf.Name)
	}
	if home, ok := envValue(graf, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); ok {
		if host, ok := hostPath(graf, home); !ok {
			p.add("%s: home dashboard %s is not mounted from the repository", graf.Name, home)
		} else if _, err := os.Stat(host); err != nil {
			p.add("%s: home dashboard: %v", graf.Name, err)
		}
	}
}

// dashboard is the part of a Grafana dashboard the checks read; rows may
// hold panels of their own.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// checkDashboard: the dashboard parses, panel IDs are unique, every panel
// with queries uses a provisioned datasource, and every query is valid
// PromQL. It returns the metric names the queries select.
func checkDashboard(p *problems, name string, data []byte, uids map[string]bool) []string {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		p.add("dashboard %s: %v", name, err)
		return nil
	}
	if d.UID == "" || d.Title == "" {
		p.add("dashboard %s: needs a uid and a title (links and provisioning rely on the uid)", name)
	}
	ids := map[int]bool{}
	names := map[string]bool{}
	for _, pn := range d.allPanels() {
		if ids[pn.ID] {
			p.add("dashboard %s: panel id %d is used twice", name, pn.ID)
		}
		ids[pn.ID] = true
		if pn.Type == "row" {
			continue
		}
		if len(pn.Targets) == 0 {
			p.add("dashboard %s: panel %q has no query", name, pn.Title)
		}
		for _, t := range pn.Targets {
			ds := t.Datasource
			if ds == nil {
				ds = pn.Datasource
			}
			if ds == nil || ds.Type != "prometheus" || !uids[ds.UID] {
				p.add("dashboard %s: panel %q query %s: datasource %+v is not a provisioned Prometheus datasource", name, pn.Title, t.RefID, ds)
			}
			got, err := metricNames(t.Expr)
			if err != nil {
				p.add("dashboard %s: panel %q query %s: %v", name, pn.Title, t.RefID, err)
			}
			for _, n := range got {
				names[n] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// metricNames parses a PromQL expression and returns the metric names its
// selectors select, sorted. A selector without a name (only {__name__=~…})
// is refused: the names must be checkable.
func metricNames(expr string) ([]string, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("empty query")
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	var bad error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				bad = fmt.Errorf("selector %s names no metric", vs)
			}
			names[vs.Name] = true
		}
		return nil
	})
	if bad != nil {
		return nil, bad
	}
	return slices.Sorted(maps.Keys(names)), nil
}

// dashboardNames is every metric the repository's dashboards use.
func dashboardNames(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy/grafana/dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var p problems
	names := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range checkDashboard(&p, filepath.Base(f), data, map[string]bool{"prometheus": true}) {
			names[n] = true
		}
	}
	for _, msg := range p {
		t.Error(msg)
	}
	return slices.Sorted(maps.Keys(names))
}

// TestDashboardMetricsListed: the list the end-to-end test checks against a
// real worker's /metrics is exactly what the dashboards' queries select.
func TestDashboardMetricsListed(t *testing.T) {
	s := readStack(t)
	want := dashboardNames(t, s.root)
	data, err := os.ReadFile(filepath.Join(s.root, dashboardMetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			got = append(got, line)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s lists\n  %q\nbut the dashboards use\n  %q\n(one name a line, sorted)", dashboardMetricsFile, got, want)
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
		err  string
	}{
		{`up`, []string{"up"}, ""},
		{`histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_x_seconds_bucket{le!="dunning_fake"}[5m])))`, []string{"temporal_x_seconds_bucket"}, ""},
		{`sum by (currency) (max without (instance) (a_total)) / on (currency) b_amount offset 1h`, []string{"a_total", "b_amount"}, ""},
		{`label_replace(dunning_customers, "x", "$1", "status", "(.*)") or vector(0)`, []string{"dunning_customers"}, ""},
		{`{__name__=~"dunning_.+"}`, nil, "names no metric"},
		{`sum(rate(dunning_payments_total[5m])`, nil, "unclosed"},
		{``, nil, "empty"},
	} {
		got, err := metricNames(tc.expr)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: err %v, want one mentioning %q", tc.expr, err, tc.err)
		case tc.err == "" && (err != nil || !slices.Equal(got, tc.want)):
			t.Errorf("%q: %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

// TestDashboardChecksCatchMistakes breaks a dashboard and makes sure each
// mistake is reported.
func TestDashboardChecksCatchMistakes(t *testing.T) {
	s := readStack(t)
	base, err := os.ReadFile(filepath.Join(s.root, "deploy/grafana/dashboards/dunning.json"))
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]bool{"prometheus": true}
	var p problems
	if checkDashboard(&p, "dunning.json", base, uids); len(p) > 0 {
		t.Fatalf("the dashboard itself has problems: %q", p)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"bad PromQL", `sum by (status) (max without (instance) (dunning_customers))`, `sum by (status) (max without (instance) (dunning_customers)`, "unclosed"},
		{"unknown datasource", `"uid": "prometheus"`, `"uid": "elsewhere"`, "not a provisioned Prometheus datasource"},
		{"duplicate panel id", `"id": 3,`, `"id": 2,`, "used twice"},
		{"not JSON", `{`, `[`, "dashboard dunning.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(base), tc.old) {
				t.Fatalf("mutation: %q is not in the dashboard", tc.old)
			}
			var p problems
			checkDashboard(&p, "dunning.json", []byte(strings.ReplaceAll(string(base), tc.old, tc.new)), uids)
			if !slices.ContainsFunc(p, func(m string) bool { return strings.Contains(m, tc.want) }) {
				t.Errorf("no problem mentioning %q; got %q", tc.want, p)
			}
		})
	}
}

// TestMonitoringChecksCatchBrokenStacks breaks the monitoring services'
// wiring in docker-compose.yml and makes sure the checks report each one.
func TestMonitoringChecksCatchBrokenStacks(t *testing.T) {
	base := readStack(t)
	if msgs := checkAll(base); len(msgs) > 0 {
		t.Fatalf("the stack itself has problems (see TestComposeStack): %v", msgs)
	}
	for _, tc := range []struct{ name, old, new, env, want string }{
		{"metrics off", "      DUNNING_METRICS_ADDR: \":9464\"\n", "", "", "DUNNING_METRICS_ADDR is not set"},
		{"scrape port", `DUNNING_METRICS_ADDR: ":9464"`, `DUNNING_METRICS_ADDR: ":9465"`, "", `no scrape job targets worker on its metrics port "9465"`},
		{"bad metrics address", `DUNNING_METRICS_ADDR: ":9464"`, `DUNNING_METRICS_ADDR: "9464"`, "", "DUNNING_METRICS_ADDR"},
		{"prometheus config elsewhere", "--config.file=/etc/prometheus/prometheus.yml", "--config.file=/etc/prometheus/other.yml", "", "config file /etc/prometheus/other.yml is not mounted"},
		{"grafana provisioning not mounted", "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro", "./deploy/grafana/provisioning:/etc/grafana/provision:ro", "", "/etc/grafana/provisioning/datasources is not mounted"},
		{"dashboards not mounted", "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro", "./deploy/grafana/dashboards:/var/lib/dashboards:ro", "", "reads /etc/grafana/dashboards, which is not mounted"},
		{"grafana before prometheus", "    depends_on:\n      prometheus:\n        condition: service_started\n", "", "", "grafana: does not depend on prometheus"},
		{"latest grafana", "grafana/grafana:${GRAFANA_VERSION:?set in .env}", "grafana/grafana:latest", "", "latest"},
		{"other prometheus image", "prom/prometheus:${PROMETHEUS_VERSION", "bitnami/prometheus:${PROMETHEUS_VERSION", "", "want a prom/prometheus image"},
		{"prometheus 2", "", "", "PROMETHEUS_VERSION=v2.53.0", "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.env = maps.Clone(base.env)
			if tc.old != "" {
				if n := strings.Count(s.compose, tc.old); n != 1 {
					t.Fatalf("mutation: %q occurs %d times in docker-compose.yml", tc.old, n)
				}
				s.compose = strings.Replace(s.compose, tc.old, tc.new, 1)
			}
			if k, v, ok := strings.Cut(tc.env, "="); ok {
				s.env[k] = v
			}
			msgs := checkAll(s)
			if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, tc.want) }) {
				t.Errorf("no problem mentioning %q reported; got %q", tc.want, msgs)
			}
		})
	}
}
