package account

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// subscribedAccount is an account with subscriptions whose prepayment was
// asked for at t0: the plan fee (as subscription "plan") and a yearly
// subscription.
func subscribedAccount(t *testing.T, pol string) *Account {
	t.Helper()
	app := testApp()
	app.Subscriptions = []SubscriptionSpec{{SubscriptionID: "backup", Product: "Backup", Quantity: 2, UnitPriceMinor: 6000, IntervalPeriods: 12}}
	a := New(app, mustPolicy(t, pol), "low", t0)
	a.EnableSubscriptions()
	if _, err := a.Approve(true, SystemActor, "screening passed", t0); err != nil {
		t.Fatal(err)
	}
	return a
}

// The prepayment asks for each subscription's first interval: one month
// of the plan and a year of the backup. Once paid, the backup is paid
// through a year ahead and is not billed with the next month.
func TestPrepaymentCoversEachSubscriptionsFirstInterval(t *testing.T) {
	a := subscribedAccount(t, "standard")
	pre := a.Invoices[0]
	if pre.AmountMinor != 10000+12000 || len(pre.Lines) != 2 {
		t.Fatalf("prepayment = %d %+v", pre.AmountMinor, pre.Lines)
	}
	pay(t, a, "prepay", pre.AmountMinor, t0.Add(time.Hour))
	backup := a.subscription("backup")
	if a.Status != StatusActive || backup.Status != SubscriptionActive || !backup.PaidThrough.Equal(t0.Add(time.Hour).AddDate(1, 0, 0)) {
		t.Fatalf("after prepayment: %s, backup %+v", a.Status, backup)
	}
	a.Advance(a.NextBillingAt)
	inv := a.Invoices[len(a.Invoices)-1]
	if inv.AmountMinor != 10000 || len(inv.Lines) != 1 || inv.Lines[0].SubscriptionID != PlanSubscriptionID {
		t.Errorf("second month = %d %+v", inv.AmountMinor, inv.Lines)
	}
}

// A subscription added mid-period is billed at once, prorated by day to the
// next billing date, a day begun counting whole, rounded half up.
func TestAddSubscriptionProratesByDay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // after the period starts (Jan 1 10:00, 31 days)
		spec  SubscriptionSpec
		want  int64
	}{
		{"30 of 31 days", day, SubscriptionSpec{Quantity: 1, UnitPriceMinor: 3100}, 3000},
		{"a day begun counts whole", day + time.Hour, SubscriptionSpec{Quantity: 1, UnitPriceMinor: 3100}, 3000},
		{"last day", 30*day + time.Hour, SubscriptionSpec{Quantity: 3, UnitPriceMinor: 1000}, 97}, // 3000*1/31 = 96.8
		{"yearly: a twelfth of the month", day, SubscriptionSpec{Quantity: 1, UnitPriceMinor: 120000, IntervalPeriods: 12}, 9677},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := activeAccount(t, "standard")
			a.EnableSubscriptions()
			now := a.Usage.PeriodStart.Add(tc.after)
			tc.spec.SubscriptionID, tc.spec.Product = "extra", "Extra"
			if _, err := a.AddSubscription(tc.spec, now); err != nil {
				t.Fatal(err)
			}
			inv := a.Invoices[len(a.Invoices)-1]
			if inv.AmountMinor != tc.want || inv.Lines[0].SubscriptionID != "extra" || !inv.PeriodEnd.Equal(a.NextBillingAt) {
				t.Errorf("first period = %d (%+v), want %d", inv.AmountMinor, inv.Lines, tc.want)
			}
			// From the next billing date it is billed whole with the
			// account.
			next := a.NextBillingAt
			a.Advance(next)
			last := a.Invoices[len(a.Invoices)-1]
			var line *InvoiceLine
			for i := range last.Lines {
				if last.Lines[i].SubscriptionID == "extra" {
					line = &last.Lines[i]
				}
			}
			if line == nil || line.AmountMinor != int64(tc.spec.Quantity)*tc.spec.UnitPriceMinor || !line.PeriodStart.Equal(next) {
				t.Errorf("next invoice lines = %+v", last.Lines)
			}
		})
	}
}

