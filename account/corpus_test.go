package account

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/money"
)

// Hostile text used throughout the bad-input corpus.
const (
	nul       = "pay\x00ment"
	bell      = "ring\x07"
	ansi      = "\x1b[31mred"
	c1        = "next\u0085line"
	del       = "rub\x7fout"
	rlo       = "INV\u202e1000"           // right-to-left override: displays reversed
	lri       = "note \u2066hidden\u2069" // isolate
	rlm       = "mark\u200f"
	alm       = "arabic\u061cmark"
	lsep      = "line\u2028sep"
	bom       = "\ufeffbom"
	badUTF8   = "caf\xe9"
	truncUTF8 = "euro\xe2\x82"
	cr        = "line\rreturn"
)

var (
	long1001 = strings.Repeat("a", 1001)
	// Exactly at the limits, in multi-byte runes: accepted whole.
	exact1000 = strings.Repeat("가", 333) + "a" // 999+1 bytes
	korean    = "주식회사 에이크미 — 결제 약속"
	emoji     = "Paid via 🏦 transfer, ref Ünïcödé «42»"
	multiLine = "first line\n\tsecond line, indented"
)

// corpusFixture is an account with an open subscription invoice (and,
// when asked, a dispute on it or an open misuse review) at time now.
type corpusFixture struct {
	a   *Account
	inv string
	now time.Time
}

func newCorpusFixture(t *testing.T, setup string) corpusFixture {
	t.Helper()
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	inv := a.Invoices[len(a.Invoices)-1]
	now := inv.IssuedAt.Add(day)
	switch setup {
	case "dispute":
		if _, err := a.DisputeInvoice(Dispute{InvoiceID: inv.ID, Reason: "not ours", Actor: "alice"}, now); err != nil {
			t.Fatal(err)
		}
	case "review":
		if _, err := a.ReportAbuse(AbuseReport{NoticeID: "N-1", Category: "spam", Source: "staff", Detail: "spam"}, SeverityModerate, now); err != nil {
			t.Fatal(err)
		}
	case "credit-max":
		if _, _, err := a.RecordPayment(Payment{PaymentID: "big", AmountMinor: money.MaxMinor, Currency: "USD", Method: "bank_transfer"}, now); err != nil {
			t.Fatal(err)
		}
	case "usage-max":
		if _, err := a.ReportUsage(Usage{UsageID: "big", AmountMinor: money.MaxMinor}, now); err != nil {
			t.Fatal(err)
		}
	case "code":
		a.PhoneCodeSent(fakeHash("salt", "123456"), "salt", now)
	case "suspended":
		if _, err := a.Suspend(StaffAction{Actor: "alice", Reason: "chargeback"}, now); err != nil {
			t.Fatal(err)
		}
	}
	return corpusFixture{a: a, inv: inv.ID, now: now}
}

// corpusCase is one input to one operation: refused with an error
// containing want, or accepted (want "") with stored checking that what
// was kept is exactly what was sent.
type corpusCase struct {
	name   string
	setup  string // "", "dispute", "review", "suspended", "code", "credit-max", "usage-max"
	op     func(f corpusFixture) ([]Event, error)
	want   string
	stored func(t *testing.T, f corpusFixture, events []Event)
}

func payment(mut func(*Payment)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		p := Payment{PaymentID: "pay-1", AmountMinor: 5000, Currency: "USD", Method: "bank_transfer", Reference: "ref"}
		mut(&p)
		_, ev, err := f.a.RecordPayment(p, f.now)
		return ev, err
	}
}

func usage(mut func(*Usage)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		u := Usage{UsageID: "u-1", AmountMinor: 100, Description: "compute"}
		mut(&u)
		return f.a.ReportUsage(u, f.now)
	}
}

func budget(mut func(*Budget)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		b := Budget{LimitMinor: 50000, NoticePercents: []int{50, 100}, Actor: "alice"}
		mut(&b)
		return f.a.SetBudget(b, f.now)
	}
}

