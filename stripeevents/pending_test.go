package stripeevents_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/stripeevents"
)

func payment(id, pi string) []byte {
	return event(id, stripeevents.TypePaymentSucceeded, t0, intent(pi, 5000, meta(gateway.MetaCustomerID, customerID, gateway.MetaInvoiceID, "inv-1")))
}

// Temporal unreachable: 500 so that Stripe redelivers, the event stays
// pending with the attempt recorded, and it is handed over once when the
// workflow answers again, whether by ProcessPending or a redelivery.
func TestUnavailableNotifierLeavesEventPending(t *testing.T) {
	f := newFixture(t)
	f.n.failWith(-1, errUnavailable)
	body := payment("evt_1", "pi_1")
	for range 2 {
		if code := f.post(body); code != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500", code)
		}
	}
	r := f.row("evt_1")
	if r.ProcessedAt != nil || r.Attempts != 2 || !strings.Contains(r.LastError, "no answer") {
		t.Fatalf("processed %v, attempts %d, last error %q", r.ProcessedAt, r.Attempts, r.LastError)
	}
	if _, err := f.h.ProcessPending(context.Background()); err == nil || !strings.Contains(err.Error(), "evt_1") {
		t.Errorf("ProcessPending while unavailable: %v", err)
	}
	f.n.failWith(0, nil)
	if n := f.processPending(); n != 1 {
		t.Errorf("processed %d, want 1", n)
	}
	if n := f.processPending(); n != 0 {
		t.Errorf("processed again: %d", n)
	}
	f.mustPost(body) // Stripe's redelivery after all: nothing more
	if calls := f.n.Calls(); len(calls) != 1 {
		t.Errorf("calls %+v, want one", calls)
	}
	if r := f.row("evt_1"); r.ProcessedAt == nil || r.Outcome != stripeevents.OutcomePaymentRecorded || r.Attempts != 4 || r.LastError != "" {
		t.Errorf("outcome %q, attempts %d, last error %q", r.Outcome, r.Attempts, r.LastError)
	}
}

// PostgreSQL gone while recording: 500 and nothing lost, since Stripe
// redelivers.
func TestDatabaseDownAnswers500(t *testing.T) {
	f := newFixture(t)
	_ = f.db.Close()
	if code := f.post(payment("evt_1", "pi_1")); code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", code)
	}
}

// What retrying cannot change is final: processed with an outcome that
// says so, not retried.
func TestFinalNotifierErrors(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		body    []byte
		outcome string
	}{
		{"workflow refused", &ops.RefusedError{Op: "RecordPayment", Message: "currency EUR is not the account's USD"},
			payment("evt_1", "pi_1"), "refused: currency EUR is not the account's USD"},
		{"customer not found", fmt.Errorf("unknown customer %q: %w", customerID, ops.ErrNotFound),
			payment("evt_1", "pi_1"), stripeevents.OutcomeCustomerNotFound},
		{"lifecycle ended", fmt.Errorf("customer is terminated: %w", ops.ErrTerminated),
			payment("evt_1", "pi_1"), stripeevents.OutcomeTerminated},
		{"invalid request", nil, // the notifier's own check, as ops makes it
			event("evt_1", stripeevents.TypePaymentSucceeded, t0, map[string]any{"id": "pi_1", "amount_received": 5000,
				"currency": "zzz", "metadata": meta(gateway.MetaCustomerID, customerID)}),
			`refused: currency "ZZZ" is not an active ISO 4217 currency`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.err != nil {
				f.n.failWith(-1, tc.err)
			}
			f.mustPost(tc.body)
			r := f.row("evt_1")
			if r.ProcessedAt == nil || r.Outcome != tc.outcome {
				t.Fatalf("processed %v, outcome %q, want %q", r.ProcessedAt, r.Outcome, tc.outcome)
			}
			tries := f.n.tries
			if n := f.processPending(); n != 0 || f.n.tries != tries {
				t.Errorf("retried: %d processed, %d tries", n, f.n.tries-tries)
			}
			if !strings.Contains(f.logs.String(), "level=WARN") {
				t.Errorf("not logged as a warning")
			}
		})
	}
}

// Stripe does not deliver in order: a dispute closed before it was created
// waits (200: it is ours now) until the created event is processed, and the
// workflow hears of the chargeback before its closing.
func TestDisputeClosedBeforeCreated(t *testing.T) {
	f := newFixture(t)
	f.chargeAttempt("inv-1", "pi_1")
	closed := event("evt_z", stripeevents.TypeDisputeClosed, t0.Add(24*time.Hour), dispute("du_1", "pi_1", "lost", 5000))
	f.mustPost(closed)
	if r := f.row("evt_z"); r.ProcessedAt != nil || !strings.Contains(r.LastError, "waiting for charge.dispute.created") {
		t.Fatalf("processed %v, last error %q", r.ProcessedAt, r.LastError)
	}
	if n := f.processPending(); n != 0 || len(f.n.Calls()) != 0 {
		t.Fatalf("closed handed over before created: %d, %+v", n, f.n.Calls())
	}
	f.mustPost(event("evt_c", stripeevents.TypeDisputeCreated, t0, dispute("du_1", "pi_1", "needs_response", 5000)))
	if n := f.processPending(); n != 1 {
		t.Fatalf("processed %d, want the closed one", n)
	}
	calls := f.n.Calls()
	if len(calls) != 2 || calls[0].Method != "RecordChargeback" || calls[1].Method != "CloseChargeback" ||
		calls[1].Req.(account.ChargebackClosure).Outcome != account.ChargebackLost || calls[1].CustomerID != customerID {
		t.Fatalf("calls %+v", calls)
	}
}

