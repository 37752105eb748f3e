package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
)

// subsApplication is a low-risk customer on pol with two subscriptions
// besides no plan fee: a yearly backup paid through a year ahead, and five
// seats billed monthly.
func subsApplication(pol string) Input {
	app := testApplication(pol)
	app.Plan.MonthlyFeeMinor = 0
	app.Subscriptions = []account.SubscriptionSpec{
		{SubscriptionID: "backup", Product: "Backup (yearly)", Quantity: 1, UnitPriceMinor: 120000, IntervalPeriods: 12,
			PaidThrough: start.AddDate(1, 0, 0)},
		{SubscriptionID: "seats", Product: "Office seats", Quantity: 5, UnitPriceMinor: 2000},
	}
	return Input{Application: app}
}

// provisionLog renders the provisioning actions sent as "action[subs]".
func (h *harness) provisionLog() string {
	var out []string
	for _, p := range h.provisions {
		out = append(out, fmt.Sprintf("%s%v", p.Action, p.Subscriptions))
	}
	return strings.Join(out, " ")
}

// statusAt keeps the status the query answers at a time.
func (h *harness) statusAt(at time.Time, into *account.StatusView) {
	h.at(at, func(env *testsuite.TestWorkflowEnvironment) {
		v, err := env.QueryWorkflow(QueryGetStatus.Name)
		if err != nil {
			h.t.Errorf("GetStatus at %s: %v", at, err)
			return
		}
		if err := v.Get(into); err != nil {
			h.t.Error(err)
		}
	})
}

func subStatuses(v account.StatusView) string {
	var out []string
	for _, s := range v.Subscriptions {
		out = append(out, s.ID+"="+string(s.Status))
	}
	return strings.Join(out, " ")
}

// Three subscriptions: one paid a year ahead, one unpaid, one paid. Under
// standard.v3 (suspend_scope unpaid_subscriptions) the ladder's suspension
// step suspends only the unpaid one; paying reinstates exactly it.
func TestOnlyTheUnpaidSubscriptionIsSuspended(t *testing.T) {
	h := cardHarness(t)
	// Storage is added on day 1: its first period, to the billing date of
	// Feb 1, is invoiced at once, prorated by day (30 of 31 days).
	update(h, start.Add(day), UpdateAddSubscription, "add-storage",
		account.SubscriptionSpec{SubscriptionID: "storage", Product: "Storage", Quantity: 1, UnitPriceMinor: 3100, Actor: "jane"})
	// Paid through its pay-now page, so the money goes to its invoice.
	update(h, start.Add(2*day), UpdateRecordPayment, "pay-storage", account.Payment{PaymentID: "pay-storage", AmountMinor: 3000,
		Currency: "USD", Method: "card", Reference: "INV-acme-0002", Actor: account.PayLinkActor})
	var beforeSuspension, suspended, reinstated account.StatusView
	h.statusAt(firstDue.Add(20*day), &beforeSuspension)
	h.statusAt(firstDue.Add(21*day+time.Hour), &suspended)
	update(h, firstDue.Add(25*day), UpdateRecordPayment, "pay-seats", account.Payment{PaymentID: "pay-seats", AmountMinor: 10000,
		Currency: "USD", Method: "card", Reference: firstInvoice, Actor: account.PayLinkActor})
	h.statusAt(firstDue.Add(25*day+time.Hour), &reinstated)
	h.run(subsApplication("standard"), firstDue.Add(26*day))

	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	// The first invoice bills the seats only: the backup is paid ahead.
	inv := h.invoice(firstInvoice)
	if inv.AmountMinor != 10000 || len(inv.Lines) != 1 || inv.Lines[0].SubscriptionID != "seats" || inv.Lines[0].Quantity != 5 {
		t.Errorf("first invoice = %d %+v", inv.AmountMinor, inv.Lines)
	}
	if inv := h.invoice("INV-acme-0002"); inv.AmountMinor != 3000 || inv.Status != account.InvoicePaid || inv.Lines[0].SubscriptionID != "storage" {
		t.Errorf("storage's first invoice = %d %s %+v", inv.AmountMinor, inv.Status, inv.Lines)
	}
	// Feb 1: seats and storage billed for February, the backup not.
	if inv := h.invoice("INV-acme-0003"); inv.AmountMinor != 13100 || len(inv.Lines) != 2 {
		t.Errorf("February invoice = %d %+v", inv.AmountMinor, inv.Lines)
	}
	if got := subStatuses(beforeSuspension); got != "backup=active seats=active storage=active" {
		t.Errorf("before the suspension step: %s", got)
	}
	if got := subStatuses(suspended); got != "backup=active seats=suspended storage=active" || suspended.Status != account.StatusPastDue {
		t.Errorf("after the suspension step: %s, status %s", got, suspended.Status)
	}
	if s := suspended.Subscriptions[1]; !slices.Equal(s.SuspendedFor, []string{account.ReasonNonPayment}) {
		t.Errorf("seats suspended for %v", s.SuspendedFor)
	}
	if got := subStatuses(reinstated); got != "backup=active seats=active storage=active" {
		t.Errorf("after payment: %s", got)
	}
	want := "activate[backup seats] activate_subscriptions[storage] suspend_subscriptions[seats] reinstate_subscriptions[seats]"
	if got := h.provisionLog(); got != want {
		t.Errorf("provisioning:\n got %s\nwant %s", got, want)
	}
	// The audit log and the emails name the subscription.
	var suspendedEv, reinstatedEv *account.Event
	for _, ev := range h.events() {
		switch ev.Type {
		case account.EventSubscriptionsSuspended:
			suspendedEv = &ev
		case account.EventSubscriptionsReinstated:
			reinstatedEv = &ev
		case account.EventAccountSuspended:
			t.Errorf("the account was suspended: %+v", ev)
		}
	}
	if suspendedEv == nil || suspendedEv.Detail["subscriptions"] != "seats (Office seats)" || suspendedEv.Notice == nil ||
		suspendedEv.Notice.Stage != "suspended" || suspendedEv.Notice.Detail["subscriptions"] != "seats (Office seats)" {
		t.Errorf("suspension event = %+v", suspendedEv)
	}
	if reinstatedEv == nil || reinstatedEv.Notice == nil || reinstatedEv.Notice.Detail["subscriptions"] != "seats (Office seats)" {
		t.Errorf("reinstatement event = %+v", reinstatedEv)
	}
}

