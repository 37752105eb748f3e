package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reports"
)

// Outcome is what happened to a customer, recorded or simulated.
type Outcome struct {
	// SuspendedAt is the first suspension for non-payment, TerminatedAt
	// the termination (by the ladder or staff) or cancellation.
	SuspendedAt  *time.Time `json:"suspended_at"`
	TerminatedAt *time.Time `json:"terminated_at"`
	// Emails are the customer notices sent, by stage.
	Emails          map[string]int                     `json:"emails"`
	Aging           [reports.NumBuckets]reports.Figure `json:"aging"` // open invoices at the end, by bucket
	WrittenOffMinor int64                              `json:"written_off_minor"`
}

// OutcomeOf reads an outcome from facts and the invoices open at asOf.
func OutcomeOf(facts []Fact, open []OpenInvoice, asOf time.Time) Outcome {
	o := Outcome{Emails: map[string]int{}}
	for _, f := range facts {
		if f.At.After(asOf) {
			continue
		}
		switch f.Type {
		case account.EventAccountSuspended:
			if f.SuspensionReason == account.ReasonNonPayment && o.SuspendedAt == nil {
				o.SuspendedAt = &f.At
			}
		case account.EventAccountTerminated, account.EventAccountCancelled, account.EventApplicationRejected:
			if o.TerminatedAt == nil {
				o.TerminatedAt = &f.At
			}
		}
		if f.NoticeStage != "" && compared(f) {
			o.Emails[f.NoticeStage]++
		}
		o.WrittenOffMinor += f.WrittenOffMinor
	}
	for _, inv := range open {
		if inv.OutstandingMinor <= 0 {
			continue
		}
		b := &o.Aging[reports.BucketOf(reports.DaysPastDue(inv.DueAt, asOf))]
		b.Count++
		b.Minor += inv.OutstandingMinor
	}
	return o
}

// comparedNotices are the events whose notices a simulation produces: of
// invoices, prepayments and the ladder, and of suspensions for non-payment
// or by hand, reinstatements and terminations. The others (budget, phone,
// reviews, misuse, card charges, staff alerts) are not simulated and are
// left out of both sides, so that the emails compared are the policy's.
var comparedNotices = map[account.EventType]bool{
	account.EventInvoiceIssued: true, account.EventPrepaymentRequested: true, account.EventPrepaymentReminded: true,
	account.EventAccountCancelled: true, account.EventApplicationRejected: true, account.EventAccountReinstated: true,
	account.EventAccountTerminated: true,
}

func compared(f Fact) bool {
	switch {
	case f.Type == account.EventAccountSuspended:
		return f.SuspensionReason == account.ReasonNonPayment || f.SuspensionReason == account.ReasonManual
	case strings.HasPrefix(string(f.Type), string(account.DunningEvent(""))):
		return true // a ladder step's notice
	}
	return comparedNotices[f.Type]
}

// OpenOf lists the simulated account's unpaid subscription invoices.
func OpenOf(a *account.Account) []OpenInvoice {
	var out []OpenInvoice
	for _, inv := range a.Invoices {
		if inv.Kind == account.KindSubscription && inv.Outstanding() > 0 {
			out = append(out, OpenInvoice{DueAt: inv.DueAt, OutstandingMinor: inv.Outstanding()})
		}
	}
	return out
}

// Change says how a date moved under the candidate.
type Change string

// Changes of a suspension or termination date.
const (
	ChangeNone    Change = "unchanged"
	ChangeSooner  Change = "sooner"
	ChangeLater   Change = "later"
	ChangeNew     Change = "new"     // only under the candidate
	ChangeAvoided Change = "avoided" // only as recorded
)

func change(rec, sim *time.Time) Change {
	switch {
	case rec == nil && sim == nil:
		return ChangeNone
	case rec == nil:
		return ChangeNew
	case sim == nil:
		return ChangeAvoided
	case sim.Before(*rec):
		return ChangeSooner
	case sim.After(*rec):
		return ChangeLater
	}
	return ChangeNone
}

// CustomerResult compares one customer's recorded and simulated outcomes.
type CustomerResult struct {
	CustomerID     string   `json:"customer_id"`
	Currency       string   `json:"currency"`
	RecordedPolicy string   `json:"recorded_policy"`
	Recorded       Outcome  `json:"recorded"`
	Simulated      Outcome  `json:"simulated"`
	Suspension     Change   `json:"suspension"`
	Termination    Change   `json:"termination"`
	Refused        []string `json:"refused"` // recorded inputs the candidate's account refused
}

// Differs reports whether anything in the outcome differs.
func (c CustomerResult) Differs() bool {
	return c.Suspension != ChangeNone || c.Termination != ChangeNone || !maps.Equal(c.Recorded.Emails, c.Simulated.Emails) ||
		c.Recorded.Aging != c.Simulated.Aging || c.Recorded.WrittenOffMinor != c.Simulated.WrittenOffMinor
}

