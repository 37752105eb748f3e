package risk

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

// Config is a compiled, validated risk configuration. Treat it as
// read-only: DefaultConfig hands the same maps to every caller.
type Config struct {
	Version     int
	Description string
	Countries   Countries
	Instruments Instruments
	Email       EmailRules
	Velocity    VelocityRules
	Credit      CreditRules
	Score       ScoreThresholds
	Abuse       AbuseRules
	Monitoring  MonitoringRules
}

// Countries assigns every country a tier; unlisted ones get Default.
type Countries struct {
	Default Tier
	Tiers   map[string]Tier // ISO 3166 alpha-2 -> tier, for listed countries
	Points  map[Tier]int    // screening points for low, medium and high
}

// Tier returns the country's tier.
func (c Countries) Tier(code string) Tier {
	if t, ok := c.Tiers[strings.ToUpper(strings.TrimSpace(code))]; ok {
		return t
	}
	return c.Default
}

// Instruments says which payment instruments are refused.
type Instruments struct {
	RefusedTypes       []account.InstrumentType // application instrument types refused outright
	RefusedBINKinds    []string                 // BIN table kinds refused outright
	AmbiguousBINPoints int                      // a BIN too short to tell whether it is in a refused range
	BINs               *BINTable
}

// EmailRules scores the domain of the sign-up email.
type EmailRules struct {
	DisposablePoints int
	FreeMailPoints   int
	FreeMail         map[string]bool
	Disposable       map[string]bool
}

// VelocityRules are the sign-up velocity thresholds against bot accounts.
// Window is how far back the caller counts earlier applications.
type VelocityRules struct {
	Window      time.Duration
	IP          VelocityRule
	Phone       VelocityRule
	EmailDomain VelocityRule
	CardBIN     VelocityRule
}

// VelocityRule counts this application too: with PointsAt 3, the third
// application in the window (two earlier ones plus this one) adds Points; the
// ReviewAt-th goes to manual review.
type VelocityRule struct {
	PointsAt int
	ReviewAt int
	Points   int
}

// CreditRules turn a credit report into points.
type CreditRules struct {
	Bands             []CreditBand // ascending by Below; the first that matches applies
	Flags             map[string]FlagRule
	UnknownFlagPoints int // a flag the config does not know still counts
	MissingPoints     int // no report (provider down or not configured)
}

// CreditBand gives Points to a credit score below Below.
type CreditBand struct {
	Below  int
	Points int
}

// FlagRule is what a credit report flag adds; Forces, when set, is the
// least severe outcome the flag allows.
type FlagRule struct {
	Points int
	Forces account.Outcome
}

// ScoreThresholds map the total score to an outcome.
type ScoreThresholds struct {
	PrepaymentFrom int
	ReviewFrom     int
	RejectFrom     int
}

func (s ScoreThresholds) outcome(score int) account.Outcome {
	switch {
	case score >= s.RejectFrom:
		return account.OutcomeReject
	case score >= s.ReviewFrom:
		return account.OutcomeReview
	case score >= s.PrepaymentFrom:
		return account.OutcomeApprovePrepayment
	}
	return account.OutcomeApprove
}

// ConfigError names the config file and field that failed validation.
type ConfigError struct {
	File, Field, Problem string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("risk config %s: %s", e.File, e.Problem)
	}
	return fmt.Sprintf("risk config %s: field %s: %s", e.File, e.Field, e.Problem)
}

var (
	//go:embed config.json
	embeddedConfig []byte
	//go:embed bins.csv
	embeddedBINs []byte
	//go:embed disposable_domains.txt
	embeddedDisposable []byte

	defaultOnce sync.Once
	defaultCfg  Config
	defaultErr  error
)

// DefaultConfig returns the configuration shipped in the binary.
func DefaultConfig() (Config, error) {
	defaultOnce.Do(func() {
		defaultCfg, defaultErr = ParseConfig("config.json", embeddedConfig, nil)
	})
	return defaultCfg, defaultErr
}

// LoadConfig reads a configuration file. Its bin_table and
// disposable_domains paths, when set, are relative to the file's directory;
// when empty, the shipped tables are used.
func LoadConfig(file string) (Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Config{}, fmt.Errorf("risk config: %w", err)
	}
	dir := filepath.Dir(file)
	return ParseConfig(file, data, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return os.ReadFile(name)
	})
}

