package activities

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/risk"
	"github.com/example/dunning/store"
)

var t0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// fakeSender counts what it is asked to send and answers as told.
type fakeSender struct {
	mu    sync.Mutex
	sent  []mail.Message
	err   error
	name  string
	count int
}

func (f *fakeSender) Name() string {
	if f.name == "" {
		return "sendgrid"
	}
	return f.name
}

func (f *fakeSender) Send(_ context.Context, m mail.Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	if f.err != nil {
		return "", f.err
	}
	f.sent = append(f.sent, m)
	return "msg-" + m.Key, nil
}

type fixture struct {
	st     *store.Store
	acts   *Activities
	sender *fakeSender
	env    *testsuite.TestActivityEnvironment
	acct   *account.Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, db := pgtest.New(t)
	st := store.New(db)
	sender := &fakeSender{}
	acts := &Activities{Store: st, Mailer: sender, Provisioner: DBProvisioner{Store: st},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	reg, _ := policy.Embedded()
	pol, _ := reg.Get("standard")
	app := account.Application{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Phone: "+14155550100",
		Country: "US", Currency: "USD", Locale: "en", Policy: "standard", Plan: account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: "bank_transfer"}, SignupIP: "203.0.113.7"}
	return &fixture{st: st, acts: acts, sender: sender, env: env, acct: account.New(app, pol, "low", t0)}
}

func (f *fixture) record(t *testing.T, events []account.Event, now time.Time) int {
	t.Helper()
	val, err := f.env.ExecuteActivity(f.acts.Record, RecordInput{Customer: CustomerSnapshot(f.acct, now), Events: events})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	var n int
	_ = val.Get(&n)
	return n
}

