package stripefake

import (
	"crypto/sha256"
	"encoding/hex"
)

// Test payment methods: Stripe's test-mode IDs and two of the fake's own
// for the demo. Attaching one copies it to a new pm_ ID (as Stripe does),
// which behaves like the original.
const (
	PMVisa                 = "pm_card_visa"
	PMMastercard           = "pm_card_mastercard"
	PMVisaDebit            = "pm_card_visa_debit"
	PMDeclined             = "pm_card_visa_chargeDeclined"
	PMInsufficientFunds    = "pm_card_visa_chargeDeclinedInsufficientFunds"
	PMLostCard             = "pm_card_visa_chargeDeclinedLostCard"
	PMStolenCard           = "pm_card_visa_chargeDeclinedStolenCard"
	PMExpiredCard          = "pm_card_chargeDeclinedExpiredCard"
	PMIncorrectCVC         = "pm_card_chargeDeclinedIncorrectCvc"
	PMIncorrectNumber      = "pm_card_chargeDeclinedIncorrectNumber" // the fake's own: Stripe refuses such a number before charging
	PMProcessingError      = "pm_card_chargeDeclinedProcessingError"
	PMAuthRequired         = "pm_card_authenticationRequired"
	PMCreateDispute        = "pm_card_createDispute"
	PMRadarBlock           = "pm_card_radarBlock"
	PMDemoSoftDeclineOnce  = "pm_demo_soft_decline_once" // insufficient_funds on a customer's first charge, then success
	PMDemoExpiring         = "pm_demo_expiring"          // expired_card every time
	demoSoftDeclineOnceNum = "4000000000009995"          // shown as an insufficient-funds card
)

// Decline codes (and the two outcome words) for ScriptCharges.
const (
	Succeed                = "succeed"
	GenericDecline         = "generic_decline"
	InsufficientFunds      = "insufficient_funds"
	LostCard               = "lost_card"
	StolenCard             = "stolen_card"
	ExpiredCard            = "expired_card"
	IncorrectCVC           = "incorrect_cvc"
	IncorrectNumber        = "incorrect_number"
	ProcessingError        = "processing_error"
	Fraudulent             = "fraudulent"
	AuthenticationRequired = "authentication_required"
)

// decline is how the bank answers a charge; the zero value is a success.
type decline struct {
	code, declineCode, advice, network, message string
}

func (d decline) ok() bool { return d.code == "" }

// declines by decline code, as Stripe reports them.
var declines = map[string]decline{
	GenericDecline:         {"card_declined", GenericDecline, "", "", "Your card was declined."},
	InsufficientFunds:      {"card_declined", InsufficientFunds, "try_again_later", "02", "Your card has insufficient funds."},
	LostCard:               {"card_declined", LostCard, "do_not_try_again", "03", "Your card was declined."},
	StolenCard:             {"card_declined", StolenCard, "do_not_try_again", "03", "Your card was declined."},
	ExpiredCard:            {"expired_card", ExpiredCard, "confirm_card_data", "01", "Your card has expired."},
	IncorrectCVC:           {"incorrect_cvc", IncorrectCVC, "confirm_card_data", "", "Your card's security code is incorrect."},
	IncorrectNumber:        {"incorrect_number", IncorrectNumber, "confirm_card_data", "", "Your card number is incorrect."},
	ProcessingError:        {"processing_error", ProcessingError, "try_again_later", "", "An error occurred while processing your card. Try again in a little bit."},
	Fraudulent:             {"card_declined", Fraudulent, "do_not_try_again", "", "Your card was declined."},
	AuthenticationRequired: {"authentication_required", AuthenticationRequired, "", "", "Your card was declined. This transaction requires authentication."},
}

// declineFor is the decline of a code given to ScriptCharges.
func declineFor(code string) decline {
	if code == "" || code == Succeed {
		return decline{}
	}
	if d, ok := declines[code]; ok {
		return d
	}
	return decline{"card_declined", code, "", "", "Your card was declined."}
}

// card is a test card number's behaviour.
type card struct {
	brand, funding string
	decline        string // "" succeeds
	dispute        bool   // the charge succeeds and is disputed a moment later
}

var cards = map[string]card{
	"4242424242424242": {brand: "visa", funding: "credit"},
	"5555555555554444": {brand: "mastercard", funding: "credit"},
	"4000056655665556": {brand: "visa", funding: "debit"},
	"4000000000000002": {brand: "visa", funding: "credit", decline: GenericDecline},
	"4000000000009995": {brand: "visa", funding: "credit", decline: InsufficientFunds},
	"4000000000009987": {brand: "visa", funding: "credit", decline: LostCard},
	"4000000000009979": {brand: "visa", funding: "credit", decline: StolenCard},
	"4000000000000069": {brand: "visa", funding: "credit", decline: ExpiredCard},
	"4000000000000127": {brand: "visa", funding: "credit", decline: IncorrectCVC},
	"4000000000000119": {brand: "visa", funding: "credit", decline: ProcessingError},
	"4000002760003184": {brand: "visa", funding: "credit", decline: AuthenticationRequired},
	"4000000000000259": {brand: "visa", funding: "credit", dispute: true},
	"4100000000000019": {brand: "visa", funding: "credit", decline: Fraudulent},
	// The fake's own numbers for its own test payment methods.
	"4000000000001111": {brand: "visa", funding: "credit", decline: IncorrectNumber},
	"4000000000002222": {brand: "visa", funding: "credit", decline: ExpiredCard},
}

// testPMs maps test payment method IDs to their card numbers.
var testPMs = map[string]string{
	PMVisa:                "4242424242424242",
	PMMastercard:          "5555555555554444",
	PMVisaDebit:           "4000056655665556",
	PMDeclined:            "4000000000000002",
	PMInsufficientFunds:   "4000000000009995",
	PMLostCard:            "4000000000009987",
	PMStolenCard:          "4000000000009979",
	PMExpiredCard:         "4000000000000069",
	PMIncorrectCVC:        "4000000000000127",
	PMIncorrectNumber:     "4000000000001111",
	PMProcessingError:     "4000000000000119",
	PMAuthRequired:        "4000002760003184",
	PMCreateDispute:       "4000000000000259",
	PMRadarBlock:          "4100000000000019",
	PMDemoSoftDeclineOnce: demoSoftDeclineOnceNum,
	PMDemoExpiring:        "4000000000002222",
}

// newCardPM builds an unattached PaymentMethod for a card number.
func newCardPM(id, number string, created int64) *PaymentMethod {
	c := cards[number]
	if c.brand == "" {
		c = card{brand: "visa", funding: "credit"}
	}
	sum := sha256.Sum256([]byte("fingerprint:" + number))
	return &PaymentMethod{
		ID: id, Object: "payment_method", Type: "card", Created: created, Metadata: map[string]string{},
		Card: CardDetails{
			Brand: c.brand, Last4: number[len(number)-4:], ExpMonth: 12, ExpYear: 2034,
			Fingerprint: hex.EncodeToString(sum[:])[:16], Funding: c.funding, Country: "US",
		},
		number: number,
	}
}

// luhn reports whether a card number passes the Luhn check.
func luhn(number string) bool {
	if len(number) < 12 {
		return false
	}
	sum := 0
	for i := range len(number) {
		d := int(number[len(number)-1-i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
