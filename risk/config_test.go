package risk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
)

func defaultConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := DefaultConfig()
	if err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	return cfg
}

func TestDefaultConfig(t *testing.T) {
	cfg := defaultConfig(t)
	if cfg.Version != 1 {
		t.Errorf("version %d", cfg.Version)
	}
	for code, want := range map[string]Tier{"US": TierLow, "DE": TierLow, "KR": TierLow, "NG": TierHigh, "BG": TierHigh,
		"MM": TierHigh, "KP": TierBlocked, "SY": TierBlocked, "BR": TierMedium, "IN": TierMedium, "us": TierLow} {
		if got := cfg.Countries.Tier(code); got != want {
			t.Errorf("tier of %s = %s, want %s", code, got, want)
		}
	}
	if v := cfg.Velocity; v.Window != 24*time.Hour || v.IP.ReviewAt != 5 {
		t.Errorf("velocity %+v", v)
	}
	if len(cfg.Email.Disposable) < 100 {
		t.Errorf("only %d disposable domains", len(cfg.Email.Disposable))
	}
	if cfg.Instruments.BINs == nil || len(cfg.Instruments.BINs.Ranges) == 0 {
		t.Error("no BIN table")
	}
	if d, _ := ResponseDeadline(cfg, account.SeverityModerate); d != 48*time.Hour {
		t.Errorf("moderate deadline %s", d)
	}
}

