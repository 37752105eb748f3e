package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/example/dunning/account"
	"github.com/example/dunning/risk"
)

// CreditChecker gets a credit or business report for an application.
type CreditChecker interface {
	Check(ctx context.Context, app account.Application) (risk.CreditReport, error)
}

// RuleBased is the default checker: risk.RuleBasedCredit over the
// application alone, with no outside source. See that function for the
// rules.
type RuleBased struct {
	Config risk.Config
}

// Check scores the application; it never fails.
func (r RuleBased) Check(_ context.Context, app account.Application) (risk.CreditReport, error) {
	return risk.RuleBasedCredit(app, r.Config), nil
}

// HTTPCredit calls a generic JSON credit or business-report provider: it
// POSTs the application's identifying fields as JSON with a bearer token
// and expects {"score": 0-1000, "flags": ["..."]}.
type HTTPCredit struct {
	URL    string
	Token  string
	Name   string       // provider name in reports; empty means "credit"
	Client *http.Client // nil means a client with a 15 s timeout
}

// creditRequest is what the provider receives: what identifies the
// business and how it means to pay, nothing else.
type creditRequest struct {
	CustomerID        string `json:"customer_id"`
	Name              string `json:"name"`
	Email             string `json:"email"`
	Phone             string `json:"phone"`
	Country           string `json:"country"`
	SignupIP          string `json:"signup_ip"`
	PaymentInstrument struct {
		Type    string `json:"type"`
		CardBIN string `json:"card_bin,omitempty"`
	} `json:"payment_instrument"`
}

var flagPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// Check asks the provider. Statuses: 2xx success; 429 and 5xx retryable;
// other 4xx permanent. A 2xx answer without a score in 0-1000 or with
// malformed flags is a permanent error: the provider broke its contract.
func (h *HTTPCredit) Check(ctx context.Context, app account.Application) (risk.CreditReport, error) {
	name := h.Name
	if name == "" {
		name = "credit"
	}
	fail := func(status int, retry bool, detail string, err error) (risk.CreditReport, error) {
		return risk.CreditReport{}, &Error{Provider: name, Op: "credit check", StatusCode: status, Retryable: retry, Detail: detail, Err: err}
	}
	if h.URL == "" {
		return fail(0, false, "no provider URL configured", nil)
	}
	in := creditRequest{CustomerID: app.CustomerID, Name: app.Name, Email: app.Email, Phone: app.Phone,
		Country: app.Country, SignupIP: app.SignupIP}
	in.PaymentInstrument.Type = string(app.PaymentInstrument.Type)
	in.PaymentInstrument.CardBIN = app.PaymentInstrument.CardBIN
	body, err := json.Marshal(in)
	if err != nil {
		return fail(0, false, "encode request", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fail(0, false, "bad request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	resp, err := httpClient(h.Client).Do(req)
	if err != nil {
		return fail(0, true, "", err) // network trouble or a deadline: worth another try
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fail(resp.StatusCode, retryableStatus(resp.StatusCode), snippet(data), nil)
	}

	var out struct {
		Score *int     `json:"score"`
		Flags []string `json:"flags"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return fail(resp.StatusCode, false, "answer is not {\"score\": ..., \"flags\": [...]}", err)
	}
	if out.Score == nil {
		return fail(resp.StatusCode, false, "answer has no score", nil)
	}
	if *out.Score < 0 || *out.Score > 1000 {
		return fail(resp.StatusCode, false, fmt.Sprintf("score %d is outside 0-1000", *out.Score), nil)
	}
	rep := risk.CreditReport{Provider: name, Score: *out.Score}
	for _, f := range out.Flags {
		f = strings.ToLower(strings.TrimSpace(f))
		if !flagPattern.MatchString(f) {
			return fail(resp.StatusCode, false, fmt.Sprintf("flag %q is not a word like fraud_alert", f), nil)
		}
		rep.Flags = append(rep.Flags, f)
	}
	return rep, nil
}

// snippet is the start of an error answer, on one line.
func snippet(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// CreditFromEnv picks the credit checker from the environment: the HTTP
// provider when CREDIT_CHECK_URL is set (bearer token from
// CREDIT_CHECK_TOKEN), else the rule-based default.
func CreditFromEnv(getenv func(string) string, cfg risk.Config) CreditChecker {
	if u := strings.TrimSpace(getenv("CREDIT_CHECK_URL")); u != "" {
		return &HTTPCredit{URL: u, Token: getenv("CREDIT_CHECK_TOKEN")}
	}
	return RuleBased{Config: cfg}
}
