package account

import (
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/policy"
)

// A stand-in for the salted hash: the real one is risk.HashCode.
func fakeHash(salt, code string) string { return salt + "|" + code }

func fakeCheck(hash, salt, code string) bool { return hash == fakeHash(salt, code) }

func verifyPhone(t *testing.T, a *Account, now time.Time) {
	t.Helper()
	a.PhoneCodeSent(fakeHash("s", "123456"), "s", now)
	if _, err := a.VerifyPhone(PhoneCode{Code: "123456"}, fakeCheck, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func screened(t *testing.T, outcome Outcome, tier string) (*Account, []Event) {
	t.Helper()
	a := New(testApp(), mustPolicy(t, "standard"), "", t0)
	events, err := a.ApplyScreening(Screening{Outcome: outcome, Tier: tier, Score: 55, Summary: "score 55: velocity ip",
		Reasons: []string{"velocity_ip: 4 earlier sign-ups (+20)"}}, ptr(mustPolicy(t, policyFor(tier))), t0)
	if err != nil {
		t.Fatal(err)
	}
	return a, events
}

func policyFor(tier string) string {
	if tier == "high" {
		return "strict"
	}
	return "standard"
}

func TestScreeningOutcomes(t *testing.T) {
	for _, tc := range []struct {
		outcome Outcome
		tier    string
		status  Status
		want    string
	}{
		{OutcomeApprove, "low", StatusActive, "screening.decided|account.activated|invoice.issued"},
		{OutcomeApprovePrepayment, "medium", StatusAwaitingPrepayment, "screening.decided|prepayment.requested"},
		{OutcomeReview, "high", StatusManualReview, "screening.decided|review.opened|staff.alerted"},
		{OutcomeReject, "high", StatusTerminated, "screening.decided|application.rejected"},
	} {
		t.Run(string(tc.outcome), func(t *testing.T) {
			a, events := screened(t, tc.outcome, tc.tier)
			var types []string
			for _, ev := range events {
				types = append(types, string(ev.Type))
			}
			if a.Status != tc.status || strings.Join(types, "|") != tc.want || a.RiskTier != tc.tier {
				t.Errorf("status %s, tier %s, events %v", a.Status, a.RiskTier, types)
			}
			if tc.tier == "high" && a.Policy.Name != "strict" {
				t.Errorf("high risk kept policy %s", a.Policy.ID())
			}
			if events[0].Detail["reasons"] == "" {
				t.Error("decision recorded without its reasons")
			}
			if tc.outcome == OutcomeReject {
				if n := events[len(events)-1].Notice; n == nil || n.Template != "application_rejected" {
					t.Errorf("rejection notice %+v", n)
				}
			}
		})
	}
	a, _ := screened(t, OutcomeApprove, "low")
	if _, err := a.ApplyScreening(Screening{Outcome: OutcomeApprove}, a.Policy, t0); err == nil {
		t.Error("screened twice")
	}
}

func TestOnboardingReview(t *testing.T) {
	a, _ := screened(t, OutcomeReview, "high")
	r := a.Reviews[0]
	if !r.Deadline.Equal(t0.Add(24 * time.Hour)) { // strict: one day
		t.Fatalf("deadline %v", r.Deadline)
	}
	for _, bad := range []struct {
		d    Decision
		want string
	}{
		{Decision{Decision: DecisionReinstate, Actor: "x"}, "onboarding review: decide approve or reject"},
		{Decision{Decision: "maybe", Actor: "x"}, "must be one of"},
		{Decision{Decision: DecisionApprove}, "actor is required"},
		{Decision{ReviewID: "review-9", Decision: DecisionApprove, Actor: "x"}, `review "review-9" is not open`},
	} {
		if _, err := a.ReviewDecision(bad.d, t0); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.d, err, bad.want)
		}
	}
	// Staff are reminded at half and 80% of the day, then the application
	// lapses into a rejection.
	events := runUntil(a, t0.Add(25*time.Hour))
	got := timeline(events, t0, "staff.", "review.", "application.")
	want := "D+12h0m0s staff.alerted [staff_alert]\nD+19h12m0s staff.alerted [staff_alert]\nD+1 review.lapsed\nD+1 application.rejected [application_rejected]\nD+1 staff.alerted [staff_alert]"
	if got != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}

	ok, _ := screened(t, OutcomeReview, "high")
	events, err := ok.ReviewDecision(Decision{Decision: DecisionApprove, Actor: "rita", Note: "documents checked"}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ok.Status != StatusAwaitingPrepayment || len(ok.Reviews) != 0 || events[0].Actor != "rita" || events[0].Review.Decision != DecisionApprove {
		t.Errorf("approved: %s %+v", ok.Status, events[0])
	}
}

