package providers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTwilioBase is Twilio's REST API.
const DefaultTwilioBase = "https://api.twilio.com"

// Twilio sends SMS through Twilio's Messages API:
// POST {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json with a
// form-encoded To, From (or MessagingServiceSid) and Body, authenticated with
// the account SID and auth token.
//
// Twilio takes no idempotency key for messages: a retry after a timeout
// that in fact succeeded sends the code twice. That is harmless for a
// verification code, which is why this adapter does not try harder.
type Twilio struct {
	BaseURL             string // empty means DefaultTwilioBase; tests point it at httptest
	AccountSID          string
	AuthToken           string
	From                string // sender number in E.164, or empty with MessagingServiceSID
	MessagingServiceSID string
	Client              *http.Client // nil means a client with a 15 s timeout
}

func (t *Twilio) check() error {
	var missing []string
	if t.AccountSID == "" {
		missing = append(missing, "the account SID")
	}
	if t.AuthToken == "" {
		missing = append(missing, "the auth token")
	}
	if t.From == "" && t.MessagingServiceSID == "" {
		missing = append(missing, "a From number or messaging service SID")
	}
	if len(missing) > 0 {
		return errors.New("Twilio needs " + strings.Join(missing, ", "))
	}
	return nil
}

func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// SendSMS sends one message. A 2xx answer is success; 429 and 5xx are
// retryable *Error values; other statuses are permanent ones carrying
// Twilio's error code and message.
func (t *Twilio) SendSMS(ctx context.Context, to, body string) error {
	fail := func(status int, retry bool, detail string, err error) error {
		return &Error{Provider: "twilio", Op: "send SMS", StatusCode: status, Retryable: retry, Detail: detail, Err: err}
	}
	if err := t.check(); err != nil {
		return fail(0, false, err.Error(), nil)
	}
	base := strings.TrimRight(t.BaseURL, "/")
	if base == "" {
		base = DefaultTwilioBase
	}
	form := url.Values{"To": {to}, "Body": {body}}
	if t.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.MessagingServiceSID)
	} else {
		form.Set("From", t.From)
	}
	endpoint := base + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fail(0, false, "bad request", err)
	}
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	resp, err := httpClient(t.Client).Do(req)
	if err != nil {
		return fail(0, true, "", err) // network trouble or a deadline: worth another try
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return fail(resp.StatusCode, retryableStatus(resp.StatusCode), twilioDetail(data), nil)
}

// twilioDetail extracts Twilio's error code and message, e.g.
// {"code": 21211, "message": "The 'To' number is not a valid phone number.", ...}.
func twilioDetail(data []byte) string {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		return ""
	}
	if e.Code != 0 {
		return "Twilio error " + strconv.Itoa(e.Code) + ": " + e.Message
	}
	return e.Message
}
