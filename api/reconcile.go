package api

import (
	"context"
	"net/http"

	"github.com/example/dunning/reconcile"
)

// Reconciler compares the workflows with PostgreSQL and repairs drift;
// *ops.Ops implements it over package reconcile.
type Reconciler interface {
	Reconcile(ctx context.Context, opts reconcile.Options) (reconcile.Report, error)
}

var errNoReconciler = &apiError{http.StatusServiceUnavailable, "unavailable", "reconciliation is not configured on this server"}

// ReconcileRequest is the body of POST /v1/reconcile; every field is
// optional.
type ReconcileRequest struct {
	CustomerID string `json:"customer_id,omitempty"` // only this customer
	Reason     string `json:"reason,omitempty"`      // the audit reason of repairs
}

// reconcileReport answers GET /v1/reconcile?customer_id=: the drift report,
// without repairing. Drift is the report's content: the status is 200.
func (s *server) reconcileReport(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "customer_id")
	if err != nil {
		return err
	}
	return s.reconcile(w, r, reconcile.Options{CustomerID: q.Get("customer_id")})
}

// reconcileRepair answers POST /v1/reconcile: the same check, then a
// resync of the customers whose drift a resync repairs (the token's name is
// the audit actor), then a check again.
func (s *server) reconcileRepair(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var req ReconcileRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	return s.reconcile(w, r, reconcile.Options{CustomerID: req.CustomerID, Repair: true, Actor: info(r).actor, Reason: req.Reason})
}

func (s *server) reconcile(w http.ResponseWriter, r *http.Request, o reconcile.Options) error {
	if s.reconciler == nil {
		return errNoReconciler
	}
	rep, err := s.reconciler.Reconcile(r.Context(), o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
