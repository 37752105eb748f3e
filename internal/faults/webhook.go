package faults

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"time"
)

// Answer is how the fake provisioning webhook answers: OK applies the
// request; a status answers it without applying; Hang holds the request
// unanswered until the caller gives up or the answer changes.
type Answer struct {
	Status int  // 0: 200 and apply; otherwise this status, nothing applied
	Hang   bool // hold the request open
	// Late holds the request this long before answering as above (the
	// outbound webhook receiver; the caller may give up first).
	Late time.Duration
}

// OK is the normal answer.
var OK = Answer{}

func (a Answer) String() string {
	switch {
	case a.Hang:
		return "hang"
	case a.Late > 0:
		return "late " + Answer{Status: a.Status}.String()
	case a.Status == 0:
		return "ok"
	}
	return http.StatusText(a.Status)
}

// ProvisionRequest is what the worker's webhook provisioner POSTs (see
// activities.ProvisionInput), with the Idempotency-Key header beside it.
type ProvisionRequest struct {
	CustomerID     string    `json:"customer_id"`
	Action         string    `json:"action"`
	Reason         string    `json:"reason"`
	Key            string    `json:"key"`
	At             time.Time `json:"at"`
	IdempotencyKey string    `json:"-"`
}

// Served is one request with the answer it got.
type Served struct {
	ProvisionRequest
	Received time.Time
	Answer   string // "applied", "duplicate", "hang", "bad request" or the status text
	Status   int    // the HTTP status written, 0 when the caller gave up first
}

// Subscription is the state the fake has applied for one customer, as the
// store's subscriptions table would hold it.
type Subscription struct {
	Status  string // active, suspended, terminated
	Access  string // limited, full, none
	Actions []string
	LastKey string
	LastAt  time.Time
	// OutOfOrder counts requests applied after one with a later event time.
	OutOfOrder int
}

// Provisioning is a fake provisioning webhook. Its URL goes in
// DUNNING_PROVISIONING_URL.
type Provisioning struct {
	mu        sync.Mutex
	answer    Answer
	customers map[string]Answer // overrides by customer
	changed   chan struct{}     // closed when an answer changes (releases hangs)
	served    []Served
	applied   map[string]*Subscription
	keys      map[string]bool
	http      *httptest.Server
}

// NewProvisioning starts the fake on a free local port.
func NewProvisioning() *Provisioning {
	p := &Provisioning{customers: map[string]Answer{}, changed: make(chan struct{}), applied: map[string]*Subscription{}, keys: map[string]bool{}}
	p.http = httptest.NewServer(p)
	return p
}

// URL is the webhook's address.
func (p *Provisioning) URL() string { return p.http.URL }

// Close releases held requests and stops the server.
func (p *Provisioning) Close() {
	p.SetAnswer(OK)
	p.ClearCustomerAnswers()
	p.http.CloseClientConnections()
	p.http.Close()
}

// SetAnswer sets the answer for every customer without an override.
func (p *Provisioning) SetAnswer(a Answer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = a
	p.notifyLocked()
}

// SetCustomerAnswer overrides the answer for one customer.
func (p *Provisioning) SetCustomerAnswer(customerID string, a Answer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.customers[customerID] = a
	p.notifyLocked()
}

// ClearCustomerAnswers removes every override.
func (p *Provisioning) ClearCustomerAnswers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.customers = map[string]Answer{}
	p.notifyLocked()
}

func (p *Provisioning) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Provisioning) answerFor(customerID string) (Answer, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.customers[customerID]; ok {
		return a, p.changed
	}
	return p.answer, p.changed
}

// ServeHTTP takes one provisioning request.
func (p *Provisioning) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var req ProvisionRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	req.IdempotencyKey = r.Header.Get("Idempotency-Key")
	if err != nil || r.Method != http.MethodPost || req.CustomerID == "" || req.IdempotencyKey == "" || stateOf(req.Action) == "" {
		p.record(req, "bad request", http.StatusBadRequest)
		http.Error(w, "bad provisioning request", http.StatusBadRequest)
		return
	}
	for {
		a, changed := p.answerFor(req.CustomerID)
		if !a.Hang {
			if a.Status != 0 {
				p.record(req, http.StatusText(a.Status), a.Status)
				http.Error(w, "injected fault", a.Status)
				return
			}
			break
		}
		select {
		case <-changed: // the answer changed: look again
		case <-r.Context().Done():
			p.record(req, "hang", 0)
			return
		}
	}
	outcome := p.apply(req)
	p.record(req, outcome, http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"result":"`+outcome+`"}`)
}

func (p *Provisioning) record(req ProvisionRequest, answer string, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.served = append(p.served, Served{ProvisionRequest: req, Received: time.Now(), Answer: answer, Status: status})
}

// stateOf maps an action to the subscription status it leaves, as
// store.ApplyProvision does.
func stateOf(action string) string {
	switch action {
	case "activate", "grant_full_access", "reinstate":
		return "active"
	case "suspend":
		return "suspended"
	case "terminate":
		return "terminated"
	}
	return ""
}

// apply changes the customer's subscription once per idempotency key.
func (p *Provisioning) apply(req ProvisionRequest) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys[req.IdempotencyKey] {
		return "duplicate"
	}
	p.keys[req.IdempotencyKey] = true
	s := p.applied[req.CustomerID]
	if s == nil {
		s = &Subscription{Access: "limited"}
		p.applied[req.CustomerID] = s
	}
	if !s.LastAt.IsZero() && req.At.Before(s.LastAt) {
		s.OutOfOrder++
	}
	s.Status = stateOf(req.Action)
	switch req.Action {
	case "activate":
		s.Access = "limited"
	case "grant_full_access":
		s.Access = "full"
	case "terminate":
		s.Access = "none"
	}
	s.Actions = append(s.Actions, req.Action)
	s.LastKey, s.LastAt = req.IdempotencyKey, req.At
	return "applied"
}

// Applied returns the customer's subscription as applied, and whether any
// request was ever applied for it.
func (p *Provisioning) Applied(customerID string) (Subscription, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.applied[customerID]
	if !ok {
		return Subscription{}, false
	}
	out := *s
	out.Actions = append([]string(nil), s.Actions...)
	return out, true
}

// Served returns every request received, in order.
func (p *Provisioning) Served() []Served {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Served(nil), p.served...)
}

// Counts returns how many requests got each answer.
func (p *Provisioning) Counts() map[string]int {
	out := map[string]int{}
	for _, s := range p.Served() {
		out[s.Answer]++
	}
	return out
}

// Refused returns the customers that got a 4xx answer other than 408 and
// 429, sorted: those the worker does not retry.
func (p *Provisioning) Refused() []string {
	seen := map[string]bool{}
	for _, s := range p.Served() {
		if s.Status >= 400 && s.Status < 500 && s.Status != http.StatusRequestTimeout && s.Status != http.StatusTooManyRequests {
			seen[s.CustomerID] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