func abuse(mut func(*AbuseReport)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		r := AbuseReport{NoticeID: "N-9", Category: "spam", Source: "provider", Detail: "spam complaint", Actor: "abuse-desk"}
		mut(&r)
		return f.a.ReportAbuse(r, SeverityModerate, f.now)
	}
}

func promise(mut func(*Promise, corpusFixture)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		p := Promise{InvoiceID: f.inv, Until: f.now.Add(5 * day), Actor: "alice", Note: "will pay"}
		mut(&p, f)
		return f.a.PromiseToPay(p, f.now)
	}
}

func staff(op func(*Account, StaffAction, time.Time) ([]Event, error), mut func(*StaffAction)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		s := StaffAction{Actor: "alice", Reason: "chargeback", Note: "see ticket 42"}
		mut(&s)
		return op(f.a, s, f.now)
	}
}

func dispute(mut func(*Dispute, corpusFixture)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		d := Dispute{InvoiceID: f.inv, Reason: "service was down", Actor: "alice"}
		mut(&d, f)
		return f.a.DisputeInvoice(d, f.now)
	}
}

func resolve(mut func(*Resolution, corpusFixture)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		r := Resolution{InvoiceID: f.inv, Outcome: OutcomeUpheld, Actor: "alice"}
		mut(&r, f)
		return f.a.ResolveDispute(r, f.now)
	}
}

func writeOff(mut func(*InvoiceAction, corpusFixture)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		w := InvoiceAction{InvoiceID: f.inv, Actor: "alice", Reason: "goodwill"}
		mut(&w, f)
		return f.a.WriteOff(w, f.now)
	}
}

func decision(mut func(*Decision)) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		d := Decision{Decision: DecisionReinstate, Actor: "alice", Note: "false alarm"}
		mut(&d)
		return f.a.ReviewDecision(d, f.now)
	}
}

func phoneCode(code string) func(f corpusFixture) ([]Event, error) {
	return func(f corpusFixture) ([]Event, error) {
		return f.a.VerifyPhone(PhoneCode{Code: code}, fakeCheck, f.now)
	}
}

// eventWith finds the first event of the type.
func eventWith(t *testing.T, events []Event, typ EventType) Event {
	t.Helper()
	for _, e := range events {
		if e.Type == typ {
			return e
		}
	}
	t.Fatalf("no %s event in %d events", typ, len(events))
	return Event{}
}

func sameText(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s stored as %q, sent %q", what, got, want)
	}
}

