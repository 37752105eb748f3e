package faults

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/example/dunning/webhooks"
)

// Receiver is a fake integrator's endpoint for the outbound webhooks. It
// checks every delivery's signature with webhooks.Verify (a bad one is
// answered 400, as a real receiver would) and answers as told: the next
// scripted answer if any, else the current one. Its URL is http:// on
// loopback (DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK).
type Receiver struct {
	mu       sync.Mutex
	secret   string
	answer   Answer
	script   []Answer
	changed  chan struct{}
	received []Received
	arrivals int
	http     *httptest.Server
}

// Received is one delivery the receiver got, with how it answered.
type Received struct {
	EventID     string         // the Dunning-Event-Id header
	Event       webhooks.Event // the body, decoded
	Body        []byte
	SignatureOK bool
	SigError    string
	At          time.Time
	Answer      string // "ok", "hang", "late ok", a status text, "bad signature"
	Status      int    // the status written; 0 when the caller gave up first
}

// NewReceiver starts a receiver that answers 200 to correctly signed
// deliveries. Set the endpoint's secret with SetSecret once registered.
func NewReceiver() *Receiver {
	r := &Receiver{changed: make(chan struct{})}
	r.http = httptest.NewServer(r)
	return r
}

// URL is the endpoint's address.
func (r *Receiver) URL() string { return r.http.URL + "/hooks/dunning" }

// Close releases held requests and stops the server.
func (r *Receiver) Close() {
	r.SetAnswer(OK)
	r.http.CloseClientConnections()
	r.http.Close()
}

// SetSecret sets the signing secret deliveries are checked with.
func (r *Receiver) SetSecret(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = secret
}

// SetAnswer sets the answer once the script is used up (and releases
// hanging requests to look again).
func (r *Receiver) SetAnswer(a Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = a
	close(r.changed)
	r.changed = make(chan struct{})
}

// Script queues answers for the next deliveries, one each, before the
// current answer applies again.
func (r *Receiver) Script(answers ...Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, answers...)
}

func (r *Receiver) next() (Answer, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.script) > 0 {
		a := r.script[0]
		r.script = r.script[1:]
		return a, r.secret
	}
	return r.answer, r.secret
}

func (r *Receiver) current() (Answer, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answer, r.changed
}

// ServeHTTP takes one delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	got := Received{EventID: req.Header.Get(webhooks.EventIDHeader), Body: body, At: time.Now()}
	_ = json.Unmarshal(body, &got.Event)
	r.mu.Lock()
	r.arrivals++
	r.mu.Unlock()
	a, secret := r.next()
	if err := webhooks.Verify(secret, req.Header.Get(webhooks.SignatureHeader), body, webhooks.DefaultTolerance, time.Now()); err != nil {
		got.SigError = err.Error()
		r.record(got, "bad signature", http.StatusBadRequest)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	got.SignatureOK = true
	for a.Hang { // until the caller gives up, or SetAnswer says otherwise
		_, changed := r.current()
		select {
		case <-changed:
			a, _ = r.current()
		case <-req.Context().Done():
			r.record(got, "hang", 0)
			return
		}
	}
	if a.Late > 0 {
		select {
		case <-time.After(a.Late):
		case <-req.Context().Done():
			r.record(got, a.String(), 0)
			return
		}
	}
	if a.Status != 0 {
		if a.Status == http.StatusTooManyRequests || a.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		r.record(got, a.String(), a.Status)
		http.Error(w, "injected fault "+strconv.Itoa(a.Status), a.Status)
		return
	}
	r.record(got, a.String(), http.StatusOK)
	w.WriteHeader(http.StatusOK)
}

func (r *Receiver) record(got Received, answer string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got.Answer, got.Status = answer, status
	r.received = append(r.received, got)
}

// Arrivals counts the requests that arrived, answered or not yet.
func (r *Receiver) Arrivals() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrivals
}

// Received returns every delivery, in the order they arrived.
func (r *Receiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.received...)
}

// Accepted returns the events answered 200, each once (by event ID), in
// the order first accepted: what an integrator de-duplicating would keep.
func (r *Receiver) Accepted() []webhooks.Event {
	seen := map[string]bool{}
	var out []webhooks.Event
	for _, g := range r.Received() {
		if g.Status == http.StatusOK && !seen[g.EventID] {
			seen[g.EventID] = true
			out = append(out, g.Event)
		}
	}
	return out
}
