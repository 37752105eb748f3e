package workflows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/risk"
)

// harness runs CustomerLifecycle in the time-skipping test environment and
// follows it across continue-as-new: each run gets a fresh environment that
// starts at the time the previous run ended, with the carried input.
type harness struct {
	t      *testing.T
	suite  testsuite.WorkflowTestSuite
	wf     *Workflows
	now    time.Time
	script []*step
	runs   int
	err    error // how the last run ended

	notices    []sentNotice
	records    []activities.RecordInput
	provisions []activities.ProvisionInput
	restores   []activities.RestorePaymentsInput // payment rows a Resync re-recorded
	results    map[string]any                    // update ID -> result
	rejections map[string]error                  // update ID -> rejection or failure

	// sendNotice, when set, replaces the default mock (which succeeds).
	sendNotice func(context.Context, activities.NoticeInput) (activities.NoticeResult, error)
	// screening is what the Screen activity decides (default: medium risk,
	// approve with prepayment).
	screening activities.ScreenResult
	channels  []string // channel of each notice sent
	// known are the keys PostgreSQL holds, by "<kind>/<id>" (LookupKey).
	known map[string]account.KnownKey
	// record and provision, when set, replace the default mocks (which
	// succeed): they inject database and provisioning faults.
	record    func(context.Context, activities.RecordInput) (int, error)
	provision func(context.Context, activities.ProvisionInput) error
	screen    func() error // when set, may fail the Screen activity

	// chargeWith answers the Charge activity (default: every charge
	// succeeds); charges are the attempts sent, in order.
	chargeWith func(activities.ChargeInput) (account.ChargeOutcome, error)
	charges    []activities.ChargeInput
	// attachWith answers AttachCard (default: the gateway saves it).
	attachWith func(activities.AttachCardInput) (account.CardOnFile, error)
	// closed are the invoices PostgreSQL holds that the account closed.
	closed map[string]*account.Invoice

	env        *testsuite.TestWorkflowEnvironment // the run's environment
	codesSent  int                                // SMS codes sent
	maxCarried int                                // largest continue-as-new input, in bytes
	carried    []Input                            // every continue-as-new input, in order
	onEnv      func(*testsuite.TestWorkflowEnvironment)
}

// phoneCode is the code the mocked SMS carries.
const phoneCode = "424242"

type step struct {
	at   time.Time
	done bool
	fn   func(env *testsuite.TestWorkflowEnvironment)
}

type sentNotice struct {
	at time.Time
	n  account.Notice
}

var start = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := risk.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, wf: &Workflows{Policies: reg, Risk: cfg}, now: start,
		results: map[string]any{}, rejections: map[string]error{},
		screening: activities.ScreenResult{Policy: "", Screening: account.Screening{Outcome: account.OutcomeApprovePrepayment,
			Tier: "medium", Score: 25, Summary: "score 25", Reasons: []string{"credit: no report (+25)"}}}}
	h.suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	return h
}

func testApplication(pol string) account.Application {
	return account.Application{
		CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Phone: "+14155550100",
		Country: "US", Currency: "USD", Locale: "en", Policy: pol,
		Plan:              account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: "card", CardBIN: "424242"},
		SignupIP:          "203.0.113.7",
	}
}

// at schedules fn at an absolute time.
func (h *harness) at(at time.Time, fn func(env *testsuite.TestWorkflowEnvironment)) {
	h.script = append(h.script, &step{at: at, fn: fn})
}

// update schedules the update u; its result or rejection is kept under id.
func update[Req, Res any](h *harness, at time.Time, u contract.Update[Req, Res], id string, req Req) {
	h.at(at, func(env *testsuite.TestWorkflowEnvironment) { send(h, env, u, id, req) })
}

// send runs an update now, from a scheduled step; its result or rejection
// is kept under id.
func send[Req, Res any](h *harness, env *testsuite.TestWorkflowEnvironment, u contract.Update[Req, Res], id string, req Req) {
	env.UpdateWorkflow(u.Name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { h.rejections[id] = err },
		OnComplete: func(res any, err error) {
			if err != nil {
				h.rejections[id] = err
				return
			}
			h.results[id] = res
		},
	}, req)
}

