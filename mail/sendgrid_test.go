package mail

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/example/dunning/account"
	"github.com/example/dunning/sendgridfake"
)

func testMessage(t *testing.T) Message {
	t.Helper()
	m, err := Render(account.Notice{
		Key: "acme:INV-acme-0002:overdue_1", Template: "overdue_1", Stage: "overdue_1", InvoiceID: "INV-acme-0002",
		AmountMinor: 10000, Currency: "USD", DueAt: time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC), Reference: "INV-acme-0002",
	}, Recipient{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Locale: "en"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSendGridAccepted(t *testing.T) {
	fake := sendgridfake.NewServer("SG.test")
	defer fake.Close()
	sg := &SendGrid{APIKey: "SG.test", Host: fake.URL(), From: "billing@example.com", FromName: "Billing", ReplyTo: "help@example.com"}
	id, err := sg.Send(context.Background(), testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || id == "" || msgs[0].ID != id {
		t.Fatalf("id %q, messages %+v", id, msgs)
	}
	req := msgs[0].Request
	if req.From.Email != "billing@example.com" || req.ReplyTo.Email != "help@example.com" ||
		req.Personalizations[0].To[0].Email != "billing@acme.test" || req.Subject != "Payment overdue: invoice INV-acme-0002 ($100.00)" {
		t.Errorf("request = %+v", req)
	}
	if req.CustomArgs["dunning_key"] != "acme:INV-acme-0002:overdue_1" || req.CustomArgs["invoice_id"] != "INV-acme-0002" ||
		strings.Join(req.Categories, ",") != "dunning,overdue_1" {
		t.Errorf("custom_args %v categories %v", req.CustomArgs, req.Categories)
	}
	if len(req.Content) != 2 || req.Content[0].Type != "text/plain" || req.Content[1].Type != "text/html" {
		t.Errorf("content = %+v", req.Content)
	}
}

func TestSendGridFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		key       string
		fault     sendgridfake.Fault
		status    int
		retryable bool
		retryMin  time.Duration
		text      string
	}{
		{"wrong key", "SG.wrong", sendgridfake.Fault{}, 401, false, 0, "authorization grant is invalid"},
		{"bad request", "SG.test", sendgridfake.Fault{Status: 400, Body: "The to email does not contain a valid address."}, 400, false, 0, "valid address"},
		{"forbidden", "SG.test", sendgridfake.Fault{Status: 403, Body: "access forbidden"}, 403, false, 0, "access forbidden"},
		{"too large", "SG.test", sendgridfake.Fault{Status: 413}, 413, false, 0, "Request Entity Too Large"},
		{"rate limited", "SG.test", sendgridfake.Fault{Status: 429, ResetAfter: 30 * time.Second}, 429, true, 25 * time.Second, "Too Many Requests"},
		{"server error", "SG.test", sendgridfake.Fault{Status: 500}, 500, true, 0, "Internal Server Error"},
		{"unavailable", "SG.test", sendgridfake.Fault{Status: 503}, 503, true, 0, "Service Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := sendgridfake.NewServer("SG.test")
			defer fake.Close()
			fake.Inject(tc.fault)
			sg := &SendGrid{APIKey: tc.key, Host: fake.URL(), From: "billing@example.com"}
			_, err := sg.Send(context.Background(), testMessage(t))
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v", err)
			}
			if se.Status != tc.status || se.Retryable != tc.retryable || !strings.Contains(se.Body, tc.text) {
				t.Errorf("SendError = %+v", se)
			}
			if se.RetryAfter < tc.retryMin || (tc.retryMin == 0 && se.RetryAfter != 0) {
				t.Errorf("RetryAfter = %v, want at least %v", se.RetryAfter, tc.retryMin)
			}
			if len(fake.Messages()) != 0 {
				t.Error("a refused message was stored")
			}
		})
	}
}

func TestSendGridTimeoutIsATransportError(t *testing.T) {
	fake := sendgridfake.NewServer("SG.test")
	defer fake.Close()
	fake.Inject(sendgridfake.Fault{Delay: 2 * time.Second})
	sg := &SendGrid{APIKey: "SG.test", Host: fake.URL(), From: "billing@example.com", Client: &http.Client{Timeout: 200 * time.Millisecond}}
	_, err := sg.Send(context.Background(), testMessage(t))
	var se *SendError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("err = %v, want a transport error", err)
	}
}

