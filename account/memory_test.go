package account

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A customer that lives ten years, reports usage every minute and pays
// every invoice: what the account carries from one run to the next (the
// workflow compacts it at each continue-as-new, once per billing period)
// stays bounded, and a forgotten key is recognised once PostgreSQL's answer
// is put back.
func TestTenYearsOfMinuteUsageStayBounded(t *testing.T) {
	a := activeAccount(t, "standard")
	a.Durable = true
	now := t0.Add(2 * time.Hour)
	end := t0.AddDate(10, 0, 0)
	var sizes []int
	reports, payments := 0, 0
	for now.Before(end) {
		nextBill := a.NextBillingAt
		for ; now.Before(nextBill) && now.Before(end); now = now.Add(time.Minute) {
			reports++
			id := fmt.Sprintf("u-%d", reports)
			if _, err := a.ReportUsage(Usage{UsageID: id, AmountMinor: 1}, now); err != nil {
				t.Fatalf("usage %s: %v", id, err)
			}
		}
		a.Advance(now)
		if due := a.Balance(); due > 0 {
			payments++
			if _, _, err := a.RecordPayment(Payment{PaymentID: fmt.Sprintf("p-%d", payments), AmountMinor: due, Currency: "USD", Method: "bank_transfer"}, now); err != nil {
				t.Fatalf("payment %d: %v", payments, err)
			}
		}
		a.Compact()
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
	}
	if reports < 5_000_000 || len(sizes) < 119 {
		t.Fatalf("drove only %d reports over %d periods", reports, len(sizes))
	}
	first, last, most := sizes[11], sizes[len(sizes)-1], 0
	for _, s := range sizes {
		most = max(most, s)
	}
	t.Logf("%d usage reports, %d payments, %d periods; carried state after year 1: %d bytes, after year 10: %d bytes, largest %d",
		reports, payments, len(sizes), first, last, most)
	// The keys are capped; everything else is the open invoices, reviews
	// and figures of one period.
	if most > 32<<10 || len(a.Payments) > RememberedPayments || len(a.Usage.IDs) > RememberedUsage {
		t.Errorf("carried state not bounded: largest %d bytes, %d payment keys, %d usage keys", most, len(a.Payments), len(a.Usage.IDs))
	}
	if a.Status != StatusActive {
		t.Errorf("status after ten years = %s", a.Status)
	}
	// u-1 was forgotten long ago; PostgreSQL's answer makes it a retry.
	if a.KnowsUsage("u-1") {
		t.Fatal("u-1 still remembered: memory is not bounded")
	}
	a.RememberUsage("u-1", KnownKey{Found: true, AmountMinor: 1, Currency: "USD"})
	before := a.Usage.PeriodMinor
	if events, err := a.ReportUsage(Usage{UsageID: "u-1", AmountMinor: 1}, now); err != nil || len(events) != 0 || a.Usage.PeriodMinor != before {
		t.Errorf("a forgotten usage key was billed again: %v, %d events", err, len(events))
	}
}

// A review opened on a trusted account takes full access back to limited;
// under the durable-effects rules the provisioning system is told too, so
// the subscriptions never keep full admin access the account lost.
func TestLosingFullAccessIsProvisioned(t *testing.T) {
	for _, durable := range []bool{false, true} {
		a := activeAccount(t, "standard")
		a.Durable = durable
		a.OnTimeInvoices, a.PhoneVerified = 12, true
		events, err := a.SetBudget(Budget{LimitMinor: 100000, Actor: "una"}, t0.Add(2*time.Hour)) // any operation refreshes access
		if err != nil || a.Access != AccessFull || provisions(events) != string(ProvisionFullAccess) {
			t.Fatalf("trusted account: %s, %q, %v", a.Access, provisions(events), err)
		}
		events, err = a.ReportAbuse(AbuseReport{NoticeID: "N-1", Category: "spam", Source: "complaint", Detail: "spam"}, SeverityModerate, t0.Add(3*time.Hour))
		if err != nil || a.Access != AccessLimited {
			t.Fatalf("after the report: %s, %v", a.Access, err)
		}
		want := ""
		if durable {
			want = string(ProvisionLimitAccess)
		}
		if got := provisions(events); got != want {
			t.Errorf("durable=%v: provisioning %q, want %q", durable, got, want)
		}
	}
}

func provisions(events []Event) string {
	var out []string
	for _, ev := range events {
		if ev.Provision != "" {
			out = append(out, string(ev.Provision))
		}
	}
	return strings.Join(out, ",")
}
