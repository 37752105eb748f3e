package activities

import (
	"context"
	"fmt"
	"html"
	"time"

	"github.com/example/dunning/mail"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
)

// SnapshotResult is a saved daily aging snapshot and its summary for staff.
type SnapshotResult struct {
	AsOf       time.Time `json:"as_of"`
	Currencies int       `json:"currencies"`
	Summary    string    `json:"summary"`
}

// SaveAgingSnapshot stores the day's receivables aging (a rerun the same day
// replaces it) and returns the summary staff are sent.
func (a *Activities) SaveAgingSnapshot(ctx context.Context, asOf time.Time) (SnapshotResult, error) {
	r, err := reports.SaveSnapshot(ctx, a.Store.DB(), asOf)
	if err != nil {
		return SnapshotResult{}, fmt.Errorf("aging snapshot: %w", err)
	}
	return SnapshotResult{AsOf: asOf, Currencies: len(r.Currencies), Summary: reports.SummaryText(r)}, nil
}

// StaffReport is a plain-text report mailed to the billing team.
type StaffReport struct {
	Key     string `json:"key"` // sent once per key, like every notice
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// SendStaffReport mails a report to the billing team through the outbox.
func (a *Activities) SendStaffReport(ctx context.Context, r StaffReport) (NoticeResult, error) {
	msg := mail.Message{
		Key: r.Key, Stage: "staff_report", Template: "staff_report", To: a.StaffEmail, ToName: "Billing team",
		Subject: r.Subject, Text: r.Text,
		HTML:       `<pre style="font-family: monospace;">` + html.EscapeString(r.Text) + "</pre>",
		Categories: []string{"dunning", "staff", "staff_report"},
		CustomArgs: map[string]string{"dunning_key": r.Key, "stage": "staff_report"},
	}
	row := store.OutboxMessage{MessageKey: r.Key, Stage: msg.Stage, Template: msg.Template, Channel: string(policy.ChannelEmail),
		ToEmail: msg.To, Subject: msg.Subject, BodyText: msg.Text, BodyHTML: msg.HTML}
	return a.deliver(ctx, row, msg)
}