// ParseConfig validates a configuration. readFile loads the files the
// config names; with a nil readFile a config that names files is refused.
func ParseConfig(name string, data []byte, readFile func(string) ([]byte, error)) (Config, error) {
	var f configFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Config{}, &ConfigError{File: name, Field: te.Field, Problem: fmt.Sprintf("has type %s, want %s", te.Value, te.Type)}
		}
		return Config{}, &ConfigError{File: name, Problem: fmt.Sprintf("not valid risk config JSON: %v", err)}
	}
	if dec.More() {
		return Config{}, &ConfigError{File: name, Problem: "unexpected data after the JSON object"}
	}
	v := &validator{file: name}
	cfg := f.compile(v)
	if v.err != nil {
		return Config{}, v.err
	}

	load := func(field, ref string, builtin []byte, builtinName string) ([]byte, string, error) {
		if ref == "" {
			return builtin, builtinName, nil
		}
		if readFile == nil {
			return nil, "", &ConfigError{File: name, Field: field, Problem: "this config cannot name files; leave it empty to use the shipped table"}
		}
		b, err := readFile(ref)
		if err != nil {
			return nil, "", &ConfigError{File: name, Field: field, Problem: err.Error()}
		}
		return b, ref, nil
	}
	b, bname, err := load("instruments.bin_table", f.Instruments.BINTable, embeddedBINs, "bins.csv")
	if err != nil {
		return Config{}, err
	}
	if cfg.Instruments.BINs, err = ParseBINTable(bname, bytes.NewReader(b)); err != nil {
		return Config{}, err
	}
	b, bname, err = load("email.disposable_domains", f.Email.DisposableDomains, embeddedDisposable, "disposable_domains.txt")
	if err != nil {
		return Config{}, err
	}
	if cfg.Email.Disposable, err = ParseDomainList(bname, bytes.NewReader(b)); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// configFile is the JSON form. Numbers are pointers so that a missing field
// is an error rather than a silent zero.
type configFile struct {
	Version     *int   `json:"version"`
	Description string `json:"description"`
	Countries   struct {
		Default string         `json:"default"`
		Low     []string       `json:"low"`
		Medium  []string       `json:"medium"`
		High    []string       `json:"high"`
		Blocked []string       `json:"blocked"`
		Points  map[string]int `json:"points"`
	} `json:"countries"`
	Instruments struct {
		RefusedTypes       []account.InstrumentType `json:"refused_types"`
		RefusedBINKinds    []string                 `json:"refused_bin_kinds"`
		AmbiguousBINPoints *int                     `json:"ambiguous_bin_points"`
		BINTable           string                   `json:"bin_table"`
	} `json:"instruments"`
	Email struct {
		DisposablePoints  *int     `json:"disposable_points"`
		FreeMailPoints    *int     `json:"free_mail_points"`
		FreeMailDomains   []string `json:"free_mail_domains"`
		DisposableDomains string   `json:"disposable_domains"`
	} `json:"email"`
	Velocity struct {
		Window      string           `json:"window"`
		IP          velocityRuleFile `json:"ip"`
		Phone       velocityRuleFile `json:"phone"`
		EmailDomain velocityRuleFile `json:"email_domain"`
		CardBIN     velocityRuleFile `json:"card_bin"`
	} `json:"velocity"`
	Credit struct {
		Bands []struct {
			Below  *int `json:"below"`
			Points *int `json:"points"`
		} `json:"bands"`
		Flags map[string]struct {
			Points *int   `json:"points"`
			Forces string `json:"forces"`
		} `json:"flags"`
		UnknownFlagPoints *int `json:"unknown_flag_points"`
		MissingPoints     *int `json:"missing_points"`
	} `json:"credit"`
	Score struct {
		PrepaymentFrom *int `json:"prepayment_from"`
		ReviewFrom     *int `json:"review_from"`
		RejectFrom     *int `json:"reject_from"`
	} `json:"score"`
	Abuse struct {
		Categories map[string]string `json:"categories"`
		Deadlines  map[string]string `json:"deadlines"`
	} `json:"abuse"`
	Monitoring monitoringFile `json:"monitoring"`
}

type velocityRuleFile struct {
	PointsAt *int `json:"points_at"`
	ReviewAt *int `json:"review_at"`
	Points   *int `json:"points"`
}

