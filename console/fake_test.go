package console

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// update is one update the fake got.
type update struct {
	customerID, name string
	arg              any
}

// fakeOps is the operations layer for the console's unit tests: one
// customer "acme" owing an invoice in USD. A payment lowers the balance;
// one in another currency is refused as the workflow refuses it.
type fakeOps struct {
	mu       sync.Mutex
	updates  []update
	onboards []account.Application
	lists    []ops.ListFilter
	status   account.StatusView
	next     []byte // the list's next page token
	err      error  // every call fails with it when set
	items    []ops.WorkItem
	batches  []reports.CollectionsBatch
	exported int
	// webhooks
	endpoints  []store.Endpoint
	deliveries []store.Delivery
	filters    []ops.DeliveryFilter
	replayed   []string // "delivery 7", "failed ep_1"
}

func newFakeOps() *fakeOps {
	return &fakeOps{status: account.StatusView{CustomerID: "acme", Name: "Acme Ltd", Email: "ap@acme.test", Status: account.StatusPastDue,
		Access: account.AccessFull, Currency: "USD", BalanceMinor: 12500, OverdueMinor: 12500, DaysPastDue: 9, DunningStage: "overdue_1",
		RiskTier: "low", Policy: "standard",
		Invoices: []account.InvoiceView{{ID: "inv-1", Kind: account.KindSubscription, AmountMinor: 12500, OutstandingMinor: 12500,
			DueAt: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Stage: "overdue_1", NextStage: "overdue_2", NextActionAt: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)}},
		Reviews: []account.Review{{ID: "rev-1", Kind: "misuse", Reason: "provider notice", Deadline: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}}}}
}

func (f *fakeOps) got() []update {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.updates)
}

func (f *fakeOps) Update(_ context.Context, customerID, name string, arg, result any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if customerID != f.status.CustomerID {
		return fmt.Errorf("unknown customer %q: %w", customerID, ops.ErrNotFound)
	}
	if p, ok := arg.(account.Payment); ok && name == workflows.UpdateRecordPayment.Name {
		for _, u := range f.updates {
			if prev, ok := u.arg.(account.Payment); ok && prev.PaymentID == p.PaymentID {
				if r, ok := result.(**account.PaymentResult); ok {
					*r = &account.PaymentResult{PaymentID: p.PaymentID, Duplicate: true, BalanceMinor: f.status.BalanceMinor}
				}
				return nil
			}
		}
		if p.Currency != f.status.Currency {
			return &ops.RefusedError{Op: name, Message: fmt.Sprintf("payment currency %s does not match the account currency %s", p.Currency, f.status.Currency)}
		}
		f.status.BalanceMinor -= p.AmountMinor
		if r, ok := result.(**account.PaymentResult); ok {
			*r = &account.PaymentResult{PaymentID: p.PaymentID, BalanceMinor: f.status.BalanceMinor}
		}
	}
	f.updates = append(f.updates, update{customerID, name, arg})
	return nil
}

func (f *fakeOps) Onboard(_ context.Context, app account.Application) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", "", f.err
	}
	f.onboards = append(f.onboards, app)
	return workflows.WorkflowID(app.CustomerID), "run-1", nil
}

func (f *fakeOps) Status(_ context.Context, customerID string) (account.StatusView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return account.StatusView{}, f.err
	}
	if customerID != f.status.CustomerID {
		return account.StatusView{}, fmt.Errorf("unknown customer %q: %w", customerID, ops.ErrNotFound)
	}
	return f.status, nil
}

func (f *fakeOps) List(_ context.Context, lf ops.ListFilter) ([]ops.ListedCustomer, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, lf)
	if f.err != nil {
		return nil, nil, f.err
	}
	return []ops.ListedCustomer{{CustomerID: f.status.CustomerID, Name: f.status.Name, Status: string(f.status.Status),
		DunningStage: f.status.DunningStage, RiskTier: f.status.RiskTier, AmountOverdueMinor: f.status.OverdueMinor, DaysPastDue: 9}}, f.next, nil
}

