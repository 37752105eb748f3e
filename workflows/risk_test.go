package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

func (h *harness) provisioned() string {
	var actions []string
	for _, p := range h.provisions {
		actions = append(actions, string(p.Action))
	}
	return strings.Join(actions, ",")
}

func (h *harness) templates() []string {
	var out []string
	for _, n := range h.notices {
		out = append(out, n.n.Template)
	}
	return out
}

func TestScreeningRejectsAndStops(t *testing.T) {
	h := newHarness(t)
	h.screening.Screening = account.Screening{Outcome: account.OutcomeReject, Tier: "high", Score: 100,
		Summary: "refused instrument", Reasons: []string{"instrument: prepaid card (+100)"}}
	h.run(Input{Application: testApplication("standard")}, start.Add(30*day))
	if h.err != nil {
		t.Fatalf("workflow: %v", h.err)
	}
	if got := h.templates(); !slices.Equal(got, []string{"application_rejected"}) {
		t.Errorf("emails = %v (no SMS code for a rejected applicant)", got)
	}
	last := h.records[len(h.records)-1].Customer
	if last.Status != "terminated" || last.ScreeningOutcome != string(account.OutcomeReject) || last.RiskTier != "high" {
		t.Errorf("customer = %+v", last)
	}
	if h.provisioned() != "" {
		t.Errorf("a rejected applicant was provisioned: %s", h.provisioned())
	}
}

func TestManualReviewApprovedByStaff(t *testing.T) {
	h := newHarness(t)
	h.screening.Screening = account.Screening{Outcome: account.OutcomeReview, Tier: "high", Score: 60,
		Summary: "velocity", Reasons: []string{"velocity_ip: 4 earlier sign-ups from 203.0.113.7 (+20)"}}
	h.screening.Policy = "strict"
	h.pay(start.Add(time.Hour), "too-early", 20000) // refused: nothing invoiced yet
	update(h, start.Add(2*time.Hour), UpdateReviewDecision, "wrong", account.Decision{Decision: account.DecisionReinstate, Actor: "rita"})
	update(h, start.Add(3*time.Hour), UpdateReviewDecision, "ok", account.Decision{Decision: account.DecisionApprove, Actor: "rita", Note: "ID checked"})
	h.run(Input{Application: testApplication("standard")}, start.Add(5*time.Hour))
	if err := h.rejections["too-early"]; err == nil || !strings.Contains(err.Error(), "manual_review: nothing has been invoiced yet") {
		t.Errorf("payment in review: %v", err)
	}
	if err := h.rejections["wrong"]; err == nil || !strings.Contains(err.Error(), "decide approve or reject") {
		t.Errorf("wrong decision: %v", err)
	}
	v, ok := h.results["ok"].(account.StatusView)
	if !ok || v.Status != account.StatusAwaitingPrepayment || v.Policy != "strict.v2" || len(v.Reviews) != 0 || v.RiskTier != "high" {
		t.Fatalf("after approval: %+v %v", h.results["ok"], h.rejections["ok"])
	}
	got := h.templates()
	for _, want := range []string{"manual_review", "staff_alert", "phone_verification", "prepayment_request"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s email: %v", want, got)
		}
	}
}

func TestPhoneVerificationUpdates(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	update(h, start.Add(5*time.Minute), UpdateVerifyPhone, "wrong", account.PhoneCode{Code: "000000"})
	update(h, start.Add(30*time.Minute), UpdateVerifyPhone, "expired", account.PhoneCode{Code: phoneCode}) // 15 minutes only
	update(h, start.Add(4*time.Hour), UpdateRequestPhoneCode, "again", account.CodeRequest{})
	update(h, start.Add(4*time.Hour+time.Minute), UpdateVerifyPhone, "right", account.PhoneCode{Code: phoneCode})
	update(h, start.Add(5*time.Hour), UpdateVerifyPhone, "reuse", account.PhoneCode{Code: phoneCode})
	h.run(Input{Application: testApplication("standard")}, start.Add(6*time.Hour))
	for id, want := range map[string]string{"wrong": "the code does not match; 4 tries left", "expired": "expired", "reuse": "already verified"} {
		if err := h.rejections[id]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", id, err, want)
		}
	}
	if v, ok := h.results["right"].(account.StatusView); !ok || !v.PhoneVerified {
		t.Errorf("right code: %+v %v", h.results["right"], h.rejections["right"])
	}
	var types []string
	for _, ev := range h.events() {
		if strings.HasPrefix(string(ev.Type), "phone.") {
			types = append(types, string(ev.Type))
		}
	}
	if got := strings.Join(types, ","); got != "phone.code_sent,phone.code_rejected,phone.code_sent,phone.verified" {
		t.Errorf("phone events: %s (a wrong code must be recorded)", got)
	}
}