func updateCorpus() []corpusCase {
	var cases []corpusCase
	add := func(c ...corpusCase) { cases = append(cases, c...) }

	// RecordPayment.
	for name, id := range map[string]string{"empty": "", "space": "pay 1", "nul": "pay\x00", "slash": "../etc/passwd",
		"bidi": "pay\u202e1", "too long": strings.Repeat("p", 129), "unicode": "결제-1", "leading dot": ".pay"} {
		add(corpusCase{name: "payment/payment_id " + name, op: payment(func(p *Payment) { p.PaymentID = id }), want: "payment_id"})
	}
	for name, amt := range map[string]int64{"zero": 0, "negative": -1, "int64 max": math.MaxInt64, "int64 min": math.MinInt64,
		"max+1": money.MaxMinor + 1} {
		add(corpusCase{name: "payment/amount " + name, op: payment(func(p *Payment) { p.AmountMinor = amt }), want: "amount_minor"})
	}
	add(corpusCase{name: "payment/amount at the maximum", op: payment(func(p *Payment) { p.AmountMinor = money.MaxMinor }),
		stored: func(t *testing.T, f corpusFixture, ev []Event) {
			if got := eventWith(t, ev, EventPaymentRecorded).Payment.AmountMinor; got != money.MaxMinor {
				t.Errorf("amount %d", got)
			}
		}})
	for name, cur := range map[string]string{"lower": "usd", "unknown": "XXX", "nul": "US\x00", "other": "EUR", "long": "USDD"} {
		add(corpusCase{name: "payment/currency " + name, op: payment(func(p *Payment) { p.Currency = cur }), want: "currency"})
	}
	add(corpusCase{name: "payment/method unknown", op: payment(func(p *Payment) { p.Method = "wire\x00" }), want: "method"})
	for name, ref := range map[string]string{"nul": nul, "bell": bell, "ansi": ansi, "c1": c1, "del": del, "rlo": rlo,
		"lri": lri, "rlm": rlm, "alm": alm, "lsep": lsep, "bom": bom, "bad utf8": badUTF8, "truncated utf8": truncUTF8,
		"newline": "a\nb", "cr": cr, "long": long1001} {
		add(corpusCase{name: "payment/reference " + name, op: payment(func(p *Payment) { p.Reference = ref }), want: "reference"})
	}
	add(corpusCase{name: "payment/credit past the maximum", setup: "credit-max", op: payment(func(p *Payment) { p.AmountMinor = 20000 }),
		want: "would take the account's credit"})
	add(corpusCase{name: "payment/actor bidi", op: payment(func(p *Payment) { p.Actor = "ali\u202ece" }), want: "actor"})
	for _, ref := range []string{emoji, exact1000, korean} {
		add(corpusCase{name: "payment/reference stored whole " + ref[:4], op: payment(func(p *Payment) { p.Reference = ref }),
			stored: func(t *testing.T, f corpusFixture, ev []Event) {
				sameText(t, "reference", eventWith(t, ev, EventPaymentRecorded).Payment.Reference, ref)
			}})
	}

	// ReportUsage.
	add(corpusCase{name: "usage/usage_id nul", op: usage(func(u *Usage) { u.UsageID = "u\x00" }), want: "usage_id"})
	add(corpusCase{name: "usage/amount int64 max", op: usage(func(u *Usage) { u.AmountMinor = math.MaxInt64 }), want: "amount_minor"})
	add(corpusCase{name: "usage/period past the maximum", setup: "usage-max", op: usage(func(u *Usage) { u.AmountMinor = 1 }),
		want: "would take this period's usage"})
	add(corpusCase{name: "usage/amount negative", op: usage(func(u *Usage) { u.AmountMinor = -5 }), want: "amount_minor"})
	for name, d := range map[string]string{"nul": nul, "rlo": rlo, "bad utf8": badUTF8, "long": long1001, "cr": cr, "c1": c1} {
		add(corpusCase{name: "usage/description " + name, op: usage(func(u *Usage) { u.Description = d }), want: "description"})
	}
	add(corpusCase{name: "usage/description multi-line stored whole", op: usage(func(u *Usage) { u.Description = multiLine }),
		stored: func(t *testing.T, f corpusFixture, ev []Event) {
			sameText(t, "description", eventWith(t, ev, EventUsageRecorded).Usage.Description, multiLine)
		}})

	// SetBudget.
	for name, l := range map[string]int64{"negative": -1, "int64 max": math.MaxInt64, "max+1": money.MaxMinor + 1} {
		add(corpusCase{name: "budget/limit " + name, op: budget(func(b *Budget) { b.LimitMinor = l }), want: "limit_minor"})
	}
	for name, p := range map[string][]int{"zero": {0}, "over 100": {101}, "falling": {80, 50}, "repeated": {50, 50}, "huge": {math.MaxInt}} {
		add(corpusCase{name: "budget/notice_percents " + name, op: budget(func(b *Budget) { b.NoticePercents = p }), want: "notice_percents"})
	}
	add(corpusCase{name: "budget/actor nul", op: budget(func(b *Budget) { b.Actor = "al\x00ice" }), want: "actor"})

	// ReportAbuse.
	for name, mut := range map[string]func(*AbuseReport){
		"notice_id slash":    func(r *AbuseReport) { r.NoticeID = "N/1" },
		"notice_id bidi":     func(r *AbuseReport) { r.NoticeID = "N\u202e1" },
		"source unknown":     func(r *AbuseReport) { r.Source = "rumour" },
		"severity unknown":   func(r *AbuseReport) { r.Severity = "apocalyptic" },
		"category nul":       func(r *AbuseReport) { r.Category = "spam\x00" },
		"category empty":     func(r *AbuseReport) { r.Category = "" },
		"category markup":    func(r *AbuseReport) { r.Category = "<script>" },
		"deadline year 1":    func(r *AbuseReport) { r.Deadline = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) },
		"deadline year 1999": func(r *AbuseReport) { r.Deadline = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC) },
		"deadline year 2101": func(r *AbuseReport) { r.Deadline = time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC) },
		"deadline year 9999": func(r *AbuseReport) { r.Deadline = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) },
		"detail empty":       func(r *AbuseReport) { r.Detail = " \n\t" },
		"detail nul":         func(r *AbuseReport) { r.Detail = nul },
		"detail rlo":         func(r *AbuseReport) { r.Detail = rlo },
		"detail bad utf8":    func(r *AbuseReport) { r.Detail = truncUTF8 },
		"detail long":        func(r *AbuseReport) { r.Detail = long1001 },
		"detail ansi":        func(r *AbuseReport) { r.Detail = ansi },
		"actor newline":      func(r *AbuseReport) { r.Actor = "abuse\ndesk" },
	} {
		field := strings.Fields(name)[0]
		add(corpusCase{name: "abuse/" + name, op: abuse(mut), want: field})
	}
	add(corpusCase{name: "abuse/detail multi-line stored whole", op: abuse(func(r *AbuseReport) { r.Detail = multiLine + "\n" + korean }),
		stored: func(t *testing.T, f corpusFixture, ev []Event) {
			sameText(t, "review reason", f.a.Reviews[len(f.a.Reviews)-1].Reason, multiLine+"\n"+korean)
		}})

	// PromiseToPay.
	for name, mut := range map[string]func(*Promise, corpusFixture){
		"invoice_id other customer": func(p *Promise, f corpusFixture) { p.InvoiceID = strings.Replace(f.inv, "acme", "globex", 1) },
		"invoice_id malformed":      func(p *Promise, _ corpusFixture) { p.InvoiceID = "INV acme 1" },
		"invoice_id nul":            func(p *Promise, f corpusFixture) { p.InvoiceID = f.inv + "\x00" },
		"until zero":                func(p *Promise, _ corpusFixture) { p.Until = time.Time{} },
		"until year 1":              func(p *Promise, _ corpusFixture) { p.Until = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC) },
		"until year 1970":           func(p *Promise, _ corpusFixture) { p.Until = time.Unix(0, 0) },
		"until year 2999":           func(p *Promise, _ corpusFixture) { p.Until = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC) },
		"until in the past":         func(p *Promise, f corpusFixture) { p.Until = f.now.Add(-time.Second) },
		"until next year":           func(p *Promise, f corpusFixture) { p.Until = f.now.AddDate(1, 0, 0) },
		"note nul":                  func(p *Promise, _ corpusFixture) { p.Note = nul },
		"note rlo":                  func(p *Promise, _ corpusFixture) { p.Note = rlo },
		"note long":                 func(p *Promise, _ corpusFixture) { p.Note = long1001 },
		"actor empty":               func(p *Promise, _ corpusFixture) { p.Actor = "   " },
		"actor 101 characters":      func(p *Promise, _ corpusFixture) { p.Actor = strings.Repeat("가", 101) },
		"actor control":             func(p *Promise, _ corpusFixture) { p.Actor = "alice\x1b" },
	} {
		field := strings.Fields(name)[0]
		if strings.HasPrefix(name, "invoice_id other") {
			field = "is not an open invoice of customer acme"
		}
		add(corpusCase{name: "promise/" + name, op: promise(mut), want: field})
	}

	// Suspend, Reinstate, Terminate.
	for opName, op := range map[string]func(*Account, StaffAction, time.Time) ([]Event, error){
		"suspend": (*Account).Suspend, "reinstate": (*Account).Reinstate, "terminate": (*Account).Terminate} {
		setup := ""
		if opName == "reinstate" {
			setup = "suspended"
		}
		for name, mut := range map[string]func(*StaffAction){
			"reason nul":     func(s *StaffAction) { s.Reason = nul },
			"reason newline": func(s *StaffAction) { s.Reason = "a\nb" },
			"reason blank":   func(s *StaffAction) { s.Reason = " " },
			"note rlo":       func(s *StaffAction) { s.Note = rlo },
			"note bad utf8":  func(s *StaffAction) { s.Note = badUTF8 },
			"actor nul":      func(s *StaffAction) { s.Actor = "\x00" },
		} {
			field := strings.Fields(name)[0]
			add(corpusCase{name: opName + "/" + name, setup: setup, op: staff(op, mut), want: field})
		}
	}
	add(corpusCase{name: "suspend/note stored whole", op: staff((*Account).Suspend, func(s *StaffAction) { s.Note = multiLine; s.Reason = korean }),
		stored: func(t *testing.T, f corpusFixture, ev []Event) {
			sus := f.a.Suspensions[ReasonManual]
			sameText(t, "note", sus.Note, multiLine)
			sameText(t, "reason", eventWith(t, ev, EventAccountSuspended).Reason, korean)
		}})

	// DisputeInvoice, ResolveDispute, WriteOff.
	add(corpusCase{name: "dispute/invoice_id other customer", op: dispute(func(d *Dispute, f corpusFixture) {
		d.InvoiceID = strings.Replace(f.inv, "acme", "globex", 1)
	}), want: "is not an open invoice of customer acme"})
	add(corpusCase{name: "dispute/reason nul", op: dispute(func(d *Dispute, _ corpusFixture) { d.Reason = nul }), want: "reason"})
	add(corpusCase{name: "dispute/reason rlo", op: dispute(func(d *Dispute, _ corpusFixture) { d.Reason = rlo }), want: "reason"})
	add(corpusCase{name: "dispute/reason multi-line stored whole", op: dispute(func(d *Dispute, _ corpusFixture) { d.Reason = multiLine }),
		stored: func(t *testing.T, f corpusFixture, _ []Event) {
			sameText(t, "dispute reason", f.a.invoice(f.inv).DisputeReason, multiLine)
		}})
	for name, mut := range map[string]func(*Resolution, corpusFixture){
		"outcome unknown":            func(r *Resolution, _ corpusFixture) { r.Outcome = "forgiven" },
		"amount_minor int64 max":     func(r *Resolution, _ corpusFixture) { r.Outcome = OutcomeAdjusted; r.AmountMinor = math.MaxInt64 },
		"amount_minor negative":      func(r *Resolution, _ corpusFixture) { r.Outcome = OutcomeAdjusted; r.AmountMinor = -1 },
		"amount_minor above invoice": func(r *Resolution, _ corpusFixture) { r.Outcome = OutcomeAdjusted; r.AmountMinor = money.MaxMinor },
		"amount_minor with upheld":   func(r *Resolution, _ corpusFixture) { r.AmountMinor = 1 },
		"note nul":                   func(r *Resolution, _ corpusFixture) { r.Note = nul },
		"invoice_id other customer":  func(r *Resolution, f corpusFixture) { r.InvoiceID = strings.Replace(f.inv, "acme", "globex", 1) },
	} {
		field := strings.Fields(name)[0]
		if strings.HasPrefix(name, "invoice_id other") {
			field = "is not an open invoice of customer acme"
		}
		add(corpusCase{name: "resolve/" + name, setup: "dispute", op: resolve(mut), want: field})
	}
	add(corpusCase{name: "write-off/invoice_id bidi", op: writeOff(func(w *InvoiceAction, f corpusFixture) { w.InvoiceID = f.inv + "\u202e" }), want: "invoice_id"})
	add(corpusCase{name: "write-off/reason c1", op: writeOff(func(w *InvoiceAction, _ corpusFixture) { w.Reason = c1 }), want: "reason"})

	// ReviewDecision.
	for name, mut := range map[string]func(*Decision){
		"decision unknown":  func(d *Decision) { d.Decision = "maybe" },
		"review_id nul":     func(d *Decision) { d.ReviewID = "review-1\x00" },
		"review_id unknown": func(d *Decision) { d.ReviewID = "review-99" },
		"note rlo":          func(d *Decision) { d.Note = rlo },
		"note bom":          func(d *Decision) { d.Note = bom },
		"actor long":        func(d *Decision) { d.Actor = long1001 },
	} {
		field := strings.Fields(name)[0]
		if name == "review_id unknown" {
			field = "is not open"
		}
		add(corpusCase{name: "decision/" + name, setup: "review", op: decision(mut), want: field})
	}

	// AddSubscription, ChangeQuantity, CancelSubscription, SetExemption,
	// RemoveExemption.
	addSub := func(mut func(*SubscriptionSpec)) func(f corpusFixture) ([]Event, error) {
		return func(f corpusFixture) ([]Event, error) {
			s := SubscriptionSpec{SubscriptionID: "seats", Product: "Office seats", Quantity: 2, UnitPriceMinor: 1500, Actor: "alice"}
			mut(&s)
			return f.a.AddSubscription(s, f.now)
		}
	}
	for name, id := range map[string]string{"empty": "", "nul": "seats\x00", "bidi": rlo, "slash": "../plan", "too long": strings.Repeat("s", 129)} {
		add(corpusCase{name: "subscription/subscription_id " + name, op: addSub(func(s *SubscriptionSpec) { s.SubscriptionID = id }), want: "subscription_id"})
	}
	for name, text := range map[string]string{"nul": nul, "ansi": ansi, "bidi": rlo, "bad utf-8": badUTF8, "newline": multiLine, "too long": long1001, "empty": ""} {
		add(corpusCase{name: "subscription/product " + name, op: addSub(func(s *SubscriptionSpec) { s.Product = text }), want: "product"})
	}
	for name, q := range map[string]int{"zero": 0, "negative": -3, "too many": MaxQuantity + 1, "int max": math.MaxInt} {
		add(corpusCase{name: "subscription/quantity " + name, op: addSub(func(s *SubscriptionSpec) { s.Quantity = q }), want: "quantity"})
	}
	for name, price := range map[string]int64{"zero": 0, "negative": -1, "int64 max": math.MaxInt64} {
		add(corpusCase{name: "subscription/unit_price " + name, op: addSub(func(s *SubscriptionSpec) { s.UnitPriceMinor = price }), want: "unit_price_minor"})
	}
	add(corpusCase{name: "subscription/quantity times price overflows", op: addSub(func(s *SubscriptionSpec) { s.Quantity, s.UnitPriceMinor = MaxQuantity, money.MaxMinor/10 }),
		want: "more than the maximum amount"})
	add(corpusCase{name: "subscription/product in Korean kept", op: addSub(func(s *SubscriptionSpec) { s.Product = korean }),
		stored: func(t *testing.T, f corpusFixture, ev []Event) {
			sameText(t, "product", eventWith(t, ev, EventSubscriptionAdded).Detail["product"], korean)
		}})
	add(corpusCase{name: "quantity/unknown subscription", op: func(f corpusFixture) ([]Event, error) {
		return f.a.ChangeQuantity(QuantityChange{SubscriptionID: "nosuch", Quantity: 2, Actor: "alice"}, f.now)
	}, want: "not a subscription"})
	add(corpusCase{name: "quantity/reason with nul", op: func(f corpusFixture) ([]Event, error) {
		return f.a.ChangeQuantity(QuantityChange{SubscriptionID: PlanSubscriptionID, Quantity: 2, Actor: "alice", Reason: nul}, f.now)
	}, want: "reason"})
	add(corpusCase{name: "cancel/when", op: func(f corpusFixture) ([]Event, error) {
		return f.a.CancelSubscription(Cancellation{SubscriptionID: PlanSubscriptionID, When: "Now", Actor: "alice", Reason: "r"}, f.now)
	}, want: "when"})
	add(corpusCase{name: "cancel/actor bidi", op: func(f corpusFixture) ([]Event, error) {
		return f.a.CancelSubscription(Cancellation{SubscriptionID: PlanSubscriptionID, When: CancelNow, Actor: rlo, Reason: "r"}, f.now)
	}, want: "actor"})
	for name, kind := range map[string]Exemption{"empty": "", "upper": "MANUAL_PAY", "unknown": "no_invoices", "nul": "manual_pay\x00"} {
		add(corpusCase{name: "exemption/kind " + name, op: func(f corpusFixture) ([]Event, error) {
			return f.a.SetExemption(ExemptionRequest{Exemption: kind, Reason: "r", Actor: "alice"}, f.now)
		}, want: "exemption"})
	}
	add(corpusCase{name: "exemption/until in the past", op: func(f corpusFixture) ([]Event, error) {
		return f.a.SetExemption(ExemptionRequest{Exemption: ExemptNoDunning, Reason: "r", Actor: "alice", Until: f.now.Add(-time.Second)}, f.now)
	}, want: "not in the future"})
	add(corpusCase{name: "exemption/remove one not set", op: func(f corpusFixture) ([]Event, error) {
		return f.a.RemoveExemption(ExemptionRemoval{Exemption: ExemptManualPay, Reason: "r", Actor: "alice"}, f.now)
	}, want: "has no exemption"})

	// VerifyPhone.
	for name, code := range map[string]string{"nul": "12345\x00", "fullwidth digits": "１２３４５６", "seven digits": "1234567",
		"letters": "12a456", "arabic-indic digits": "١٢٣٤٥٦"} {
		add(corpusCase{name: "phone/code " + name, setup: "code", op: phoneCode(code), want: "code must be the 6 digits"})
	}
	return cases
}