// Usage is billed a line per usage item; beyond the cap they are summed.
func TestUsageLines(t *testing.T) {
	a := activeAccount(t, "standard")
	a.EnableSubscriptions()
	now := a.Usage.PeriodStart.Add(day)
	for i := range maxUsageLines + 2 {
		if _, err := a.ReportUsage(Usage{UsageID: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)), AmountMinor: 10, Description: "compute"}, now); err != nil {
			t.Fatal(err)
		}
	}
	a.Advance(a.NextBillingAt)
	inv := a.Invoices[len(a.Invoices)-1]
	usage := 0
	for _, l := range inv.Lines {
		if l.Kind == LineUsage {
			usage++
		}
	}
	if usage != maxUsageLines || inv.UsageMinor != 520 || inv.AmountMinor != 10000+520 || inv.Lines[len(inv.Lines)-1].AmountMinor != 30 {
		t.Errorf("usage lines %d, usage %d, amount %d, last %+v", usage, inv.UsageMinor, inv.AmountMinor, inv.Lines[len(inv.Lines)-1])
	}
}

// Cancelling at period end waits for the end of the billed period and of
// the term; cancelling now stops at once. A cancelled subscription is not
// billed again.
func TestCancelSubscription(t *testing.T) {
	a := activeAccount(t, "standard")
	a.EnableSubscriptions()
	now := a.Usage.PeriodStart.Add(day)
	if _, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "committed", Product: "C", Quantity: 1, UnitPriceMinor: 100, TermPeriods: 3}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CancelSubscription(Cancellation{SubscriptionID: "committed", When: CancelAtPeriodEnd, Actor: "jane", Reason: "r"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CancelSubscription(Cancellation{SubscriptionID: PlanSubscriptionID, When: CancelAtPeriodEnd, Actor: "jane", Reason: "r"}, now); err != nil {
		t.Fatal(err)
	}
	c := a.subscription("committed")
	if want := now.AddDate(0, 3, 0); !c.CancelAt.Equal(want) || !c.CancelledAt.IsZero() {
		t.Errorf("cancel at %s, want the term's end %s", c.CancelAt, want)
	}
	billed := map[string]int{}
	for i := range 4 {
		for _, ev := range a.Advance(a.NextBillingAt) {
			if ev.Type == EventInvoiceIssued {
				for _, l := range ev.Invoice.Lines {
					billed[l.SubscriptionID]++
				}
				pay(t, a, "p"+string(rune('0'+i)), ev.Invoice.AmountMinor, ev.At)
			}
		}
	}
	if a.subscription(PlanSubscriptionID).Status != SubscriptionCancelled || c.Status != SubscriptionCancelled {
		t.Errorf("after the term: plan %s, committed %s", a.subscription(PlanSubscriptionID).Status, c.Status)
	}
	// The plan's period end is its next billing date: it is not billed
	// again. The committed one (term: 3 periods from Jan 2) is billed Feb
	// 1, Mar 1 and Apr 1, the period its term ends in, and ends May 1.
	if billed[PlanSubscriptionID] != 0 || billed["committed"] != 3 {
		t.Errorf("lines billed after the cancellations = %v", billed)
	}
}

// Every subscription request refuses hostile or impossible input with a
// clear error and leaves the account as it was.
func TestSubscriptionValidatorsRefuseBadInput(t *testing.T) {
	a := activeAccount(t, "standard")
	now := a.Usage.PeriodStart.Add(day)
	before := *a
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"empty id", func() error {
			_, err := a.AddSubscription(SubscriptionSpec{Product: "p", Quantity: 1, UnitPriceMinor: 1}, now)
			return err
		}, "subscription_id"},
		{"control bytes in product", func() error {
			_, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "s", Product: "p\x00\u202e", Quantity: 1, UnitPriceMinor: 1}, now)
			return err
		}, "product"},
		{"negative quantity", func() error {
			_, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "s", Product: "p", Quantity: -1, UnitPriceMinor: 1}, now)
			return err
		}, "quantity -1"},
		{"amount overflow", func() error {
			_, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "s", Product: "p", Quantity: MaxQuantity, UnitPriceMinor: 1 << 40}, now)
			return err
		}, "more than the maximum amount"},
		{"interval too long", func() error {
			_, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "s", Product: "p", Quantity: 1, UnitPriceMinor: 1, IntervalPeriods: 1000}, now)
			return err
		}, "interval_periods"},
		{"paid_through on an update", func() error {
			_, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "s", Product: "p", Quantity: 1, UnitPriceMinor: 1, PaidThrough: now.AddDate(1, 0, 0)}, now)
			return err
		}, "paid_through is only for subscriptions in an application"},
		{"the plan exists", func() error {
			_, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: PlanSubscriptionID, Product: "p", Quantity: 1, UnitPriceMinor: 1}, now)
			return err
		}, `subscription "plan" already exists`},
		{"same quantity", func() error {
			_, err := a.ChangeQuantity(QuantityChange{SubscriptionID: PlanSubscriptionID, Quantity: 1, Actor: "jane"}, now)
			return err
		}, "already has quantity 1"},
		{"unknown subscription", func() error {
			_, err := a.CancelSubscription(Cancellation{SubscriptionID: "nosuch", When: CancelNow, Actor: "jane", Reason: "r"}, now)
			return err
		}, `subscription "nosuch" is not a subscription`},
		{"no actor", func() error {
			_, err := a.CancelSubscription(Cancellation{SubscriptionID: PlanSubscriptionID, When: CancelNow, Reason: "r"}, now)
			return err
		}, "actor is required"},
		{"exemption with a newline in the reason", func() error {
			_, err := a.SetExemption(ExemptionRequest{Exemption: ExemptManualPay, Reason: "a\nb", Actor: "jane"}, now)
			return err
		}, "reason"},
		{"exemption until year 9999", func() error {
			_, err := a.SetExemption(ExemptionRequest{Exemption: ExemptManualPay, Reason: "r", Actor: "jane", Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, now)
			return err
		}, "out of range"},
		{"misuse of an unknown subscription", func() error {
			_, err := a.ReportAbuse(AbuseReport{NoticeID: "n", Category: "spam", Source: SourceStaff, Detail: "d", SubscriptionID: "nosuch"}, SeverityModerate, now)
			return err
		}, `subscription "nosuch" is not a live subscription`},
	} {
		err := tc.run()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if !reflect.DeepEqual(*a, before) {
		t.Error("a refused request changed the account")
	}
	if a.Subscribed {
		t.Error("a refused request turned subscriptions on")
	}
}

