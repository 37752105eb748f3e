package risk

import (
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
)

func TestAbuseSeverity(t *testing.T) {
	cfg := defaultConfig(t)
	want := map[string]account.Severity{
		"spam": account.SeverityModerate, "hacking": account.SeveritySevere, "ddos": account.SeveritySevere, "crypto_mining": account.SeveritySevere,
		"malware": account.SeveritySevere, "piracy_resale": account.SeverityModerate, "other": account.SeverityModerate,
	}
	if len(want) != len(AbuseCategories) {
		t.Fatalf("categories changed: %v", AbuseCategories)
	}
	for _, c := range AbuseCategories {
		got, err := AbuseSeverity(cfg, c)
		if err != nil || got != want[c] {
			t.Errorf("%s: %s %v, want %s", c, got, err, want[c])
		}
	}
	for _, bad := range []string{"phishing", "", "SPAM"} {
		_, err := AbuseSeverity(cfg, bad)
		if err == nil || !strings.Contains(err.Error(), "unknown abuse category") || !strings.Contains(err.Error(), "piracy_resale") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestResponseDeadline(t *testing.T) {
	cfg := defaultConfig(t)
	for s, want := range map[account.Severity]time.Duration{account.SeveritySevere: 4 * time.Hour, account.SeverityModerate: 48 * time.Hour, account.SeverityMinor: 7 * 24 * time.Hour} {
		if got, err := ResponseDeadline(cfg, s); err != nil || got != want {
			t.Errorf("%s: %s %v", s, got, err)
		}
	}
	if _, err := ResponseDeadline(cfg, "urgent"); err == nil || !strings.Contains(err.Error(), `unknown severity "urgent"`) {
		t.Errorf("got %v", err)
	}
}

func TestSeveritySuspends(t *testing.T) {
	if !account.SeveritySevere.Suspends() || account.SeverityModerate.Suspends() || account.SeverityMinor.Suspends() {
		t.Error("only severe suspends")
	}
}
