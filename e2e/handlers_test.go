package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/workflows"
)

// One customer goes through every update, the query and the bounce signal
// (of a customer notice and of a staff alert), then its histories replay.
// Recorded with DUNNING_RECORD_HISTORIES, this is the history set that
// covers every handler.
func TestEveryHandlerAndSignalReplays(t *testing.T) {
	t.Parallel()
	app := application("every", "e2e")
	id := app.CustomerID
	onboardActive(t, app)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var code string
	eventually(t, 20*time.Second, "the SMS code in the log", func() bool { code = codeFor(app.Phone); return code != "" })
	_, err := update(id, workflows.UpdateRequestPhoneCode, account.CodeRequest{Actor: "rita"})
	must("RequestPhoneCode", err)
	eventually(t, 20*time.Second, "a new SMS code", func() bool { c := codeFor(app.Phone); ok := c != code; code = c; return ok || c != "" })
	code = codeFor(app.Phone)
	_, err = update(id, workflows.UpdateVerifyPhone, account.PhoneCode{Code: code})
	must("VerifyPhone", err)
	_, err = update(id, workflows.UpdateSetBudget, account.Budget{LimitMinor: 50000, NoticePercents: []int{50}, Actor: "rita"})
	must("SetBudget", err)
	_, err = update(id, workflows.UpdateReportUsage, account.Usage{UsageID: "meter-1", AmountMinor: 30000, Description: "GPU hours"})
	must("ReportUsage", err)

	// The first periodic invoice (a month is 15 s on the e2e policy).
	var inv string
	eventually(t, 30*time.Second, "the first invoice", func() bool {
		for _, i := range status(t, id).Invoices {
			if i.Kind == account.KindSubscription {
				inv = i.ID
				return true
			}
		}
		return false
	})
	_, err = update(id, workflows.UpdatePromiseToPay, account.Promise{InvoiceID: inv, Until: time.Now().Add(5 * time.Second), Actor: "rita", Note: "on the phone"})
	must("PromiseToPay", err)
	_, err = update(id, workflows.UpdateDisputeInvoice, account.Dispute{InvoiceID: inv, Reason: "usage too high", Actor: "rita"})
	must("DisputeInvoice", err)
	_, err = update(id, workflows.UpdateResolveDispute, account.Resolution{InvoiceID: inv, Outcome: account.OutcomeAdjusted, AmountMinor: 20000, Actor: "rita"})
	must("ResolveDispute", err)
	_, err = recordPayment(id, account.Payment{PaymentID: "every-part", AmountMinor: 5000, Currency: "USD", Method: "bank_transfer", Reference: "BANK-1"})
	must("RecordPayment", err)
	_, err = update(id, workflows.UpdateSuspend, account.StaffAction{Actor: "rita", Reason: "check"})
	must("Suspend", err)
	_, err = update(id, workflows.UpdateReinstate, account.StaffAction{Actor: "rita", Reason: "checked"})
	must("Reinstate", err)
	v, err := update(id, workflows.UpdateReportAbuse, account.AbuseReport{NoticeID: "AWS-9", Category: "crypto_mining", Source: "provider", Detail: "mining", Actor: "feed"})
	must("ReportAbuse", err)
	if len(v.Reviews) != 1 {
		t.Fatalf("reviews after the report: %+v", v.Reviews)
	}
	_, err = update(id, workflows.UpdateReviewDecision, account.Decision{ReviewID: v.Reviews[0].ID, Decision: account.DecisionReinstate, Actor: "rita", Note: "false alarm"})
	must("ReviewDecision", err)

	// Bounces: a staff alert's (staff's own mailbox: the customer keeps
	// email) and then a customer notice's.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	staffKey, customerKey := "", ""
	for key := range outboxKeys(t, id) {
		switch {
		case strings.HasPrefix(key, id+":staff:"):
			staffKey = key
		case customerKey == "":
			customerKey = key
		}
	}
	if staffKey == "" || customerKey == "" {
		t.Fatalf("no staff alert or customer notice in the outbox: %v", outboxKeys(t, id))
	}
	must("signal", contract.Send(ctx, env.client, workflows.SignalEmailUndeliverable, workflows.WorkflowID(id), "",
		account.Bounce{MessageKey: staffKey, Event: "bounce", Reason: "staff mailbox full"}))
	must("signal", contract.Send(ctx, env.client, workflows.SignalEmailUndeliverable, workflows.WorkflowID(id), "",
		account.Bounce{MessageKey: customerKey, Event: "bounce", Reason: "550 no such user"}))
	eventually(t, 20*time.Second, "the customer's bounce", func() bool { return !status(t, id).EmailOK })

	// Write off what is open, then terminate.
	for _, i := range status(t, id).Invoices {
		if i.Kind == account.KindSubscription && i.OutstandingMinor > 0 {
			_, err = update(id, workflows.UpdateWriteOff, account.InvoiceAction{InvoiceID: i.ID, Actor: "rita", Reason: "goodwill"})
			must("WriteOff", err)
		}
	}
	_, err = update(id, workflows.UpdateTerminate, account.StaffAction{Actor: "rita", Reason: "account closed"})
	must("Terminate", err)
	eventually(t, 30*time.Second, "the workflow to complete", func() bool {
		d, err := env.client.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
		return err == nil && d.WorkflowExecutionInfo.CloseTime != nil
	})
	checkReplay(t, id)
}