// snapshot is the whole account as JSON: a refused operation must leave it
// byte-for-byte the same.
func snapshot(t *testing.T, a *Account) string {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every update refuses hostile or unstorable input with an error naming the
// field, and changes nothing; what it accepts it keeps byte for byte.
func TestUpdateBadInputCorpus(t *testing.T) {
	cases := updateCorpus()
	refused := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newCorpusFixture(t, tc.setup)
			before := snapshot(t, f.a)
			events, err := tc.op(f)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				tc.stored(t, f, events)
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if len(events) != 0 {
				t.Errorf("refused but returned %d events", len(events))
			}
			if after := snapshot(t, f.a); after != before {
				t.Errorf("refused but the account changed:\nbefore %s\nafter  %s", before, after)
			}
		})
		if tc.want != "" {
			refused++
		}
	}
	if len(cases) < 60 {
		t.Errorf("corpus has %d cases, want at least 60", len(cases))
	}
	t.Logf("%d update cases, %d refused", len(cases), refused)
}

// The application refuses hostile or unstorable fields, naming each; what
// it accepts is kept byte for byte.
func TestApplicationBadInputCorpus(t *testing.T) {
	cases := []struct {
		name string
		mut  func(*Application)
		want string // "" accepted
	}{
		{"name nul", func(a *Application) { a.Name = "Acme\x00Ltd" }, "name contains a NUL"},
		{"name rlo", func(a *Application) { a.Name = "Acme \u202eLtd" }, "name contains a Unicode bidirectional"},
		{"name lri", func(a *Application) { a.Name = lri }, "name contains a Unicode bidirectional"},
		{"name newline", func(a *Application) { a.Name = "Acme\nLtd" }, "name contains a control character (U+000A)"},
		{"name tab", func(a *Application) { a.Name = "Acme\tLtd" }, "name contains a control character (U+0009)"},
		{"name c1", func(a *Application) { a.Name = c1 }, "name contains a control character (U+0085)"},
		{"name bad utf8", func(a *Application) { a.Name = badUTF8 }, "name is not valid UTF-8"},
		{"name 201 bytes", func(a *Application) { a.Name = strings.Repeat("a", 201) }, "name is required (at most 200"},
		{"name blank", func(a *Application) { a.Name = " \t " }, "name is required"},
		{"email nul", func(a *Application) { a.Email = "billing@acme.test\x00" }, "email contains a NUL"},
		{"email bidi", func(a *Application) { a.Email = "billing\u202e@acme.test" }, "email contains a Unicode bidirectional"},
		{"email display name", func(a *Application) { a.Email = "Acme <billing@acme.test>" }, "is not a plain email address"},
		{"email too long", func(a *Application) { a.Email = strings.Repeat("a", 250) + "@acme.test" }, "email is longer than 254"},
		{"email two addresses", func(a *Application) { a.Email = "a@acme.test, b@acme.test" }, "is not a plain email address"},
		{"customer_id nul", func(a *Application) { a.CustomerID = "acme\x00" }, "customer_id"},
		{"customer_id path", func(a *Application) { a.CustomerID = "../acme" }, "customer_id"},
		{"customer_id 65 chars", func(a *Application) { a.CustomerID = strings.Repeat("a", 65) }, "customer_id"},
		{"customer_id bidi", func(a *Application) { a.CustomerID = "acme\u202e" }, "customer_id"},
		{"phone letters", func(a *Application) { a.Phone = "+1415555CALL" }, "phone"},
		{"phone nul", func(a *Application) { a.Phone = "+14155550100\x00" }, "phone"},
		{"country nul", func(a *Application) { a.Country = "U\x00" }, "country"},
		{"currency unknown", func(a *Application) { a.Currency = "BTC" }, "currency"},
		{"locale unknown", func(a *Application) { a.Locale = "xx" }, "locale"},
		{"policy nul", func(a *Application) { a.Policy = "standard\x00" }, "policy"},
		{"policy path", func(a *Application) { a.Policy = "../../etc/passwd" }, "policy"},
		{"fee zero", func(a *Application) { a.Plan.MonthlyFeeMinor = 0 }, "plan.monthly_fee_minor"},
		{"fee negative", func(a *Application) { a.Plan.MonthlyFeeMinor = -10000 }, "plan.monthly_fee_minor"},
		{"fee int64 max", func(a *Application) { a.Plan.MonthlyFeeMinor = math.MaxInt64 }, "plan.monthly_fee_minor"},
		{"fee int64 min", func(a *Application) { a.Plan.MonthlyFeeMinor = math.MinInt64 }, "plan.monthly_fee_minor"},
		{"fee max+1", func(a *Application) { a.Plan.MonthlyFeeMinor = money.MaxMinor + 1 }, "plan.monthly_fee_minor"},
		{"instrument unknown", func(a *Application) { a.PaymentInstrument.Type = "crypto" }, "payment_instrument.type"},
		{"card_bin letters", func(a *Application) { a.PaymentInstrument.CardBIN = "4242ab" }, "payment_instrument.card_bin"},
		{"card_bin nul", func(a *Application) { a.PaymentInstrument.CardBIN = "424242\x00" }, "payment_instrument.card_bin"},
		{"signup_ip bad", func(a *Application) { a.SignupIP = "999.0.0.1" }, "signup_ip"},
		{"signup_ip nul", func(a *Application) { a.SignupIP = "203.0.113.7\x00" }, "signup_ip"},

		{"name korean", func(a *Application) { a.Name = korean }, ""},
		{"name unicode", func(a *Application) { a.Name = "O'Brien & Söhne — Ünïcödé 🚀 «Ltd»" }, ""},
		{"name 200 bytes", func(a *Application) { a.Name = strings.Repeat("가", 66) + "ab" }, ""},
		{"name formula", func(a *Application) { a.Name = `=HYPERLINK("http://evil.test","x")` }, ""},
		{"fee at the maximum", func(a *Application) { a.Plan.MonthlyFeeMinor = money.MaxMinor }, ""},
		{"ipv6", func(a *Application) { a.SignupIP = "2001:db8::7" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := testApp()
			tc.mut(&app)
			app.Normalize()
			sent := app
			err := app.Validate()
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := New(app, mustPolicy(t, "standard"), "low", t0)
			got, _ := json.Marshal(a.Customer)
			want, _ := json.Marshal(sent)
			if string(got) != string(want) || a.Customer.Name != sent.Name {
				t.Errorf("stored %s, sent %s", got, want)
			}
		})
	}
	if len(cases) < 30 {
		t.Errorf("only %d application cases", len(cases))
	}
}