func TestSevereAbuseSuspendsAndReviewDecides(t *testing.T) {
	for _, decision := range []string{DecisionReinstate, DecisionTerminate} {
		t.Run(decision, func(t *testing.T) {
			a := activeAccount(t, "standard")
			verifyPhone(t, a, t0.Add(2*time.Hour))
			now := t0.Add(3 * time.Hour)
			report := AbuseReport{NoticeID: "CP-77", Category: "crypto_mining", Source: "provider", Detail: "GPU mining on vm-3",
				Deadline: now.Add(2 * time.Hour)}
			events, err := a.ReportAbuse(report, SeveritySevere, now)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != StatusSuspended || a.Suspensions[ReasonMisuse].Note != "CP-77" {
				t.Fatalf("after a severe report: %s %v", a.Status, a.Suspensions)
			}
			// The provider's two hours are sooner than the policy's four.
			if r := a.Reviews[0]; !r.Deadline.Equal(now.Add(2*time.Hour)) || events[0].Type != EventEnforcementAcknowledged {
				t.Errorf("review %+v, first event %s", r, events[0].Type)
			}
			var notice *Notice
			for _, ev := range events {
				if ev.Notice != nil && ev.Notice.Template == "abuse_suspension" {
					notice = ev.Notice
				}
			}
			if notice == nil || notice.Detail["category"] != "crypto_mining" || !notice.DeadlineAt.Equal(now.Add(2*time.Hour)) {
				t.Errorf("suspension notice %+v", notice)
			}
			// The same notice again changes nothing.
			if again, err := a.ReportAbuse(report, SeveritySevere, now); err != nil || again != nil || len(a.Reviews) != 1 {
				t.Errorf("repeat: %v %v", again, err)
			}
			if err := a.CheckReinstate(StaffAction{Actor: "x", Reason: "y"}); err == nil {
				t.Error("a misuse suspension was lifted by hand")
			}
			if a.derivedAccess() == AccessFull {
				t.Error("full access with an open review")
			}
			_, err = a.ReviewDecision(Decision{Decision: decision, Actor: "sam"}, now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]Status{DecisionReinstate: StatusActive, DecisionTerminate: StatusTerminated}[decision]
			if a.Status != want || len(a.Reviews) != 0 {
				t.Errorf("after %s: %s, %d reviews open", decision, a.Status, len(a.Reviews))
			}
		})
	}
}

func TestUndecidedMisuseReviewSuspendsAtDeadline(t *testing.T) {
	a := activeAccount(t, "standard")
	now := t0.Add(3 * time.Hour)
	if _, err := a.ReportAbuse(AbuseReport{NoticeID: "cmp-1", Category: "spam", Source: "complaint", Detail: "bulk mail"}, SeverityModerate, now); err != nil {
		t.Fatal(err)
	}
	if a.Status != StatusActive {
		t.Fatalf("a moderate report suspended at once: %s", a.Status)
	}
	events := runUntil(a, now.Add(49*time.Hour))
	got := timeline(events, now, "staff.", "review.", EventAccountSuspended)
	want := "D+1 staff.alerted [staff_alert]\nD+38h24m0s staff.alerted [staff_alert]\nD+2 review.lapsed\nD+2 account.suspended [abuse_suspension] <suspend>\nD+2 staff.alerted [staff_alert]"
	if got != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}
	if len(a.Reviews) != 1 || !a.Reviews[0].Lapsed {
		t.Error("a lapsed review must stay open for a decision")
	}
}

func TestTerminationClosesOpenReviews(t *testing.T) {
	a := activeAccount(t, "standard")
	now := t0.Add(time.Hour)
	if _, err := a.ReportAbuse(AbuseReport{NoticeID: "c-1", Category: "spam", Source: "complaint", Detail: "x"}, SeverityMinor, now); err != nil {
		t.Fatal(err)
	}
	events, err := a.Terminate(StaffAction{Actor: "frank", Reason: "closed"}, now)
	if err != nil {
		t.Fatal(err)
	}
	var closed *Review
	for _, ev := range events {
		if ev.Type == EventReviewClosed {
			closed = ev.Review
		}
	}
	if len(a.Reviews) != 0 || closed == nil || closed.Decision != "closed_by_termination" || closed.DecidedBy != "frank" {
		t.Errorf("reviews %v, closed %+v", a.Reviews, closed)
	}
}

