package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
)

// leanCustomer runs a customer paying on time for three cycles, noting per
// run the versions it asks for and whether it upserts its customer ID.
func leanCustomer(t *testing.T) (h *harness, asked [][]string, idUpserts []int) {
	h = newHarness(t)
	h.onEnv = func(env *testsuite.TestWorkflowEnvironment) {
		asked = append(asked, nil)
		idUpserts = append(idUpserts, 0)
		run := len(asked) - 1
		env.OnGetVersion(mock.Anything, workflow.DefaultVersion, 1).Run(func(args mock.Arguments) {
			asked[run] = append(asked[run], args.String(0))
		}).Return(workflow.Version(1))
		env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
			if sa, ok := args.Get(0).(temporal.SearchAttributes); ok && sa.ContainsKey(AttrCustomerID) {
				idUpserts[run]++
			}
		}).Return(nil)
	}
	h.pay(start.Add(time.Hour), "prepay", 10000)
	for m := range 3 {
		h.pay(firstIssue.AddDate(0, m, 0).Add(day), "month-"+string(rune('a'+m)), 10000)
	}
	h.run(Input{Application: testApplication("standard")}, firstIssue.AddDate(0, 2, 5))
	return h, asked, idUpserts
}

// A new customer asks for one version (lean); its continued runs ask for
// none and upsert only what changed; the carried account names its policy
// by ID and content hash only.
func TestLeanContinuedRunsCarryWhatTheyKnow(t *testing.T) {
	h, asked, idUpserts := leanCustomer(t)
	if h.runs < 3 {
		t.Fatalf("only %d continue-as-new runs", h.runs)
	}
	if got := strings.Join(asked[0], ","); got != versionLean {
		t.Errorf("the first run asked for %q, want only %q", got, versionLean)
	}
	for run := 1; run < len(asked); run++ {
		if len(asked[run]) > 0 {
			t.Errorf("continued run %d asked for versions %v", run, asked[run])
		}
		if idUpserts[run] > 0 {
			t.Errorf("continued run %d upserted CustomerId again", run)
		}
	}
	if idUpserts[0] != 1 {
		t.Errorf("the first run upserted CustomerId %d times", idUpserts[0])
	}
	want, hash, err := h.wf.Policies.Lookup("standard")
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range h.carried {
		c := in.Carried
		if in.Lean == nil || in.Lean.Level != leanLevel || in.Lean.Attrs.Status == "" {
			t.Errorf("run %d carried lean %+v", i+1, in.Lean)
		}
		if c.Policy != nil || c.PolicyID != want.ID() || c.PolicyHash != hash {
			t.Errorf("run %d carried policy %v %q %q, want only %s %s", i+1, c.Policy != nil, c.PolicyID, c.PolicyHash, want.ID(), hash)
		}
	}
	// Every month's invoice email went out.
	n := 0
	for _, tmpl := range h.templates() {
		if tmpl == "invoice_issued" {
			n++
		}
	}
	if n < 3 {
		t.Errorf("%d invoice emails sent over 3 cycles: %v", n, h.templates())
	}
	if len(h.rejections) > 0 {
		t.Errorf("rejections: %v", h.rejections)
	}
}

// A continued run whose policy version is missing or was changed on this
// worker fails loudly (a workflow task failure: a panic), recording nothing.
func TestLeanRunRefusesAChangedOrMissingPolicy(t *testing.T) {
	h, _, _ := leanCustomer(t)
	for name, spoil := range map[string]func(*account.Account){
		"changed": func(a *account.Account) { a.PolicyHash = strings.Repeat("0", 64) },
		"missing": func(a *account.Account) { a.PolicyID = "standard.v99" },
	} {
		t.Run(name, func(t *testing.T) {
			in := h.carried[0]
			acct := *in.Carried
			spoil(&acct)
			in.Carried = &acct
			h2 := newHarness(t)
			h2.run(in, firstIssue.AddDate(0, 1, 0))
			var panicErr *temporal.PanicError
			if !errors.As(h2.err, &panicErr) {
				t.Fatalf("run ended with %v, want a panic (workflow task failure)", h2.err)
			}
			if msg := panicErr.Error(); !strings.Contains(msg, "content hash") && !strings.Contains(msg, "not on this worker") {
				t.Errorf("panic %q does not say what is wrong", msg)
			}
			if len(h2.records) > 0 {
				t.Errorf("recorded %d batches", len(h2.records))
			}
		})
	}
}

// An account carried whole by a run from before lean continues on the
// registry's shared copy and from then on carries only ID and hash.
func TestLeanAdoptsAnOlderRunsPolicy(t *testing.T) {
	h, _, _ := leanCustomer(t)
	in := h.carried[0]
	acct := *in.Carried
	p, err := h.wf.Policies.Get(acct.PolicyID)
	if err != nil {
		t.Fatal(err)
	}
	acct.Policy, acct.PolicyID, acct.PolicyHash = &p, "", ""
	in.Carried, in.Lean = &acct, nil
	h2 := newHarness(t)
	h2.run(in, firstIssue.AddDate(0, 2, 5))
	if len(h2.carried) == 0 {
		t.Fatalf("no continue-as-new: %v", h2.err)
	}
	if c := h2.carried[0].Carried; c.Policy != nil || c.PolicyID != p.ID() || c.PolicyHash == "" || h2.carried[0].Lean == nil {
		t.Errorf("carried %v %q %q %+v", c.Policy != nil, c.PolicyID, c.PolicyHash, h2.carried[0].Lean)
	}
}

// An update waiting when a continued lean run starts runs as soon as its
// handler is registered (the SDK yields there), before the rest of the
// start: it must find the run ready to record it. The bench found such a
// payment panicking the task (the effects' context was not set yet).
func TestLeanUpdateInTheFirstTaskOfAContinuedRun(t *testing.T) {
	h, _, _ := leanCustomer(t)
	in := h.carried[0]
	h2 := newHarness(t)
	h2.now = in.Carried.StartedAt.Add(40 * 24 * time.Hour)
	h2.pay(h2.now, "at-start", 10000)
	h2.run(in, h2.now.Add(2*day))
	if h2.err != nil && !errors.Is(h2.err, workflow.ErrCanceled) {
		var panicErr *temporal.PanicError
		if errors.As(h2.err, &panicErr) {
			t.Fatalf("the run panicked: %v", panicErr)
		}
	}
	if err, ok := h2.rejections["at-start"]; ok {
		t.Fatalf("payment at the run's start refused: %v", err)
	}
	found := false
	for _, r := range h2.records {
		for _, ev := range r.Events {
			if ev.Type == account.EventPaymentRecorded && ev.Payment != nil && ev.Payment.PaymentID == "at-start" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the payment sent at the run's start was not recorded: %d batches", len(h2.records))
	}
}
