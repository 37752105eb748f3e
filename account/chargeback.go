package account

import (
	"fmt"
	"strconv"
	"time"
)

// ChargebackRef is an open chargeback: the invoice it reopened and the
// money the bank took back.
type ChargebackRef struct {
	InvoiceID   string    `json:"invoice_id"`
	PaymentID   string    `json:"payment_id"`
	AmountMinor int64     `json:"amount_minor"`
	OpenedAt    time.Time `json:"opened_at"`
}

// CheckChargeback is RecordChargeback's validator. closed is the invoice
// as PostgreSQL holds it when the account no longer has it open (it was
// paid); nil in the validator, which cannot look it up.
func (a *Account) CheckChargeback(c Chargeback, closed *Invoice) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Currency != a.Customer.Currency {
		return fmt.Errorf("currency %s does not match the account currency %s", c.Currency, a.Customer.Currency)
	}
	if err := a.requireOperational("record a chargeback"); err != nil {
		return err
	}
	if _, ok := a.Chargebacks[c.DisputeID]; ok {
		return fmt.Errorf("chargeback %s is already recorded", c.DisputeID)
	}
	if inv := a.invoice(c.InvoiceID); inv != nil {
		if inv.Disputed {
			return fmt.Errorf("invoice %s is already disputed", inv.ID)
		}
		return nil
	}
	if closed != nil {
		if closed.ID != c.InvoiceID {
			return fmt.Errorf("invoice %q is not invoice %q", closed.ID, c.InvoiceID)
		}
		if closed.Status != InvoicePaid {
			return fmt.Errorf("invoice %s is %s: only a paid invoice can be taken back", closed.ID, closed.Status)
		}
	}
	return nil
}

// RecordChargeback takes a card payment back: the invoice it paid is
// reopened (from closed, as PostgreSQL holds it, when it was paid in full),
// disputed so that its ladder waits for the chargeback's end, and a fraud
// review opens. The ladder, once it resumes, starts again from the first
// step after the due date, as of the chargeback: a paid invoice taken back
// months later is not suspended at once for its age.
func (a *Account) RecordChargeback(c Chargeback, closed *Invoice, now time.Time) ([]Event, error) {
	if err := a.CheckChargeback(c, closed); err != nil {
		return nil, err
	}
	inv := a.invoice(c.InvoiceID)
	if inv == nil {
		if closed == nil {
			return nil, fmt.Errorf("invoice %q is not an invoice of customer %s", c.InvoiceID, a.Customer.CustomerID)
		}
		reopened := *closed
		inv = &reopened
		// A charged-back prepayment is owed like any invoice: it runs the
		// ladder (a prepayment request has none, and its deadline passed).
		inv.Status, inv.ClosedAt, inv.Kind = InvoiceOpen, time.Time{}, KindSubscription
		// The card was charged for it once and taken back: it is not
		// charged again automatically, only reminded.
		inv.Charge = &ChargeState{}
		if col := a.Policy.Collection; col != nil {
			inv.Charge.Scheduled = len(col.Retries)
		}
		inv.PastDue = !now.Before(inv.DueAt)
		if shift := now.Sub(inv.DueAt); shift > 0 {
			inv.Shift = shift
		}
		inv.NextStep = 0
		for inv.NextStep < len(a.Policy.Ladder) && a.Policy.Ladder[inv.NextStep].Offset <= 0 {
			inv.NextStep++
		}
		a.Invoices = append(a.Invoices, inv)
	}
	back := min(c.AmountMinor, inv.PaidMinor)
	inv.PaidMinor -= back
	a.CreditMinor = max(0, a.CreditMinor-(c.AmountMinor-back))
	if inv.PausedAt.IsZero() {
		inv.PausedAt = now
	}
	inv.PromiseUntil = time.Time{}
	inv.Disputed, inv.DisputeReason = true, "chargeback: "+c.Reason
	if a.Chargebacks == nil {
		a.Chargebacks = map[string]ChargebackRef{}
	}
	a.Chargebacks[c.DisputeID] = ChargebackRef{InvoiceID: inv.ID, PaymentID: c.PaymentID, AmountMinor: c.AmountMinor, OpenedAt: now}
	actor := c.Actor
	if actor == "" {
		actor = SourceGateway
	}
	ev := a.newEvent(now, EventChargebackOpened, actor, c.Reason)
	ev.Invoice = inv
	ev.Detail = map[string]string{"dispute_id": c.DisputeID, "payment_id": c.PaymentID, "amount_minor": strconv.FormatInt(c.AmountMinor, 10)}
	events := []Event{ev}
	events = append(events, a.openMisuseReview(AbuseReport{NoticeID: c.DisputeID, Category: CategoryChargeback, Source: SourceGateway,
		Detail: fmt.Sprintf("chargeback %s of payment %s on %s: %s", c.DisputeID, c.PaymentID, inv.ID, c.Reason)}, SeverityModerate, actor, now)...)
	return a.finish(events, now, actor, "chargeback"), nil
}

