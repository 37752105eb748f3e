package pgsource_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/lab"
	"github.com/example/dunning/lab/pgsource"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/store"
)

const fee = 10_000 // monthly fee, minor units

var (
	t0   = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	day  = 24 * time.Hour
	asOf = t0.Add(200 * day)
)

// step is one thing a customer or staff does at a time, written against
// whatever account it is given, so that the same script runs under any
// policy. An invoice is named by its billing period, never by its ID.
type step struct {
	at time.Time
	do func(a *account.Account, now time.Time) ([]account.Event, error)
}

func pay(id string, amount int64) func(*account.Account, time.Time) ([]account.Event, error) {
	return func(a *account.Account, now time.Time) ([]account.Event, error) {
		_, ev, err := a.RecordPayment(account.Payment{PaymentID: id, AmountMinor: amount, Currency: "EUR", Method: "bank_transfer", Actor: "ana"}, now)
		return ev, err
	}
}

// invoiceFor is the open subscription invoice for the period starting
// months after service started (a day after t0, when the prepayment is
// paid), or a name no invoice has (the script's update is then refused,
// as it would be by the workflow).
func invoiceFor(a *account.Account, months int) string {
	start := t0.Add(day).AddDate(0, months, 0)
	for _, inv := range a.Invoices {
		if inv.Kind == account.KindSubscription && inv.PeriodStart.Equal(start) {
			return inv.ID
		}
	}
	return "INV-none"
}

type customer struct {
	id     string
	prepay bool
	steps  []step
}

// customers cover what the simulation replays: on-time and late payers, a
// customer who never pays, a prepayment never made, a promise, a
// dispute resolved, usage, and a suspension and reinstatement by hand.
func customers() []customer {
	at := func(d float64) time.Time { return t0.Add(time.Duration(d * float64(day))) }
	return []customer{
		{"punctual", true, []step{
			{at(1), pay("p-pre", 3*fee)},
			{at(95), pay("p-3", fee)},
			{at(125), pay("p-4", fee)},
			{at(155), pay("p-5", fee)},
			{at(185), pay("p-6", fee)},
		}},
		{"late", true, []step{
			{at(1), pay("l-pre", 2*fee)},
			// The first standard invoice (issued at +1mo) is due at day 45;
			// paid 10 days late. Strict's first is issued at +2mo.
			{at(55), pay("l-1", fee)},
			{at(100), pay("l-2", 2*fee)},
		}},
		{"never", true, []step{{at(1), pay("n-pre", 2*fee)}}},
		{"noprepay", true, nil},
		// Pays strict's two-period prepayment only in part: cancelled under
		// strict, so its later updates find no account to act on.
		{"promiser", true, []step{
			{at(1), pay("r-pre", fee)},
			{at(40), func(a *account.Account, now time.Time) ([]account.Event, error) {
				return a.PromiseToPay(account.Promise{InvoiceID: invoiceFor(a, 1), Until: now.Add(6 * day), Actor: "ana", Note: "pays on the 20th"}, now)
			}},
			{at(45), func(a *account.Account, now time.Time) ([]account.Event, error) {
				return a.ReportUsage(account.Usage{UsageID: "u-1", AmountMinor: 2_500, Description: "storage"}, now)
			}},
			{at(48), pay("r-1", fee)},
		}},
		{"disputer", true, []step{
			{at(1), pay("d-pre", 2*fee)},
			{at(62), func(a *account.Account, now time.Time) ([]account.Event, error) {
				return a.DisputeInvoice(account.Dispute{InvoiceID: invoiceFor(a, 2), Reason: "wrong seats", Actor: "ana"}, now)
			}},
			{at(80), func(a *account.Account, now time.Time) ([]account.Event, error) {
				return a.ResolveDispute(account.Resolution{InvoiceID: invoiceFor(a, 2), Outcome: account.OutcomeAdjusted, AmountMinor: fee / 2, Actor: "ana", Note: "two seats off"}, now)
			}},
			{at(90), pay("d-1", 3*fee)},
		}},
		{"staffed", false, []step{
			{at(10), func(a *account.Account, now time.Time) ([]account.Event, error) {
				return a.Suspend(account.StaffAction{Actor: "bo", Reason: "customer asked to pause"}, now)
			}},
			{at(20), func(a *account.Account, now time.Time) ([]account.Event, error) {
				return a.Reinstate(account.StaffAction{Actor: "bo", Reason: "resumed"}, now)
			}},
			{at(30), pay("s-1", fee)},
		}},
	}
}

