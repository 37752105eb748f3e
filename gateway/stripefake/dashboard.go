package stripefake

import (
	"fmt"
	"time"
)

// What the customer or the bank does outside the API: each sends the
// webhook Stripe would.

// AttachFromDashboard attaches a payment method to a customer as if done in
// the Dashboard (or by the customer in a portal): payment_method.attached
// is sent. It returns the attached payment method's ID (a copy's, for a
// test payment method).
func (s *Server) AttachFromDashboard(customerID, paymentMethodID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pm, status, _ := s.attachLocked(paymentMethodID, customerID)
	if pm == nil {
		return "", fmt.Errorf("stripefake: cannot attach %s to %s (%d)", paymentMethodID, customerID, status)
	}
	return pm.ID, nil
}

// CreateDispute opens a chargeback on a succeeded PaymentIntent
// (charge.dispute.created, status needs_response) and returns its ID, or
// "" if there is no such charge.
func (s *Server) CreateDispute(paymentIntentID, reason string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi := s.findPI(paymentIntentID)
	if pi == nil || pi.Status != "succeeded" || pi.LatestCharge == nil {
		return ""
	}
	dp := &Dispute{ID: newID("dp"), Object: "dispute", Amount: pi.AmountReceived, Currency: pi.Currency,
		Reason: reason, Status: "needs_response", PaymentIntent: pi.ID, Charge: *pi.LatestCharge,
		Created: time.Now().Unix(), Metadata: map[string]string{}}
	s.disputes[dp.ID] = dp
	s.emitLocked("charge.dispute.created", *dp)
	return dp.ID
}

// CloseDispute ends a dispute, won or lost (charge.dispute.closed).
func (s *Server) CloseDispute(disputeID string, won bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dp, ok := s.disputes[disputeID]
	if !ok {
		return fmt.Errorf("stripefake: no dispute %s", disputeID)
	}
	dp.Status = "lost"
	if won {
		dp.Status = "won"
	}
	s.emitLocked("charge.dispute.closed", *dp)
	return nil
}

// Disputes returns the disputes by ID.
func (s *Server) Disputes() map[string]Dispute {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Dispute, len(s.disputes))
	for id, dp := range s.disputes {
		out[id] = *dp
	}
	return out
}
