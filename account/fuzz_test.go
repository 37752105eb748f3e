package account

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/example/dunning/money"
)

// Fuzz targets for the application parser and the update validators. The
// properties: nothing panics; whatever is accepted can be stored whole
// (checked here independently of the validators' own code: valid UTF-8,
// no NUL, control or bidi characters, within the length limits, amounts
// within money.MaxMinor, times within the year window) and survives a
// JSON round trip (the form it takes in workflow history) unchanged and
// still accepted; validating twice gives the same answer.
//
// Seed corpora are in testdata/fuzz/<target>; `make fuzz` runs each target
// for a few seconds.

// storable reports why s could not be stored whole, independently of
// TextProblem.
func storable(t *testing.T, field, s string, maxBytes int, multiline bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("accepted %s %q: invalid UTF-8", field, s)
	}
	if len(s) > maxBytes {
		t.Fatalf("accepted %s of %d bytes, limit %d", field, len(s), maxBytes)
	}
	for _, r := range s {
		allowed := multiline && (r == '\n' || r == '\t')
		bad := r < 0x20 && !allowed
		bad = bad || (r >= 0x7f && r <= 0x9f)
		bad = bad || strings.ContainsRune("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029\ufeff\ufffd", r)
		if bad {
			t.Fatalf("accepted %s %q with %U", field, s, r)
		}
	}
}

func amountOK(t *testing.T, field string, v int64, zeroOK bool) {
	t.Helper()
	if v > money.MaxMinor || v < 0 || (v == 0 && !zeroOK) {
		t.Fatalf("accepted %s %d", field, v)
	}
}

func timeOK(t *testing.T, field string, v time.Time) {
	t.Helper()
	if y := v.Year(); y < MinYear || y > MaxYear {
		t.Fatalf("accepted %s %s", field, v)
	}
}

// roundTrip checks that an accepted request survives JSON unchanged and
// is accepted again.
func roundTrip[T any](t *testing.T, req T, validate func(T) error) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("marshal accepted %+v: %v", req, err)
	}
	var back T
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	if !reflect.DeepEqual(normTimes(back), normTimes(req)) {
		t.Fatalf("JSON changed the request:\nsent %+v\ngot  %+v", req, back)
	}
	if err := validate(back); err != nil {
		t.Fatalf("accepted, then refused after JSON: %v", err)
	}
}

// normTimes makes time.Time fields comparable with DeepEqual (location
// pointers differ after JSON).
func normTimes[T any](v T) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// same checks that validation is deterministic (it runs in workflow
// update validators).
func same(t *testing.T, a, b error) {
	t.Helper()
	if (a == nil) != (b == nil) || (a != nil && a.Error() != b.Error()) {
		t.Fatalf("validation is not deterministic: %v then %v", a, b)
	}
}

