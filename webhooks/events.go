// Package webhooks is the public side of outbound webhooks: the event
// vocabulary integrators subscribe to and its JSON payloads, how a recorded
// account event becomes public events, the signature scheme (Sign and
// Verify, for integrators too), endpoint URL rules and the retry schedule.
// It does no I/O: the store writes and claims, an activity delivers.
package webhooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/account"
)

// EventType is a public event type. The names are a contract with
// integrators: add, never rename.
type EventType string

// The public event types.
const (
	AccountStatusChanged EventType = "account.status_changed"
	AccountSuspended     EventType = "account.suspended"
	AccountReinstated    EventType = "account.reinstated"
	AccountTerminated    EventType = "account.terminated"
	InvoiceIssued        EventType = "invoice.issued"
	InvoicePaid          EventType = "invoice.paid"
	DunningFinished      EventType = "dunning.finished"
	ReviewOpened         EventType = "review.opened"
	ReviewDecided        EventType = "review.decided"
)

// Types lists every public event type.
func Types() []EventType {
	return []EventType{AccountStatusChanged, AccountSuspended, AccountReinstated, AccountTerminated,
		InvoiceIssued, InvoicePaid, DunningFinished, ReviewOpened, ReviewDecided}
}

// ParseTypes reads a comma-separated list of event types ("*" for all),
// refusing unknown and repeated ones with a message that lists the known.
func ParseTypes(list string) ([]EventType, error) {
	if strings.TrimSpace(list) == "*" {
		return Types(), nil
	}
	var out []EventType
	for part := range strings.SplitSeq(list, ",") {
		t := EventType(strings.TrimSpace(part))
		if t == "" {
			continue
		}
		if !slices.Contains(Types(), t) {
			return nil, fmt.Errorf("unknown event type %q (known: %s, or * for all)", t, typeList())
		}
		if slices.Contains(out, t) {
			return nil, fmt.Errorf("event type %q is given twice", t)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("name at least one event type (known: %s, or * for all)", typeList())
	}
	return out, nil
}

func typeList() string {
	names := make([]string, 0, len(Types()))
	for _, t := range Types() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// Event is one public event: the body of every delivery of it, as JSON.
type Event struct {
	// ID is stable across retries and replays: receivers de-duplicate on it.
	ID         string    `json:"id"`
	Type       EventType `json:"type"`
	CustomerID string    `json:"customer_id"`
	OccurredAt time.Time `json:"occurred_at"`
	Data       Data      `json:"data"`
}

// Data is what the event says. Actor and reason are always there; the rest
// depends on the type (see the README for which fields each type has).
type Data struct {
	Actor  string `json:"actor"` // who made the change; "system" for the policy itself
	Reason string `json:"reason,omitempty"`

	// account.status_changed
	StatusFrom account.Status `json:"status_from,omitempty"`
	StatusTo   account.Status `json:"status_to,omitempty"`
	AccessFrom account.Access `json:"access_from,omitempty"`
	AccessTo   account.Access `json:"access_to,omitempty"`

	// account.suspended: the reason added, and every reason now holding.
	SuspensionReason  string   `json:"suspension_reason,omitempty"`
	SuspensionReasons []string `json:"suspension_reasons,omitempty"`
	// account.reinstated: the reasons lifted.
	Lifted []string `json:"lifted,omitempty"`
	// account.terminated: unpaid money handed to collections.
	WrittenOffMinor *int64 `json:"written_off_minor,omitempty"`

	// invoice.issued, invoice.paid, dunning.finished
	Invoice *Invoice `json:"invoice,omitempty"`
	// dunning.finished: how the invoice's ladder ended (paid, written_off,
	// void) and the last stage it reached.
	Outcome account.InvoiceStatus `json:"outcome,omitempty"`
	Stage   string                `json:"stage,omitempty"`
	// invoice.paid, dunning.finished, account.terminated: the account's
	// balance once the change was recorded (negative: credit).
	BalanceMinor *int64 `json:"balance_minor,omitempty"`
	Currency     string `json:"currency,omitempty"`

	// review.opened, review.decided
	Review *Review `json:"review,omitempty"`
}

// Invoice is an invoice as events show it.
type Invoice struct {
	ID               string                `json:"id"`
	Kind             account.InvoiceKind   `json:"kind"`
	Status           account.InvoiceStatus `json:"status"`
	AmountMinor      int64                 `json:"amount_minor"`
	PaidMinor        int64                 `json:"paid_minor"`
	OutstandingMinor int64                 `json:"outstanding_minor"`
	Currency         string                `json:"currency"`
	PeriodStart      time.Time             `json:"period_start"`
	PeriodEnd        time.Time             `json:"period_end"`
	IssuedAt         time.Time             `json:"issued_at"`
	DueAt            time.Time             `json:"due_at"`
	ClosedAt         time.Time             `json:"closed_at,omitzero"`
	Stage            string                `json:"stage"`
}

// Review is a review as events show it.
type Review struct {
	ID        string           `json:"id"`
	Kind      string           `json:"kind"` // onboarding or misuse
	Source    string           `json:"source,omitempty"`
	Category  string           `json:"category,omitempty"`
	Severity  account.Severity `json:"severity,omitempty"`
	Deadline  time.Time        `json:"deadline"`
	Decision  string           `json:"decision,omitempty"`
	DecidedBy string           `json:"decided_by,omitempty"`
	DecidedAt time.Time        `json:"decided_at,omitzero"`
}

// EventID is the public ID of the event of type t that the audit row under
// key gave rise to: the same row always gives the same ID.
func EventID(auditKey string, t EventType) string {
	sum := sha256.Sum256([]byte(auditKey + "\x00" + string(t)))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// Account is what the recorded customers row says when the events are
// written: it gives events their balance.
type Account struct {
	CustomerID   string
	BalanceMinor int64
	Currency     string
}

// The audit detail keys the public events read (set by package account).
const (
	detailStatusFrom = "status_from"
	detailStatusTo   = "status_to"
	detailAccessFrom = "access_from"
	detailAccessTo   = "access_to"
	detailAccess     = "access" // account.activated names only the new access
	detailSuspension = "suspension_reason"
	detailReasons    = "reasons"
	detailLifted     = "lifted"
	detailWrittenOff = "written_off_minor"
)

// FromAudit returns the public events of one recorded account event, in
// order; auditKey is the key its audit row was written under. Most events
// are internal and give none.
func FromAudit(acct Account, auditKey string, ev account.Event) []Event {
	var out []Event
	add := func(t EventType, d Data) {
		d.Actor, d.Reason = ev.Actor, ev.Reason
		out = append(out, Event{ID: EventID(auditKey, t), Type: t, CustomerID: acct.CustomerID, OccurredAt: ev.At.UTC(), Data: d})
	}
	balance := func(d Data) Data {
		b := acct.BalanceMinor
		d.BalanceMinor, d.Currency = &b, acct.Currency
		return d
	}
	det := ev.Detail

	// A status (or access) change, whichever event made it.
	if from, to := det[detailStatusFrom], det[detailStatusTo]; from != "" && to != "" {
		accessTo := det[detailAccessTo]
		if accessTo == "" {
			accessTo = det[detailAccess]
		}
		if from != to || det[detailAccessFrom] != accessTo {
			add(AccountStatusChanged, Data{StatusFrom: account.Status(from), StatusTo: account.Status(to),
				AccessFrom: account.Access(det[detailAccessFrom]), AccessTo: account.Access(accessTo)})
		}
	}

	switch ev.Type {
	case account.EventAccountSuspended:
		add(AccountSuspended, Data{SuspensionReason: det[detailSuspension], SuspensionReasons: splitList(det[detailReasons])})
	case account.EventAccountReinstated:
		add(AccountReinstated, Data{Lifted: splitList(det[detailLifted])})
	case account.EventAccountTerminated:
		d := Data{}
		if n, err := strconv.ParseInt(det[detailWrittenOff], 10, 64); err == nil {
			d.WrittenOffMinor = &n
		}
		add(AccountTerminated, balance(d))
	case account.EventInvoiceIssued, account.EventPrepaymentRequested:
		if ev.Invoice != nil {
			add(InvoiceIssued, Data{Invoice: invoiceOf(ev.Invoice)})
		}
	case account.EventReviewOpened, account.EventAbuseReported, account.EventEnforcementAcknowledged:
		if ev.Review != nil {
			add(ReviewOpened, Data{Review: reviewOf(ev.Review)})
		}
	case account.EventReviewDecided, account.EventReviewClosed:
		if ev.Review != nil {
			add(ReviewDecided, Data{Review: reviewOf(ev.Review)})
		}
	}

	// An invoice closing: paid, and the end of its ladder if it had one.
	if inv := ev.Invoice; inv != nil && ev.Type == account.InvoiceEvent(inv.Status) && !inv.ClosedAt.IsZero() {
		if inv.Status == account.InvoicePaid {
			add(InvoicePaid, balance(Data{Invoice: invoiceOf(inv)}))
		}
		if inDunning(inv) {
			add(DunningFinished, balance(Data{Invoice: invoiceOf(inv), Outcome: inv.Status, Stage: inv.Stage}))
		}
	}
	return out
}

// inDunning reports whether the invoice's ladder had started: a reminder
// was sent or its due date passed unpaid. Prepayments have no ladder.
func inDunning(inv *account.Invoice) bool {
	return inv.Kind == account.KindSubscription && (inv.PastDue || (inv.Stage != "" && inv.Stage != account.StageIssued))
}

func invoiceOf(inv *account.Invoice) *Invoice {
	return &Invoice{ID: inv.ID, Kind: inv.Kind, Status: inv.Status, AmountMinor: inv.AmountMinor, PaidMinor: inv.PaidMinor,
		OutstandingMinor: inv.Outstanding(), Currency: inv.Currency, PeriodStart: inv.PeriodStart.UTC(), PeriodEnd: inv.PeriodEnd.UTC(),
		IssuedAt: inv.IssuedAt.UTC(), DueAt: inv.DueAt.UTC(), ClosedAt: inv.ClosedAt.UTC(), Stage: inv.Stage}
}

func reviewOf(r *account.Review) *Review {
	return &Review{ID: r.ID, Kind: r.Kind, Source: r.Source, Category: r.Category, Severity: r.Severity,
		Deadline: r.Deadline.UTC(), Decision: r.Decision, DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt.UTC()}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
