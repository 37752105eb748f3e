// Package ops holds the operations billing tools perform on customers, over
// a Temporal client and the PostgreSQL store: onboard, run updates, read the
// status, list customers by their search attributes, and read emails, the
// audit log and reports. The starter CLI and the HTTP API both use it, so
// they validate, start and explain errors the same way.
//
// Errors are typed so that callers can map them to exit codes or HTTP
// statuses: ErrNotFound and ErrTerminated (errors.Is), *InvalidError,
// *RefusedError and *UnavailableError (errors.As). Anything else is
// unexpected.
package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/bounded"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// DefaultTimeout bounds each operation when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options configure Ops.
type Options struct {
	// Config gives the task queue for starts, the policy directory for the
	// policy check, and where to connect when Client or Store is nil.
	Config config.Config
	// Client is a connected Temporal client. Nil: dial on first use (and
	// close in Close).
	Client client.Client
	// Store is the database. Nil: open Config.DatabaseURL on first use (and
	// close in Close).
	Store *store.Store
	// Logger is for the Temporal client Ops dials itself; default: discard.
	Logger *slog.Logger
	// Timeout bounds each operation, connecting included; default 30s.
	Timeout time.Duration
}

// Ops performs the operations. It is safe for concurrent use.
type Ops struct {
	cfg     config.Config
	logger  *slog.Logger
	timeout time.Duration

	mu         sync.Mutex
	client     client.Client
	store      *store.Store
	ownC, ownS bool // opened here, so closed here
}

// New returns Ops over the given connections. Nothing is connected until
// an operation needs it, so that bad input is refused without a server.
func New(o Options) *Ops {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Ops{cfg: o.Config, logger: o.Logger, timeout: o.Timeout, client: o.Client, store: o.Store}
}

// Close closes the connections Ops opened itself.
func (o *Ops) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ownC && o.client != nil {
		o.client.Close()
		o.client, o.ownC = nil, false
	}
	if o.ownS && o.store != nil {
		_ = o.store.Close()
		o.store, o.ownS = nil, false
	}
}

// temporalClient returns the client, dialling it on first use.
func (o *Ops) temporalClient(ctx context.Context) (client.Client, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.client != nil {
		return o.client, nil
	}
	c, err := setup.Dial(ctx, o.cfg, o.logger)
	if err != nil {
		return nil, &UnavailableError{err}
	}
	o.client, o.ownC = c, true
	return c, nil
}

// db returns the store, opening it on first use.
func (o *Ops) db(ctx context.Context) (*store.Store, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store != nil {
		return o.store, nil
	}
	st, err := store.Open(ctx, o.cfg.DatabaseURL, o.cfg.DB)
	if err != nil {
		return nil, &UnavailableError{err}
	}
	o.store, o.ownS = st, true
	return st, nil
}

// withTimeout bounds one operation and says how long it has, for messages.
func (o *Ops) withTimeout(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	limit := o.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < limit {
		limit = time.Until(dl).Round(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	return ctx, cancel, limit
}

type validator interface{ Validate() error }

// Onboard checks the application (normalized first) and its policy, then
// starts the customer's CustomerLifecycle workflow with ID customer-<id>.
// A customer that exists already is refused, whatever state its workflow
// is in.
func (o *Ops) Onboard(ctx context.Context, app account.Application) (workflowID, runID string, err error) {
	app.Normalize()
	if err := app.Validate(); err != nil {
		return "", "", Invalid(err)
	}
	reg, err := setup.Policies(o.cfg)
	if err != nil {
		return "", "", err // configuration, not the caller's input
	}
	if _, err := reg.Get(app.Policy); err != nil {
		return "", "", Invalid(err)
	}
	ctx, cancel, limit := o.withTimeout(ctx)
	defer cancel()
	// A customer ID is never reused: after its workflow has left the
	// namespace's retention, PostgreSQL still holds its rows.
	st, err := o.db(ctx)
	if err != nil {
		return "", "", err
	}
	if prev, err := st.CustomerByID(ctx, app.CustomerID); err == nil {
		return "", "", &RefusedError{Message: fmt.Sprintf("customer %q already exists (status %s since %s); a customer ID is never reused: choose a new one",
			app.CustomerID, prev.Status, prev.CreatedAt.Format(time.RFC3339))}
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", "", err
	}
	c, err := o.temporalClient(ctx)
	if err != nil {
		return "", "", err
	}
	id := workflows.WorkflowID(app.CustomerID)
	run, err := c.ExecuteWorkflow(ctx, StartOptions(app, o.cfg.TaskQueue), workflows.WorkflowType, workflows.Input{Application: app})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return "", "", &RefusedError{Message: fmt.Sprintf("customer %q already exists (workflow %s)", app.CustomerID, id)}
	}
	if err != nil {
		return "", "", explain(app.CustomerID, "onboard", limit, o.cfg.TaskQueue, err)
	}
	return run.GetID(), run.GetRunID(), nil
}

// StartOptions are the options a customer's lifecycle starts with.
func StartOptions(app account.Application, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(app.CustomerID),
		TaskQueue:                taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.AttrCustomerID.ValueSet(app.CustomerID)),
		// Without this the client quietly returns the existing run.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            "Lifecycle of " + app.Name + " (" + app.CustomerID + ")",
	}
}