func FuzzApplication(f *testing.F) {
	f.Add([]byte(`{"customer_id":"acme","name":"Acme Ltd","email":"billing@acme.example","phone":"+14155550100","country":"US","currency":"USD","locale":"en","policy":"standard","plan":{"monthly_fee_minor":10000},"payment_instrument":{"type":"card","card_bin":"424242"},"signup_ip":"203.0.113.7"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var app Application
		if json.Unmarshal(data, &app) != nil {
			return
		}
		app.Normalize()
		err := app.Validate()
		once := app
		app.Normalize()
		if !reflect.DeepEqual(once, app) {
			t.Fatalf("Normalize is not idempotent: %+v then %+v", once, app)
		}
		same(t, err, app.Validate())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid application: ") {
				t.Fatalf("error %q does not say what is invalid", err)
			}
			return
		}
		for field, v := range map[string]string{"customer_id": app.CustomerID, "email": app.Email, "phone": app.Phone,
			"country": app.Country, "currency": app.Currency, "locale": app.Locale, "policy": app.Policy,
			"payment_instrument.type": string(app.PaymentInstrument.Type), "payment_instrument.card_bin": app.PaymentInstrument.CardBIN,
			"signup_ip": app.SignupIP} {
			storable(t, field, v, 254, false)
		}
		storable(t, "name", app.Name, MaxNameBytes, false)
		amountOK(t, "plan.monthly_fee_minor", app.Plan.MonthlyFeeMinor, false)
		roundTrip(t, app, Application.Validate)
	})
}

func FuzzPayment(f *testing.F) {
	f.Add("pay-1", int64(5000), "USD", "bank_transfer", "ref 42", "alice")
	f.Fuzz(func(t *testing.T, id string, amount int64, currency, method, reference, actor string) {
		p := Payment{PaymentID: id, AmountMinor: amount, Currency: currency, Method: method, Reference: reference, Actor: actor}
		err := p.Validate()
		same(t, err, p.Validate())
		if err != nil {
			return
		}
		storable(t, "payment_id", id, 128, false)
		amountOK(t, "amount_minor", amount, false)
		storable(t, "reference", reference, MaxTextBytes, false)
		storable(t, "actor", actor, 4*MaxActorRunes, false)
		roundTrip(t, p, Payment.Validate)
	})
}

func FuzzUsage(f *testing.F) {
	f.Add("u-1", int64(100), "compute\nstorage")
	f.Fuzz(func(t *testing.T, id string, amount int64, description string) {
		u := Usage{UsageID: id, AmountMinor: amount, Description: description}
		err := u.Validate()
		same(t, err, u.Validate())
		if err != nil {
			return
		}
		storable(t, "usage_id", id, 128, false)
		amountOK(t, "amount_minor", amount, false)
		storable(t, "description", description, MaxTextBytes, true)
		roundTrip(t, u, Usage.Validate)
	})
}

func FuzzBudget(f *testing.F) {
	f.Add(int64(50000), []byte{50, 80, 100}, true, "alice")
	f.Fuzz(func(t *testing.T, limit int64, percents []byte, hardStop bool, actor string) {
		b := Budget{LimitMinor: limit, HardStop: hardStop, Actor: actor}
		for _, p := range percents {
			b.NoticePercents = append(b.NoticePercents, int(int8(p))) // negatives too
		}
		err := b.Validate()
		same(t, err, b.Validate())
		if err != nil {
			return
		}
		amountOK(t, "limit_minor", limit, true)
		for i, p := range b.NoticePercents {
			if p < 1 || p > 100 || (i > 0 && p <= b.NoticePercents[i-1]) {
				t.Fatalf("accepted notice_percents %v", b.NoticePercents)
			}
		}
		storable(t, "actor", actor, 4*MaxActorRunes, false)
		roundTrip(t, b, Budget.Validate)
	})
}

func FuzzAbuseReport(f *testing.F) {
	f.Add("N-1", "spam", "provider", "complaint\nfrom a user", "", int64(1767225600), "abuse-desk")
	f.Fuzz(func(t *testing.T, id, category, source, detail, severity string, deadline int64, actor string) {
		r := AbuseReport{NoticeID: id, Category: category, Source: source, Detail: detail, Severity: Severity(severity), Actor: actor}
		if deadline != 0 {
			r.Deadline = time.Unix(deadline, 0).UTC()
		}
		err := r.Validate()
		same(t, err, r.Validate())
		if err != nil {
			return
		}
		storable(t, "notice_id", id, 128, false)
		storable(t, "category", category, 64, false)
		storable(t, "detail", detail, MaxTextBytes, true)
		storable(t, "actor", actor, 4*MaxActorRunes, false)
		if !r.Deadline.IsZero() {
			timeOK(t, "deadline", r.Deadline)
		}
		roundTrip(t, r, AbuseReport.Validate)
	})
}

func FuzzPromise(f *testing.F) {
	f.Add("INV-acme-0002", int64(1767225600), int64(1766620800), "alice", "pays on the 1st")
	f.Fuzz(func(t *testing.T, invoice string, until, now int64, actor, note string) {
		p := Promise{InvoiceID: invoice, Until: time.Unix(until, 0).UTC(), Actor: actor, Note: note}
		err := p.Validate()
		same(t, err, p.Validate())
		if err != nil {
			return
		}
		storable(t, "invoice_id", invoice, 128, false)
		timeOK(t, "until", p.Until)
		storable(t, "actor", actor, 4*MaxActorRunes, false)
		storable(t, "note", note, MaxTextBytes, true)
		roundTrip(t, p, Promise.Validate)
		// Against an account: never before now, never past the policy's
		// longest promise.
		a := fuzzAccount(t)
		at := time.Unix(now, 0).UTC()
		p.InvoiceID = a.Invoices[0].ID
		if a.CheckPromise(p, at) == nil && (!p.Until.After(at) || p.Until.Sub(at) > a.Policy.Promise.MaxLength) {
			t.Fatalf("accepted a promise until %s at %s", p.Until, at)
		}
	})
}

func FuzzStaffAction(f *testing.F) {
	f.Add("alice", "chargeback", "see ticket 42\nand 43")
	f.Fuzz(func(t *testing.T, actor, reason, note string) {
		s := StaffAction{Actor: actor, Reason: reason, Note: note}
		err := s.Validate()
		same(t, err, s.Validate())
		if err != nil {
			return
		}
		storable(t, "actor", actor, 4*MaxActorRunes, false)
		storable(t, "reason", reason, MaxTextBytes, false)
		storable(t, "note", note, MaxTextBytes, true)
		if strings.TrimSpace(reason) == "" || strings.TrimSpace(actor) == "" {
			t.Fatalf("accepted a blank reason or actor: %+v", s)
		}
		roundTrip(t, s, StaffAction.Validate)
	})
}

func FuzzSubscriptionSpec(f *testing.F) {
	f.Add("seats", "Office seats", 5, int64(2000), 1, 0)
	f.Add("s\u202e", "p\x00", -1, int64(-1), 1000, -1)
	f.Fuzz(func(t *testing.T, id, product string, quantity int, price int64, interval, term int) {
		s := SubscriptionSpec{SubscriptionID: id, Product: product, Quantity: quantity, UnitPriceMinor: price, IntervalPeriods: interval, TermPeriods: term}
		err := s.Validate()
		same(t, err, s.Validate())
		if err != nil {
			return
		}
		storable(t, "product", product, MaxTextBytes, false)
		if quantity < 1 || price < 1 || int64(quantity)*price > money.MaxMinor || price > money.MaxMinor/int64(quantity) {
			t.Fatalf("accepted an amount out of range: %+v", s)
		}
		roundTrip(t, s, SubscriptionSpec.Validate)
	})
}

func FuzzDecision(f *testing.F) {
	f.Add("review-1", "reinstate", "alice", "false alarm")
	f.Fuzz(func(t *testing.T, review, decision, actor, note string) {
		d := Decision{ReviewID: review, Decision: decision, Actor: actor, Note: note}
		err := d.Validate()
		same(t, err, d.Validate())
		if err != nil {
			return
		}
		storable(t, "review_id", review, 128, false)
		storable(t, "actor", actor, 4*MaxActorRunes, false)
		storable(t, "note", note, MaxTextBytes, true)
		roundTrip(t, d, Decision.Validate)
	})
}

func FuzzResolution(f *testing.F) {
	f.Add("INV-acme-0002", "adjusted", int64(5000), "alice", "half")
	f.Fuzz(func(t *testing.T, invoice, outcome string, amount int64, actor, note string) {
		r := Resolution{InvoiceID: invoice, Outcome: outcome, AmountMinor: amount, Actor: actor, Note: note}
		err := r.Validate()
		same(t, err, r.Validate())
		if err != nil {
			return
		}
		storable(t, "invoice_id", invoice, 128, false)
		amountOK(t, "amount_minor", amount, outcome != OutcomeAdjusted)
		storable(t, "actor", actor, 4*MaxActorRunes, false)
		storable(t, "note", note, MaxTextBytes, true)
		roundTrip(t, r, Resolution.Validate)
	})
}

// fuzzAccount is an active account with one open subscription invoice.
func fuzzAccount(t *testing.T) *Account {
	t.Helper()
	a := activeAccount(t, "standard")
	runUntil(a, a.NextBillingAt)
	return a
}
