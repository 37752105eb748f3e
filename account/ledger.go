package account

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Ledger is what the account holds that PostgreSQL mirrors: the figures of
// the customers row, the open invoices and the payments the account
// remembers. Reconciliation compares it with the database (the GetLedger
// query returns it).
type Ledger struct {
	CustomerID string `json:"customer_id"`
	Status     Status `json:"status"`
	Access     Access `json:"access"`
	// EventSeq is the number of events the account has produced; the
	// customers row's event_seq is the account's EventSeq when its latest
	// batch was recorded, and the audit log's keys run up to it.
	EventSeq     int             `json:"event_seq"`
	BalanceMinor int64           `json:"balance_minor"`
	CreditMinor  int64           `json:"credit_minor"`
	Currency     string          `json:"currency"`
	Invoices     []LedgerInvoice `json:"invoices"` // open invoices, oldest first
	Payments     []LedgerPayment `json:"payments"` // by payment ID
	// PaymentsAll says Payments lists every payment the customer made. An
	// account with bounded memory forgets the oldest payment IDs; then a
	// payment row the ledger does not list is not drift.
	PaymentsAll bool `json:"payments_all"`
	Suspended   bool `json:"suspended"`
	// Provisioning is the provisioning state (in_sync, pending, failing)
	// and ProvisioningApplied the last action the provisioning system
	// confirmed (empty for runs from before the account kept it).
	Provisioning        string    `json:"provisioning"`
	ProvisioningApplied Provision `json:"provisioning_applied,omitempty"`
	ProvisioningError   string    `json:"provisioning_error,omitempty"`
	// PendingBatches is how many batches of events the workflow has not
	// recorded yet (set by the workflow, not by Ledger): while it is not
	// zero, a difference from PostgreSQL is recording in progress, not
	// drift.
	PendingBatches int `json:"pending_batches"`
}

// LedgerInvoice is one open invoice as the account has it.
type LedgerInvoice struct {
	ID          string        `json:"id"`
	Kind        InvoiceKind   `json:"kind"`
	Status      InvoiceStatus `json:"status"`
	AmountMinor int64         `json:"amount_minor"`
	PaidMinor   int64         `json:"paid_minor"`
	Currency    string        `json:"currency"`
	Stage       string        `json:"stage"`
	DueAt       time.Time     `json:"due_at"`
	Disputed    bool          `json:"disputed,omitempty"`
}

