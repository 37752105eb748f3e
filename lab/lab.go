// Package lab is the policy lab's simulator: it re-runs the pure account
// state machine over what really happened to customers (their approval,
// payments, usage, promises, disputes and staff actions, at their recorded
// times) under a candidate policy, and compares the outcome with what was
// recorded. It does no I/O: a Source reads the histories (see lab/pgsource
// for PostgreSQL) and nothing is ever written.
package lab

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

// Source reads recorded histories. It must not change anything.
type Source interface {
	Histories(ctx context.Context, q Query) ([]History, error)
}

// Query selects customers: those named (all must exist), else every
// customer with anything recorded at or after Since. AsOf is the end of
// the simulated time.
type Query struct {
	CustomerIDs []string
	Since       time.Time
	AsOf        time.Time
}

// History is what was recorded for one customer.
type History struct {
	Customer  account.Application `json:"customer"`
	RiskTier  string              `json:"risk_tier"`
	StartedAt time.Time           `json:"started_at"`
	// Approval is when service was granted (nil: never, e.g. rejected or
	// still in review) and whether a prepayment was asked for first.
	Approval *Approval `json:"approval,omitempty"`
	// Inputs are what the customer and staff did, oldest first.
	Inputs []Input `json:"inputs"`
	// Invoices are every invoice recorded, to map an input's invoice to
	// the candidate's invoice for the same billing period.
	Invoices []RecordedInvoice `json:"invoices"`
	// Facts are the recorded changes an outcome is read from.
	Facts []Fact `json:"facts"`
	// Open are the invoices open at AsOf, as recorded.
	Open []OpenInvoice `json:"open"`
	// Unmodelled says why the record holds what a replay cannot rebuild
	// (subscriptions beyond the plan fee, exemptions); such a customer is
	// left out of the comparison rather than compared wrongly.
	Unmodelled string `json:"unmodelled,omitempty"`
}

// Approval is the recorded onboarding decision: approved, with or without
// a prepayment asked for first, or rejected (by screening or a review).
type Approval struct {
	At       time.Time `json:"at"`
	Prepay   bool      `json:"prepay"`
	Rejected bool      `json:"rejected,omitempty"`
}

// InputKind is what an input does.
type InputKind string

// Inputs that are replayed.
const (
	InputPayment   InputKind = "payment"
	InputUsage     InputKind = "usage"
	InputPromise   InputKind = "promise"
	InputDispute   InputKind = "dispute"
	InputResolve   InputKind = "resolve_dispute"
	InputSuspend   InputKind = "suspend"
	InputReinstate InputKind = "reinstate"
	InputTerminate InputKind = "terminate"
	InputWriteOff  InputKind = "write_off"
)

// Input is one thing the customer or staff did, as the update that did it.
// Invoice IDs are the recorded ones.
type Input struct {
	At         time.Time              `json:"at"`
	Kind       InputKind              `json:"kind"`
	Payment    *account.Payment       `json:"payment,omitempty"`
	Usage      *account.Usage         `json:"usage,omitempty"`
	Promise    *account.Promise       `json:"promise,omitempty"`
	Dispute    *account.Dispute       `json:"dispute,omitempty"`
	Resolution *account.Resolution    `json:"resolution,omitempty"`
	Staff      *account.StaffAction   `json:"staff,omitempty"`
	WriteOff   *account.InvoiceAction `json:"write_off,omitempty"`
}

// RecordedInvoice identifies an invoice by its billing period.
type RecordedInvoice struct {
	ID          string              `json:"id"`
	Kind        account.InvoiceKind `json:"kind"`
	PeriodStart time.Time           `json:"period_start"`
}

// OpenInvoice is an unpaid invoice for the aging figures.
type OpenInvoice struct {
	DueAt            time.Time `json:"due_at"`
	OutstandingMinor int64     `json:"outstanding_minor"`
}

// Fact is one recorded change, as much of it as outcomes need.
type Fact struct {
	At               time.Time         `json:"at"`
	Type             account.EventType `json:"type"`
	SuspensionReason string            `json:"suspension_reason,omitempty"`
	NoticeStage      string            `json:"notice_stage,omitempty"` // a customer notice was sent
	WrittenOffMinor  int64             `json:"written_off_minor,omitempty"`
}

// FactsOf reduces account events to facts, as the recorded audit log
// gives them.
func FactsOf(events []account.Event) []Fact {
	out := make([]Fact, 0, len(events))
	for _, ev := range events {
		f := Fact{At: ev.At, Type: ev.Type, SuspensionReason: ev.Detail["suspension_reason"]}
		if ev.Notice != nil && !ev.Notice.Staff {
			f.NoticeStage = ev.Notice.Stage
		}
		if ev.WriteOff != nil {
			f.WrittenOffMinor = ev.WriteOff.AmountMinor
		}
		out = append(out, f)
	}
	return out
}

// Run is one customer re-run under a policy.
type Run struct {
	Events []account.Event
	Final  *account.Account
	// Refused are inputs the candidate's account did not take, and why
	// (an invoice that does not exist under it, a promise longer than it
	// allows).
	Refused []string
}

