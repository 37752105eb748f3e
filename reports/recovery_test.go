package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/policy"
)

// recoveryFixture writes rows the way the system does: customers,
// invoices, payments and their allocations, charge attempts and emails.
type recoveryFixture struct {
	t  *testing.T
	db *sqlx.DB
	n  int
}

func (f *recoveryFixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatalf("%v\n%s", err, q)
	}
}

func (f *recoveryFixture) customer(id, policyID, currency string) {
	f.exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
			monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at)
		VALUES ($1, $1, 'billing@example.test', '+14155550100', 'US', $2, 'en', $3, 1000, 'card', '192.0.2.1', 'active', 'full', now(), now())`,
		id, currency, policyID)
}

func (f *recoveryFixture) invoice(id, customer, kind, status, currency string, amount int64, due time.Time) {
	f.exec(`INSERT INTO invoices (invoice_id, customer_id, kind, status, currency, amount_minor, period_start, period_end,
			issued_at, due_at, stage, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8, 'issued', now())`,
		id, customer, kind, status, currency, amount, due.AddDate(0, 0, -14), due)
}

// pay records a payment applied wholly to one invoice.
func (f *recoveryFixture) pay(id, customer, invoice, currency, actor string, amount int64, at time.Time) {
	f.exec(`INSERT INTO payments (payment_id, customer_id, amount_minor, currency, method, actor, received_at)
		VALUES ($1, $2, $3, $4, 'card', $5, $6)`, id, customer, amount, currency, actor, at)
	f.exec(`INSERT INTO payment_allocations (customer_id, payment_id, invoice_id, amount_minor) VALUES ($1, $2, $3, $4)`, customer, id, invoice, amount)
}

// attempt records a charge attempt; a succeeded one is also its payment.
func (f *recoveryFixture) attempt(customer, invoice, currency string, n int, trigger, status string, amount int64, at time.Time) {
	pi := ""
	if status == "succeeded" {
		pi = fmt.Sprintf("pi_%s_%d", invoice, n)
		f.pay(pi, customer, invoice, currency, "gateway", amount, at)
	}
	f.exec(`INSERT INTO charge_attempts (customer_id, invoice_id, attempt, idempotency_key, amount_minor, currency,
			payment_method_id, trigger, status, payment_intent_id, requested_at, settled_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pm_1', $7, $8, nullif($9, ''), $10, $10)`,
		customer, invoice, n, fmt.Sprintf("%s:%s:charge:%d", customer, invoice, n), amount, currency, trigger, status, pi, at)
}

func (f *recoveryFixture) email(customer, invoice, stage, status string, at time.Time) {
	f.n++
	f.exec(`INSERT INTO email_outbox (message_key, customer_id, invoice_id, stage, template, to_email, subject, body_text,
			body_html, status, sent_at)
		VALUES ($1, $2, $3, $4, $4, 'billing@example.test', 's', 't', 'h', $5, $6)`,
		customer+":"+invoice+":"+stage+":"+string(rune('a'+f.n)), customer, invoice, stage, status, at)
}

