package account

import (
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"github.com/example/dunning/money"
)

// Application is the JSON a customer's lifecycle starts with.
type Application struct {
	CustomerID        string            `json:"customer_id"`
	Name              string            `json:"name"`
	Email             string            `json:"email"`
	Phone             string            `json:"phone"`
	Country           string            `json:"country"`
	Currency          string            `json:"currency"`
	Locale            string            `json:"locale"`
	Policy            string            `json:"policy"`
	Plan              Plan              `json:"plan"`
	PaymentInstrument PaymentInstrument `json:"payment_instrument"`
	SignupIP          string            `json:"signup_ip"`
	// Subscriptions are the initial subscriptions besides the plan fee
	// (which may then be left out).
	Subscriptions []SubscriptionSpec `json:"subscriptions,omitempty"`
}

// Plan is what the customer subscribes to.
type Plan struct {
	MonthlyFeeMinor int64 `json:"monthly_fee_minor"`
}

// PaymentInstrument is how the customer intends to pay.
type PaymentInstrument struct {
	Type    InstrumentType `json:"type"`               // card, prepaid_card, stored_value, bank_transfer
	CardBIN string         `json:"card_bin,omitempty"` // first 6 to 8 digits of a card number
	// PaymentMethodID is the card saved at the payment gateway (a Stripe
	// pm_...), for charging it automatically; optional.
	PaymentMethodID string `json:"payment_method_id,omitempty"`
}

// maxEmailBytes is the longest address SMTP can carry (RFC 5321's path
// limit less the angle brackets).
const maxEmailBytes = 254

// Locales with translated emails; others are refused rather than silently
// getting English.
var locales = map[string]bool{LocaleEnglish: true, LocaleKorean: true}

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	binPattern   = regexp.MustCompile(`^[0-9]{6,8}$`)
	// policyPattern is a policy name, optionally with its version
	// ("standard", "standard.v2"); the workflow checks that it exists.
	policyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// ValidateCustomerID checks the customer ID format. IDs become part of the
// workflow ID (customer-<id>), invoice numbers and email keys.
func ValidateCustomerID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("customer_id %q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// Normalize trims whitespace and fills defaults (locale "en", policy "standard").
func (a *Application) Normalize() {
	for _, s := range []*string{&a.CustomerID, &a.Name, &a.Email, &a.Phone, &a.Country, &a.Currency,
		&a.Locale, &a.Policy, &a.PaymentInstrument.CardBIN, &a.PaymentInstrument.PaymentMethodID, &a.SignupIP} {
		*s = strings.TrimSpace(*s)
	}
	a.PaymentInstrument.Type = InstrumentType(strings.TrimSpace(string(a.PaymentInstrument.Type)))
	a.Country = strings.ToUpper(a.Country)
	a.Currency = strings.ToUpper(a.Currency)
	a.Locale = strings.ToLower(a.Locale)
	if i := strings.IndexAny(a.Locale, "-_"); i > 0 { // "ko-KR" -> "ko"
		a.Locale = strings.TrimSpace(a.Locale[:i])
	}
	if a.Locale == "" {
		a.Locale = LocaleEnglish
	}
	if a.Policy == "" {
		a.Policy = "standard"
	}
}

// Validate checks every field and reports all problems at once.
func (a Application) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if err := ValidateCustomerID(a.CustomerID); err != nil {
		add("%v", err)
	}
	if a.Name == "" || len(a.Name) > MaxNameBytes {
		add("name is required (at most %d characters)", MaxNameBytes)
	} else if p := TextProblem(a.Name, false); p != "" {
		add("name %s: only %s is allowed", p, allowedText(false))
	}
	if p := TextProblem(a.Email, false); p != "" || len(a.Email) > maxEmailBytes {
		if p == "" {
			p = fmt.Sprintf("is longer than %d characters", maxEmailBytes)
		}
		add("email %s: it must be a plain email address like billing@example.com", p)
	} else if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
		add("email %q is not a plain email address like billing@example.com", a.Email)
	}
	if !phonePattern.MatchString(a.Phone) {
		add("phone %q must be in E.164 form, e.g. +14155550100", a.Phone)
	}
	if !IsCountry(a.Country) {
		add("country %q is not an ISO 3166 alpha-2 code", a.Country)
	}
	if _, err := money.LookupCurrency(a.Currency); err != nil {
		add("%v", err)
	}
	if !locales[a.Locale] {
		add("locale %q is not supported (en, ko)", a.Locale)
	}
	if !policyPattern.MatchString(a.Policy) {
		add("policy %q must be a policy name like standard (1-64 letters, digits, '.', '_' or '-')", a.Policy)
	}
	if len(a.Subscriptions) == 0 || a.Plan.MonthlyFeeMinor != 0 {
		if err := money.ValidatePositive("plan.monthly_fee_minor", a.Plan.MonthlyFeeMinor); err != nil {
			add("%v", err)
		}
	}
	if len(a.Subscriptions) > MaxSubscriptions {
		add("at most %d subscriptions, got %d", MaxSubscriptions, len(a.Subscriptions))
	}
	seen := map[string]bool{PlanSubscriptionID: a.Plan.MonthlyFeeMinor != 0}
	for i, s := range a.Subscriptions {
		if err := s.Validate(); err != nil {
			add("subscriptions[%d]: %v", i, err)
		} else if seen[s.SubscriptionID] {
			add("subscriptions[%d]: subscription_id %q appears twice (%q is the plan fee's)", i, s.SubscriptionID, PlanSubscriptionID)
		}
		seen[s.SubscriptionID] = true
	}
	pi := a.PaymentInstrument
	switch {
	case !slices.Contains(InstrumentTypes(), pi.Type):
		add("payment_instrument.type %q must be one of card, prepaid_card, stored_value, bank_transfer", pi.Type)
	case pi.Type.IsCard():
		if !binPattern.MatchString(pi.CardBIN) {
			add("payment_instrument.card_bin %q must be the card's first 6 to 8 digits", pi.CardBIN)
		}
	case pi.CardBIN != "":
		add("payment_instrument.card_bin is only for cards")
	}
	if pm := pi.PaymentMethodID; pm != "" && (pi.Type != InstrumentCard || !paymentMethodPattern.MatchString(pm)) {
		add("payment_instrument.payment_method_id %q must be a gateway payment method ID (pm_...) of a card", pm)
	}
	if ip := net.ParseIP(a.SignupIP); ip == nil {
		add("signup_ip %q is not an IP address", a.SignupIP)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid application: %s", strings.Join(errs, "; "))
	}
	return nil
}
