package activities

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

// Two customers may use the same payment_id and usage_id (a bank
// reference, a meter's own counter): each is recorded under its customer,
// and LookupKey finds each customer's own.
func TestIdempotencyKeysAreScopedToTheirCustomer(t *testing.T) {
	f := newFixture(t)
	reg, _ := policy.Embedded()
	pol, _ := reg.Get("standard")
	other := f.acct.Customer
	other.CustomerID = "globex"
	accts := []*account.Account{f.acct, account.New(other, pol, "low", t0)}
	for i, a := range accts {
		events := append(a.Open(t0), must(a.Approve(false, account.SystemActor, "test", t0))...)
		_, pay, err := a.RecordPayment(account.Payment{PaymentID: "BANKREF-1", AmountMinor: int64(1000 * (i + 1)), Currency: "USD", Method: "bank_transfer"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		usage, err := a.ReportUsage(account.Usage{UsageID: "meter-7", AmountMinor: int64(10 * (i + 1))}, t0)
		if err != nil {
			t.Fatal(err)
		}
		in := RecordInput{Customer: CustomerSnapshot(a, t0), Events: append(append(events, pay...), usage...)}
		if _, err := f.env.ExecuteActivity(f.acts.Record, in); err != nil {
			t.Fatalf("record %s: %v", a.Customer.CustomerID, err)
		}
	}
	if n := count(t, f.st, `SELECT count(*) FROM payments WHERE payment_id = 'BANKREF-1'`); n != 2 {
		t.Errorf("%d payments under BANKREF-1, want one per customer", n)
	}
	if n := count(t, f.st, `SELECT count(*) FROM usage_records WHERE usage_id = 'meter-7'`); n != 2 {
		t.Errorf("%d usage rows under meter-7, want one per customer", n)
	}
	for i, a := range accts {
		for _, tc := range []struct {
			kind KeyKind
			id   string
			want int64
		}{{KeyPayment, "BANKREF-1", int64(1000 * (i + 1))}, {KeyUsage, "meter-7", int64(10 * (i + 1))}, {KeyPayment, "nope", 0}} {
			val, err := f.env.ExecuteActivity(f.acts.LookupKey, LookupKeyInput{CustomerID: a.Customer.CustomerID, Kind: tc.kind, ID: tc.id})
			if err != nil {
				t.Fatal(err)
			}
			var k account.KnownKey
			_ = val.Get(&k)
			if k.Found != (tc.want != 0) || k.AmountMinor != tc.want {
				t.Errorf("%s %s %s = %+v, want amount %d", a.Customer.CustomerID, tc.kind, tc.id, k, tc.want)
			}
		}
	}
}

// A customer ID whose workflow has left Temporal's retention is onboarded
// again by a new run chain: its writes are refused, not mixed with the
// earlier customer's rows, and the refusal is final (not retried).
func TestReusedCustomerIDIsRefused(t *testing.T) {
	f := newFixture(t)
	c := CustomerSnapshot(f.acct, t0)
	c.FirstRunID = "run-chain-1"
	if _, err := f.env.ExecuteActivity(f.acts.Record, RecordInput{Customer: c, Events: f.acct.Open(t0)}); err != nil {
		t.Fatal(err)
	}
	c.EventSeq++
	if _, err := f.env.ExecuteActivity(f.acts.Record, RecordInput{Customer: c, Events: nil}); err != nil {
		t.Fatalf("the owner's next write: %v", err)
	}
	newcomer := account.New(f.acct.Customer, *f.acct.Policy, "low", t0.Add(400*24*time.Hour))
	nc := CustomerSnapshot(newcomer, t0.Add(400*24*time.Hour))
	nc.FirstRunID = "run-chain-2"
	_, err := f.env.ExecuteActivity(f.acts.Record, RecordInput{Customer: nc, Events: newcomer.Open(nc.CreatedAt)})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrCustomerIDReused || !appErr.NonRetryable() || !strings.Contains(err.Error(), "new customer_id") {
		t.Fatalf("reused customer ID: %v", err)
	}
	if n := count(t, f.st, `SELECT count(*) FROM audit_log WHERE customer_id = 'acme'`); n != 1 {
		t.Errorf("%d audit rows, want only the first customer's", n)
	}
}

// Text PostgreSQL cannot hold (a NUL from a provider's webhook) is made
// storable instead of blocking the customer's records for good.
func TestRecordStoresTextWithNUL(t *testing.T) {
	f := newFixture(t)
	events := f.acct.Open(t0)
	events[0].Reason = "bounce: mailbox\x00full"
	events[0].Detail["note\x00"] = "a\x00b"
	if _, err := f.env.ExecuteActivity(f.acts.Record, RecordInput{Customer: CustomerSnapshot(f.acct, t0), Events: events}); err != nil {
		t.Fatalf("record with NUL: %v", err)
	}
	var reason string
	if err := f.st.DB().Get(&reason, `SELECT reason FROM audit_log WHERE customer_id = 'acme'`); err != nil {
		t.Fatal(err)
	}
	if reason != "bounce: mailbox\uFFFDfull" {
		t.Errorf("reason = %q", reason)
	}
}

// A part payment leaves its invoice open: the invoice row still shows what
// was paid (the aging report reads it), once however often it is recorded.
func TestPartPaymentUpdatesTheInvoiceRow(t *testing.T) {
	f := newFixture(t)
	f.record(t, append(f.acct.Open(t0), must(f.acct.Approve(true, account.SystemActor, "test", t0))...), t0)
	_, events, err := f.acct.RecordPayment(account.Payment{PaymentID: "part", AmountMinor: 3000, Currency: "USD", Method: "bank_transfer"}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f.record(t, events, t0.Add(time.Hour))
	f.record(t, events, t0.Add(time.Hour)) // a retried activity
	if n := count(t, f.st, `SELECT paid_minor FROM invoices WHERE invoice_id = 'INV-acme-0001'`); n != 3000 {
		t.Errorf("paid_minor = %d, want 3000", n)
	}
}