func (h *harness) pay(at time.Time, id string, amount int64) {
	update(h, at, UpdateRecordPayment, id, account.Payment{PaymentID: id, AmountMinor: amount, Currency: "USD", Method: "bank_transfer"})
}

// run executes the workflow until it completes, fails, or until is reached
// (then it is cancelled).
func (h *harness) run(in Input, until time.Time) {
	h.t.Helper()
	for {
		env := h.suite.NewTestWorkflowEnvironment()
		h.env = env
		env.SetStartTime(h.now)
		env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID(in.CustomerID), TaskQueue: DefaultTaskQueue})
		env.RegisterWorkflowWithOptions(h.wf.CustomerLifecycle, workflow.RegisterOptions{Name: WorkflowType})
		env.RegisterActivity(&activities.Activities{})
		h.mockActivities(env)
		if h.onEnv != nil {
			h.onEnv(env)
		}
		runStart := h.now
		for _, s := range h.script {
			if s.done || s.at.Before(runStart) {
				continue
			}
			s := s
			env.RegisterDelayedCallback(func() {
				s.done = true
				s.fn(env)
			}, s.at.Sub(runStart))
		}
		env.RegisterDelayedCallback(env.CancelWorkflow, until.Sub(runStart))
		env.ExecuteWorkflow(WorkflowType, in)
		if !env.IsWorkflowCompleted() {
			h.t.Fatal("workflow did not complete")
		}
		h.now = env.Now()
		h.err = env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(h.err, &can) {
			return
		}
		h.runs++
		var next Input
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			h.t.Fatal(err)
		}
		h.maxCarried = max(h.maxCarried, can.Input.Size())
		h.carried = append(h.carried, next)
		in = next
		if h.runs > 200 {
			h.t.Fatal("too many runs")
		}
	}
}

func (h *harness) mockActivities(env *testsuite.TestWorkflowEnvironment) {
	var acts *activities.Activities
	env.OnActivity(acts.Record, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.RecordInput) (int, error) {
			if h.record != nil {
				if _, err := h.record(ctx, in); err != nil {
					return 0, err
				}
			}
			h.records = append(h.records, in)
			return len(in.Events), nil
		})
	env.OnActivity(acts.LookupKey, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.LookupKeyInput) (account.KnownKey, error) {
			if k, ok := h.known[string(in.Kind)+"/"+in.ID]; ok {
				return k, nil
			}
			// What the mocked Record has written stands for PostgreSQL.
			for _, ev := range h.events() {
				switch {
				case in.Kind == activities.KeyPayment && ev.Payment != nil && ev.Payment.PaymentID == in.ID:
					return account.KnownKey{Found: true, AmountMinor: ev.Payment.AmountMinor, Currency: ev.Payment.Currency}, nil
				case in.Kind == activities.KeyUsage && ev.Usage != nil && ev.Usage.UsageID == in.ID:
					return account.KnownKey{Found: true, AmountMinor: ev.Usage.AmountMinor, Currency: ev.Usage.Currency}, nil
				}
			}
			return account.KnownKey{}, nil
		})
	env.OnActivity(acts.Provision, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.ProvisionInput) error {
			if h.provision != nil {
				if err := h.provision(ctx, in); err != nil {
					return err
				}
			}
			h.provisions = append(h.provisions, in)
			return nil
		})
	env.OnActivity(acts.Charge, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ChargeInput) (account.ChargeOutcome, error) {
			h.charges = append(h.charges, in)
			if h.chargeWith != nil {
				return h.chargeWith(in)
			}
			return charged(in), nil
		})
	env.OnActivity(acts.AttachCard, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.AttachCardInput) (account.CardOnFile, error) {
			if h.attachWith != nil {
				return h.attachWith(in)
			}
			return account.CardOnFile{PaymentMethodID: in.PaymentMethodID, GatewayCustomerID: "cus_" + in.CustomerID,
				Brand: "visa", Last4: in.PaymentMethodID[len(in.PaymentMethodID)-4:], ExpMonth: 12, ExpYear: 2030}, nil
		})
	env.OnActivity(acts.LookupInvoice, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.LookupInvoiceInput) (*account.Invoice, error) {
			return h.closed[in.InvoiceID], nil
		})
	env.OnActivity(acts.RestorePayments, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RestorePaymentsInput) ([]string, error) {
			h.restores = append(h.restores, in)
			ids := []string{}
			for _, p := range in.Payments {
				ids = append(ids, p.PaymentID)
			}
			return ids, nil
		})
	env.OnActivity(acts.Screen, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ScreenInput) (activities.ScreenResult, error) {
			if h.screen != nil {
				if err := h.screen(); err != nil {
					return activities.ScreenResult{}, err
				}
			}
			res := h.screening
			if res.Policy == "" {
				res.Policy = in.Application.Policy
			}
			return res, nil
		})
	env.OnActivity(acts.SendPhoneCode, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PhoneCodeInput) (activities.PhoneCodeResult, error) {
			h.codesSent++
			return activities.PhoneCodeResult{Hash: risk.HashCode(phoneCode, "salt"), Salt: "salt"}, nil
		})
	env.OnActivity(acts.SendNotice, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.NoticeInput) (activities.NoticeResult, error) {
			if h.sendNotice != nil {
				res, err := h.sendNotice(ctx, in)
				if err != nil {
					return res, err
				}
			}
			h.notices = append(h.notices, sentNotice{at: env.Now(), n: in.Notice})
			h.channels = append(h.channels, string(in.Channel))
			return activities.NoticeResult{Key: in.Notice.Key, Status: "sent"}, nil
		})
}

