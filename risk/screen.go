package risk

import (
	"fmt"
	"slices"
	"strings"

	"github.com/example/dunning/account"
)

// Signals are what the caller gathered about an application beyond the
// application itself.
type Signals struct {
	Velocity VelocityCounts `json:"velocity"`
	Credit   *CreditReport  `json:"credit,omitempty"` // nil when no report could be had
}

// VelocityCounts are EARLIER applications within the configured window
// (VelocityRules.Window) sharing this application's signup IP, phone,
// email domain and card BIN. They do not include this application: four
// earlier sign-ups from an IP make this one the fifth.
type VelocityCounts struct {
	IP          int `json:"ip"`
	Phone       int `json:"phone"`
	EmailDomain int `json:"email_domain"`
	CardBIN     int `json:"card_bin"`
}

// CreditReport is a credit or business-report provider's answer.
type CreditReport struct {
	Provider string   `json:"provider"`
	Score    int      `json:"score"` // 0 (worst) to 1000 (best)
	Flags    []string `json:"flags,omitempty"`
	Notes    []string `json:"notes,omitempty"` // how the score was reached, where the provider says
}

// Rule names, as they appear in reasons.
const (
	RuleInstrument          = "instrument"
	RuleCardBIN             = "card_bin"
	RuleRegion              = "region"
	RuleEmailDomain         = "email_domain"
	RuleVelocityIP          = "velocity_ip"
	RuleVelocityPhone       = "velocity_phone"
	RuleVelocityEmailDomain = "velocity_email_domain"
	RuleVelocityCardBIN     = "velocity_card_bin"
	RuleCreditScore         = "credit_score"
	RuleCreditFlag          = "credit_flag"
	RuleCreditMissing       = "credit_missing"
)

// Screen decides an application. It expects a validated, normalized
// application (account.Application.Validate). Every rule that was evaluated
// leaves a reason, including those that scored nothing, so an approval is as
// explainable as a refusal.
func Screen(app account.Application, sig Signals, cfg Config) Decision {
	var rs []Reason
	rs = append(rs, instrumentReasons(app.PaymentInstrument, cfg)...)
	rs = append(rs, regionReason(app.Country, cfg))
	rs = append(rs, emailReason(app.Email, cfg))
	rs = append(rs, velocityReasons(app, sig.Velocity, cfg)...)
	rs = append(rs, creditReasons(sig.Credit, cfg)...)
	return decide(rs, cfg)
}

func hard(rule string, forces account.Outcome, points int, format string, args ...any) Reason {
	return Reason{Rule: rule, Detail: fmt.Sprintf(format, args...), Points: points, Hard: true, Forces: forces}
}

func soft(rule string, points int, format string, args ...any) Reason {
	return Reason{Rule: rule, Detail: fmt.Sprintf(format, args...), Points: points}
}

// instrumentReasons refuses prepaid and stored-value instruments, declared
// or recognised by BIN: they are the usual vehicle of card-not-present fraud
// and cannot be charged again once drained.
func instrumentReasons(pi account.PaymentInstrument, cfg Config) []Reason {
	in := cfg.Instruments
	if slices.Contains(in.RefusedTypes, pi.Type) {
		return []Reason{hard(RuleInstrument, account.OutcomeReject, 0, "payment instrument type %s is refused", pi.Type)}
	}
	rs := []Reason{soft(RuleInstrument, 0, "payment instrument type %s is accepted", pi.Type)}
	if pi.CardBIN == "" {
		return rs
	}
	rg, full, ok := in.BINs.Lookup(pi.CardBIN, in.RefusedBINKinds)
	switch {
	case !ok:
		rs = append(rs, soft(RuleCardBIN, 0, "card BIN %s is in no refused range of %s", pi.CardBIN, in.BINs.Source))
	case full:
		rs = append(rs, hard(RuleCardBIN, account.OutcomeReject, 0, "card BIN %s is in a %s range (%s line %d: %s)",
			pi.CardBIN, rg.Kind, in.BINs.Source, rg.Line, rg.Note))
	default:
		rs = append(rs, soft(RuleCardBIN, in.AmbiguousBINPoints, "card BIN %s overlaps a %s range (%s line %d: %s); the first %d digits cannot tell",
			pi.CardBIN, rg.Kind, in.BINs.Source, rg.Line, rg.Note, len(pi.CardBIN)))
	}
	return rs
}

