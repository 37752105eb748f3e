package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// waitScreened waits until screening has decided.
func waitScreened(t *testing.T, id string) account.StatusView {
	t.Helper()
	var v account.StatusView
	eventually(t, 30*time.Second, id+" screened", func() bool {
		var err error
		v, err = tryStatus(id)
		return err == nil && v.Status != account.StatusScreening
	})
	return v
}

// Prepaid and stored-value instruments are refused, by declared type and by
// a card BIN in a prepaid range; the applicant gets a neutral email and the
// reasons stay in the audit log.
func TestPrepaidInstrumentsAreRefused(t *testing.T) {
	t.Parallel()
	declared := application("prepaid-declared", "e2e")
	declared.PaymentInstrument = account.PaymentInstrument{Type: "prepaid_card", CardBIN: "411111"}
	byBIN := application("prepaid-bin", "e2e")
	byBIN.PaymentInstrument = account.PaymentInstrument{Type: "card", CardBIN: "510510"}
	for _, app := range []account.Application{declared, byBIN} {
		onboard(t, app)
	}
	for _, app := range []account.Application{declared, byBIN} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := env.client.GetWorkflow(ctx, workflows.WorkflowID(app.CustomerID), "").Get(ctx, nil)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", app.CustomerID, err)
		}
		c, _ := env.store.CustomerByID(context.Background(), app.CustomerID)
		if c.Status != "terminated" || c.ScreeningOutcome != string(account.OutcomeReject) || c.RiskTier != "high" {
			t.Errorf("%s: %+v", app.CustomerID, c)
		}
		audit, _ := env.store.AuditOf(context.Background(), app.CustomerID)
		var reasons string
		for _, a := range audit {
			if a.Action == account.EventScreeningDecided {
				reasons = string(a.Detail)
			}
		}
		if !strings.Contains(reasons, "prepaid") {
			t.Errorf("%s: screening reasons %s", app.CustomerID, reasons)
		}
		keys := outboxKeys(t, app.CustomerID)
		var rejected, prepay bool
		for k, r := range keys {
			rejected = rejected || (strings.Contains(k, "application_rejected") && r.Status == store.OutboxSent)
			prepay = prepay || strings.Contains(k, "prepayment")
		}
		if !rejected || prepay {
			t.Errorf("%s emails: %v", app.CustomerID, keys)
		}
		if _, err := env.store.SubscriptionOf(context.Background(), app.CustomerID); err == nil {
			t.Errorf("%s: a refused applicant was provisioned", app.CustomerID)
		}
	}
	checkReplay(t, declared.CustomerID)
}

// Five sign-ups from one IP within an hour: the fifth goes to manual review,
// and staff can approve it. The applicants are otherwise low risk (a
// low-tier country, their own business domains).
func TestFifthSignupFromOneIPGoesToReview(t *testing.T) {
	t.Parallel()
	for i := 1; i <= 5; i++ {
		app := application(fmt.Sprintf("bot-%d", i), "e2e")
		app.SignupIP, app.Country = "198.51.100.77", "US"
		app.Email = fmt.Sprintf("billing@bot-%d.example.com", i)
		onboard(t, app)
		v := waitScreened(t, app.CustomerID)
		if (v.Status == account.StatusManualReview) != (i == 5) {
			t.Fatalf("sign-up %d: %s (%+v)", i, v.Status, v.Screening)
		}
		if i == 5 && (len(v.Reviews) != 1 || !strings.Contains(strings.Join(v.Screening.Reasons, " "), "198.51.100.77")) {
			t.Errorf("fifth: %+v", v)
		}
	}
	v, err := update("bot-5", workflows.UpdateReviewDecision, account.Decision{Decision: account.DecisionApprove, Actor: "rita", Note: "a reseller's office"})
	// An approved review asks for a prepayment.
	if err != nil || v.Status != account.StatusAwaitingPrepayment || len(v.Reviews) != 0 {
		t.Fatalf("approve: %+v %v", v, err)
	}
	var reviews int
	if err := env.db.Get(&reviews, `SELECT count(*) FROM reviews WHERE customer_id = 'bot-5' AND decision = 'approve' AND decided_by = 'rita'`); err != nil || reviews != 1 {
		t.Errorf("review rows: %d %v", reviews, err)
	}
	checkReplay(t, "bot-5")
}