// mutate edits the shipped config as generic JSON and parses the result.
func mutate(t *testing.T, edit func(m map[string]any)) error {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(embeddedConfig, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseConfig("test.json", data, nil)
	return err
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]struct {
		edit func(m map[string]any)
		want string
	}{
		"missing version":      {func(m map[string]any) { delete(m, "version") }, "field version: is required"},
		"version wrong type":   {func(m map[string]any) { m["version"] = "one" }, "field version: has type string"},
		"unknown field":        {func(m map[string]any) { m["colour"] = "red" }, `unknown field "colour"`},
		"default tier":         {func(m map[string]any) { obj(m, "countries")["default"] = "purple" }, "field countries.default:"},
		"lower-case country":   {func(m map[string]any) { obj(m, "countries")["medium"] = []any{"br"} }, "field countries.medium[0]:"},
		"unknown country":      {func(m map[string]any) { obj(m, "countries")["medium"] = []any{"BR", "XX"} }, "field countries.medium[1]:"},
		"country twice":        {func(m map[string]any) { obj(m, "countries")["medium"] = []any{"US"} }, "US is already listed at countries.low["},
		"missing tier points":  {func(m map[string]any) { delete(obj(m, "countries", "points"), "medium") }, "field countries.points.medium: is required"},
		"points for blocked":   {func(m map[string]any) { obj(m, "countries", "points")["blocked"] = 5 }, "field countries.points.blocked:"},
		"negative points":      {func(m map[string]any) { obj(m, "countries", "points")["high"] = -1 }, "field countries.points.high:"},
		"refused type":         {func(m map[string]any) { obj(m, "instruments")["refused_types"] = []any{"cheque"} }, "field instruments.refused_types[0]:"},
		"bin kind":             {func(m map[string]any) { obj(m, "instruments")["refused_bin_kinds"] = []any{"Pre paid"} }, "field instruments.refused_bin_kinds[0]:"},
		"bin file, no reader":  {func(m map[string]any) { obj(m, "instruments")["bin_table"] = "bins.csv" }, "field instruments.bin_table:"},
		"free mail domain":     {func(m map[string]any) { obj(m, "email")["free_mail_domains"] = []any{"not a domain"} }, "field email.free_mail_domains[0]:"},
		"missing email points": {func(m map[string]any) { delete(obj(m, "email"), "disposable_points") }, "field email.disposable_points: is required"},
		"velocity window":      {func(m map[string]any) { obj(m, "velocity")["window"] = "soon" }, "field velocity.window:"},
		"velocity order":       {func(m map[string]any) { obj(m, "velocity", "ip")["review_at"] = 3 }, "field velocity.ip.review_at: 3 must be greater than points_at (3)"},
		"velocity points_at 1": {func(m map[string]any) { obj(m, "velocity", "phone")["points_at"] = 1 }, "field velocity.phone.points_at:"},
		"velocity missing":     {func(m map[string]any) { delete(obj(m, "velocity"), "card_bin") }, "field velocity.card_bin.points_at: is required"},
		"credit band order": {func(m map[string]any) {
			obj(m, "credit")["bands"] = []any{map[string]any{"below": 500, "points": 1}, map[string]any{"below": 500, "points": 2}}
		}, "field credit.bands[1].below:"},
		"credit band range":     {func(m map[string]any) { obj(m, "credit")["bands"] = []any{map[string]any{"below": 1001, "points": 1}} }, "field credit.bands[0].below:"},
		"credit flag forces":    {func(m map[string]any) { obj(m, "credit", "flags", "fraud_alert")["forces"] = "approve" }, "field credit.flags.fraud_alert.forces:"},
		"credit flag name":      {func(m map[string]any) { obj(m, "credit", "flags")["Bad Flag"] = map[string]any{"points": 1} }, "field credit.flags.Bad Flag:"},
		"score order":           {func(m map[string]any) { obj(m, "score")["review_from"] = 20 }, "field score.review_from:"},
		"reject order":          {func(m map[string]any) { obj(m, "score")["reject_from"] = 50 }, "field score.reject_from:"},
		"abuse missing":         {func(m map[string]any) { delete(obj(m, "abuse", "categories"), "spam") }, "field abuse.categories.spam: is required"},
		"abuse unknown":         {func(m map[string]any) { obj(m, "abuse", "categories")["phishing"] = "severe" }, "field abuse.categories.phishing: unknown category"},
		"abuse severity":        {func(m map[string]any) { obj(m, "abuse", "categories")["ddos"] = "awful" }, "field abuse.categories.ddos:"},
		"deadline negative":     {func(m map[string]any) { obj(m, "abuse", "deadlines")["minor"] = "-1h" }, `field abuse.deadlines.minor: "-1h" must be positive`},
		"deadline missing":      {func(m map[string]any) { delete(obj(m, "abuse", "deadlines"), "severe") }, "field abuse.deadlines.severe: is required"},
		"spike days":            {func(m map[string]any) { obj(m, "monitoring", "spend_spike")["trailing_days"] = 0 }, "field monitoring.spend_spike.trailing_days:"},
		"spike minimum":         {func(m map[string]any) { obj(m, "monitoring", "spend_spike")["min_day_spend_minor"] = 0 }, "field monitoring.spend_spike.min_day_spend_minor:"},
		"region kinds":          {func(m map[string]any) { obj(m, "monitoring", "new_high_risk_region")["kinds"] = []any{"logon"} }, "field monitoring.new_high_risk_region.kinds[0]:"},
		"region country":        {func(m map[string]any) { obj(m, "monitoring", "new_high_risk_region", "regions")["mars-1"] = "MA1" }, "field monitoring.new_high_risk_region.regions.mars-1:"},
		"mining pattern":        {func(m map[string]any) { obj(m, "monitoring", "crypto_mining")["resource_types"] = []any{"p3["} }, "field monitoring.crypto_mining.resource_types[0]:"},
		"mining none":           {func(m map[string]any) { obj(m, "monitoring", "crypto_mining")["resource_types"] = []any{} }, "field monitoring.crypto_mining.resource_types: is required"},
		"burst window":          {func(m map[string]any) { delete(obj(m, "monitoring", "account_change_burst"), "window") }, "field monitoring.account_change_burst.window: is required"},
		"burst severity":        {func(m map[string]any) { obj(m, "monitoring", "account_change_burst")["severity"] = "" }, "field monitoring.account_change_burst.severity:"},
		"monitoring type error": {func(m map[string]any) { obj(m, "monitoring", "spend_spike")["multiplier"] = "five" }, "field monitoring.spend_spike.multiplier: has type string"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := mutate(t, tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "risk config test.json") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
	if err := mutate(t, func(map[string]any) {}); err != nil {
		t.Fatalf("unchanged config refused: %v", err)
	}
}

func TestParseConfigTrailingData(t *testing.T) {
	_, err := ParseConfig("x.json", append(append([]byte{}, embeddedConfig...), []byte(" {}")...), nil)
	if err == nil || !strings.Contains(err.Error(), "unexpected data") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadConfigWithOwnTables(t *testing.T) {
	dir := t.TempDir()
	var m map[string]any
	if err := json.Unmarshal(embeddedConfig, &m); err != nil {
		t.Fatal(err)
	}
	obj(m, "instruments")["bin_table"] = "licensed/bins.csv"
	obj(m, "email")["disposable_domains"] = filepath.Join(dir, "throwaway.txt") // absolute works too
	obj(m, "velocity", "ip")["review_at"] = 7
	data, _ := json.Marshal(m)
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("risk.json", string(data))
	write("licensed/bins.csv", "bin_from,bin_to,kind,note\n42424242,42424242,prepaid,licensed row\n")
	write("throwaway.txt", "# ours\nexample-throwaway.test\n")

	cfg, err := LoadConfig(filepath.Join(dir, "risk.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Velocity.IP.ReviewAt != 7 {
		t.Errorf("override not read: %+v", cfg.Velocity.IP)
	}
	if _, full, ok := cfg.Instruments.BINs.Lookup("42424242", cfg.Instruments.RefusedBINKinds); !ok || !full {
		t.Error("own BIN table not used")
	}
	if _, _, ok := cfg.Instruments.BINs.Lookup("510510", cfg.Instruments.RefusedBINKinds); ok {
		t.Error("shipped BIN table still used")
	}
	if _, kind := cfg.EmailDomain("a@example-throwaway.test"); kind != DomainDisposable {
		t.Error("own disposable list not used")
	}
	if _, kind := cfg.EmailDomain("a@mailinator.com"); kind != DomainBusiness {
		t.Error("shipped disposable list still used")
	}

	// A bad row in the named table is reported with its file and line.
	write("licensed/bins.csv", "bin_from,bin_to,kind,note\n# comment\n4242424x,42424242,prepaid,bad\n")
	if _, err := LoadConfig(filepath.Join(dir, "risk.json")); err == nil ||
		!strings.Contains(err.Error(), "licensed/bins.csv line 3") {
		t.Fatalf("got %v", err)
	}
	// A missing table names the field.
	if err := os.Remove(filepath.Join(dir, "throwaway.txt")); err != nil {
		t.Fatal(err)
	}
	write("licensed/bins.csv", "bin_from,bin_to,kind,note\n")
	if _, err := LoadConfig(filepath.Join(dir, "risk.json")); err == nil ||
		!strings.Contains(err.Error(), "field email.disposable_domains") {
		t.Fatalf("got %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file loaded")
	}
}
