package reconcile

import (
	"reflect"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/store"
)

var due = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// ledger is a past_due customer with one open invoice, part paid, and two
// payments; rows is PostgreSQL agreeing with it.
func ledger() account.Ledger {
	return account.Ledger{
		CustomerID: "acme", Status: account.StatusPastDue, Access: account.AccessLimited, EventSeq: 12,
		BalanceMinor: 6000, CreditMinor: 0, Currency: "USD",
		Invoices: []account.LedgerInvoice{{ID: "INV-acme-0002", Kind: account.KindSubscription, Status: account.InvoiceOpen,
			AmountMinor: 10000, PaidMinor: 4000, Currency: "USD", Stage: "overdue_1", DueAt: due}},
		Payments:    []account.LedgerPayment{{PaymentID: "p1", AmountMinor: 10000, Currency: "USD"}, {PaymentID: "p2", AmountMinor: 4000, Currency: "USD"}},
		PaymentsAll: true, Provisioning: account.ProvisioningInSync, ProvisioningApplied: account.ProvisionActivate,
	}
}

func rows() store.Ledger {
	return store.Ledger{
		CustomerID: "acme",
		Customer:   &store.LedgerRow{Status: "past_due", Access: "limited", BalanceMinor: 6000, Currency: "USD", EventSeq: 12},
		Invoices: []store.Invoice{
			{InvoiceID: "INV-acme-0001", Kind: "prepayment", Status: "paid", AmountMinor: 10000, PaidMinor: 10000, Stage: "prepayment"},
			{InvoiceID: "INV-acme-0002", Kind: "subscription", Status: "open", AmountMinor: 10000, PaidMinor: 4000, Stage: "overdue_1", DueAt: due},
		},
		Payments:     []store.LedgerPayment{{PaymentID: "p1", AmountMinor: 10000, Currency: "USD"}, {PaymentID: "p2", AmountMinor: 4000, Currency: "USD"}},
		AuditMaxSeq:  12,
		AuditEvents:  12,
		Subscription: &store.Subscription{CustomerID: "acme", Status: "active", Access: "limited"},
	}
}

func TestCompareAgreeing(t *testing.T) {
	if d := Compare(ledger(), rows(), true); len(d) != 0 {
		t.Errorf("drift on agreeing sides: %+v", d)
	}
}

