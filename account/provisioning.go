package account

import (
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Provisioning is what the account has decided about the customer's
// subscriptions versus what the provisioning system has confirmed. Decided
// actions wait in Queue, oldest first, until the provisioning system takes
// them; a refusal or an outage keeps the action queued, visible, retried on
// the policy's schedule and escalated to staff, never dropped.
type Provisioning struct {
	Queue   []ProvisionAction `json:"queue,omitempty"`
	Decided Provision         `json:"decided,omitempty"` // the last action decided
	Applied Provision         `json:"applied,omitempty"` // the last action confirmed
	// While the head of the queue keeps failing:
	FailingSince time.Time `json:"failing_since,omitzero"`
	NextRetryAt  time.Time `json:"next_retry_at,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	Attempts     int       `json:"attempts,omitempty"` // failed rounds of the head action
	Escalated    bool      `json:"escalated,omitempty"`
}

// ProvisionAction is one decided change to the subscriptions. Key is the
// event that decided it; Round numbers the rounds of tries, so that each
// round reaches the provisioning system under its own idempotency key.
type ProvisionAction struct {
	Action Provision `json:"action"`
	Reason string    `json:"reason,omitempty"`
	Key    string    `json:"key"`
	At     time.Time `json:"at"`
	Round  int       `json:"round,omitempty"`
	// Subscriptions are the subscriptions the action acts on (accounts
	// with subscriptions); the per-subscription actions act on them alone.
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// IdempotencyKey is the key the provisioning system sees for this round.
func (p ProvisionAction) IdempotencyKey() string {
	if p.Round == 0 {
		return p.Key
	}
	return p.Key + "#" + strconv.Itoa(p.Round)
}

// Provisioning states, as shown in GetStatus and the ProvisioningState
// search attribute.
const (
	ProvisioningInSync  = "in_sync"
	ProvisioningPending = "pending"
	ProvisioningFailing = "failing"
)

// State summarises the provisioning for operators.
func (p *Provisioning) State() string {
	switch {
	case !p.FailingSince.IsZero():
		return ProvisioningFailing
	case len(p.Queue) > 0:
		return ProvisioningPending
	}
	return ProvisioningInSync
}

// supersedes reports whether a later action makes an earlier one that has
// not been confirmed pointless: the provisioning system only needs the
// latest decision. A later action is always sent itself, so an earlier one
// that did take effect unseen (a timeout after the change) is corrected.
func supersedes(later, earlier ProvisionAction) bool {
	// Actions on different subscriptions are all needed.
	if later.Action != ProvisionTerminate && !slices.Equal(later.Subscriptions, earlier.Subscriptions) {
		return false
	}
	return supersedesAction(later.Action, earlier.Action)
}

func supersedesAction(later, earlier Provision) bool {
	switch later {
	case ProvisionTerminate:
		return true
	case ProvisionSuspend, ProvisionReinstate:
		return earlier == ProvisionSuspend || earlier == ProvisionReinstate
	case ProvisionFullAccess, ProvisionLimitAccess:
		return earlier == ProvisionFullAccess || earlier == ProvisionLimitAccess
	case ProvisionSuspendSubscriptions, ProvisionReinstateSubscriptions:
		return earlier == ProvisionSuspendSubscriptions || earlier == ProvisionReinstateSubscriptions
	}
	return false
}

// QueueProvisioning queues the provisioning actions that events decide.
// inFlight is the head's key when the head is with the provisioning system
// now: it cannot be withdrawn.
func (a *Account) QueueProvisioning(events []Event, inFlight string) {
	p := &a.Provisioning
	for _, ev := range events {
		if ev.Provision == "" {
			continue
		}
		next := ProvisionAction{Action: ev.Provision, Reason: ev.Reason, Key: ev.Key, At: ev.At, Subscriptions: ev.Subscriptions}
		head := ""
		if len(p.Queue) > 0 {
			head = p.Queue[0].Key
		}
		p.Queue = slices.DeleteFunc(p.Queue, func(q ProvisionAction) bool {
			return q.Key != inFlight && supersedes(next, q)
		})
		withdrawn := len(p.Queue) == 0 || p.Queue[0].Key != inFlight
		if a.Subscribed {
			// Only a head that was withdrawn starts afresh: one still
			// failing keeps its failure, its retry time and its
			// escalation clock. (Runs from before subscriptions keep the
			// old rule, which replays.)
			withdrawn = len(p.Queue) == 0 || p.Queue[0].Key != head
		}
		if withdrawn {
			// The failing head was withdrawn: what follows starts afresh.
			p.FailingSince, p.NextRetryAt, p.LastError, p.Attempts, p.Escalated = time.Time{}, time.Time{}, "", 0, false
		}
		p.Queue = append(p.Queue, next)
		p.Decided = ev.Provision
	}
}

// NextProvisioning is the action to send now, if any, and when it may be
// sent (zero: at once).
func (a *Account) NextProvisioning() (ProvisionAction, time.Time, bool) {
	p := &a.Provisioning
	if len(p.Queue) == 0 {
		return ProvisionAction{}, time.Time{}, false
	}
	return p.Queue[0], p.NextRetryAt, true
}

// ProvisioningApplied records that the provisioning system confirmed the
// action. After a failure, the recovery is recorded and staff told.
func (a *Account) ProvisioningApplied(key string, now time.Time) []Event {
	p := &a.Provisioning
	if len(p.Queue) == 0 || p.Queue[0].Key != key {
		return nil
	}
	done := p.Queue[0]
	p.Queue = p.Queue[1:]
	p.Applied = done.Action
	if p.FailingSince.IsZero() {
		return nil
	}
	since := p.FailingSince
	p.FailingSince, p.NextRetryAt, p.LastError, p.Attempts, p.Escalated = time.Time{}, time.Time{}, "", 0, false
	ev := a.newEvent(now, EventProvisioningRecovered, SystemActor, string(done.Action)+" applied after failures")
	ev.Detail = map[string]string{"action": string(done.Action), "decided_by": done.Key, "failing_since": since.Format(time.RFC3339)}
	return []Event{ev}
}

// ProvisioningFailed records a round of tries that the provisioning system
// refused or did not answer. The first failure alerts staff; the action is
// tried again after the policy's interval, and escalated once it has failed
// for longer than the policy allows.
func (a *Account) ProvisioningFailed(key, kind, problem string, now time.Time) []Event {
	p := &a.Provisioning
	if len(p.Queue) == 0 || p.Queue[0].Key != key {
		return nil
	}
	rules := a.Policy.ProvisioningRules()
	head := &p.Queue[0]
	head.Round++
	p.Attempts++
	p.LastError = truncate(problem, 500)
	p.NextRetryAt = now.Add(rules.RetryEvery)
	first := p.FailingSince.IsZero()
	if first {
		p.FailingSince = now
	}
	detail := map[string]string{"action": string(head.Action), "decided_by": head.Key, "kind": kind,
		"attempts": strconv.Itoa(p.Attempts), "next_retry_at": p.NextRetryAt.Format(time.RFC3339)}
	ev := a.newEvent(now, EventProvisioningFailed, SystemActor, p.LastError)
	ev.Detail = detail
	events := []Event{ev}
	switch {
	case first:
		events = append(events, a.staffAlert("provisioning_failed",
			fmt.Sprintf("%s of %s's subscriptions failed (%s); retrying every %s", head.Action, a.Customer.CustomerID, p.LastError, rules.RetryEvery),
			detail, now))
	case !p.Escalated && now.Sub(p.FailingSince) >= rules.EscalateAfter:
		p.Escalated = true
		esc := a.newEvent(now, EventProvisioningEscalated, SystemActor, "provisioning failing since "+p.FailingSince.Format(time.RFC3339))
		esc.Detail = detail
		events = append(events, esc, a.staffAlert("provisioning_escalated",
			fmt.Sprintf("%s of %s's subscriptions has failed since %s: act in the provisioning system by hand", head.Action,
				a.Customer.CustomerID, p.FailingSince.Format(time.RFC3339)), detail, now))
	}
	return events
}

// ProvisioningView is the provisioning part of GetStatus.
type ProvisioningView struct {
	State        string      `json:"state"`
	Decided      Provision   `json:"decided,omitempty"`
	Applied      Provision   `json:"applied,omitempty"`
	Pending      []Provision `json:"pending,omitempty"`
	FailingSince time.Time   `json:"failing_since,omitzero"`
	NextRetryAt  time.Time   `json:"next_retry_at,omitzero"`
	LastError    string      `json:"last_error,omitempty"`
	Attempts     int         `json:"attempts,omitempty"`
}

func (a *Account) provisioningView() ProvisioningView {
	p := &a.Provisioning
	v := ProvisioningView{State: p.State(), Decided: p.Decided, Applied: p.Applied, FailingSince: p.FailingSince,
		NextRetryAt: p.NextRetryAt, LastError: p.LastError, Attempts: p.Attempts}
	for _, q := range p.Queue {
		v.Pending = append(v.Pending, q.Action)
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
