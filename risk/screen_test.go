package risk

import (
	"strings"
	"testing"

	"github.com/example/dunning/account"
)

// goodApp is a low-risk application: low-risk country, business domain,
// an ordinary card.
func goodApp() account.Application {
	return account.Application{
		CustomerID: "acme", Name: "Acme", Email: "billing@acme.example", Phone: "+14155550100",
		Country: "US", Currency: "USD", Locale: "en", Policy: "standard",
		Plan:              account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: "card", CardBIN: "424242"},
		SignupIP:          "203.0.113.7",
	}
}

func goodCredit() *CreditReport { return &CreditReport{Provider: "test", Score: 800} }

func reason(d Decision, rule string) (Reason, bool) {
	for _, r := range d.Reasons {
		if r.Rule == rule {
			return r, true
		}
	}
	return Reason{}, false
}

func TestScreenLowRisk(t *testing.T) {
	cfg := defaultConfig(t)
	d := Screen(goodApp(), Signals{Credit: goodCredit()}, cfg)
	if d.Outcome != account.OutcomeApprove || d.Tier != TierLow || d.Score != 0 {
		t.Fatalf("got %s", d.Summary())
	}
	// Every rule evaluated leaves a reason, even at zero points.
	for _, rule := range []string{RuleInstrument, RuleCardBIN, RuleRegion, RuleEmailDomain, RuleCreditScore} {
		if _, ok := reason(d, rule); !ok {
			t.Errorf("no %s reason in %+v", rule, d.Reasons)
		}
	}
	if d.Policy("lenient") != "lenient" || d.ConfigVersion != cfg.Version {
		t.Errorf("policy %s, version %d", d.Policy("lenient"), d.ConfigVersion)
	}
}

func TestScreenInstrument(t *testing.T) {
	cfg := defaultConfig(t)
	cases := map[string]struct {
		pi      account.PaymentInstrument
		outcome account.Outcome
		rule    string
		hard    bool
	}{
		"prepaid declared":      {account.PaymentInstrument{Type: "prepaid_card", CardBIN: "424242"}, account.OutcomeReject, RuleInstrument, true},
		"stored value declared": {account.PaymentInstrument{Type: "stored_value"}, account.OutcomeReject, RuleInstrument, true},
		"prepaid BIN":           {account.PaymentInstrument{Type: "card", CardBIN: "510510"}, account.OutcomeReject, RuleCardBIN, true},
		"prepaid BIN 8 digits":  {account.PaymentInstrument{Type: "card", CardBIN: "51051012"}, account.OutcomeReject, RuleCardBIN, true},
		"gift BIN":              {account.PaymentInstrument{Type: "card", CardBIN: "99991234"}, account.OutcomeReject, RuleCardBIN, true},
		"ambiguous BIN":         {account.PaymentInstrument{Type: "card", CardBIN: "999930"}, account.OutcomeApprovePrepayment, RuleCardBIN, false},
		"debit BIN":             {account.PaymentInstrument{Type: "card", CardBIN: "99994000"}, account.OutcomeApprove, RuleCardBIN, false},
		"bank transfer":         {account.PaymentInstrument{Type: "bank_transfer"}, account.OutcomeApprove, RuleInstrument, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			app := goodApp()
			app.PaymentInstrument = tc.pi
			d := Screen(app, Signals{Credit: goodCredit()}, cfg)
			if d.Outcome != tc.outcome {
				t.Fatalf("got %s", d.Summary())
			}
			r, ok := reason(d, tc.rule)
			if !ok || r.Hard != tc.hard || (tc.hard && r.Forces != account.OutcomeReject) {
				t.Fatalf("reason %+v in %s", r, d.Summary())
			}
		})
	}
	app := goodApp()
	app.PaymentInstrument = account.PaymentInstrument{Type: "card", CardBIN: "510510"}
	if s := Screen(app, Signals{Credit: goodCredit()}, cfg).Summary(); !strings.Contains(s, "Mastercard prepaid") || !strings.Contains(s, "bins.csv line") {
		t.Errorf("summary does not explain the BIN: %s", s)
	}
}