func TestMisuseSuspendsReviewReinstates(t *testing.T) {
	h := newHarness(t)
	now := start.Add(2 * time.Hour)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	update(h, now, UpdateReportAbuse, "mining", account.AbuseReport{NoticeID: "PRV-1", Category: "crypto_mining", Source: "provider", Detail: "GPU miner on vm-7"})
	update(h, now.Add(time.Minute), UpdateReportAbuse, "mining-again", account.AbuseReport{NoticeID: "PRV-1", Category: "crypto_mining", Source: "provider", Detail: "GPU miner on vm-7"})
	update(h, now.Add(2*time.Minute), UpdateReportAbuse, "unknown", account.AbuseReport{NoticeID: "PRV-2", Category: "jaywalking", Source: "provider", Detail: "x"})
	update(h, now.Add(3*time.Minute), UpdateReinstate, "by-hand", account.StaffAction{Actor: "dave", Reason: "looks fine"})
	update(h, now.Add(time.Hour), UpdateReviewDecision, "clear", account.Decision{Decision: account.DecisionReinstate, Actor: "sam", Note: "customer's own research"})
	h.run(Input{Application: testApplication("standard")}, now.Add(2*time.Hour))
	if err := h.rejections["unknown"]; err == nil || !strings.Contains(err.Error(), "jaywalking") {
		t.Errorf("unknown category: %v", err)
	}
	if err := h.rejections["by-hand"]; err == nil || !strings.Contains(err.Error(), "ReviewDecision") {
		t.Errorf("reinstate by hand: %v", err)
	}
	if v := h.results["mining"].(account.StatusView); v.Status != account.StatusSuspended || len(v.Reviews) != 1 || v.Reviews[0].Severity != account.SeveritySevere {
		t.Errorf("after a severe report: %+v", v)
	}
	if v := h.results["clear"].(account.StatusView); v.Status != account.StatusActive {
		t.Errorf("after review: %s", v.Status)
	}
	if got := h.provisioned(); got != "activate,suspend,reinstate" {
		t.Errorf("provisioning: %s", got)
	}
	got := h.templates()
	for _, want := range []string{"abuse_suspension", "staff_alert", "reinstated"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s email: %v", want, got)
		}
	}
	n := 0
	for _, ev := range h.events() {
		if ev.Type == account.EventEnforcementAcknowledged {
			n++
		}
	}
	if n != 1 {
		t.Errorf("notice acknowledged %d times", n)
	}
}

func TestProviderNoticeEscalatesAndSuspendsAtDeadline(t *testing.T) {
	h := newHarness(t)
	now := start.Add(2 * time.Hour)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	// A spam complaint is moderate: no suspension at once, two days to decide.
	update(h, now, UpdateReportAbuse, "spam", account.AbuseReport{NoticeID: "PRV-9", Category: "spam", Source: "provider", Detail: "bulk mail from 198.51.100.4"})
	update(h, now.Add(3*day), UpdateReviewDecision, "end", account.Decision{Decision: account.DecisionTerminate, Actor: "sam", Note: "confirmed"})
	h.run(Input{Application: testApplication("standard")}, now.Add(5*day))
	if h.err != nil {
		t.Fatal(h.err)
	}
	var kinds []string
	for _, n := range h.notices {
		if n.n.Staff {
			kinds = append(kinds, n.n.Detail["kind"]+"@"+n.at.Sub(now).String())
		}
	}
	want := "enforcement_deadline@0s,enforcement_deadline@24h0m0s,enforcement_deadline@38h24m0s,enforcement_deadline@48h0m0s"
	if got := strings.Join(kinds, ","); got != want {
		t.Errorf("staff alerts: %s\nwant %s", got, want)
	}
	if got := h.provisioned(); got != "activate,suspend,terminate" {
		t.Errorf("provisioning: %s", got)
	}
	if !slices.Contains(h.templates(), "misuse_terminated") {
		t.Errorf("emails: %v", h.templates())
	}
}

