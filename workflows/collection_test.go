package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/policy"
)

// cardHarness is a low-risk customer on pol whose application names a card:
// service starts at once and the first invoice is due 14 days later.
func cardHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.screening = activities.ScreenResult{Screening: account.Screening{Outcome: account.OutcomeApprove, Tier: "low", Summary: "low risk"}}
	return h
}

func cardApplication(pol string) Input {
	app := testApplication(pol)
	app.PaymentInstrument.PaymentMethodID = "pm_card_visa4242"
	return Input{Application: app}
}

// The first invoice of a customer approved at start.
const firstInvoice = "INV-acme-0001"

var firstDue = start.Add(14 * day)

func (h *harness) chargeLog() string {
	var out []string
	for _, c := range h.charges {
		out = append(out, fmt.Sprintf("%d/%s@D%+d", c.Request.Attempt, c.Request.Trigger, int(h.chargeAt(c).Sub(firstDue).Round(time.Hour)/day)))
	}
	return strings.Join(out, " ")
}

// chargeAt is when the charge was requested (its event).
func (h *harness) chargeAt(c activities.ChargeInput) time.Time {
	for _, ev := range h.events() {
		if ev.Charge != nil && ev.Charge.Key == c.Request.Key {
			return ev.At
		}
	}
	h.t.Fatalf("charge %s has no event", c.Request.Key)
	return time.Time{}
}

func (h *harness) payments() []account.RecordedPayment {
	var out []account.RecordedPayment
	for _, ev := range h.events() {
		if ev.Payment != nil {
			out = append(out, *ev.Payment)
		}
	}
	return out
}

func (h *harness) lastStatus() string { return h.records[len(h.records)-1].Customer.Status }

// A soft decline on the due date is retried on the schedule and recovered;
// the reminder due with the retry is not sent, as the invoice is paid first.
func TestCardSoftDeclineRecoveredByRetry(t *testing.T) {
	h := cardHarness(t)
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		if in.Request.Attempt == 1 {
			return declined(in, "card_declined", "insufficient_funds", "try_again_later"), nil
		}
		return charged(in), nil
	}
	h.run(cardApplication("standard"), firstDue.Add(10*day))
	if got := h.chargeLog(); got != "1/schedule@D+0 2/schedule@D+3" {
		t.Errorf("charges = %s", got)
	}
	if inv := h.invoice(firstInvoice); inv.Status != account.InvoicePaid {
		t.Errorf("invoice = %+v", inv)
	}
	pays := h.payments()
	if len(pays) != 1 || pays[0].PaymentID != "pi_acme_INV-acme-0001_charge_2" || pays[0].AmountMinor != 10000 || pays[0].Method != "card" {
		t.Fatalf("payments = %+v", pays)
	}
	if got := h.noticeDays(firstInvoice, firstDue); got != "invoice_issued@D-14 upcoming@D-3 due@D+0" {
		t.Errorf("notices = %s", got)
	}
	for _, ev := range h.events() {
		if ev.Type == account.ChargeEvent(account.ChargeDeclined) && ev.Detail["category"] != string(policy.DeclineRetryLater) {
			t.Errorf("decline recorded as %v", ev.Detail)
		}
		if ev.Type == account.EventPaymentRecorded && ev.Actor != account.GatewayActor {
			t.Errorf("payment recorded by %q, want the gateway", ev.Actor)
		}
	}
}

// Every retry-later decline uses the schedule, and no more: six attempts
// under standard.v2, then reminders only.
func TestCardScheduleEndsBeforeSuspension(t *testing.T) {
	h := cardHarness(t)
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		return declined(in, "processing_error", "", ""), nil
	}
	h.run(cardApplication("standard"), firstDue.Add(25*day))
	if got := h.chargeLog(); got != "1/schedule@D+0 2/schedule@D+3 3/schedule@D+5 4/schedule@D+8 5/schedule@D+13 6/schedule@D+20" {
		t.Errorf("charges = %s", got)
	}
	if got := h.lastStatus(); got != string(account.StatusSuspended) {
		t.Errorf("status = %s, want suspended for non-payment at D+21", got)
	}
}