// Replay re-runs a history under pol up to asOf. The account moves through
// time as the workflow moves it: every agenda item is taken at its own
// time, and an input at time t comes after everything due by t.
func Replay(h History, pol policy.Policy, asOf time.Time) Run {
	acct := account.New(h.Customer, pol, h.RiskTier, h.StartedAt)
	r := Run{Final: acct, Events: acct.Open(h.StartedAt)}
	if h.Approval == nil {
		return r
	}
	r.to(h.Approval.At)
	if h.Approval.Rejected {
		// Not the policy's doing: the rejection is replayed as it was.
		ev, err := acct.ApplyScreening(account.Screening{Outcome: account.OutcomeReject, Tier: h.RiskTier, Summary: "rejected as recorded"}, &pol, h.Approval.At)
		if err != nil {
			r.Refused = append(r.Refused, "rejection: "+err.Error())
		}
		r.Events = append(r.Events, ev...)
		return r
	}
	ev, err := acct.Approve(h.Approval.Prepay, account.SystemActor, "approved as recorded", h.Approval.At)
	if err != nil {
		r.Refused = append(r.Refused, "approval: "+err.Error())
		return r
	}
	r.Events = append(r.Events, ev...)
	periods := map[string]RecordedInvoice{}
	for _, inv := range h.Invoices {
		periods[inv.ID] = inv
	}
	for _, in := range h.Inputs {
		if in.At.After(asOf) {
			break
		}
		r.to(in.At)
		ev, err := r.apply(in, periods)
		if err != nil {
			r.Refused = append(r.Refused, fmt.Sprintf("%s at %s: %v", in.Kind, in.At.Format(time.RFC3339), err))
		}
		r.Events = append(r.Events, ev...)
	}
	r.to(asOf)
	return r
}

// to takes every agenda item due at or before t, each at its own time.
func (r *Run) to(t time.Time) {
	for range 100_000 {
		at, _, ok := r.Final.NextWake()
		if !ok || at.After(t) || r.Final.Status == account.StatusTerminated {
			return
		}
		r.Events = append(r.Events, r.Final.Advance(at)...)
	}
}

// apply runs one input as its update would. The recorded invoice is
// mapped to the candidate's invoice for the same billing period.
func (r *Run) apply(in Input, periods map[string]RecordedInvoice) ([]account.Event, error) {
	a := r.Final
	mapID := func(id string) (string, error) {
		rec, ok := periods[id]
		if !ok {
			return "", fmt.Errorf("invoice %s is not in the record", id)
		}
		i := slices.IndexFunc(a.Invoices, func(inv *account.Invoice) bool {
			return inv.Kind == rec.Kind && inv.PeriodStart.Equal(rec.PeriodStart)
		})
		if i < 0 {
			return "", fmt.Errorf("no open invoice for the period from %s (recorded as %s)", rec.PeriodStart.Format(time.DateOnly), id)
		}
		return a.Invoices[i].ID, nil
	}
	var err error
	switch in.Kind {
	case InputPayment:
		p := *in.Payment
		if p.Actor == account.GatewayActor || p.Actor == account.PayLinkActor {
			if id, err := mapID(p.Reference); err == nil {
				p.Reference = id
			} else {
				p.Reference = "" // paid to the oldest invoice instead
			}
		}
		_, ev, err := a.RecordPayment(p, in.At)
		return ev, err
	case InputUsage:
		return a.ReportUsage(*in.Usage, in.At)
	case InputPromise:
		p := *in.Promise
		if p.InvoiceID, err = mapID(p.InvoiceID); err != nil {
			return nil, err
		}
		return a.PromiseToPay(p, in.At)
	case InputDispute:
		d := *in.Dispute
		if d.InvoiceID, err = mapID(d.InvoiceID); err != nil {
			return nil, err
		}
		return a.DisputeInvoice(d, in.At)
	case InputResolve:
		res := *in.Resolution
		if res.InvoiceID, err = mapID(res.InvoiceID); err != nil {
			return nil, err
		}
		return a.ResolveDispute(res, in.At)
	case InputSuspend:
		return a.Suspend(*in.Staff, in.At)
	case InputReinstate:
		return a.Reinstate(*in.Staff, in.At)
	case InputTerminate:
		return a.Terminate(*in.Staff, in.At)
	case InputWriteOff:
		w := *in.WriteOff
		if w.InvoiceID, err = mapID(w.InvoiceID); err != nil {
			return nil, err
		}
		return a.WriteOff(w, in.At)
	}
	return nil, fmt.Errorf("unknown input kind %q", in.Kind)
}

// MaxCustomers bounds the customers one query may name.
const MaxCustomers = 1000

// Validate checks the query before anything is read.
func (q Query) Validate() error {
	if len(q.CustomerIDs) > MaxCustomers {
		return fmt.Errorf("at most %d customers at once, not %d", MaxCustomers, len(q.CustomerIDs))
	}
	for _, id := range q.CustomerIDs {
		if err := account.ValidateCustomerID(id); err != nil {
			return err
		}
	}
	if q.AsOf.IsZero() || !q.Since.Before(q.AsOf) {
		return fmt.Errorf("since %s must be before the end of the simulation %s", q.Since.Format(time.RFC3339), q.AsOf.Format(time.RFC3339))
	}
	return nil
}
