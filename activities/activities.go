// Package activities does the customer workflow's I/O: recording changes in
// PostgreSQL, sending emails, and provisioning subscriptions. Each activity
// is idempotent, so Temporal may retry or replay it freely.
package activities

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/risk"
	"github.com/example/dunning/risk/providers"
	"github.com/example/dunning/store"
)

// Activities holds the dependencies. Its methods are registered with the
// worker; the workflow calls them by method name.
type Activities struct {
	Store       *store.Store
	Mailer      mail.Sender
	Provisioner Provisioner
	SMS         providers.SMSSender
	Credit      providers.CreditChecker
	Risk        risk.Config
	Logger      *slog.Logger
	// Staff alerts go to this address in this locale.
	StaffEmail  string
	StaffLocale string
	FromName    string // signs SMS notices
	CodeSecret  string // keys verification code hashes (DUNNING_CODE_SECRET)
	// Gateway charges cards and makes pay-now pages; nil without
	// STRIPE_API_KEY (payments are then recorded by staff only).
	Gateway      gateway.Gateway
	PayReturnURL string // where the pay-now page sends the customer back
}

// RecordInput is one batch of changes to one customer.
type RecordInput struct {
	Customer CustomerRow     `json:"Customer"`
	Events   []account.Event `json:"Events"`
}

// ErrCustomerIDReused is the error type of a write refused because the
// customer ID belongs to an earlier customer; the workflow stops on it.
const ErrCustomerIDReused = "CustomerIDReused"

// Record writes a batch of events and the customer's current figures in one
// transaction. Events already recorded are skipped. Text PostgreSQL cannot
// hold (NUL characters, which may arrive in a provider's webhook) is made
// storable first, so that no input can block a customer's records for good.
func (a *Activities) Record(ctx context.Context, in RecordInput) (int, error) {
	in, cleaned, err := storable(in)
	if err != nil {
		return 0, err
	}
	if cleaned {
		a.Logger.Warn("NUL characters replaced before recording", "customer_id", in.Customer.CustomerID)
	}
	n, err := a.Store.Record(ctx, in.Customer.Row(), in.Events)
	if errors.Is(err, store.ErrCustomerIDReused) {
		return 0, temporal.NewNonRetryableApplicationError(err.Error(), ErrCustomerIDReused, err)
	}
	if err != nil {
		return 0, fmt.Errorf("record %d events for %s: %w", len(in.Events), in.Customer.CustomerID, err)
	}
	return n, nil
}

// storable replaces NUL characters, which PostgreSQL's text and jsonb
// refuse, with U+FFFD. encoding/json has already replaced invalid UTF-8.
func storable(in RecordInput) (RecordInput, bool, error) {
	raw, err := json.Marshal(in)
	if err != nil || !bytes.Contains(raw, []byte(`\u0000`)) {
		return in, false, err // the common case: nothing to clean
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return in, false, err
	}
	if raw, err = json.Marshal(withoutNUL(tree)); err != nil {
		return in, false, err
	}
	var out RecordInput
	err = json.Unmarshal(raw, &out)
	return out, true, err
}

func withoutNUL(v any) any {
	switch t := v.(type) {
	case string:
		return strings.ReplaceAll(t, "\x00", "\uFFFD")
	case []any:
		for i := range t {
			t[i] = withoutNUL(t[i])
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[strings.ReplaceAll(k, "\x00", "\uFFFD")] = withoutNUL(x)
		}
		return out
	}
	return v
}

// KeyKind names a caller-supplied idempotency key.
type KeyKind = store.KeyKind

// Keys LookupKey finds.
const (
	KeyPayment = store.KeyPayment
	KeyUsage   = store.KeyUsage
)

// LookupKeyInput asks for one customer's key.
type LookupKeyInput struct {
	CustomerID string  `json:"customer_id"`
	Kind       KeyKind `json:"kind"`
	ID         string  `json:"id"`
}

// LookupKey tells the workflow whether PostgreSQL holds a payment or usage
// key that the workflow no longer remembers.
func (a *Activities) LookupKey(ctx context.Context, in LookupKeyInput) (account.KnownKey, error) {
	found, amount, currency, err := a.Store.LookupKey(ctx, in.CustomerID, in.Kind, in.ID)
	if err != nil {
		return account.KnownKey{}, fmt.Errorf("look up %s %s of %s: %w", in.Kind, in.ID, in.CustomerID, err)
	}
	return account.KnownKey{Found: found, AmountMinor: amount, Currency: currency}, nil
}

// NoticeInput is one notice to a customer (or, for staff alerts, to the
// billing team), by email or SMS.
type NoticeInput struct {
	Recipient Recipient      `json:"Recipient"`
	Notice    account.Notice `json:"Notice"`
	Channel   policy.Channel `json:"channel,omitempty"` // email (default) or sms
	Phone     string         `json:"phone,omitempty"`   // for sms
}

