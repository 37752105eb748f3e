package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
)

func changeTo(to, reason string) account.PolicyChange {
	return account.PolicyChange{To: to, Actor: "ana", Reason: reason}
}

// A customer moved from standard.v1 to strict.v1 at 8 days past due: the
// change is recorded with its actor and reason, the ladder goes on from
// strict's first step not reached (final_notice, now) and the suspension
// follows at strict's spacing; refusals change nothing.
func TestChangePolicy(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	// The first invoice: issued a month after the prepayment, due 14 days later.
	due := start.Add(time.Hour).AddDate(0, 1, 0).Add(14 * day)
	at := due.Add(8 * day)
	var recordsBefore int
	h.at(at.Add(-time.Minute), func(*testsuite.TestWorkflowEnvironment) { recordsBefore = len(h.records) })
	for id, req := range map[string]account.PolicyChange{
		"unknown":    changeTo("nope.v1", "x"),
		"same":       changeTo("standard.v1", "x"),
		"unversion":  changeTo("strict", "x"),
		"no-reason":  changeTo("strict.v1", ""),
		"bad-reason": changeTo("strict.v1", "tier\x00"),
	} {
		update(h, at.Add(-30*time.Second), UpdateChangePolicy, id, req)
	}
	var recordsAfterRefusals int
	h.at(at.Add(-10*time.Second), func(*testsuite.TestWorkflowEnvironment) { recordsAfterRefusals = len(h.records) })
	update(h, at, UpdateChangePolicy, "move", changeTo("strict.v1", "moved to the high-risk tier"))
	h.run(Input{Application: testApplication("standard.v1")}, due.Add(20*day))

	for id, want := range map[string]string{
		"unknown": `unknown policy "nope.v1"`, "same": "already on policy standard.v1", "unversion": "with its version",
		"no-reason": "reason", "bad-reason": "NUL",
	} {
		if err := h.rejections[id]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", id, err, want)
		}
	}
	if recordsAfterRefusals != recordsBefore {
		t.Errorf("refused changes recorded something: %d -> %d", recordsBefore, recordsAfterRefusals)
	}
	if err := h.rejections["move"]; err != nil {
		t.Fatal(err)
	}
	if v, ok := h.results["move"].(account.StatusView); !ok || v.Policy != "strict.v1" {
		t.Errorf("result = %+v", h.results["move"])
	}
	var changed *account.Event
	for _, ev := range h.events() {
		if ev.Type == account.EventPolicyChanged {
			changed = &ev
			break
		}
	}
	if changed == nil || changed.Actor != "ana" || changed.Reason != "moved to the high-risk tier" || !changed.At.Equal(at) ||
		changed.Detail["policy_from"] != "standard.v1" || changed.Detail["policy_to"] != "strict.v1" {
		t.Errorf("audit event = %+v", changed)
	}
	inv := "INV-acme-0002"
	if got := h.noticeDays(inv, due); got != "invoice_issued@D-14 upcoming@D-3 due@D+0 overdue_1@D+3 overdue_2@D+7 final_notice@D+8 suspended@D+11" {
		t.Errorf("notices = %s", got)
	}
	if got := h.invoice(inv); got.Stage != "suspended" {
		t.Errorf("stage = %s", got.Stage)
	}
}

// A terminated customer does not move (sent in the same instant: once its
// workflow has ended, nothing reaches it at all).
func TestChangePolicyTerminated(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	h.at(start.Add(day), func(env *testsuite.TestWorkflowEnvironment) {
		send(h, env, UpdateTerminate, "end", account.StaffAction{Actor: "ana", Reason: "closed"})
		send(h, env, UpdateChangePolicy, "move", changeTo("strict.v1", "tier"))
	})
	h.run(Input{Application: testApplication("standard.v1")}, start.Add(2*day))
	if err := h.rejections["end"]; err != nil {
		t.Fatal(err)
	}
	if err := h.rejections["move"]; err == nil || !strings.Contains(err.Error(), "account is terminated") {
		t.Errorf("move after termination: %v", err)
	}
}

// Two ChangePolicy requests racing (a caller retrying): both pass the
// validator against the old policy, the handler checks again, so one
// moves the customer and the other is refused; one change is recorded.
func TestChangePolicyRacing(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	h.at(start.Add(day), func(env *testsuite.TestWorkflowEnvironment) {
		send(h, env, UpdateChangePolicy, "first", changeTo("strict.v1", "tier"))
		send(h, env, UpdateChangePolicy, "retry", changeTo("strict.v1", "tier"))
		send(h, env, UpdateRecordPayment, "pay", account.Payment{PaymentID: "p-race", AmountMinor: 500, Currency: "USD", Method: "bank_transfer"})
	})
	h.run(Input{Application: testApplication("standard.v1")}, start.Add(2*day))
	ok, refused := 0, 0
	for _, id := range []string{"first", "retry"} {
		switch err := h.rejections[id]; {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "already on policy strict.v1"):
			refused++
		default:
			t.Errorf("%s: %v", id, err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Errorf("%d moved, %d refused; want one each", ok, refused)
	}
	if err := h.rejections["pay"]; err != nil {
		t.Errorf("payment beside the change: %v", err)
	}
	changes := 0
	for _, ev := range h.events() {
		if ev.Type == account.EventPolicyChanged {
			changes++
		}
	}
	if changes != 1 {
		t.Errorf("%d policy.changed events recorded, want 1", changes)
	}
}