// An expired card is not retried; the customer is asked to update it, and
// the new card is charged at once for what is overdue.
func TestCardChangeRetriedAtOnce(t *testing.T) {
	h := cardHarness(t)
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		if in.Request.PaymentMethodID == "pm_card_visa4242" {
			return declined(in, "expired_card", "", ""), nil
		}
		return charged(in), nil
	}
	update(h, firstDue.Add(6*day), UpdateSetPaymentMethod, "new-card", account.CardUpdate{PaymentMethodID: "pm_card_mastercard4444", Actor: "jane"})
	h.run(cardApplication("standard"), firstDue.Add(10*day))
	if err := h.rejections["new-card"]; err != nil {
		t.Fatal(err)
	}
	if got := h.chargeLog(); got != "1/schedule@D+0 2/card_update@D+6" {
		t.Errorf("charges = %s", got)
	}
	if got := h.noticeDays(firstInvoice, firstDue); !strings.Contains(got, "card_action@D+0") || !strings.Contains(got, "overdue_1@D+3") {
		t.Errorf("notices = %s", got)
	}
	if inv := h.invoice(firstInvoice); inv.Status != account.InvoicePaid {
		t.Errorf("invoice = %+v", inv)
	}
	view := h.results["new-card"].(account.StatusView)
	if view.Card == nil || view.Card.Last4 != "4444" || view.Card.Blocked != "" {
		t.Errorf("card after the update = %+v", view.Card)
	}
}

// A card the gateway refuses is refused to the caller, and nothing changes.
func TestCardRefusedByGatewayChangesNothing(t *testing.T) {
	h := cardHarness(t)
	h.attachWith = func(in activities.AttachCardInput) (account.CardOnFile, error) {
		if in.PaymentMethodID == "pm_card_visa4242" {
			return account.CardOnFile{PaymentMethodID: in.PaymentMethodID, GatewayCustomerID: "cus_acme", Brand: "visa", Last4: "4242"}, nil
		}
		return account.CardOnFile{}, temporal.NewNonRetryableApplicationError("No such PaymentMethod", activities.ErrCardRefused, nil)
	}
	update(h, start.Add(day), UpdateSetPaymentMethod, "bad-card", account.CardUpdate{PaymentMethodID: "pm_nosuchcard", Actor: "jane"})
	update(h, start.Add(day), UpdateSetPaymentMethod, "malformed", account.CardUpdate{PaymentMethodID: "4242424242424242", Actor: "jane"})
	h.run(cardApplication("standard"), start.Add(2*day))
	if err := h.rejections["bad-card"]; err == nil || !strings.Contains(err.Error(), "No such PaymentMethod") {
		t.Errorf("refused card: %v", err)
	}
	if err := h.rejections["malformed"]; err == nil || !strings.Contains(err.Error(), "payment_method_id") {
		t.Errorf("a card number instead of a payment method: %v", err)
	}
	for _, ev := range h.events() {
		if ev.Type == account.EventCardUpdated && ev.Detail["payment_method"] != "pm_card_visa4242" {
			t.Errorf("card changed: %+v", ev)
		}
	}
}

// A lost card is never retried and opens a fraud review; a stolen one also
// suspends the account under the misuse rules at once.
func TestCardNeverRetriedAndFraud(t *testing.T) {
	for _, tc := range []struct {
		decline    string
		wantStatus account.Status
	}{
		{"lost_card", account.StatusPastDue},
		{"stolen_card", account.StatusSuspended},
	} {
		t.Run(tc.decline, func(t *testing.T) {
			h := cardHarness(t)
			h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
				return declined(in, "card_declined", tc.decline, policy.AdviceDoNotTryAgain), nil
			}
			// Before the review's deadline (an undecided misuse review
			// suspends when it lapses).
			h.run(cardApplication("standard"), firstDue.Add(day))
			if got := h.chargeLog(); got != "1/schedule@D+0" {
				t.Errorf("charges = %s", got)
			}
			if got := h.lastStatus(); got != string(tc.wantStatus) {
				t.Errorf("status = %s, want %s", got, tc.wantStatus)
			}
			var review *account.Review
			for _, ev := range h.events() {
				if ev.Review != nil && ev.Review.Source == account.SourceGateway {
					review = ev.Review
				}
			}
			if review == nil || review.Category != account.CategoryPaymentFraud || review.NoticeID != "acme:INV-acme-0001:charge:1" {
				t.Fatalf("fraud review = %+v", review)
			}
			if tc.decline == "stolen_card" && review.Severity != account.SeveritySevere {
				t.Errorf("stolen card review severity = %s", review.Severity)
			}
		})
	}
}

// A charge whose answer is lost (the activity times out, the worker dies)
// is asked again under the same key until answered: one payment.
func TestCardUnknownOutcomeSettledOnce(t *testing.T) {
	h := cardHarness(t)
	calls := 0
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		calls++
		if calls <= 3 {
			return account.ChargeOutcome{}, temporal.NewApplicationError("payment gateway: read timeout", "GatewayUnavailable")
		}
		return charged(in), nil
	}
	h.run(cardApplication("standard"), firstDue.Add(3*day))
	keys := map[string]bool{}
	for _, c := range h.charges {
		keys[c.Request.Key] = true
	}
	if len(h.charges) != 4 || len(keys) != 1 {
		t.Errorf("charge requests = %d under %d keys, want 4 under one", len(h.charges), len(keys))
	}
	if pays := h.payments(); len(pays) != 1 {
		t.Errorf("payments = %+v", pays)
	}
	if got := h.noticeDays(firstInvoice, firstDue); got != "invoice_issued@D-14 upcoming@D-3" {
		t.Errorf("notices = %s (no due reminder while the charge is answered)", got)
	}
}

