package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

var applicants atomic.Int32

// application is a medium-risk applicant (a medium-tier country, a free-mail
// address) so that screening asks for a prepayment; each gets its own phone
// and IP, so that tests do not trip each other's velocity rules.
func application(id, policy string) account.Application {
	n := applicants.Add(1)
	return account.Application{
		CustomerID: id, Name: "Customer " + id, Email: id + "@gmail.com", Phone: fmt.Sprintf("+5255%08d", 1000+n),
		Country: "MX", Currency: "USD", Locale: "en", Policy: policy,
		Plan:              account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: "bank_transfer"},
		SignupIP:          fmt.Sprintf("192.0.2.%d", n),
	}
}

func writeApplication(t *testing.T, app account.Application) string {
	t.Helper()
	data, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), app.CustomerID+".json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// status queries GetStatus, retrying for a while: on a busy machine a query
// can time out while the workflow task it waits for is being processed.
func status(t *testing.T, id string) account.StatusView {
	t.Helper()
	var err error
	for range 3 {
		var v account.StatusView
		if v, err = tryStatus(id); err == nil {
			return v
		}
	}
	t.Fatalf("status of %s: %v", id, err)
	return account.StatusView{}
}

func tryStatus(id string) (account.StatusView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return contract.Ask(ctx, env.client, workflows.QueryGetStatus, workflows.WorkflowID(id), "")
}

func recordPayment(id string, p account.Payment) (account.PaymentResult, error) {
	var res account.PaymentResult
	err := updateInto(id, workflows.UpdateRecordPayment, p, &res)
	return res, err
}

// updateInto runs the update u and waits for its result.
func updateInto[Req, Res any](id string, u contract.Update[Req, Res], req Req, result *Res) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := contract.Call(ctx, env.client, u, workflows.WorkflowID(id), req)
	if err != nil {
		return err
	}
	*result = res
	return nil
}