// Each kind of damage PostgreSQL can suffer is reported with both values,
// and marked repairable exactly when a resync re-records it.
func TestCompareDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(*account.Ledger, *store.Ledger)
		want   []Drift
	}{
		{"balance changed", func(_ *account.Ledger, db *store.Ledger) { db.Customer.BalanceMinor = 1 },
			[]Drift{{Field: "balance_minor", Workflow: "6000", Database: "1", Repairable: true}}},
		{"status and access changed", func(_ *account.Ledger, db *store.Ledger) { db.Customer.Status, db.Customer.Access = "active", "full" },
			[]Drift{{Field: "status", Workflow: "past_due", Database: "active", Repairable: true}, {Field: "access", Workflow: "limited", Database: "full", Repairable: true}}},
		{"credit changed", func(_ *account.Ledger, db *store.Ledger) { db.Customer.CreditMinor = 50 },
			[]Drift{{Field: "credit_minor", Workflow: "0", Database: "50", Repairable: true}}},
		{"customers row missing", func(_ *account.Ledger, db *store.Ledger) { db.Customer = nil },
			[]Drift{{Field: "customer_row", Workflow: "present", Database: Missing, Repairable: true, Note: "the customers row is missing"}}},
		{"row behind", func(l *account.Ledger, db *store.Ledger) { db.Customer.EventSeq = 11 },
			[]Drift{{Field: "event_seq", Workflow: "12", Database: "11", Repairable: true, Note: "the customers row is older than the workflow's last change"}}},
		{"invoice row deleted", func(_ *account.Ledger, db *store.Ledger) { db.Invoices = db.Invoices[:1] },
			[]Drift{{Field: "invoice:INV-acme-0002", Workflow: "open subscription of 10000", Database: Missing, Repairable: true, Note: "the invoice row is missing"}}},
		{"invoice row changed", func(_ *account.Ledger, db *store.Ledger) {
			db.Invoices[1].PaidMinor, db.Invoices[1].Stage = 0, "issued"
		},
			[]Drift{{Field: "invoice:INV-acme-0002.paid_minor", Workflow: "4000", Database: "0", Repairable: true},
				{Field: "invoice:INV-acme-0002.stage", Workflow: "overdue_1", Database: "issued", Repairable: true}}},
		{"card charged, no payment recorded", func(_ *account.Ledger, db *store.Ledger) {
			db.UnrecordedCharges = []store.UnrecordedCharge{{Key: "acme:INV-acme-0002:charge:2", PaymentIntentID: "pi_1", AmountMinor: 6000, Currency: "USD"}}
		},
			[]Drift{{Field: "charge:acme:INV-acme-0002:charge:2", Workflow: Missing, Database: "succeeded pi_1 for 6000 USD",
				Note: "the gateway charged the card and no payment was recorded: record it with RecordPayment under payment_id pi_1"}}},
		{"payment row deleted", func(_ *account.Ledger, db *store.Ledger) { db.Payments = db.Payments[1:] },
			[]Drift{{Field: "payment:p1", Workflow: "10000 USD", Database: Missing, Repairable: true,
				Note: `the payment row is missing; a resync re-records it with method "reconciled"`}}},
		{"payment amount changed", func(_ *account.Ledger, db *store.Ledger) { db.Payments[1].AmountMinor = 400 },
			[]Drift{{Field: "payment:p2.amount_minor", Workflow: "4000", Database: "400", Note: "the payment row was changed; staff must correct it"}}},
		{"payment only in PostgreSQL", func(_ *account.Ledger, db *store.Ledger) {
			db.Payments = append(db.Payments, store.LedgerPayment{PaymentID: "p9", AmountMinor: 5, Currency: "USD"})
		}, []Drift{{Field: "payment:p9", Workflow: Missing, Database: "5 USD", Note: "a payment row the workflow never recorded; staff must check it"}}},
		{"invoice open only in PostgreSQL", func(_ *account.Ledger, db *store.Ledger) { db.Invoices[0].Status = "open" },
			[]Drift{{Field: "invoice:INV-acme-0001", Workflow: "not open", Database: "open",
				Note: "open in PostgreSQL only; the workflow keeps open invoices only, so staff must check how it was closed"}}},
		{"audit tail missing", func(_ *account.Ledger, db *store.Ledger) { db.AuditMaxSeq, db.AuditEvents = 10, 10 },
			[]Drift{{Field: "audit_log", Workflow: "events up to 12", Database: "events up to 10",
				Note: "audit events are missing at the end; the workflow does not keep past events"}}},
		{"audit gap", func(_ *account.Ledger, db *store.Ledger) { db.AuditEvents = 11 },
			[]Drift{{Field: "audit_log", Workflow: "12 events", Database: "11 events",
				Note: "audit events are missing in the middle; the workflow does not keep past events"}}},
		{"subscription not suspended", func(l *account.Ledger, db *store.Ledger) {
			l.Status, l.Access, l.Suspended = account.StatusSuspended, account.AccessNone, true
			l.ProvisioningApplied = account.ProvisionSuspend
			db.Customer.Status, db.Customer.Access = "suspended", "none"
		}, []Drift{{Field: "subscription.status", Workflow: "suspended", Database: "active",
			Note: "provisioning is not repaired by a resync; check the provisioning log and act by hand"}}},
		{"every subscription suspended on its own", func(l *account.Ledger, db *store.Ledger) {
			l.Status, l.Access = account.StatusSuspended, account.AccessNone
			l.ProvisioningApplied = account.ProvisionSuspendSubscriptions
			db.Customer.Status, db.Customer.Access = "suspended", "none"
		}, nil},
		{"account suspended after a subscription's suspension", func(l *account.Ledger, db *store.Ledger) {
			l.Status, l.Access, l.Suspended = account.StatusSuspended, account.AccessNone, true
			l.ProvisioningApplied = account.ProvisionReinstateSubscriptions
			db.Customer.Status, db.Customer.Access = "suspended", "none"
		}, []Drift{{Field: "subscription.status", Workflow: "suspended", Database: "active",
			Note: "provisioning is not repaired by a resync; check the provisioning log and act by hand"}}},
		{"payment forgotten by the account", func(l *account.Ledger, db *store.Ledger) {
			l.PaymentsAll, l.Payments = false, l.Payments[1:]
		}, nil},
		{"provisioning pending", func(l *account.Ledger, db *store.Ledger) {
			l.Provisioning, l.ProvisioningApplied = account.ProvisioningPending, account.ProvisionSuspend
			db.Subscription.Status = "active"
		}, nil},
		{"provisioning failing", func(l *account.Ledger, _ *store.Ledger) {
			l.Provisioning, l.ProvisioningError = account.ProvisioningFailing, "503 from the provider"
		}, []Drift{{Field: "provisioning", Workflow: "failing: 503 from the provider", Database: "active",
			Note: "the workflow retries it and has alerted staff; see starter status"}}},
		{"subscription missing", func(_ *account.Ledger, db *store.Ledger) { db.Subscription = nil },
			[]Drift{{Field: "subscription", Workflow: "active", Database: Missing,
				Note: "provisioning is not repaired by a resync; check the provisioning log and act by hand"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, db := ledger(), rows()
			tc.damage(&l, &db)
			got := Compare(l, db, true)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("drift\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCompareSubscriptionOnlyWithTheTableProvisioner(t *testing.T) {
	db := rows()
	db.Subscription = nil
	if d := Compare(ledger(), db, false); len(d) != 0 {
		t.Errorf("drift without the table provisioner: %+v", d)
	}
	// Screening customers and those terminated before anything was
	// provisioned have no row, and need none.
	for _, s := range []account.Status{account.StatusScreening, account.StatusAwaitingPrepayment, account.StatusManualReview, account.StatusTerminated} {
		l := ledger()
		l.Status, l.ProvisioningApplied = s, ""
		db := rows()
		db.Customer.Status = string(s)
		db.Subscription = nil
		if d := Compare(l, db, true); len(d) != 0 {
			t.Errorf("%s without a subscription: %+v", s, d)
		}
	}
}

func TestMissingPaymentsAndRepairable(t *testing.T) {
	db := rows()
	db.Payments = nil
	d := Compare(ledger(), db, false)
	if got := MissingPayments(d); !reflect.DeepEqual(got, []string{"p1", "p2"}) {
		t.Errorf("MissingPayments = %v", got)
	}
	if !Repairable(d) {
		t.Error("missing payments are repairable")
	}
	if Repairable([]Drift{{Field: "payment:p9", Workflow: Missing, Database: "5 USD"}}) {
		t.Error("a payment the workflow does not know is not repairable")
	}
}

// Runs from before the account kept its provisioning state are judged by
// their status.
func TestCompareSubscriptionWithoutProvisioningState(t *testing.T) {
	l, db := ledger(), rows()
	l.Provisioning, l.ProvisioningApplied = "", ""
	if d := Compare(l, db, true); len(d) != 0 {
		t.Errorf("drift: %+v", d)
	}
	l.Status = account.StatusSuspended
	db.Customer.Status = "suspended"
	want := []Drift{{Field: "subscription.status", Workflow: "suspended", Database: "active",
		Note: "provisioning is not repaired by a resync; check the provisioning log and act by hand"}}
	if d := Compare(l, db, true); !reflect.DeepEqual(d, want) {
		t.Errorf("drift = %+v", d)
	}
}
