package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/store"
)

// Workflows is what reconciliation needs of Temporal; Temporal is the real
// one.
type Workflows interface {
	// Ledger runs GetLedger on the customer's latest run and says how its
	// execution stands ("running", "completed", ...). ErrNoWorkflow when
	// the customer has none.
	Ledger(ctx context.Context, customerID string) (account.Ledger, string, error)
	// Resync runs the Resync update. ErrClosed when the lifecycle ended.
	Resync(ctx context.Context, customerID string, r account.Resync) (account.ResyncResult, error)
	// CustomerIDs lists the customers that have a workflow, a page at a
	// time; an empty next token ends the listing.
	CustomerIDs(ctx context.Context, token []byte) (ids []string, next []byte, err error)
}

// Database is what reconciliation needs of PostgreSQL; *store.Store is the
// real one.
type Database interface {
	LedgerOf(ctx context.Context, customerID string, invoiceIDs []string, withSubscription bool) (store.Ledger, error)
	CustomerIDs(ctx context.Context, after string, limit int) ([]string, error)
}

// Errors Workflows returns.
var (
	ErrNoWorkflow = errors.New("no workflow")
	ErrClosed     = errors.New("the customer's lifecycle has ended")
	// ErrNoLedger: the workflow has ended without answering GetLedger (it
	// failed before it opened the account).
	ErrNoLedger = errors.New("the workflow ended without a ledger")
	// ErrUnknownCustomer is the error of a customer that has neither a
	// workflow nor a customers row (reported as its Error text).
	ErrUnknownCustomer = errors.New("no workflow and no customers row")
)

// Defaults.
const (
	DefaultConcurrency = 4
	DefaultPageSize    = 500
	DefaultSettle      = 10 * time.Second
)

// Reconciler compares and repairs. Its zero value needs Workflows and
// Database set.
type Reconciler struct {
	Workflows Workflows
	Database  Database
	// Subscriptions compares the subscriptions table (the table
	// provisioner is in use).
	Subscriptions bool
	Concurrency   int           // customers checked at once; default DefaultConcurrency
	PageSize      int           // customers rows read at a time; default DefaultPageSize
	Settle        time.Duration // how long to wait for a workflow that is still recording; default DefaultSettle
	// Progress, when set, is called after each customer (for heartbeats).
	Progress func(checked int)
	Now      func() time.Time
}

// Options select what a run does.
type Options struct {
	CustomerID string `json:"customer_id,omitempty"` // only this customer; empty: everyone
	Repair     bool   `json:"repair"`                // run Resync on customers with repairable drift, then check again
	Actor      string `json:"actor,omitempty"`       // the audit actor of repairs
	Reason     string `json:"reason,omitempty"`      // the audit reason of repairs; default "reconciliation repair"
}

// CustomerReport is one customer's result.
type CustomerReport struct {
	CustomerID string `json:"customer_id"`
	State      string `json:"state"`               // ok, drift, repaired, in_progress, workflow_missing, error
	Execution  string `json:"execution,omitempty"` // the workflow's execution status
	// Drift is what the first check found; after a repair, Remaining is
	// what the check after it found.
	Drift     []Drift               `json:"drift"`
	Repair    *account.ResyncResult `json:"repair,omitempty"`
	Remaining []Drift               `json:"remaining,omitempty"`
	Error     string                `json:"error,omitempty"`
}

// Report is a whole run. Customers lists the customers that are not ok
// (every customer checked when the run was for one customer).
type Report struct {
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt time.Time        `json:"finished_at"`
	Repair     bool             `json:"repair"`
	Checked    int              `json:"checked"`
	OK         int              `json:"ok"`
	Drifted    int              `json:"drifted"` // drift left: drift and workflow_missing
	Repaired   int              `json:"repaired"`
	InProgress int              `json:"in_progress"`
	Errors     int              `json:"errors"`
	Customers  []CustomerReport `json:"customers"`
}

// HasDrift reports whether drift is left.
func (r Report) HasDrift() bool { return r.Drifted > 0 }

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run checks one customer or everyone. An error means the run could not
// list the customers; a customer that could not be checked is reported
// with state error and counted in Errors.
func (r *Reconciler) Run(ctx context.Context, o Options) (Report, error) {
	rep := Report{StartedAt: r.now().UTC(), Repair: o.Repair, Customers: []CustomerReport{}}
	if o.Reason == "" {
		o.Reason = "reconciliation repair"
	}
	if o.CustomerID != "" {
		c := r.Customer(ctx, o.CustomerID, o)
		rep.add(c, true)
		rep.FinishedAt = r.now().UTC()
		return rep, nil
	}
	workers := r.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	ids := make(chan string)
	results := make(chan CustomerReport)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				results <- r.Customer(ctx, id, o)
			}
		}()
	}
	listErr := make(chan error, 1)
	go func() {
		listErr <- r.list(ctx, ids)
		close(ids)
		wg.Wait()
		close(results)
	}()
	for c := range results {
		rep.add(c, false)
		if r.Progress != nil {
			r.Progress(rep.Checked)
		}
	}
	sort.Slice(rep.Customers, func(i, j int) bool { return rep.Customers[i].CustomerID < rep.Customers[j].CustomerID })
	rep.FinishedAt = r.now().UTC()
	if err := <-listErr; err != nil {
		return rep, err
	}
	return rep, nil
}