func count(t *testing.T, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecordIsIdempotent(t *testing.T) {
	f := newFixture(t)
	events := append(f.acct.Open(t0), must(f.acct.Approve(true, account.SystemActor, "test", t0))...)
	if n := f.record(t, events, t0); n != 2 {
		t.Fatalf("first record: %d new events", n)
	}
	pay := t0.Add(time.Hour)
	_, payEvents, err := f.acct.RecordPayment(account.Payment{PaymentID: "p1", AmountMinor: 10000, Currency: "USD", Method: "bank_transfer", Actor: "alice"}, pay)
	if err != nil {
		t.Fatal(err)
	}
	f.record(t, payEvents, pay)
	// The same batch again (a retried activity) changes nothing.
	if n := f.record(t, payEvents, pay); n != 0 {
		t.Errorf("retry recorded %d events again", n)
	}
	if n := count(t, f.st, `SELECT count(*) FROM payments`); n != 1 {
		t.Errorf("%d payments", n)
	}
	if n := count(t, f.st, `SELECT count(*) FROM payment_allocations WHERE invoice_id = 'INV-acme-0001' AND amount_minor = 10000`); n != 1 {
		t.Errorf("%d allocations", n)
	}
	if n := count(t, f.st, `SELECT count(*) FROM audit_log WHERE customer_id = 'acme'`); n != len(events)+len(payEvents) {
		t.Errorf("%d audit rows, want %d", n, len(events)+len(payEvents))
	}
	c, err := f.st.CustomerByID(context.Background(), "acme")
	if err != nil || c.Status != "active" || c.Access != "limited" || c.SignupIP != "203.0.113.7" {
		t.Errorf("customer = %+v, %v", c, err)
	}
	invs, _ := f.st.InvoicesOf(context.Background(), "acme")
	if len(invs) != 1 || invs[0].Status != "paid" || invs[0].PaidMinor != 10000 || invs[0].Kind != "prepayment" {
		t.Errorf("invoices = %+v", invs)
	}
	audit, _ := f.st.AuditOf(context.Background(), "acme")
	var payment store.AuditEntry
	for _, a := range audit {
		if a.Action == account.EventPaymentRecorded {
			payment = a
		}
	}
	if payment.Actor != "alice" || payment.Reason != "payment p1" || !payment.At.Equal(pay) {
		t.Errorf("payment audit row = %+v", payment)
	}
}

func TestOlderSnapshotNeverOverwritesNewer(t *testing.T) {
	f := newFixture(t)
	f.record(t, f.acct.Open(t0), t0)
	old := CustomerSnapshot(f.acct, t0).Row()
	f.record(t, must(f.acct.Approve(true, account.SystemActor, "test", t0)), t0)
	if _, err := f.st.Record(context.Background(), old, nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.st.CustomerByID(context.Background(), "acme"); c.Status != "awaiting_prepayment" {
		t.Errorf("status = %s: an older snapshot overwrote a newer one", c.Status)
	}
}

func (f *fixture) notice(t *testing.T) NoticeInput {
	t.Helper()
	events := append(f.acct.Open(t0), must(f.acct.Approve(true, account.SystemActor, "test", t0))...)
	f.record(t, events, t0)
	return NoticeInput{
		Recipient: Recipient{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Locale: "en"},
		Notice:    *events[1].Notice,
	}
}

func (f *fixture) send(in NoticeInput) (NoticeResult, error) {
	val, err := f.env.ExecuteActivity(f.acts.SendNotice, in)
	var res NoticeResult
	if err == nil {
		_ = val.Get(&res)
	}
	return res, err
}

func TestSendNoticeOnce(t *testing.T) {
	f := newFixture(t)
	in := f.notice(t)
	res, err := f.send(in)
	if err != nil || res.Status != store.OutboxSent || res.ProviderMessageID != "msg-"+in.Notice.Key {
		t.Fatalf("first send: %+v %v", res, err)
	}
	res, err = f.send(in) // a retry or replay of the same notice
	if err != nil || res.Status != store.OutboxSent {
		t.Fatalf("second send: %+v %v", res, err)
	}
	if f.sender.count != 1 {
		t.Errorf("sender called %d times, want 1", f.sender.count)
	}
	row, err := f.st.OutboxMessageByKey(context.Background(), in.Notice.Key)
	if err != nil || row.Status != store.OutboxSent || row.Attempts != 1 || !row.SentAt.Valid ||
		!strings.Contains(row.Subject, "Prepayment") || row.ToEmail != "billing@acme.test" {
		t.Errorf("outbox row = %+v %v", row, err)
	}
	m := f.sender.sent[0]
	if m.CustomArgs["dunning_key"] != in.Notice.Key || m.CustomArgs["customer_id"] != "acme" || m.CustomArgs["stage"] != "prepayment_request" {
		t.Errorf("custom args = %v", m.CustomArgs)
	}
}

func TestSendNoticeWithoutAPIKeyIsLogged(t *testing.T) {
	f := newFixture(t)
	f.sender.name = "log"
	in := f.notice(t)
	if res, err := f.send(in); err != nil || res.Status != store.OutboxLogged {
		t.Fatalf("%+v %v", res, err)
	}
	rows, _ := f.st.OutboxFor(context.Background(), "acme")
	if len(rows) != 1 || rows[0].Status != store.OutboxLogged || rows[0].BodyText == "" {
		t.Errorf("outbox = %+v", rows)
	}
}

func TestSendNoticeFailures(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     string
		retryable  bool
		errType    string
		retryDelay time.Duration
	}{
		{"refused", &mail.SendError{Status: 400, Body: "The to email does not contain a valid address."}, store.OutboxFailed, false, ErrEmailRefused, 0},
		{"unauthorized", &mail.SendError{Status: 401, Body: "bad key"}, store.OutboxFailed, false, ErrEmailRefused, 0},
		{"rate limited", &mail.SendError{Status: 429, Body: "too many", Retryable: true, RetryAfter: 7 * time.Second}, store.OutboxPending, true, "EmailRetry", 7 * time.Second},
		{"server error", &mail.SendError{Status: 503, Body: "down", Retryable: true}, store.OutboxPending, true, "EmailRetry", 0},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, store.OutboxPending, true, "", 0},
		{"timeout after sending", errors.New("context deadline exceeded (Client.Timeout exceeded while awaiting headers)"), store.OutboxUnconfirmed, false, ErrEmailUnconfirmed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.sender.err = tc.err
			in := f.notice(t)
			_, err := f.send(in)
			if err == nil {
				t.Fatal("no error")
			}
			var appErr *temporal.ApplicationError
			if errors.As(err, &appErr) {
				if appErr.NonRetryable() == tc.retryable || (tc.errType != "" && appErr.Type() != tc.errType) {
					t.Errorf("error type %s, non-retryable %v", appErr.Type(), appErr.NonRetryable())
				}
				if appErr.NextRetryDelay() != tc.retryDelay {
					t.Errorf("next retry delay %v, want %v", appErr.NextRetryDelay(), tc.retryDelay)
				}
			} else if !tc.retryable {
				t.Errorf("plain error %v for a non-retryable failure", err)
			}
			row, _ := f.st.OutboxMessageByKey(context.Background(), in.Notice.Key)
			if row.Status != tc.status || (tc.status != store.OutboxUnconfirmed && !row.LastError.Valid) {
				t.Errorf("outbox status %s (%v), want %s", row.Status, row.LastError, tc.status)
			}
			// A retryable failure sends on the next attempt; the others never send again.
			f.sender.err = nil
			_, err = f.send(in)
			if tc.retryable && (err != nil || len(f.sender.sent) != 1) {
				t.Errorf("retry after %s: %v, %d sent", tc.name, err, len(f.sender.sent))
			}
			if !tc.retryable && (err == nil || len(f.sender.sent) != 0) {
				t.Errorf("after %s: sent again (%v)", tc.name, err)
			}
		})
	}
}

