// Package pgsource reads the policy lab's histories from PostgreSQL in one
// read-only, repeatable-read transaction: a simulation sees one consistent
// snapshot of the record and can write nothing.
package pgsource

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/account"
	"github.com/example/dunning/lab"
	"github.com/example/dunning/store"
)

// Source is a lab.Source over the system of record.
type Source struct{ DB *sqlx.DB }

var _ lab.Source = Source{}

type auditRow struct {
	CustomerID string         `db:"customer_id"`
	At         time.Time      `db:"at"`
	Actor      string         `db:"actor"`
	Action     string         `db:"action"`
	Reason     string         `db:"reason"`
	InvoiceID  sql.NullString `db:"invoice_id"`
	Detail     []byte         `db:"detail"`
}

type paymentRow struct {
	CustomerID  string    `db:"customer_id"`
	PaymentID   string    `db:"payment_id"`
	AmountMinor int64     `db:"amount_minor"`
	Currency    string    `db:"currency"`
	Method      string    `db:"method"`
	Reference   string    `db:"reference"`
	Actor       string    `db:"actor"`
	ReceivedAt  time.Time `db:"received_at"`
}

type usageRow struct {
	CustomerID  string    `db:"customer_id"`
	UsageID     string    `db:"usage_id"`
	AmountMinor int64     `db:"amount_minor"`
	Description string    `db:"description"`
	RecordedAt  time.Time `db:"recorded_at"`
}

type invoiceRow struct {
	CustomerID  string    `db:"customer_id"`
	InvoiceID   string    `db:"invoice_id"`
	Kind        string    `db:"kind"`
	Status      string    `db:"status"`
	AmountMinor int64     `db:"amount_minor"`
	PaidMinor   int64     `db:"paid_minor"`
	PeriodStart time.Time `db:"period_start"`
	DueAt       time.Time `db:"due_at"`
}

// Histories reads the customers the query selects, with everything
// recorded for them up to q.AsOf.
func (s Source) Histories(ctx context.Context, q lab.Query) ([]lab.History, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }() // read only: nothing to commit

	const cols = `customer_id, name, email, phone, country, currency, locale, policy, monthly_fee_minor,
	    instrument_type, card_bin, host(signup_ip) AS signup_ip, risk_tier, created_at`
	// Selected into the store's row type: sqlx fills the columns named
	// and leaves the others zero.
	var custs []store.Customer
	if len(q.CustomerIDs) > 0 {
		err = tx.SelectContext(ctx, &custs, `SELECT `+cols+` FROM customers WHERE customer_id = ANY($1) ORDER BY customer_id`,
			pq.Array(q.CustomerIDs))
	} else {
		err = tx.SelectContext(ctx, &custs, `SELECT `+cols+` FROM customers c
			WHERE EXISTS (SELECT 1 FROM audit_log a WHERE a.customer_id = c.customer_id AND a.at >= $1 AND a.at <= $2)
			ORDER BY customer_id`, q.Since, q.AsOf)
	}
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	ids := make([]string, len(custs))
	byID := map[string]*lab.History{}
	out := make([]lab.History, len(custs))
	for i, c := range custs {
		ids[i] = c.CustomerID
		out[i] = lab.History{
			Customer: account.Application{CustomerID: c.CustomerID, Name: c.Name, Email: c.Email, Phone: c.Phone, Country: c.Country,
				Currency: c.Currency, Locale: c.Locale, Policy: c.Policy, Plan: account.Plan{MonthlyFeeMinor: c.MonthlyFeeMinor},
				PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentType(c.InstrumentType), CardBIN: c.CardBIN},
				SignupIP:          c.SignupIP},
			RiskTier: c.RiskTier, StartedAt: c.CreatedAt, Inputs: []lab.Input{}, Facts: []lab.Fact{}, Open: []lab.OpenInvoice{},
		}
	}
	for i := range out {
		byID[out[i].Customer.CustomerID] = &out[i]
	}
	if len(ids) == 0 {
		return out, nil
	}
	if err := readAudit(ctx, tx, ids, q.AsOf, byID); err != nil {
		return nil, err
	}
	if err := readMoney(ctx, tx, ids, q.AsOf, byID); err != nil {
		return nil, err
	}
	if err := readUnmodelled(ctx, tx, ids, q.AsOf, byID); err != nil {
		return nil, err
	}
	for i := range out {
		// Stable: an input keeps its place among those at the same time.
		slices.SortStableFunc(out[i].Inputs, func(a, b lab.Input) int { return a.At.Compare(b.At) })
	}
	return out, nil
}