func TestScreenRegion(t *testing.T) {
	cfg := defaultConfig(t)
	cases := map[string]struct {
		country string
		points  int
		outcome account.Outcome
	}{
		"low":     {"DE", 0, account.OutcomeApprove},
		"medium":  {"BR", 10, account.OutcomeApprove},
		"high":    {"NG", 35, account.OutcomeApprovePrepayment},
		"blocked": {"KP", 0, account.OutcomeReject},
	}
	for name, tc := range cases {
		app := goodApp()
		app.Country = tc.country
		d := Screen(app, Signals{Credit: goodCredit()}, cfg)
		r, _ := reason(d, RuleRegion)
		if r.Points != tc.points || d.Outcome != tc.outcome {
			t.Errorf("%s: got %s", name, d.Summary())
		}
		if name == "blocked" && (!r.Hard || d.Tier != TierHigh) {
			t.Errorf("blocked: %+v tier %s", r, d.Tier)
		}
	}
}

func TestScreenEmail(t *testing.T) {
	cfg := defaultConfig(t)
	for email, want := range map[string]int{"a@acme.example": 0, "a@gmail.com": 10, "a@mailinator.com": 50, "a@x.yopmail.com": 50} {
		app := goodApp()
		app.Email = email
		d := Screen(app, Signals{Credit: goodCredit()}, cfg)
		if r, _ := reason(d, RuleEmailDomain); r.Points != want || d.Score != want {
			t.Errorf("%s: got %s", email, d.Summary())
		}
	}
	app := goodApp()
	app.Email = "a@mailinator.com"
	if d := Screen(app, Signals{Credit: goodCredit()}, cfg); d.Outcome != account.OutcomeReview {
		t.Errorf("disposable alone: %s", d.Summary())
	}
}

// Each velocity threshold, exactly at it and one either side. Counts are
// earlier applications; the application screened is one more.
func TestScreenVelocityBoundaries(t *testing.T) {
	cfg := defaultConfig(t)
	type want struct {
		points int
		hard   bool
		found  bool
	}
	dims := []struct {
		rule string
		r    VelocityRule
		set  func(*VelocityCounts, int)
	}{
		{RuleVelocityIP, cfg.Velocity.IP, func(v *VelocityCounts, n int) { v.IP = n }},
		{RuleVelocityPhone, cfg.Velocity.Phone, func(v *VelocityCounts, n int) { v.Phone = n }},
		{RuleVelocityEmailDomain, cfg.Velocity.EmailDomain, func(v *VelocityCounts, n int) { v.EmailDomain = n }},
		{RuleVelocityCardBIN, cfg.Velocity.CardBIN, func(v *VelocityCounts, n int) { v.CardBIN = n }},
	}
	for _, dim := range dims {
		checks := map[int]want{
			dim.r.PointsAt - 2: {}, // one below the points threshold
			dim.r.PointsAt - 1: {dim.r.Points, false, true},
			dim.r.PointsAt:     {dim.r.Points, false, true},
			dim.r.ReviewAt - 2: {dim.r.Points, false, true},
			dim.r.ReviewAt - 1: {dim.r.Points, true, true},
			dim.r.ReviewAt:     {dim.r.Points, true, true},
		}
		for earlier, w := range checks {
			var sig Signals
			sig.Credit = goodCredit()
			dim.set(&sig.Velocity, earlier)
			d := Screen(goodApp(), sig, cfg)
			r, found := reason(d, dim.rule)
			if found != w.found || r.Points != w.points || r.Hard != w.hard {
				t.Errorf("%s with %d earlier: got %+v (found %v), want %+v", dim.rule, earlier, r, found, w)
			}
			if w.hard && (d.Outcome != account.OutcomeReview || d.Tier != TierHigh) {
				t.Errorf("%s with %d earlier: %s", dim.rule, earlier, d.Summary())
			}
		}
	}
}

