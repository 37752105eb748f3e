package main

import (
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/example/dunning/policy"
)

// monthPolicy is the e2e policy under its own name: the standard policy
// with a day of half a second, so that a month is 15 s with the standard
// ladder's steps (and so its events).
//
//go:embed benchmonth.v1.json
var monthPolicy string

// quietPolicyJSON is the onboarding and burst policy: a prepayment asked
// for with its reminder and deadline an hour away, invoices every cycle
// with terms of an hour, so that nothing but the first invoice falls due
// while the bench runs. %d is the cycle in seconds.
const quietPolicyJSON = `{
  "name": "bench",
  "version": 1,
  "description": "The bench's quiet policy: prepayment, then one invoice a cycle after it, and nothing else due within the hour.",
  "day": "1m",
  "billing": {"interval": "%ds", "terms": "1h"},
  "prepayment": {"periods": 1, "reminder_after": "1h", "deadline": "2h"},
  "trust": {"on_time_invoices": 1, "require_phone_verified": false},
  "promise": {"max_length": "1h"},
  "reviews": {"onboarding": "2h", "severe": "1h", "moderate": "2h", "minor": "2h", "reminders": [0.5, 0.8]},
  "channels": ["email", "sms"],
  "ladder": [
    {"stage": "upcoming", "offset": "-10m", "action": "notice"},
    {"stage": "due", "offset": "0s", "action": "notice"},
    {"stage": "overdue_1", "offset": "10m", "action": "notice"},
    {"stage": "final_notice", "offset": "20m", "action": "notice"},
    {"stage": "suspended", "offset": "30m", "action": "suspend"},
    {"stage": "termination_warning", "offset": "45m", "action": "notice"},
    {"stage": "terminated", "offset": "1h", "action": "terminate"}
  ]
}
`

// quietPolicy is the quiet policy with the given cycle, checked by the
// same lint the worker's loader runs.
func quietPolicy(cycle time.Duration) ([]byte, error) {
	if cycle < 10*time.Second || cycle > 50*time.Minute || cycle%time.Second != 0 {
		return nil, fmt.Errorf("cycle %s must be whole seconds between 10s and 50m (the quiet policy's terms are an hour)", cycle)
	}
	data := []byte(fmt.Sprintf(quietPolicyJSON, int(cycle/time.Second)))
	if _, warnings, err := policy.Lint("bench.v1.json", data); err != nil {
		return nil, err
	} else if len(warnings) > 0 {
		var ws []string
		for _, w := range warnings {
			ws = append(ws, fmt.Sprint(w))
		}
		return nil, fmt.Errorf("quiet policy: %s", strings.Join(ws, "; "))
	}
	return data, nil
}