var smsCode = regexp.MustCompile(`to=(\+\d+) body="Your verification code is (\d{6})`)

// codeFor finds the last verification code the development SMS provider
// logged for a phone number.
func codeFor(phone string) string {
	code := ""
	for _, m := range smsCode.FindAllStringSubmatch(env.workerLog.String(), -1) {
		if m[1] == phone {
			code = m[2]
		}
	}
	return code
}

// The SMS identity check: a wrong code uses up a try, the right one
// verifies the phone, and a used code cannot be used again.
func TestPhoneVerificationBySMS(t *testing.T) {
	t.Parallel()
	app := application("verifier", "e2e")
	onboardActive(t, app)
	var code string
	eventually(t, 20*time.Second, "the SMS code in the log", func() bool { code = codeFor(app.Phone); return code != "" })
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, err := update(app.CustomerID, workflows.UpdateVerifyPhone, account.PhoneCode{Code: wrong}); err == nil || !strings.Contains(err.Error(), "4 tries left") {
		t.Errorf("wrong code: %v", err)
	}
	v, err := update(app.CustomerID, workflows.UpdateVerifyPhone, account.PhoneCode{Code: code})
	if err != nil || !v.PhoneVerified {
		t.Fatalf("right code: %+v %v", v, err)
	}
	if _, err := update(app.CustomerID, workflows.UpdateVerifyPhone, account.PhoneCode{Code: code}); err == nil || !strings.Contains(err.Error(), "already verified") {
		t.Errorf("code reuse: %v", err)
	}
	if c, _ := env.store.CustomerByID(context.Background(), app.CustomerID); !c.PhoneVerified {
		t.Error("phone_verified not recorded")
	}
	if strings.Contains(fmt.Sprint(outboxKeys(t, app.CustomerID)), code) {
		t.Error("the code appears in the outbox")
	}
	checkReplay(t, app.CustomerID)
}

// A severe misuse report suspends at once and opens a review; clearing it
// reinstates.
func TestMisuseReportSuspendsUntilReviewed(t *testing.T) {
	t.Parallel()
	app := application("miner", "e2e")
	onboardActive(t, app)
	v, err := update(app.CustomerID, workflows.UpdateReportAbuse, account.AbuseReport{NoticeID: "AWS-123", Category: "crypto_mining",
		Source: "provider", Detail: "GPU instances mining", Actor: "provider-feed"})
	if err != nil || v.Status != account.StatusSuspended || len(v.Reviews) != 1 {
		t.Fatalf("report: %+v %v", v, err)
	}
	if _, err := update(app.CustomerID, workflows.UpdateReportAbuse, account.AbuseReport{NoticeID: "X-1", Category: "littering", Source: "provider", Detail: "?"}); err == nil ||
		!strings.Contains(err.Error(), "littering") {
		t.Errorf("unknown category: %v", err)
	}
	eventually(t, 20*time.Second, "suspension provisioned", func() bool {
		sub, _ := env.store.SubscriptionOf(context.Background(), app.CustomerID)
		return sub.Status == "suspended"
	})
	v, err = update(app.CustomerID, workflows.UpdateReviewDecision, account.Decision{Decision: account.DecisionReinstate, Actor: "sam", Note: "research cluster"})
	if err != nil || v.Status != account.StatusActive {
		t.Fatalf("reinstate: %+v %v", v, err)
	}
	eventually(t, 20*time.Second, "abuse and staff emails", func() bool {
		keys := outboxKeys(t, app.CustomerID)
		var abuse, staff bool
		for k, r := range keys {
			abuse = abuse || (strings.Contains(k, "abuse_suspension") && r.Status == store.OutboxSent)
			staff = staff || (strings.Contains(k, ":staff:") && r.Status == store.OutboxSent && r.ToEmail == "billing-team@example.com")
		}
		return abuse && staff
	})
	checkReplay(t, app.CustomerID)
}
