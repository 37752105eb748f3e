package console

import (
	"context"
	"net/http"
	"time"

	"github.com/example/dunning/ops"
)

// WorkQueue gives the work queue page its items, sorted by Due; *ops.Ops
// implements it.
type WorkQueue interface {
	WorkQueue(ctx context.Context, now time.Time, horizon time.Duration) ([]ops.WorkItem, error)
}

type queueData struct {
	Items   []ops.WorkItem
	Horizon int // days
	Now     time.Time
}

// Overdue says whether an item's deadline has passed.
func (d queueData) Overdue(it ops.WorkItem) bool { return it.Due.Before(d.Now) }

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