// The application's subscriptions are checked with it.
func TestApplicationSubscriptions(t *testing.T) {
	app := testApp()
	app.Plan.MonthlyFeeMinor = 0
	if err := app.Validate(); err == nil || !strings.Contains(err.Error(), "plan.monthly_fee_minor") {
		t.Errorf("no plan fee and no subscriptions: %v", err)
	}
	app.Subscriptions = []SubscriptionSpec{{SubscriptionID: "seats", Product: "Seats", Quantity: 5, UnitPriceMinor: 2000}}
	if err := app.Validate(); err != nil {
		t.Errorf("subscriptions without a plan fee: %v", err)
	}
	app.Plan.MonthlyFeeMinor = 100
	app.Subscriptions = append(app.Subscriptions, SubscriptionSpec{SubscriptionID: "seats", Product: "Again", Quantity: 1, UnitPriceMinor: 1},
		SubscriptionSpec{SubscriptionID: PlanSubscriptionID, Product: "Plan", Quantity: 1, UnitPriceMinor: 1},
		SubscriptionSpec{SubscriptionID: "bad", Product: "B", Quantity: 0, UnitPriceMinor: 1})
	err := app.Validate()
	for _, want := range []string{`subscriptions[1]: subscription_id "seats" appears twice`, `subscriptions[2]: subscription_id "plan" appears twice`, "subscriptions[3]: quantity 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("application: %v, want %q", err, want)
		}
	}
}

