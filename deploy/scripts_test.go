package deploy

// The scripts the one-shot jobs run in temporalio/admin-tools (which has
// /bin/sh, not bash): syntax under bash and a POSIX sh, and what they do,
// run under sh with stand-ins for nc, getent, temporal-sql-tool and the
// temporal CLI. Each run gets the environment docker-compose.yml gives the
// job, so the compose file and the scripts are checked together.

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shellScripts lists the shell scripts under deploy/.
func shellScripts(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sh") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no shell scripts under deploy/")
	}
	return out
}

// syntaxCheck runs `shell -n` on a script.
func syntaxCheck(shell, script string) error {
	out, err := exec.Command(shell, "-n", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -n %s: %v\n%s", shell, script, err, out)
	}
	return nil
}

func TestScriptsSyntax(t *testing.T) {
	for _, shell := range []string{"bash", "sh"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Fatalf("%s is needed to check the scripts: %v", shell, err)
		}
	}
	// The check itself must catch a broken script.
	broken := filepath.Join(t.TempDir(), "broken.sh")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nif true; then\n  echo missing fi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if syntaxCheck("bash", broken) == nil || syntaxCheck("sh", broken) == nil {
		t.Fatal("bash -n / sh -n accept a script without fi: the syntax check checks nothing")
	}
	for _, script := range shellScripts(t) {
		for _, shell := range []string{"bash", "sh"} {
			if err := syntaxCheck(shell, script); err != nil {
				t.Error(err)
			}
		}
		data, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		// admin-tools has /bin/sh only: no bash shebang, no bash-only syntax.
		if first, _, _ := strings.Cut(string(data), "\n"); first != "#!/bin/sh" {
			t.Errorf("%s: first line %q, want #!/bin/sh (the admin-tools image has no bash)", script, first)
		}
		for _, bashism := range []string{"[[", "function ", "local ", "$'", "<<<", "pipefail", "${!"} {
			if strings.Contains(string(data), bashism) {
				t.Errorf("%s uses %q, which POSIX sh does not have", script, bashism)
			}
		}
	}
}

// fakeBin writes stand-in commands into a directory and returns it.
func fakeBin(t *testing.T, cmds map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range cmds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// jobEnv is the environment docker-compose.yml gives a service.
func jobEnv(t *testing.T, service string) []string {
	t.Helper()
	proj, err := readStack(t).load(nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, ok := proj.Services[service]
	if !ok {
		t.Fatalf("service %s is missing", service)
	}
	var env []string
	for k, v := range svc.Environment {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	return env
}

// runScript runs a deploy script under sh with the fake commands first on
// PATH and returns its exit error, output and the fakes' log lines.
func runScript(t *testing.T, script, bin string, env []string) (out string, calls []string, err error) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "calls.log")
	cmd := exec.Command("sh", script)
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin", "CALLS=" + log}, env...)
	output, err := cmd.CombinedOutput()
	data, _ := os.ReadFile(log)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			calls = append(calls, l)
		}
	}
	return string(output), calls, err
}

func TestSetupPostgresScript(t *testing.T) {
	script := filepath.Join("temporal", "setup-postgres.sh")
	env := jobEnv(t, svcAdminTools)
	bin := fakeBin(t, map[string]string{
		"nc":                `echo "nc $*" >> "$CALLS"`,
		"temporal-sql-tool": `echo "sql-tool [pw=$SQL_PASSWORD] $*" >> "$CALLS"`,
	})
	out, calls, err := runScript(t, script, bin, env)
	if err != nil {
		t.Fatalf("setup-postgres.sh: %v\n%s", err, out)
	}
	conn := "sql-tool [pw=temporal] --plugin postgres12 --ep postgresql -p 5432 -u temporal"
	want := []string{
		"nc -z -w 5 postgresql 5432",
		conn + " --db temporal create",
		conn + " --db temporal setup-schema -v 0.0",
		conn + " --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned",
		conn + " --db temporal_visibility create",
		conn + " --db temporal_visibility setup-schema -v 0.0",
		conn + " --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned",
	}
	if !slices.Equal(calls, want) {
		t.Errorf("setup-postgres.sh ran\n  %s\nwant\n  %s", strings.Join(calls, "\n  "), strings.Join(want, "\n  "))
	}

	// A failing step fails the job, so that the server does not start on a
	// half-made schema.
	failing := fakeBin(t, map[string]string{
		"nc":                `exit 0`,
		"temporal-sql-tool": `echo "sql-tool $*" >> "$CALLS"; case "$*" in *update-schema*) exit 1;; esac`,
	})
	_, calls, err = runScript(t, script, failing, env)
	if err == nil {
		t.Error("setup-postgres.sh succeeded although update-schema failed")
	}
	if len(calls) != 3 {
		t.Errorf("setup-postgres.sh went on after a failure: %q", calls)
	}
}