func (f *fakeOps) Emails(context.Context, string) ([]store.OutboxMessage, error) {
	return []store.OutboxMessage{{MessageKey: "k1", Stage: "overdue_1", Channel: "email", ToEmail: "ap@acme.test", Subject: "Your invoice is overdue",
		Status: "sent", DeliveryStatus: "bounce", CreatedAt: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)}}, nil
}

func (f *fakeOps) Audit(context.Context, string) ([]store.AuditEntry, error) {
	return []store.AuditEntry{{EventKey: "e1", CustomerID: "acme", At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Actor: "system", Action: "invoice_issued"}}, nil
}

func (f *fakeOps) Aging(_ context.Context, asOf time.Time, opts reports.AgingOptions) (reports.AgingReport, error) {
	if f.err != nil {
		return reports.AgingReport{}, f.err
	}
	c := reports.CurrencyAging{Currency: "USD", Customers: 1, Total: reports.Figure{Count: 2, Minor: 30000}}
	for i, name := range reports.BucketNames {
		c.Buckets[i] = reports.BucketFigure{Bucket: name}
	}
	c.Buckets[0].Figure = reports.Figure{Count: 1, Minor: 10000}
	c.Buckets[2].Figure = reports.Figure{Count: 1, Minor: 20000}
	return reports.AgingReport{AsOf: asOf, Options: opts, Currencies: []reports.CurrencyAging{c}}, nil
}

func (f *fakeOps) ExportCollections(_ context.Context, w io.Writer, at time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	if f.exported > 0 {
		return 0, nil // nothing new
	}
	f.exported++
	id := "col-" + at.Format("20060102T150405Z") + "-1a2b3c4d"
	f.batches = append(f.batches, reports.CollectionsBatch{BatchID: id, ExportedAt: at, Rows: 1})
	_, err := io.WriteString(w, collectionsCSV(id))
	return 1, err
}

func (f *fakeOps) CollectionsBatches(context.Context, int) ([]reports.CollectionsBatch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches), f.err
}

func (f *fakeOps) FetchCollectionsBatch(_ context.Context, w io.Writer, id string) (reports.CollectionsBatch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.batches {
		if b.BatchID == id {
			_, err := io.WriteString(w, collectionsCSV(id))
			return b, err
		}
	}
	return reports.CollectionsBatch{}, fmt.Errorf("batch %q: %w", id, ops.ErrNotFound)
}

func (f *fakeOps) WorkQueue(context.Context, time.Time, time.Duration) ([]ops.WorkItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items), f.err
}

// collectionsCSV is an export of one row in the real file's shape.
func collectionsCSV(batch string) string {
	row := make([]string, len(reports.CollectionsHeader))
	row[0], row[len(row)-1] = "acme", batch
	return strings.Join(reports.CollectionsHeader, ",") + "\n" + strings.Join(row, ",") + "\n"
}

func (f *fakeOps) Webhooks(context.Context) ([]store.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.endpoints), f.err
}

func (f *fakeOps) WebhookDeliveries(_ context.Context, flt ops.DeliveryFilter) ([]store.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if err := flt.Validate(); err != nil {
		return nil, ops.Invalid(err)
	}
	f.filters = append(f.filters, flt)
	var out []store.Delivery
	for _, d := range f.deliveries {
		if (flt.Status == "" || string(d.Status) == flt.Status) && (flt.EndpointID == "" || d.EndpointID == flt.EndpointID) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *fakeOps) ReplayDelivery(_ context.Context, id int64) (store.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.deliveries {
		if d.ID == id {
			f.deliveries[i].Status = store.DeliveryPending
			f.replayed = append(f.replayed, fmt.Sprintf("delivery %d", id))
			return f.deliveries[i], nil
		}
	}
	return store.Delivery{}, fmt.Errorf("unknown webhook delivery %d: %w", id, ops.ErrNotFound)
}

func (f *fakeOps) ReplayFailed(_ context.Context, endpointID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, d := range f.deliveries {
		if d.EndpointID == endpointID && d.Status == store.DeliveryFailed {
			f.deliveries[i].Status = store.DeliveryPending
			n++
		}
	}
	f.replayed = append(f.replayed, "failed "+endpointID)
	return n, nil
}
