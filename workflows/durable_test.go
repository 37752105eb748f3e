package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
)

var errDatabaseDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

// paymentRecorded reports how many records carry the payment.
func (h *harness) paymentRecorded(id string) int {
	n := 0
	for _, ev := range h.events() {
		if ev.Payment != nil && ev.Payment.PaymentID == id {
			n++
		}
	}
	return n
}

// A database outage longer than any local activity timeout: the payment's
// update answers only once the payment is recorded, and it is recorded.
// Before durable-effects the record gave up after 30 s and the update
// answered success with nothing in PostgreSQL.
func TestPaymentSurvivesLongDatabaseOutage(t *testing.T) {
	h := newHarness(t)
	outageFrom, outageTo := start.Add(time.Hour), start.Add(time.Hour+3*time.Minute)
	var recordedAtAnswer int
	h.record = func(context.Context, activities.RecordInput) (int, error) {
		now := h.env.Now()
		if !now.Before(outageFrom) && now.Before(outageTo) {
			return 0, errDatabaseDown
		}
		return 0, nil
	}
	h.at(outageFrom.Add(time.Second), func(env *testsuite.TestWorkflowEnvironment) {
		env.UpdateWorkflow(UpdateRecordPayment.Name, "prepay", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { h.rejections["prepay"] = err },
			OnComplete: func(res any, err error) {
				if err != nil {
					h.rejections["prepay"] = err
					return
				}
				h.results["prepay"] = res
				recordedAtAnswer = h.paymentRecorded("prepay")
			},
		}, account.Payment{PaymentID: "prepay", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer"})
	})
	h.run(Input{Application: testApplication("standard")}, start.Add(2*time.Hour))

	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if _, ok := h.results["prepay"]; !ok {
		t.Fatal("the payment update never answered")
	}
	if recordedAtAnswer != 1 {
		t.Errorf("when the update answered, the payment had %d records; want 1 (durable before success)", recordedAtAnswer)
	}
	if n := h.paymentRecorded("prepay"); n != 1 {
		t.Errorf("payment recorded %d times, want once", n)
	}
}

// The same payment again while the first is still waiting for the database
// is answered "duplicate" only once the first is durable.
func TestDuplicatePaymentAnswersOnlyWhenDurable(t *testing.T) {
	h := newHarness(t)
	outageFrom, outageTo := start.Add(time.Hour), start.Add(time.Hour+2*time.Minute)
	h.record = func(context.Context, activities.RecordInput) (int, error) {
		if now := h.env.Now(); !now.Before(outageFrom) && now.Before(outageTo) {
			return 0, errDatabaseDown
		}
		return 0, nil
	}
	answered := map[string]int{}
	for i, at := range []time.Time{outageFrom.Add(time.Second), outageFrom.Add(20 * time.Second)} {
		id := fmt.Sprintf("try-%d", i)
		h.at(at, func(env *testsuite.TestWorkflowEnvironment) {
			env.UpdateWorkflow(UpdateRecordPayment.Name, id, &testsuite.TestUpdateCallback{
				OnAccept: func() {}, OnReject: func(err error) { h.rejections[id] = err },
				OnComplete: func(res any, err error) {
					if err != nil {
						h.rejections[id] = err
						return
					}
					h.results[id] = res
					answered[id] = h.paymentRecorded("prepay")
				},
			}, account.Payment{PaymentID: "prepay", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer"})
		})
	}
	h.run(Input{Application: testApplication("standard")}, start.Add(2*time.Hour))
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if res, ok := h.results["try-1"].(account.PaymentResult); !ok || !res.Duplicate {
		t.Fatalf("second try = %+v, want duplicate", h.results["try-1"])
	}
	if answered["try-1"] != 1 {
		t.Errorf("the duplicate was answered with %d records of the payment; want 1", answered["try-1"])
	}
	if n := h.paymentRecorded("prepay"); n != 1 {
		t.Errorf("payment recorded %d times, want once", n)
	}
}

// A payment ID the account has forgotten (it carries only the newest 200
// to the next run) is found in PostgreSQL and not applied twice; another
// amount under it is refused.
func TestForgottenPaymentKeyIsLookedUp(t *testing.T) {
	h := newHarness(t)
	h.screening.Screening.Outcome = account.OutcomeApprove
	h.at(start.Add(time.Second), func(env *testsuite.TestWorkflowEnvironment) {
		for i := 1; i <= account.RememberedPayments+10; i++ {
			id := fmt.Sprintf("p-%d", i)
			send(h, env, UpdateRecordPayment, id, account.Payment{PaymentID: id, AmountMinor: 100000, Currency: "USD", Method: "bank_transfer"})
		}
	})
	// On the demo policy a month lasts a minute: by now the run has
	// continued as new and forgotten the oldest payment IDs.
	h.pay(start.Add(3*time.Minute), "p-1", 100000)
	update(h, start.Add(4*time.Minute), UpdateRecordPayment, "p-1-changed",
		account.Payment{PaymentID: "p-1", AmountMinor: 999, Currency: "USD", Method: "bank_transfer"})
	h.run(Input{Application: testApplication("demo")}, start.Add(5*time.Minute))

	if len(h.rejections) != 1 {
		t.Errorf("rejections: %v", h.rejections)
	}
	if h.runs == 0 {
		t.Fatal("no continue-as-new: nothing was forgotten")
	}
	if res, ok := h.results["p-1"].(account.PaymentResult); !ok || !res.Duplicate {
		t.Errorf("forgotten payment = %+v, want duplicate", h.results["p-1"])
	}
	if n := h.paymentRecorded("p-1"); n != 1 {
		t.Errorf("payment p-1 recorded %d times, want once", n)
	}
	if err := h.rejections["p-1-changed"]; err == nil || !strings.Contains(err.Error(), "already recorded") {
		t.Errorf("reused payment_id with another amount: %v", err)
	}
}

// The provisioning system refuses a suspension (4xx): the refusal is
// recorded, staff are alerted, GetStatus and the search attribute show it,
// it is tried again on the policy's schedule, and the recovery is
// recorded. Payments meanwhile answer at once.
func TestProvisioningRefusalIsVisibleRetriedAndRecovered(t *testing.T) {
	h := newHarness(t)
	h.screening.Screening.Outcome = account.OutcomeApprove
	suspendAt := start.Add(time.Hour)
	refuseUntil := suspendAt.Add(4 * time.Hour) // before the retry 6 hours on
	h.provision = func(_ context.Context, in activities.ProvisionInput) error {
		if in.Action == account.ProvisionSuspend && h.env.Now().Before(refuseUntil) {
			return temporal.NewNonRetryableApplicationError("provisioning webhook refused suspend: 409", "ProvisioningRefused", nil)
		}
		return nil
	}
	update(h, suspendAt, UpdateSuspend, "suspend", account.StaffAction{Actor: "ops@example.com", Reason: "chargeback"})
	var during account.StatusView
	h.at(suspendAt.Add(time.Minute), func(env *testsuite.TestWorkflowEnvironment) {
		v, err := env.QueryWorkflow(QueryGetStatus.Name)
		if err == nil {
			err = v.Get(&during)
		}
		if err != nil {
			t.Errorf("query: %v", err)
		}
	})
	h.pay(suspendAt.Add(2*time.Minute), "pay-during", 10000)
	h.run(Input{Application: testApplication("standard")}, suspendAt.Add(12*time.Hour))

	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	if during.Provisioning.State != account.ProvisioningFailing || during.Provisioning.Decided != account.ProvisionSuspend ||
		during.Provisioning.Applied == account.ProvisionSuspend || !strings.Contains(during.Provisioning.LastError, "409") {
		t.Errorf("GetStatus while refused: %+v", during.Provisioning)
	}
	types := strings.Join(h.eventTypes(), ",")
	for _, want := range []string{string(account.EventProvisioningFailed), string(account.EventProvisioningRecovered), string(account.EventStaffAlerted)} {
		if !strings.Contains(types, want) {
			t.Errorf("no %s event; got %s", want, types)
		}
	}
	var suspends []string
	for _, p := range h.provisions {
		if p.Action == account.ProvisionSuspend {
			suspends = append(suspends, p.Key)
		}
	}
	if len(suspends) != 1 || !strings.Contains(suspends[0], "#") {
		t.Errorf("applied suspends = %v, want one, under a retry round's key", suspends)
	}
	if _, ok := h.results["pay-during"]; !ok {
		t.Error("a payment during the provisioning failure did not answer")
	}
}

// A later decision supersedes a refused one: suspend refused for good,
// then reinstate: the reinstatement is sent and nothing is left failing.
func TestLaterDecisionSupersedesFailingProvisioning(t *testing.T) {
	h := newHarness(t)
	h.screening.Screening.Outcome = account.OutcomeApprove
	h.provision = func(_ context.Context, in activities.ProvisionInput) error {
		if in.Action == account.ProvisionSuspend {
			return temporal.NewNonRetryableApplicationError("refused", "ProvisioningRefused", nil)
		}
		return nil
	}
	update(h, start.Add(time.Hour), UpdateSuspend, "suspend", account.StaffAction{Actor: "ops", Reason: "check"})
	update(h, start.Add(2*time.Hour), UpdateReinstate, "reinstate", account.StaffAction{Actor: "ops", Reason: "cleared"})
	var after account.StatusView
	h.at(start.Add(3*time.Hour), func(env *testsuite.TestWorkflowEnvironment) {
		if v, err := env.QueryWorkflow(QueryGetStatus.Name); err == nil {
			_ = v.Get(&after)
		}
	})
	h.run(Input{Application: testApplication("standard")}, start.Add(4*time.Hour))
	if after.Provisioning.State != account.ProvisioningInSync || after.Provisioning.Applied != account.ProvisionReinstate {
		t.Errorf("provisioning after reinstatement = %+v", after.Provisioning)
	}
}

// Staff terminate an application while its screening is still running:
// the workflow ends terminated, not Failed.
func TestTerminateDuringScreeningEndsTerminated(t *testing.T) {
	h := newHarness(t)
	screened := 0
	h.screen = func() error {
		if screened++; screened < 4 {
			return errors.New("credit provider unavailable")
		}
		return nil
	}
	update(h, start.Add(time.Second), UpdateTerminate, "terminate", account.StaffAction{Actor: "ops", Reason: "duplicate application"})
	h.run(Input{Application: testApplication("standard")}, start.Add(time.Hour))
	if h.err != nil {
		t.Fatalf("workflow ended with %v, want completion", h.err)
	}
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", h.rejections)
	}
	last := h.records[len(h.records)-1].Customer
	if last.Status != string(account.StatusTerminated) {
		t.Errorf("status = %s", last.Status)
	}
}

// Ten wrong codes at once: only the five tries allowed are evaluated.
func TestConcurrentWrongCodesUseOnlyTheTriesAllowed(t *testing.T) {
	h := newHarness(t)
	for i := range 10 {
		update(h, start.Add(10*time.Minute), UpdateVerifyPhone, fmt.Sprintf("guess-%d", i), account.PhoneCode{Code: "000000"})
	}
	update(h, start.Add(20*time.Minute), UpdateVerifyPhone, "right", account.PhoneCode{Code: phoneCode})
	h.run(Input{Application: testApplication("standard")}, start.Add(time.Hour))
	mismatches := 0
	for id, err := range h.rejections {
		if strings.HasPrefix(id, "guess-") && strings.Contains(err.Error(), "does not match") {
			mismatches++
		}
	}
	if mismatches != account.CodeAttempts {
		t.Errorf("%d wrong codes evaluated, want %d", mismatches, account.CodeAttempts)
	}
	if err := h.rejections["right"]; err == nil {
		t.Error("the right code after the tries ran out was accepted")
	}
}

// Many concurrent code requests send no more codes than allowed.
func TestConcurrentCodeRequestsRespectTheLimit(t *testing.T) {
	h := newHarness(t)
	for i := range 12 {
		update(h, start.Add(10*time.Minute), UpdateRequestPhoneCode, fmt.Sprintf("req-%d", i), account.CodeRequest{})
	}
	h.run(Input{Application: testApplication("standard")}, start.Add(time.Hour))
	if h.codesSent != account.MaxCodes {
		t.Errorf("%d codes sent, want at most %d", h.codesSent, account.MaxCodes)
	}
}

// A customer that reports usage every minute: what each run carries to the
// next stays bounded, and a usage ID seen before is never billed twice.
func TestCarriedStateStaysBoundedUnderMinuteUsage(t *testing.T) {
	h := newHarness(t)
	h.screening.Screening.Outcome = account.OutcomeApprove
	// On the demo policy a month lasts a minute, so each run is a month;
	// credit paid up front settles every invoice. Twenty reports every
	// twenty seconds: the test environment takes a bounded number of
	// scheduled callbacks.
	h.pay(start.Add(time.Second), "credit", 1_000_000_000)
	end := start.Add(40 * time.Minute)
	n := 0
	for at := start.Add(20 * time.Second); at.Before(end); at = at.Add(20 * time.Second) {
		first := n + 1
		n += 20
		h.at(at, func(env *testsuite.TestWorkflowEnvironment) {
			for i := first; i < first+20; i++ {
				id := fmt.Sprintf("u-%d", i)
				send(h, env, UpdateReportUsage, id, account.Usage{UsageID: id, AmountMinor: 1})
			}
		})
	}
	update(h, end.Add(time.Minute), UpdateReportUsage, "u-1-again", account.Usage{UsageID: "u-1", AmountMinor: 1})
	h.run(Input{Application: testApplication("demo")}, end.Add(2*time.Minute))
	if len(h.rejections) > 0 {
		t.Fatalf("rejected: %v", first(h.rejections))
	}
	t.Logf("%d usage reports, %d runs, largest carried input %d bytes", n, h.runs+1, h.maxCarried)
	if h.runs < 30 {
		t.Fatalf("only %d continue-as-new in %d usage reports", h.runs, n)
	}
	if h.maxCarried > 48<<10 {
		t.Errorf("a run carried %d bytes to the next; want a bounded state", h.maxCarried)
	}
	billed := 0
	for _, ev := range h.events() {
		if ev.Usage != nil && ev.Usage.UsageID == "u-1" {
			billed++
		}
	}
	if billed != 1 {
		t.Errorf("usage u-1 recorded %d times, want once", billed)
	}
}

func first(m map[string]error) string {
	for k, v := range m {
		return k + ": " + v.Error()
	}
	return ""
}
