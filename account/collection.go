package account

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/example/dunning/policy"
)

// Collecting a card on file. The account decides when a card is charged
// (the policy's retry schedule beside the ladder, the card networks'
// limit, what a decline allows next) and returns a charge request in an
// event; the workflow sends it through the gateway and hands the answer
// back to ChargeSettled. A success is applied exactly as RecordPayment
// applies a payment.

// CardOnFile is the customer's saved card at the gateway. The card number
// never reaches this system: only the gateway's IDs and what the gateway
// says about the card.
type CardOnFile struct {
	PaymentMethodID   string    `json:"payment_method_id"`
	GatewayCustomerID string    `json:"gateway_customer_id"`
	Brand             string    `json:"brand,omitempty"`
	Last4             string    `json:"last4,omitempty"`
	ExpMonth          int       `json:"exp_month,omitempty"`
	ExpYear           int       `json:"exp_year,omitempty"`
	SetAt             time.Time `json:"set_at"`
	// Blocked is why the card may not be charged again until it is
	// replaced: a decline category (after_card_change, never, fraud).
	Blocked policy.DeclineCategory `json:"blocked,omitempty"`
	// Attempts are the times this card was charged within the network
	// window (at most the policy's network_attempts are kept).
	Attempts []time.Time `json:"attempts,omitempty"`
}

// ChargeState is an invoice's automatic collection.
type ChargeState struct {
	Attempts  int `json:"attempts"`            // attempts made so far; the next is Attempts+1
	Scheduled int `json:"scheduled"`           // scheduled attempts used: the next is the policy's Retries[Scheduled]
	InFlight  int `json:"in_flight,omitempty"` // the attempt sent and not yet answered
	// Sent is that attempt's request, asked again as it was (same key,
	// same amount) by a run that takes over after continue-as-new.
	Sent     *ChargeRequest `json:"sent,omitempty"`
	RetryNow bool           `json:"retry_now,omitempty"`  // a new card: try at once, beside the schedule
	Pending  bool           `json:"processing,omitempty"` // the gateway is still processing: wait for its webhook
}

// Charge triggers (the charge_attempts ledger's trigger).
const (
	TriggerSchedule   = "schedule"
	TriggerCardUpdate = "card_update"
	TriggerPrepayment = "prepayment"
)

// ChargeRequest is a charge the workflow is to send through the gateway,
// carried by an EventChargeRequested event.
type ChargeRequest struct {
	Key               string `json:"key"` // "<customer>:<invoice>:charge:<attempt>": the gateway's idempotency key
	InvoiceID         string `json:"invoice_id"`
	Attempt           int    `json:"attempt"`
	Trigger           string `json:"trigger"`
	AmountMinor       int64  `json:"amount_minor"`
	Currency          string `json:"currency"`
	PaymentMethodID   string `json:"payment_method_id"`
	GatewayCustomerID string `json:"gateway_customer_id"`
}

// Charge outcomes, as the gateway reports them.
const (
	ChargeSucceeded      = "succeeded"
	ChargeDeclined       = "declined"
	ChargeRequiresAction = "requires_action"
	ChargeProcessing     = "processing"
)

// ChargeOutcome is the gateway's answer to a ChargeRequest.
type ChargeOutcome struct {
	Key               string `json:"key"`
	InvoiceID         string `json:"invoice_id"`
	Attempt           int    `json:"attempt"`
	Outcome           string `json:"outcome"`
	PaymentIntentID   string `json:"payment_intent_id,omitempty"`
	AmountMinor       int64  `json:"amount_minor"`
	Currency          string `json:"currency"`
	Code              string `json:"code,omitempty"`
	DeclineCode       string `json:"decline_code,omitempty"`
	AdviceCode        string `json:"advice_code,omitempty"`
	NetworkAdviceCode string `json:"network_advice_code,omitempty"`
	Message           string `json:"message,omitempty"`
}

// Collects reports whether the account charges its card automatically.
func (a *Account) Collects() bool {
	return a.Collecting && a.Policy.Collection != nil && a.Card != nil && a.Card.Blocked == "" && !a.Exempt(ExemptManualPay)
}