// Update runs a workflow update on the customer's lifecycle and waits for
// its result, decoded into result (a pointer). An arg with a Validate
// method is checked first, and nothing is sent when it fails. It is the
// untyped seam of contract.Updater: call it through contract.Run with one
// of the descriptors in package workflows.
func (o *Ops) Update(ctx context.Context, customerID, updateName string, arg, result any) error {
	if err := account.ValidateCustomerID(customerID); err != nil {
		return Invalid(err)
	}
	if v, ok := arg.(validator); ok {
		if err := v.Validate(); err != nil {
			return Invalid(err)
		}
	}
	ctx, cancel, limit := o.withTimeout(ctx)
	defer cancel()
	c, err := o.temporalClient(ctx)
	if err != nil {
		return err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(customerID),
		UpdateName:   updateName,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	return explain(customerID, updateName, limit, o.cfg.TaskQueue, err)
}

// Status runs the GetStatus query.
func (o *Ops) Status(ctx context.Context, customerID string) (account.StatusView, error) {
	var v account.StatusView
	if err := account.ValidateCustomerID(customerID); err != nil {
		return v, Invalid(err)
	}
	ctx, cancel, limit := o.withTimeout(ctx)
	defer cancel()
	c, err := o.temporalClient(ctx)
	if err != nil {
		return v, err
	}
	val, err := c.QueryWorkflow(ctx, workflows.WorkflowID(customerID), "", workflows.QueryGetStatus.Name)
	if err != nil {
		return v, explain(customerID, "status", limit, o.cfg.TaskQueue, err)
	}
	if v, err = workflows.QueryGetStatus.Decode(val); err != nil {
		return v, fmt.Errorf("status of %s: %w", customerID, err)
	}
	return v, nil
}

// dbError marks a database failure as unavailability: these reads fail
// only when PostgreSQL cannot answer (or the schema is not migrated).
func dbError(err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return err
	}
	var u *UnavailableError
	if errors.As(err, &u) {
		return err
	}
	return &UnavailableError{err}
}

// Emails lists the customer's outbox messages, oldest first. An empty
// list of a customer the database does not know is ErrNotFound.
func (o *Ops) Emails(ctx context.Context, customerID string) ([]store.OutboxMessage, error) {
	return read(ctx, o, customerID, (*store.Store).OutboxFor)
}

// Email returns one outbox message by its dunning key. With a customer ID,
// a message of another customer is not found.
func (o *Ops) Email(ctx context.Context, customerID, key string) (store.OutboxMessage, error) {
	if customerID != "" {
		if err := account.ValidateCustomerID(customerID); err != nil {
			return store.OutboxMessage{}, Invalid(err)
		}
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return store.OutboxMessage{}, err
	}
	m, err := st.OutboxMessageByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && customerID != "" && m.CustomerID.String != customerID) {
		return store.OutboxMessage{}, notFound("no email with key %q", key)
	}
	return m, dbError(err)
}

// Audit returns the customer's audit log, oldest first. An empty log of a
// customer the database does not know is ErrNotFound.
func (o *Ops) Audit(ctx context.Context, customerID string) ([]store.AuditEntry, error) {
	return read(ctx, o, customerID, (*store.Store).AuditOf)
}

// read runs one of the store's per-customer list queries. The rows are
// the store's (nil when there are none).
func read[T any](ctx context.Context, o *Ops, customerID string, query func(*store.Store, context.Context, string) ([]T, error)) ([]T, error) {
	if err := account.ValidateCustomerID(customerID); err != nil {
		return nil, Invalid(err)
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := waitRead(ctx, func() ([]T, error) { return query(st, ctx, customerID) })
	if err != nil {
		return nil, dbError(err)
	}
	if len(rows) == 0 {
		if _, err := waitRead(ctx, func() (store.Customer, error) { return st.CustomerByID(ctx, customerID) }); errors.Is(err, store.ErrNotFound) {
			return nil, notFound("unknown customer %q", customerID)
		}
	}
	return rows, nil
}

// waitRead runs a database read and gives up when ctx ends (see package
// bounded: lib/pq waits on a silent server until TCP gives up).
func waitRead[T any](ctx context.Context, read func() (T, error)) (T, error) {
	return bounded.Run(ctx, func(context.Context) (T, error) { return read() })
}

// Store returns the database, opening it if needed: for migrations and
// reports.
func (o *Ops) Store(ctx context.Context) (*store.Store, error) { return o.db(ctx) }

// Migrate applies the schema migrations (store.Migrate: a connection of
// their own, since one statement may run longer than the pool allows).
func (o *Ops) Migrate(ctx context.Context) (int64, error) {
	return store.Migrate(ctx, o.cfg.DatabaseURL)
}

// ParseTime reads the times staff type: RFC 3339, or a date (midnight UTC).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.Parse("2006-01-02", s); err != nil {
			return time.Time{}, fmt.Errorf("%q is not a time like 2026-03-01 or 2026-03-01T00:00:00Z", s)
		}
	}
	if y := t.Year(); y < account.MinYear || y > account.MaxYear {
		return time.Time{}, fmt.Errorf("%q is out of range: it must be between the years %d and %d", s, account.MinYear, account.MaxYear)
	}
	return t, nil
}
