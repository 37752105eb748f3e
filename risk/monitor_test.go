package risk

import (
	"fmt"
	"testing"
	"time"

	"github.com/example/dunning/account"
)

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func event(id, kind string, at time.Time) ActivityEvent {
	return ActivityEvent{EventID: id, CustomerID: "acme", At: at, Kind: kind}
}

func usage(id string, at time.Time, amount int64) ActivityEvent {
	e := event(id, KindUsage, at)
	e.AmountMinor = amount
	return e
}

func hitOf(hits []Hit, rule string) (Hit, bool) {
	for _, h := range hits {
		if h.Rule == rule {
			return h, true
		}
	}
	return Hit{}, false
}

// spikeConfig: day 24h, 7 trailing days, 5x, minimum 3000.
func spikeConfig(t *testing.T) Config {
	cfg := defaultConfig(t)
	cfg.Monitoring.SpendSpike.MinDaySpendMinor = 3000
	return cfg
}

// trailing puts 1000 of usage on each of the 7 days before the day ending
// at t0: a trailing average of 1000, so the spike threshold is 5000.
func trailing() []ActivityEvent {
	var h []ActivityEvent
	for d := 1; d <= 7; d++ {
		h = append(h, usage(fmt.Sprintf("t%d", d), t0.Add(-time.Duration(d)*24*time.Hour-time.Hour), 1000))
	}
	return h
}

func TestSpendSpikeMultiplierBoundary(t *testing.T) {
	cfg := spikeConfig(t)
	for amount, want := range map[int64]bool{4999: false, 5000: false, 5001: true} {
		// The day's spend is split across two events to check they add up.
		h := append(trailing(), usage("today-1", t0.Add(-time.Hour), 2000))
		hits := Monitor(cfg, h, usage("today-2", t0, amount-2000))
		hit, got := hitOf(hits, RuleSpendSpike)
		if got != want {
			t.Errorf("day spend %d: hit=%v, want %v", amount, got, want)
		}
		if got {
			ev := hit.Evidence
			if ev["day_spend_minor"] != fmt.Sprint(amount) || ev["trailing_spend_minor"] != "7000" ||
				ev["trailing_daily_average_minor"] != "1000" || hit.Severity != account.SeverityModerate {
				t.Errorf("evidence %v", hit)
			}
		}
	}
}

func TestSpendSpikeMinimumBoundary(t *testing.T) {
	cfg := spikeConfig(t)
	// No history: any spend beats 5x zero, so only the minimum holds it back.
	for amount, want := range map[int64]bool{2999: false, 3000: true, 3001: true} {
		_, got := hitOf(Monitor(cfg, nil, usage("u", t0, amount)), RuleSpendSpike)
		if got != want {
			t.Errorf("new customer spending %d: hit=%v, want %v", amount, got, want)
		}
	}
}

func TestSpendSpikeWindows(t *testing.T) {
	cfg := spikeConfig(t)
	day := 24 * time.Hour
	h := trailing()
	// Exactly at the start of the day window counts as trailing, not today.
	h = append(h, usage("edge", t0.Add(-day), 7000))
	if _, got := hitOf(Monitor(cfg, h, usage("u", t0, 5000)), RuleSpendSpike); got {
		t.Error("event at the day boundary counted in today's spend")
	}
	// Older than the trailing window: ignored, so the average is 1000 again.
	h = append(trailing(), usage("old", t0.Add(-8*day-time.Minute), 1_000_000))
	if _, got := hitOf(Monitor(cfg, h, usage("u", t0, 5001)), RuleSpendSpike); !got {
		t.Error("usage older than the trailing window counted")
	}
	// Other customers, later events and the event itself do not count.
	other := usage("o", t0.Add(-time.Hour), 1_000_000)
	other.CustomerID = "other"
	ev := usage("u", t0, 2000)
	h = append(trailing(), other, usage("later", t0.Add(time.Hour), 1_000_000), ev)
	if _, got := hitOf(Monitor(cfg, h, ev), RuleSpendSpike); got {
		t.Error("foreign, future or duplicate events counted")
	}
	// Non-usage events do not trigger the rule.
	if _, got := hitOf(Monitor(cfg, nil, event("l", KindLogin, t0)), RuleSpendSpike); got {
		t.Error("login spiked")
	}
}