func TestBudgetAndUsage(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	update(h, start.Add(2*time.Hour), UpdateSetBudget, "budget", account.Budget{LimitMinor: 20000, NoticePercents: []int{50, 100}, HardStop: true, Actor: "una"})
	for i, amt := range []int64{9000, 1000, 10000, 500} {
		id := "u" + string(rune('1'+i))
		update(h, start.Add(time.Duration(3+i)*time.Hour), UpdateReportUsage, id, account.Usage{UsageID: id, AmountMinor: amt})
	}
	update(h, start.Add(8*time.Hour), UpdateReportUsage, "dup", account.Usage{UsageID: "u1", AmountMinor: 9001})
	update(h, start.Add(8*time.Hour), UpdateReportUsage, "neg", account.Usage{UsageID: "u9", AmountMinor: -3})
	h.run(Input{Application: testApplication("standard")}, firstIssue.Add(time.Hour))
	for id, want := range map[string]string{"dup": `usage_id "u1" was already reported for 9000`, "neg": "amount_minor must be a positive amount"} {
		if err := h.rejections[id]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", id, err)
		}
	}
	var percents []string
	for _, n := range h.notices {
		if n.n.Template == "budget_threshold" {
			percents = append(percents, n.n.Detail["percent"])
		}
	}
	if strings.Join(percents, ",") != "50,100" {
		t.Errorf("budget notices: %v", percents)
	}
	if v := h.results["u3"].(account.StatusView); v.Status != account.StatusSuspended || v.Budget.Percent != 100 {
		t.Errorf("hard stop: %+v", v)
	}
	// The new period lifts the stop and bills the 20,500 of usage.
	inv := h.invoice("INV-acme-0002")
	if inv.UsageMinor != 20500 || inv.AmountMinor != 30500 {
		t.Errorf("invoice: %+v", inv)
	}
	if got := h.provisioned(); got != "activate,suspend,reinstate" {
		t.Errorf("provisioning: %s", got)
	}
}

func TestBounceSendsLaterNoticesBySMS(t *testing.T) {
	h := newHarness(t)
	h.pay(start.Add(time.Hour), "prepay", 10000)
	h.at(start.Add(2*time.Hour), func(env *testsuite.TestWorkflowEnvironment) {
		env.SignalWorkflow(SignalEmailUndeliverable.Name, account.Bounce{MessageKey: "acme:INV-acme-0001:prepayment_request", Event: "bounce", Reason: "550 5.1.1 no such user"})
	})
	h.run(Input{Application: testApplication("standard")}, firstIssue.Add(time.Hour))
	alert, invoice := -1, -1
	for i, n := range h.notices {
		if n.n.Staff && n.n.Detail["kind"] == "address_undeliverable" {
			alert = i
		}
		if n.n.Template == "invoice_issued" {
			invoice = i
		}
	}
	if alert < 0 || invoice < 0 {
		t.Fatalf("notices: %v", h.templates())
	}
	if h.channels[invoice] != string(policy.ChannelSMS) || h.channels[0] != string(policy.ChannelEmail) {
		t.Errorf("channels: %v", h.channels)
	}
}

func TestScreeningApprovesLowRiskWithoutPrepayment(t *testing.T) {
	h := newHarness(t)
	h.screening.Screening = account.Screening{Outcome: account.OutcomeApprove, Tier: "low", Score: 0, Summary: "score 0"}
	h.run(Input{Application: testApplication("standard")}, start.Add(time.Hour))
	if got := h.provisioned(); got != string(account.ProvisionActivate) {
		t.Errorf("provisioning: %s", got)
	}
	// Service starts at once and the first period is billed at once.
	inv := h.invoice("INV-acme-0001")
	if inv.Kind != account.KindSubscription || !inv.IssuedAt.Equal(start) {
		t.Errorf("first invoice: %+v", inv)
	}
	if slices.Contains(h.templates(), "prepayment_request") {
		t.Error("a low-risk customer was asked for a prepayment")
	}
	last := h.records[len(h.records)-1].Customer
	if last.Status != "active" || last.Access != "limited" || last.RiskTier != "low" {
		t.Errorf("customer: %+v", last)
	}
}
