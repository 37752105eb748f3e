package providers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "s3cret-auth-token"
)

func twilioServer(t *testing.T, status int, answer string, got *url.Values) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
			t.Errorf("basic auth %q %q %v", user, pass, ok)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("content type %q", ct)
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if got != nil {
			*got = r.PostForm
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTwilioSends(t *testing.T) {
	var form url.Values
	srv := twilioServer(t, http.StatusCreated, `{"sid":"SM123","status":"queued"}`, &form)
	tw := &Twilio{BaseURL: srv.URL + "/", AccountSID: testSID, AuthToken: testToken, From: "+15005550006"}
	if err := tw.SendSMS(context.Background(), "+14155550100", "Your code is 123456"); err != nil {
		t.Fatal(err)
	}
	if form.Get("To") != "+14155550100" || form.Get("From") != "+15005550006" || form.Get("Body") != "Your code is 123456" {
		t.Errorf("form %v", form)
	}

	tw.From, tw.MessagingServiceSID = "", "MG0123"
	if err := tw.SendSMS(context.Background(), "+14155550100", "x"); err != nil {
		t.Fatal(err)
	}
	if form.Get("MessagingServiceSid") != "MG0123" || form.Has("From") {
		t.Errorf("form %v", form)
	}
}

func TestTwilioErrorStatuses(t *testing.T) {
	cases := []struct {
		status    int
		answer    string
		retryable bool
		detail    string
	}{
		{400, `{"code":21211,"message":"The 'To' number +1415 is not a valid phone number.","status":400}`, false, "Twilio error 21211: The 'To' number"},
		{401, `{"code":20003,"message":"Authenticate","status":401}`, false, "Twilio error 20003: Authenticate"},
		{404, `not json`, false, ""},
		{429, `{"code":20429,"message":"Too Many Requests","status":429}`, true, "Too Many Requests"},
		{500, ``, true, ""},
		{503, `{"message":"Service Unavailable"}`, true, "Service Unavailable"},
	}
	for _, tc := range cases {
		srv := twilioServer(t, tc.status, tc.answer, nil)
		tw := &Twilio{BaseURL: srv.URL, AccountSID: testSID, AuthToken: testToken, From: "+15005550006"}
		err := tw.SendSMS(context.Background(), "+14155550100", "Your code is 654321")
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("%d: %T %v", tc.status, err, err)
		}
		if pe.StatusCode != tc.status || pe.Retryable != tc.retryable || Permanent(err) == tc.retryable || !strings.Contains(pe.Detail, tc.detail) {
			t.Errorf("%d: %+v", tc.status, pe)
		}
		want := "(permanent)"
		if tc.retryable {
			want = "(retryable)"
		}
		msg := err.Error()
		if !strings.Contains(msg, want) || strings.Contains(msg, testToken) || strings.Contains(msg, "654321") {
			t.Errorf("%d: message %q", tc.status, msg)
		}
	}
}

func TestTwilioTransportAndConfigErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens any more
	tw := &Twilio{BaseURL: base, AccountSID: testSID, AuthToken: testToken, From: "+15005550006"}
	err := tw.SendSMS(context.Background(), "+14155550100", "x")
	if err == nil || Permanent(err) {
		t.Errorf("connection refused should be retryable: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tw.SendSMS(ctx, "+14155550100", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancellation not visible to the caller: %v", err)
	}
	err = (&Twilio{BaseURL: base, AccountSID: testSID}).SendSMS(context.Background(), "+14155550100", "x")
	if !Permanent(err) || !strings.Contains(err.Error(), "auth token") || !strings.Contains(err.Error(), "From number") {
		t.Errorf("missing settings: %v", err)
	}
	if Permanent(errors.New("other")) || Permanent(nil) {
		t.Error("unknown errors are not known to be permanent")
	}
}

func TestLogSMS(t *testing.T) {
	var buf bytes.Buffer
	s := LogSMS{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	if err := s.SendSMS(context.Background(), "+14155550100", "Your code is 123456"); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "+14155550100") || !strings.Contains(out, "Your code is 123456") {
		t.Errorf("log %q", out)
	}
}

func TestSMSFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := SMSFromEnv(env(nil), nil)
	if _, ok := s.(LogSMS); !ok || err != nil {
		t.Errorf("no settings: %T %v", s, err)
	}
	if _, err := SMSFromEnv(env(map[string]string{"TWILIO_ACCOUNT_SID": testSID}), nil); err == nil ||
		!strings.Contains(err.Error(), "TWILIO_ACCOUNT_SID is set but Twilio needs the auth token") {
		t.Errorf("partial settings: %v", err)
	}
	s, err = SMSFromEnv(env(map[string]string{"TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN": testToken,
		"TWILIO_FROM": "+15005550006", "TWILIO_API_BASE": "http://127.0.0.1:1"}), nil)
	if tw, ok := s.(*Twilio); !ok || err != nil || tw.BaseURL != "http://127.0.0.1:1" || tw.AuthToken != testToken {
		t.Errorf("full settings: %#v %v", s, err)
	}
}