// A customer is onboarded with the CLI, pays the prepayment, gets an
// invoice a billing period later and pays it; PostgreSQL and SendGrid hold
// exactly what happened.
func TestOnboardPrepayInvoicePaid(t *testing.T) {
	t.Parallel()
	id := "alpha"
	out, code := starter(t, "onboard", "--file", writeApplication(t, application(id, "e2e")))
	if code != 0 || !strings.Contains(out, "onboarded alpha: workflow customer-alpha") {
		t.Fatalf("onboard: %d %s", code, out)
	}
	if out, code := starter(t, "onboard", "--file", writeApplication(t, application(id, "e2e"))); code != 1 || !strings.Contains(out, `customer "alpha" already exists`) {
		t.Errorf("second onboard: %d %s", code, out)
	}
	eventually(t, 20*time.Second, "the prepayment request email", func() bool {
		return len(env.sendgrid.ByCustomArg("dunning_key", "alpha:INV-alpha-0001:prepayment_request")) == 1
	})
	if v := status(t, id); v.Status != account.StatusAwaitingPrepayment || v.Access != account.AccessNone || len(v.Invoices) != 1 {
		t.Fatalf("before prepayment: %+v", v)
	}

	out, code = starter(t, "pay", id, "--payment-id", "alpha-pre", "--amount-minor", "10000", "--currency", "USD", "--reference", "INV-alpha-0001")
	if code != 0 || !strings.Contains(out, "$100.00 applied to INV-alpha-0001") || !strings.Contains(out, "status active") {
		t.Fatalf("pay prepayment: %d %s", code, out)
	}
	// The same payment again changes nothing.
	out, code = starter(t, "pay", id, "--payment-id", "alpha-pre", "--amount-minor", "10000", "--currency", "USD")
	if code != 0 || !strings.Contains(out, "already recorded: nothing changed") {
		t.Errorf("repeat payment: %d %s", code, out)
	}
	// Bad payments are refused with the validator's reason, and change nothing.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--payment-id", "alpha-zero", "--amount-minor", "0", "--currency", "USD"}, 2, "amount_minor must be a positive amount"},
		{[]string{"--payment-id", "alpha-eur", "--amount-minor", "500", "--currency", "EUR"}, 1, "currency EUR does not match the account currency USD"},
		{[]string{"--payment-id", "alpha-pre", "--amount-minor", "999", "--currency", "USD"}, 1, `payment_id "alpha-pre" was already recorded for 10000 USD`},
	} {
		out, code := starter(t, append([]string{"pay", id}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("pay %v: exit %d, %s\nwant exit %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}
	// A negative amount sent straight to the workflow meets the validator.
	if _, err := recordPayment(id, account.Payment{PaymentID: "alpha-neg", AmountMinor: -5, Currency: "USD", Method: "card"}); err == nil ||
		!strings.Contains(err.Error(), "amount_minor must be a positive amount") {
		t.Errorf("negative amount: %v", err)
	}
	if out, code := starter(t, "pay", "nobody", "--payment-id", "x", "--amount-minor", "5", "--currency", "USD"); code != 1 || !strings.Contains(out, `unknown customer "nobody"`) {
		t.Errorf("unknown customer: %d %s", code, out)
	}

	var inv account.InvoiceView
	eventually(t, 30*time.Second, "the first invoice", func() bool {
		v := status(t, id)
		if len(v.Invoices) == 1 && v.Invoices[0].ID == "INV-alpha-0002" {
			inv = v.Invoices[0]
			return true
		}
		return false
	})
	if inv.AmountMinor != 10000 || inv.Kind != account.KindSubscription {
		t.Errorf("invoice = %+v", inv)
	}
	res, err := recordPayment(id, account.Payment{PaymentID: "alpha-inv-2", AmountMinor: 10000, Currency: "USD", Method: "card", Actor: "e2e-staff"})
	if err != nil || res.BalanceMinor != 0 || len(res.Allocations) != 1 || res.Allocations[0].InvoiceID != "INV-alpha-0002" {
		t.Fatalf("pay invoice: %+v %v", res, err)
	}
	v := status(t, id)
	if v.Status != account.StatusActive || v.Access != account.AccessFull || len(v.Invoices) != 0 {
		t.Errorf("after paying: %+v", v)
	}

	// PostgreSQL holds the same story.
	ctx := context.Background()
	c, err := env.store.CustomerByID(ctx, id)
	if err != nil || c.Status != "active" || c.Access != "full" || c.BalanceMinor != 0 || c.Policy != "e2e.v1" {
		t.Errorf("customer row = %+v %v", c, err)
	}
	invs, _ := env.store.InvoicesOf(ctx, id)
	if len(invs) != 2 || invs[0].Status != "paid" || invs[0].Kind != "prepayment" || invs[1].Status != "paid" || invs[1].PaidMinor != 10000 {
		t.Errorf("invoice rows = %+v", invs)
	}
	pays, _ := env.store.PaymentsOf(ctx, id)
	if len(pays) != 2 || pays[0].PaymentID != "alpha-pre" || pays[0].Actor != "e2e-staff" {
		t.Errorf("payment rows = %+v", pays)
	}
	// Provisioning runs beside the records: full access follows within
	// moments.
	eventually(t, 20*time.Second, "full access provisioned", func() bool {
		sub, err := env.store.SubscriptionOf(ctx, id)
		return err == nil && sub.Status == "active" && sub.Access == "full"
	})
	audit, _ := env.store.AuditOf(ctx, id)
	var actions []string
	for _, a := range audit {
		actions = append(actions, string(a.Action))
	}
	for _, want := range []string{string(account.EventAccountOpened), string(account.EventPrepaymentRequested), string(account.EventPaymentRecorded), string(account.EventInvoicePaid), string(account.EventAccountActivated), string(account.EventInvoiceIssued)} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}

	// The outbox has one row per intended message, each sent once through
	// SendGrid with its X-Message-Id stored.
	eventually(t, 20*time.Second, "the invoice email", func() bool {
		rows, _ := env.store.OutboxFor(ctx, id)
		return len(rows) >= 2 && rows[len(rows)-1].Status == store.OutboxSent
	})
	rows, _ := env.store.OutboxFor(ctx, id)
	var stages []string
	for _, r := range rows {
		stages = append(stages, r.Stage)
		sent := env.sendgrid.ByCustomArg("dunning_key", r.MessageKey)
		if r.Status != store.OutboxSent || len(sent) != 1 || sent[0].ID != r.ProviderMessageID.String {
			t.Errorf("outbox %s: status %s, provider id %q, %d sent", r.MessageKey, r.Status, r.ProviderMessageID.String, len(sent))
		}
	}
	slices.Sort(stages)
	if got := strings.Join(stages, ","); got != "invoice_issued,phone_verification,prepayment_request" {
		t.Errorf("emails = %s", got)
	}
	out, code = starter(t, "outbox", id)
	if code != 0 || !strings.Contains(out, "alpha:INV-alpha-0002:invoice_issued") {
		t.Errorf("starter outbox: %d %s", code, out)
	}
	checkReplay(t, id)
}