func readAudit(ctx context.Context, tx *sqlx.Tx, ids []string, asOf time.Time, byID map[string]*lab.History) error {
	var rows []auditRow
	if err := tx.SelectContext(ctx, &rows, `
		SELECT customer_id, at, actor, action, reason, invoice_id, detail FROM audit_log
		WHERE customer_id = ANY($1) AND at <= $2 ORDER BY customer_id, at, id`, pq.Array(ids), asOf); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	for _, r := range rows {
		h := byID[r.CustomerID]
		var d map[string]any
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			return fmt.Errorf("audit log of %s at %s: %w", r.CustomerID, r.At, err)
		}
		str := func(k string) string { s, _ := d[k].(string); return s }
		typ := account.EventType(r.Action)
		f := lab.Fact{At: r.At, Type: typ, SuspensionReason: str(detailSuspension)}
		if key := str(detailNotice); key != "" && typ != account.EventStaffAlerted {
			f.NoticeStage = noticeStage(key, r.CustomerID, r.InvoiceID.String)
		}
		f.WrittenOffMinor, _ = strconv.ParseInt(str(detailWrittenOff), 10, 64)
		if typ == account.EventInvoiceWrittenOff && r.Actor != account.SystemActor && !strings.HasPrefix(r.Reason, "terminated: ") {
			// A write-off by hand: the invoice's own event carries it.
			h.Inputs = append(h.Inputs, lab.Input{At: r.At, Kind: lab.InputWriteOff,
				WriteOff: &account.InvoiceAction{InvoiceID: r.InvoiceID.String, Actor: r.Actor, Reason: r.Reason}})
		}
		h.Facts = append(h.Facts, f)
		staff := &account.StaffAction{Actor: r.Actor, Reason: r.Reason}
		switch typ {
		case account.EventPrepaymentRequested, account.EventAccountActivated, account.EventApplicationRejected:
			if h.Approval == nil {
				h.Approval = &lab.Approval{At: r.At, Prepay: typ == account.EventPrepaymentRequested, Rejected: typ == account.EventApplicationRejected}
			}
		case account.EventPromiseMade:
			until, err := time.Parse(time.RFC3339, str(detailUntil))
			if err != nil {
				return fmt.Errorf("promise of %s at %s: until %q: %w", r.CustomerID, r.At, str(detailUntil), err)
			}
			h.Inputs = append(h.Inputs, lab.Input{At: r.At, Kind: lab.InputPromise,
				Promise: &account.Promise{InvoiceID: r.InvoiceID.String, Until: until, Actor: r.Actor, Note: r.Reason}})
		case account.EventDisputeOpened:
			h.Inputs = append(h.Inputs, lab.Input{At: r.At, Kind: lab.InputDispute,
				Dispute: &account.Dispute{InvoiceID: r.InvoiceID.String, Reason: r.Reason, Actor: r.Actor}})
		case account.EventDisputeResolved:
			amt, _ := strconv.ParseInt(str(detailAmountTo), 10, 64)
			h.Inputs = append(h.Inputs, lab.Input{At: r.At, Kind: lab.InputResolve,
				Resolution: &account.Resolution{InvoiceID: r.InvoiceID.String, Outcome: str(detailOutcome), AmountMinor: amt, Actor: r.Actor, Note: r.Reason}})
		case account.EventAccountSuspended:
			if f.SuspensionReason == account.ReasonManual {
				h.Inputs = append(h.Inputs, lab.Input{At: r.At, Kind: lab.InputSuspend, Staff: staff})
			}
		case account.EventAccountReinstated, account.EventSuspensionLifted:
			if str(detailLifted) == staffLifts {
				h.Inputs = append(h.Inputs, lab.Input{At: r.At, Kind: lab.InputReinstate, Staff: staff})
			}
		case account.EventAccountTerminated:
			if r.Actor != account.SystemActor {
				h.Inputs = append(h.Inputs, lab.Input{At: r.At, Kind: lab.InputTerminate, Staff: staff})
			}
		}
	}
	return nil
}

// The audit detail keys read here (set by package account and the store).
const (
	detailSuspension = "suspension_reason"
	detailNotice     = "notice" // the notice's dunning key (store.Record)
	detailUntil      = "until"
	detailOutcome    = "outcome"
	detailAmountTo   = "amount_to"
	detailLifted     = "lifted"
	detailWrittenOff = "written_off_minor"
)

// staffLifts is what a staff Reinstate lifts (account.Reinstate); a
// payment's reinstatement lifts non_payment alone.
var staffLifts = strings.Join([]string{account.ReasonManual, account.ReasonNonPayment, account.ReasonBudget}, ",")

// noticeStage reads the stage from a notice key: "<customer>:<invoice>:<stage>"
// for an invoice's notice, "<customer>:<stage>:<seq>" for the others (see
// account's notice keys).
func noticeStage(key, customerID, invoiceID string) string {
	rest := strings.TrimPrefix(key, customerID+":")
	if invoiceID != "" && strings.HasPrefix(rest, invoiceID+":") {
		return strings.TrimPrefix(rest, invoiceID+":")
	}
	if i := strings.LastIndexByte(rest, ':'); i > 0 {
		return rest[:i]
	}
	return rest
}

