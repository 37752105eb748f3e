// Package mail renders the customer emails and sends them: through SendGrid
// (sendgrid-go, v3 mail send) when an API key is configured, or to the log
// only, leaving the outbox table as the record a person reads.
package mail

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Message is one rendered email.
type Message struct {
	Key        string            // dunning_key: one message per key, ever
	CustomerID string            //
	InvoiceID  string            // empty for account-level messages
	Stage      string            // ladder stage or message kind, e.g. "overdue_1"
	Template   string            //
	Locale     string            // "en" or "ko"
	To         string            //
	ToName     string            //
	Subject    string            //
	Text       string            //
	HTML       string            //
	Categories []string          // SendGrid categories
	CustomArgs map[string]string // SendGrid custom_args, echoed in event webhooks
	// TemplateData is what a SendGrid dynamic template gets instead of
	// Subject, Text and HTML: the template data as JSON-friendly values.
	TemplateData map[string]any
}

// Sender hands a message to a mail service and returns the service's message
// ID. Errors are *SendError when the service answered.
type Sender interface {
	Send(ctx context.Context, m Message) (providerID string, err error)
	// Name says where mail goes ("sendgrid", "log"), for the outbox status.
	Name() string
}

// SendError is a refusal or failure reported by the mail service.
type SendError struct {
	Status     int           // HTTP status
	Body       string        // the service's error text
	Retryable  bool          // 429 and 5xx: try again later
	RetryAfter time.Duration // for 429: when the rate limit resets
}

func (e *SendError) Error() string {
	return fmt.Sprintf("mail service answered %d: %s", e.Status, e.Body)
}

// LogSender is used when no SendGrid API key is set: the message stays in
// the outbox table (status "logged") and one line goes to the log.
type LogSender struct {
	Logger *slog.Logger
}

// Name implements Sender.
func (LogSender) Name() string { return "log" }

// Send implements Sender.
func (s LogSender) Send(_ context.Context, m Message) (string, error) {
	s.Logger.Info("email kept in outbox (no SENDGRID_API_KEY)", "to", m.To, "subject", m.Subject, "key", m.Key)
	return "", nil
}
