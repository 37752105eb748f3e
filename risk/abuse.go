package risk

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/example/dunning/account"
)

// AbuseCategories are the kinds of misuse a report (ours or the upstream
// provider's enforcement notice) can name.
var AbuseCategories = []string{"spam", "hacking", "ddos", "crypto_mining", "malware", "piracy_resale", "other"}

// AbuseRules give each category a severity and each severity a deadline
// for staff to respond.
type AbuseRules struct {
	Categories map[string]account.Severity
	Deadlines  map[account.Severity]time.Duration
}

// AbuseSeverity returns the configured severity of a misuse category.
func AbuseSeverity(cfg Config, category string) (account.Severity, error) {
	if s, ok := cfg.Abuse.Categories[category]; ok {
		return s, nil
	}
	return "", fmt.Errorf("unknown abuse category %q (known: %s)", category, strings.Join(AbuseCategories, ", "))
}

// ResponseDeadline is how long staff have to act on a report of the
// severity, counted from when it was received.
func ResponseDeadline(cfg Config, s account.Severity) (time.Duration, error) {
	if d, ok := cfg.Abuse.Deadlines[s]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("unknown severity %q (known: severe, moderate, minor)", s)
}

func compileAbuse(v *validator, cats, deadlines map[string]string) AbuseRules {
	r := AbuseRules{Categories: map[string]account.Severity{}, Deadlines: map[account.Severity]time.Duration{}}
	for _, c := range AbuseCategories {
		s, ok := cats[c]
		if !ok {
			v.fail("abuse.categories."+c, "is required (severe, moderate or minor)")
			continue
		}
		r.Categories[c] = v.severity("abuse.categories."+c, s)
	}
	for _, c := range slices.Sorted(maps.Keys(cats)) {
		if !slices.Contains(AbuseCategories, c) {
			v.fail("abuse.categories."+c, "unknown category (known: %s)", strings.Join(AbuseCategories, ", "))
		}
	}
	for _, s := range account.Severities() {
		r.Deadlines[s] = v.duration("abuse.deadlines."+string(s), deadlines[string(s)])
	}
	for _, k := range slices.Sorted(maps.Keys(deadlines)) {
		if !account.Severity(k).Valid() {
			v.fail("abuse.deadlines."+k, "unknown severity (known: severe, moderate, minor)")
		}
	}
	return r
}
