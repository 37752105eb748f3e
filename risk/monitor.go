package risk

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/account"
)

// Monitoring rule names, as they appear in hits.
const (
	RuleSpendSpike         = "spend_spike"
	RuleNewHighRiskRegion  = "new_high_risk_region"
	RuleCryptoMining       = "crypto_mining_resource"
	RuleAccountChangeBurst = "account_change_burst"
)

// Hit is a monitoring rule that fired. A severe hit suspends the customer at
// once; the others open a review.
type Hit struct {
	Rule     string            `json:"rule"`
	Severity account.Severity  `json:"severity"`
	Evidence map[string]string `json:"evidence"`
}

// MonitoringRules are the thresholds of the activity rules.
type MonitoringRules struct {
	SpendSpike         SpendSpikeRule
	NewHighRiskRegion  RegionRule
	CryptoMining       CryptoMiningRule
	AccountChangeBurst BurstRule
}

// SpendSpikeRule fires when the spend of the Day ending at a usage event is
// at least MinDaySpendMinor and more than Multiplier times the average
// daily spend of the TrailingDays days before it. Days without usage count
// as zero, so a new customer spikes as soon as a day reaches the minimum:
// heavy use by a new account is the classic stolen-card pattern.
type SpendSpikeRule struct {
	Severity         account.Severity
	Day              time.Duration // 24h; shorter to match a compressed demo policy
	TrailingDays     int
	Multiplier       int64
	MinDaySpendMinor int64
}

// RegionRule fires on the first event of one of Kinds from a high-risk or
// blocked country the customer was never seen in before.
type RegionRule struct {
	Severity account.Severity
	Kinds    []string
	Regions  map[string]string // lower-case cloud region name -> ISO 3166 alpha-2
}

// CryptoMiningRule fires when a resource of a type linked to crypto mining
// (GPU instance families) is created. Patterns use path.Match syntax and
// compare case-insensitively.
type CryptoMiningRule struct {
	Severity      account.Severity
	ResourceTypes []string
}

// BurstRule fires when more than MaxChanges account_change events fall
// within Window ending at the latest one (the event itself included).
type BurstRule struct {
	Severity   account.Severity
	MaxChanges int
	Window     time.Duration
}

// Monitor runs every rule on a new event against the customer's history.
// History may be in any order and may contain ev itself or other customers'
// events; only the customer's events up to ev.At, other than ev, count.
func Monitor(cfg Config, history []ActivityEvent, ev ActivityEvent) []Hit {
	var prior []ActivityEvent
	for _, p := range history {
		if p.CustomerID == ev.CustomerID && p.EventID != ev.EventID && !p.At.After(ev.At) {
			prior = append(prior, p)
		}
	}
	var hits []Hit
	for _, rule := range []func(Config, []ActivityEvent, ActivityEvent) *Hit{
		cryptoMiningHit, newHighRiskRegionHit, spendSpikeHit, accountChangeBurstHit,
	} {
		if h := rule(cfg, prior, ev); h != nil {
			hits = append(hits, *h)
		}
	}
	return hits
}

func cryptoMiningHit(cfg Config, _ []ActivityEvent, ev ActivityEvent) *Hit {
	r := cfg.Monitoring.CryptoMining
	if ev.Kind != KindResourceCreated {
		return nil
	}
	typ := strings.ToLower(ev.ResourceType)
	for _, p := range r.ResourceTypes {
		if ok, _ := path.Match(p, typ); ok {
			return &Hit{Rule: RuleCryptoMining, Severity: r.Severity, Evidence: map[string]string{
				"event_id": ev.EventID, "resource_type": ev.ResourceType, "pattern": p, "region": ev.Region,
			}}
		}
	}
	return nil
}

var iso3166_2 = regexp.MustCompile(`^[A-Z]{2}(-[A-Z0-9]{1,3})?$`)