// NoticeResult says what became of the email.
type NoticeResult struct {
	Key               string `json:"key"`
	Status            string `json:"status"`
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	Attempts          int    `json:"attempts"`
}

// Error types the workflow tells apart.
const (
	ErrEmailRefused     = string(account.EmailRefused)     // SendGrid refused the message for good
	ErrEmailUnconfirmed = string(account.EmailUnconfirmed) // a send was cut off; not retried
	ErrEmailTemplate    = string(account.EmailTemplate)    // the message could not be rendered
)

// sentDetail is heartbeat detail saying the message was handed over, so an
// attempt that failed to record it does not send it again.
type sentDetail struct {
	Key        string `json:"key"`
	ProviderID string `json:"provider_id"`
}

// SendNotice renders the email, writes it to the outbox under its dunning
// key, and sends it once. The outbox row is written before sending; a key
// already sent is never sent again, and a send cut off mid-way (worker
// crash) is marked unconfirmed for staff rather than risked twice.
func (a *Activities) SendNotice(ctx context.Context, in NoticeInput) (NoticeResult, error) {
	rcpt, channel := in.Recipient.mail(), in.Channel
	if in.Notice.Staff {
		rcpt = mail.Recipient{CustomerID: rcpt.CustomerID, Name: "Billing team", Email: a.StaffEmail, Locale: a.StaffLocale}
		channel = policy.ChannelEmail
	}
	if channel == "" {
		channel = policy.ChannelEmail
	}
	n, err := a.withPayLink(ctx, in.Recipient, in.Notice)
	if err != nil {
		return NoticeResult{}, err
	}
	msg, err := mail.Render(n, rcpt)
	if err != nil {
		return NoticeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrEmailTemplate, err)
	}
	row := store.OutboxMessage{
		MessageKey: msg.Key, CustomerID: sql.NullString{String: msg.CustomerID, Valid: msg.CustomerID != ""}, InvoiceID: sql.NullString{String: msg.InvoiceID, Valid: msg.InvoiceID != ""},
		Stage: msg.Stage, Template: msg.Template, Channel: string(channel), ToEmail: msg.To, Subject: msg.Subject, BodyText: msg.Text, BodyHTML: msg.HTML,
	}
	if channel == policy.ChannelSMS {
		row.ToEmail, row.BodyHTML = in.Phone, ""
		row.BodyText = smsText(msg.Subject, in.Notice.Reference, a.FromName)
	}
	return a.deliver(ctx, row, msg)
}

// deliver writes the outbox row if it is new and sends the message once:
// a key already sent is never sent again, and a send cut off mid-way
// (worker crash) is marked unconfirmed for staff rather than risked twice.
func (a *Activities) deliver(ctx context.Context, row store.OutboxMessage, msg mail.Message) (NoticeResult, error) {
	channel := policy.Channel(row.Channel)
	// An earlier attempt may have sent it and then failed to record that.
	if activity.HasHeartbeatDetails(ctx) {
		var d sentDetail
		if err := activity.GetHeartbeatDetails(ctx, &d); err == nil && d.Key == msg.Key {
			if channel == policy.ChannelSMS {
				return a.finish(ctx, msg.Key, store.OutboxSent, "", 0)
			}
			return a.finishSent(ctx, msg.Key, d.ProviderID, 0)
		}
	}
	cur, err := a.Store.ClaimOutbox(ctx, row)
	if err != nil {
		return NoticeResult{}, err
	}
	res := NoticeResult{Key: msg.Key, Status: cur.Status, ProviderMessageID: cur.ProviderMessageID.String, Attempts: cur.Attempts}
	if !cur.Claimed {
		switch cur.Status {
		case store.OutboxSent, store.OutboxLogged:
			return res, nil // sent before: never twice
		case store.OutboxSending:
			// An attempt handed the message over and died before recording
			// the outcome. SendGrid may have it; sending again could
			// duplicate it, so staff decide.
			if err := a.Store.FinishOutbox(ctx, msg.Key, store.OutboxUnconfirmed, "", "send interrupted; delivery unknown"); err != nil {
				return res, err
			}
			return res, temporal.NewNonRetryableApplicationError("delivery of "+msg.Key+" is unconfirmed", ErrEmailUnconfirmed, nil)
		case store.OutboxUnconfirmed:
			return res, temporal.NewNonRetryableApplicationError("delivery of "+msg.Key+" is unconfirmed", ErrEmailUnconfirmed, nil)
		default: // failed
			return res, temporal.NewNonRetryableApplicationError("email "+msg.Key+" was refused: "+cur.LastError.String, ErrEmailRefused, nil)
		}
	}
	if channel == policy.ChannelSMS {
		if err := a.sendSMS(ctx, row.ToEmail, row.BodyText); err != nil {
			status := store.OutboxPending
			if temporal.IsApplicationError(err) {
				status = store.OutboxFailed
			}
			_ = a.Store.FinishOutbox(ctx, msg.Key, status, "", err.Error())
			return res, err
		}
		activity.RecordHeartbeat(ctx, sentDetail{Key: msg.Key})
		return a.finish(ctx, msg.Key, store.OutboxSent, "", cur.Attempts)
	}
	providerID, err := a.Mailer.Send(ctx, msg)
	if err != nil {
		return res, a.sendFailed(ctx, msg.Key, err)
	}
	activity.RecordHeartbeat(ctx, sentDetail{Key: msg.Key, ProviderID: providerID})
	return a.finishSent(ctx, msg.Key, providerID, cur.Attempts)
}

