package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
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
	// TemplateIDs maps a template name (which is the stage for every ladder
	// step), optionally qualified by locale as "overdue_1.ko", to a SendGrid
	// dynamic template ID. Messages without one are sent as rendered here.
	TemplateIDs map[string]string
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
	p := sgmail.NewPersonalization()
	p.AddTos(sgmail.NewEmail(m.ToName, m.To))
	if id := s.templateID(m); id != "" {
		// SendGrid builds subject and content from the dynamic template.
		v3.SetTemplateID(id)
		for k, v := range m.TemplateData {
			p.SetDynamicTemplateData(k, v)
		}
	} else {
		v3.Subject = m.Subject
		v3.AddContent(sgmail.NewContent("text/plain", m.Text), sgmail.NewContent("text/html", m.HTML))
	}
	v3.AddPersonalizations(p)
	v3.AddCategories(m.Categories...)
	for k, v := range m.CustomArgs {
		v3.SetCustomArg(k, v)
	}
	return v3
}

// templateID is the dynamic template for the message, if one is configured:
// the locale's own first, then the one for every locale. Templates are
// keyed by template name rather than stage because some stages have more
// than one template (a manual and a non-payment suspension are both
// "suspended"); for ladder steps the two are the same.
func (s *SendGrid) templateID(m Message) string {
	name := m.Template
	if name == "" {
		name = m.Stage
	}
	if id := s.TemplateIDs[name+"."+m.Locale]; id != "" && m.Locale != "" {
		return id
	}
	return s.TemplateIDs[name]
}

var (
	templateNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	templateIDPattern   = regexp.MustCompile(`^d-[A-Za-z0-9]+$`)
)

// ParseTemplateIDs reads SendGrid dynamic template IDs from a setting like
// "overdue_1=d-abc,final_notice=d-def,final_notice.ko=d-123". Each name must
// be one of our templates and each locale one we have templates for, so that
// a typo fails at start instead of silently sending the built-in mail.
func ParseTemplateIDs(s string) (map[string]string, error) {
	ids := map[string]string{}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		key, id, ok := strings.Cut(entry, "=")
		key, id = strings.TrimSpace(key), strings.TrimSpace(id)
		if !ok || key == "" {
			return nil, fmt.Errorf("sendgrid template IDs: %q is not template=d-<id>", entry)
		}
		name, locale, qualified := strings.Cut(key, ".")
		if !templateNamePattern.MatchString(name) {
			return nil, fmt.Errorf("sendgrid template IDs: %q is not a template name (lower-case letters, digits, '_')", name)
		}
		if qualified && !slices.Contains(Locales(), locale) {
			return nil, fmt.Errorf("sendgrid template IDs: %q: locale %q is not one of %s", key, locale, strings.Join(Locales(), ", "))
		}
		if !slices.Contains(Templates("en"), name) {
			return nil, fmt.Errorf("sendgrid template IDs: %q: there is no email template %q", key, name)
		}
		if !templateIDPattern.MatchString(id) {
			return nil, fmt.Errorf("sendgrid template IDs: %q: %q is not a dynamic template ID (d- followed by letters and digits)", key, id)
		}
		if _, dup := ids[key]; dup {
			return nil, fmt.Errorf("sendgrid template IDs: %q is given twice", key)
		}
		ids[key] = id
	}
	return ids, nil
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