// Under a policy without suspend_scope (standard.v2: the whole account),
// the same unpaid invoice suspends the account, paid-ahead subscription
// and all, and payment brings it all back.
func TestAccountScopeSuspendsEverySubscription(t *testing.T) {
	h := cardHarness(t)
	var suspended account.StatusView
	h.statusAt(firstDue.Add(21*day+time.Hour), &suspended)
	h.pay(firstDue.Add(25*day), "pay-seats", 10000)
	h.run(subsApplication("standard.v2"), firstDue.Add(26*day))
	if suspended.Status != account.StatusSuspended || subStatuses(suspended) != "backup=suspended seats=suspended" {
		t.Errorf("after the suspension step: %s %s", suspended.Status, subStatuses(suspended))
	}
	want := "activate[backup seats] suspend[backup seats] reinstate[backup seats]"
	if got := h.provisionLog(); got != want {
		t.Errorf("provisioning:\n got %s\nwant %s", got, want)
	}
}

// Misuse reported on one subscription suspends that subscription only; a
// review that finds no misuse reinstates it. A severe report suspends
// everything.
func TestMisuseOnOneSubscription(t *testing.T) {
	h := cardHarness(t)
	update(h, start.Add(day), UpdateReportAbuse, "spam", account.AbuseReport{NoticeID: "MS-1", Category: "spam", Source: account.SourceProvider,
		Severity: account.SeverityModerate, Detail: "outbound spam from a seat", SubscriptionID: "seats"})
	update(h, start.Add(day), UpdateReportAbuse, "unknown-sub", account.AbuseReport{NoticeID: "MS-X", Category: "spam", Source: account.SourceProvider,
		Detail: "x", SubscriptionID: "nosuch"})
	var during account.StatusView
	h.statusAt(start.Add(day+time.Hour), &during)
	update(h, start.Add(2*day), UpdateReviewDecision, "clear", account.Decision{Decision: account.DecisionReinstate, Actor: "jane", Note: "false positive"})
	update(h, start.Add(3*day), UpdateReportAbuse, "ddos", account.AbuseReport{NoticeID: "MS-2", Category: "ddos", Source: account.SourceProvider,
		Severity: account.SeveritySevere, Detail: "attack from the backup host", SubscriptionID: "backup"})
	var severe account.StatusView
	h.statusAt(start.Add(3*day+time.Hour), &severe)
	h.run(subsApplication("standard"), start.Add(4*day))

	if err := h.rejections["unknown-sub"]; err == nil || !strings.Contains(err.Error(), `subscription "nosuch" is not a live subscription`) {
		t.Errorf("a report naming an unknown subscription: %v", err)
	}
	delete(h.rejections, "unknown-sub")
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if got := subStatuses(during); got != "backup=active seats=suspended" || during.Status != account.StatusActive {
		t.Errorf("during the review: %s, status %s", got, during.Status)
	}
	if got := subStatuses(severe); got != "backup=suspended seats=suspended" || severe.Status != account.StatusSuspended {
		t.Errorf("after a severe report: %s, status %s", got, severe.Status)
	}
	want := "activate[backup seats] suspend_subscriptions[seats] reinstate_subscriptions[seats] suspend[backup seats]"
	if got := h.provisionLog(); got != want {
		t.Errorf("provisioning:\n got %s\nwant %s", got, want)
	}
}