func application(id string) account.Application {
	app := account.Application{CustomerID: id, Name: "Customer " + id, Email: id + "@example.com", Phone: "+491701234567",
		Country: "DE", Currency: "EUR", Locale: "en", Policy: "standard.v1", Plan: account.Plan{MonthlyFeeMinor: fee},
		PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentBankTransfer}, SignupIP: "192.0.2.10"}
	app.Normalize()
	return app
}

// drive runs a customer's script under pol as the workflow would: every
// agenda item at its own time, each step after what fell due by then.
// record, when set, receives each batch of events with the account.
func drive(t testing.TB, c customer, pol policy.Policy, record func(*account.Account, time.Time, []account.Event)) (*account.Account, []account.Event) {
	t.Helper()
	var all []account.Event
	a := account.New(application(c.id), pol, "low", t0)
	emit := func(now time.Time, ev []account.Event) {
		if len(ev) == 0 {
			return
		}
		all = append(all, ev...)
		if record != nil {
			record(a, now, ev)
		}
	}
	emit(t0, a.Open(t0))
	ev, err := a.Approve(c.prepay, account.SystemActor, "screening", t0)
	if err != nil {
		t.Fatal(err)
	}
	emit(t0, ev)
	until := func(end time.Time) {
		for {
			at, _, ok := a.NextWake()
			if !ok || at.After(end) || a.Status == account.StatusTerminated {
				return
			}
			emit(at, a.Advance(at))
		}
	}
	for _, s := range c.steps {
		until(s.at)
		ev, _ := s.do(a, s.at) // a refused step changes nothing, as an update refused
		emit(s.at, ev)
	}
	until(asOf)
	return a, all
}

func registry(t testing.TB) (standard, strict policy.Policy) {
	t.Helper()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	standard, err = reg.Get("standard.v1")
	if err != nil {
		t.Fatal(err)
	}
	strict, err = reg.Get("strict.v1")
	if err != nil {
		t.Fatal(err)
	}
	return standard, strict
}

// recordAll records every customer under standard.v1 through the
// activity that records for the workflow.
func recordAll(t *testing.T, db *sqlx.DB) map[string]lab.Outcome {
	t.Helper()
	standard, _ := registry(t)
	acts := &activities.Activities{Store: store.New(db)}
	recorded := map[string]lab.Outcome{}
	for _, c := range customers() {
		final, events := drive(t, c, standard, func(a *account.Account, now time.Time, ev []account.Event) {
			if _, err := acts.Record(context.Background(), activities.RecordInput{Customer: activities.CustomerSnapshot(a, now), Events: ev}); err != nil {
				t.Fatalf("record %s: %v", c.id, err)
			}
		})
		recorded[c.id] = lab.OutcomeOf(lab.FactsOf(events), lab.OpenOf(final), asOf)
	}
	return recorded
}