// A worker that died after handing the message to SendGrid leaves the row
// in "sending": the next attempt must not send it again.
func TestInterruptedSendIsNotRepeated(t *testing.T) {
	f := newFixture(t)
	in := f.notice(t)
	msg, err := mail.Render(in.Notice, in.Recipient.mail())
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := f.st.ClaimOutbox(context.Background(), store.OutboxMessage{MessageKey: msg.Key, CustomerID: sql.NullString{String: "acme", Valid: true},
		Stage: msg.Stage, Template: msg.Template, ToEmail: msg.To, Subject: msg.Subject, BodyText: msg.Text, BodyHTML: msg.HTML}); err != nil || !cur.Claimed {
		t.Fatalf("claim: %v %v", cur.Claimed, err)
	}
	// ... the worker dies here, after the send and before recording it.
	_, err = f.send(in)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrEmailUnconfirmed || !appErr.NonRetryable() {
		t.Fatalf("err = %v", err)
	}
	if f.sender.count != 0 {
		t.Errorf("sent again after an interrupted send")
	}
	row, _ := f.st.OutboxMessageByKey(context.Background(), in.Notice.Key)
	if row.Status != store.OutboxUnconfirmed {
		t.Errorf("status %s", row.Status)
	}
}

// An attempt that sent the mail but could not record it leaves heartbeat
// details; the next attempt records it without sending again.
func TestSentButNotRecordedIsFinishedFromHeartbeat(t *testing.T) {
	f := newFixture(t)
	in := f.notice(t)
	f.env.SetHeartbeatDetails(sentDetail{Key: in.Notice.Key, ProviderID: "sg-123"})
	res, err := f.send(in)
	if err != nil || res.Status != store.OutboxSent || res.ProviderMessageID != "sg-123" || f.sender.count != 0 {
		t.Fatalf("%+v %v, sender called %d", res, err, f.sender.count)
	}
}

func TestProvisionInPostgres(t *testing.T) {
	f := newFixture(t)
	f.record(t, f.acct.Open(t0), t0)
	ctx := context.Background()
	steps := []struct {
		action              account.Provision
		key, status, access string
	}{
		{account.ProvisionActivate, "acme/1", "active", "limited"},
		{account.ProvisionFullAccess, "acme/2", "active", "full"},
		{account.ProvisionSuspend, "acme/3", "suspended", "full"},
		{account.ProvisionSuspend, "acme/3", "suspended", "full"}, // retried
		{account.ProvisionReinstate, "acme/4", "active", "full"},
		{account.ProvisionTerminate, "acme/5", "terminated", "none"},
	}
	for _, s := range steps {
		if _, err := f.env.ExecuteActivity(f.acts.Provision, ProvisionInput{CustomerID: "acme", Action: s.action, Reason: "test", Key: s.key, At: t0}); err != nil {
			t.Fatal(err)
		}
		sub, err := f.st.SubscriptionOf(ctx, "acme")
		if err != nil || sub.Status != s.status || sub.Access != s.access {
			t.Errorf("after %s: %+v %v", s.action, sub, err)
		}
	}
	if _, err := f.env.ExecuteActivity(f.acts.Provision, ProvisionInput{CustomerID: "acme", Action: "explode", Key: "k"}); err == nil {
		t.Error("unknown action accepted")
	}
}

func must(events []account.Event, err error) []account.Event {
	if err != nil {
		panic(err)
	}
	return events
}

type capturedSMS struct{ to, body string }

type fakeSMS struct{ sent []capturedSMS }

func (f *fakeSMS) SendSMS(_ context.Context, to, body string) error {
	f.sent = append(f.sent, capturedSMS{to, body})
	return nil
}

// The code's hash is keyed with a secret that only activities hold: the
// salt and hash in history are not enough to test candidate codes.
func TestPhoneCodeHashNeedsTheSecret(t *testing.T) {
	f := newFixture(t)
	sms := &fakeSMS{}
	f.acts.SMS, f.acts.CodeSecret = sms, "worker-secret"
	val, err := f.env.ExecuteActivity(f.acts.SendPhoneCode, PhoneCodeInput{CustomerID: "acme", Phone: "+14155550100", Locale: "ko"})
	if err != nil {
		t.Fatal(err)
	}
	var res PhoneCodeResult
	_ = val.Get(&res)
	if len(sms.sent) != 1 || sms.sent[0].to != "+14155550100" || !strings.Contains(sms.sent[0].body, "인증번호는") {
		t.Fatalf("sms = %+v", sms.sent)
	}
	code := regexp.MustCompile(`\d{6}`).FindString(sms.sent[0].body)
	if len(code) != 6 || strings.Contains(res.Hash+res.Salt, code) {
		t.Fatalf("code %q, result %+v", code, res)
	}
	if risk.CheckCode(res.Hash, res.Salt, code) {
		t.Error("the code checks without the secret")
	}
	for attempt, want := range map[string]bool{code: true, "000000": code == "000000"} {
		val, err := f.env.ExecuteActivity(f.acts.CheckPhoneCode, CodeCheck{Hash: res.Hash, Salt: res.Salt, Code: attempt})
		var ok bool
		if err == nil {
			_ = val.Get(&ok)
		}
		if ok != want {
			t.Errorf("CheckPhoneCode(%q) = %v, %v", attempt, ok, err)
		}
	}
}
