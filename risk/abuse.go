package risk

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Severity says how fast a misuse report or an activity flag is acted on.
type Severity string

// Severities.
const (
	SeveritySevere   Severity = "severe"   // suspend at once, then review
	SeverityModerate Severity = "moderate" // open a review
	SeverityMinor    Severity = "minor"    // warn the customer
)

var severities = []Severity{SeveritySevere, SeverityModerate, SeverityMinor}

func (s Severity) valid() bool { return slices.Contains(severities, s) }

// Suspends reports whether the severity suspends service at once.
func (s Severity) Suspends() bool { return s == SeveritySevere }

// AbuseCategories are the kinds of misuse a report (ours or the upstream
// provider's enforcement notice) can name.
var AbuseCategories = []string{"spam", "hacking", "ddos", "crypto_mining", "malware", "piracy_resale", "other"}

// AbuseRules give each category a severity and each severity a deadline
// for staff to respond.
type AbuseRules struct {
	Categories map[string]Severity
	Deadlines  map[Severity]time.Duration
}

// AbuseSeverity returns the configured severity of a misuse category.
func AbuseSeverity(cfg Config, category string) (Severity, error) {
	if s, ok := cfg.Abuse.Categories[category]; ok {
		return s, nil
	}
	return "", fmt.Errorf("unknown abuse category %q (known: %s)", category, strings.Join(AbuseCategories, ", "))
}

// ResponseDeadline is how long staff have to act on a report of the
// severity, counted from when it was received.
func ResponseDeadline(cfg Config, s Severity) (time.Duration, error) {
	if d, ok := cfg.Abuse.Deadlines[s]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("unknown severity %q (known: severe, moderate, minor)", s)
}

func compileAbuse(v *validator, cats, deadlines map[string]string) AbuseRules {
	r := AbuseRules{Categories: map[string]Severity{}, Deadlines: map[Severity]time.Duration{}}
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
	for _, s := range severities {
		r.Deadlines[s] = v.duration("abuse.deadlines."+string(s), deadlines[string(s)])
	}
	for _, k := range slices.Sorted(maps.Keys(deadlines)) {
		if !Severity(k).valid() {
			v.fail("abuse.deadlines."+k, "unknown severity (known: severe, moderate, minor)")
		}
	}
	return r
}