// chargeable reports whether an invoice may be charged now (ignoring when).
func (a *Account) chargeable(inv *Invoice) bool {
	if !a.Collects() || inv.Outstanding() <= 0 || inv.Disputed || inv.Paused() {
		return false
	}
	c := inv.Charge
	if c != nil && (c.InFlight > 0 || c.Pending) {
		return false
	}
	switch a.Status {
	case StatusAwaitingPrepayment:
		return inv.Kind == KindPrepayment
	case StatusActive, StatusPastDue, StatusSuspended:
		return inv.Kind == KindSubscription
	}
	return false
}

// chargeAt is when the invoice's next attempt is due, if it has one.
func (a *Account) chargeAt(inv *Invoice) (time.Time, bool) {
	if !a.chargeable(inv) {
		return time.Time{}, false
	}
	col := a.Policy.Collection
	var at time.Time
	switch c := inv.Charge; {
	case c != nil && c.RetryNow:
		at = a.Card.SetAt
	case c != nil && c.Scheduled >= len(col.Retries):
		return time.Time{}, false // the schedule is used up: reminders only
	default:
		i := 0
		if c != nil {
			i = c.Scheduled
		}
		at = a.scheduledAt(inv, i)
		if inv.Kind == KindPrepayment && !at.Before(inv.DueAt) {
			return time.Time{}, false
		}
	}
	// The card networks' limit: no more than NetworkAttempts on the card
	// within NetworkWindow.
	if n := len(a.Card.Attempts); n >= col.NetworkAttempts {
		at = maxTime(at, a.Card.Attempts[n-col.NetworkAttempts].Add(col.NetworkWindow))
	}
	return at, true
}