// The end-to-end case: four earlier sign-ups from one IP send the fifth to
// review; three do not.
func TestScreenFifthSignupFromIPGoesToReview(t *testing.T) {
	cfg := defaultConfig(t)
	d := Screen(goodApp(), Signals{Velocity: VelocityCounts{IP: 4}, Credit: goodCredit()}, cfg)
	if d.Outcome != account.OutcomeReview || d.Policy("standard") != StrictPolicy {
		t.Fatalf("got %s", d.Summary())
	}
	if !strings.Contains(d.Summary(), "5th application within 24h0m0s from IP 203.0.113.7") {
		t.Errorf("summary: %s", d.Summary())
	}
	if d := Screen(goodApp(), Signals{Velocity: VelocityCounts{IP: 3}, Credit: goodCredit()}, cfg); d.Outcome == account.OutcomeReview {
		t.Fatalf("fourth went to review: %s", d.Summary())
	}
}

func TestScreenVelocitySkipsFreeMailAndMissingBIN(t *testing.T) {
	cfg := defaultConfig(t)
	app := goodApp()
	app.Email = "someone@gmail.com"
	app.PaymentInstrument = account.PaymentInstrument{Type: "bank_transfer"}
	d := Screen(app, Signals{Velocity: VelocityCounts{EmailDomain: 1000, CardBIN: 1000}, Credit: goodCredit()}, cfg)
	for _, rule := range []string{RuleVelocityEmailDomain, RuleVelocityCardBIN} {
		if r, ok := reason(d, rule); ok {
			t.Errorf("unexpected %+v", r)
		}
	}
}

func TestScreenCredit(t *testing.T) {
	cfg := defaultConfig(t)
	scores := map[int]int{0: 60, 299: 60, 300: 35, 499: 35, 500: 15, 649: 15, 650: 0, 1000: 0}
	for score, want := range scores {
		d := Screen(goodApp(), Signals{Credit: &CreditReport{Provider: "p", Score: score}}, cfg)
		if r, _ := reason(d, RuleCreditScore); r.Points != want {
			t.Errorf("score %d: %d points, want %d", score, r.Points, want)
		}
	}
	d := Screen(goodApp(), Signals{}, cfg)
	if r, ok := reason(d, RuleCreditMissing); !ok || r.Points != 25 || d.Outcome != account.OutcomeApprovePrepayment {
		t.Errorf("missing report: %s", d.Summary())
	}

	flags := map[string]struct {
		points  int
		outcome account.Outcome
	}{
		"fraud_alert":     {50, account.OutcomeReview},
		"FRAUD_ALERT":     {50, account.OutcomeReview},
		"sanctions_match": {100, account.OutcomeReject},
		"thin_file":       {10, account.OutcomeApprove},
		"mystery":         {15, account.OutcomeApprove},
	}
	for flag, w := range flags {
		d := Screen(goodApp(), Signals{Credit: &CreditReport{Provider: "p", Score: 800, Flags: []string{flag}}}, cfg)
		r, _ := reason(d, RuleCreditFlag)
		if r.Points != w.points || d.Outcome != w.outcome {
			t.Errorf("flag %s: got %s", flag, d.Summary())
		}
	}
}