// RegionCountry resolves an event region to a country: a configured cloud
// region name, or an upper-case ISO 3166 code ("BR", "BR-SP"). Anything
// else resolves to "", and the region rule cannot judge it.
func (c Config) RegionCountry(region string) string {
	region = strings.TrimSpace(region)
	if cc, ok := c.Monitoring.NewHighRiskRegion.Regions[strings.ToLower(region)]; ok {
		return cc
	}
	if iso3166_2.MatchString(region) && account.IsCountry(region[:2]) {
		return region[:2]
	}
	return ""
}

func newHighRiskRegionHit(cfg Config, prior []ActivityEvent, ev ActivityEvent) *Hit {
	r := cfg.Monitoring.NewHighRiskRegion
	if !slices.Contains(r.Kinds, ev.Kind) {
		return nil
	}
	country := cfg.RegionCountry(ev.Region)
	if country == "" {
		return nil
	}
	tier := cfg.Countries.Tier(country)
	if tier != TierHigh && tier != TierBlocked {
		return nil
	}
	for _, p := range prior {
		if cfg.RegionCountry(p.Region) == country {
			return nil
		}
	}
	return &Hit{Rule: RuleNewHighRiskRegion, Severity: r.Severity, Evidence: map[string]string{
		"event_id": ev.EventID, "kind": ev.Kind, "region": ev.Region, "country": country, "tier": string(tier),
	}}
}

func spendSpikeHit(cfg Config, prior []ActivityEvent, ev ActivityEvent) *Hit {
	r := cfg.Monitoring.SpendSpike
	if ev.Kind != KindUsage {
		return nil
	}
	dayStart := ev.At.Add(-r.Day)
	trailStart := dayStart.Add(-time.Duration(r.TrailingDays) * r.Day)
	day, trailing := ev.AmountMinor, int64(0)
	for _, p := range prior {
		if p.Kind != KindUsage {
			continue
		}
		switch {
		case p.At.After(dayStart):
			day += p.AmountMinor
		case p.At.After(trailStart):
			trailing += p.AmountMinor
		}
	}
	// day > Multiplier * trailing / TrailingDays, kept in integers.
	if day < r.MinDaySpendMinor || day*int64(r.TrailingDays) <= r.Multiplier*trailing {
		return nil
	}
	return &Hit{Rule: RuleSpendSpike, Severity: r.Severity, Evidence: map[string]string{
		"event_id":                     ev.EventID,
		"day_spend_minor":              strconv.FormatInt(day, 10),
		"day_start":                    dayStart.UTC().Format(time.RFC3339),
		"trailing_spend_minor":         strconv.FormatInt(trailing, 10),
		"trailing_days":                strconv.Itoa(r.TrailingDays),
		"trailing_daily_average_minor": strconv.FormatInt(trailing/int64(r.TrailingDays), 10),
		"multiplier":                   strconv.FormatInt(r.Multiplier, 10),
		"min_day_spend_minor":          strconv.FormatInt(r.MinDaySpendMinor, 10),
	}}
}

func accountChangeBurstHit(cfg Config, prior []ActivityEvent, ev ActivityEvent) *Hit {
	r := cfg.Monitoring.AccountChangeBurst
	if ev.Kind != KindAccountChange {
		return nil
	}
	since := ev.At.Add(-r.Window)
	n := 1
	for _, p := range prior {
		if p.Kind == KindAccountChange && p.At.After(since) {
			n++
		}
	}
	if n <= r.MaxChanges {
		return nil
	}
	return &Hit{Rule: RuleAccountChangeBurst, Severity: r.Severity, Evidence: map[string]string{
		"event_id": ev.EventID, "changes": strconv.Itoa(n), "max_changes": strconv.Itoa(r.MaxChanges),
		"window": r.Window.String(), "since": since.UTC().Format(time.RFC3339),
	}}
}

