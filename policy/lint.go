package policy

import (
	"fmt"
	"reflect"
	"time"
)

// WarningCode names a lint finding, for scripts that want to silence one.
type WarningCode string

// Lint findings. Each is a policy that is valid but probably not what a
// billing manager meant.
const (
	WarnFinalNoticeLate     WarningCode = "final_notice_late"    // the last notice before suspension leaves the customer under 5 days
	WarnTerminationUnwarned WarningCode = "termination_unwarned" // no notice warns of the termination
	WarnGapBeyondRetries    WarningCode = "gap_beyond_card_window"
	WarnRetriesOverLimit    WarningCode = "retries_over_network_limit"
	WarnRetryAfterEnd       WarningCode = "retry_after_termination"
	WarnNoSuspension        WarningCode = "no_suspension"
	WarnNoTermination       WarningCode = "no_termination"
	WarnPromiseBeyondEnd    WarningCode = "promise_beyond_termination"
)

// MinNoticeDays is the least time, in the policy's days, that the last
// notice before a suspension should leave the customer to pay.
const MinNoticeDays = 5

// Warning is a lint finding on one field of a policy file.
type Warning struct {
	File    string      `json:"file"`
	Field   string      `json:"field"`
	Code    WarningCode `json:"code"`
	Message string      `json:"message"`
}

func (w Warning) String() string {
	return fmt.Sprintf("policy file %s: field %s: %s (%s)", w.File, w.Field, w.Message, w.Code)
}

// Lint parses a policy file and, when it is valid, reports what a billing
// manager would want to know before publishing it. The error is Parse's
// *FieldError.
func Lint(fileName string, data []byte) (Policy, []Warning, error) {
	p, err := Parse(fileName, data)
	if err != nil {
		return Policy{}, nil, err
	}
	return p, Warnings(fileName, p), nil
}

// Warnings are the lint findings of a valid policy, in field order.
func Warnings(fileName string, p Policy) []Warning {
	var out []Warning
	warn := func(field string, code WarningCode, format string, args ...any) {
		out = append(out, Warning{File: fileName, Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	days := func(d time.Duration) string { return fmt.Sprintf("%.4g days", float64(d)/float64(p.Day)) }
	step := func(i int) string { return fmt.Sprintf("ladder[%d]", i) }

	sus, term := p.StepIndex(ActionSuspend), p.StepIndex(ActionTerminate)
	if sus < 0 {
		warn("ladder", WarnNoSuspension, "no step suspends: an unpaid customer keeps the service")
	}
	if term < 0 {
		warn("ladder", WarnNoTermination, "no step terminates: unpaid invoices are never handed to collections")
	}
	if sus > 0 {
		if last := lastNotice(p, 0, sus); last >= 0 {
			if gap := p.Ladder[sus].Offset - p.Ladder[last].Offset; gap < MinNoticeDays*p.Day {
				warn(step(last)+".offset", WarnFinalNoticeLate, "the last notice before suspension (%s) comes %s before it; give at least %d days",
					p.Ladder[last].Stage, days(gap), MinNoticeDays)
			}
		}
	}
	if term >= 0 {
		// A notice warns of the next suspension or termination after it
		// (its deadline); the termination is warned of only by a notice
		// after the suspension step.
		if lastNotice(p, sus+1, term) < 0 {
			warn(step(term)+".action", WarnTerminationUnwarned, "no notice warns of the termination (%s): add a notice step between %s and it",
				p.Ladder[term].Stage, before(p, sus))
		}
		if p.Promise.MaxLength > p.Ladder[term].Offset+p.Billing.Terms {
			warn("promise.max_length", WarnPromiseBeyondEnd, "a promise may run %s, longer than an invoice lives before termination (%s)",
				days(p.Promise.MaxLength), days(p.Ladder[term].Offset+p.Billing.Terms))
		}
	}
	if c := p.Collection; c != nil {
		for i := 1; i < len(p.Ladder); i++ {
			if gap := p.Ladder[i].Offset - p.Ladder[i-1].Offset; gap > c.NetworkWindow {
				warn(step(i)+".offset", WarnGapBeyondRetries, "%s from %s to %s is longer than the card networks' retry window (collection.network_window, %s)",
					days(gap), p.Ladder[i-1].Stage, p.Ladder[i].Stage, days(c.NetworkWindow))
			}
		}
		for i, r := range c.Retries {
			if n := attemptsWithin(c.Retries, i, c.NetworkWindow); n > c.NetworkAttempts {
				warn(fmt.Sprintf("collection.retries[%d]", i), WarnRetriesOverLimit, "%d attempts within %s exceed collection.network_attempts (%d): the networks may refuse this one",
					n, days(c.NetworkWindow), c.NetworkAttempts)
				break
			}
			if term >= 0 && r >= p.Ladder[term].Offset {
				warn(fmt.Sprintf("collection.retries[%d]", i), WarnRetryAfterEnd, "the attempt at %s comes at or after the termination (%s): it is never made",
					days(r), days(p.Ladder[term].Offset))
				break
			}
		}
	}
	return out
}

// lastNotice is the index of the last notice step in [from, to), or -1.
func lastNotice(p Policy, from, to int) int {
	for i := to - 1; i >= max(from, 0); i-- {
		if p.Ladder[i].Action == ActionNotice {
			return i
		}
	}
	return -1
}

func before(p Policy, sus int) string {
	if sus < 0 {
		return "the due date"
	}
	return p.Ladder[sus].Stage
}

// attemptsWithin counts the attempts in the window that ends at attempt i.
func attemptsWithin(retries []time.Duration, i int, window time.Duration) int {
	n := 0
	for j := i; j >= 0 && retries[i]-retries[j] < window; j-- {
		n++
	}
	return n
}

// WarnPublishedDiffers: the file reuses a published policy's ID with other
// settings.
const WarnPublishedDiffers WarningCode = "published_version_differs"

// PublishedWarnings compare a linted policy with the published ones: a
// file that reuses a published ID with other settings would give new
// customers different rules under the same name while running customers
// keep the snapshot they loaded. Publish it as a new version instead.
func PublishedWarnings(fileName string, p Policy, published *Registry) []Warning {
	cur, ok := published.byID[p.ID()]
	if !ok || reflect.DeepEqual(*cur, p) {
		return nil
	}
	next := p.Version + 1
	if latest, ok := published.latest[p.Name]; ok && latest.Version >= next {
		next = latest.Version + 1
	}
	return []Warning{{File: fileName, Field: "version", Code: WarnPublishedDiffers,
		Message: fmt.Sprintf("%s is already published with other settings; publish this as version %d", p.ID(), next)}}
}