// Score thresholds, exactly at each and one either side.
func TestDecideThresholds(t *testing.T) {
	cfg := defaultConfig(t)
	s := cfg.Score
	cases := map[int]account.Outcome{
		0: account.OutcomeApprove, s.PrepaymentFrom - 1: account.OutcomeApprove,
		s.PrepaymentFrom: account.OutcomeApprovePrepayment, s.PrepaymentFrom + 1: account.OutcomeApprovePrepayment,
		s.ReviewFrom - 1: account.OutcomeApprovePrepayment, s.ReviewFrom: account.OutcomeReview, s.ReviewFrom + 1: account.OutcomeReview,
		s.RejectFrom - 1: account.OutcomeReview, s.RejectFrom: account.OutcomeReject, s.RejectFrom + 1: account.OutcomeReject,
	}
	tiers := map[account.Outcome]Tier{account.OutcomeApprove: TierLow, account.OutcomeApprovePrepayment: TierMedium, account.OutcomeReview: TierHigh, account.OutcomeReject: TierHigh}
	for score, want := range cases {
		d := decide([]Reason{{Rule: "x", Points: score}}, cfg)
		if d.Outcome != want || d.Tier != tiers[want] || d.Score != score {
			t.Errorf("score %d: %s", score, d.Summary())
		}
	}
	// A hard reason raises the outcome but never lowers it.
	d := decide([]Reason{{Rule: "a", Points: s.RejectFrom}, {Rule: "b", Hard: true, Forces: account.OutcomeReview}}, cfg)
	if d.Outcome != account.OutcomeReject {
		t.Errorf("hard review lowered a reject: %s", d.Summary())
	}
	d = decide([]Reason{{Rule: "b", Hard: true, Forces: account.OutcomeApprovePrepayment}}, cfg)
	if d.Outcome != account.OutcomeApprovePrepayment || d.Tier != TierMedium {
		t.Errorf("hard prepayment: %s", d.Summary())
	}
}

func TestDecisionPolicyAndSummary(t *testing.T) {
	for tier, want := range map[Tier]string{TierLow: "standard", TierMedium: "standard", TierHigh: "strict"} {
		if got := (Decision{Tier: tier}).Policy("standard"); got != want {
			t.Errorf("%s: %s", tier, got)
		}
	}
	d := Decision{Outcome: account.OutcomeReview, Tier: TierHigh, Score: 55, Reasons: []Reason{
		{Rule: "region", Detail: "country NG is high risk", Points: 35},
		{Rule: "email_domain", Detail: "business", Points: 0},
		{Rule: "velocity_ip", Detail: "5th", Points: 20, Hard: true, Forces: account.OutcomeReview},
	}}
	want := "review (tier high, score 55): region (+35): country NG is high risk; velocity_ip (forces review): 5th"
	if got := d.Summary(); got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
}

func TestRuleBasedCredit(t *testing.T) {
	cfg := defaultConfig(t)
	cases := map[string]struct {
		edit  func(*account.Application)
		score int
	}{
		"low-risk business card": {func(*account.Application) {}, 750},
		"medium country":         {func(a *account.Application) { a.Country = "BR" }, 700},
		"high country":           {func(a *account.Application) { a.Country = "NG" }, 550},
		"blocked country":        {func(a *account.Application) { a.Country = "KP" }, 400},
		"free mail":              {func(a *account.Application) { a.Email = "a@gmail.com" }, 700},
		"disposable mail":        {func(a *account.Application) { a.Email = "a@mailinator.com" }, 550},
		"bank transfer": {func(a *account.Application) {
			a.PaymentInstrument = account.PaymentInstrument{Type: "bank_transfer"}
		}, 725},
		"prepaid BIN": {func(a *account.Application) { a.PaymentInstrument.CardBIN = "510510" }, 550},
		"everything bad": {func(a *account.Application) {
			a.Country, a.Email, a.PaymentInstrument = "KP", "a@mailinator.com", account.PaymentInstrument{Type: "stored_value"}
		}, 0},
	}
	for name, tc := range cases {
		app := goodApp()
		tc.edit(&app)
		rep := RuleBasedCredit(app, cfg)
		if rep.Score != tc.score || rep.Provider != RuleBasedProvider || len(rep.Notes) == 0 {
			t.Errorf("%s: %+v, want score %d", name, rep, tc.score)
		}
		if again := RuleBasedCredit(app, cfg); again.Score != rep.Score || strings.Join(again.Notes, "|") != strings.Join(rep.Notes, "|") {
			t.Errorf("%s: not deterministic", name)
		}
	}
	// The default checker alone does not push a clean application out of approve.
	app := goodApp()
	rep := RuleBasedCredit(app, cfg)
	if d := Screen(app, Signals{Credit: &rep}, cfg); d.Outcome != account.OutcomeApprove {
		t.Errorf("clean application: %s", d.Summary())
	}
}
