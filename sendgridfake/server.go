// Package sendgridfake is a local stand-in for SendGrid's v3 mail send API,
// for tests and demos on machines that cannot reach SendGrid. It checks the
// API key and the request body against SendGrid's documented rules, answers
// with SendGrid's status codes, headers and error bodies, and can be told to
// fail: rate limits (429 with a reset time), server errors, refusals and
// slow answers.
package sendgridfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// MaxBody is SendGrid's limit on a mail send request (30 MB).
const MaxBody = 30 << 20

// Fault is an injected failure for the next requests.
type Fault struct {
	Status     int           // HTTP status to answer, e.g. 429, 500, 400
	Body       string        // error message (SendGrid's JSON error body is built from it)
	ResetAfter time.Duration // for 429: X-RateLimit-Reset is now plus this
	Delay      time.Duration // answer this late (a slow server); with Status 0 the request then succeeds
	// AcceptThenFail stores the message (as SendGrid would) and then answers
	// with Status: a send that worked but whose answer got lost.
	AcceptThenFail bool
	// Hold stores the message and then waits this long before answering 202:
	// a window in which to kill the sender between SendGrid's acceptance
	// and the sender's record of it.
	Hold time.Duration
	// Hang holds the request without reading it or answering until the
	// sender gives up, or until the fault set with SetFault is cleared or
	// changed (then the request is served normally). Nothing is stored.
	Hang bool
}

// Message is one accepted request, with its message ID.
type Message struct {
	ID       string
	Received time.Time
	Request  MailSend
}

// Server is the fake. Start it with NewServer; its URL goes in SENDGRID_API_HOST.
type Server struct {
	APIKey string

	mu       sync.Mutex
	faults   []Fault
	sticky   *Fault        // SetFault: used by every request until cleared
	changed  chan struct{} // closed when the sticky fault changes
	messages []Message
	requests int
	served   map[string]int // faulty answers by kind
	http     *httptest.Server
}

// NewServer starts a fake on a free local port that accepts apiKey.
func NewServer(apiKey string) *Server {
	s := &Server{APIKey: apiKey, changed: make(chan struct{}), served: map[string]int{}}
	s.http = httptest.NewServer(s)
	return s
}

// URL is the base URL to use as SENDGRID_API_HOST.
func (s *Server) URL() string { return s.http.URL }

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// Inject queues faults; each is used by one request, in order.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// SetFault makes every request fail with f until ClearFault (or another
// SetFault). Queued faults from Inject come first.
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

// FaultsServed counts the requests that got a fault, by kind: the status
// code ("429", "500"), "hang" (the sender gave up first) or "delay".
func (s *Server) FaultsServed() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.served))
	for k, v := range s.served {
		out[k] = v
	}
	return out
}

func (s *Server) countFault(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served[kind]++
}

// Messages returns the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Requests counts every request received, failed or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// ByCustomArg returns the accepted messages whose custom_args[key] is value.
func (s *Server) ByCustomArg(key, value string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Request.CustomArgs[key] == value {
			out = append(out, m)
			continue
		}
		for _, p := range m.Request.Personalizations {
			if p.CustomArgs[key] == value {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func (s *Server) nextFault() (Fault, bool, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if len(s.faults) == 0 {
		if s.sticky != nil {
			return *s.sticky, true, s.changed
		}
		return Fault{}, false, s.changed
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f, true, s.changed
}

// hang holds a request until the sender gives up (false) or the sticky
// fault changes (true: serve the request afresh).
func (s *Server) hang(r *http.Request, changed chan struct{}) bool {
	select {
	case <-changed:
		return true
	case <-r.Context().Done():
		s.countFault("hang")
		return false
	}
}

// ServeHTTP implements the v3 mail send endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v3/mail/send" {
		writeErrors(w, http.StatusNotFound, apiError{Message: "resource not found"})
		return
	}
	if r.Method != http.MethodPost {
		writeErrors(w, http.StatusMethodNotAllowed, apiError{Message: "method not allowed"})
		return
	}
	// The body is read first: only then does the server notice a sender
	// that gives up (a held request must end with its connection).
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "could not read the request body"})
		return
	}
	fault, faulty, changed := s.nextFault()
	for fault.Hang {
		if !s.hang(r, changed) {
			return
		}
		s.mu.Lock()
		fault, faulty, changed = Fault{}, false, s.changed
		if s.sticky != nil {
			fault, faulty = *s.sticky, true
		}
		s.mu.Unlock()
	}
	if fault.Delay > 0 {
		s.countFault("delay")
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "The provided authorization grant is invalid, expired, or revoked"})
		return
	}
	setRateHeaders(w, fault)
	if faulty && fault.Status != 0 && !fault.AcceptThenFail {
		s.writeFault(w, fault)
		return
	}
	if len(body) > MaxBody {
		writeErrors(w, http.StatusRequestEntityTooLarge, apiError{Message: "Request body is too large (limit 30 MB)"})
		return
	}
	var req MailSend
	if err := json.Unmarshal(body, &req); err != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "Bad Request: the JSON body could not be parsed: " + err.Error()})
		return
	}
	if errs := Validate(body); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	id := messageID()
	s.mu.Lock()
	s.messages = append(s.messages, Message{ID: id, Received: time.Now(), Request: req})
	s.mu.Unlock()
	if fault.AcceptThenFail {
		s.writeFault(w, fault)
		return
	}
	if fault.Hold > 0 {
		select {
		case <-time.After(fault.Hold):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("X-Message-Id", id)
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	s.countFault(strconv.Itoa(f.Status))
	msg := f.Body
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	if f.Status == http.StatusTooManyRequests {
		w.Header().Set("X-RateLimit-Remaining", "0")
	}
	writeErrors(w, f.Status, apiError{Message: msg})
}

func setRateHeaders(w http.ResponseWriter, f Fault) {
	reset := time.Now().Add(time.Minute)
	if f.ResetAfter > 0 {
		reset = time.Now().Add(f.ResetAfter)
	}
	w.Header().Set("X-RateLimit-Limit", "600")
	w.Header().Set("X-RateLimit-Remaining", "599")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

type apiError struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    *string `json:"help"`
}

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

// messageID makes an ID shaped like SendGrid's X-Message-Id (22 characters).
func messageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])[:22]
}

func field(name string) *string { return &name }

// String describes a fault, for test names.
func (f Fault) String() string { return fmt.Sprintf("%d after %s", f.Status, f.Delay) }
