package account

import (
	"fmt"
	"testing"
	"time"

	"github.com/example/dunning/policy"
)

// cardAccount is an active standard.v2 account with a card on file that
// collects automatically.
func cardAccount(t *testing.T) *Account {
	t.Helper()
	a := activeAccount(t, "standard.v2")
	a.Collecting = true
	a.CardFromApplication(CardOnFile{PaymentMethodID: "pm_1", GatewayCustomerID: "cus_1", Brand: "visa", Last4: "4242"}, t0.Add(2*time.Hour))
	if !a.Collects() {
		t.Fatal("the account does not collect")
	}
	runUntil(a, a.NextBillingAt) // the first invoice after the prepaid period
	if len(a.Invoices) != 1 {
		t.Fatalf("invoices = %+v", a.Invoices)
	}
	return a
}

// takeCharges advances to until, answering every charge with answer, and
// returns the requests in order.
func takeCharges(t *testing.T, a *Account, until time.Time, answer func(ChargeRequest) ChargeOutcome) []ChargeRequest {
	t.Helper()
	var reqs []ChargeRequest
	for guard := 0; guard < 1000; guard++ {
		at, _, ok := a.NextWake()
		if !ok || at.After(until) {
			return reqs
		}
		for _, ev := range a.Advance(at) {
			if ev.Charge != nil {
				reqs = append(reqs, *ev.Charge)
				a.ChargeSettled(answer(*ev.Charge), at)
			}
		}
	}
	t.Fatal("no end")
	return nil
}

func declineWith(code, declineCode, advice string) func(ChargeRequest) ChargeOutcome {
	return func(r ChargeRequest) ChargeOutcome {
		return ChargeOutcome{Key: r.Key, InvoiceID: r.InvoiceID, Attempt: r.Attempt, Outcome: ChargeDeclined, Currency: r.Currency,
			Code: code, DeclineCode: declineCode, AdviceCode: advice}
	}
}

// The networks' limit: on a policy allowing two attempts a window, the
// third waits until the first leaves the window.
func TestNetworkLimitDefersAttempts(t *testing.T) {
	a := cardAccount(t)
	col := *a.Policy.Collection
	col.NetworkAttempts, col.NetworkWindow = 2, 10*24*time.Hour
	a.Policy.Collection = &col
	inv := a.Invoices[0]
	due := inv.DueAt
	takeCharges(t, a, due.Add(4*24*time.Hour), declineWith("card_declined", "insufficient_funds", ""))
	// Attempts at D0 and D+3; the schedule's D+5 must wait for D+10,
	// when the first leaves the window.
	v := a.View(due.Add(4 * 24 * time.Hour))
	if v.Invoices[0].ChargeAttempts != 2 || !v.Invoices[0].NextChargeAt.Equal(due.Add(10*24*time.Hour)) {
		t.Errorf("after two attempts: %d, next at %s (want D+10 = %s)", v.Invoices[0].ChargeAttempts, v.Invoices[0].NextChargeAt, due.Add(10*24*time.Hour))
	}
	if n := len(a.Card.Attempts); n > 2 {
		t.Errorf("the card keeps %d attempts, more than the limit", n)
	}
}

// The limit counted on real attempts: at most NetworkAttempts within any
// window, whatever the schedule says.
func TestNetworkLimitNeverExceeded(t *testing.T) {
	a := cardAccount(t)
	col := *a.Policy.Collection
	col.NetworkAttempts, col.NetworkWindow = 2, 10*24*time.Hour
	a.Policy.Collection = &col
	var times []time.Time
	for guard := 0; guard < 200; guard++ {
		at, _, ok := a.NextWake()
		if !ok || at.After(t0.AddDate(0, 3, 0)) {
			break
		}
		for _, ev := range a.Advance(at) {
			if ev.Charge != nil {
				times = append(times, at)
				a.ChargeSettled(declineWith("processing_error", "", "")(*ev.Charge), at)
			}
		}
	}
	if len(times) < 4 {
		t.Fatalf("only %d attempts in three months", len(times))
	}
	for i := 2; i < len(times); i++ {
		if times[i].Sub(times[i-2]) < col.NetworkWindow {
			t.Errorf("attempts %d and %d within %s: %s, %s", i-2, i, col.NetworkWindow, times[i-2], times[i])
		}
	}
}