func (a *Activities) finishSent(ctx context.Context, key, providerID string, attempts int) (NoticeResult, error) {
	status := store.OutboxSent
	if a.Mailer.Name() == "log" {
		status = store.OutboxLogged
	}
	return a.finish(ctx, key, status, providerID, attempts)
}

func (a *Activities) finish(ctx context.Context, key, status, providerID string, attempts int) (NoticeResult, error) {
	if err := a.Store.FinishOutbox(ctx, key, status, providerID, ""); err != nil {
		return NoticeResult{}, fmt.Errorf("email %s was sent but not recorded: %w", key, err)
	}
	return NoticeResult{Key: key, Status: status, ProviderMessageID: providerID, Attempts: attempts}, nil
}

// sendFailed records a failed send and tells Temporal whether and when to
// try again.
func (a *Activities) sendFailed(ctx context.Context, key string, err error) error {
	var se *mail.SendError
	switch {
	case errors.As(err, &se) && !se.Retryable:
		_ = a.Store.FinishOutbox(ctx, key, store.OutboxFailed, "", se.Error())
		return temporal.NewNonRetryableApplicationError(se.Error(), ErrEmailRefused, err)
	case errors.As(err, &se):
		if ferr := a.Store.FinishOutbox(ctx, key, store.OutboxPending, "", se.Error()); ferr != nil {
			return ferr
		}
		opts := temporal.ApplicationErrorOptions{Cause: err}
		if se.RetryAfter > 0 {
			opts.NextRetryDelay = se.RetryAfter // wait for the rate limit to reset
		}
		return temporal.NewApplicationErrorWithOptions(se.Error(), "EmailRetry", opts)
	case notSent(err):
		// The request never left: safe to try again.
		if ferr := a.Store.FinishOutbox(ctx, key, store.OutboxPending, "", err.Error()); ferr != nil {
			return ferr
		}
		return err
	default:
		// The request may have reached SendGrid (a timeout while waiting for
		// the answer): do not risk a second mail.
		_ = a.Store.FinishOutbox(ctx, key, store.OutboxUnconfirmed, "", err.Error())
		return temporal.NewNonRetryableApplicationError("delivery of "+key+" is unconfirmed: "+err.Error(), ErrEmailUnconfirmed, err)
	}
}

// notSent reports whether a transport error happened before the request was
// written (the connection could not be made).
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// ProvisionInput asks for a change to the customer's subscriptions.
type ProvisionInput struct {
	CustomerID string            `json:"customer_id"`
	Action     account.Provision `json:"action"`
	Reason     string            `json:"reason"`
	Key        string            `json:"key"` // idempotency key: the event's key
	At         time.Time         `json:"at"`
	// Subscriptions are the subscriptions the action acts on, for
	// customers with subscriptions: the *_subscriptions actions act on
	// them alone, the account actions on the account and them.
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// Provisioner suspends and reinstates a customer's subscriptions.
type Provisioner interface {
	Provision(ctx context.Context, in ProvisionInput) error
}

// Provision changes the customer's subscriptions.
func (a *Activities) Provision(ctx context.Context, in ProvisionInput) error {
	if err := a.Provisioner.Provision(ctx, in); err != nil {
		return fmt.Errorf("provision %s for %s: %w", in.Action, in.CustomerID, err)
	}
	return nil
}

// DBProvisioner keeps subscription status in PostgreSQL, for installations
// whose service reads it from there.
type DBProvisioner struct{ Store *store.Store }

// Provision implements Provisioner.
func (p DBProvisioner) Provision(ctx context.Context, in ProvisionInput) error {
	return p.Store.ApplyProvisionChange(ctx, store.ProvisionChange{CustomerID: in.CustomerID, Action: in.Action, Reason: in.Reason,
		Key: in.Key, At: in.At, Subscriptions: in.Subscriptions})
}
