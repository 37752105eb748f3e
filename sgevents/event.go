package sgevents

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SendGrid event names.
const (
	EventProcessed        = "processed"
	EventDeferred         = "deferred"
	EventDelivered        = "delivered"
	EventOpen             = "open"
	EventClick            = "click"
	EventBounce           = "bounce" // with Type "bounce" (hard) or "blocked" (soft)
	EventDropped          = "dropped"
	EventSpamReport       = "spamreport"
	EventUnsubscribe      = "unsubscribe"
	EventGroupUnsubscribe = "group_unsubscribe"
)

// StatusBlocked is the delivery status of a soft bounce: SendGrid posts it
// as event "bounce" with type "blocked".
const StatusBlocked = "blocked"

// StatusOrder is the order of delivery statuses, least to most final. An
// outbox message's status only ever moves forward along it, so events that
// arrive late (SendGrid does not promise order: "processed" may come after
// "delivered") cannot move it back. Engagement follows delivery; the
// recipient's opt-outs follow engagement; failures come last because they
// are what staff must act on, and an asynchronous bounce may follow
// "delivered". The same status again moves delivery_updated_at forward.
// Events not listed (group_resubscribe, ...) are recorded but leave the
// status alone.
var StatusOrder = []string{
	EventProcessed,
	EventDeferred,
	EventDelivered,
	EventOpen,
	EventClick,
	EventUnsubscribe,
	EventGroupUnsubscribe,
	EventSpamReport,
	StatusBlocked,
	EventBounce,
	EventDropped,
}

// StatusRank is a status's position in StatusOrder, from 1; 0 for a status
// that is not in it.
func StatusRank(status string) int {
	for i, s := range StatusOrder {
		if s == status {
			return i + 1
		}
	}
	return 0
}

// Event is one SendGrid event as this package reads it.
type Event struct {
	EventID    string    // sg_event_id, or "sha256:<hex of the raw event>" when absent
	MessageID  string    // sg_message_id
	Email      string    // the recipient
	Event      string    // processed, delivered, bounce, ...
	Type       string    // bounce only: "bounce" (hard) or "blocked" (soft)
	Reason     string    // SMTP answer or SendGrid's reason
	Status     string    // SMTP status code, e.g. 5.1.1
	OccurredAt time.Time // zero when the event had no timestamp
	// Our custom_args, which SendGrid flattens into the event.
	DunningKey string
	CustomerID string
	InvoiceID  string
	Stage      string
	Raw        json.RawMessage
	// Repaired: the event was not valid Unicode (invalid UTF-8, a lone
	// surrogate); Raw is its re-encoding with U+FFFD in the bad places.
	Repaired bool
}

// HardBounce reports a bounce SendGrid will not retry and that puts the
// address on its bounce list. A bounce without a type is taken as hard:
// that is what "bounce" meant before SendGrid added the type.
func (e Event) HardBounce() bool {
	return e.Event == EventBounce && e.Type != StatusBlocked
}

// Undeliverable reports an event after which mail to the address will not
// arrive: a hard bounce, a drop (SendGrid suppresses the address) or a spam
// report (SendGrid suppresses it from now on).
func (e Event) Undeliverable() bool {
	return e.HardBounce() || e.Event == EventDropped || e.Event == EventSpamReport
}

// DeliveryStatus is the outbox delivery status the event stands for, or ""
// when it does not move it.
func (e Event) DeliveryStatus() string {
	s := e.Event
	if e.Event == EventBounce && !e.HardBounce() {
		s = StatusBlocked
	}
	if StatusRank(s) == 0 {
		return ""
	}
	return s
}

// ErrMalformed is wrapped by ParseBatch's errors.
var ErrMalformed = errors.New("malformed event batch")

// ParseBatch reads the JSON array SendGrid posts. An element that is not an
// object makes the whole batch malformed; unknown fields and event names are
// kept (in Raw) rather than refused, because SendGrid adds fields over time.
func ParseBatch(body []byte) ([]Event, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, jsonErr(err))
	}
	events := make([]Event, 0, len(raws))
	for i, raw := range raws {
		ev, err := parseEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d: %v", ErrMalformed, i, err)
		}
		events = append(events, ev)
	}
	return events, nil
}