func (rep *Report) add(c CustomerReport, always bool) {
	rep.Checked++
	switch c.State {
	case StateOK:
		rep.OK++
	case StateRepaired:
		rep.Repaired++
	case StateInProgress:
		rep.InProgress++
	case StateError:
		rep.Errors++
	default:
		rep.Drifted++
	}
	if always || c.State != StateOK {
		rep.Customers = append(rep.Customers, c)
	}
}

// list sends every customer once: the customers rows first, then the
// workflows without a row.
func (r *Reconciler) list(ctx context.Context, out chan<- string) error {
	size := r.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	seen := map[string]bool{}
	send := func(id string) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		select {
		case out <- id:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	after := ""
	for {
		ids, err := r.Database.CustomerIDs(ctx, after, size)
		if err != nil {
			return fmt.Errorf("list customers in PostgreSQL: %w", err)
		}
		for _, id := range ids {
			if err := send(id); err != nil {
				return err
			}
		}
		if len(ids) < size {
			break
		}
		after = ids[len(ids)-1]
	}
	var token []byte
	for {
		ids, next, err := r.Workflows.CustomerIDs(ctx, token)
		if err != nil {
			return fmt.Errorf("list customer workflows: %w", err)
		}
		for _, id := range ids {
			if err := send(id); err != nil {
				return err
			}
		}
		if len(next) == 0 {
			return nil
		}
		token = next
	}
}

// Customer checks one customer and, with o.Repair, repairs and checks
// again.
func (r *Reconciler) Customer(ctx context.Context, id string, o Options) CustomerReport {
	c := r.check(ctx, id)
	if !o.Repair || c.State != StateDrift || !Repairable(c.Drift) {
		return c
	}
	res, err := r.Workflows.Resync(ctx, id, account.Resync{Actor: o.Actor, Reason: o.Reason, PaymentIDs: MissingPayments(c.Drift)})
	if err != nil {
		c.Error = "repair failed: " + err.Error()
		if errors.Is(err, ErrClosed) {
			c.Error = "not repaired: " + err.Error()
		}
		return c
	}
	c.Repair = &res
	again := r.check(ctx, id)
	switch again.State {
	case StateOK:
		c.State = StateRepaired
		c.Remaining = []Drift{}
	case StateError:
		c.Error = "check after repair: " + again.Error
	default:
		c.Remaining = again.Drift
	}
	return c
}

// check compares one customer. The ledger is read before and after the
// database; if the workflow changed in between or is still recording, the
// check is repeated until Settle has passed, then reported as in progress.
func (r *Reconciler) check(ctx context.Context, id string) CustomerReport {
	c := CustomerReport{CustomerID: id, Drift: []Drift{}}
	settle := r.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	deadline := time.Now().Add(settle)
	wait := 100 * time.Millisecond
	for {
		l, exec, err := r.Workflows.Ledger(ctx, id)
		c.Execution = exec
		if errors.Is(err, ErrNoWorkflow) || errors.Is(err, ErrNoLedger) {
			return r.noWorkflow(ctx, c, err)
		}
		if err != nil {
			c.State, c.Error = StateError, err.Error()
			return c
		}
		if l.PendingBatches == 0 {
			db, err := r.Database.LedgerOf(ctx, id, invoiceIDs(l), r.Subscriptions)
			if err != nil {
				c.State, c.Error = StateError, err.Error()
				return c
			}
			settled := exec != "running"
			if !settled {
				l2, _, err := r.Workflows.Ledger(ctx, id)
				if err != nil {
					c.State, c.Error = StateError, err.Error()
					return c
				}
				settled = l2.PendingBatches == 0 && l2.EventSeq == l.EventSeq
			}
			if settled {
				c.Drift = Compare(l, db, r.Subscriptions)
				if c.Drift == nil {
					c.Drift = []Drift{}
				}
				c.State = StateOK
				if len(c.Drift) > 0 {
					c.State = StateDrift
				}
				return c
			}
		}
		if time.Now().After(deadline) {
			c.State = StateInProgress
			c.Error = fmt.Sprintf("the workflow is still recording (%d batches pending); check again later", l.PendingBatches)
			return c
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			c.State, c.Error = StateError, ctx.Err().Error()
			return c
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// noWorkflow reports a customer without a workflow, or whose workflow ended
// without a ledger (why): drift when PostgreSQL has the customer, else
// nothing to compare.
func (r *Reconciler) noWorkflow(ctx context.Context, c CustomerReport, why error) CustomerReport {
	db, err := r.Database.LedgerOf(ctx, c.CustomerID, nil, false)
	if err != nil {
		c.State, c.Error = StateError, err.Error()
		return c
	}
	if errors.Is(why, ErrNoLedger) {
		if db.Customer == nil {
			c.State = StateOK // an application that failed before anything was recorded
			return c
		}
		c.State = StateDrift
		c.Drift = []Drift{{Field: "workflow", Workflow: "ended (" + c.Execution + ") without a ledger", Database: "customer " + db.Customer.Status,
			Note: why.Error() + "; staff must check the workflow's history"}}
		return c
	}
	if db.Customer == nil {
		c.State, c.Error = StateError, ErrUnknownCustomer.Error()
		return c
	}
	c.State = StateWorkflowMissing
	c.Drift = []Drift{{Field: "workflow", Workflow: Missing, Database: "customer " + db.Customer.Status,
		Note: "a customers row without a workflow (deleted, or past the namespace's retention); nothing to compare it with"}}
	return c
}

func invoiceIDs(l account.Ledger) []string {
	ids := make([]string, 0, len(l.Invoices))
	for _, inv := range l.Invoices {
		ids = append(ids, inv.ID)
	}
	return ids
}