type monitoringFile struct {
	SpendSpike struct {
		Severity         string `json:"severity"`
		Day              string `json:"day"`
		TrailingDays     *int   `json:"trailing_days"`
		Multiplier       *int   `json:"multiplier"`
		MinDaySpendMinor *int64 `json:"min_day_spend_minor"`
	} `json:"spend_spike"`
	NewHighRiskRegion struct {
		Severity string            `json:"severity"`
		Kinds    []string          `json:"kinds"`
		Regions  map[string]string `json:"regions"`
	} `json:"new_high_risk_region"`
	CryptoMining struct {
		Severity      string   `json:"severity"`
		ResourceTypes []string `json:"resource_types"`
	} `json:"crypto_mining"`
	AccountChangeBurst struct {
		Severity   string `json:"severity"`
		MaxChanges *int   `json:"max_changes"`
		Window     string `json:"window"`
	} `json:"account_change_burst"`
}

func (f *monitoringFile) compile(v *validator) MonitoringRules {
	var m MonitoringRules
	ss := f.SpendSpike
	m.SpendSpike = SpendSpikeRule{
		Severity:     v.severity("monitoring.spend_spike.severity", ss.Severity),
		Day:          v.duration("monitoring.spend_spike.day", ss.Day),
		TrailingDays: v.intIn("monitoring.spend_spike.trailing_days", ss.TrailingDays, 1, 90),
		Multiplier:   int64(v.intIn("monitoring.spend_spike.multiplier", ss.Multiplier, 1, 1000)),
	}
	switch {
	case ss.MinDaySpendMinor == nil:
		v.fail("monitoring.spend_spike.min_day_spend_minor", "is required")
	case *ss.MinDaySpendMinor < 1:
		v.fail("monitoring.spend_spike.min_day_spend_minor", "%d must be positive", *ss.MinDaySpendMinor)
	default:
		m.SpendSpike.MinDaySpendMinor = *ss.MinDaySpendMinor
	}

	rr := f.NewHighRiskRegion
	m.NewHighRiskRegion = RegionRule{
		Severity: v.severity("monitoring.new_high_risk_region.severity", rr.Severity),
		Kinds:    slices.Clone(rr.Kinds),
		Regions:  map[string]string{},
	}
	if len(rr.Kinds) == 0 {
		v.fail("monitoring.new_high_risk_region.kinds", "is required (e.g. [\"login\", \"resource_created\"])")
	}
	for i, k := range rr.Kinds {
		if !slices.Contains(activityKinds, k) {
			v.fail(fmt.Sprintf("monitoring.new_high_risk_region.kinds[%d]", i), "%q must be one of %s", k, strings.Join(activityKinds, ", "))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rr.Regions)) {
		cc := rr.Regions[name]
		field := "monitoring.new_high_risk_region.regions." + name
		if name != strings.ToLower(name) || strings.TrimSpace(name) == "" {
			v.fail(field, "region names must be lower-case, as cloud providers write them")
		}
		if !account.IsCountry(cc) {
			v.fail(field, "%q is not an upper-case ISO 3166 alpha-2 code", cc)
		}
		m.NewHighRiskRegion.Regions[name] = cc
	}

	cm := f.CryptoMining
	m.CryptoMining.Severity = v.severity("monitoring.crypto_mining.severity", cm.Severity)
	if len(cm.ResourceTypes) == 0 {
		v.fail("monitoring.crypto_mining.resource_types", "is required (patterns like \"p3.*\")")
	}
	for i, p := range cm.ResourceTypes {
		if !validPattern(p) {
			v.fail(fmt.Sprintf("monitoring.crypto_mining.resource_types[%d]", i), "%q is not a valid pattern (path.Match syntax, e.g. \"standard_nc*\")", p)
		}
		m.CryptoMining.ResourceTypes = append(m.CryptoMining.ResourceTypes, strings.ToLower(p))
	}

	ab := f.AccountChangeBurst
	m.AccountChangeBurst = BurstRule{
		Severity:   v.severity("monitoring.account_change_burst.severity", ab.Severity),
		MaxChanges: v.intIn("monitoring.account_change_burst.max_changes", ab.MaxChanges, 1, 10_000),
		Window:     v.duration("monitoring.account_change_burst.window", ab.Window),
	}
	return m
}