func tableCounts(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var s []string
	for _, tbl := range []string{"customers", "invoices", "payments", "payment_allocations", "usage_records", "audit_log", "write_offs", "email_outbox"} {
		var n int
		if err := db.Get(&n, "SELECT count(*) FROM "+tbl); err != nil {
			t.Fatal(err)
		}
		s = append(s, fmt.Sprintf("%s=%d", tbl, n))
	}
	var changed time.Time
	if err := db.Get(&changed, "SELECT max(updated_at) FROM customers"); err != nil {
		t.Fatal(err)
	}
	return strings.Join(s, " ") + " customers.updated_at=" + changed.String()
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

func sameOutcome(a, b lab.Outcome) bool {
	return sameTime(a.SuspendedAt, b.SuspendedAt) && sameTime(a.TerminatedAt, b.TerminatedAt) &&
		maps.Equal(a.Emails, b.Emails) && a.Aging == b.Aging && a.WrittenOffMinor == b.WrittenOffMinor
}

// The test: customers recorded under standard.v1, simulated under
// strict.v1 from PostgreSQL, checked against the same customers run
// directly under strict.v1.
func TestSimulateAgainstIndependentRun(t *testing.T) {
	_, db := pgtest.New(t)
	recorded := recordAll(t, db)
	_, strict := registry(t)
	before := tableCounts(t, db)

	src := pgsource.Source{DB: db}
	rep, err := lab.Simulate(context.Background(), src, strict, lab.Query{Since: t0.Add(-day), AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	if after := tableCounts(t, db); after != before {
		t.Errorf("the simulation changed the database:\n before %s\n after  %s", before, after)
	}
	if rep.Policy != "strict.v1" || rep.Totals.Customers != len(customers()) {
		t.Fatalf("report = %s over %d customers", rep.Policy, rep.Totals.Customers)
	}
	got := map[string]lab.CustomerResult{}
	for _, c := range rep.Customers {
		got[c.CustomerID] = c
	}
	for _, c := range customers() {
		res, ok := got[c.id]
		if !ok {
			t.Errorf("%s not simulated", c.id)
			continue
		}
		if res.RecordedPolicy != "standard.v1" {
			t.Errorf("%s recorded policy %q", c.id, res.RecordedPolicy)
		}
		// What PostgreSQL says happened is what the standard run did.
		if !sameOutcome(res.Recorded, recorded[c.id]) {
			t.Errorf("%s recorded outcome read back as\n %+v\nwant\n %+v", c.id, res.Recorded, recorded[c.id])
		}
		final, events := drive(t, c, strict, nil)
		want := lab.OutcomeOf(lab.FactsOf(events), lab.OpenOf(final), asOf)
		if !sameOutcome(res.Simulated, want) {
			t.Errorf("%s simulated under strict.v1 as\n %+v %v\nan independent run gives\n %+v", c.id, res.Simulated, res.Refused, want)
		}
	}

	// Known facts of the two ladders, so that the comparison above
	// cannot agree on nonsense. The customer who never pays paid two
	// fees at day 1 (service starts then): under standard the second fee
	// is credit for the first invoice, so the invoice of the third month
	// is the first unpaid, due 14 days after issue and suspended 21 days
	// past due; strict's prepayment covers both months, its first
	// invoice is due 7 days after issue and suspended 7 days past due.
	never := got["never"]
	third := t0.Add(day).AddDate(0, 2, 0)
	stdDue, strictDue := third.Add(14*day), third.Add(7*day)
	if never.Recorded.SuspendedAt == nil || !never.Recorded.SuspendedAt.Equal(stdDue.Add(21*day)) ||
		never.Simulated.SuspendedAt == nil || !never.Simulated.SuspendedAt.Equal(strictDue.Add(7*day)) {
		t.Errorf("never: suspended %v recorded, %v simulated; want %v and %v", never.Recorded.SuspendedAt, never.Simulated.SuspendedAt,
			stdDue.Add(21*day), strictDue.Add(7*day))
	}
	if never.Simulated.TerminatedAt == nil || !never.Simulated.TerminatedAt.Equal(strictDue.Add(30*day)) || never.Termination != lab.ChangeSooner {
		t.Errorf("never: terminated %v simulated (%s), want %v, sooner", never.Simulated.TerminatedAt, never.Termination, strictDue.Add(30*day))
	}
	if never.Recorded.Emails["final_notice"] == 0 || never.Simulated.Emails["overdue_2"] != 0 || never.Simulated.WrittenOffMinor == 0 {
		t.Errorf("never: emails %v recorded, %v simulated, written off %d", never.Recorded.Emails, never.Simulated.Emails, never.Simulated.WrittenOffMinor)
	}
	// Paid one fee of strict's two-period prepayment: cancelled when
	// strict's 3-day deadline passes.
	np := got["noprepay"]
	if np.Simulated.TerminatedAt == nil || !np.Simulated.TerminatedAt.Equal(t0.Add(3*day)) || np.Recorded.TerminatedAt == nil ||
		!np.Recorded.TerminatedAt.Equal(t0.Add(7*day)) {
		t.Errorf("noprepay: cancelled %v recorded, %v simulated", np.Recorded.TerminatedAt, np.Simulated.TerminatedAt)
	}
	// The promise was on an invoice that strict's prepayment covers: it
	// does not exist under strict, and the report says so.
	if r := got["promiser"].Refused; len(r) == 0 || !strings.Contains(r[0], "promise") || !strings.Contains(r[0], "no open invoice for the period from 2026-02-06") {
		t.Errorf("promiser: refused %q", r)
	}
	if got["punctual"].Differs() && got["punctual"].Suspension != lab.ChangeNone {
		t.Errorf("punctual customer suspended: %+v", got["punctual"])
	}
	if rep.Totals.Suspension[lab.ChangeSooner] == 0 || rep.Totals.Differing == 0 {
		t.Errorf("totals = %+v", rep.Totals)
	}
	var eur *lab.CurrencyTotals
	for i := range rep.Totals.Currencies {
		if rep.Totals.Currencies[i].Currency == "EUR" {
			eur = &rep.Totals.Currencies[i]
		}
	}
	if eur == nil || eur.RecordedWrittenOff == 0 || eur.SimulatedWrittenOff == 0 {
		t.Errorf("EUR totals = %+v", eur)
	}

	// Rendered three ways.
	var text, csv strings.Builder
	if err := lab.WriteText(&text, rep); err != nil || !strings.Contains(text.String(), "never (EUR, recorded under standard.v1)") {
		t.Errorf("text = %v\n%s", err, text.String())
	}
	t.Log("\n" + text.String())
	if err := lab.WriteCSV(&csv, rep); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + csv.String())
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	if len(lines) != 1+len(customers())+1 || !strings.HasPrefix(lines[len(lines)-1], "TOTAL,EUR,") {
		t.Errorf("csv = %s", csv.String())
	}
}

// Named customers: only they are read; an unknown one, a hostile ID or a
// bad window is refused and nothing is read or written.
func TestSimulateSelection(t *testing.T) {
	_, db := pgtest.New(t)
	recordAll(t, db)
	_, strict := registry(t)
	before := tableCounts(t, db)
	src := pgsource.Source{DB: db}
	ctx := context.Background()

	rep, err := lab.Simulate(ctx, src, strict, lab.Query{CustomerIDs: []string{"never", "late"}, Since: t0, AsOf: asOf})
	if err != nil || len(rep.Customers) != 2 || rep.Customers[0].CustomerID != "late" || rep.Customers[1].CustomerID != "never" {
		t.Fatalf("named customers = %+v %v", rep.Customers, err)
	}
	// The window selects customers with records in it.
	rep, err = lab.Simulate(ctx, src, strict, lab.Query{Since: asOf.Add(-time.Hour), AsOf: asOf})
	if err != nil || len(rep.Customers) != 0 {
		t.Errorf("an empty window = %+v %v", rep.Customers, err)
	}
	if _, err := lab.Simulate(ctx, src, strict, lab.Query{CustomerIDs: []string{"never", "ghost"}, Since: t0, AsOf: asOf}); !errors.Is(err, lab.ErrUnknownCustomer) ||
		!strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("unknown customer = %v", err)
	}
	for _, q := range []lab.Query{
		{CustomerIDs: []string{"x'; DROP TABLE audit_log; --"}, Since: t0, AsOf: asOf},
		{CustomerIDs: []string{"../../etc"}, Since: t0, AsOf: asOf},
		{CustomerIDs: []string{""}, Since: t0, AsOf: asOf},
		{Since: asOf, AsOf: asOf},
		{Since: t0},
		{CustomerIDs: slices.Repeat([]string{"a"}, lab.MaxCustomers+1), Since: t0, AsOf: asOf},
	} {
		if _, err := lab.Simulate(ctx, src, strict, q); err == nil || errors.Is(err, lab.ErrUnknownCustomer) {
			t.Errorf("bad query %.60v accepted: %v", q, err)
		}
	}
	if after := tableCounts(t, db); after != before {
		t.Errorf("database changed: %s -> %s", before, after)
	}
}

// A payment row restored by reconciliation (method "reconciled", which
// staff cannot give) is replayed as the money it is.
func TestSimulateReplaysRestoredPayments(t *testing.T) {
	_, db := pgtest.New(t)
	standard, _ := registry(t)
	acts := &activities.Activities{Store: store.New(db)}
	never := customers()[2]
	if never.id != "never" {
		t.Fatalf("script %s", never.id)
	}
	drive(t, never, standard, func(a *account.Account, now time.Time, ev []account.Event) {
		if _, err := acts.Record(context.Background(), activities.RecordInput{Customer: activities.CustomerSnapshot(a, now), Events: ev}); err != nil {
			t.Fatal(err)
		}
	})
	// Restored as received on day 60, before standard's suspension of the
	// third month's invoice (day 95).
	if _, err := store.New(db).RestorePayments(context.Background(), "never", []store.ReconciledPayment{{PaymentID: "lost-1", AmountMinor: 5 * fee, Currency: "EUR"}},
		"reconcile", t0.Add(60*day)); err != nil {
		t.Fatal(err)
	}
	rep, err := lab.Simulate(context.Background(), pgsource.Source{DB: db}, standard, lab.Query{CustomerIDs: []string{"never"}, Since: t0, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Customers[0]
	if len(c.Refused) != 0 || c.Simulated.SuspendedAt != nil || c.Suspension != lab.ChangeAvoided {
		t.Errorf("with the restored payment: refused %q, suspended %v (%s)", c.Refused, c.Simulated.SuspendedAt, c.Suspension)
	}
}

// A customer whose record holds subscriptions beyond the plan fee or an
// exemption is left out, with the reason, instead of compared wrongly.
func TestSimulateLeavesOutWhatItCannotReplay(t *testing.T) {
	_, db := pgtest.New(t)
	recordAll(t, db)
	_, strict := registry(t)
	at := t0.Add(48 * time.Hour)
	for _, q := range []string{
		`INSERT INTO audit_log (event_key, customer_id, at, actor, action, reason) VALUES ('x1', 'never', $1, 'alice', 'exemption.set', 'hardship')`,
		`UPDATE invoices SET lines = '[{"kind":"subscription","subscription_id":"seats","description":"Seats","amount_minor":100}]'
		 WHERE invoice_id = (SELECT min(invoice_id) FROM invoices WHERE customer_id = 'late')`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, at)
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := lab.Simulate(context.Background(), pgsource.Source{DB: db}, strict, lab.Query{Since: t0, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]string{}
	for _, l := range rep.LeftOut {
		left[l.CustomerID] = l.Reason
	}
	if len(left) != 2 || !strings.Contains(left["never"], "exemptions") || !strings.Contains(left["late"], "subscriptions") {
		t.Errorf("left out %v", rep.LeftOut)
	}
	for _, c := range rep.Customers {
		if left[c.CustomerID] != "" {
			t.Errorf("%s was compared although it was left out", c.CustomerID)
		}
	}
	if rep.Totals.Customers != len(customers())-2 {
		t.Errorf("totals over %d customers, want %d", rep.Totals.Customers, len(customers())-2)
	}
	var text strings.Builder
	if err := lab.WriteText(&text, rep); err != nil || !strings.Contains(text.String(), "never not simulated: exemptions are not simulated") {
		t.Errorf("text: %v\n%s", err, text.String())
	}
}