// A subscription added to a suspended account is provisioned suspended and
// not billed; the account's reinstatement brings it into service with the
// others.
func TestAddSubscriptionToASuspendedAccount(t *testing.T) {
	a := activeAccount(t, "standard")
	now := a.Usage.PeriodStart.Add(day)
	if _, err := a.Suspend(StaffAction{Actor: "jane", Reason: "check"}, now); err != nil {
		t.Fatal(err)
	}
	open := len(a.Invoices)
	evs, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "extra", Product: "Extra", Quantity: 1, UnitPriceMinor: 3100}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Invoices) != open || evs[0].Provision != ProvisionSuspendSubscriptions || a.subscription("extra").Status != SubscriptionSuspended {
		t.Errorf("added while suspended: %d invoices, %s, %s", len(a.Invoices), evs[0].Provision, a.subscription("extra").Status)
	}
	evs, err = a.Reinstate(StaffAction{Actor: "jane", Reason: "checked"}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(evs[0].Subscriptions, []string{PlanSubscriptionID, "extra"}) || a.subscription("extra").Status != SubscriptionActive {
		t.Errorf("reinstated %v, extra %s", evs[0].Subscriptions, a.subscription("extra").Status)
	}
	// Everything came back: the email does not list subscriptions.
	if n := evs[0].Notice; n == nil || n.Detail["subscriptions"] != "" {
		t.Errorf("reinstatement email %+v", n)
	}
}

// Cancelled subscriptions no open invoice bills are dropped at
// continue-as-new (Compact), their IDs kept so that none is used twice; the
// cap counts live subscriptions only.
func TestCancelledSubscriptionsRetired(t *testing.T) {
	a := activeAccount(t, "standard")
	a.Durable = true
	now := a.Usage.PeriodStart.Add(day)
	for i := range MaxSubscriptions - 1 {
		id := fmt.Sprintf("s%03d", i)
		if _, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: id, Product: "P", Quantity: 1, UnitPriceMinor: 31}, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "one-more", Product: "P", Quantity: 1, UnitPriceMinor: 31}, now); err == nil ||
		!strings.Contains(err.Error(), "the most allowed") {
		t.Fatalf("past the cap: %v", err)
	}
	// s000 is cancelled and its first invoice paid: retired at Compact.
	if _, err := a.CancelSubscription(Cancellation{SubscriptionID: "s000", When: CancelNow, Actor: "jane", Reason: "r"}, now); err != nil {
		t.Fatal(err)
	}
	for _, inv := range slices.Clone(a.Invoices) {
		pay(t, a, "pay-"+inv.ID, inv.Outstanding(), now)
	}
	a.Compact()
	if a.subscription("s000") != nil || !slices.Contains(a.RetiredSubscriptions, "s000") || len(a.Subscriptions) != MaxSubscriptions-1 {
		t.Fatalf("after Compact: %d subscriptions, retired %v", len(a.Subscriptions), a.RetiredSubscriptions)
	}
	if _, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "s000", Product: "P", Quantity: 1, UnitPriceMinor: 31}, now); err == nil ||
		!strings.Contains(err.Error(), "belonged to a cancelled subscription") {
		t.Errorf("a retired ID again: %v", err)
	}
	if _, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "one-more", Product: "P", Quantity: 1, UnitPriceMinor: 31}, now); err != nil {
		t.Errorf("a new one within the cap: %v", err)
	}
}

// Reinstating the account restores exactly what the account's suspension
// took: a subscription suspended on its own (misuse) stays suspended, and
// the reinstatement and its email name what came back.
func TestAccountReinstatementKeepsOwnSuspensions(t *testing.T) {
	a := activeAccount(t, "standard")
	now := a.Usage.PeriodStart.Add(day)
	if _, err := a.AddSubscription(SubscriptionSpec{SubscriptionID: "seats", Product: "Seats", Quantity: 1, UnitPriceMinor: 3100}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReportAbuse(AbuseReport{NoticeID: "n1", Category: "spam", Source: SourceStaff, Detail: "d", SubscriptionID: "seats"}, SeverityModerate, now); err != nil {
		t.Fatal(err)
	}
	evs, err := a.Suspend(StaffAction{Actor: "jane", Reason: "check"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(evs[0].Subscriptions, []string{PlanSubscriptionID}) || a.Status != StatusSuspended {
		t.Fatalf("suspended %v, status %s", evs[0].Subscriptions, a.Status)
	}
	evs, err = a.Reinstate(StaffAction{Actor: "jane", Reason: "checked"}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(evs[0].Subscriptions, []string{PlanSubscriptionID}) || evs[0].Notice.Detail["subscriptions"] != "plan (plan)" ||
		a.subscription("seats").Status != SubscriptionSuspended || a.Status == StatusSuspended {
		t.Errorf("reinstated %v (%+v), seats %s, status %s", evs[0].Subscriptions, evs[0].Notice.Detail, a.subscription("seats").Status, a.Status)
	}
}