func TestAbuseRefusals(t *testing.T) {
	a := New(testApp(), mustPolicy(t, "standard"), "", t0)
	if _, err := a.ReportAbuse(AbuseReport{NoticeID: "n", Category: "spam", Source: "staff", Detail: "d"}, SeverityMinor, t0); err == nil ||
		!strings.Contains(err.Error(), "no service to misuse") {
		t.Errorf("report in screening: %v", err)
	}
	b := activeAccount(t, "standard")
	for _, bad := range []AbuseReport{
		{NoticeID: "", Category: "spam", Source: "staff", Detail: "d"},
		{NoticeID: "n", Category: "spam", Source: "rumour", Detail: "d"},
		{NoticeID: "n", Category: "spam", Source: "staff", Detail: ""},
		{NoticeID: "n", Category: "spam", Source: "staff", Detail: "d", Severity: "mild"},
	} {
		if err := b.CheckAbuse(bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestPhoneVerification(t *testing.T) {
	a := activeAccount(t, "standard")
	now := t0.Add(2 * time.Hour)
	if err := a.CheckPhoneCode(PhoneCode{Code: "123456"}, now); err == nil || !strings.Contains(err.Error(), "no verification code has been sent") {
		t.Errorf("before a code: %v", err)
	}
	events := a.PhoneCodeSent(fakeHash("salt", "246810"), "salt", now)
	if events[0].Notice == nil || strings.Contains(events[0].Notice.Detail["phone_masked"], "5550") || events[0].Detail["phone"] != "+1******0100" {
		t.Errorf("code sent: %+v %+v", events[0].Detail, events[0].Notice)
	}
	for _, bad := range []string{"12345", "abcdef", "1234567"} {
		if err := a.CheckPhoneCode(PhoneCode{Code: bad}, now); err == nil {
			t.Errorf("code %q accepted", bad)
		}
	}
	events, err := a.VerifyPhone(PhoneCode{Code: "111111"}, fakeCheck, now)
	if err == nil || !strings.Contains(err.Error(), "4 tries left") || len(events) != 1 || events[0].Type != EventPhoneCodeRejected {
		t.Errorf("wrong code: %v %v", events, err)
	}
	if err := a.CheckPhoneCode(PhoneCode{Code: "246810"}, now.Add(CodeTTL)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	if _, err := a.VerifyPhone(PhoneCode{Code: "246810"}, fakeCheck, now.Add(time.Minute)); err != nil || !a.PhoneVerified {
		t.Fatalf("right code: %v", err)
	}
	// Using the code again is refused.
	if err := a.CheckPhoneCode(PhoneCode{Code: "246810"}, now.Add(2*time.Minute)); err == nil || !strings.Contains(err.Error(), "already verified") {
		t.Errorf("code reuse: %v", err)
	}
	if err := a.CheckRequestCode(); err == nil {
		t.Error("a new code requested for a verified phone")
	}

	b := activeAccount(t, "standard")
	b.PhoneCodeSent(fakeHash("s", "999999"), "s", now)
	for range CodeAttempts {
		_, _ = b.VerifyPhone(PhoneCode{Code: "000000"}, fakeCheck, now)
	}
	if err := b.CheckPhoneCode(PhoneCode{Code: "999999"}, now); err == nil || !strings.Contains(err.Error(), "too many wrong codes") {
		t.Errorf("after five wrong codes: %v", err)
	}
	for range MaxCodes - 1 {
		b.PhoneCodeSent("h", "s", now)
	}
	if err := b.CheckRequestCode(); err == nil {
		t.Error("more codes than allowed")
	}
}

func TestBudgetThresholdsOncePerPeriodAndHardStop(t *testing.T) {
	a := activeAccount(t, "standard")
	now := t0.Add(2 * time.Hour)
	if _, err := a.SetBudget(Budget{LimitMinor: 50000, NoticePercents: []int{50, 80, 100}, HardStop: true, Actor: "una"}, now); err != nil {
		t.Fatal(err)
	}
	report := func(id string, amount int64) []Event {
		t.Helper()
		events, err := a.ReportUsage(Usage{UsageID: id, AmountMinor: amount}, now)
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
	kinds := func(events []Event) string {
		var out []string
		for _, ev := range events {
			if ev.Type == EventBudgetThreshold {
				out = append(out, ev.Detail["percent"])
			}
			if ev.Type == EventAccountSuspended {
				out = append(out, "stop")
			}
		}
		return strings.Join(out, ",")
	}
	if got := kinds(report("u1", 24999)); got != "" {
		t.Errorf("below 50%%: %s", got)
	}
	if got := kinds(report("u2", 1)); got != "50" {
		t.Errorf("at exactly 50%%: %q", got)
	}
	if got := kinds(report("u2", 1)); got != "" {
		t.Errorf("repeated usage_id counted again: %q (usage %d)", got, a.Usage.PeriodMinor)
	}
	if got := kinds(report("u3", 30000)); got != "80,100,stop" {
		t.Errorf("over 100%%: %q", got)
	}
	if a.Status != StatusSuspended || a.Suspensions[ReasonBudget].Reason != ReasonBudget {
		t.Fatalf("hard stop: %s", a.Status)
	}
	if got := kinds(report("u4", 100)); got != "" {
		t.Errorf("thresholds announced twice in a period: %q", got)
	}
	if err := a.CheckUsage(Usage{UsageID: "u1", AmountMinor: 5}); err == nil || !strings.Contains(err.Error(), "already reported for 24999") {
		t.Errorf("usage_id reused with another amount: %v", err)
	}
	for _, bad := range []Usage{{UsageID: "x", AmountMinor: -1}, {UsageID: "x", AmountMinor: 0}, {UsageID: "", AmountMinor: 5}} {
		if err := a.CheckUsage(bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	// A higher limit lifts the stop.
	if _, err := a.SetBudget(Budget{LimitMinor: 100000, HardStop: true}, now); err != nil || a.Status != StatusActive {
		t.Fatalf("raised budget: %s %v", a.Status, err)
	}
	// The usage is billed on the next invoice and the period starts afresh.
	runUntil(a, a.NextBillingAt)
	inv := a.Invoices[0]
	if inv.UsageMinor != 55100 || inv.AmountMinor != 10000+55100 || a.Usage.PeriodMinor != 0 || len(a.Budget.Notified) != 0 {
		t.Errorf("invoice %+v, usage now %d, notified %v", inv, a.Usage.PeriodMinor, a.Budget.Notified)
	}
	for _, bad := range []Budget{{LimitMinor: -5}, {LimitMinor: 100, NoticePercents: []int{80, 50}}, {LimitMinor: 100, NoticePercents: []int{0}}} {
		if _, err := a.SetBudget(bad, now); err == nil {
			t.Errorf("accepted budget %+v", bad)
		}
	}
}

func TestBounceSwitchesChannel(t *testing.T) {
	a := activeAccount(t, "standard")
	events := a.EmailBounced(Bounce{MessageKey: "k", Event: "bounce", Reason: "550 no such user"}, t0)
	if !a.EmailUndeliverable || a.NoticeChannel() != policy.ChannelSMS || len(events) != 2 || events[1].Notice == nil || !events[1].Notice.Staff {
		t.Errorf("after bounce: channel %s, events %+v", a.NoticeChannel(), events)
	}
	if again := a.EmailBounced(Bounce{MessageKey: "k2", Event: "dropped"}, t0); again != nil {
		t.Error("a second bounce alerted again")
	}
	b := activeAccount(t, "standard")
	if events := b.EmailBounced(Bounce{MessageKey: "acme:staff:email_refused:9", Event: "bounce"}, t0); events != nil || b.EmailUndeliverable {
		t.Error("a bounced staff alert marked the customer's address undeliverable")
	}
}

// A budget stop lifted by a new period while another suspension holds is
// recorded, and the period's fee is still not billed.
func TestNewPeriodLiftsBudgetStopUnderAnotherSuspension(t *testing.T) {
	a := activeAccount(t, "standard")
	now := t0.Add(2 * time.Hour)
	if _, err := a.SetBudget(Budget{LimitMinor: 100, HardStop: true}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReportUsage(Usage{UsageID: "u", AmountMinor: 100}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(StaffAction{Actor: "dave", Reason: "investigation"}, now); err != nil {
		t.Fatal(err)
	}
	events := runUntil(a, a.NextBillingAt)
	got := timeline(events, t0, "suspension.", "invoice.")
	if !strings.Contains(got, string(EventSuspensionLifted)) || !strings.Contains(got, string(EventInvoiceSkipped)) || strings.Contains(got, string(EventInvoiceIssued)) {
		t.Errorf("events:\n%s", got)
	}
	if _, ok := a.Suspensions[ReasonBudget]; ok || a.Status != StatusSuspended {
		t.Errorf("suspensions %v, status %s", a.Suspensions, a.Status)
	}
}
