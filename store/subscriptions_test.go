package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/store"
)

// The default provisioner acts on subscriptions one by one: a
// per-subscription action leaves the account row and the other
// subscriptions alone, an account action changes the account and the
// subscriptions it names, a repeated key is one change, a cancelled
// subscription stays cancelled, and a bad action changes nothing.
func TestSubscriptionItemsProvisioning(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.Exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
		monthly_fee_minor, instrument_type, signup_ip, status, access, balance_minor, event_seq, created_at, updated_at)
		VALUES ('acme', 'n', 'e@x.test', '+1', 'US', 'USD', 'en', 'standard.v3', 100, 'card', '203.0.113.7', 'active', 'limited', 0, 1, $1, $1)`, at); err != nil {
		t.Fatal(err)
	}
	apply := func(action account.Provision, key string, subs ...string) error {
		at = at.Add(time.Hour)
		return st.ApplyProvisionChange(ctx, store.ProvisionChange{CustomerID: "acme", Action: action, Reason: "test", Key: key, At: at, Subscriptions: subs})
	}
	state := func() map[string]string {
		t.Helper()
		rows, err := st.SubscriptionItemsOf(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rows {
			out[r.SubscriptionID] = r.Status
		}
		acct, err := st.SubscriptionOf(ctx, "acme")
		if err == nil {
			out["(account)"] = acct.Status
		}
		return out
	}
	want := func(step string, w map[string]string) {
		t.Helper()
		got := state()
		if len(got) != len(w) {
			t.Fatalf("%s: %v, want %v", step, got, w)
		}
		for k, v := range w {
			if got[k] != v {
				t.Fatalf("%s: %v, want %v", step, got, w)
			}
		}
	}
	for _, step := range []struct {
		action account.Provision
		key    string
		subs   []string
	}{
		{account.ProvisionActivate, "acme/1", []string{"annual", "seats", "storage"}},
		{account.ProvisionSuspendSubscriptions, "acme/2", []string{"seats"}},
	} {
		if err := apply(step.action, step.key, step.subs...); err != nil {
			t.Fatal(err)
		}
	}
	want("one suspended", map[string]string{"(account)": "active", "annual": "active", "seats": "suspended", "storage": "active"})

	// The whole account suspended, then reinstated naming only what
	// comes back: seats stays suspended.
	if err := apply(account.ProvisionSuspend, "acme/3", "annual", "storage"); err != nil {
		t.Fatal(err)
	}
	want("account suspended", map[string]string{"(account)": "suspended", "annual": "suspended", "seats": "suspended", "storage": "suspended"})
	if err := apply(account.ProvisionReinstate, "acme/4", "annual", "storage"); err != nil {
		t.Fatal(err)
	}
	want("account reinstated", map[string]string{"(account)": "active", "annual": "active", "seats": "suspended", "storage": "active"})

	// A retried action (same key) after a later one changes nothing.
	if err := apply(account.ProvisionReinstateSubscriptions, "acme/5", "seats"); err != nil {
		t.Fatal(err)
	}
	if err := apply(account.ProvisionCancelSubscriptions, "acme/6", "storage"); err != nil {
		t.Fatal(err)
	}
	if err := apply(account.ProvisionCancelSubscriptions, "acme/6", "storage"); err != nil {
		t.Fatal(err)
	}
	if err := apply(account.ProvisionReinstate, "acme/7", "annual", "seats", "storage"); err != nil {
		t.Fatal(err)
	}
	want("cancelled stays cancelled", map[string]string{"(account)": "active", "annual": "active", "seats": "active", "storage": "cancelled"})

	// Bad input changes nothing.
	if err := apply("explode", "acme/8", "seats"); err == nil {
		t.Error("an unknown action was accepted")
	}
	if err := apply(account.ProvisionSuspendSubscriptions, "acme/9"); err == nil {
		t.Error("a per-subscription action naming no subscription was accepted")
	}
	// A subscription of a customer that does not exist is refused whole.
	err := st.ApplyProvisionChange(ctx, store.ProvisionChange{CustomerID: "nobody", Action: account.ProvisionSuspend, Key: "n/1", At: at, Subscriptions: []string{"x"}})
	if err == nil {
		t.Error("provisioning for an unknown customer was accepted")
	}
	want("after bad input", map[string]string{"(account)": "active", "annual": "active", "seats": "active", "storage": "cancelled"})
}

// The database cut while a per-subscription action is applied: the call
// fails (the activity retries it), nothing is half written, and the retry
// under the same key once the database is back applies it once.
func TestSubscriptionProvisioningSurvivesTheDatabaseCut(t *testing.T) {
	dbURL, db := pgtest.New(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.Exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
		monthly_fee_minor, instrument_type, signup_ip, status, access, balance_minor, event_seq, created_at, updated_at)
		VALUES ('acme', 'n', 'e@x.test', '+1', 'US', 'USD', 'en', 'standard.v3', 100, 'card', '203.0.113.7', 'active', 'limited', 0, 1, $1, $1)`, at); err != nil {
		t.Fatal(err)
	}
	viaProxy, proxy := pgtest.Behind(t, dbURL)
	ctx := context.Background()
	st, err := store.Open(ctx, viaProxy, config.DefaultDB())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	change := func(action account.Provision, key string, subs ...string) store.ProvisionChange {
		return store.ProvisionChange{CustomerID: "acme", Action: action, Reason: "test", Key: key, At: at, Subscriptions: subs}
	}
	if err := st.ApplyProvisionChange(ctx, change(account.ProvisionActivate, "acme/1", "seats", "storage")); err != nil {
		t.Fatal(err)
	}
	proxy.Cut(faults.Reset)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = st.ApplyProvisionChange(cctx, change(account.ProvisionSuspendSubscriptions, "acme/2", "seats", "storage"))
	cancel()
	if err == nil {
		t.Fatal("applied with the database cut")
	}
	proxy.Restore()
	items := func() string {
		rows, err := store.New(db).SubscriptionItemsOf(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.SubscriptionID+"="+r.Status+"@"+r.ActionKey)
		}
		return strings.Join(out, " ")
	}
	if got := items(); got != "seats=active@acme/1 storage=active@acme/1" {
		t.Fatalf("after the cut: %s", got)
	}
	for range 2 { // the activity's retry, and a duplicate of it
		if err := st.ApplyProvisionChange(ctx, change(account.ProvisionSuspendSubscriptions, "acme/2", "seats", "storage")); err != nil {
			t.Fatal(err)
		}
	}
	if got := items(); got != "seats=suspended@acme/2 storage=suspended@acme/2" {
		t.Fatalf("after the retry: %s", got)
	}
}