// Report is a simulation's result.
type Report struct {
	Policy    string           `json:"policy"`
	AsOf      time.Time        `json:"as_of"`
	Since     time.Time        `json:"since"`
	Customers []CustomerResult `json:"customers"`
	Totals    Totals           `json:"totals"`
	// LeftOut are the customers not simulated, with the reason.
	LeftOut []LeftOut `json:"left_out"`
}

// LeftOut is a customer the simulation cannot reproduce.
type LeftOut struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

// Totals sum the customers: changes by kind, emails by stage, and money by
// currency.
type Totals struct {
	Customers   int               `json:"customers"`
	Differing   int               `json:"differing"`
	Suspension  map[Change]int    `json:"suspension"`
	Termination map[Change]int    `json:"termination"`
	Emails      map[string][2]int `json:"emails"` // stage: recorded, simulated
	Currencies  []CurrencyTotals  `json:"currencies"`
}

// CurrencyTotals are the aging and write-off totals in one currency.
type CurrencyTotals struct {
	Currency            string                             `json:"currency"`
	RecordedAging       [reports.NumBuckets]reports.Figure `json:"recorded_aging"`
	SimulatedAging      [reports.NumBuckets]reports.Figure `json:"simulated_aging"`
	RecordedWrittenOff  int64                              `json:"recorded_written_off_minor"`
	SimulatedWrittenOff int64                              `json:"simulated_written_off_minor"`
}

// Compare simulates one history under pol and compares it with the record.
func Compare(h History, pol policy.Policy, asOf time.Time) CustomerResult {
	run := Replay(h, pol, asOf)
	res := CustomerResult{
		CustomerID: h.Customer.CustomerID, Currency: h.Customer.Currency, RecordedPolicy: h.Customer.Policy,
		Recorded:  OutcomeOf(h.Facts, h.Open, asOf),
		Simulated: OutcomeOf(FactsOf(run.Events), OpenOf(run.Final), asOf),
		Refused:   run.Refused,
	}
	if res.Refused == nil {
		res.Refused = []string{}
	}
	res.Suspension = change(res.Recorded.SuspendedAt, res.Simulated.SuspendedAt)
	res.Termination = change(res.Recorded.TerminatedAt, res.Simulated.TerminatedAt)
	return res
}

// Simulate reads the histories the query selects and compares each under
// pol. A named customer that has no record is an error.
func Simulate(ctx context.Context, src Source, pol policy.Policy, q Query) (Report, error) {
	hs, err := src.Histories(ctx, q)
	if err != nil {
		return Report{}, err
	}
	found := map[string]bool{}
	for _, h := range hs {
		found[h.Customer.CustomerID] = true
	}
	for _, id := range q.CustomerIDs {
		if !found[id] {
			return Report{}, fmt.Errorf("%w %q", ErrUnknownCustomer, id)
		}
	}
	rep := Report{Policy: pol.ID(), AsOf: q.AsOf, Since: q.Since, Customers: []CustomerResult{}, LeftOut: []LeftOut{}}
	for _, h := range hs {
		if h.Unmodelled != "" {
			rep.LeftOut = append(rep.LeftOut, LeftOut{CustomerID: h.Customer.CustomerID, Reason: h.Unmodelled})
			continue
		}
		rep.Customers = append(rep.Customers, Compare(h, pol, q.AsOf))
	}
	rep.Totals = TotalsOf(rep.Customers)
	return rep, nil
}

// ErrUnknownCustomer is returned for a named customer with no record.
var ErrUnknownCustomer = errors.New("unknown customer")

// TotalsOf sums customer results.
func TotalsOf(cs []CustomerResult) Totals {
	t := Totals{Customers: len(cs), Suspension: map[Change]int{}, Termination: map[Change]int{}, Emails: map[string][2]int{}}
	byCur := map[string]*CurrencyTotals{}
	for _, c := range cs {
		if c.Differs() {
			t.Differing++
		}
		t.Suspension[c.Suspension]++
		t.Termination[c.Termination]++
		for stage, n := range c.Recorded.Emails {
			e := t.Emails[stage]
			e[0] += n
			t.Emails[stage] = e
		}
		for stage, n := range c.Simulated.Emails {
			e := t.Emails[stage]
			e[1] += n
			t.Emails[stage] = e
		}
		ct := byCur[c.Currency]
		if ct == nil {
			ct = &CurrencyTotals{Currency: c.Currency}
			byCur[c.Currency] = ct
		}
		for i := range reports.NumBuckets {
			ct.RecordedAging[i].Count += c.Recorded.Aging[i].Count
			ct.RecordedAging[i].Minor += c.Recorded.Aging[i].Minor
			ct.SimulatedAging[i].Count += c.Simulated.Aging[i].Count
			ct.SimulatedAging[i].Minor += c.Simulated.Aging[i].Minor
		}
		ct.RecordedWrittenOff += c.Recorded.WrittenOffMinor
		ct.SimulatedWrittenOff += c.Simulated.WrittenOffMinor
	}
	for _, cur := range slices.Sorted(maps.Keys(byCur)) {
		t.Currencies = append(t.Currencies, *byCur[cur])
	}
	if t.Currencies == nil {
		t.Currencies = []CurrencyTotals{}
	}
	return t
}
