package mail

import (
	"context"
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
		req.Personalizations[0].To[0].Email != "billing@acme.test" || req.Subject != "Overdue: invoice INV-acme-0002 ($100.00)" {
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
