package providers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/example/dunning/account"
	"github.com/example/dunning/risk"
)

func app() account.Application {
	return account.Application{
		CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.example", Phone: "+14155550100",
		Country: "US", Currency: "USD", Locale: "en", Policy: "standard",
		Plan:              account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: "card", CardBIN: "424242"},
		SignupIP:          "203.0.113.7",
	}
}

func creditServer(t *testing.T, status int, answer string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/report" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer tok-123" {
			t.Errorf("authorization %q", got)
		}
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Error(err)
		}
		pi, _ := in["payment_instrument"].(map[string]any)
		if in["customer_id"] != "acme" || in["name"] != "Acme Ltd" || in["country"] != "US" || in["email"] != "billing@acme.example" ||
			in["signup_ip"] != "203.0.113.7" || pi["type"] != string(account.InstrumentCard) || pi["card_bin"] != "424242" {
			t.Errorf("request body %v", in)
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPCreditReport(t *testing.T) {
	srv := creditServer(t, 200, `{"score": 640, "flags": ["THIN_FILE", " collections "], "extra": true}`)
	h := &HTTPCredit{URL: srv.URL + "/v1/report", Token: "tok-123", Name: "acmebureau"}
	rep, err := h.Check(context.Background(), app())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Provider != "acmebureau" || rep.Score != 640 || strings.Join(rep.Flags, ",") != "thin_file,collections" {
		t.Errorf("report %+v", rep)
	}
}

func TestHTTPCreditErrors(t *testing.T) {
	cases := []struct {
		status    int
		answer    string
		retryable bool
		detail    string
	}{
		{200, `{"flags": []}`, false, "no score"},
		{200, `{"score": 1001}`, false, "outside 0-1000"},
		{200, `{"score": -1}`, false, "outside 0-1000"},
		{200, `{"score": "high"}`, false, "answer is not"},
		{200, `<html>proxy</html>`, false, "answer is not"},
		{200, `{"score": 500, "flags": ["not a flag!"]}`, false, "not a word"},
		{400, `{"error": "bad country"}`, false, "bad country"},
		{401, ``, false, ""},
		{404, ``, false, ""},
		{429, `slow down`, true, "slow down"},
		{500, ``, true, ""},
		{502, ``, true, ""},
	}
	for _, tc := range cases {
		srv := creditServer(t, tc.status, tc.answer)
		h := &HTTPCredit{URL: srv.URL + "/v1/report", Token: "tok-123"}
		_, err := h.Check(context.Background(), app())
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("%d %s: %T %v", tc.status, tc.answer, err, err)
		}
		if pe.Retryable != tc.retryable || pe.StatusCode != tc.status || !strings.Contains(err.Error(), tc.detail) || pe.Provider != "credit" {
			t.Errorf("%d %s: %v", tc.status, tc.answer, err)
		}
		if strings.Contains(err.Error(), "tok-123") {
			t.Errorf("token in error: %v", err)
		}
	}
	if _, err := (&HTTPCredit{}).Check(context.Background(), app()); !Permanent(err) {
		t.Errorf("no URL: %v", err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	if _, err := (&HTTPCredit{URL: srv.URL}).Check(context.Background(), app()); err == nil || Permanent(err) {
		t.Errorf("connection refused should be retryable: %v", err)
	}
}

func TestRuleBasedChecker(t *testing.T) {
	cfg, err := risk.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	var c CreditChecker = RuleBased{Config: cfg}
	rep, err := c.Check(context.Background(), app())
	if err != nil || rep.Score != risk.RuleBasedCredit(app(), cfg).Score || rep.Score != 750 || rep.Provider != risk.RuleBasedProvider {
		t.Errorf("%+v %v", rep, err)
	}
	if _, ok := CreditFromEnv(func(string) string { return "" }, cfg).(RuleBased); !ok {
		t.Error("default is not rule-based")
	}
	h, ok := CreditFromEnv(func(k string) string {
		return map[string]string{"CREDIT_CHECK_URL": "http://bureau.test/check", "CREDIT_CHECK_TOKEN": "t"}[k]
	}, cfg).(*HTTPCredit)
	if !ok || h.URL != "http://bureau.test/check" || h.Token != "t" {
		t.Errorf("configured: %#v", h)
	}
}