// Invoices keep their lines: a line per subscription and per usage item.
func TestInvoiceLinesRecorded(t *testing.T) {
	_, db := pgtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := reg.Get("standard")
	if err != nil {
		t.Fatal(err)
	}
	app := account.Application{CustomerID: "lines", Name: "Acme", Email: "billing@acme.test", Phone: "+14155550100", Country: "US",
		Currency: "USD", Locale: "en", Policy: "standard", Plan: account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentBankTransfer}, SignupIP: "203.0.113.7",
		Subscriptions: []account.SubscriptionSpec{{SubscriptionID: "seats", Product: "Seats", Quantity: 3, UnitPriceMinor: 2000}}}
	a := account.New(app, pol, "low", wt0)
	a.EnableSubscriptions()
	record := func(evs []account.Event, now time.Time) {
		t.Helper()
		if _, err := st.Record(ctx, customerRow(a, now), evs); err != nil {
			t.Fatal(err)
		}
	}
	record(a.Open(wt0), wt0)
	evs, err := a.Approve(false, account.SystemActor, "screening", wt0)
	if err != nil {
		t.Fatal(err)
	}
	record(evs, wt0)
	evs, err = a.ReportUsage(account.Usage{UsageID: "gpu-1", AmountMinor: 700, Description: "GPU hours"}, wt0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	record(evs, wt0.Add(time.Hour))
	next := a.NextBillingAt
	record(a.Advance(next), next)
	rows, err := st.InvoicesOf(ctx, "lines")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d invoices", len(rows))
	}
	var lines []account.InvoiceLine
	if err := rows[1].Lines.Unmarshal(&lines); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || lines[0].SubscriptionID != account.PlanSubscriptionID || lines[1].SubscriptionID != "seats" || lines[1].AmountMinor != 6000 ||
		lines[2].Kind != account.LineUsage || lines[2].UsageID != "gpu-1" || rows[1].AmountMinor != 10000+6000+700 {
		t.Errorf("second invoice %d with lines %+v", rows[1].AmountMinor, lines)
	}
	// An invoice without lines (a run from before subscriptions) stores [].
	if _, err := db.Exec(`UPDATE invoices SET lines = DEFAULT WHERE invoice_id = $1`, rows[0].InvoiceID); err != nil {
		t.Fatal(err)
	}
	rows, _ = st.InvoicesOf(ctx, "lines")
	if string(rows[0].Lines) != "[]" {
		t.Errorf("default lines %s", rows[0].Lines)
	}
}
