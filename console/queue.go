package console

import (
	"context"
	"net/http"
	"time"
)

// WorkItemKind and WorkItem mirror what ops.WorkQueue returns (being
// built on main); they become aliases of the ops types once it lands.
type WorkItemKind string

// The kinds of work.
const (
	WorkReview             WorkItemKind = "review"
	WorkProviderNotice     WorkItemKind = "provider_notice"
	WorkPromiseDue         WorkItemKind = "promise_due"
	WorkEmailFailed        WorkItemKind = "email_failed"
	WorkProvisioningFailed WorkItemKind = "provisioning_failed"
	WorkSuspensionSoon     WorkItemKind = "suspension_soon"
)

// WorkItem is one thing staff should look at, by its deadline.
type WorkItem struct {
	Kind       WorkItemKind
	CustomerID string
	Due        time.Time
	InvoiceID  string
	Ref        string
	Detail     string
}

// WorkQueue gives the work queue page its items, sorted by Due; *ops.Ops
// implements it.
type WorkQueue interface {
	WorkQueue(ctx context.Context, now time.Time, horizon time.Duration) ([]WorkItem, error)
}

type queueData struct {
	Items   []WorkItem
	Horizon int // days
	Now     time.Time
}

// Overdue says whether an item's deadline has passed.
func (d queueData) Overdue(it WorkItem) bool { return it.Due.Before(d.Now) }

func (s *server) queue(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	v := s.view(r, rc, "queue.title")
	v.Nav = "queue"
	now := s.Now()
	d := queueData{Horizon: int(s.QueueHorizon / (24 * time.Hour)), Now: now}
	v.Data = d
	if s.Queue == nil {
		v.Error = rc.lang.T("queue.unavailable")
		s.render(w, http.StatusServiceUnavailable, "queue.html", v)
		return nil
	}
	items, err := s.Queue.WorkQueue(r.Context(), now, s.QueueHorizon)
	if err != nil {
		return err
	}
	d.Items = items
	v.Data = d
	s.render(w, http.StatusOK, "queue.html", v)
	return nil
}
