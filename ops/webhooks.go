package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/dunning/account"
	"github.com/example/dunning/store"
	"github.com/example/dunning/webhooks"
)

// NewWebhook is a request to register an endpoint.
type NewWebhook struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"` // public event types, or ["*"] for all
	Description string   `json:"description,omitempty"`
	Actor       string   `json:"-"` // who registers it: the CLI's --actor, the API token's name
}

// RegisteredWebhook is a new endpoint with its signing secret, which is
// shown this once and never again.
type RegisteredWebhook struct {
	store.Endpoint
	Secret string `json:"secret"`
}

// Validate checks the request (allowHTTPLoopback: the
// DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK setting) and returns its event types.
func (req NewWebhook) Validate(allowHTTPLoopback bool) ([]webhooks.EventType, error) {
	if err := webhooks.ValidateURL(req.URL, allowHTTPLoopback); err != nil {
		return nil, err
	}
	types, err := webhooks.ParseTypes(strings.Join(req.EventTypes, ","))
	if err != nil {
		return nil, fmt.Errorf("event_types: %w", err)
	}
	if err := webhooks.ValidateDescription(req.Description); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Actor) == "" || utf8.RuneCountInString(req.Actor) > account.MaxActorRunes || account.TextProblem(req.Actor, false) != "" {
		return nil, fmt.Errorf("actor is required (who registers the endpoint, at most %d characters of plain text)", account.MaxActorRunes)
	}
	return types, nil
}

// MaxDeliveryPage bounds one page of deliveries.
const MaxDeliveryPage = 1000

// AddWebhook checks and registers an endpoint and makes its secret. It
// receives every later event of the types it takes.
func (o *Ops) AddWebhook(ctx context.Context, req NewWebhook) (RegisteredWebhook, error) {
	types, err := req.Validate(o.cfg.WebhookAllowHTTPLoopback)
	if err != nil {
		return RegisteredWebhook{}, Invalid(err)
	}
	id, err := webhooks.NewEndpointID()
	if err != nil {
		return RegisteredWebhook{}, err
	}
	secret, err := webhooks.NewSecret()
	if err != nil {
		return RegisteredWebhook{}, err
	}
	names := make([]string, 0, len(types))
	for _, t := range types {
		names = append(names, string(t))
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return RegisteredWebhook{}, err
	}
	e, err := st.CreateEndpoint(ctx, store.Endpoint{ID: id, URL: req.URL, Secret: secret, EventTypes: names,
		Description: req.Description, CreatedBy: req.Actor})
	if err != nil {
		return RegisteredWebhook{}, dbError(err)
	}
	return RegisteredWebhook{Endpoint: e, Secret: secret}, nil
}

// Webhooks lists the registered endpoints (without their secrets).
func (o *Ops) Webhooks(ctx context.Context) ([]store.Endpoint, error) {
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	out, err := st.Endpoints(ctx)
	return out, dbError(err)
}

// SetWebhookActive disables an endpoint (no new events; its pending
// deliveries wait) or enables it again (they resume, in order).
func (o *Ops) SetWebhookActive(ctx context.Context, endpointID string, active bool) (store.Endpoint, error) {
	if err := webhooks.ValidateEndpointID(endpointID); err != nil {
		return store.Endpoint{}, Invalid(err)
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return store.Endpoint{}, err
	}
	e, err := st.SetEndpointActive(ctx, endpointID, active)
	if errors.Is(err, store.ErrNotFound) {
		return store.Endpoint{}, notFound("unknown webhook endpoint %s", endpointID)
	}
	return e, dbError(err)
}

// DeliveryFilter selects deliveries for WebhookDeliveries.
type DeliveryFilter struct {
	EndpointID string // empty: every endpoint
	Status     string // pending, delivered, failed, cancelled; empty: all
	CustomerID string // empty: every customer
	Limit      int    // newest first; default 100, at most MaxDeliveryPage
}

// Validate checks the filter.
func (f DeliveryFilter) Validate() error {
	if f.EndpointID != "" {
		if err := webhooks.ValidateEndpointID(f.EndpointID); err != nil {
			return err
		}
	}
	if f.Status != "" && !slices.Contains(store.DeliveryStatuses(), store.DeliveryStatus(f.Status)) {
		return fmt.Errorf("status %q must be pending, delivered, failed or cancelled", f.Status)
	}
	if f.CustomerID != "" {
		if err := account.ValidateCustomerID(f.CustomerID); err != nil {
			return err
		}
	}
	if f.Limit < 0 || f.Limit > MaxDeliveryPage {
		return fmt.Errorf("limit %d must be between 1 and %d", f.Limit, MaxDeliveryPage)
	}
	return nil
}

// WebhookDeliveries lists deliveries, newest first. An endpoint that does
// not exist is ErrNotFound.
func (o *Ops) WebhookDeliveries(ctx context.Context, f DeliveryFilter) ([]store.Delivery, error) {
	if err := f.Validate(); err != nil {
		return nil, Invalid(err)
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	if f.EndpointID != "" {
		if err := o.endpointExists(ctx, st, f.EndpointID); err != nil {
			return nil, err
		}
	}
	out, err := st.Deliveries(ctx, store.DeliveryFilter{EndpointID: f.EndpointID, Status: store.DeliveryStatus(f.Status),
		CustomerID: f.CustomerID, Limit: f.Limit})
	return out, dbError(err)
}

// WebhookAttempts is a delivery's log of attempts, oldest first.
func (o *Ops) WebhookAttempts(ctx context.Context, deliveryID int64) ([]store.Attempt, error) {
	if deliveryID <= 0 {
		return nil, Invalid(fmt.Errorf("delivery %d is not a delivery ID (a positive number)", deliveryID))
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	out, err := st.AttemptsOf(ctx, deliveryID)
	return out, dbError(err)
}

// ReplayDelivery sends a delivery again, now, with a fresh retry schedule
// (the same event ID: receivers that saw it may drop it).
func (o *Ops) ReplayDelivery(ctx context.Context, deliveryID int64) (store.Delivery, error) {
	if deliveryID <= 0 {
		return store.Delivery{}, Invalid(fmt.Errorf("delivery %d is not a delivery ID (a positive number)", deliveryID))
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return store.Delivery{}, err
	}
	d, err := st.ReplayDelivery(ctx, deliveryID, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Delivery{}, notFound("unknown webhook delivery %d", deliveryID)
	}
	return d, dbError(err)
}

// ReplayFailed sends every failed delivery to the endpoint again and says
// how many.
func (o *Ops) ReplayFailed(ctx context.Context, endpointID string) (int, error) {
	if err := webhooks.ValidateEndpointID(endpointID); err != nil {
		return 0, Invalid(err)
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return 0, err
	}
	if err := o.endpointExists(ctx, st, endpointID); err != nil {
		return 0, err
	}
	n, err := st.ReplayFailed(ctx, endpointID, time.Now())
	return n, dbError(err)
}

func (o *Ops) endpointExists(ctx context.Context, st *store.Store, id string) error {
	_, err := st.EndpointByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("unknown webhook endpoint %s", id)
	}
	return dbError(err)
}
