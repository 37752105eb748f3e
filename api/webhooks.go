package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/example/dunning/ops"
	"github.com/example/dunning/store"
)

// Outbound manages the integrators' webhook endpoints; *ops.Ops implements
// it.
type Outbound interface {
	AddWebhook(ctx context.Context, req ops.NewWebhook) (ops.RegisteredWebhook, error)
	Webhooks(ctx context.Context) ([]store.Endpoint, error)
	WebhookDeliveries(ctx context.Context, f ops.DeliveryFilter) ([]store.Delivery, error)
	ReplayDelivery(ctx context.Context, deliveryID int64) (store.Delivery, error)
	ReplayFailed(ctx context.Context, endpointID string) (int, error)
	SetWebhookActive(ctx context.Context, endpointID string, active bool) (store.Endpoint, error)
}

var errNoOutbound = &apiError{http.StatusServiceUnavailable, "unavailable", "outbound webhooks are not configured on this server"}

// addWebhook answers POST /v1/webhooks: the endpoint with its signing
// secret, which no later answer shows. The token's name is its creator.
func (s *server) addWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.outbound == nil {
		return errNoOutbound
	}
	var req ops.NewWebhook
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	req.Actor = info(r).actor
	reg, err := s.outbound.AddWebhook(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/webhooks/"+reg.ID)
	writeJSON(w, http.StatusCreated, reg)
	return nil
}

func (s *server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	if s.outbound == nil {
		return errNoOutbound
	}
	if _, err := query(r); err != nil {
		return err
	}
	eps, err := s.outbound.Webhooks(r.Context())
	if err != nil {
		return err
	}
	if eps == nil {
		eps = []store.Endpoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": eps})
	return nil
}

// webhookDeliveries answers GET /v1/webhooks/{endpoint_id}/deliveries?status=&customer_id=&limit=.
func (s *server) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	if s.outbound == nil {
		return errNoOutbound
	}
	q, err := query(r, "status", "customer_id", "limit")
	if err != nil {
		return err
	}
	f := ops.DeliveryFilter{EndpointID: r.PathValue("endpoint_id"), Status: q.Get("status"), CustomerID: q.Get("customer_id")}
	if f.Limit, err = intParam(q, "limit"); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return invalid(err)
	}
	ds, err := s.outbound.WebhookDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []store.Delivery{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
	return nil
}

// replayDelivery answers POST /v1/webhook-deliveries/{delivery_id}/replay.
func (s *server) replayDelivery(w http.ResponseWriter, r *http.Request) error {
	if s.outbound == nil {
		return errNoOutbound
	}
	if _, err := query(r); err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("delivery_id"), 10, 64)
	if err != nil || id <= 0 {
		return invalid(fmt.Errorf("delivery %q is not a delivery ID (a positive number)", r.PathValue("delivery_id")))
	}
	d, err := s.outbound.ReplayDelivery(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// replayFailed answers POST /v1/webhooks/{endpoint_id}/replay-failed.
func (s *server) replayFailed(w http.ResponseWriter, r *http.Request) error {
	if s.outbound == nil {
		return errNoOutbound
	}
	if _, err := query(r); err != nil {
		return err
	}
	f := ops.DeliveryFilter{EndpointID: r.PathValue("endpoint_id")}
	if err := f.Validate(); err != nil {
		return invalid(err)
	}
	n, err := s.outbound.ReplayFailed(r.Context(), f.EndpointID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
	return nil
}

// setWebhookActive answers POST /v1/webhooks/{endpoint_id}/disable and
// /enable.
func (s *server) setWebhookActive(active bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.outbound == nil {
			return errNoOutbound
		}
		if _, err := query(r); err != nil {
			return err
		}
		f := ops.DeliveryFilter{EndpointID: r.PathValue("endpoint_id")}
		if err := f.Validate(); err != nil {
			return invalid(err)
		}
		e, err := s.outbound.SetWebhookActive(r.Context(), f.EndpointID, active)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, e)
		return nil
	}
}
