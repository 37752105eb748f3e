package stripefake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v84"
)

// Webhook delivery: in order, one event at a time, each retried with
// backoff while the receiver fails, up to MaxAttempts (Stripe retries for
// days; a test wants an end).
const (
	MaxAttempts  = 6
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// Event is one event the fake sent (or would have, without a webhook).
type Event struct {
	ID      string
	Type    string
	Payload []byte // the JSON body, as delivered
}

// Delivery is one attempt to deliver an event.
type Delivery struct {
	EventID   string
	Type      string
	Attempt   int // 1, 2, ...; 0 for ResendEvent's replay
	At        time.Time
	Signature string // the Stripe-Signature header
	Status    int    // the receiver's answer; 0 when none came
	Err       string
}

// OK reports whether the receiver took the event (2xx).
func (d Delivery) OK() bool { return d.Status >= 200 && d.Status < 300 }

type webhooks struct {
	url, secret string
	events      []Event
	queue       []Event
	deliveries  []Delivery
	wake        chan struct{} // a token when the queue grew
	stopped     chan struct{} // closed when the delivery loop ended
	client      *http.Client
}

func (h *webhooks) init() {
	h.wake = make(chan struct{}, 1)
	h.stopped = make(chan struct{})
	h.client = &http.Client{Timeout: 5 * time.Second}
}

// SetWebhook sends the events from now on to url, signed with secret
// (whsec_...); an empty url stops sending.
func (s *Server) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks.url, s.hooks.secret = url, secret
}

// Events returns every event made, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.hooks.events...)
}

// Deliveries returns the delivery log, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.hooks.deliveries...)
}

// emitLocked makes an event of obj and queues it for delivery if a webhook
// is set. The caller holds s.mu.
func (s *Server) emitLocked(typ string, obj any) Event {
	body := map[string]any{
		"id": newID("evt"), "object": "event", "type": typ, "created": time.Now().Unix(),
		"api_version": stripe.APIVersion, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    map[string]any{"object": obj},
	}
	payload, _ := json.Marshal(body)
	ev := Event{ID: body["id"].(string), Type: typ, Payload: payload}
	s.hooks.events = append(s.hooks.events, ev)
	if s.hooks.url != "" {
		s.hooks.queue = append(s.hooks.queue, ev)
		select {
		case s.hooks.wake <- struct{}{}:
		default:
		}
	}
	return ev
}

func (s *Server) deliverLoop() {
	defer close(s.hooks.stopped)
	for {
		s.mu.Lock()
		var ev *Event
		if len(s.hooks.queue) > 0 {
			next := s.hooks.queue[0]
			ev, s.hooks.queue = &next, s.hooks.queue[1:]
		}
		s.mu.Unlock()
		if ev == nil {
			select {
			case <-s.hooks.wake:
				continue
			case <-s.closing:
				return
			}
		}
		backoff := firstBackoff
		for attempt := 1; attempt <= MaxAttempts; attempt++ {
			if s.deliver(*ev, attempt) {
				break
			}
			select {
			case <-time.After(backoff):
			case <-s.closing:
				return
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// deliver posts an event, signed afresh for each attempt as Stripe does.
func (s *Server) deliver(ev Event, attempt int) bool {
	s.mu.Lock()
	url, secret := s.hooks.url, s.hooks.secret
	s.mu.Unlock()
	if url == "" {
		return true
	}
	now := time.Now()
	d := s.post(url, ev, Sign(secret, ev.Payload, now))
	d.Attempt = attempt
	s.logDelivery(d)
	return d.OK()
}

// ResendEvent replays an event's first delivery byte for byte, with its
// old signature and timestamp, as an attacker replaying a captured request
// would; the receiver should refuse it once the timestamp is too old.
func (s *Server) ResendEvent(eventID string) (Delivery, error) {
	s.mu.Lock()
	url := s.hooks.url
	var first *Delivery
	for i := range s.hooks.deliveries {
		if s.hooks.deliveries[i].EventID == eventID {
			first = &s.hooks.deliveries[i]
			break
		}
	}
	var ev *Event
	for i := range s.hooks.events {
		if s.hooks.events[i].ID == eventID {
			ev = &s.hooks.events[i]
		}
	}
	s.mu.Unlock()
	if first == nil || ev == nil {
		return Delivery{}, fmt.Errorf("stripefake: event %s was never delivered", eventID)
	}
	d := s.post(url, *ev, first.Signature)
	s.logDelivery(d)
	return d, nil
}

func (s *Server) post(url string, ev Event, signature string) Delivery {
	d := Delivery{EventID: ev.ID, Type: ev.Type, At: time.Now(), Signature: signature}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.Payload))
	if err != nil {
		d.Err = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", signature)
	res, err := s.hooks.client.Do(req)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	_ = res.Body.Close()
	d.Status = res.StatusCode
	return d
}

func (s *Server) logDelivery(d Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks.deliveries = append(s.hooks.deliveries, d)
}

// SignPayload signs a payload with the webhook's secret at time t: the
// Stripe-Signature header's value.
func (s *Server) SignPayload(payload []byte, t time.Time) string {
	s.mu.Lock()
	secret := s.hooks.secret
	s.mu.Unlock()
	return Sign(secret, payload, t)
}

// Sign is Stripe's webhook signature: t=<unix>,v1=<hex HMAC-SHA256 of
// "<unix>.<payload>" keyed with the secret>.
func Sign(secret string, payload []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
