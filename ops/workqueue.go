package ops

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/store"
)

// WorkItemKind says what a work queue item asks of staff.
type WorkItemKind string

// Work item kinds.
const (
	WorkReview             WorkItemKind = "review"              // an onboarding or misuse review to decide by Due
	WorkProviderNotice     WorkItemKind = "provider_notice"     // the upstream provider's notice to answer by Due
	WorkPromiseDue         WorkItemKind = "promise_due"         // a promise to pay ends at Due
	WorkEmailFailed        WorkItemKind = "email_failed"        // a message to the customer failed at Due
	WorkProvisioningFailed WorkItemKind = "provisioning_failed" // provisioning has failed since Due
	WorkSuspensionSoon     WorkItemKind = "suspension_soon"     // the ladder suspends the customer at Due
)

// WorkItem is one thing staff should look at.
type WorkItem struct {
	Kind       WorkItemKind `json:"kind"`
	CustomerID string       `json:"customer_id"`
	Due        time.Time    `json:"due"`
	InvoiceID  string       `json:"invoice_id,omitempty"`
	Ref        string       `json:"ref,omitempty"`    // review ID, notice ID or message key
	Detail     string       `json:"detail,omitempty"` // the reason, category or failure as recorded
	// What is owed on the invoice, for promises and suspensions.
	AmountMinor int64  `json:"amount_minor,omitempty"`
	Currency    string `json:"currency,omitempty"`
}

// Work queue bounds.
const (
	DefaultWorkHorizon = 7 * 24 * time.Hour  // how far ahead promises and suspensions are shown
	MaxWorkHorizon     = 90 * 24 * time.Hour // longer asks for a report, not a queue
	// EmailFailureWindow is how far back failed emails are shown: older
	// ones have been acted on or overtaken by later mail.
	EmailFailureWindow = 14 * 24 * time.Hour
)

// WorkQueue lists what staff owe an answer to, soonest first: open reviews
// and provider notices by deadline, promises ending and suspensions coming
// within horizon, failed emails of the last EmailFailureWindow, and
// customers whose provisioning is failing. It reads PostgreSQL only.
func (o *Ops) WorkQueue(ctx context.Context, now time.Time, horizon time.Duration) ([]WorkItem, error) {
	if horizon <= 0 || horizon > MaxWorkHorizon {
		return nil, Invalid(fmt.Errorf("horizon %s must be more than 0 and at most %s", horizon, MaxWorkHorizon))
	}
	reg, err := setup.Policies(o.cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	items, err := waitRead(ctx, func() ([]WorkItem, error) { return workItems(ctx, st, reg, now, horizon) })
	if err != nil {
		return nil, dbError(err)
	}
	return items, nil
}

func workItems(ctx context.Context, st *store.Store, reg *policy.Registry, now time.Time, horizon time.Duration) ([]WorkItem, error) {
	var items []WorkItem
	reviews, err := st.OpenReviews(ctx)
	if err != nil {
		return nil, fmt.Errorf("open reviews: %w", err)
	}
	for _, r := range reviews {
		it := WorkItem{Kind: WorkReview, CustomerID: r.CustomerID, Due: r.Deadline, Ref: r.ReviewID, Detail: r.Reason}
		if r.NoticeID != "" {
			it.Kind, it.Ref, it.Detail = WorkProviderNotice, r.NoticeID, r.Category
		}
		items = append(items, it)
	}
	until := now.Add(horizon)
	promises, err := st.PromisesDue(ctx, until)
	if err != nil {
		return nil, fmt.Errorf("promises due: %w", err)
	}
	for _, p := range promises {
		items = append(items, WorkItem{Kind: WorkPromiseDue, CustomerID: p.CustomerID, Due: *p.PromiseUntil, InvoiceID: p.InvoiceID,
			AmountMinor: p.OwedMinor, Currency: p.Currency})
	}
	unpaid, err := st.Unpaid(ctx, now, until)
	if err != nil {
		return nil, fmt.Errorf("unpaid invoices: %w", err)
	}
	items = append(items, suspensionsSoon(unpaid, reg, now, until)...)
	emails, err := st.FailedEmails(ctx, now.Add(-EmailFailureWindow))
	if err != nil {
		return nil, fmt.Errorf("failed emails: %w", err)
	}
	for _, e := range emails {
		items = append(items, WorkItem{Kind: WorkEmailFailed, CustomerID: e.CustomerID, Due: e.At, InvoiceID: e.InvoiceID,
			Ref: e.MessageKey, Detail: e.Failure + ": " + e.Reason})
	}
	prov, err := st.ProvisioningFailing(ctx)
	if err != nil {
		return nil, fmt.Errorf("provisioning failures: %w", err)
	}
	for _, p := range prov {
		items = append(items, WorkItem{Kind: WorkProvisioningFailed, CustomerID: p.CustomerID, Due: p.At, Detail: p.Reason})
	}
	slices.SortStableFunc(items, func(a, b WorkItem) int { return a.Due.Compare(b.Due) })
	return items, nil
}

// suspensionsSoon finds, per customer, the first unpaid invoice whose
// ladder reaches its suspend step between now and until. The step is the
// invoice's policy's (a customer keeps the policy version it started on).
// A customer whose policy is unknown here is left out rather than failing
// the queue: the worker that knows it suspends on time regardless.
func suspensionsSoon(unpaid []store.DueInvoice, reg *policy.Registry, now, until time.Time) []WorkItem {
	first := map[string]int{} // customer → index in out
	var out []WorkItem
	for _, inv := range unpaid {
		p, err := reg.Get(inv.Policy)
		if err != nil {
			continue
		}
		i := p.StepIndex(policy.ActionSuspend)
		if i < 0 {
			continue
		}
		at := inv.DueAt.Add(p.Ladder[i].Offset)
		if at.Before(now) || at.After(until) {
			continue
		}
		it := WorkItem{Kind: WorkSuspensionSoon, CustomerID: inv.CustomerID, Due: at, InvoiceID: inv.InvoiceID,
			AmountMinor: inv.OwedMinor, Currency: inv.Currency}
		if j, ok := first[inv.CustomerID]; ok {
			if at.Before(out[j].Due) {
				out[j] = it
			}
			continue
		}
		first[inv.CustomerID] = len(out)
		out = append(out, it)
	}
	return out
}
