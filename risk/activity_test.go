package risk

import (
	"strings"
	"testing"
	"time"
)

func TestParseActivityEvents(t *testing.T) {
	in := `{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"usage","amount_minor":1200}

{"event_id":"e2","customer_id":"acme","at":"2025-03-01T11:00:00.5+02:00","kind":"resource_created","region":"eastus","resource_type":"Standard_NC6"}
  {"event_id":"e3","customer_id":"acme","at":"2025-03-01T12:00:00Z","kind":"login","region":"NG"}
{"event_id":"e4","customer_id":"acme","at":"2025-03-01T12:05:00Z","kind":"account_change"}`
	evs, err := ParseActivityEvents(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 {
		t.Fatalf("%d events", len(evs))
	}
	if e := evs[0]; e.EventID != "e1" || e.AmountMinor != 1200 || !e.At.Equal(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("first: %+v", e)
	}
	if e := evs[1]; e.ResourceType != "Standard_NC6" || !e.At.Equal(time.Date(2025, 3, 1, 9, 0, 0, 500e6, time.UTC)) {
		t.Errorf("second: %+v", e)
	}
	if evs[3].Kind != KindAccountChange {
		t.Errorf("last: %+v", evs[3])
	}
	if evs, err := ParseActivityEvents(strings.NewReader("")); err != nil || len(evs) != 0 {
		t.Errorf("empty input: %v %v", evs, err)
	}
}

func TestParseActivityEventsErrors(t *testing.T) {
	const ok = `{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"login"}` + "\n"
	cases := map[string]struct{ in, want string }{
		"not json":         {ok + "\n{oops\n", "activity line 3: not a JSON object"},
		"two values":       {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"login"} {}`, "line 1: more than one JSON value"},
		"missing id":       {ok + `{"customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"login"}`, "line 2: event_id is required"},
		"bad id":           {`{"event_id":"e 1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"login"}`, `line 1: event_id "e 1"`},
		"missing customer": {`{"event_id":"e1","at":"2025-03-01T10:00:00Z","kind":"login"}`, "line 1: customer_id is required"},
		"bad customer":     {`{"event_id":"e1","customer_id":"-x","at":"2025-03-01T10:00:00Z","kind":"login"}`, `line 1: customer_id "-x"`},
		"missing time":     {`{"event_id":"e1","customer_id":"acme","kind":"login"}`, "line 1: at is required"},
		"bad time":         {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01 10:00","kind":"login"}`, `line 1: at "2025-03-01 10:00" is not an RFC 3339 time`},
		"time no zone":     {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00","kind":"login"}`, "is not an RFC 3339 time"},
		"missing kind":     {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z"}`, "line 1: kind is required"},
		"unknown kind":     {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"logout"}`, `kind "logout" must be one of`},
		"usage no amount":  {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"usage"}`, "amount_minor must be positive for usage, got 0"},
		"usage negative":   {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"usage","amount_minor":-5}`, "got -5"},
		"amount on login":  {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"login","amount_minor":5}`, "amount_minor is only for usage"},
		"no resource type": {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"resource_created"}`, "resource_type is required"},
		"unknown field":    {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"usage","amount":5}`, `unknown field "amount"`},
		"float amount":     {`{"event_id":"e1","customer_id":"acme","at":"2025-03-01T10:00:00Z","kind":"usage","amount_minor":1.5}`, "field amount_minor has type number"},
		"several problems": {`{"kind":"usage"}`, "event_id is required; customer_id is required; at is required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseActivityEvents(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