// fakeTemporal stands in for the temporal CLI. NS_EXISTS=1 makes the
// namespace exist; SA_LIST is what `search-attribute list` prints.
const fakeTemporal = `echo "temporal $*" >> "$CALLS"
case "$*" in
"operator cluster health"*) exit 0 ;;
"operator namespace describe"*) [ "${NS_EXISTS:-}" = 1 ] && exit 0; echo "namespace not found" >&2; exit 1 ;;
"operator namespace create"*) exit 0 ;;
"operator search-attribute list"*) printf '%s\n' "$SA_LIST"; exit 0 ;;
"operator search-attribute create"*) exit 0 ;;
esac
echo "fake temporal: unexpected: $*" >&2
exit 3`

// createdAttributes reads the Name=Type pairs of `search-attribute create`
// calls.
func createdAttributes(t *testing.T, calls []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range calls {
		if !strings.HasPrefix(c, "temporal operator search-attribute create ") {
			continue
		}
		f := strings.Fields(c)
		var name, typ string
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "--name":
				name = f[i+1]
			case "--type":
				typ = f[i+1]
			}
		}
		if !slices.Contains(f, "--namespace") || !slices.Contains(f, "default") {
			t.Errorf("search attribute created outside the default namespace: %s", c)
		}
		out[name] = typ
	}
	return out
}

func TestCreateNamespaceScript(t *testing.T) {
	script := filepath.Join("temporal", "create-namespace.sh")
	env := jobEnv(t, svcNamespace)
	bin := fakeBin(t, map[string]string{
		"nc":       `echo "nc $*" >> "$CALLS"`,
		"getent":   `exit 2`, // no name service here: the script uses the name
		"temporal": fakeTemporal,
	})

	// A new server: the namespace is made, and every attribute but the one
	// that exists is registered with its type.
	list := `{"customAttributes":{"CustomerId":"INDEXED_VALUE_TYPE_KEYWORD"},"systemAttributes":{"WorkflowId":"INDEXED_VALUE_TYPE_KEYWORD"}}`
	out, calls, err := runScript(t, script, bin, append(env, "SA_LIST="+list))
	if err != nil {
		t.Fatalf("create-namespace.sh: %v\n%s", err, out)
	}
	if !slices.Contains(calls, "temporal operator namespace create --namespace default --retention 72h --address temporal:7233") {
		t.Errorf("namespace default not created; calls:\n  %s", strings.Join(calls, "\n  "))
	}
	want := map[string]string{}
	for k, v := range contractSearchAttributes {
		if k != "CustomerId" {
			want[k] = v
		}
	}
	if got := createdAttributes(t, calls); !maps.Equal(got, want) {
		t.Errorf("created search attributes %v, want %v", got, want)
	}

	// Run again on a server that has everything: nothing is created.
	all := `{"customAttributes":{"CustomerId":"Keyword","AccountStatus":"Keyword","DunningStage":"Keyword","RiskTier":"Keyword","ProvisioningState":"Keyword","AmountOverdue":"Int","DaysPastDue":"Int","Exemptions":"KeywordList"}}`
	out, calls, err = runScript(t, script, bin, append(env, "SA_LIST="+all, "NS_EXISTS=1"))
	if err != nil {
		t.Fatalf("create-namespace.sh, second run: %v\n%s", err, out)
	}
	for _, c := range calls {
		if strings.Contains(c, " create ") {
			t.Errorf("second run created something: %s", c)
		}
	}

	// Where the name resolves to IPv6 and IPv4 addresses, the IPv4 one is
	// used (the server listens on 0.0.0.0).
	resolving := fakeBin(t, map[string]string{
		"nc":       `exit 0`,
		"getent":   `printf '%s\n' "fd00::4         STREAM temporal" "fd00::4         DGRAM" "172.18.0.4      STREAM temporal"`,
		"temporal": fakeTemporal,
	})
	out, calls, err = runScript(t, script, resolving, append(env, "SA_LIST="+all, "NS_EXISTS=1"))
	if err != nil {
		t.Fatalf("create-namespace.sh with IPv6: %v\n%s", err, out)
	}
	if !slices.Contains(calls, "temporal operator cluster health --address 172.18.0.4:7233") {
		t.Errorf("create-namespace.sh did not use the IPv4 address; calls:\n  %s", strings.Join(calls, "\n  "))
	}

	// A malformed list fails the job instead of registering half of it.
	_, _, err = runScript(t, script, bin, append(env, "SA_LIST={}", "SEARCH_ATTRIBUTES=CustomerId=Keyword DaysPastDue"))
	if err == nil {
		t.Error("create-namespace.sh accepted the search attribute \"DaysPastDue\" without a type")
	}
	// A failing create fails the job.
	failing := fakeBin(t, map[string]string{
		"nc":       `exit 0`,
		"getent":   `exit 2`,
		"temporal": strings.Replace(fakeTemporal, `"operator search-attribute create"*) exit 0 ;;`, `"operator search-attribute create"*) exit 1 ;;`, 1),
	})
	if _, _, err = runScript(t, script, failing, append(env, "SA_LIST={}")); err == nil {
		t.Error("create-namespace.sh succeeded although creating a search attribute failed")
	}
}