// Each decline category leaves the card as the policy says.
func TestDeclineCategoriesBlockTheCard(t *testing.T) {
	for _, tc := range []struct {
		code, decline, advice string
		blocked               policy.DeclineCategory
		suspended, review     bool
		notice                string
	}{
		{"card_declined", "insufficient_funds", "try_again_later", "", false, false, ""},
		{"expired_card", "", "", policy.DeclineAfterCardChange, false, false, "card_action_required"},
		{"authentication_required", "", "", policy.DeclineAfterCardChange, false, false, "card_action_required"},
		{"card_declined", "pickup_card", "", policy.DeclineNever, false, true, ""},
		{"card_declined", "generic_decline", policy.AdviceDoNotTryAgain, policy.DeclineNever, false, true, ""},
		{"card_declined", "fraudulent", "", policy.DeclineFraud, true, true, ""},
	} {
		t.Run(tc.code+"/"+tc.decline+"/"+tc.advice, func(t *testing.T) {
			a := cardAccount(t)
			inv := a.Invoices[0]
			runUntil(a, inv.DueAt.Add(-time.Second))
			events := a.Advance(inv.DueAt)
			var req *ChargeRequest
			for _, ev := range events {
				if ev.Charge != nil {
					req = ev.Charge
				}
			}
			if req == nil || req.Attempt != 1 || req.AmountMinor != inv.Outstanding() {
				t.Fatalf("no first charge on the due date: %+v", events)
			}
			settled := a.ChargeSettled(declineWith(tc.code, tc.decline, tc.advice)(*req), inv.DueAt.Add(time.Second))
			if a.Card.Blocked != tc.blocked {
				t.Errorf("card blocked = %q, want %q", a.Card.Blocked, tc.blocked)
			}
			_, suspended := a.Suspensions[ReasonMisuse]
			if suspended != tc.suspended || (len(a.Reviews) > 0) != tc.review {
				t.Errorf("suspended %v (want %v), reviews %d (want review %v)", suspended, tc.suspended, len(a.Reviews), tc.review)
			}
			var notice string
			for _, ev := range settled {
				if ev.Notice != nil && !ev.Notice.Staff && ev.Notice.Template == "card_action_required" {
					notice = ev.Notice.Template
				}
			}
			if notice != tc.notice {
				t.Errorf("notice = %q, want %q", notice, tc.notice)
			}
			_, scheduled := a.chargeAt(inv)
			if scheduled != (tc.blocked == "") {
				t.Errorf("another attempt scheduled = %v with the card blocked %q", scheduled, tc.blocked)
			}
		})
	}
}

