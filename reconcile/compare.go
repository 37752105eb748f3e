// Package reconcile checks the customers' workflows and PostgreSQL against
// each other. The workflow owns each customer's state; PostgreSQL mirrors
// it. For every customer it compares the workflow's ledger (the GetLedger
// query) with what the database has: the customers row's status, access,
// balance, credit and event sequence, the open invoices, the payments, the
// audit log's extent and, with the table provisioner, the subscriptions row.
// Each difference is a Drift naming both values.
//
// Repair goes through the workflow (the Resync update): it re-records the
// account's current figures, every open invoice and the payments the
// database lacks, so a repair is one more recorded change with its actor and
// reason, never a write behind the workflow's back, and repeating it changes
// nothing more. What the workflow no longer knows (closed invoices, past
// audit events, a database ahead of the workflow) is reported and left to
// staff.
package reconcile

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/example/dunning/account"
	"github.com/example/dunning/store"
)

// Customer states in a report.
const (
	StateOK              = "ok"               // no drift
	StateDrift           = "drift"            // drift found (and not repaired)
	StateRepaired        = "repaired"         // drift found and repaired; the re-check found none
	StateInProgress      = "in_progress"      // the workflow is still recording: not drift yet
	StateWorkflowMissing = "workflow_missing" // a customers row without a workflow
	StateError           = "error"            // could not be checked
)

// Drift is one difference between the workflow and PostgreSQL.
type Drift struct {
	// Field names what differs: status, access, balance_minor,
	// credit_minor, event_seq, customer_row, workflow, audit_log,
	// invoice:<id>, invoice:<id>.<field>, payment:<id>,
	// payment:<id>.<field>, charge:<attempt key>, subscription,
	// subscription.status, provisioning.
	Field    string `json:"field"`
	Workflow string `json:"workflow"` // the workflow's value ("missing" when it has none)
	Database string `json:"database"` // PostgreSQL's value ("missing" when it has none)
	// Repairable says a Resync fixes it.
	Repairable bool   `json:"repairable"`
	Note       string `json:"note,omitempty"`
}

// Missing stands for a value one side does not have.
const Missing = "missing"

func i64(v int64) string { return strconv.FormatInt(v, 10) }

// Compare lists the drift between a workflow's ledger and PostgreSQL's
// rows, in a stable order. The ledger must be settled (no batches pending);
// the caller checks that. withSubscription compares the subscriptions
// row, which only the table provisioner keeps.
func Compare(l account.Ledger, db store.Ledger, withSubscription bool) []Drift {
	var out []Drift
	add := func(field, wf, pg string, repairable bool, note string) {
		out = append(out, Drift{Field: field, Workflow: wf, Database: pg, Repairable: repairable, Note: note})
	}
	row := db.Customer
	if row == nil {
		add("customer_row", "present", Missing, true, "the customers row is missing")
	} else {
		if string(l.Status) != row.Status {
			add("status", string(l.Status), row.Status, true, "")
		}
		if string(l.Access) != row.Access {
			add("access", string(l.Access), row.Access, true, "")
		}
		if l.BalanceMinor != row.BalanceMinor {
			add("balance_minor", i64(l.BalanceMinor), i64(row.BalanceMinor), true, "")
		}
		if l.CreditMinor != row.CreditMinor {
			add("credit_minor", i64(l.CreditMinor), i64(row.CreditMinor), true, "")
		}
		switch seq := int64(l.EventSeq); {
		case row.EventSeq < seq:
			add("event_seq", i64(seq), i64(row.EventSeq), true, "the customers row is older than the workflow's last change")
		case row.EventSeq > seq:
			add("event_seq", i64(seq), i64(row.EventSeq), false,
				"the customers row is ahead of the workflow (reset or edited by hand); a resync cannot lower it")
		}
	}
	switch seq := int64(l.EventSeq); {
	case db.AuditMaxSeq < seq:
		add("audit_log", "events up to "+i64(seq), "events up to "+i64(db.AuditMaxSeq), false,
			"audit events are missing at the end; the workflow does not keep past events")
	case db.AuditMaxSeq > seq:
		add("audit_log", "events up to "+i64(seq), "events up to "+i64(db.AuditMaxSeq), false,
			"the audit log is ahead of the workflow (a reset workflow?)")
	case db.AuditEvents < db.AuditMaxSeq:
		add("audit_log", i64(seq)+" events", i64(db.AuditEvents)+" events", false,
			"audit events are missing in the middle; the workflow does not keep past events")
	}
	out = append(out, compareInvoices(l, db)...)
	out = append(out, comparePayments(l, db)...)
	for _, c := range db.UnrecordedCharges {
		add("charge:"+c.Key, Missing, "succeeded "+c.PaymentIntentID+" for "+i64(c.AmountMinor)+" "+c.Currency, false,
			"the gateway charged the card and no payment was recorded: record it with RecordPayment under payment_id "+c.PaymentIntentID)
	}
	if withSubscription {
		out = append(out, compareSubscription(l, db.Subscription)...)
	}
	return out
}