// A quantity change mid-period takes effect with the next period billed:
// the invoice already issued is not changed. Bad changes are refused and
// change nothing.
func TestQuantityChangeMidPeriod(t *testing.T) {
	h := cardHarness(t)
	update(h, start.Add(10*day), UpdateChangeQuantity, "more-seats", account.QuantityChange{SubscriptionID: "seats", Quantity: 8, Actor: "jane"})
	update(h, start.Add(10*day), UpdateChangeQuantity, "zero", account.QuantityChange{SubscriptionID: "seats", Quantity: 0, Actor: "jane"})
	update(h, start.Add(10*day), UpdateChangeQuantity, "nosuch", account.QuantityChange{SubscriptionID: "nosuch", Quantity: 2, Actor: "jane"})
	update(h, start.Add(10*day), UpdateChangeQuantity, "hostile", account.QuantityChange{SubscriptionID: "seats\x00; DROP", Quantity: 2, Actor: "jane"})
	update(h, start.Add(11*day), UpdateCancelSubscription, "cancel-backup", account.Cancellation{SubscriptionID: "backup", When: account.CancelNow, Actor: "jane", Reason: "customer asked"})
	update(h, start.Add(11*day), UpdateCancelSubscription, "cancel-again", account.Cancellation{SubscriptionID: "backup", When: account.CancelNow, Actor: "jane", Reason: "twice"})
	update(h, start.Add(11*day), UpdateCancelSubscription, "cancel-when", account.Cancellation{SubscriptionID: "seats", When: "tomorrow", Actor: "jane", Reason: "x"})
	var after account.StatusView
	h.statusAt(start.Add(12*day), &after)
	h.pay(start.Add(12*day), "pay-1", 10000)
	h.run(subsApplication("standard"), time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC))

	for id, want := range map[string]string{
		"zero":         "quantity 0 must be between 1 and",
		"nosuch":       `subscription "nosuch" is not a subscription of customer acme`,
		"hostile":      "subscription_id",
		"cancel-again": "subscription backup is already cancelled",
		"cancel-when":  `when "tomorrow" must be period_end or now`,
	} {
		if err := h.rejections[id]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", id, err, want)
		}
		delete(h.rejections, id)
	}
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if seats := after.Subscriptions[1]; seats.Quantity != 5 || seats.NextQuantity != 8 {
		t.Errorf("seats after the change: %+v", seats)
	}
	if inv := h.invoice(firstInvoice); inv.AmountMinor != 10000 || inv.Lines[0].Quantity != 5 || inv.Status != account.InvoicePaid {
		t.Errorf("the January invoice changed: %d %+v", inv.AmountMinor, inv.Lines)
	}
	feb := h.invoice("INV-acme-0002")
	if feb.AmountMinor != 16000 || len(feb.Lines) != 1 || feb.Lines[0].Quantity != 8 || feb.Lines[0].SubscriptionID != "seats" {
		t.Errorf("February invoice = %d %+v", feb.AmountMinor, feb.Lines)
	}
	if !strings.Contains(h.provisionLog(), "cancel_subscriptions[backup]") {
		t.Errorf("cancellation not provisioned: %s", h.provisionLog())
	}
}

