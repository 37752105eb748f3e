package providers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// SMSSender sends a text message to an E.164 phone number.
type SMSSender interface {
	SendSMS(ctx context.Context, to, body string) error
}

// LogSMS is the development sender: it writes the message to the log
// instead of sending it, so that a developer can read the verification code
// there. It is the default when no SMS provider is configured; never use it
// in production, where the log would hold the codes.
type LogSMS struct {
	Logger *slog.Logger // nil means slog.Default()
}

// SendSMS logs the message.
func (l LogSMS) SendSMS(ctx context.Context, to, body string) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "SMS not sent: development provider", "to", to, "body", body)
	return nil
}

// SMSFromEnv picks the SMS sender from the environment: Twilio when
// TWILIO_ACCOUNT_SID is set (with TWILIO_AUTH_TOKEN and TWILIO_FROM or
// TWILIO_MESSAGING_SERVICE_SID; TWILIO_API_BASE overrides the API URL),
// else the logging development sender.
func SMSFromEnv(getenv func(string) string, log *slog.Logger) (SMSSender, error) {
	sid := strings.TrimSpace(getenv("TWILIO_ACCOUNT_SID"))
	if sid == "" {
		return LogSMS{Logger: log}, nil
	}
	t := &Twilio{
		BaseURL:             strings.TrimSpace(getenv("TWILIO_API_BASE")),
		AccountSID:          sid,
		AuthToken:           getenv("TWILIO_AUTH_TOKEN"),
		From:                strings.TrimSpace(getenv("TWILIO_FROM")),
		MessagingServiceSID: strings.TrimSpace(getenv("TWILIO_MESSAGING_SERVICE_SID")),
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("TWILIO_ACCOUNT_SID is set but %w", err)
	}
	return t, nil
}
