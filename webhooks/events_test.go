package webhooks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

var t0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

func testAccount(t *testing.T) *account.Account {
	t.Helper()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := reg.Get("standard")
	if err != nil {
		t.Fatal(err)
	}
	app := account.Application{
		CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Phone: "+14155550100",
		Country: "US", Currency: "USD", Locale: "en", Policy: "standard",
		Plan:              account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentBankTransfer},
		SignupIP:          "203.0.113.7",
	}
	return account.New(app, pol, "low", t0)
}

// public maps events as Record would, with the account's balance after them.
func public(a *account.Account, events []account.Event) []Event {
	var out []Event
	for _, ev := range events {
		out = append(out, FromAudit(Account{CustomerID: "acme", BalanceMinor: a.Balance(), Currency: "USD"}, ev.Key, ev)...)
	}
	return out
}

func types(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Type))
	}
	return strings.Join(s, " ")
}

func find(t *testing.T, evs []Event, typ EventType) Event {
	t.Helper()
	for _, e := range evs {
		if e.Type == typ {
			return e
		}
	}
	t.Fatalf("no %s in %s", typ, types(evs))
	return Event{}
}

// runUntil advances the account through every wake-up up to until.
func runUntil(a *account.Account, until time.Time) []account.Event {
	var all []account.Event
	for {
		at, _, ok := a.NextWake()
		if !ok || at.After(until) {
			return all
		}
		all = append(all, a.Advance(at)...)
	}
}

// A customer's life, through the real state machine: each step gives the
// public events an integrator expects, and no others.
func TestPublicEventsOfALifecycle(t *testing.T) {
	a := testAccount(t)
	evs, err := a.Approve(true, account.SystemActor, "screening: approve_prepayment", t0)
	if err != nil {
		t.Fatal(err)
	}
	got := public(a, evs)
	if types(got) != "account.status_changed invoice.issued" {
		t.Fatalf("approval with prepayment: %s", types(got))
	}
	if inv := find(t, got, InvoiceIssued).Data.Invoice; inv.Kind != account.KindPrepayment || inv.AmountMinor != 10000 || inv.OutstandingMinor != 10000 {
		t.Fatalf("prepayment invoice: %+v", inv)
	}

	pay := func(id string, amount int64, at time.Time) []Event {
		_, evs, err := a.RecordPayment(account.Payment{PaymentID: id, AmountMinor: amount, Currency: "USD", Method: "bank_transfer"}, at)
		if err != nil {
			t.Fatal(err)
		}
		return public(a, evs)
	}
	got = pay("prepay", 10000, t0.Add(time.Hour))
	if types(got) != "invoice.paid account.status_changed" {
		t.Fatalf("prepayment paid: %s", types(got))
	}
	if sc := find(t, got, AccountStatusChanged).Data; sc.StatusFrom != account.StatusAwaitingPrepayment || sc.StatusTo != account.StatusActive || sc.AccessTo != account.AccessLimited {
		t.Fatalf("activation: %+v", sc)
	}

	// Never paid: the first subscription invoice runs its ladder to the
	// suspension.
	got = public(a, runUntil(a, t0.AddDate(0, 0, 70)))
	want := []EventType{InvoiceIssued, AccountStatusChanged, AccountSuspended, AccountStatusChanged}
	if !subsequence(got, want) {
		t.Fatalf("ladder to suspension: got %s, want in order %v", types(got), want)
	}
	if a.Status != account.StatusSuspended {
		t.Fatalf("status %s", a.Status)
	}
	if s := find(t, got, AccountSuspended).Data; s.SuspensionReason != account.ReasonNonPayment || s.Actor != account.SystemActor {
		t.Fatalf("suspended: %+v", s)
	}
	for _, e := range got {
		if e.Type == DunningFinished || e.Type == InvoicePaid {
			t.Fatalf("nothing was paid, yet %s", e.Type)
		}
	}

	// Paying everything ends the ladders and reinstates.
	got = pay("late", a.Balance(), t0.AddDate(0, 0, 71))
	for _, typ := range []EventType{InvoicePaid, DunningFinished, AccountReinstated, AccountStatusChanged} {
		find(t, got, typ)
	}
	df := find(t, got, DunningFinished).Data
	if df.Outcome != account.InvoicePaid || df.Stage == "" || df.Stage == account.StageIssued || df.BalanceMinor == nil || *df.BalanceMinor != 0 || df.Currency != "USD" {
		t.Fatalf("dunning finished: %+v", df)
	}
	if r := find(t, got, AccountReinstated).Data; len(r.Lifted) != 1 || r.Lifted[0] != account.ReasonNonPayment {
		t.Fatalf("reinstated: %+v", r)
	}

	// Termination by staff.
	evs, err = a.Terminate(account.StaffAction{Actor: "kim", Reason: "closed by request"}, t0.AddDate(0, 0, 72))
	if err != nil {
		t.Fatal(err)
	}
	got = public(a, evs)
	if tr := find(t, got, AccountTerminated).Data; tr.Actor != "kim" || tr.Reason != "closed by request" {
		t.Fatalf("terminated: %+v", tr)
	}
}