// CheckCloseChargeback is CloseChargeback's validator.
func (a *Account) CheckCloseChargeback(c ChargebackClosure) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if _, ok := a.Chargebacks[c.DisputeID]; !ok {
		return fmt.Errorf("chargeback %q is not open for customer %s", c.DisputeID, a.Customer.CustomerID)
	}
	return nil
}

// CloseChargeback ends a chargeback. Won, the money comes back and the
// invoice is paid again; lost, the invoice is owed again (its ladder
// resumes) and the customer's risk rises: a lost chargeback is a sign of
// theft of service.
func (a *Account) CloseChargeback(c ChargebackClosure, now time.Time) ([]Event, error) {
	if err := a.CheckCloseChargeback(c); err != nil {
		return nil, err
	}
	ref := a.Chargebacks[c.DisputeID]
	delete(a.Chargebacks, c.DisputeID)
	actor := c.Actor
	if actor == "" {
		actor = SourceGateway
	}
	ev := a.newEvent(now, EventChargebackClosed, actor, "chargeback "+c.Outcome)
	ev.InvoiceID = ref.InvoiceID
	ev.Detail = map[string]string{"dispute_id": c.DisputeID, "outcome": c.Outcome, "amount_minor": strconv.FormatInt(ref.AmountMinor, 10)}
	events := []Event{ev}
	inv := a.invoice(ref.InvoiceID)
	if c.Outcome == ChargebackLost {
		a.LostChargebacks++
		ev.Detail["lost_chargebacks"] = strconv.Itoa(a.LostChargebacks)
		if a.RiskTier != RiskTierHigh {
			ev.Detail["risk_tier_from"], ev.Detail["risk_tier_to"] = a.RiskTier, RiskTierHigh
			a.RiskTier = RiskTierHigh
		}
	}
	if inv != nil {
		ev.Invoice = inv
		if inv.Disputed && len(a.chargebacksOn(inv.ID)) == 0 {
			inv.Shift += now.Sub(inv.PausedAt)
			inv.PausedAt, inv.Disputed, inv.DisputeReason = time.Time{}, false, ""
		}
		if c.Outcome == ChargebackWon {
			inv.PaidMinor = min(inv.AmountMinor, inv.PaidMinor+ref.AmountMinor)
			if inv.Outstanding() == 0 && !inv.Disputed {
				events = append(events, a.closeInvoice(inv, InvoicePaid, now, actor, "chargeback won")...)
			}
		}
	}
	events = append(events, a.settle(now, nil)...)
	events = append(events, a.reinstateIfSettled(actor, now)...)
	return a.finish(events, now, actor, "chargeback "+c.Outcome), nil
}

// HasOpenInvoice reports whether the account still has the invoice open.
func (a *Account) HasOpenInvoice(id string) bool { return a.invoice(id) != nil }

func (a *Account) chargebacksOn(invoiceID string) []string {
	var ids []string
	for id, ref := range a.Chargebacks {
		if ref.InvoiceID == invoiceID {
			ids = append(ids, id)
		}
	}
	return ids
}