func TestNewHighRiskRegion(t *testing.T) {
	cfg := defaultConfig(t)
	login := func(id, region string, at time.Time) ActivityEvent {
		e := event(id, KindLogin, at)
		e.Region = region
		return e
	}
	cases := map[string]struct {
		history []ActivityEvent
		ev      ActivityEvent
		country string
	}{
		"first login from high-risk country": {nil, login("a", "NG", t0), "NG"},
		"subdivision code":                   {nil, login("a", "NG-LA", t0), "NG"},
		"cloud region name":                  {nil, login("a", "af-south-1", t0), "ZA"},
		"blocked country":                    {nil, login("a", "KP", t0), "KP"},
		"seen before":                        {[]ActivityEvent{login("p", "NG", t0.Add(-time.Hour))}, login("a", "NG", t0), ""},
		"seen before via cloud region":       {[]ActivityEvent{login("p", "southafricanorth", t0.Add(-time.Hour))}, login("a", "ZA", t0), ""},
		"seen only later":                    {[]ActivityEvent{login("p", "NG", t0.Add(time.Hour))}, login("a", "NG", t0), "NG"},
		"seen by another country":            {[]ActivityEvent{login("p", "ZA", t0.Add(-time.Hour))}, login("a", "NG", t0), "NG"},
		"medium country":                     {nil, login("a", "BR", t0), ""},
		"low country":                        {nil, login("a", "US", t0), ""},
		"unresolvable region":                {nil, login("a", "sa-east-9", t0), ""},
		"lower-case code is not a country":   {nil, login("a", "ng", t0), ""},
		"no region":                          {nil, login("a", "", t0), ""},
		"kind not watched": {nil, func() ActivityEvent {
			e := event("a", KindAccountChange, t0)
			e.Region = "NG"
			return e
		}(), ""},
		"resource created": {nil, func() ActivityEvent {
			e := event("a", KindResourceCreated, t0)
			e.Region, e.ResourceType = "NG", "m5.large"
			return e
		}(), "NG"},
	}
	for name, tc := range cases {
		hit, got := hitOf(Monitor(cfg, tc.history, tc.ev), RuleNewHighRiskRegion)
		if got != (tc.country != "") || (got && (hit.Evidence["country"] != tc.country || hit.Severity != account.SeverityModerate)) {
			t.Errorf("%s: hit=%v %v", name, got, hit)
		}
	}
}

func TestCryptoMiningResources(t *testing.T) {
	cfg := defaultConfig(t)
	cases := map[string]bool{
		"Standard_NC6": true, "standard_nd96asr_v4": true, "Standard_NV12s_v3": true,
		"p3.2xlarge": true, "p4d.24xlarge": true, "g4dn.xlarge": true, "g5.48xlarge": true,
		"a2-highgpu-1g": true, "a3-highgpu-8g": true, "g2-standard-4": true,
		"m5.large": false, "Standard_D2s_v3": false, "c7g.large": false, "n2-standard-4": false, "p1.large": false,
	}
	for typ, want := range cases {
		e := event("r", KindResourceCreated, t0)
		e.ResourceType = typ
		hit, got := hitOf(Monitor(cfg, nil, e), RuleCryptoMining)
		if got != want {
			t.Errorf("%s: hit=%v, want %v", typ, got, want)
		}
		if got && (hit.Severity != account.SeveritySevere || !hit.Severity.Suspends() || hit.Evidence["resource_type"] != typ) {
			t.Errorf("%s: %v", typ, hit)
		}
	}
	// Only resource creation counts.
	e := event("u", KindUsage, t0)
	e.AmountMinor, e.ResourceType = 1, "p3.2xlarge"
	if _, got := hitOf(Monitor(cfg, nil, e), RuleCryptoMining); got {
		t.Error("usage event flagged")
	}
}

func TestAccountChangeBurst(t *testing.T) {
	cfg := defaultConfig(t) // more than 5 within 1h
	burst := func(n int, spacing time.Duration) []ActivityEvent {
		var h []ActivityEvent
		for i := 1; i <= n; i++ {
			h = append(h, event(fmt.Sprintf("c%d", i), KindAccountChange, t0.Add(-time.Duration(i)*spacing)))
		}
		return h
	}
	for prior, want := range map[int]bool{4: false, 5: true, 6: true} {
		hit, got := hitOf(Monitor(cfg, burst(prior, time.Minute), event("now", KindAccountChange, t0)), RuleAccountChangeBurst)
		if got != want {
			t.Errorf("%d prior changes + 1: hit=%v, want %v", prior, got, want)
		}
		if got && hit.Evidence["changes"] != fmt.Sprint(prior+1) {
			t.Errorf("evidence %v", hit.Evidence)
		}
	}
	// The fifth earlier change exactly one window back is outside it.
	h := append(burst(4, time.Minute), event("edge", KindAccountChange, t0.Add(-time.Hour)))
	if _, got := hitOf(Monitor(cfg, h, event("now", KindAccountChange, t0)), RuleAccountChangeBurst); got {
		t.Error("change at the window's start counted")
	}
	h = append(burst(4, time.Minute), event("inside", KindAccountChange, t0.Add(-time.Hour+time.Second)))
	if _, got := hitOf(Monitor(cfg, h, event("now", KindAccountChange, t0)), RuleAccountChangeBurst); !got {
		t.Error("change just inside the window not counted")
	}
	// Other kinds neither count nor trigger.
	h = burst(4, time.Minute)
	h = append(h, event("login", KindLogin, t0.Add(-time.Second)))
	if hits := Monitor(cfg, h, event("now", KindAccountChange, t0)); len(hits) != 0 {
		t.Errorf("logins counted: %v", hits)
	}
	if hits := Monitor(cfg, burst(10, time.Minute), event("now", KindLogin, t0)); len(hits) != 0 {
		t.Errorf("login triggered the burst rule: %v", hits)
	}
}
