package stripeevents

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v84"
)

// The event types acted on; every other type is recorded and ignored.
const (
	TypePaymentSucceeded  = stripe.EventTypePaymentIntentSucceeded
	TypePaymentFailed     = stripe.EventTypePaymentIntentPaymentFailed
	TypeCheckoutCompleted = stripe.EventTypeCheckoutSessionCompleted
	TypeCardAttached      = stripe.EventTypePaymentMethodAttached
	TypeDisputeCreated    = stripe.EventTypeChargeDisputeCreated
	TypeDisputeClosed     = stripe.EventTypeChargeDisputeClosed
)

// Outcomes of a processed event (gateway_events.outcome). Refusals are
// "refused: " followed by what the workflow said.
const (
	OutcomePaymentRecorded    = "payment recorded"
	OutcomeCardSet            = "card set"
	OutcomeChargebackRecorded = "chargeback recorded"
	OutcomeChargebackClosed   = "chargeback closed"
	OutcomeRecorded           = "recorded" // payment_intent.payment_failed: the charge activity has the answer
	OutcomeIgnored            = "ignored"  // a type not acted on, or an event with nothing to act on
	OutcomeUnknownCustomer    = "unknown customer"
	OutcomeUnknownPayment     = "unknown payment"
	OutcomeCustomerNotFound   = "customer not found"
	OutcomeTerminated         = "customer terminated"
	OutcomeSuperseded         = "superseded" // an older card than one already set
	OutcomeUnreadable         = "unreadable object"
	OutcomeGaveUp             = "gave up waiting"
	OutcomeUnstorable         = "unstorable payload" // PostgreSQL refused even the repaired payload
	outcomeRefusedPrefix      = "refused: "
)

// suspect finds what PostgreSQL's jsonb refuses in JSON text: \u0000, and
// surrogate escapes (a lone one is refused; a pair survives re-encoding).
var suspect = regexp.MustCompile(`(?i)\\u(0000|d[89a-f][0-9a-f]{2})`)

// storable returns the payload as PostgreSQL's jsonb will take it, and
// whether it had to be repaired: NUL and what is not valid Unicode become
// U+FFFD. Otherwise an event with such text would fail its insert on every
// redelivery and never be processed.
func storable(payload []byte) ([]byte, bool) {
	if utf8.Valid(payload) && !suspect.Match(payload) {
		return payload, false
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return payload, false // not JSON: the signature check parses it first anyway
	}
	b, err := json.Marshal(scrub(v)) // the decoder has made bad UTF-8 and lone surrogates U+FFFD
	if err != nil {
		return payload, false
	}
	return b, true
}

// scrub replaces NUL in every string and key of a decoded JSON value.
func scrub(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "\uFFFD")
	case []any:
		for i := range x {
			x[i] = scrub(x[i])
		}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[scrub(k).(string)] = scrub(e)
		}
		return m
	}
	return v
}

// cleanText makes a string safe for a text column: valid UTF-8, no NUL, at
// most n bytes.
func cleanText(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") // a cut rune would be refused
	}
	return s
}