// LedgerPayment is a payment the account remembers. Method and reference
// are not kept in the account.
type LedgerPayment struct {
	PaymentID   string `json:"payment_id"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

// Ledger returns the account's ledger. PendingBatches is left zero.
func (a *Account) Ledger() Ledger {
	l := Ledger{
		CustomerID: a.Customer.CustomerID, Status: a.Status, Access: a.Access, EventSeq: a.EventSeq,
		BalanceMinor: a.Balance(), CreditMinor: a.CreditMinor, Currency: a.Customer.Currency,
		Invoices: []LedgerInvoice{}, Payments: []LedgerPayment{}, Suspended: len(a.Suspensions) > 0,
		PaymentsAll:  !a.ForgotPayments,
		Provisioning: a.Provisioning.State(), ProvisioningApplied: a.Provisioning.Applied, ProvisioningError: a.Provisioning.LastError,
	}
	for _, inv := range a.Invoices {
		l.Invoices = append(l.Invoices, LedgerInvoice{
			ID: inv.ID, Kind: inv.Kind, Status: inv.Status, AmountMinor: inv.AmountMinor, PaidMinor: inv.PaidMinor,
			Currency: inv.Currency, Stage: inv.Stage, DueAt: inv.DueAt, Disputed: inv.Disputed,
		})
	}
	for id, p := range a.Payments {
		l.Payments = append(l.Payments, LedgerPayment{PaymentID: id, AmountMinor: p.AmountMinor, Currency: p.Currency})
	}
	slices.SortFunc(l.Payments, func(x, y LedgerPayment) int { return strings.Compare(x.PaymentID, y.PaymentID) })
	return l
}

// Resync asks the account to re-record its current figures: the customers
// row, every open invoice, and the payments PostgreSQL lacks.
type Resync struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	// PaymentIDs are payments the account remembers that PostgreSQL has
	// no row for; they are re-recorded with what the account knows.
	PaymentIDs []string `json:"payment_ids,omitempty"`
}

// MaxResyncPayments bounds one Resync's payment list.
const MaxResyncPayments = 1000

// Validate checks the request on its own.
func (r Resync) Validate() error {
	if err := checkActor(r.Actor); err != nil {
		return err
	}
	if err := checkText("reason", r.Reason, true); err != nil {
		return err
	}
	if len(r.PaymentIDs) > MaxResyncPayments {
		return fmt.Errorf("at most %d payment_ids in one resync, got %d", MaxResyncPayments, len(r.PaymentIDs))
	}
	for _, id := range r.PaymentIDs {
		if err := checkKey("payment_id", id); err != nil {
			return err
		}
	}
	return nil
}

// CheckResync checks the request against the account: every payment to
// re-record must be one the account remembers.
func (a *Account) CheckResync(r Resync) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var unknown []string
	for _, id := range r.PaymentIDs {
		if _, ok := a.Payments[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown payment %s: the account has no such payment to re-record", strings.Join(unknown, ", "))
	}
	return nil
}

// ResyncPayments lists the payments to re-record, as the account remembers
// them, in the request's order without repeats.
func (a *Account) ResyncPayments(r Resync) []LedgerPayment {
	var out []LedgerPayment
	seen := map[string]bool{}
	for _, id := range r.PaymentIDs {
		p, ok := a.Payments[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, LedgerPayment{PaymentID: id, AmountMinor: p.AmountMinor, Currency: p.Currency})
	}
	return out
}

// Resync returns the events that re-record the account's current figures:
// account.resynced (the audit record, with actor and reason; its recording
// re-upserts the customers row) and invoice.resynced for each open invoice
// (carrying the invoice, so that its row is upserted). Nothing in the
// account changes but the event sequence.
func (a *Account) Resync(r Resync, now time.Time) []Event {
	ev := a.newEvent(now, EventAccountResynced, r.Actor, r.Reason)
	ev.Detail = map[string]string{
		"reconciled": "true", "status": string(a.Status), "access": string(a.Access),
		"balance_minor": strconv.FormatInt(a.Balance(), 10), "credit_minor": strconv.FormatInt(a.CreditMinor, 10),
		"open_invoices": strconv.Itoa(len(a.Invoices)),
	}
	events := []Event{ev}
	for _, inv := range a.Invoices {
		iev := a.newEvent(now, EventInvoiceResynced, r.Actor, r.Reason)
		c := *inv
		iev.Invoice = &c
		iev.InvoiceID = c.ID
		iev.Detail = map[string]string{"reconciled": "true", "stage": c.Stage,
			"amount_minor": strconv.FormatInt(c.AmountMinor, 10), "paid_minor": strconv.FormatInt(c.PaidMinor, 10)}
		events = append(events, iev)
	}
	return events
}

// PaymentsReconciled returns one payment.reconciled audit event per payment
// that was re-recorded in PostgreSQL from what the account remembers (the
// method and reference were not kept, so the row says "reconciled").
func (a *Account) PaymentsReconciled(r Resync, restored []LedgerPayment, now time.Time) []Event {
	var events []Event
	for _, p := range restored {
		ev := a.newEvent(now, EventPaymentReconciled, r.Actor, r.Reason)
		ev.Detail = map[string]string{"reconciled": "true", "payment_id": p.PaymentID,
			"amount_minor": strconv.FormatInt(p.AmountMinor, 10), "currency": p.Currency}
		events = append(events, ev)
	}
	return events
}

// ResyncResult is what a Resync re-recorded.
type ResyncResult struct {
	EventSeq         int      `json:"event_seq"`
	Invoices         int      `json:"invoices"`          // open invoices re-recorded
	PaymentsRestored []string `json:"payments_restored"` // payment rows re-inserted
}