// testPolicies are the shipped policies plus "slow", whose day is 48
// hours, so that the due day and policy days follow the customer's policy.
func testPolicies(t *testing.T) *policy.Registry {
	t.Helper()
	sub, err := policy.EmbeddedFS()
	if err != nil {
		t.Fatal(err)
	}
	std, err := fs.ReadFile(sub, "standard.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	slow := strings.Replace(strings.Replace(string(std), `"name": "standard"`, `"name": "slow"`, 1), `"day": "24h"`, `"day": "48h"`, 1)
	reg, err := policy.LoadFS(fstest.MapFS{"standard.v1.json": {Data: std}, "slow.v1.json": {Data: []byte(slow)}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := reg.Get("slow.v1"); err != nil || p.Day != 48*time.Hour {
		t.Fatalf("slow policy: %v %v", p.Day, err)
	}
	return reg
}

var (
	recSince = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recUntil = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recAsOf  = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
)

// loadRecoveryCases writes one invoice per way an invoice can go; the
// comments say what the report must make of each.
func loadRecoveryCases(t *testing.T, db *sqlx.DB) {
	f := &recoveryFixture{t: t, db: db}
	h := time.Hour
	for _, c := range [][3]string{{"us1", "standard.v1", "USD"}, {"us2", "standard.v1", "USD"}, {"eu1", "standard.v1", "EUR"}, {"sl1", "slow.v1", "USD"}} {
		f.customer(c[0], c[1], c[2])
	}
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 10, 0, 0, 0, time.UTC) }

	// A: the first charge at the due date took it all: collected.
	a := day(1, 10)
	f.invoice("A", "us1", "subscription", "paid", "USD", 10000, a)
	f.attempt("us1", "A", "USD", 1, "schedule", "succeeded", 10000, a.Add(time.Minute))

	// B: the first charge failed; staff recorded a transfer after the
	// overdue_1 email, then the second scheduled attempt took the rest.
	b := day(1, 20)
	f.invoice("B", "us1", "subscription", "paid", "USD", 20000, b)
	f.attempt("us1", "B", "USD", 1, "schedule", "declined", 20000, b.Add(time.Minute))
	f.email("us1", "B", "due", "sent", b)
	f.email("us1", "B", "overdue_1", "sent", b.Add(72*h))
	f.pay("bank-B", "us1", "B", "USD", "alice", 8000, b.Add(96*h))
	f.attempt("us1", "B", "USD", 2, "schedule", "succeeded", 12000, b.Add(120*h))

	// C: no card, never paid.
	c := day(2, 5)
	f.invoice("C", "us2", "subscription", "open", "USD", 5000, c)
	f.email("us2", "C", "overdue_1", "sent", c.Add(72*h))
	f.email("us2", "C", "final_notice", "sent", c.Add(14*24*h))

	// D: the first charge failed; a new card was charged two days later.
	d := day(2, 10)
	f.invoice("D", "us2", "subscription", "paid", "USD", 7000, d)
	f.attempt("us2", "D", "USD", 1, "schedule", "declined", 7000, d)
	f.attempt("us2", "D", "USD", 2, "card_update", "succeeded", 7000, d.Add(48*h))

	// E: paid on the pay-now page after the final notice (logged, not
	// sent, counts); a failed mail after it does not.
	e := day(1, 15)
	f.invoice("E", "eu1", "subscription", "paid", "EUR", 9000, e)
	f.attempt("eu1", "E", "EUR", 1, "schedule", "declined", 9000, e)
	f.email("eu1", "E", "overdue_1", "sent", e.Add(72*h))
	f.email("eu1", "E", "final_notice", "logged", e.Add(14*24*h))
	f.email("eu1", "E", "suspended", "failed", e.Add(15*24*h))
	f.pay("cs_E", "eu1", "E", "EUR", "pay-link", 9000, e.Add(16*24*h))

	// F: a prepayment charged on time: collected, in euros.
	fd := day(2, 20)
	f.invoice("F", "eu1", "prepayment", "paid", "EUR", 4000, fd)
	f.attempt("eu1", "F", "EUR", 1, "prepayment", "succeeded", 4000, fd)

	// G: paid by staff 30 hours after the due date, inside the slow
	// policy's 48-hour due day: on time, not at risk.
	g := day(1, 25)
	f.invoice("G", "sl1", "subscription", "paid", "USD", 3000, g)
	f.pay("bank-G", "sl1", "G", "USD", "bob", 3000, g.Add(30*h))

	// H: the third attempt took it, 96 hours (two slow days) late.
	hd := day(2, 1)
	f.invoice("H", "sl1", "subscription", "paid", "USD", 6000, hd)
	f.attempt("sl1", "H", "USD", 1, "schedule", "declined", 6000, hd)
	f.attempt("sl1", "H", "USD", 2, "schedule", "declined", 6000, hd.Add(48*h))
	f.attempt("sl1", "H", "USD", 3, "schedule", "succeeded", 6000, hd.Add(96*h))

	// K: staff payment two days late with no email sent. Its ID is the
	// same as B's transfer: payment IDs are the customer's own.
	k := day(1, 5)
	f.invoice("K", "us2", "subscription", "paid", "USD", 2500, k)
	f.pay("bank-B", "us2", "K", "USD", "carol", 2500, k.Add(48*h))

	// L: the first scheduled charge ran two days late and succeeded:
	// recovered by a charge that is not a retry.
	l := day(2, 15)
	f.invoice("L", "us1", "subscription", "paid", "USD", 1500, l)
	f.attempt("us1", "L", "USD", 1, "schedule", "succeeded", 1500, l.Add(48*h))

	// Left out: due after the window, and void.
	f.invoice("OUT", "us1", "subscription", "open", "USD", 99999, recUntil)
	f.invoice("VOID", "us1", "subscription", "void", "USD", 88888, day(1, 12))
}

func fig(n, minor int64) Figure { return Figure{Count: n, Minor: minor} }

func bp(n int64) *int64 { return &n }

func sources(retry, card, reminder, staff, other Figure) []SourceFigure {
	return []SourceFigure{{SourceRetry, retry}, {SourceCardUpdate, card}, {SourceReminder, reminder}, {SourceStaff, staff}, {SourceOtherCharge, other}}
}

func TestRecovery(t *testing.T) {
	_, db := pgtest.New(t)
	loadRecoveryCases(t, db)
	reg := testPolicies(t)
	ctx := context.Background()
	rep, err := Recovery(ctx, db, RecoveryOptions{Since: recSince, Until: recUntil, AsOf: recAsOf, Policies: reg})
	if err != nil {
		t.Fatal(err)
	}

	usd := CurrencyRecovery{
		Currency: "USD", Due: fig(8, 55000), Collected: fig(1, 10000), AtRisk: fig(6, 42000),
		Recovered: fig(5, 37000), RecoveredInFull: 5, RateBP: bp(8810), // 37000/42000
		BySource: sources(fig(2, 18000), fig(1, 7000), fig(0, 0), fig(2, 10500), fig(1, 1500)),
		Steps: []StepRecovery{
			{SourceRetry, "attempt_2", 2, fig(1, 12000)}, {SourceRetry, "attempt_3", 3, fig(1, 6000)},
			{SourceCardUpdate, "attempt_2", 2, fig(1, 7000)},
			{SourceStaff, "overdue_1", 0, fig(1, 8000)}, {SourceStaff, StepNoEmail, 0, fig(1, 2500)},
			{SourceOtherCharge, "attempt_1", 1, fig(1, 1500)},
		},
	}
	eur := CurrencyRecovery{
		Currency: "EUR", Due: fig(2, 13000), Collected: fig(1, 4000), AtRisk: fig(1, 9000),
		Recovered: fig(1, 9000), RecoveredInFull: 1, RateBP: bp(10000),
		BySource: sources(fig(0, 0), fig(0, 0), fig(1, 9000), fig(0, 0), fig(0, 0)),
		Steps:    []StepRecovery{{SourceReminder, "final_notice", 0, fig(1, 9000)}},
	}
	if got := rep.Total.Currencies; !reflect.DeepEqual(got, []CurrencyRecovery{eur, usd}) {
		t.Errorf("total:\n got  %+v\n want %+v", got, []CurrencyRecovery{eur, usd})
	}
	// Recovered payments: 48h ×3 (D, K, L), 96h ×2 (B's transfer, H), 120h
	// (B's retry), 384h (E). H's 96 hours are two slow days.
	checkTimes(t, "total", rep.Total.TimeToRecovery, 7, 96, 120+0.4*264, 2, 5+0.4*11)

	if got := months(rep.Months); !reflect.DeepEqual(got, []string{"2026-01", "2026-02"}) {
		t.Fatalf("months %v", got)
	}
	jan, _ := rep.Months[0].find("USD")
	if jan.Due != fig(4, 35500) || jan.AtRisk != fig(2, 22500) || jan.Recovered != fig(2, 22500) || *jan.RateBP != 10000 {
		t.Errorf("January USD: %+v", jan)
	}
	feb, _ := rep.Months[1].find("USD")
	if feb.Due != fig(4, 19500) || feb.AtRisk != fig(4, 19500) || feb.Recovered != fig(3, 14500) || feb.RecoveredInFull != 3 || *feb.RateBP != 7436 {
		t.Errorf("February USD: %+v", feb)
	}

	if len(rep.Policies) != 2 || rep.Policies[0].Policy != "slow.v1" || rep.Policies[1].Policy != "standard.v1" {
		t.Fatalf("policies %+v", rep.Policies)
	}
	slow, _ := rep.Policies[0].Total.find("USD")
	if slow.Due != fig(2, 9000) || slow.AtRisk != fig(1, 6000) || slow.Recovered != fig(1, 6000) ||
		!reflect.DeepEqual(slow.Steps, []StepRecovery{{SourceRetry, "attempt_3", 3, fig(1, 6000)}}) {
		t.Errorf("slow policy: %+v", slow)
	}
	checkTimes(t, "slow", rep.Policies[0].Total.TimeToRecovery, 1, 96, 96, 2, 2)
	if got := months(rep.Policies[0].Months); !reflect.DeepEqual(got, []string{"2026-01", "2026-02"}) {
		t.Errorf("slow months %v", got)
	}
	if _, ok := rep.Policies[1].Total.find("EUR"); !ok {
		t.Errorf("standard policy has no EUR: %+v", rep.Policies[1].Total)
	}

	// The policy filter: by name (every version) and by ID.
	for _, name := range []string{"slow", "slow.v1"} {
		only, err := Recovery(ctx, db, RecoveryOptions{Since: recSince, Until: recUntil, AsOf: recAsOf, Policy: name, Policies: reg})
		if err != nil {
			t.Fatal(err)
		}
		if len(only.Policies) != 1 || !reflect.DeepEqual(only.Total, rep.Policies[0].Total) {
			t.Errorf("--policy %s: %+v", name, only.Policies)
		}
	}
	if none, err := Recovery(ctx, db, RecoveryOptions{Since: recSince, Until: recUntil, AsOf: recAsOf, Policy: "slo", Policies: reg}); err != nil ||
		len(none.Total.Currencies) != 0 || len(none.Policies) != 0 || none.Months == nil {
		t.Errorf("a prefix is not a policy: %+v %v", none, err)
	}

	// As of February 5 at noon, C's due day has not ended and D's charge
	// has not failed yet: neither is at risk. H's first charge failed on
	// February 1.
	early, err := Recovery(ctx, db, RecoveryOptions{Since: day0(2, 1), Until: day0(2, 11), AsOf: time.Date(2026, 2, 5, 12, 0, 0, 0, time.UTC), Policies: reg})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := early.Total.find("USD"); c.Due != fig(3, 18000) || c.AtRisk != fig(1, 6000) {
		t.Errorf("as of Feb 10: %+v", c)
	}

	// With the shipped policies, slow.v1 is unknown: 24-hour days, so G
	// was paid late by staff.
	std, err := Recovery(ctx, db, RecoveryOptions{Since: recSince, Until: recUntil, AsOf: recAsOf, Policy: "slow.v1"})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := std.Total.find("USD"); c.AtRisk != fig(2, 9000) || c.BySource[3].Figure != fig(1, 3000) {
		t.Errorf("slow.v1 with 24-hour days: %+v", c)
	}

	// The writers.
	var js bytes.Buffer
	if err := WriteRecoveryJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back RecoveryReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !reflect.DeepEqual(back.Total, rep.Total) {
		t.Errorf("JSON round trip: %v\n%s", err, js.String())
	}
	for _, field := range []string{`"recovery_rate_bp": 8810`, `"at_risk": {`, `"by_source"`, `"median_days": 2`, `"policy": "slow.v1"`, `"month": "2026-01"`} {
		if !strings.Contains(js.String(), field) {
			t.Errorf("JSON lacks %s", field)
		}
	}
	var text bytes.Buffer
	if err := WriteRecoveryText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"At risk: $420.00 on 6 invoices. Recovered: $370.00 (88.1%) on 5 invoices, 5 in full.",
		"card retries", "attempt 3", "no email", "final_notice", "€90.00", "Policy slow.v1", "2026-02", "median 96.0 hours (2.0 days)"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	var out bytes.Buffer
	if err := WriteRecoveryCSV(&out, rep); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs[0], RecoveryCSVHeader) {
		t.Errorf("header %v", recs[0])
	}
	want := map[string]string{"row": "group", "policy": "", "month": "", "currency": "USD", "at_risk_amount": "420.00",
		"recovered_amount": "370.00", "recovery_rate_percent": "88.10", "retry_amount": "180.00", "median_hours": "96.00"}
	var row []string
	for _, r := range recs {
		if r[0] == "group" && r[1] == "" && r[2] == "" && r[3] == "USD" {
			row = r
			break
		}
	}
	if row == nil {
		t.Fatalf("no total USD row:\n%v", recs)
	}
	for i, col := range RecoveryCSVHeader {
		if w, ok := want[col]; ok && row[i] != w {
			t.Errorf("CSV total USD %s = %q, want %q", col, row[i], w)
		}
	}
}

