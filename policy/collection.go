package policy

import (
	"fmt"
	"slices"
	"time"
)

// Collection is the policy for charging a card on file: when each attempt
// is made, relative to the invoice's due date (beside the reminder ladder),
// how the gateway's decline codes are sorted, and the card networks' limit
// on attempts.
type Collection struct {
	// Retries are the attempts' offsets from the due date (from the issue
	// date for a prepayment, whose first attempt is at once); the first is
	// the charge on the due date itself.
	Retries []time.Duration `json:"retries"`
	// Decline codes by what they allow. A code in none of the lists is
	// retried later.
	RetryLater      []string `json:"retry_later"`
	AfterCardChange []string `json:"after_card_change"`
	Never           []string `json:"never"`
	// Fraud are never-retry codes that also suspend the account under the
	// misuse rules (a stolen card); the other never-retry codes open a
	// fraud review only.
	Fraud []string `json:"fraud"`
	// The card networks' limit: at most NetworkAttempts attempts on one
	// card within NetworkWindow.
	NetworkAttempts int           `json:"network_attempts"`
	NetworkWindow   time.Duration `json:"network_window"`
}

// DeclineCategory is what a declined charge allows next.
type DeclineCategory string

// Decline categories.
const (
	DeclineRetryLater      DeclineCategory = "retry_later"       // try again on the schedule
	DeclineAfterCardChange DeclineCategory = "after_card_change" // only once the customer changes or authenticates the card
	DeclineNever           DeclineCategory = "never"             // never again on this card; a fraud review opens
	DeclineFraud           DeclineCategory = "fraud"             // never again, and the account is suspended for misuse
)

// Stripe's advice codes that override the decline code's category: the
// card network's "do not try again" stops every attempt on the card.
const (
	AdviceDoNotTryAgain   = "do_not_try_again"
	AdviceConfirmCardData = "confirm_card_data"
)

// Categorize sorts a decline by its issuer decline code, else its error
// code, then lets the network's advice make it stricter (never looser).
func (c Collection) Categorize(code, declineCode, adviceCode string) DeclineCategory {
	cat := DeclineRetryLater
	for _, k := range []string{declineCode, code} {
		if k == "" {
			continue
		}
		if found, ok := c.lookup(k); ok {
			cat = found
			break
		}
	}
	switch {
	case adviceCode == AdviceDoNotTryAgain && cat == DeclineRetryLater,
		adviceCode == AdviceDoNotTryAgain && cat == DeclineAfterCardChange:
		cat = DeclineNever
	case adviceCode == AdviceConfirmCardData && cat == DeclineRetryLater:
		cat = DeclineAfterCardChange
	}
	return cat
}

func (c Collection) lookup(k string) (DeclineCategory, bool) {
	switch {
	case slices.Contains(c.Fraud, k):
		return DeclineFraud, true
	case slices.Contains(c.Never, k):
		return DeclineNever, true
	case slices.Contains(c.AfterCardChange, k):
		return DeclineAfterCardChange, true
	case slices.Contains(c.RetryLater, k):
		return DeclineRetryLater, true
	}
	return "", false
}

// collectionFile is the JSON form.
type collectionFile struct {
	Retries         []string `json:"retries"`
	RetryLater      []string `json:"retry_later"`
	AfterCardChange []string `json:"after_card_change"`
	Never           []string `json:"never"`
	Fraud           []string `json:"fraud"`
	NetworkAttempts int      `json:"network_attempts"`
	NetworkWindow   string   `json:"network_window"`
}

// Stripe's and the card networks' limit: 15 attempts on a card in 30 days.
const (
	maxNetworkAttempts = 15
	maxRetries         = 15
)

func parseCollection(fileName string, f *collectionFile) (*Collection, error) {
	fail := func(field, format string, args ...any) (*Collection, error) {
		return nil, &FieldError{File: fileName, Field: "collection." + field, Problem: fmt.Sprintf(format, args...)}
	}
	c := &Collection{RetryLater: f.RetryLater, AfterCardChange: f.AfterCardChange, Never: f.Never, Fraud: f.Fraud, NetworkAttempts: f.NetworkAttempts}
	if len(f.Retries) == 0 || len(f.Retries) > maxRetries {
		return fail("retries", "must list 1 to %d attempts", maxRetries)
	}
	for i, s := range f.Retries {
		d, err := ParseDuration(s)
		if err != nil {
			return fail(fmt.Sprintf("retries[%d]", i), "%v", err)
		}
		if d < 0 || (i > 0 && d <= c.Retries[i-1]) {
			return fail(fmt.Sprintf("retries[%d]", i), "%q must not be before the due date and must come after the previous attempt", s)
		}
		c.Retries = append(c.Retries, d)
	}
	if f.NetworkAttempts < 1 || f.NetworkAttempts > maxNetworkAttempts {
		return fail("network_attempts", "%d must be between 1 and %d (the card networks' limit)", f.NetworkAttempts, maxNetworkAttempts)
	}
	w, err := ParseDuration(f.NetworkWindow)
	if err != nil || w <= 0 {
		return fail("network_window", "%q must be a positive duration, e.g. 30d", f.NetworkWindow)
	}
	c.NetworkWindow = w
	seen := map[string]string{}
	for _, l := range []struct {
		field string
		codes []string
	}{{"retry_later", f.RetryLater}, {"after_card_change", f.AfterCardChange}, {"never", f.Never}, {"fraud", f.Fraud}} {
		for i, code := range l.codes {
			if !stagePattern.MatchString(code) {
				return fail(fmt.Sprintf("%s[%d]", l.field, i), "%q must be a lower-case decline code", code)
			}
			if prev, ok := seen[code]; ok {
				return fail(fmt.Sprintf("%s[%d]", l.field, i), "%q is already in %s", code, prev)
			}
			seen[code] = l.field
		}
	}
	return c, nil
}