// validator keeps the first error, so compile can run straight through.
type validator struct {
	file string
	err  error
}

func (v *validator) fail(field, format string, args ...any) {
	if v.err == nil {
		v.err = &ConfigError{File: v.file, Field: field, Problem: fmt.Sprintf(format, args...)}
	}
}

// intIn reads a required number within [lo, hi].
func (v *validator) intIn(field string, p *int, lo, hi int) int {
	if p == nil {
		v.fail(field, "is required")
		return 0
	}
	if *p < lo || *p > hi {
		v.fail(field, "%d must be between %d and %d", *p, lo, hi)
	}
	return *p
}

func (v *validator) points(field string, p *int) int { return v.intIn(field, p, 0, 1000) }

// duration reads a required positive duration like "24h" or "7d".
func (v *validator) duration(field, s string) time.Duration {
	if s == "" {
		v.fail(field, "is required (a duration like \"24h\" or \"7d\")")
		return 0
	}
	d, err := policy.ParseDuration(s)
	if err != nil {
		v.fail(field, "%v", err)
		return 0
	}
	if d <= 0 {
		v.fail(field, "%q must be positive", s)
	}
	return d
}

func (v *validator) severity(field, s string) account.Severity {
	sev := account.Severity(s)
	if !sev.Valid() {
		v.fail(field, "%q must be one of severe, moderate, minor", s)
	}
	return sev
}