func day0(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }

func (g RecoveryGroup) find(currency string) (CurrencyRecovery, bool) {
	for _, c := range g.Currencies {
		if c.Currency == currency {
			return c, true
		}
	}
	return CurrencyRecovery{}, false
}

func months(gs []RecoveryGroup) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Month)
	}
	return out
}

func checkTimes(t *testing.T, label string, got TimeToRecovery, n int64, medH, p90H, medD, p90D float64) {
	t.Helper()
	if got.Payments != n || got.MedianHours == nil || got.P90Hours == nil || got.MedianDays == nil || got.P90Days == nil {
		t.Fatalf("%s: time to recovery %+v", label, got)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"median hours", *got.MedianHours, medH}, {"p90 hours", *got.P90Hours, p90H}, {"median days", *got.MedianDays, medD}, {"p90 days", *got.P90Days, p90D}} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s: %s %v, want %v", label, c.name, c.got, c.want)
		}
	}
}

func TestRecoveryOptionsValidate(t *testing.T) {
	ok := RecoveryOptions{Since: recSince, Until: recUntil}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]RecoveryOptions{
		"no since":       {Until: recUntil},
		"reversed":       {Since: recUntil, Until: recSince},
		"empty window":   {Since: recSince, Until: recSince},
		"bad policy":     {Since: recSince, Until: recUntil, Policy: "Standard; DROP"},
		"version suffix": {Since: recSince, Until: recUntil, Policy: "standard.v"},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// CSV cells that come from data are formula-safe; an empty report writes
// the header only.
func TestRecoveryCSVSafe(t *testing.T) {
	rep := RecoveryReport{Total: RecoveryGroup{Currencies: []CurrencyRecovery{{
		Currency: "USD", AtRisk: fig(1, 100), BySource: sources(fig(0, 0), fig(0, 0), fig(0, 0), fig(1, 100), fig(0, 0)),
		Steps: []StepRecovery{{Source: SourceStaff, Step: "=HYPERLINK(\"x\")", Figure: fig(1, 100)}},
	}}}, Policies: []PolicyRecovery{{Policy: "@evil", Total: RecoveryGroup{}}}}
	var b bytes.Buffer
	if err := WriteRecoveryCSV(&b, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `'=HYPERLINK`) || strings.Contains(b.String(), `,=HYPERLINK`) {
		t.Errorf("step not neutralised:\n%s", b.String())
	}
	b.Reset()
	if err := WriteRecoveryCSV(&b, RecoveryReport{}); err != nil || strings.Count(b.String(), "\n") != 1 {
		t.Errorf("empty report: %v %q", err, b.String())
	}
	if got := bpText(bp(6299)); got != "63.0%" {
		t.Errorf("bpText(6299) = %s", got)
	}
	if got := RateBP(1, 3); *got != 3333 {
		t.Errorf("RateBP(1, 3) = %d", *got)
	}
	if RateBP(1, 0) != nil {
		t.Error("RateBP of nothing at risk is not nil")
	}
}
