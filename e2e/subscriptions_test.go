package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/workflows"
)

// A customer with subscriptions on the real worker: subscriptions are
// added, changed, cancelled, exempted and misused one by one; the unpaid
// invoice suspends only the subscriptions it bills, the one paid ahead keeps
// running, payment reinstates exactly those; the default provisioner's
// subscription_items rows follow; and the histories replay. Recorded with
// DUNNING_RECORD_HISTORIES, this is the history set of version
// subscriptions.
func TestSubscriptionsSuspendedOneByOne(t *testing.T) {
	t.Parallel()
	app := application("subs", "e2esubs")
	app.Subscriptions = []account.SubscriptionSpec{
		{SubscriptionID: "seats", Product: "Office seats", Quantity: 2, UnitPriceMinor: 1000},
		{SubscriptionID: "backup", Product: "Backup (yearly)", Quantity: 1, UnitPriceMinor: 50000, IntervalPeriods: 12,
			PaidThrough: time.Now().Add(10 * time.Minute)},
	}
	id := app.CustomerID
	onboardActive(t, app)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eventually(t, 20*time.Second, "the account active", func() bool { return status(t, id).Status == account.StatusActive })
	v, err := update(id, workflows.UpdateAddSubscription, account.SubscriptionSpec{SubscriptionID: "storage", Product: "Storage", Quantity: 1, UnitPriceMinor: 1500, Actor: "rita"})
	must("AddSubscription", err)
	// Its first period, prorated, is invoiced at once: paid on its pay-now
	// page (the money goes to that invoice).
	first := v.Invoices[len(v.Invoices)-1]
	if first.Lines[0].SubscriptionID != "storage" || first.AmountMinor <= 0 || first.AmountMinor > 1500 {
		t.Fatalf("storage's first invoice: %+v", first)
	}
	_, err = recordPayment(id, account.Payment{PaymentID: id + "-storage", AmountMinor: first.AmountMinor, Currency: "USD", Method: "card",
		Reference: first.ID, Actor: account.PayLinkActor})
	must("RecordPayment for storage", err)
	_, err = update(id, workflows.UpdateChangeQuantity, account.QuantityChange{SubscriptionID: "seats", Quantity: 3, Actor: "rita", Reason: "new hire"})
	must("ChangeQuantity", err)
	_, err = update(id, workflows.UpdateChangeQuantity, account.QuantityChange{SubscriptionID: "seats", Quantity: 0, Actor: "rita"})
	if err == nil || !strings.Contains(err.Error(), "quantity 0") {
		t.Errorf("a zero quantity: %v", err)
	}
	v, err = update(id, workflows.UpdateReportAbuse, account.AbuseReport{NoticeID: "AWS-S1", Category: "spam", Source: "provider", Severity: account.SeverityModerate,
		Detail: "spam from the storage bucket", SubscriptionID: "storage", Actor: "feed"})
	must("ReportAbuse", err)
	if s := subscriptionOf(v, "storage"); s == nil || s.Status != account.SubscriptionSuspended || len(v.Reviews) != 1 {
		t.Fatalf("after misuse on storage: %+v", v.Subscriptions)
	}
	_, err = update(id, workflows.UpdateReviewDecision, account.Decision{ReviewID: v.Reviews[0].ID, Decision: account.DecisionReinstate, Actor: "rita", Note: "false alarm"})
	must("ReviewDecision", err)
	_, err = update(id, workflows.UpdateCancelSubscription, account.Cancellation{SubscriptionID: "storage", When: account.CancelNow, Actor: "rita", Reason: "not needed"})
	must("CancelSubscription", err)
	_, err = update(id, workflows.UpdateSetExemption, account.ExemptionRequest{Exemption: account.ExemptNoDunning, Reason: "account manager calls", Actor: "rita"})
	must("SetExemption", err)
	_, err = update(id, workflows.UpdateRemoveExemption, account.ExemptionRemoval{Exemption: account.ExemptNoDunning, Reason: "back to normal", Actor: "rita"})
	must("RemoveExemption", err)
	_, err = update(id, workflows.UpdateSetExemption, account.ExemptionRequest{Exemption: account.ExemptManualPay, Reason: "pays by transfer", Actor: "rita",
		Until: time.Now().Add(3 * time.Second)})
	must("SetExemption with expiry", err)

	// The first periodic invoice bills the plan and the seats (3 from
	// now on), not the backup paid ahead nor the cancelled storage; left
	// unpaid, its suspension step suspends the plan and the seats only.
	var inv string
	eventually(t, 40*time.Second, "the first periodic invoice", func() bool {
		for _, i := range status(t, id).Invoices {
			if i.Kind == account.KindSubscription && i.AmountMinor == 13000 {
				inv = i.ID
				return true
			}
		}
		return false
	})
	eventually(t, 40*time.Second, "the unpaid subscriptions suspended", func() bool {
		v = status(t, id)
		p, s, b := subscriptionOf(v, account.PlanSubscriptionID), subscriptionOf(v, "seats"), subscriptionOf(v, "backup")
		return p.Status == account.SubscriptionSuspended && s.Status == account.SubscriptionSuspended && b.Status == account.SubscriptionActive
	})
	if v.Status != account.StatusPastDue || len(v.Exemptions) != 0 {
		t.Errorf("while the unpaid ones are suspended: status %s, exemptions %+v", v.Status, v.Exemptions)
	}
	eventually(t, 20*time.Second, "the provisioner's rows", func() bool {
		return itemStatuses(t, id) == "backup=active plan=suspended seats=suspended storage=cancelled"
	})
	var owed int64
	for _, i := range v.Invoices {
		owed += i.OutstandingMinor
	}
	_, err = recordPayment(id, account.Payment{PaymentID: id + "-settle", AmountMinor: owed, Currency: "USD", Method: "bank_transfer", Reference: inv})
	must("RecordPayment", err)
	eventually(t, 20*time.Second, "the suspended subscriptions reinstated", func() bool {
		return itemStatuses(t, id) == "backup=active plan=active seats=active storage=cancelled"
	})
	checkReplay(t, id)
}

func subscriptionOf(v account.StatusView, id string) *account.Subscription {
	for i := range v.Subscriptions {
		if v.Subscriptions[i].ID == id {
			return &v.Subscriptions[i]
		}
	}
	return &account.Subscription{}
}

// itemStatuses renders the customer's subscription_items rows.
func itemStatuses(t *testing.T, id string) string {
	t.Helper()
	rows, err := env.store.SubscriptionItemsOf(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.SubscriptionID+"="+r.Status)
	}
	return strings.Join(out, " ")
}
