// Package stripefake is a local stand-in for the part of Stripe's REST API
// that the gateway adapter uses (customers, card payment methods,
// off-session PaymentIntents, Checkout Sessions), for tests and the demo on
// machines that cannot reach Stripe. It reads stripe-go's form-encoded
// requests, answers with Stripe's JSON shapes and error bodies, keeps
// idempotency keys as Stripe does, declines Stripe's test cards with their
// decline codes, sends signed webhooks, and can be told to fail.
package stripefake

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Server is the fake. Start it with NewServer; its URL is the adapter's
// API base.
type Server struct {
	APIKey string
	// DisputeDelay is how long after a pm_card_createDispute charge its
	// dispute opens.
	DisputeDelay time.Duration

	mu        sync.Mutex
	faults    []Fault
	sticky    *Fault
	changed   chan struct{} // closed when the sticky fault changes
	closing   chan struct{} // closed by Close: releases held requests
	requests  map[string]int
	keys      map[string]*keyRecord
	customers map[string]*Customer
	pms       map[string]*PaymentMethod
	pis       []*PaymentIntent // in creation order
	sessions  []*Session
	disputes  map[string]*Dispute
	scripts   map[string][]string
	softSeen  map[string]bool // customers that had pm_demo_soft_decline_once's decline
	charges   map[string]int  // bank charges by idempotency key
	hooks     webhooks
	http      *httptest.Server
}

// NewServer starts a fake on a free port of 127.0.0.1 that accepts apiKey.
func NewServer(apiKey string) *Server {
	s := &Server{
		APIKey: apiKey, DisputeDelay: 200 * time.Millisecond,
		changed: make(chan struct{}), closing: make(chan struct{}),
		requests: map[string]int{}, keys: map[string]*keyRecord{},
		customers: map[string]*Customer{}, pms: map[string]*PaymentMethod{},
		disputes: map[string]*Dispute{}, scripts: map[string][]string{},
		softSeen: map[string]bool{}, charges: map[string]int{},
	}
	s.hooks.init()
	s.http = httptest.NewServer(s)
	go s.deliverLoop()
	return s
}

// URL is the API base URL (and the host of the hosted pay pages).
func (s *Server) URL() string { return s.http.URL }

// Close stops the server and the webhook deliveries; held requests end.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	s.mu.Unlock()
	s.http.Close()
	<-s.hooks.stopped
}

// Requests counts the API requests received, failed or not, by
// "METHOD /path" (e.g. "POST /v1/payment_intents").
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyCounts(s.requests)
}

// ChargesFor counts the charges the bank was asked for under one
// idempotency key (declined or not): more than 1 is a double charge.
func (s *Server) ChargesFor(attemptKey string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges[attemptKey]
}

// PaymentIntents returns every PaymentIntent, oldest first.
func (s *Server) PaymentIntents() []PaymentIntent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PaymentIntent, len(s.pis))
	for i, pi := range s.pis {
		out[i] = *pi
	}
	return out
}

// Sessions returns every Checkout Session, oldest first.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, len(s.sessions))
	for i, cs := range s.sessions {
		out[i] = *cs
	}
	return out
}

// Customer returns a customer as stored.
func (s *Server) Customer(id string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[id]
	if !ok {
		return Customer{}, false
	}
	return *c, true
}

// ScriptCharges makes the next charges of a payment method (or of its
// copies, for a test payment method) go as given: decline codes such as
// InsufficientFunds, or ""/Succeed for a success; then as the card goes.
func (s *Server) ScriptCharges(paymentMethodID string, outcomes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[paymentMethodID] = append(s.scripts[paymentMethodID], outcomes...)
}

// ServeHTTP serves the API and the hosted pay pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, payPath) {
		s.servePayPage(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, APIError{Type: typeInvalidRequest, Message: "Invalid request body."})
		return
	}
	s.mu.Lock()
	s.requests[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, APIError{Type: typeInvalidRequest,
			Message: "Invalid API Key provided: " + redact(bearer(r))})
		return
	}
	fault, faulty, changed := s.nextFault(r.URL.Path)

	key := ""
	if r.Method == http.MethodPost {
		key = r.Header.Get("Idempotency-Key")
	}
	var rec *keyRecord
	if key != "" {
		var replay bool
		if rec, replay = s.claimKey(w, key, r); replay {
			return
		}
	}
	release := func() {
		if rec != nil {
			s.releaseKey(key)
		}
	}
	for fault.Hang {
		if !s.hang(r, changed) {
			release()
			return
		}
		fault, faulty, changed = s.currentSticky(r.URL.Path)
	}
	if fault.Delay > 0 && !s.wait(r, fault.Delay) {
		release()
		return
	}
	if faulty && fault.Status != 0 && !fault.ChargeThenFail {
		release()
		writeFault(w, fault)
		return
	}

	status, body := s.route(r)
	out, _ := json.Marshal(body)
	if rec != nil {
		s.finishKey(key, rec, status, out)
	}
	if fault.ChargeThenFail {
		if fault.Status == 0 {
			fault.Status = http.StatusInternalServerError
		}
		writeFault(w, fault)
		return
	}
	if fault.ChargeThenHold > 0 && !s.wait(r, fault.ChargeThenHold) {
		return
	}
	writeJSON(w, status, out, false)
}

func (s *Server) authorized(r *http.Request) bool {
	if key := bearer(r); key != "" {
		return key == s.APIKey
	}
	user, _, ok := r.BasicAuth()
	return ok && user == s.APIKey
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(h, "Bearer "); ok {
		return k
	}
	if k, ok := strings.CutPrefix(h, "Basic "); ok {
		b, _ := base64.StdEncoding.DecodeString(k)
		user, _, _ := strings.Cut(string(b), ":")
		return user
	}
	return ""
}

// redact shows a key as Stripe does in its 401 message: its end only.
func redact(key string) string {
	if len(key) <= 4 {
		return "****"
	}
	return "****" + key[len(key)-4:]
}

// wait holds a request for d; false when the client gave up first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

// Error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeCard           = "card_error"
	typeAPI            = "api_error"
	typeIdempotency    = "idempotency_error"
)

func writeError(w http.ResponseWriter, status int, e APIError) {
	out, _ := json.Marshal(map[string]APIError{"error": e})
	writeJSON(w, status, out, false)
}

func writeJSON(w http.ResponseWriter, status int, body []byte, replayed bool) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", newID("req"))
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorBody(status int, e APIError) (int, any) {
	return status, map[string]APIError{"error": e}
}

func notFound(kind, id, param string) (int, any) {
	return errorBody(http.StatusNotFound, APIError{Type: typeInvalidRequest, Code: "resource_missing", Param: param,
		Message: "No such " + kind + ": '" + id + "'"})
}

func badParam(param, msg string) (int, any) {
	return errorBody(http.StatusBadRequest, APIError{Type: typeInvalidRequest, Code: "parameter_invalid", Param: param, Message: msg})
}

// metadata reads a form's metadata[...] (or prefix[metadata][...]) fields.
func metadata(form url.Values, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, prefix+"["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
			out[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	return out
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