func compareInvoices(l account.Ledger, db store.Ledger) []Drift {
	var out []Drift
	rows := map[string]store.Invoice{}
	for _, r := range db.Invoices {
		rows[r.InvoiceID] = r
	}
	open := map[string]bool{}
	for _, inv := range l.Invoices {
		open[inv.ID] = true
		key := "invoice:" + inv.ID
		r, ok := rows[inv.ID]
		if !ok {
			out = append(out, Drift{Field: key, Workflow: fmt.Sprintf("%s %s of %s", inv.Status, inv.Kind, i64(inv.AmountMinor)),
				Database: Missing, Repairable: true, Note: "the invoice row is missing"})
			continue
		}
		for _, d := range []struct{ field, wf, pg string }{
			{"status", string(inv.Status), r.Status},
			{"amount_minor", i64(inv.AmountMinor), i64(r.AmountMinor)},
			{"paid_minor", i64(inv.PaidMinor), i64(r.PaidMinor)},
			{"stage", inv.Stage, r.Stage},
			{"disputed", strconv.FormatBool(inv.Disputed), strconv.FormatBool(r.Disputed)},
		} {
			if d.wf != d.pg {
				out = append(out, Drift{Field: key + "." + d.field, Workflow: d.wf, Database: d.pg, Repairable: true})
			}
		}
	}
	for _, r := range db.Invoices {
		if r.Status == string(account.InvoiceOpen) && !open[r.InvoiceID] {
			out = append(out, Drift{Field: "invoice:" + r.InvoiceID, Workflow: "not open", Database: "open", Repairable: false,
				Note: "open in PostgreSQL only; the workflow keeps open invoices only, so staff must check how it was closed"})
		}
	}
	return out
}

func comparePayments(l account.Ledger, db store.Ledger) []Drift {
	var out []Drift
	rows := map[string]store.LedgerPayment{}
	for _, r := range db.Payments {
		rows[r.PaymentID] = r
	}
	known := map[string]bool{}
	for _, p := range l.Payments {
		known[p.PaymentID] = true
		key := "payment:" + p.PaymentID
		r, ok := rows[p.PaymentID]
		if !ok {
			out = append(out, Drift{Field: key, Workflow: i64(p.AmountMinor) + " " + p.Currency, Database: Missing, Repairable: true,
				Note: "the payment row is missing; a resync re-records it with method \"reconciled\""})
			continue
		}
		if r.AmountMinor != p.AmountMinor {
			out = append(out, Drift{Field: key + ".amount_minor", Workflow: i64(p.AmountMinor), Database: i64(r.AmountMinor),
				Note: "the payment row was changed; staff must correct it"})
		}
		if r.Currency != p.Currency {
			out = append(out, Drift{Field: key + ".currency", Workflow: p.Currency, Database: r.Currency,
				Note: "the payment row was changed; staff must correct it"})
		}
	}
	for _, r := range db.Payments {
		if !known[r.PaymentID] && l.PaymentsAll {
			out = append(out, Drift{Field: "payment:" + r.PaymentID, Workflow: Missing, Database: i64(r.AmountMinor) + " " + r.Currency,
				Note: "a payment row the workflow never recorded; staff must check it"})
		}
	}
	return out
}

// expectedSubscription is the subscriptions row status the table
// provisioner should hold for the ledger; ok false when no row is expected
// (the customer was never provisioned). It follows the last action the
// provisioning system confirmed; runs from before the account kept that
// are judged by their status. Access is not compared: the provisioning
// actions do not carry every change of access (a review that takes full
// access away is not provisioned), so it would be reported on healthy
// accounts.
func expectedSubscription(l account.Ledger) (status string, ok bool) {
	switch l.ProvisioningApplied {
	case account.ProvisionActivate, account.ProvisionReinstate, account.ProvisionFullAccess:
		return "active", true
	case account.ProvisionSuspend:
		return "suspended", true
	case account.ProvisionTerminate:
		return "terminated", true
	case account.ProvisionActivateSubscriptions, account.ProvisionSuspendSubscriptions,
		account.ProvisionReinstateSubscriptions, account.ProvisionCancelSubscriptions:
		// These leave the account's row alone: it is suspended only by a
		// suspension of the account itself, not when every subscription
		// is suspended on its own.
		switch {
		case l.Status == account.StatusTerminated:
			return "terminated", true
		case l.Suspended:
			return "suspended", true
		}
		return "active", true
	}
	switch l.Status {
	case account.StatusActive, account.StatusPastDue:
		return "active", true
	case account.StatusSuspended:
		return "suspended", true
	case account.StatusTerminated:
		return "terminated", true
	}
	return "", false
}

// compareSubscription compares the table provisioner's row with what the
// account's provisioning says. While provisioning is pending the row may
// lag: not drift. Failing provisioning is reported (the workflow keeps
// retrying it and has alerted staff; a resync does not help).
func compareSubscription(l account.Ledger, sub *store.Subscription) []Drift {
	const note = "provisioning is not repaired by a resync; check the provisioning log and act by hand"
	switch l.Provisioning {
	case account.ProvisioningPending:
		return nil
	case account.ProvisioningFailing:
		got := Missing
		if sub != nil {
			got = sub.Status
		}
		return []Drift{{Field: "provisioning", Workflow: "failing: " + l.ProvisioningError, Database: got,
			Note: "the workflow retries it and has alerted staff; see starter status"}}
	}
	status, ok := expectedSubscription(l)
	if !ok {
		return nil
	}
	if sub == nil {
		if l.Status == account.StatusTerminated && l.ProvisioningApplied == "" {
			return nil // terminated before anything was provisioned
		}
		return []Drift{{Field: "subscription", Workflow: status, Database: Missing, Note: note}}
	}
	if sub.Status != status {
		return []Drift{{Field: "subscription.status", Workflow: status, Database: sub.Status, Note: note}}
	}
	return nil
}

// Repairable reports whether a Resync would fix any of the drift.
func Repairable(drifts []Drift) bool {
	return slices.ContainsFunc(drifts, func(d Drift) bool { return d.Repairable })
}

// MissingPayments lists the payments a Resync should re-record.
func MissingPayments(drifts []Drift) []string {
	var ids []string
	for _, d := range drifts {
		if d.Repairable && d.Database == Missing && len(d.Field) > len("payment:") && d.Field[:len("payment:")] == "payment:" {
			ids = append(ids, d.Field[len("payment:"):])
		}
	}
	return ids
}
