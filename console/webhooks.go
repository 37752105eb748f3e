package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/example/dunning/ops"
	"github.com/example/dunning/store"
)

// Outbound is what the webhooks page needs of the operations layer;
// *ops.Ops implements it.
type Outbound interface {
	Webhooks(ctx context.Context) ([]store.Endpoint, error)
	WebhookDeliveries(ctx context.Context, f ops.DeliveryFilter) ([]store.Delivery, error)
	ReplayDelivery(ctx context.Context, deliveryID int64) (store.Delivery, error)
	ReplayFailed(ctx context.Context, endpointID string) (int, error)
}

// webhookPage is how many deliveries the page lists.
const webhookPage = 50

type webhooksData struct {
	Endpoints  []store.Endpoint
	Deliveries []store.Delivery
	Statuses   []store.DeliveryStatus
	Endpoint   string // the filter's endpoint
	Status     string // the filter's status
}

// Replayable says whether staff may send a delivery again: one that
// failed, or one delivered that the receiver lost.
func (webhooksData) Replayable(d store.Delivery) bool {
	return d.Status == store.DeliveryFailed || d.Status == store.DeliveryDelivered
}

// LastStatus is the receiver's last HTTP status, 0 for none.
func (webhooksData) LastStatus(d store.Delivery) int64 {
	if d.LastStatus == nil {
		return 0
	}
	return *d.LastStatus
}

// DeliveredAt is when the delivery succeeded, zero if it has not.
func (webhooksData) DeliveredAt(d store.Delivery) time.Time {
	if d.DeliveredAt == nil {
		return time.Time{}
	}
	return *d.DeliveredAt
}

// webhooks lists the integrators' endpoints and the newest deliveries,
// filtered by endpoint and status, failed ones first by default.
func (s *server) webhooks(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	v := s.view(r, rc, "webhooks.title")
	v.Nav = "webhooks"
	q := r.URL.Query()
	d := webhooksData{Statuses: store.DeliveryStatuses(), Endpoint: q.Get("endpoint"), Status: q.Get("status")}
	if !q.Has("status") {
		d.Status = string(store.DeliveryFailed)
	}
	v.Data = &d
	if s.Outbound == nil {
		v.Error = rc.lang.T("webhooks.unavailable")
		s.render(w, http.StatusServiceUnavailable, "webhooks.html", v)
		return nil
	}
	deliveries, err := s.Outbound.WebhookDeliveries(r.Context(), ops.DeliveryFilter{EndpointID: d.Endpoint, Status: d.Status, Limit: webhookPage})
	if err != nil {
		return err
	}
	endpoints, err := s.Outbound.Webhooks(r.Context())
	if err != nil {
		return err
	}
	d.Endpoints, d.Deliveries = endpoints, deliveries
	switch q.Get("done") {
	case "replayed":
		v.Flash = rc.lang.T("webhooks.replayed")
	case "replayed_failed":
		v.Flash = fmt.Sprintf(rc.lang.T("webhooks.replayed_failed"), q.Get("n"))
	}
	s.render(w, http.StatusOK, "webhooks.html", v)
	return nil
}

// replayDelivery sends one delivery again and comes back to the list.
func (s *server) replayDelivery(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if s.Outbound == nil {
		return &pageError{http.StatusServiceUnavailable, "webhooks.unavailable", ""}
	}
	id, err := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if err != nil {
		return &pageError{http.StatusBadRequest, "error.invalid", fmt.Sprintf("delivery %q is not a delivery ID (a positive number)", r.PathValue("delivery"))}
	}
	if _, err := s.Outbound.ReplayDelivery(r.Context(), id); err != nil {
		return err
	}
	s.Logger.Info("console: webhook delivery replayed", "actor", rc.sess.Actor, "delivery", id)
	http.Redirect(w, r, Prefix+"webhooks?status=pending&done=replayed", http.StatusSeeOther)
	return nil
}

// replayFailed sends every failed delivery to an endpoint again.
func (s *server) replayFailed(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if s.Outbound == nil {
		return &pageError{http.StatusServiceUnavailable, "webhooks.unavailable", ""}
	}
	endpoint := r.PathValue("endpoint")
	n, err := s.Outbound.ReplayFailed(r.Context(), endpoint)
	if err != nil {
		return err
	}
	s.Logger.Info("console: failed webhook deliveries replayed", "actor", rc.sess.Actor, "endpoint", endpoint, "count", n)
	q := url.Values{"endpoint": {endpoint}, "status": {string(store.DeliveryPending)}, "done": {"replayed_failed"}, "n": {strconv.Itoa(n)}}
	http.Redirect(w, r, Prefix+"webhooks?"+q.Encode(), http.StatusSeeOther)
	return nil
}