// scheduledAt is when the invoice's scheduled attempt i is due: from the
// due date moved by the ladder's pauses (a promise, a dispute), as the
// reminders are; a prepayment's from its issue, as it is charged at once.
func (a *Account) scheduledAt(inv *Invoice, i int) time.Time {
	if inv.Kind == KindPrepayment {
		return inv.IssuedAt.Add(a.Policy.Collection.Retries[i])
	}
	return inv.DueAt.Add(inv.Shift + a.Policy.Collection.Retries[i])
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// charge takes the invoice's next attempt: the event carries the request.
func (a *Account) charge(inv *Invoice, now time.Time) []Event {
	if inv.Charge == nil {
		inv.Charge = &ChargeState{}
	}
	c, card := inv.Charge, a.Card
	trigger := TriggerSchedule
	switch {
	case c.RetryNow:
		c.RetryNow, trigger = false, TriggerCardUpdate
	default:
		// Attempts whose time passed while the card could not be tried
		// (a worker down, the network limit) are not made one after
		// another: only the latest, as with reminders.
		for c.Scheduled+1 < len(a.Policy.Collection.Retries) && !a.scheduledAt(inv, c.Scheduled+1).After(now) {
			c.Scheduled++
		}
		c.Scheduled++
		if inv.Kind == KindPrepayment {
			trigger = TriggerPrepayment
		}
	}
	c.Attempts++
	c.InFlight = c.Attempts
	window := now.Add(-a.Policy.Collection.NetworkWindow)
	card.Attempts = append(slices.DeleteFunc(card.Attempts, func(t time.Time) bool { return !t.After(window) }), now)
	if extra := len(card.Attempts) - a.Policy.Collection.NetworkAttempts; extra > 0 {
		card.Attempts = card.Attempts[extra:]
	}
	req := &ChargeRequest{
		Key:       a.chargeKey(inv, c.Attempts),
		InvoiceID: inv.ID, Attempt: c.Attempts, Trigger: trigger,
		AmountMinor: inv.Outstanding(), Currency: inv.Currency,
		PaymentMethodID: card.PaymentMethodID, GatewayCustomerID: card.GatewayCustomerID,
	}
	c.Sent = req
	ev := a.newEvent(now, EventChargeRequested, SystemActor, fmt.Sprintf("charge attempt %d (%s)", c.Attempts, trigger))
	ev.Invoice = inv
	ev.Charge = req
	ev.Detail = map[string]string{"attempt": strconv.Itoa(c.Attempts), "trigger": trigger, "key": req.Key,
		"amount_minor": strconv.FormatInt(req.AmountMinor, 10), "card": card.Brand + " " + card.Last4}
	return []Event{ev}
}

// chargeKey is an attempt's gateway idempotency key.
func (a *Account) chargeKey(inv *Invoice, attempt int) string {
	return fmt.Sprintf("%s:%s:charge:%d", a.Customer.CustomerID, inv.ID, attempt)
}

// ChargesInFlight lists the charges sent and not yet answered, so that a
// new run (after continue-as-new) asks for their answers again.
func (a *Account) ChargesInFlight() []ChargeRequest {
	var out []ChargeRequest
	for _, inv := range a.Invoices {
		if c := inv.Charge; c != nil && c.InFlight > 0 && c.Sent != nil {
			out = append(out, *c.Sent)
		}
	}
	return out
}

// ChargeSettled applies the gateway's answer to a charge attempt. A
// success is a payment like any other (RecordPayment's allocation, audit
// and emails) under the PaymentIntent's ID, so that the same payment
// arriving again through the gateway's webhook is a duplicate.
func (a *Account) ChargeSettled(o ChargeOutcome, now time.Time) []Event {
	inv := a.invoice(o.InvoiceID)
	if inv != nil && inv.Charge != nil && inv.Charge.InFlight == o.Attempt {
		inv.Charge.InFlight, inv.Charge.Sent = 0, nil
	}
	ev := a.newEvent(now, ChargeEvent(o.Outcome), GatewayActor, fmt.Sprintf("charge attempt %d: %s", o.Attempt, o.Outcome))
	ev.InvoiceID = o.InvoiceID
	ev.Detail = map[string]string{"key": o.Key, "attempt": strconv.Itoa(o.Attempt), "payment_intent": o.PaymentIntentID}
	if inv != nil && o.Outcome != ChargeSucceeded {
		// A success's invoice is written by the payment's own events:
		// its state here, before them, would count the payment twice.
		ev.Invoice = inv
	}
	events := []Event{ev}
	switch o.Outcome {
	case ChargeSucceeded:
		if _, known := a.Payments[o.PaymentIntentID]; known || o.PaymentIntentID == "" {
			// Recorded already: its webhook came first.
			return a.finish(events, now, GatewayActor, "card charged")
		}
		p := Payment{PaymentID: o.PaymentIntentID, AmountMinor: o.AmountMinor, Currency: o.Currency, Method: "card",
			Reference: o.InvoiceID, Actor: GatewayActor}
		_, paid := a.applyPayment(p, now)
		events = append(events, paid...)
		if a.Status == StatusTerminated {
			// The money was taken after the account ended: it is kept as
			// credit, never dropped, and staff decide on a refund.
			events = append(events, a.staffAlert("charge_after_termination", fmt.Sprintf("%s was charged %d %s (%s) after its account ended: refund it or apply it",
				a.Customer.CustomerID, o.AmountMinor, o.Currency, o.PaymentIntentID), map[string]string{"payment_intent": o.PaymentIntentID}, now))
		}
		return a.finish(events, now, GatewayActor, "card charged")
	case ChargeProcessing:
		if inv != nil && inv.Charge != nil {
			inv.Charge.Pending = true // its webhook will bring the payment
		}
		return a.finish(events, now, GatewayActor, "charge processing")
	}
	// Declined, or the bank wants the customer to authenticate.
	cat := policy.DeclineAfterCardChange
	if o.Outcome == ChargeDeclined && a.Policy.Collection != nil {
		cat = a.Policy.Collection.Categorize(o.Code, o.DeclineCode, o.AdviceCode)
	}
	for k, v := range map[string]string{"code": o.Code, "decline_code": o.DeclineCode, "advice_code": o.AdviceCode,
		"network_advice_code": o.NetworkAdviceCode, "message": o.Message} {
		if v != "" {
			ev.Detail[k] = v
		}
	}
	ev.Detail["category"] = string(cat)
	if cat == policy.DeclineRetryLater || a.Card == nil || a.Card.PaymentMethodID == "" {
		return a.finish(events, now, GatewayActor, "card declined")
	}
	a.Card.Blocked = cat
	switch cat {
	case policy.DeclineAfterCardChange:
		action := "update_card"
		if o.Outcome == ChargeRequiresAction || o.Code == "authentication_required" || o.DeclineCode == "authentication_required" {
			action = "authenticate"
		}
		var n *Notice
		if inv != nil {
			n = a.notice(inv, "card_action_required", "card_action", inv.DueAt, now)
		} else {
			n = a.notice(nil, "card_action_required", "card_action", time.Time{}, now)
		}
		n.Detail = map[string]string{"action": action, "card": a.Card.Brand + " " + a.Card.Last4}
		events[0].Notice = n
	case policy.DeclineNever, policy.DeclineFraud:
		severity := SeverityModerate
		if cat == policy.DeclineFraud {
			severity = SeveritySevere // a stolen card: suspended under the misuse rules
		}
		events = append(events, a.openMisuseReview(AbuseReport{NoticeID: o.Key, Category: CategoryPaymentFraud, Source: SourceGateway,
			Detail: fmt.Sprintf("card %s %s declined: %s (%s)", a.Card.Brand, a.Card.Last4, firstOf(o.DeclineCode, o.Code), o.AdviceCode)},
			severity, GatewayActor, now)...)
	}
	return a.finish(events, now, GatewayActor, "card declined")
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// CheckSetCard is SetPaymentMethod's validator.
func (a *Account) CheckSetCard(c CardUpdate) error {
	if err := c.Validate(); err != nil {
		return err
	}
	switch a.Status {
	case StatusTerminated:
		return fmt.Errorf("account is terminated: no card can be charged")
	case StatusScreening, StatusManualReview:
		return fmt.Errorf("account is %s: add the card once the application is approved", a.Status)
	}
	// The same card again is no change, even when it is blocked: the
	// gateway's payment_method.attached for our own attach comes back
	// here, and must not lift a block.
	if a.Card != nil && a.Card.PaymentMethodID == c.PaymentMethodID {
		return fmt.Errorf("payment method %s is already the card on file", c.PaymentMethodID)
	}
	return nil
}

// SetCard puts a new card on file. Every invoice already due is retried on
// it at once, beside its schedule; the network limit starts afresh with
// the new card.
func (a *Account) SetCard(card CardOnFile, c CardUpdate, now time.Time) ([]Event, error) {
	if err := a.CheckSetCard(c); err != nil {
		return nil, err
	}
	actor := c.Actor
	if actor == "" {
		actor = SystemActor
	}
	return a.finish(a.putCard(card, c, actor, now), now, actor, "card updated"), nil
}

// CardFromApplication puts the card the application named on file once the
// gateway has saved it (at onboarding, whatever screening decided short of
// a refusal).
func (a *Account) CardFromApplication(card CardOnFile, now time.Time) []Event {
	if a.Status == StatusTerminated {
		return nil
	}
	c := CardUpdate{PaymentMethodID: card.PaymentMethodID, Source: CardFromStaff}
	return a.finish(a.putCard(card, c, SystemActor, now), now, SystemActor, "card from the application")
}

// putCard replaces the card on file and marks what is due for a retry.
func (a *Account) putCard(card CardOnFile, c CardUpdate, actor string, now time.Time) []Event {
	card.SetAt, card.Blocked, card.Attempts = now, "", nil
	a.Card = &card
	ev := a.newEvent(now, EventCardUpdated, actor, "card on file: "+card.Brand+" "+card.Last4)
	source := c.Source
	if source == "" {
		source = CardFromStaff
	}
	ev.Detail = map[string]string{"payment_method": card.PaymentMethodID, "brand": card.Brand, "last4": card.Last4, "source": source,
		"expires": fmt.Sprintf("%02d/%d", card.ExpMonth, card.ExpYear)}
	events := []Event{ev}
	if a.Collects() {
		for _, inv := range a.Invoices {
			tried := inv.Charge != nil && inv.Charge.Attempts > 0
			if a.chargeable(inv) && (tried || (inv.Kind == KindSubscription && !now.Before(inv.DueAt))) {
				if inv.Charge == nil {
					inv.Charge = &ChargeState{}
				}
				inv.Charge.RetryNow = true
			}
		}
	}
	return events
}

// CardRefused records that the gateway would not take a card (at onboarding
// or from SetPaymentMethod), so that staff see it.
func (a *Account) CardRefused(paymentMethodID, problem string, now time.Time) []Event {
	ev := a.newEvent(now, EventCardRefused, GatewayActor, problem)
	ev.Detail = map[string]string{"payment_method": paymentMethodID}
	return []Event{ev, a.staffAlert("card_refused", fmt.Sprintf("the gateway refused card %s of %s: %s", paymentMethodID, a.Customer.CustomerID, problem),
		map[string]string{"payment_method": paymentMethodID}, now)}
}
