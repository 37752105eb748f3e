package account

import (
	"strings"
	"testing"
	"time"
)

// noticesOf lists the invoice's notices with their time after its due
// date, e.g. "final_notice@192h".
func noticesOf(events []Event, inv *Invoice) string {
	var out []string
	due := inv.DueAt
	for _, ev := range events {
		if ev.Notice != nil && ev.Notice.InvoiceID == inv.ID {
			out = append(out, ev.Notice.Stage+"@"+strings.TrimSuffix(ev.At.Sub(due).String(), "0m0s"))
		}
	}
	return strings.Join(out, " ")
}

func change(t *testing.T, a *Account, to string, at time.Time) []Event {
	t.Helper()
	events, err := a.ChangePolicy(PolicyChange{To: to, Actor: "ana", Reason: "moved to the high-risk tier"}, ptr(mustPolicy(t, to)), at)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// standard.v1 to strict.v1 at 8 days past due: upcoming, due and
// overdue_1 were reached under both names; strict has no overdue_2, so its
// next step is final_notice, due 4 days after the due date and so sent
// now, and the suspension follows 3 days later (strict's spacing), not at
// once.
func TestChangePolicyReanchorsToNextUnreachedStep(t *testing.T) {
	a := activeAccount(t, "standard.v1")
	runUntil(a, t0.AddDate(0, 1, 0).Add(2*time.Hour))
	inv := a.Invoices[0]
	due := inv.DueAt
	runUntil(a, due.Add(8*day))
	if inv.Stage != "overdue_2" {
		t.Fatalf("stage before the change = %s", inv.Stage)
	}
	now := due.Add(8 * day)
	events := change(t, a, "strict.v1", now)
	if a.Policy.ID() != "strict.v1" || events[0].Type != EventPolicyChanged || events[0].Actor != "ana" ||
		events[0].Reason != "moved to the high-risk tier" || events[0].Detail["policy_from"] != "standard.v1" {
		t.Fatalf("change event = %+v", events[0])
	}
	re := events[1]
	if re.Type != EventInvoiceReanchored || re.InvoiceID != inv.ID || re.Detail["next_stage"] != "final_notice" ||
		re.Detail["next_at"] != now.Format(time.RFC3339) {
		t.Errorf("re-anchor event = %+v", re)
	}
	if inv.Stage != "overdue_2" {
		t.Errorf("a stage reached must stay reached: %s", inv.Stage)
	}
	if at, label, _ := a.NextWake(); !at.Equal(now) || !strings.Contains(label, "final_notice") {
		t.Errorf("next wake = %s %s", at, label)
	}
	got := noticesOf(runUntil(a, due.Add(40*day)), inv)
	// final notice now (day 8), suspension 3 days later (day 11), then
	// strict's termination warning and termination keep their spacing.
	if got != "final_notice@192h suspended@264h termination_warning@600h terminated@816h" {
		t.Errorf("notices after the change = %q", got)
	}
	if a.Status != StatusTerminated || !a.TerminatedAt.Equal(due.Add(34*day)) {
		t.Errorf("terminated %v at %v, want day 34", a.Status, a.TerminatedAt)
	}
}

// An invoice already suspended under standard: strict's suspension is
// reached too, so the termination warning (due at 21 days, passed) is sent
// now and the termination follows strict's 9 days later.
func TestChangePolicyKeepsSuspensionReached(t *testing.T) {
	a := activeAccount(t, "standard.v1")
	runUntil(a, t0.AddDate(0, 1, 0).Add(2*time.Hour))
	inv := a.Invoices[0]
	due := inv.DueAt
	runUntil(a, due.Add(25*day))
	if a.Status != StatusSuspended {
		t.Fatalf("status = %s", a.Status)
	}
	change(t, a, "strict.v1", due.Add(25*day))
	if got := noticesOf(runUntil(a, due.Add(40*day)), inv); got != "termination_warning@600h terminated@816h" {
		t.Errorf("notices = %q", got)
	}
}

// strict.v1 to standard.v1 just after strict's final notice: standard's
// final notice is reached by name, so its suspension at 21 days is next, at
// its own time: the change never brings a step forward.
func TestChangePolicyToLaterLadder(t *testing.T) {
	a := activeAccount(t, "strict.v1")
	runUntil(a, t0.AddDate(0, 2, 0).Add(2*time.Hour))
	inv := a.Invoices[0]
	due := inv.DueAt
	runUntil(a, due.Add(5*day))
	if inv.Stage != "final_notice" {
		t.Fatalf("stage = %s", inv.Stage)
	}
	change(t, a, "standard.v1", due.Add(5*day))
	if at, label, _ := a.NextWake(); !at.Equal(due.Add(21*day)) || !strings.Contains(label, "suspension") {
		t.Errorf("next wake = %s %s, want the suspension at day 21", at, label)
	}
	if got := noticesOf(runUntil(a, due.Add(22*day)), inv); got != "suspended@504h" {
		t.Errorf("notices = %q", got)
	}
}

func TestChangePolicyRefusals(t *testing.T) {
	a := activeAccount(t, "standard.v1")
	strict := ptr(mustPolicy(t, "strict.v1"))
	for _, c := range []struct {
		req  PolicyChange
		want string
	}{
		{PolicyChange{To: "standard.v1", Actor: "ana", Reason: "x"}, "already on policy standard.v1"},
		{PolicyChange{To: "strict", Actor: "ana", Reason: "x"}, "with its version"},
		{PolicyChange{To: "../strict.v1", Actor: "ana", Reason: "x"}, "with its version"},
		{PolicyChange{To: "strict.v1", Actor: "", Reason: "x"}, "actor is required"},
		{PolicyChange{To: "strict.v1", Actor: "ana", Reason: ""}, "reason"},
		{PolicyChange{To: "strict.v1", Actor: "ana", Reason: "bell\x07"}, "reason"},
		{PolicyChange{To: "strict.v2", Actor: "ana", Reason: "x"}, "was loaded for strict.v2"},
	} {
		to := strict
		if c.req.To == "standard.v1" {
			to = a.Policy
		}
		seq := a.EventSeq
		if _, err := a.ChangePolicy(c.req, to, t0.Add(day)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.req, err, c.want)
		}
		if a.Policy.ID() != "standard.v1" || a.EventSeq != seq {
			t.Errorf("a refused change changed the account")
		}
	}
	if _, err := a.Terminate(StaffAction{Actor: "ana", Reason: "closed"}, t0.Add(2*day)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChangePolicy(PolicyChange{To: "strict.v1", Actor: "ana", Reason: "x"}, strict, t0.Add(3*day)); err == nil ||
		!strings.Contains(err.Error(), "account is terminated") {
		t.Errorf("terminated account: %v", err)
	}
}

// Card charges across a change: attempts made stay made, the next is the
// new policy's attempt of the same number (moved with the ladder, or at
// once when passed), and a policy without collection charges no more.
func TestChangePolicyCardCharges(t *testing.T) {
	decline := declineWith("card_declined", "insufficient_funds", "")
	a := cardAccount(t)
	due := a.Invoices[0].DueAt
	if reqs := takeCharges(t, a, due.Add(4*day), decline); len(reqs) != 2 { // D0 and D+3 under standard.v2
		t.Fatalf("charges before the change = %+v", reqs)
	}
	now := due.Add(4*day + 12*time.Hour)
	change(t, a, "strict.v2", now)
	// strict.v2's third attempt is at D+4, passed: at once; its schedule
	// then is used up.
	if v := a.View(now); !v.Invoices[0].NextChargeAt.Equal(now) {
		t.Errorf("next charge at %s, want now %s", v.Invoices[0].NextChargeAt, now)
	}
	reqs := takeCharges(t, a, due.Add(40*day), decline)
	if len(reqs) != 1 || reqs[0].Attempt != 3 {
		t.Fatalf("charges after the change = %+v", reqs)
	}

	b := cardAccount(t)
	takeCharges(t, b, due.Add(4*day), decline)
	change(t, b, "standard.v1", now)
	if reqs := takeCharges(t, b, due.Add(40*day), decline); len(reqs) != 0 {
		t.Errorf("a policy without collection charged: %+v", reqs)
	}
}

// A paused invoice is late only as of its pause: moved during a promise,
// its next step comes when the promise is broken, not at the change.
func TestChangePolicyDuringPromise(t *testing.T) {
	a := activeAccount(t, "standard.v1")
	runUntil(a, t0.AddDate(0, 1, 0).Add(2*time.Hour))
	inv := a.Invoices[0]
	due := inv.DueAt
	runUntil(a, due.Add(8*day))
	if _, err := a.PromiseToPay(Promise{InvoiceID: inv.ID, Until: due.Add(15 * day), Actor: "ana"}, due.Add(8*day)); err != nil {
		t.Fatal(err)
	}
	change(t, a, "strict.v1", due.Add(10*day))
	if got := noticesOf(runUntil(a, due.Add(19*day)), inv); got != "final_notice@360h suspended@432h" {
		t.Errorf("notices = %q, want the final notice when the promise ends (day 15) and the suspension 3 days later", got)
	}
}
