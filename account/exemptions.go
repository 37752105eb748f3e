package account

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/example/dunning/policy"
)

// Exemption is an account control staff set (as Kill Bill's control tags
// and Lago's dunning exclusion): each with an audited reason and an
// optional expiry.
type Exemption string

// Exemptions.
const (
	// ExemptEnforcementOff: reminders continue, but the ladder waits at
	// its suspension step (and so before termination) until the
	// exemption ends.
	ExemptEnforcementOff Exemption = "enforcement_off"
	// ExemptNoDunning: ladder steps are recorded but no reminder is sent.
	ExemptNoDunning Exemption = "no_dunning"
	// ExemptManualPay: the card on file is never charged automatically.
	ExemptManualPay Exemption = "manual_pay"
)

// Exemptions lists them.
func Exemptions() []Exemption {
	return []Exemption{ExemptEnforcementOff, ExemptNoDunning, ExemptManualPay}
}

// Valid reports whether e is one of the exemptions.
func (e Exemption) Valid() bool { return slices.Contains(Exemptions(), e) }

// ExemptionState is an exemption in force.
type ExemptionState struct {
	Exemption Exemption `json:"exemption"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until,omitzero"` // zero: until removed
}

// ExemptionRequest is the SetExemption update (setting one already in force
// replaces its reason and expiry).
type ExemptionRequest struct {
	Exemption Exemption `json:"exemption"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
	Until     time.Time `json:"until,omitzero"`
}

// Validate checks the request on its own.
func (r ExemptionRequest) Validate() error {
	if !r.Exemption.Valid() {
		return fmt.Errorf("exemption %q must be one of enforcement_off, no_dunning, manual_pay", r.Exemption)
	}
	if err := checkActor(r.Actor); err != nil {
		return err
	}
	if err := checkText("reason", r.Reason, true); err != nil {
		return err
	}
	if !r.Until.IsZero() {
		return CheckTime("until", r.Until)
	}
	return nil
}

// ExemptionRemoval is the RemoveExemption update.
type ExemptionRemoval struct {
	Exemption Exemption `json:"exemption"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
}

// Validate checks the request on its own.
func (r ExemptionRemoval) Validate() error {
	if !r.Exemption.Valid() {
		return fmt.Errorf("exemption %q must be one of enforcement_off, no_dunning, manual_pay", r.Exemption)
	}
	if err := checkActor(r.Actor); err != nil {
		return err
	}
	return checkText("reason", r.Reason, true)
}

// Exempt reports whether the exemption is in force.
func (a *Account) Exempt(e Exemption) bool {
	_, ok := a.Exemptions[e]
	return ok
}

// ExemptionNames lists the exemptions in force, sorted (for the search
// attribute and the status).
func (a *Account) ExemptionNames() []string {
	var out []string
	for _, e := range slices.Sorted(maps.Keys(a.Exemptions)) {
		out = append(out, string(e))
	}
	return out
}

// enforcementHeld reports whether a ladder step waits for an exemption.
func (a *Account) enforcementHeld(s policy.Step) bool {
	return a.Exempt(ExemptEnforcementOff) && (s.Action == policy.ActionSuspend || s.Action == policy.ActionTerminate)
}

// CheckSetExemption is SetExemption's validator.
func (a *Account) CheckSetExemption(r ExemptionRequest, now time.Time) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if a.Status == StatusTerminated {
		return fmt.Errorf("account is terminated")
	}
	if !r.Until.IsZero() && !r.Until.After(now) {
		return fmt.Errorf("until %s is not in the future", r.Until.Format(time.RFC3339))
	}
	return nil
}

// SetExemption puts an exemption in force.
func (a *Account) SetExemption(r ExemptionRequest, now time.Time) ([]Event, error) {
	if err := a.CheckSetExemption(r, now); err != nil {
		return nil, err
	}
	if a.Exemptions == nil {
		a.Exemptions = map[Exemption]ExemptionState{}
	}
	prev, had := a.Exemptions[r.Exemption]
	a.Exemptions[r.Exemption] = ExemptionState{Exemption: r.Exemption, Reason: r.Reason, Actor: r.Actor, Since: now, Until: r.Until}
	ev := a.newEvent(now, EventExemptionSet, r.Actor, r.Reason)
	ev.Detail = map[string]string{"exemption": string(r.Exemption), "exemptions": strings.Join(a.ExemptionNames(), ",")}
	if !r.Until.IsZero() {
		ev.Detail["until"] = r.Until.Format(time.RFC3339)
	}
	if had {
		ev.Detail["replaces_reason"] = prev.Reason
	}
	return a.finish([]Event{ev}, now, r.Actor, "exemption set"), nil
}

// CheckRemoveExemption is RemoveExemption's validator.
func (a *Account) CheckRemoveExemption(r ExemptionRemoval) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if !a.Exempt(r.Exemption) {
		return fmt.Errorf("customer %s has no exemption %s", a.Customer.CustomerID, r.Exemption)
	}
	return nil
}

// RemoveExemption ends an exemption: what it held back resumes at once.
func (a *Account) RemoveExemption(r ExemptionRemoval, now time.Time) ([]Event, error) {
	if err := a.CheckRemoveExemption(r); err != nil {
		return nil, err
	}
	return a.finish(a.endExemption(r.Exemption, EventExemptionRemoved, r.Actor, r.Reason, now), now, r.Actor, "exemption removed"), nil
}

func (a *Account) exemptionExpired(e Exemption, now time.Time) []Event {
	return a.endExemption(e, EventExemptionExpired, SystemActor, "expired", now)
}

func (a *Account) endExemption(e Exemption, typ EventType, actor, reason string, now time.Time) []Event {
	st, ok := a.Exemptions[e]
	if !ok {
		return nil
	}
	delete(a.Exemptions, e)
	if len(a.Exemptions) == 0 {
		a.Exemptions = nil
	}
	ev := a.newEvent(now, typ, actor, reason)
	ev.Detail = map[string]string{"exemption": string(e), "set_by": st.Actor, "set_reason": st.Reason,
		"exemptions": strings.Join(a.ExemptionNames(), ",")}
	return []Event{ev}
}
