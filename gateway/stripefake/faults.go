package stripefake

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is an injected failure for the next request (Inject) or for every
// request (SetFault), optionally only for paths under a prefix.
type Fault struct {
	// Path limits the fault to requests whose path starts with it, e.g.
	// "/v1/payment_intents"; other requests pass it by.
	Path string
	// Status answers with this HTTP status and Stripe's error body,
	// without executing the request (429: rate_limit, 5xx: api_error).
	Status     int
	Code       string        // the body's error code; a default by status
	Message    string        // the body's message; a default by status
	RetryAfter time.Duration // sends a Retry-After header (whole seconds)
	// Delay answers this late; with Status 0 the request then succeeds.
	// An idempotency key is "in use" meanwhile (409 for a second request).
	Delay time.Duration
	// Hang holds the request unanswered until the client gives up, or the
	// SetFault fault is cleared or changed (then it is served afresh).
	Hang bool
	// ChargeThenFail executes the request (the PaymentIntent is charged and
	// stored under its idempotency key) and then answers Status (500 if 0):
	// a charge whose answer got lost.
	ChargeThenFail bool
	// ChargeThenHold executes the request and then holds the answer this
	// long (or until the client gives up): the window in which to kill a
	// worker between the charge and its record of it.
	ChargeThenHold time.Duration
}

func (f Fault) applies(path string) bool { return f.Path == "" || strings.HasPrefix(path, f.Path) }

// Inject queues faults; each is used by one matching request, in order.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// SetFault makes every matching request fail with f until ClearFault (or
// another SetFault). Queued faults from Inject come first.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sticky = &f
	close(s.changed)
	s.changed = make(chan struct{})
}

// ClearFault ends SetFault's fault and releases requests held by Hang.
func (s *Server) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sticky = nil
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) nextFault(path string) (Fault, bool, chan struct{}) {
	s.mu.Lock()
	for i, f := range s.faults {
		if f.applies(path) {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			s.mu.Unlock()
			return f, true, s.changedChan()
		}
	}
	s.mu.Unlock()
	return s.currentSticky(path)
}

func (s *Server) changedChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Server) currentSticky(path string) (Fault, bool, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sticky != nil && s.sticky.applies(path) {
		return *s.sticky, true, s.changed
	}
	return Fault{}, false, s.changed
}

// hang holds a request until the client gives up (false) or the sticky
// fault changes (true: serve it afresh).
func (s *Server) hang(r *http.Request, changed chan struct{}) bool {
	select {
	case <-changed:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

func writeFault(w http.ResponseWriter, f Fault) {
	e := APIError{Type: typeAPI, Code: f.Code, Message: f.Message}
	switch {
	case f.Status == http.StatusTooManyRequests:
		e.Type = typeInvalidRequest
		if e.Code == "" {
			e.Code = "rate_limit"
		}
		if e.Message == "" {
			e.Message = "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
		}
	case f.Status < 500:
		e.Type = typeInvalidRequest
	}
	if e.Message == "" {
		e.Message = http.StatusText(f.Status)
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Round(time.Second)/time.Second)))
	}
	writeError(w, f.Status, e)
}