// Exemptions are honoured by the ladder and end at their expiry:
// enforcement_off sends the reminders but holds the suspension until it
// expires; no_dunning sends none; manual_pay charges nothing until it ends.
func TestExemptionsHonouredByTheLadder(t *testing.T) {
	t.Run("enforcement_off", func(t *testing.T) {
		h := cardHarness(t)
		update(h, start.Add(time.Hour), UpdateSetExemption, "exempt", account.ExemptionRequest{Exemption: account.ExemptEnforcementOff,
			Reason: "key account, CFO promised by phone", Actor: "jane", Until: firstDue.Add(30 * day)})
		var held account.StatusView
		h.statusAt(firstDue.Add(29*day), &held)
		h.run(Input{Application: testApplication("standard")}, firstDue.Add(31*day))
		if len(h.rejections) > 0 {
			t.Fatalf("rejected: %v", h.rejections)
		}
		if held.Status != account.StatusPastDue || len(held.Exemptions) != 1 || held.Exemptions[0].Actor != "jane" {
			t.Errorf("while exempt: status %s, exemptions %+v", held.Status, held.Exemptions)
		}
		want := "invoice_issued@D-14 upcoming@D-3 due@D+0 overdue_1@D+3 overdue_2@D+7 final_notice@D+14 suspended@D+30"
		if got := h.noticeDays(firstInvoice, firstDue); got != want {
			t.Errorf("notices:\n got %s\nwant %s", got, want)
		}
		types := h.eventTypes()
		if !slices.Contains(types, string(account.EventExemptionExpired)) || !slices.Contains(types, string(account.EventExemptionSet)) {
			t.Errorf("exemption not audited: %v", types)
		}
	})
	t.Run("no_dunning", func(t *testing.T) {
		h := cardHarness(t)
		update(h, start.Add(time.Hour), UpdateSetExemption, "exempt", account.ExemptionRequest{Exemption: account.ExemptNoDunning,
			Reason: "handled by the account manager", Actor: "jane", Until: firstDue.Add(5 * day)})
		h.run(Input{Application: testApplication("standard")}, firstDue.Add(8*day))
		// The invoice goes out; reminders resume after the expiry.
		if got, want := h.noticeDays(firstInvoice, firstDue), "invoice_issued@D-14 overdue_2@D+7"; got != want {
			t.Errorf("notices:\n got %s\nwant %s", got, want)
		}
		muted := 0
		for _, ev := range h.events() {
			if ev.Detail["muted"] == string(account.ExemptNoDunning) {
				muted++
			}
		}
		if muted != 3 {
			t.Errorf("%d ladder steps recorded as muted, want 3 (upcoming, due, overdue_1)", muted)
		}
	})
	t.Run("manual_pay", func(t *testing.T) {
		h := cardHarness(t)
		update(h, start.Add(time.Minute), UpdateSetExemption, "exempt", account.ExemptionRequest{Exemption: account.ExemptManualPay,
			Reason: "pays by bank transfer", Actor: "jane", Until: firstDue.Add(4 * day)})
		update(h, start.Add(time.Minute), UpdateSetExemption, "bad", account.ExemptionRequest{Exemption: "no_invoices", Reason: "x", Actor: "jane"})
		update(h, start.Add(time.Minute), UpdateSetExemption, "past", account.ExemptionRequest{Exemption: account.ExemptNoDunning, Reason: "x", Actor: "jane", Until: start.Add(-day)})
		update(h, start.Add(time.Minute), UpdateRemoveExemption, "not-set", account.ExemptionRemoval{Exemption: account.ExemptNoDunning, Reason: "x", Actor: "jane"})
		var exempt account.StatusView
		h.statusAt(firstDue.Add(day), &exempt)
		h.run(cardApplication("standard"), firstDue.Add(6*day))
		for id, want := range map[string]string{
			"bad":     `exemption "no_invoices" must be one of enforcement_off, no_dunning, manual_pay`,
			"past":    "is not in the future",
			"not-set": "has no exemption no_dunning",
		} {
			if err := h.rejections[id]; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %q", id, err, want)
			}
			delete(h.rejections, id)
		}
		if len(h.rejections) > 0 {
			t.Fatalf("rejected: %v", h.rejections)
		}
		if exempt.AutomaticCharging || exempt.Card == nil {
			t.Errorf("while manual_pay: automatic charging %v, card %+v", exempt.AutomaticCharging, exempt.Card)
		}
		// No charge while exempt; the expiry at D+4 lets the schedule
		// charge the card (the retry due at D+3, taken at once).
		if got := h.chargeLog(); got != "1/schedule@D+4" {
			t.Errorf("charges: %q", got)
		}
	})
}

