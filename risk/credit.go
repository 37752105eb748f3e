package risk

import (
	"fmt"
	"slices"

	"github.com/example/dunning/account"
)

// RuleBasedProvider names reports made by RuleBasedCredit.
const RuleBasedProvider = "rules"

// Rule-based credit score: a neutral start, moved by what the application
// itself shows. It stands in for a real credit or business-report provider
// so that screening runs end to end without one; it knows nothing about the
// customer's payment history. Its inputs overlap the screening rules on
// purpose but mildly: alone it only moves an application one band.
const (
	ruleBase           = 700
	ruleLowCountry     = +50  // low-risk country
	ruleHighCountry    = -150 // high-risk country
	ruleBlockedCountry = -300
	ruleBankTransfer   = -25  // paid after use, no card authorisation up front
	ruleRefusedPayment = -200 // prepaid or stored value
	ruleFreeMail       = -50
	ruleDisposableMail = -200
)

// RuleBasedCredit scores an application from its instrument type, email
// domain kind and country tier. Deterministic: the same application and
// config always give the same report, with a note for every adjustment.
func RuleBasedCredit(app account.Application, cfg Config) CreditReport {
	score := ruleBase
	notes := []string{fmt.Sprintf("start at %d", ruleBase)}
	adjust := func(delta int, format string, args ...any) {
		score += delta
		notes = append(notes, fmt.Sprintf("%+d: %s", delta, fmt.Sprintf(format, args...)))
	}

	switch t := cfg.Countries.Tier(app.Country); t {
	case TierLow:
		adjust(ruleLowCountry, "country %s is low risk", app.Country)
	case TierHigh:
		adjust(ruleHighCountry, "country %s is high risk", app.Country)
	case TierBlocked:
		adjust(ruleBlockedCountry, "country %s is blocked", app.Country)
	}

	pi := app.PaymentInstrument
	_, fullBIN, binOK := cfg.Instruments.BINs.Lookup(pi.CardBIN, cfg.Instruments.RefusedBINKinds)
	switch {
	case slices.Contains(cfg.Instruments.RefusedTypes, pi.Type) || (binOK && fullBIN):
		adjust(ruleRefusedPayment, "payment instrument is prepaid or stored value")
	case pi.Type == account.InstrumentBankTransfer:
		adjust(ruleBankTransfer, "bank transfer: paid after use")
	}

	switch domain, kind := cfg.EmailDomain(app.Email); kind {
	case DomainFree:
		adjust(ruleFreeMail, "email domain %s is free webmail", domain)
	case DomainDisposable:
		adjust(ruleDisposableMail, "email domain %s is disposable", domain)
	}

	score = min(max(score, 0), 1000)
	return CreditReport{Provider: RuleBasedProvider, Score: score, Notes: notes}
}
