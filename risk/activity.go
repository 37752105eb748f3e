package risk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
)

// Activity kinds.
const (
	KindUsage           = "usage"            // metered spend, AmountMinor > 0
	KindResourceCreated = "resource_created" // ResourceType required
	KindAccountChange   = "account_change"   // users, roles, billing details
	KindLogin           = "login"
)

var activityKinds = []string{KindUsage, KindResourceCreated, KindAccountChange, KindLogin}

// ActivityEvent is one entry of a customer's activity log. Region is an
// ISO 3166 alpha-2 country, optionally followed by "-" and a subdivision or
// zone ("BR", "BR-SP"), or a cloud region name mapped to a country in the
// monitoring config. AmountMinor is in the customer's currency.
type ActivityEvent struct {
	EventID      string    `json:"event_id"`
	CustomerID   string    `json:"customer_id"`
	At           time.Time `json:"at"`
	Kind         string    `json:"kind"`
	Region       string    `json:"region,omitempty"`
	ResourceType string    `json:"resource_type,omitempty"`
	AmountMinor  int64     `json:"amount_minor,omitempty"`
}

// maxActivityText bounds an event's region and resource type.
const maxActivityText = 200

var eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// Validate checks the fields every rule relies on.
func (e ActivityEvent) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	switch {
	case e.EventID == "":
		add("event_id is required")
	case !eventIDPattern.MatchString(e.EventID):
		add("event_id %q must be 1-128 letters, digits, '.', '_', ':' or '-'", e.EventID)
	}
	if e.CustomerID == "" {
		add("customer_id is required")
	} else if err := account.ValidateCustomerID(e.CustomerID); err != nil {
		add("%v", err)
	}
	if e.At.IsZero() {
		add("at is required (an RFC 3339 time like 2025-01-31T12:00:00Z)")
	} else if err := account.CheckTime("at", e.At); err != nil {
		add("%v", err)
	}
	switch e.Kind {
	case "":
		add("kind is required (%s)", strings.Join(activityKinds, ", "))
	case KindUsage:
		if e.AmountMinor <= 0 {
			add("amount_minor must be positive for usage, got %d", e.AmountMinor)
		} else if err := money.ValidatePositive("amount_minor", e.AmountMinor); err != nil {
			add("%v", err)
		}
	case KindResourceCreated:
		if e.ResourceType == "" {
			add("resource_type is required for resource_created")
		}
	case KindAccountChange, KindLogin:
	default:
		add("kind %q must be one of %s", e.Kind, strings.Join(activityKinds, ", "))
	}
	if e.Kind != KindUsage && e.AmountMinor != 0 {
		add("amount_minor is only for usage events")
	}
	for _, f := range []struct{ name, v string }{{"region", e.Region}, {"resource_type", e.ResourceType}} {
		if err := account.CheckText(f.name, f.v, maxActivityText, false, false); err != nil {
			add("%v", err)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// activityLine is the JSON form: the time as a string so that a bad one
// gets its own message rather than the decoder's.
type activityLine struct {
	EventID      string `json:"event_id"`
	CustomerID   string `json:"customer_id"`
	At           string `json:"at"`
	Kind         string `json:"kind"`
	Region       string `json:"region"`
	ResourceType string `json:"resource_type"`
	AmountMinor  int64  `json:"amount_minor"`
}

// ParseActivityEvents reads JSON lines, one event per line; blank lines are
// skipped. Errors name the line. Unknown fields are refused, so that a
// misspelt "amount" is not read as no spend.
func ParseActivityEvents(r io.Reader) ([]ActivityEvent, error) {
	var out []ActivityEvent
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		raw, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("activity line %d: %w", n, err)
		}
		if line := bytes.TrimSpace(raw); len(line) > 0 {
			ev, perr := parseActivityLine(line)
			if perr != nil {
				return nil, fmt.Errorf("activity line %d: %w", n, perr)
			}
			out = append(out, ev)
		}
		if err == io.EOF {
			return out, nil
		}
	}
}

func parseActivityLine(line []byte) (ActivityEvent, error) {
	ev, err := DecodeActivityEvent(line)
	if err != nil {
		return ActivityEvent{}, err
	}
	if err := ev.Validate(); err != nil {
		return ActivityEvent{}, err
	}
	return ev, nil
}

// DecodeActivityEvent reads one JSON line into an event without validating
// it. On error the event carries the event_id when it could be read, so
// that a caller can name the bad event.
func DecodeActivityEvent(line []byte) (ActivityEvent, error) {
	var l activityLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return ActivityEvent{EventID: l.EventID}, fmt.Errorf("field %s has type %s, want %s", te.Field, te.Value, te.Type)
		}
		return ActivityEvent{EventID: l.EventID}, fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() {
		return ActivityEvent{EventID: l.EventID}, errors.New("more than one JSON value on the line")
	}
	ev := ActivityEvent{EventID: l.EventID, CustomerID: l.CustomerID, Kind: l.Kind, Region: l.Region,
		ResourceType: l.ResourceType, AmountMinor: l.AmountMinor}
	if l.At != "" {
		t, err := time.Parse(time.RFC3339Nano, l.At)
		if err != nil {
			return ActivityEvent{EventID: l.EventID}, fmt.Errorf("at %q is not an RFC 3339 time like 2025-01-31T12:00:00Z", l.At)
		}
		ev.At = t
	}
	return ev, nil
}