func readMoney(ctx context.Context, tx *sqlx.Tx, ids []string, asOf time.Time, byID map[string]*lab.History) error {
	var pays []paymentRow
	if err := tx.SelectContext(ctx, &pays, `
		SELECT customer_id, payment_id, amount_minor, currency, method, reference, actor, received_at FROM payments
		WHERE customer_id = ANY($1) AND received_at <= $2 ORDER BY customer_id, received_at, recorded_at, payment_id`, pq.Array(ids), asOf); err != nil {
		return fmt.Errorf("read payments: %w", err)
	}
	for _, p := range pays {
		h := byID[p.CustomerID]
		pay := &account.Payment{PaymentID: p.PaymentID, AmountMinor: p.AmountMinor, Currency: p.Currency, Method: p.Method, Reference: p.Reference, Actor: p.Actor}
		if pay.Validate() != nil {
			// Rows written beside the update (a reconciliation's restored
			// payments, method store.ReconciledMethod) carry methods staff
			// cannot give; the money is what counts.
			pay.Method = "other"
		}
		h.Inputs = append(h.Inputs, lab.Input{At: p.ReceivedAt, Kind: lab.InputPayment, Payment: pay})
	}
	var uses []usageRow
	if err := tx.SelectContext(ctx, &uses, `
		SELECT customer_id, usage_id, amount_minor, description, recorded_at FROM usage_records
		WHERE customer_id = ANY($1) AND recorded_at <= $2 ORDER BY customer_id, recorded_at, usage_id`, pq.Array(ids), asOf); err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	for _, u := range uses {
		h := byID[u.CustomerID]
		h.Inputs = append(h.Inputs, lab.Input{At: u.RecordedAt, Kind: lab.InputUsage,
			Usage: &account.Usage{UsageID: u.UsageID, AmountMinor: u.AmountMinor, Description: u.Description}})
	}
	var invs []invoiceRow
	if err := tx.SelectContext(ctx, &invs, `
		SELECT customer_id, invoice_id, kind, status, amount_minor, paid_minor, period_start, due_at FROM invoices
		WHERE customer_id = ANY($1) AND issued_at <= $2 ORDER BY customer_id, issued_at, invoice_id`, pq.Array(ids), asOf); err != nil {
		return fmt.Errorf("read invoices: %w", err)
	}
	for _, inv := range invs {
		h := byID[inv.CustomerID]
		h.Invoices = append(h.Invoices, lab.RecordedInvoice{ID: inv.InvoiceID, Kind: account.InvoiceKind(inv.Kind), PeriodStart: inv.PeriodStart})
		if inv.Status == string(account.InvoiceOpen) && inv.Kind == string(account.KindSubscription) {
			h.Open = append(h.Open, lab.OpenInvoice{DueAt: inv.DueAt, OutstandingMinor: inv.AmountMinor - inv.PaidMinor})
		}
	}
	return nil
}

// readUnmodelled marks the customers whose record the replay cannot
// rebuild: subscriptions beyond the plan fee (an invoice line of another
// subscription, or a subscription change) and exemptions.
func readUnmodelled(ctx context.Context, tx *sqlx.Tx, ids []string, asOf time.Time, byID map[string]*lab.History) error {
	var rows []struct {
		CustomerID string `db:"customer_id"`
		Reason     string `db:"reason"`
	}
	err := tx.SelectContext(ctx, &rows, `
		SELECT DISTINCT ON (customer_id) customer_id, reason FROM (
		    SELECT customer_id, 'subscriptions beyond the plan fee are not simulated' AS reason FROM invoices
		    WHERE customer_id = ANY($1) AND issued_at <= $2
		      AND EXISTS (SELECT 1 FROM jsonb_array_elements(lines) l
		                  WHERE coalesce(l->>'subscription_id', $3) <> $3)
		    UNION ALL
		    SELECT customer_id, CASE WHEN action LIKE 'exemption.%' THEN 'exemptions are not simulated'
		        ELSE 'subscriptions beyond the plan fee are not simulated' END FROM audit_log
		    WHERE customer_id = ANY($1) AND at <= $2 AND (action LIKE 'subscription.%' OR action LIKE 'exemption.%')
		) u ORDER BY customer_id, reason DESC`, pq.Array(ids), asOf, account.PlanSubscriptionID)
	if err != nil {
		return fmt.Errorf("read subscriptions and exemptions: %w", err)
	}
	for _, r := range rows {
		byID[r.CustomerID].Unmodelled = r.Reason
	}
	return nil
}
