package account

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/example/dunning/policy"
)

// policyIDPattern is a versioned policy ID: a change names the exact
// version it moves to, never "the latest".
var policyIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}\.v[1-9][0-9]{0,5}$`)

// PolicyChange is the ChangePolicy update.
type PolicyChange struct {
	To     string `json:"to"` // e.g. "strict.v2"
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// Validate checks the request on its own.
func (c PolicyChange) Validate() error {
	if !policyIDPattern.MatchString(c.To) {
		return fmt.Errorf("to %q must be a policy ID with its version, like strict.v2", c.To)
	}
	if err := checkActor(c.Actor); err != nil {
		return err
	}
	return checkText("reason", c.Reason, true)
}

// CheckChangePolicy is ChangePolicy's validator, with the policy the
// request names (loaded by the caller).
func (a *Account) CheckChangePolicy(c PolicyChange, to policy.Policy) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if to.ID() != c.To {
		return fmt.Errorf("policy %s was loaded for %s", to.ID(), c.To)
	}
	if to.ID() == a.Policy.ID() {
		return fmt.Errorf("customer %s is already on policy %s", a.Customer.CustomerID, to.ID())
	}
	if !a.operational() {
		return fmt.Errorf("cannot change the policy: account is %s (only an account with service, active, past due or suspended, moves)", a.Status)
	}
	return nil
}

// ChangePolicy moves the account to another policy. Invoices already
// issued keep their amount and due date; their ladders are re-anchored on
// the new policy's ladder (see reanchor); later invoices follow the new
// policy entirely.
//
// The account keeps to itself (the registry's shared copy): it is never
// modified.
func (a *Account) ChangePolicy(c PolicyChange, to *policy.Policy, now time.Time) ([]Event, error) {
	if err := a.CheckChangePolicy(c, *to); err != nil {
		return nil, err
	}
	from := a.Policy
	a.Policy = to
	ev := a.newEvent(now, EventPolicyChanged, c.Actor, c.Reason)
	ev.Detail = map[string]string{"policy_from": from.ID(), "policy_to": to.ID()}
	events := []Event{ev}
	for _, inv := range a.Invoices {
		if inv.Kind != KindSubscription {
			continue
		}
		next, at := a.reanchor(inv, *from, now)
		e := a.newEvent(now, EventInvoiceReanchored, c.Actor, "ladder re-anchored on "+to.ID())
		e.Invoice = inv
		e.Detail = map[string]string{"policy_from": from.ID(), "policy_to": to.ID(), "stage": inv.Stage, "next_stage": next}
		if !at.IsZero() {
			e.Detail["next_at"] = at.Format(time.RFC3339)
		}
		e.Detail["shift"] = strconv.FormatInt(int64(inv.Shift/time.Second), 10)
		events = append(events, e)
	}
	return a.finish(events, now, c.Actor, c.Reason), nil
}

// reanchor moves an open invoice's ladder from the old policy's ladder to
// the account's (new) one. The rule:
//
//   - A step of the new ladder is reached when the old ladder took a step
//     of the same stage name on this invoice, or, for the suspension
//     step, when the old ladder's suspension was taken. Reached stays
//     reached: nothing already sent is sent again.
//   - The next step is the one after the last reached step of the new
//     ladder (the first step when none is reached).
//   - It falls at its own time under the new ladder (due date + offset +
//     the time the invoice was paused), or now if that has passed; the
//     steps after it keep their spacing from it, so that two steps never
//     fire at once and a final notice still leaves the new ladder's time
//     before the suspension it names. (A paused invoice's ladder is late
//     only as of the pause: the pause's end moves it on as before.)
//
// It returns the next step's stage and time ("" and zero: none left).
func (a *Account) reanchor(inv *Invoice, from policy.Policy, now time.Time) (string, time.Time) {
	taken := map[string]bool{}
	for i := 0; i < inv.NextStep && i < len(from.Ladder); i++ {
		taken[from.Ladder[i].Stage] = true
	}
	oldSus := from.StepIndex(policy.ActionSuspend)
	suspended := oldSus >= 0 && inv.NextStep > oldSus
	lad := a.Policy.Ladder
	next := 0
	for j, s := range lad {
		if taken[s.Stage] || (s.Action == policy.ActionSuspend && suspended) {
			next = j + 1
		}
	}
	inv.NextStep = next
	if next >= len(lad) {
		return "", time.Time{}
	}
	clock := now
	if inv.Paused() {
		clock = inv.PausedAt // the ladder's time stopped there; the pause's end moves it on
	}
	if late := clock.Sub(inv.DueAt.Add(lad[next].Offset + inv.Shift)); late > 0 {
		inv.Shift += late
	}
	return lad[next].Stage, a.stepAt(inv, next)
}