// A payment the gateway's webhook recorded first makes the charge's own
// answer a duplicate, not a second payment.
func TestCardWebhookFirstIsOnePayment(t *testing.T) {
	h := cardHarness(t)
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) { return charged(in), nil }
	pi := "pi_acme_INV-acme-0001_charge_1"
	update(h, firstDue.Add(-time.Minute), UpdateRecordPayment, "webhook", account.Payment{PaymentID: pi, AmountMinor: 10000, Currency: "USD",
		Method: "card", Reference: firstInvoice, Actor: account.PayLinkActor})
	h.run(cardApplication("standard"), firstDue.Add(2*day))
	if pays := h.payments(); len(pays) != 1 || pays[0].PaymentID != pi {
		t.Errorf("payments = %+v", pays)
	}
	if len(h.charges) != 0 {
		t.Errorf("a paid invoice was charged: %+v", h.charges)
	}
}

// A chargeback reopens the paid invoice, disputed, with a review; lost, the
// invoice is owed again (reminders resume from the first overdue step, no
// automatic charge) and the customer's risk is high.
func TestChargebackReopensInvoice(t *testing.T) {
	h := cardHarness(t)
	pi := "pi_acme_INV-acme-0001_charge_1"
	h.closed = map[string]*account.Invoice{firstInvoice: {ID: firstInvoice, Kind: account.KindSubscription, Status: account.InvoicePaid,
		Currency: "USD", AmountMinor: 10000, PaidMinor: 10000, IssuedAt: start, DueAt: firstDue, PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0), Stage: "upcoming"}}
	cb := account.Chargeback{DisputeID: "dp_1", PaymentID: pi, InvoiceID: firstInvoice, AmountMinor: 10000, Currency: "USD", Reason: "fraudulent"}
	update(h, firstDue.Add(2*day), UpdateRecordChargeback, "cb", cb)
	update(h, firstDue.Add(2*day+time.Hour), UpdateRecordChargeback, "cb-again", cb)
	update(h, firstDue.Add(4*day), UpdateCloseChargeback, "lost", account.ChargebackClosure{DisputeID: "dp_1", Outcome: account.ChargebackLost})
	update(h, firstDue.Add(4*day+time.Hour), UpdateCloseChargeback, "unknown", account.ChargebackClosure{DisputeID: "dp_9", Outcome: account.ChargebackWon})
	h.run(cardApplication("standard"), firstDue.Add(9*day))
	if err := h.rejections["cb"]; err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cb-again", "unknown"} {
		if h.rejections[id] == nil {
			t.Errorf("%s accepted", id)
		}
	}
	view := h.results["lost"].(account.StatusView)
	if view.RiskTier != account.RiskTierHigh || view.LostChargebacks != 1 || len(view.Invoices) != 1 || view.Invoices[0].OutstandingMinor != 10000 || view.Invoices[0].Disputed {
		t.Errorf("after the lost chargeback: %+v", view)
	}
	if !slices.ContainsFunc(view.Reviews, func(r account.Review) bool { return r.Category == account.CategoryChargeback }) {
		t.Errorf("no chargeback review: %+v", view.Reviews)
	}
	if got := h.chargeLog(); got != "1/schedule@D+0" {
		t.Errorf("charges = %s: a charged-back invoice is not charged again", got)
	}
	// Reminders resume as if due at the chargeback: overdue_1 three days
	// after it, paused while it was open (two days).
	if got := h.noticeDays(firstInvoice, firstDue); !strings.HasSuffix(got, "overdue_1@D+7") {
		t.Errorf("notices = %s", got)
	}
}

// A v1 policy never charges, even with a card on file: running customers
// keep their version.
func TestV1PolicyNeverCharges(t *testing.T) {
	h := cardHarness(t)
	h.run(cardApplication("standard.v1"), firstDue.Add(5*day))
	if len(h.charges) != 0 {
		t.Errorf("standard.v1 charged: %+v", h.charges)
	}
	var cancelled *temporal.CanceledError
	if !errors.As(h.err, &cancelled) {
		t.Errorf("workflow ended with %v", h.err)
	}
}