func parseEvent(raw json.RawMessage) (Event, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Event{}, errors.New("not an object")
	}
	var f struct {
		EventID    flexString `json:"sg_event_id"`
		MessageID  flexString `json:"sg_message_id"`
		Email      flexString `json:"email"`
		Event      flexString `json:"event"`
		Type       flexString `json:"type"`
		Reason     flexString `json:"reason"`
		Status     flexString `json:"status"`
		Timestamp  flexString `json:"timestamp"`
		DunningKey flexString `json:"dunning_key"`
		CustomerID flexString `json:"customer_id"`
		InvoiceID  flexString `json:"invoice_id"`
		Stage      flexString `json:"stage"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return Event{}, errors.New(jsonErr(err))
	}
	// PostgreSQL's jsonb refuses \u0000; it never carries meaning here.
	raw = bytes.ReplaceAll(raw, []byte(`\u0000`), []byte(`\ufffd`))
	// It also refuses invalid UTF-8 and lone surrogates (\ud800): such an
	// event would fail its insert on every retry and hold back the rest of
	// the batch for good. Re-encode it instead: what cannot be stored
	// becomes U+FFFD, as it already has in the fields read above.
	repaired := false
	if !utf8.Valid(raw) || hasLoneSurrogate(raw) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return Event{}, errors.New(jsonErr(err))
		}
		b, err := json.Marshal(v)
		if err != nil {
			return Event{}, errors.New(jsonErr(err))
		}
		raw, repaired = b, true
	}
	ev := Event{
		EventID:    string(f.EventID),
		MessageID:  string(f.MessageID),
		Email:      string(f.Email),
		Event:      strings.ToLower(string(f.Event)),
		Type:       strings.ToLower(string(f.Type)),
		Reason:     string(f.Reason),
		Status:     string(f.Status),
		DunningKey: string(f.DunningKey),
		CustomerID: string(f.CustomerID),
		InvoiceID:  string(f.InvoiceID),
		Stage:      string(f.Stage),
		Raw:        append(json.RawMessage(nil), raw...),
		Repaired:   repaired,
	}
	// A time outside 2000-2100 is no time at all: the event counts as
	// happening when it was received.
	if ts, err := strconv.ParseFloat(string(f.Timestamp), 64); err == nil && ts >= minTimestamp && ts < maxTimestamp {
		ev.OccurredAt = time.Unix(int64(ts), 0).UTC()
	}
	if ev.EventID == "" {
		// SendGrid always sends one; should it not, the same event posted
		// again still gets the same key and is recorded once.
		sum := sha256.Sum256(raw)
		ev.EventID = "sha256:" + hex.EncodeToString(sum[:])
	}
	return ev, nil
}

// The window of event timestamps taken as given (Unix seconds of
// 2000-01-01 and 2100-01-01).
const (
	minTimestamp = 946684800
	maxTimestamp = 4102444800
)

// hasLoneSurrogate reports a \uD800-\uDFFF escape in JSON text that is not
// a high surrogate followed by a low one.
func hasLoneSurrogate(raw []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
		return rune(v), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // some other escape: skip the escaped character
			continue
		}
		switch {
		case r >= 0xd800 && r <= 0xdbff:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		default:
			i += 5
		}
	}
	return false
}

// flexString takes a JSON string, number or boolean as text, and null as "":
// custom args and SMTP codes are strings in SendGrid's documentation, but a
// number where a string was expected must not make a whole batch unreadable.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(strings.ReplaceAll(v, "\x00", "")) // text columns refuse NUL
	case b[0] == '{' || b[0] == '[':
		*s = "" // an object or list where text was expected: kept in raw only
	default:
		*s = flexString(b) // number or boolean, as written
	}
	return nil
}

// jsonErr is the parser's message without any of the input, so that it can
// be logged without copying addresses from the body.
func jsonErr(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("JSON %s where %s was expected", typ.Value, typ.Type)
	}
	return "invalid JSON"
}