func subsequence(got []Event, want []EventType) bool {
	i := 0
	for _, e := range got {
		if i < len(want) && e.Type == want[i] {
			i++
		}
	}
	return i == len(want)
}

// Reviews: a misuse report opens one, the decision closes it.
func TestReviewEvents(t *testing.T) {
	a := testAccount(t)
	if _, err := a.Approve(false, account.SystemActor, "screening: approve", t0); err != nil {
		t.Fatal(err)
	}
	evs, err := a.ReportAbuse(account.AbuseReport{NoticeID: "n-1", Category: "spam", Source: account.SourceComplaint, Detail: "spam runs", Actor: "ops"},
		account.SeverityModerate, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	opened := find(t, public(a, evs), ReviewOpened).Data.Review
	if opened.Kind != account.ReviewMisuse || opened.Category != "spam" || opened.Severity != account.SeverityModerate || opened.Decision != "" {
		t.Fatalf("review opened: %+v", opened)
	}
	evs, err = a.ReviewDecision(account.Decision{ReviewID: opened.ID, Decision: account.DecisionReinstate, Actor: "lee", Note: "no misuse"}, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	decided := find(t, public(a, evs), ReviewDecided)
	if decided.Data.Review.Decision != account.DecisionReinstate || decided.Data.Review.DecidedBy != "lee" || decided.Data.Actor != "lee" {
		t.Fatalf("review decided: %+v", decided.Data)
	}
}

// Event IDs are stable per audit key and type, and differ otherwise; the
// payload has the documented shape.
func TestEventIDAndPayload(t *testing.T) {
	// Pinned: receivers de-duplicate on it, so it never changes.
	if id := EventID("acme/7", InvoicePaid); id != "evt_0cc803bdd32d59825b48a47d3be6d27b" {
		t.Fatalf("event ID %q", id)
	}
	if EventID("acme/7", InvoicePaid) == EventID("acme/7", DunningFinished) || EventID("acme/7", InvoicePaid) == EventID("acme/7#ab12", InvoicePaid) {
		t.Fatal("event IDs collide")
	}
	ev := account.Event{Key: "acme/3", At: t0.In(time.FixedZone("KST", 9*3600)), Type: account.EventAccountSuspended, Actor: "kim", Reason: "by hand",
		Detail: map[string]string{"suspension_reason": "manual", "reasons": "manual,misuse"}}
	got := FromAudit(Account{CustomerID: "acme"}, "acme/3", ev)
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + EventID("acme/3", AccountSuspended) + `","type":"account.suspended","customer_id":"acme","occurred_at":"2026-01-01T09:00:00Z",` +
		`"data":{"actor":"kim","reason":"by hand","suspension_reason":"manual","suspension_reasons":["manual","misuse"]}}`
	if string(b) != want {
		t.Fatalf("payload\n got %s\nwant %s", b, want)
	}
	// Internal events give none.
	for _, typ := range []account.EventType{account.EventStaffAlerted, account.EventPaymentRecorded, account.EventPhoneCodeSent, account.DunningEvent("overdue_1")} {
		if n := len(FromAudit(Account{CustomerID: "acme"}, "acme/1", account.Event{Type: typ, Detail: map[string]string{}})); n != 0 {
			t.Fatalf("%s gave %d public events", typ, n)
		}
	}
}

func TestParseTypes(t *testing.T) {
	got, err := ParseTypes(" invoice.paid,account.suspended ")
	if err != nil || len(got) != 2 || got[0] != InvoicePaid || got[1] != AccountSuspended {
		t.Fatalf("%v %v", got, err)
	}
	if all, err := ParseTypes("*"); err != nil || len(all) != len(Types()) {
		t.Fatalf("*: %v %v", all, err)
	}
	for in, want := range map[string]string{
		"":                           "name at least one event type",
		"invoice.paid,invoice.payed": `unknown event type "invoice.payed"`,
		"invoice.paid,,invoice.paid": "given twice",
		"payment.recorded":           "known: account.status_changed",
		"invoice.paid\x00":           "unknown event type",
	} {
		if _, err := ParseTypes(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