// A charge whose answer is still awaited when the run continues as new (the
// gateway away past noticeCarryAfter when the next invoice is issued) is
// asked again by the next run as it was sent: same key, same amount, one
// payment. (The test environment stops retrying an activity after ten
// attempts, so the outage starts twelve minutes before the billing time and
// the gateway asks for two minutes between tries, as a 429 does.)
func TestCardChargeCarriedAcrossContinueAsNew(t *testing.T) {
	h := cardHarness(t)
	nextIssue := start.AddDate(0, 1, 0)
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		switch {
		case in.Request.Trigger != account.TriggerCardUpdate:
			return declined(in, "processing_error", "", ""), nil
		case h.env.Now().Before(nextIssue):
			return account.ChargeOutcome{}, temporal.NewApplicationErrorWithOptions("payment gateway: 429", "GatewayUnavailable",
				temporal.ApplicationErrorOptions{NextRetryDelay: 2 * time.Minute})
		}
		return charged(in), nil
	}
	update(h, nextIssue.Add(-12*time.Minute), UpdateSetPaymentMethod, "new-card", account.CardUpdate{PaymentMethodID: "pm_card_mastercard4444"})
	h.run(cardApplication("standard"), nextIssue.Add(day))
	if h.runs < 1 {
		t.Fatal("no continue-as-new while the charge was awaited")
	}
	var carried []activities.ChargeInput
	for _, c := range h.charges {
		if c.Request.Trigger == account.TriggerCardUpdate {
			carried = append(carried, c)
		}
	}
	if len(carried) < 2 || carried[0].Request != carried[len(carried)-1].Request {
		t.Fatalf("the carried attempt changed or was not asked again: %+v", carried)
	}
	requested, paid := 0, 0
	for _, ev := range h.events() {
		if ev.Charge != nil && ev.Charge.Key == carried[0].Request.Key {
			requested++
		}
		if ev.Payment != nil && ev.Payment.PaymentID == "pi_"+strings.ReplaceAll(carried[0].Request.Key, ":", "_") {
			paid++
		}
	}
	if requested != 1 || paid != 1 || h.invoice(firstInvoice).Status != account.InvoicePaid {
		t.Errorf("the carried attempt: requested %d times, paid %d times, invoice %+v", requested, paid, h.invoice(firstInvoice))
	}
}

// The gateway's payment_method.attached for the card already on file (our
// own attach, echoed back) changes nothing, and does not lift a block.
func TestSameCardAgainDoesNotUnblock(t *testing.T) {
	h := cardHarness(t)
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		return declined(in, "expired_card", "", ""), nil
	}
	update(h, firstDue.Add(time.Hour), UpdateSetPaymentMethod, "echo", account.CardUpdate{PaymentMethodID: "pm_card_visa4242", Source: account.CardFromGateway, Actor: "stripe"})
	h.run(cardApplication("standard"), firstDue.Add(5*day))
	if err := h.rejections["echo"]; err == nil || !strings.Contains(err.Error(), "already the card on file") {
		t.Errorf("the same card again: %v", err)
	}
	if got := h.chargeLog(); got != "1/schedule@D+0" {
		t.Errorf("charges = %s", got)
	}
}

// A prepayment whose charge is still being answered when its deadline
// passes is not cancelled under it: the answer decides.
func TestPrepaymentDeadlineWaitsForTheCharge(t *testing.T) {
	h := newHarness(t) // medium risk: a prepayment is asked for and charged at once
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		if h.env.Now().Before(start.Add(time.Minute)) {
			return account.ChargeOutcome{}, temporal.NewApplicationError("payment gateway: read timeout", "GatewayUnavailable")
		}
		return charged(in), nil
	}
	h.run(cardApplication("demo"), start.Add(2*time.Minute)) // the demo prepayment deadline is 40 s
	if got := h.lastStatus(); got != string(account.StatusActive) {
		t.Errorf("status = %s, want active: the prepayment was charged", got)
	}
	if pays := h.payments(); len(pays) != 1 {
		t.Errorf("payments = %+v", pays)
	}
}

// Money a charge took after the account ended (staff terminated it while
// the charge was answered) is recorded as credit, and staff are told.
func TestChargeAfterTerminationIsRecorded(t *testing.T) {
	h := cardHarness(t)
	h.chargeWith = func(in activities.ChargeInput) (account.ChargeOutcome, error) {
		if h.env.Now().Before(firstDue.Add(2 * time.Minute)) {
			return account.ChargeOutcome{}, temporal.NewApplicationError("payment gateway: 503", "GatewayUnavailable")
		}
		return charged(in), nil
	}
	update(h, firstDue.Add(time.Minute), UpdateTerminate, "end", account.StaffAction{Actor: "jane", Reason: "customer left"})
	h.run(cardApplication("standard"), firstDue.Add(time.Hour))
	if pays := h.payments(); len(pays) != 1 || pays[0].CreditMinor != 10000 {
		t.Errorf("payments = %+v, want one, all credit", pays)
	}
	alerted := false
	for _, n := range h.notices {
		if n.n.Staff && n.n.Detail["kind"] == "charge_after_termination" {
			alerted = true
		}
	}
	if !alerted {
		t.Error("no staff alert about the charge after termination")
	}
}