var (
	kindPattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

func (f *configFile) compile(v *validator) Config {
	cfg := Config{Description: strings.TrimSpace(f.Description)}
	cfg.Version = v.intIn("version", f.Version, 1, 1_000_000)

	// Countries: every code at most once, across all lists.
	c := f.Countries
	cfg.Countries = Countries{Default: Tier(c.Default), Tiers: map[string]Tier{}, Points: map[Tier]int{}}
	switch cfg.Countries.Default {
	case TierLow, TierMedium, TierHigh, TierBlocked:
	default:
		v.fail("countries.default", "%q must be one of low, medium, high, blocked", c.Default)
	}
	where := map[string]string{}
	for _, l := range []struct {
		tier  Tier
		codes []string
	}{{TierLow, c.Low}, {TierMedium, c.Medium}, {TierHigh, c.High}, {TierBlocked, c.Blocked}} {
		for i, code := range l.codes {
			field := fmt.Sprintf("countries.%s[%d]", l.tier, i)
			if !account.IsCountry(code) {
				v.fail(field, "%q is not an upper-case ISO 3166 alpha-2 code", code)
			}
			if prev, ok := where[code]; ok {
				v.fail(field, "%s is already listed at %s", code, prev)
			}
			where[code] = field
			cfg.Countries.Tiers[code] = l.tier
		}
	}
	for _, t := range []Tier{TierLow, TierMedium, TierHigh} {
		p, ok := c.Points[string(t)]
		if !ok {
			v.fail("countries.points."+string(t), "is required")
		}
		cfg.Countries.Points[t] = v.points("countries.points."+string(t), &p)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Points)) {
		if k != string(TierLow) && k != string(TierMedium) && k != string(TierHigh) {
			v.fail("countries.points."+k, "unknown tier (blocked countries are refused, not scored)")
		}
	}

	// Instruments.
	in := f.Instruments
	for i, t := range in.RefusedTypes {
		if !slices.Contains(account.InstrumentTypes(), t) {
			v.fail(fmt.Sprintf("instruments.refused_types[%d]", i), "%q must be one of %s", t, joinInstrumentTypes())
		}
	}
	for i, k := range in.RefusedBINKinds {
		if !kindPattern.MatchString(k) {
			v.fail(fmt.Sprintf("instruments.refused_bin_kinds[%d]", i), "%q must be a lower-case word like prepaid", k)
		}
	}
	cfg.Instruments = Instruments{
		RefusedTypes:       slices.Clone(in.RefusedTypes),
		RefusedBINKinds:    slices.Clone(in.RefusedBINKinds),
		AmbiguousBINPoints: v.points("instruments.ambiguous_bin_points", in.AmbiguousBINPoints),
	}

	// Email.
	e := f.Email
	cfg.Email = EmailRules{
		DisposablePoints: v.points("email.disposable_points", e.DisposablePoints),
		FreeMailPoints:   v.points("email.free_mail_points", e.FreeMailPoints),
		FreeMail:         map[string]bool{},
	}
	for i, d := range e.FreeMailDomains {
		if !domainPattern.MatchString(d) {
			v.fail(fmt.Sprintf("email.free_mail_domains[%d]", i), "%q is not a lower-case domain name", d)
		}
		cfg.Email.FreeMail[d] = true
	}

	// Velocity.
	cfg.Velocity.Window = v.duration("velocity.window", f.Velocity.Window)
	vel := func(name string, r velocityRuleFile) VelocityRule {
		field := "velocity." + name
		out := VelocityRule{
			PointsAt: v.intIn(field+".points_at", r.PointsAt, 2, 1_000_000),
			ReviewAt: v.intIn(field+".review_at", r.ReviewAt, 2, 1_000_000),
			Points:   v.points(field+".points", r.Points),
		}
		if out.ReviewAt <= out.PointsAt {
			v.fail(field+".review_at", "%d must be greater than points_at (%d)", out.ReviewAt, out.PointsAt)
		}
		return out
	}
	cfg.Velocity.IP = vel("ip", f.Velocity.IP)
	cfg.Velocity.Phone = vel("phone", f.Velocity.Phone)
	cfg.Velocity.EmailDomain = vel("email_domain", f.Velocity.EmailDomain)
	cfg.Velocity.CardBIN = vel("card_bin", f.Velocity.CardBIN)

	// Credit.
	cr := f.Credit
	for i, b := range cr.Bands {
		field := fmt.Sprintf("credit.bands[%d]", i)
		band := CreditBand{Below: v.intIn(field+".below", b.Below, 1, 1000), Points: v.points(field+".points", b.Points)}
		if i > 0 && band.Below <= cfg.Credit.Bands[i-1].Below {
			v.fail(field+".below", "%d must be above the previous band's %d", band.Below, cfg.Credit.Bands[i-1].Below)
		}
		cfg.Credit.Bands = append(cfg.Credit.Bands, band)
	}
	cfg.Credit.Flags = map[string]FlagRule{}
	for _, name := range slices.Sorted(maps.Keys(cr.Flags)) {
		fl := cr.Flags[name]
		field := "credit.flags." + name
		if !kindPattern.MatchString(name) {
			v.fail(field, "flag names must be lower-case words like fraud_alert")
		}
		rule := FlagRule{Points: v.points(field+".points", fl.Points), Forces: account.Outcome(fl.Forces)}
		switch rule.Forces {
		case "", account.OutcomeApprovePrepayment, account.OutcomeReview, account.OutcomeReject:
		default:
			v.fail(field+".forces", "%q must be empty or one of approve_prepayment, review, reject", fl.Forces)
		}
		cfg.Credit.Flags[name] = rule
	}
	cfg.Credit.UnknownFlagPoints = v.points("credit.unknown_flag_points", cr.UnknownFlagPoints)
	cfg.Credit.MissingPoints = v.points("credit.missing_points", cr.MissingPoints)

	// Score thresholds.
	cfg.Score = ScoreThresholds{
		PrepaymentFrom: v.intIn("score.prepayment_from", f.Score.PrepaymentFrom, 1, 10_000),
		ReviewFrom:     v.intIn("score.review_from", f.Score.ReviewFrom, 1, 10_000),
		RejectFrom:     v.intIn("score.reject_from", f.Score.RejectFrom, 1, 10_000),
	}
	if cfg.Score.ReviewFrom <= cfg.Score.PrepaymentFrom {
		v.fail("score.review_from", "%d must be greater than prepayment_from (%d)", cfg.Score.ReviewFrom, cfg.Score.PrepaymentFrom)
	}
	if cfg.Score.RejectFrom <= cfg.Score.ReviewFrom {
		v.fail("score.reject_from", "%d must be greater than review_from (%d)", cfg.Score.RejectFrom, cfg.Score.ReviewFrom)
	}

	cfg.Abuse = compileAbuse(v, f.Abuse.Categories, f.Abuse.Deadlines)
	cfg.Monitoring = f.Monitoring.compile(v)
	return cfg
}

// validPattern reports whether p is a valid path.Match pattern.
func validPattern(p string) bool {
	_, err := path.Match(p, "")
	return err == nil && p != ""
}

// joinInstrumentTypes lists the instrument types an application may
// declare, for messages.
func joinInstrumentTypes() string {
	var names []string
	for _, t := range account.InstrumentTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}
