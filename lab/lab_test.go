package lab

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reports"
)

var (
	start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day   = 24 * time.Hour
)

func pol(t *testing.T, id string) policy.Policy {
	t.Helper()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func history() History {
	app := account.Application{CustomerID: "c1", Name: "C", Email: "c@example.com", Phone: "+491701234567", Country: "DE",
		Currency: "EUR", Locale: "en", Policy: "standard.v1", Plan: account.Plan{MonthlyFeeMinor: 1000},
		PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentBankTransfer}, SignupIP: "192.0.2.1"}
	return History{Customer: app, StartedAt: start, Approval: &Approval{At: start}}
}

// Without prepayment the first invoice is issued at approval and its
// ladder runs step by step: every notice of standard.v1 is sent, none is
// skipped as superseded, because the account is moved to each step's own
// time (not caught up at the end).
func TestReplayTakesEveryStepAtItsTime(t *testing.T) {
	p := pol(t, "standard.v1")
	run := Replay(history(), p, start.Add(20*day))
	var stages []string
	for _, ev := range run.Events {
		if ev.Notice != nil {
			stages = append(stages, ev.Notice.Stage)
		}
		if ev.Type == account.EventDunningSkipped {
			t.Errorf("a step was skipped: %+v", ev)
		}
	}
	if got := strings.Join(stages, ","); got != "invoice_issued,upcoming,due,overdue_1" {
		t.Errorf("notices = %s", got)
	}
	o := OutcomeOf(FactsOf(run.Events), OpenOf(run.Final), start.Add(20*day))
	if o.SuspendedAt != nil || o.Aging[1].Minor != 1000 || o.Emails["due"] != 1 {
		t.Errorf("outcome = %+v", o)
	}
}

// A payment is replayed at its recorded time; an input the candidate's
// account refuses is reported and changes nothing.
func TestReplayInputs(t *testing.T) {
	p := pol(t, "strict.v1")
	h := history()
	h.Invoices = []RecordedInvoice{{ID: "INV-c1-0001", Kind: account.KindSubscription, PeriodStart: start}}
	h.Inputs = []Input{
		{At: start.Add(2 * day), Kind: InputPromise, Promise: &account.Promise{InvoiceID: "INV-c1-0001", Until: start.Add(30 * day), Actor: "ana"}},
		{At: start.Add(3 * day), Kind: InputDispute, Dispute: &account.Dispute{InvoiceID: "INV-unknown", Reason: "x", Actor: "ana"}},
		{At: start.Add(4 * day), Kind: InputPayment, Payment: &account.Payment{PaymentID: "p1", AmountMinor: 1000, Currency: "EUR", Method: "cash", Actor: "ana"}},
		{At: start.Add(5 * day), Kind: "teleport"},
	}
	run := Replay(h, p, start.Add(25*day))
	if len(run.Refused) != 3 ||
		!strings.Contains(run.Refused[0], "further away than the policy allows") || // strict allows 7-day promises
		!strings.Contains(run.Refused[1], "invoice INV-unknown is not in the record") ||
		!strings.Contains(run.Refused[2], `unknown input kind "teleport"`) {
		t.Errorf("refused = %q", run.Refused)
	}
	o := OutcomeOf(FactsOf(run.Events), OpenOf(run.Final), start.Add(25*day))
	if o.SuspendedAt != nil || o.Aging != [5]reports.Figure{} {
		t.Errorf("paid on day 4, before strict's suspension on day 14: %+v", o)
	}
}

// A customer never approved is opened and nothing else.
func TestReplayUnapproved(t *testing.T) {
	h := history()
	h.Approval = nil
	run := Replay(h, pol(t, "strict.v1"), start.Add(100*day))
	if len(run.Events) != 1 || run.Events[0].Type != account.EventAccountOpened || run.Final.Status != account.StatusScreening {
		t.Errorf("events = %+v", run.Events)
	}
}

func TestChange(t *testing.T) {
	a, b := start, start.Add(day)
	for _, c := range []struct {
		rec, sim *time.Time
		want     Change
	}{
		{nil, nil, ChangeNone}, {nil, &a, ChangeNew}, {&a, nil, ChangeAvoided},
		{&b, &a, ChangeSooner}, {&a, &b, ChangeLater}, {&a, &a, ChangeNone},
	} {
		if got := change(c.rec, c.sim); got != c.want {
			t.Errorf("change(%v, %v) = %s, want %s", c.rec, c.sim, got, c.want)
		}
	}
}

type failing struct{ err error }

func (f failing) Histories(context.Context, Query) ([]History, error) { return nil, f.err }

// A source that fails gives no report at all, never a partial one.
func TestSimulateSourceFails(t *testing.T) {
	cut := errors.New("connection reset")
	rep, err := Simulate(context.Background(), failing{cut}, pol(t, "strict.v1"), Query{Since: start, AsOf: start.Add(day)})
	if !errors.Is(err, cut) || rep.Customers != nil {
		t.Errorf("Simulate = %+v %v", rep, err)
	}
}

// A rejected application is replayed as rejected: not the policy's doing.
func TestReplayRejected(t *testing.T) {
	h := history()
	h.Approval = &Approval{At: start.Add(time.Hour), Rejected: true}
	h.Facts = []Fact{{At: start.Add(time.Hour), Type: account.EventApplicationRejected, NoticeStage: "application_rejected"}}
	res := Compare(h, pol(t, "strict.v1"), start.Add(100*day))
	if res.Termination != ChangeNone || res.Simulated.TerminatedAt == nil || res.Differs() {
		t.Errorf("rejected: %+v", res)
	}
}

// Only the notices a simulation produces are compared: a budget warning or
// a misuse suspension's notice is on neither side.
func TestComparedNotices(t *testing.T) {
	at := start.Add(day)
	o := OutcomeOf([]Fact{
		{At: at, Type: account.DunningEvent("overdue_1"), NoticeStage: "overdue_1"},
		{At: at, Type: account.EventAccountSuspended, SuspensionReason: account.ReasonNonPayment, NoticeStage: "suspended"},
		{At: at, Type: account.EventAccountSuspended, SuspensionReason: account.ReasonMisuse, NoticeStage: "suspended_misuse"},
		{At: at, Type: account.EventBudgetThreshold, NoticeStage: "budget_80"},
		{At: at, Type: account.EventPhoneCodeSent, NoticeStage: "phone_verification"},
		{At: at.Add(365 * day), Type: account.DunningEvent("due"), NoticeStage: "due"}, // after the end
	}, nil, start.Add(30*day))
	if len(o.Emails) != 2 || o.Emails["overdue_1"] != 1 || o.Emails["suspended"] != 1 {
		t.Errorf("emails = %v", o.Emails)
	}
}