// The bodies the sender builds must pass SendGrid's documented checks, and
// the checks must catch what SendGrid refuses.
func TestBodiesValidateAsMailSend(t *testing.T) {
	sg := &SendGrid{From: "billing@example.com", FromName: "Billing"}
	body := sgmail.GetRequestBody(sg.Body(testMessage(t)))
	if errs := sendgridfake.Validate(body); len(errs) > 0 {
		t.Fatalf("our body is refused: %+v", errs)
	}
	sg.TemplateIDs = map[string]string{"overdue_1": "d-0123abc"}
	body = sgmail.GetRequestBody(sg.Body(testMessage(t)))
	if errs := sendgridfake.Validate(body); len(errs) > 0 {
		t.Fatalf("our dynamic template body is refused: %+v", errs)
	}
	bad := map[string]string{
		"non-string custom arg": `{"from":{"email":"a@b.test"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"personalizations":[{"to":[{"email":"c@d.test"}]}],"custom_args":{"n":1}}`,
		"no personalizations":   `{"from":{"email":"a@b.test"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"personalizations":[]}`,
		"bad from":              `{"from":{"email":"nope"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"personalizations":[{"to":[{"email":"c@d.test"}]}]}`,
		"no subject":            `{"from":{"email":"a@b.test"},"content":[{"type":"text/plain","value":"x"}],"personalizations":[{"to":[{"email":"c@d.test"}]}]}`,
		"no content":            `{"from":{"email":"a@b.test"},"subject":"s","personalizations":[{"to":[{"email":"c@d.test"}]}]}`,
		"html first":            `{"from":{"email":"a@b.test"},"subject":"s","content":[{"type":"text/html","value":"x"},{"type":"text/plain","value":"y"}],"personalizations":[{"to":[{"email":"c@d.test"}]}]}`,
		"too many categories":   `{"from":{"email":"a@b.test"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"personalizations":[{"to":[{"email":"c@d.test"}]}],"categories":["1","2","3","4","5","6","7","8","9","10","11"]}`,
		"long category":         `{"from":{"email":"a@b.test"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"personalizations":[{"to":[{"email":"c@d.test"}]}],"categories":["` + strings.Repeat("c", 256) + `"]}`,
	}
	for name, b := range bad {
		if errs := sendgridfake.Validate([]byte(b)); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
	var many strings.Builder
	many.WriteString(`{"from":{"email":"a@b.test"},"subject":"s","content":[{"type":"text/plain","value":"x"}],"personalizations":[`)
	for i := range 1001 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`{"to":[{"email":"c@d.test"}]}`)
	}
	many.WriteString("]}")
	if errs := sendgridfake.Validate([]byte(many.String())); len(errs) == 0 {
		t.Error("1001 personalizations accepted")
	}
}

// A stage with a dynamic template sends its ID and the data instead of the
// rendered subject and content; custom_args and categories stay.
func TestSendGridDynamicTemplate(t *testing.T) {
	sg := &SendGrid{From: "billing@example.com", TemplateIDs: map[string]string{"overdue_1": "d-en1", "overdue_1.ko": "d-ko1"}}
	var req struct {
		sendgridfake.MailSend
		Subject *string `json:"subject"`
	}
	if err := json.Unmarshal(sgmail.GetRequestBody(sg.Body(testMessage(t))), &req); err != nil {
		t.Fatal(err)
	}
	if req.TemplateID != "d-en1" || req.Subject != nil || len(req.Content) != 0 || req.Personalizations[0].Subject != "" {
		t.Errorf("template_id %q, subject %v, content %+v", req.TemplateID, req.Subject, req.Content)
	}
	data := req.Personalizations[0].DynamicTemplateData
	want := map[string]any{"name": "Acme Ltd", "invoice_id": "INV-acme-0002", "amount": "$100.00", "amount_minor": 10000.0,
		"due_date": "February 15, 2026", "reference": "INV-acme-0002", "stage": "overdue_1", "locale": "en",
		"subject": "Payment overdue: invoice INV-acme-0002 ($100.00)", "owed": true, "days_overdue": 0.0}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("dynamic_template_data[%s] = %#v, want %#v", k, data[k], v)
		}
	}
	if _, ok := data["detail"].(map[string]any); !ok {
		t.Errorf("dynamic_template_data.detail = %#v", data["detail"])
	}
	if req.CustomArgs["dunning_key"] != "acme:INV-acme-0002:overdue_1" || strings.Join(req.Categories, ",") != "dunning,overdue_1" {
		t.Errorf("custom_args %v categories %v", req.CustomArgs, req.Categories)
	}

	// The Korean template wins for a Korean customer; a template without an
	// ID is sent as rendered here.
	m := testMessage(t)
	m.Locale = "ko"
	if id := sg.Body(m).TemplateID; id != "d-ko1" {
		t.Errorf("Korean template_id = %q", id)
	}
	m.Template, m.Stage = "final_notice", "final_notice"
	if b := sg.Body(m); b.TemplateID != "" || b.Subject == "" || len(b.Content) != 2 {
		t.Errorf("final_notice: template_id %q, subject %q", b.TemplateID, b.Subject)
	}

	// And SendGrid (the fake) takes it.
	fake := sendgridfake.NewServer("SG.test")
	defer fake.Close()
	sg.APIKey, sg.Host = "SG.test", fake.URL()
	if _, err := sg.Send(context.Background(), testMessage(t)); err != nil {
		t.Fatal(err)
	}
	if msgs := fake.Messages(); len(msgs) != 1 || msgs[0].Request.TemplateID != "d-en1" {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestParseTemplateIDs(t *testing.T) {
	got, err := ParseTemplateIDs(" overdue_1=d-abc, final_notice = d-def ,final_notice.ko=d-123,")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"overdue_1": "d-abc", "final_notice": "d-def", "final_notice.ko": "d-123"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	if got, err := ParseTemplateIDs(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
	for in, msg := range map[string]string{
		"overdue_1":                   "is not template=d-<id>",
		"=d-abc":                      "is not template=d-<id>",
		"Overdue_1=d-abc":             "is not a template name",
		"overdue1=d-abc":              `there is no email template "overdue1"`,
		"overdue_1=abc":               "is not a dynamic template ID",
		"overdue_1=d-":                "is not a dynamic template ID",
		"overdue_1=":                  "is not a dynamic template ID",
		"overdue_1=d-a b":             "is not a dynamic template ID",
		"overdue_1.fr=d-abc":          `locale "fr" is not one of en, ko`,
		"overdue_1=d-a,overdue_1=d-b": "is given twice",
	} {
		if _, err := ParseTemplateIDs(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: err = %v, want %q", in, err, msg)
		}
	}
}