// Both pending (Temporal was down): ProcessPending hands them over in the
// order Stripe created them, whatever order they arrived in.
func TestProcessPendingInCreationOrder(t *testing.T) {
	f := newFixture(t)
	f.chargeAttempt("inv-1", "pi_1")
	f.n.failWith(-1, errUnavailable)
	f.post(event("evt_z", stripeevents.TypeDisputeClosed, t0.Add(time.Hour), dispute("du_1", "pi_1", "won", 5000)))
	f.post(event("evt_c", stripeevents.TypeDisputeCreated, t0, dispute("du_1", "pi_1", "needs_response", 5000)))
	f.n.failWith(0, nil)
	if n := f.processPending(); n != 2 {
		t.Fatalf("processed %d, want 2", n)
	}
	if calls := f.n.Calls(); len(calls) != 2 || calls[0].Method != "RecordChargeback" || calls[1].Method != "CloseChargeback" {
		t.Fatalf("calls %+v", calls)
	}
}

// A chargeback waits for its payment's own pending event, so that the
// workflow has the payment it takes back.
func TestChargebackWaitsForItsPendingPayment(t *testing.T) {
	f := newFixture(t)
	f.chargeAttempt("inv-1", "pi_1")
	f.n.failWith(1, errUnavailable)
	if code := f.post(payment("evt_p", "pi_1")); code != http.StatusInternalServerError {
		t.Fatalf("status %d", code)
	}
	f.mustPost(event("evt_c", stripeevents.TypeDisputeCreated, t0.Add(time.Hour), dispute("du_1", "pi_1", "needs_response", 5000)))
	if calls := f.n.Calls(); len(calls) != 0 {
		t.Fatalf("chargeback before its payment: %+v", calls)
	}
	if n := f.processPending(); n != 2 {
		t.Fatalf("processed %d", n)
	}
	if calls := f.n.Calls(); len(calls) != 2 || calls[0].Method != "RecordPayment" || calls[1].Method != "RecordChargeback" {
		t.Fatalf("calls %+v", calls)
	}
}

// A closing whose creation never comes is given up once Stripe would have
// stopped redelivering, rather than retried for ever.
func TestWaitingEventIsGivenUp(t *testing.T) {
	f := newFixture(t)
	f.mustPost(event("evt_z", stripeevents.TypeDisputeClosed, t0, dispute("du_1", "pi_1", "won", 5000)))
	f.skew = stripeevents.DefaultMaxWait + time.Minute
	if n := f.processPending(); n != 1 {
		t.Fatalf("processed %d", n)
	}
	if r := f.row("evt_z"); !strings.HasPrefix(r.Outcome, stripeevents.OutcomeGaveUp) || len(f.n.Calls()) != 0 {
		t.Errorf("outcome %q, calls %+v", r.Outcome, f.n.Calls())
	}
}

// A card attached before the one already set does not replace it.
func TestOlderCardDoesNotReplaceNewer(t *testing.T) {
	f := newFixture(t)
	f.mustPost(event("evt_new", stripeevents.TypeCardAttached, t0.Add(time.Minute), card("pm_new", gatewayCus)))
	f.mustPost(event("evt_old", stripeevents.TypeCardAttached, t0, card("pm_old", gatewayCus)))
	calls := f.n.Calls()
	if len(calls) != 1 || calls[0].Req.(account.CardUpdate).PaymentMethodID != "pm_new" {
		t.Fatalf("calls %+v", calls)
	}
	if r := f.row("evt_old"); r.Outcome != stripeevents.OutcomeSuperseded+" by evt_new" {
		t.Errorf("outcome %q", r.Outcome)
	}
}

// The same event delivered twice at once is handed over once.
func TestConcurrentDeliveriesActOnce(t *testing.T) {
	f := newFixture(t)
	body := payment("evt_1", "pi_1")
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() { codes[i] = f.post(body) })
	}
	wg.Wait()
	for _, c := range codes {
		if c != http.StatusOK {
			t.Errorf("status %d", c)
		}
	}
	if calls := f.n.Calls(); len(calls) != 1 {
		t.Errorf("calls %d, want 1", len(calls))
	}
}