// The provisioning system refuses a per-subscription suspension (5xx, then
// 409) for hours: the action stays queued, visible as failing and retried
// on the policy's schedule; a decision about another subscription meanwhile
// does not supersede it (each is needed), and both end up applied in order.
func TestFailingSubscriptionProvisioningIsRetriedNotSuperseded(t *testing.T) {
	h := cardHarness(t)
	misuseAt := start.Add(time.Hour)
	refuseUntil := misuseAt.Add(4 * time.Hour)
	h.provision = func(_ context.Context, in activities.ProvisionInput) error {
		if in.Action == account.ProvisionSuspendSubscriptions && h.env.Now().Before(refuseUntil) {
			if h.env.Now().Before(misuseAt.Add(time.Minute)) {
				return errors.New("provisioning webhook answered 503")
			}
			return temporal.NewNonRetryableApplicationError("provisioning webhook refused: 409", "ProvisioningRefused", nil)
		}
		return nil
	}
	update(h, misuseAt, UpdateReportAbuse, "spam", account.AbuseReport{NoticeID: "MS-1", Category: "spam", Source: account.SourceProvider,
		Severity: account.SeverityModerate, Detail: "spam", SubscriptionID: "seats"})
	// Another subscription is added and cancelled while seats' suspension
	// is failing: different subscriptions, so nothing is withdrawn.
	update(h, misuseAt.Add(time.Hour), UpdateAddSubscription, "add", account.SubscriptionSpec{SubscriptionID: "storage", Product: "Storage", Quantity: 1, UnitPriceMinor: 100})
	// Two requests racing for the same new subscription: one wins, the
	// other is refused and changes nothing.
	update(h, misuseAt.Add(time.Hour), UpdateAddSubscription, "add-again", account.SubscriptionSpec{SubscriptionID: "storage", Product: "Storage", Quantity: 1, UnitPriceMinor: 100})
	var failing, after account.StatusView
	h.statusAt(misuseAt.Add(2*time.Hour), &failing)
	h.statusAt(misuseAt.Add(12*time.Hour), &after)
	h.run(subsApplication("standard"), misuseAt.Add(13*time.Hour))

	if err := h.rejections["add-again"]; err == nil || !strings.Contains(err.Error(), `subscription "storage" already exists`) {
		t.Errorf("the second AddSubscription: %v", err)
	}
	delete(h.rejections, "add-again")
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if p := failing.Provisioning; p.State != account.ProvisioningFailing || !strings.Contains(p.LastError, "409") ||
		!slices.Equal(p.Pending, []account.Provision{account.ProvisionSuspendSubscriptions, account.ProvisionActivateSubscriptions}) {
		t.Errorf("while refused: %+v", p)
	}
	if after.Provisioning.State != account.ProvisioningInSync {
		t.Errorf("after the refusals ended: %+v", after.Provisioning)
	}
	want := "activate[backup seats] suspend_subscriptions[seats] activate_subscriptions[storage]"
	if got := h.provisionLog(); got != want {
		t.Errorf("provisioning applied:\n got %s\nwant %s", got, want)
	}
	if n := len(after.Subscriptions); n != 3 || subStatuses(after) != "backup=active seats=suspended storage=active" {
		t.Errorf("subscriptions after: %s", subStatuses(after))
	}
}

// A customer running from before subscriptions (its carried account has
// none) keeps its single plan fee until its first subscription update; then
// its plan becomes the subscription "plan", billed from its next billing
// date as before, beside the one added.
func TestRunningCustomerTurnsToSubscriptions(t *testing.T) {
	h := cardHarness(t)
	pol, err := h.wf.Policies.Get("standard.v2")
	if err != nil {
		t.Fatal(err)
	}
	acct := account.New(testApplication("standard.v2"), pol, "low", start)
	if _, err := acct.Approve(false, account.SystemActor, "approved", start); err != nil {
		t.Fatal(err)
	}
	acct.Invoices = nil // paid elsewhere: nothing open
	acct.Durable = true
	if acct.Subscribed {
		t.Fatal("an account from before subscriptions")
	}
	var before, after account.StatusView
	h.statusAt(start.Add(time.Hour), &before)
	update(h, start.Add(2*time.Hour), UpdateAddSubscription, "add", account.SubscriptionSpec{SubscriptionID: "storage", Product: "Storage", Quantity: 1, UnitPriceMinor: 3100})
	h.statusAt(start.Add(3*time.Hour), &after)
	h.run(Input{Application: acct.Customer, Carried: acct}, time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC))
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if len(before.Subscriptions) != 0 {
		t.Errorf("subscriptions before the first update: %+v", before.Subscriptions)
	}
	if got := subStatuses(after); got != "plan=active storage=active" {
		t.Errorf("after AddSubscription: %s", got)
	}
	var feb *account.Invoice
	for _, ev := range h.events() {
		if ev.Type == account.EventInvoiceIssued && ev.Invoice.PeriodStart.Month() == time.February {
			feb = ev.Invoice
		}
	}
	if feb == nil || feb.AmountMinor != 10000+3100 || len(feb.Lines) != 2 || feb.Lines[0].SubscriptionID != account.PlanSubscriptionID {
		t.Errorf("February invoice = %+v", feb)
	}
}