// A chargeback on a paid invoice reopens it disputed; won, it is paid again.
func TestChargebackWonPaysAgain(t *testing.T) {
	a := cardAccount(t)
	inv := a.Invoices[0]
	due := inv.DueAt
	takeCharges(t, a, due, func(r ChargeRequest) ChargeOutcome {
		return ChargeOutcome{Key: r.Key, InvoiceID: r.InvoiceID, Attempt: r.Attempt, Outcome: ChargeSucceeded, PaymentIntentID: "pi_1",
			AmountMinor: r.AmountMinor, Currency: r.Currency}
	})
	if len(a.Invoices) != 0 || a.Payments["pi_1"].AmountMinor != inv.AmountMinor {
		t.Fatalf("not paid: %+v", a.Invoices)
	}
	closed := *inv
	closed.Status, closed.PaidMinor = InvoicePaid, inv.AmountMinor
	cb := Chargeback{DisputeID: "dp_1", PaymentID: "pi_1", InvoiceID: inv.ID, AmountMinor: inv.AmountMinor, Currency: "USD", Reason: "product_not_received"}
	if _, err := a.RecordChargeback(cb, &closed, due.Add(2*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(a.Invoices) != 1 || !a.Invoices[0].Disputed || a.Invoices[0].Outstanding() != inv.AmountMinor || a.Status != StatusActive {
		t.Fatalf("after the chargeback: %+v %s", a.Invoices, a.Status)
	}
	if _, err := a.RecordChargeback(cb, &closed, due.Add(3*24*time.Hour)); err == nil {
		t.Error("the same dispute recorded twice")
	}
	events, err := a.CloseChargeback(ChargebackClosure{DisputeID: "dp_1", Outcome: ChargebackWon}, due.Add(5*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Invoices) != 0 || a.RiskTier == RiskTierHigh {
		t.Errorf("after winning: invoices %+v, risk %s", a.Invoices, a.RiskTier)
	}
	if !hasEvent(events, EventInvoicePaid) {
		t.Errorf("no invoice.paid after winning: %v", events)
	}
}

func hasEvent(events []Event, typ EventType) bool {
	for _, ev := range events {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

// A promise to pay moves the retries with the reminders, and attempts that
// fell due together (a worker down) are made once, not one after another.
func TestRetriesFollowPausesAndCatchUpOnce(t *testing.T) {
	a := cardAccount(t)
	inv := a.Invoices[0]
	due := inv.DueAt
	day := 24 * time.Hour
	var times []int
	answer := func(r ChargeRequest) ChargeOutcome {
		return declineWith("card_declined", "insufficient_funds", "")(r)
	}
	advanceTo := func(until time.Time) {
		for guard := 0; guard < 100; guard++ {
			at, _, ok := a.NextWake()
			if !ok || at.After(until) {
				return
			}
			for _, ev := range a.Advance(at) {
				if ev.Charge != nil && ev.Charge.InvoiceID == inv.ID {
					times = append(times, int(at.Sub(due)/day))
					a.ChargeSettled(answer(*ev.Charge), at)
				}
			}
		}
	}
	advanceTo(due.Add(day))
	if _, err := a.PromiseToPay(Promise{InvoiceID: inv.ID, Until: due.Add(11 * day), Actor: "jane"}, due.Add(day)); err != nil {
		t.Fatal(err)
	}
	advanceTo(due.Add(16 * day))
	// D0, then the schedule's D+3 and D+5 moved by the 10-day pause.
	if got := fmt.Sprint(times); got != "[0 13 15]" {
		t.Errorf("attempts on days %s, want [0 13 15]", got)
	}
	// The worker is down from D+16 to D+31: D+18 and D+23 (moved) fell
	// due; one attempt at D+31 takes the latest one's place.
	if v, _ := a.chargeAt(inv); v.After(due.Add(31 * day)) {
		t.Fatalf("next attempt %s", v)
	}
	events := a.Advance(due.Add(31 * day))
	n := 0
	for _, ev := range events {
		if ev.Charge != nil && ev.Charge.InvoiceID == inv.ID { // the next invoice is charged on its own due date
			n++
			a.ChargeSettled(answer(*ev.Charge), due.Add(31*day))
		}
	}
	if _, more := a.chargeAt(inv); n != 1 || more {
		t.Errorf("after the catch-up: %d attempts at once, more scheduled: %v", n, more)
	}
}

// A charge pays its own invoice first, not the oldest open one: paid to
// another, its own would stay open and be charged again.
func TestChargePaysItsOwnInvoice(t *testing.T) {
	a := cardAccount(t)
	older := a.Invoices[0]
	older.Disputed = false
	runUntil(a, a.NextBillingAt.Add(-time.Hour)) // the first invoice's charges, all declined below
	for _, inv := range a.Invoices {
		if inv.Charge != nil {
			inv.Charge.InFlight, inv.Charge.Sent = 0, nil
		}
	}
	a.Card.Blocked = policy.DeclineAfterCardChange // no more charges of the older invoice
	runUntil(a, a.NextBillingAt)
	if len(a.Invoices) != 2 {
		t.Fatalf("invoices = %d", len(a.Invoices))
	}
	newer := a.Invoices[1]
	a.Card.Blocked = ""
	events := a.ChargeSettled(ChargeOutcome{Key: "k", InvoiceID: newer.ID, Attempt: 1, Outcome: ChargeSucceeded, PaymentIntentID: "pi_new",
		AmountMinor: newer.Outstanding(), Currency: "USD"}, a.NextBillingAt)
	if !a.HasOpenInvoice(older.ID) || a.HasOpenInvoice(newer.ID) {
		t.Errorf("after the charge of %s: open %v", newer.ID, a.Invoices)
	}
	if !hasEvent(events, EventInvoicePaid) {
		t.Errorf("no invoice paid: %+v", events)
	}
}
