package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"
)

// SendGrid sends through the v3 mail send API.
type SendGrid struct {
	APIKey   string
	Host     string // base URL with scheme, e.g. https://api.sendgrid.com
	From     string
	FromName string
	ReplyTo  string
	Client   *http.Client
}

// Name implements Sender.
func (*SendGrid) Name() string { return "sendgrid" }

// Body builds the v3 mail send request for a message.
func (s *SendGrid) Body(m Message) *sgmail.SGMailV3 {
	v3 := sgmail.NewV3Mail()
	v3.SetFrom(sgmail.NewEmail(s.FromName, s.From))
	if s.ReplyTo != "" {
		v3.SetReplyTo(sgmail.NewEmail("", s.ReplyTo))
	}
	v3.Subject = m.Subject
	p := sgmail.NewPersonalization()
	p.AddTos(sgmail.NewEmail(m.ToName, m.To))
	v3.AddPersonalizations(p)
	v3.AddContent(sgmail.NewContent("text/plain", m.Text), sgmail.NewContent("text/html", m.HTML))
	v3.AddCategories(m.Categories...)
	for k, v := range m.CustomArgs {
		v3.SetCustomArg(k, v)
	}
	return v3
}

// Send implements Sender. It does not retry: Temporal's activity retries do,
// with the delay the rate limit asks for.
func (s *SendGrid) Send(ctx context.Context, m Message) (string, error) {
	req := sendgrid.GetRequest(s.APIKey, "/v3/mail/send", s.Host)
	req.Method = rest.Post
	req.Headers["Content-Type"] = "application/json"
	req.Body = sgmail.GetRequestBody(s.Body(m))
	client := &rest.Client{HTTPClient: s.Client}
	if client.HTTPClient == nil {
		client.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.SendWithContext(ctx, req)
	if err != nil {
		return "", fmt.Errorf("sendgrid: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return header(resp.Headers, "X-Message-Id"), nil
	}
	se := &SendError{Status: resp.StatusCode, Body: errorText(resp.Body)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		se.Retryable = true
		se.RetryAfter = resetDelay(header(resp.Headers, "X-RateLimit-Reset"), time.Now())
	case resp.StatusCode >= 500:
		se.Retryable = true
	}
	return "", se
}

func header(h map[string][]string, name string) string {
	if v := http.Header(h).Get(name); v != "" {
		return v
	}
	return ""
}

// resetDelay reads X-RateLimit-Reset (Unix seconds) into a wait from now.
func resetDelay(v string, now time.Time) time.Duration {
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return max(0, time.Unix(sec, 0).Sub(now)) + time.Second
}

// errorText pulls SendGrid's messages out of an error body.
func errorText(body string) string {
	var e struct {
		Errors []struct {
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"errors"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) == 0 {
		if len(body) > 500 {
			body = body[:500]
		}
		return body
	}
	var out string
	for i, x := range e.Errors {
		if i > 0 {
			out += "; "
		}
		out += x.Message
		if x.Field != "" {
			out += " (" + x.Field + ")"
		}
	}
	return out
}