// charged is a gateway's success for a charge.
func charged(in activities.ChargeInput) account.ChargeOutcome {
	r := in.Request
	return account.ChargeOutcome{Key: r.Key, InvoiceID: r.InvoiceID, Attempt: r.Attempt, Outcome: account.ChargeSucceeded,
		PaymentIntentID: "pi_" + strings.ReplaceAll(r.Key, ":", "_"), AmountMinor: r.AmountMinor, Currency: r.Currency}
}

// declined is a gateway's decline of a charge.
func declined(in activities.ChargeInput, code, declineCode, advice string) account.ChargeOutcome {
	r := in.Request
	return account.ChargeOutcome{Key: r.Key, InvoiceID: r.InvoiceID, Attempt: r.Attempt, Outcome: account.ChargeDeclined,
		PaymentIntentID: "pi_" + strings.ReplaceAll(r.Key, ":", "_"), Currency: r.Currency, Code: code, DeclineCode: declineCode, AdviceCode: advice}
}

// events returns every recorded event, in order.
func (h *harness) events() []account.Event {
	var all []account.Event
	for _, r := range h.records {
		all = append(all, r.Events...)
	}
	return all
}

// noticeDays renders the emails sent about an invoice as "stage@D+n",
// relative to its due date.
func (h *harness) noticeDays(invoiceID string, due time.Time) string {
	var out []string
	for _, s := range h.notices {
		if s.n.InvoiceID != invoiceID {
			continue
		}
		d := s.at.Sub(due)
		out = append(out, fmt.Sprintf("%s@D%+d", s.n.Stage, int(d.Round(time.Hour)/(24*time.Hour))))
	}
	return strings.Join(out, " ")
}

// invoice finds an invoice's last recorded state.
func (h *harness) invoice(id string) *account.Invoice {
	var inv *account.Invoice
	for _, ev := range h.events() {
		if ev.Invoice != nil && ev.Invoice.ID == id {
			inv = ev.Invoice
		}
	}
	if inv == nil {
		h.t.Fatalf("invoice %s never recorded", id)
	}
	return inv
}

// eventTypes lists the distinct event types recorded, sorted.
func (h *harness) eventTypes() []string {
	seen := map[string]bool{}
	for _, ev := range h.events() {
		seen[string(ev.Type)] = true
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