func regionReason(country string, cfg Config) Reason {
	t := cfg.Countries.Tier(country)
	if t == TierBlocked {
		return hard(RuleRegion, account.OutcomeReject, 0, "country %s is blocked", country)
	}
	return soft(RuleRegion, cfg.Countries.Points[t], "country %s is %s risk", country, t)
}

func emailReason(email string, cfg Config) Reason {
	domain, kind := cfg.EmailDomain(email)
	switch kind {
	case DomainDisposable:
		return soft(RuleEmailDomain, cfg.Email.DisposablePoints, "email domain %s is a disposable-mail service", domain)
	case DomainFree:
		return soft(RuleEmailDomain, cfg.Email.FreeMailPoints, "email domain %s is free webmail, not a business domain", domain)
	}
	return soft(RuleEmailDomain, 0, "email domain %s is a business domain", domain)
}

// velocityReasons flag bursts of sign-ups sharing an IP, phone, email
// domain or card BIN, the mark of automated account creation. Free-mail
// domains are shared by millions and are not counted.
func velocityReasons(app account.Application, n VelocityCounts, cfg Config) []Reason {
	var rs []Reason
	window := cfg.Velocity.Window
	check := func(rule string, r VelocityRule, earlier int, what string) {
		nth := earlier + 1 // this application included
		switch {
		case nth >= r.ReviewAt:
			rs = append(rs, hard(rule, account.OutcomeReview, r.Points, "%d%s application within %s from %s (review from the %d%s)",
				nth, ordinal(nth), window, what, r.ReviewAt, ordinal(r.ReviewAt)))
		case nth >= r.PointsAt:
			rs = append(rs, soft(rule, r.Points, "%d%s application within %s from %s (points from the %d%s)",
				nth, ordinal(nth), window, what, r.PointsAt, ordinal(r.PointsAt)))
		}
	}
	check(RuleVelocityIP, cfg.Velocity.IP, n.IP, "IP "+app.SignupIP)
	check(RuleVelocityPhone, cfg.Velocity.Phone, n.Phone, "phone "+app.Phone)
	if domain, kind := cfg.EmailDomain(app.Email); kind != DomainFree {
		check(RuleVelocityEmailDomain, cfg.Velocity.EmailDomain, n.EmailDomain, "email domain "+domain)
	}
	if app.PaymentInstrument.CardBIN != "" {
		check(RuleVelocityCardBIN, cfg.Velocity.CardBIN, n.CardBIN, "card BIN "+app.PaymentInstrument.CardBIN)
	}
	return rs
}

func ordinal(n int) string {
	if n%100 >= 11 && n%100 <= 13 {
		return "th"
	}
	switch n % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
	}
	return "th"
}

func creditReasons(rep *CreditReport, cfg Config) []Reason {
	cr := cfg.Credit
	if rep == nil {
		return []Reason{soft(RuleCreditMissing, cr.MissingPoints, "no credit report was available")}
	}
	provider := rep.Provider
	if provider == "" {
		provider = "provider"
	}
	points := 0
	for _, b := range cr.Bands {
		if rep.Score < b.Below {
			points = b.Points
			break
		}
	}
	rs := []Reason{soft(RuleCreditScore, points, "credit score %d from %s", rep.Score, provider)}
	for _, flag := range rep.Flags {
		flag = strings.ToLower(strings.TrimSpace(flag))
		rule, ok := cr.Flags[flag]
		switch {
		case !ok:
			rs = append(rs, soft(RuleCreditFlag, cr.UnknownFlagPoints, "%s reported flag %s (not in the config)", provider, flag))
		case rule.Forces != "":
			rs = append(rs, hard(RuleCreditFlag, rule.Forces, rule.Points, "%s reported flag %s", provider, flag))
		default:
			rs = append(rs, soft(RuleCreditFlag, rule.Points, "%s reported flag %s", provider, flag))
		}
	}
	return rs
}
