package sgevents_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hostile SendGrid batches: a malformed batch is refused and records
// nothing; an event with unusual text is stored whole; one that is not
// valid Unicode is stored with U+FFFD in the bad places instead of failing
// its insert on every retry (which would hold back the rest of the batch
// for good); times outside 2000-2100 count as the time of receipt.
func TestSendGridBadInputCorpus(t *testing.T) {
	refused := []struct{ name, body string }{
		{"not json", `[{"event":"bounce",`},
		{"not an array", `{"event":"bounce"}`},
		{"element not an object", `[{"sg_event_id":"a","event":"delivered"}, 42]`},
		{"nul outside strings", "[{\"sg_event_id\":\"a\"}\x00]"},
		{"invalid utf8 outside strings", "[{\"sg_event_id\":\"a\"}\xff]"},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			if code := f.post([]byte(tc.body)); code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", code)
			}
			if n := f.count(`SELECT count(*) FROM email_events`); n != 0 {
				t.Errorf("%d events recorded", n)
			}
			if !strings.Contains(f.logs.String(), "malformed batch") {
				t.Errorf("log does not say why: %s", f.logs.String())
			}
		})
	}

	stored := []struct {
		name, reason, want string // want: the reason as stored
	}{
		{"bidi", "550 user \u202eunknown", "550 user \u202eunknown"},
		{"control and markup", "550 \x1b[31m<script>alert(1)</script>", "550 \x1b[31m<script>alert(1)</script>"},
		{"formula", "=HYPERLINK(\"http://evil.test\")", "=HYPERLINK(\"http://evil.test\")"},
		{"korean and emoji", "수신자 없음 📭", "수신자 없음 📭"},
		{"long", strings.Repeat("r", 20000), strings.Repeat("r", 20000)},
		{"nul", "550\x00 gone", "550 gone"}, // text columns cannot hold NUL: dropped, as documented
	}
	for _, tc := range stored {
		t.Run("stored/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			body := batch(t, event("ev-1", "bounce", t0, messageKey, "reason", tc.reason))
			if code := f.post(body); code != http.StatusOK {
				t.Fatalf("status %d: %s", code, f.logs.String())
			}
			var got struct {
				Reason string `db:"reason"`
				Raw    string `db:"raw_reason"`
			}
			if err := f.db.Get(&got, `SELECT reason, raw->>'reason' AS raw_reason FROM email_events WHERE sg_event_id = 'ev-1'`); err != nil {
				t.Fatal(err)
			}
			wantRaw := strings.ReplaceAll(tc.reason, "\x00", "\ufffd")
			if got.Reason != tc.want || got.Raw != wantRaw {
				t.Errorf("stored reason %q raw %q, want %q and %q", got.Reason, got.Raw, tc.want, wantRaw)
			}
		})
	}

	repaired := []struct{ name, reason string }{
		{"invalid utf8", "550 caf\xe9"},
		{"truncated utf8", "550 \xe2\x82"},
		{"lone high surrogate", `550 \ud800 gone`},
		{"lone low surrogate", `550 \udc00 gone`},
	}
	for _, tc := range repaired {
		t.Run("repaired/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			// The bad event first, a good one after it: both are recorded.
			body := []byte(`[{"sg_event_id":"ev-bad","event":"bounce","email":"` + address + `","timestamp":` +
				itoa(t0.Unix()) + `,"dunning_key":"` + messageKey + `","reason":"` + tc.reason + `"},` +
				`{"sg_event_id":"ev-good","event":"delivered","email":"` + address + `","timestamp":` + itoa(t0.Unix()) + `}]`)
			for attempt := range 2 { // SendGrid's retry changes nothing
				if code := f.post(body); code != http.StatusOK {
					t.Fatalf("attempt %d: status %d: %s", attempt, code, f.logs.String())
				}
			}
			if n := f.count(`SELECT count(*) FROM email_events`); n != 2 {
				t.Errorf("%d events recorded, want 2", n)
			}
			var reason, raw string
			if err := f.db.QueryRow(`SELECT reason, raw->>'reason' FROM email_events WHERE sg_event_id = 'ev-bad'`).Scan(&reason, &raw); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(reason, "\ufffd") || reason != raw {
				t.Errorf("reason %q raw %q", reason, raw)
			}
			if f.count(`SELECT count(*) FROM email_undeliverable_notices`) != 1 {
				t.Error("the repaired hard bounce did not mark the address")
			}
			if !strings.Contains(f.logs.String(), "not valid Unicode") {
				t.Errorf("no warning logged: %s", f.logs.String())
			}
		})
	}

	times := []struct {
		name, ts string
		want     time.Time // zero: the time of receipt
	}{
		{"year 1970", "1", time.Time{}},
		{"negative", "-62135596800", time.Time{}},
		{"year 2286", "9999999999", time.Time{}},
		{"int64 max", "9223372036854775807", time.Time{}},
		{"past int64", "92233720368547758070", time.Time{}},
		{"not a number", `"soon"`, time.Time{}},
		{"in range", itoa(t0.Unix()), t0},
	}
	for _, tc := range times {
		t.Run("time/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			body := []byte(`[{"sg_event_id":"ev-t","event":"delivered","email":"` + address + `","timestamp":` + tc.ts + `}]`)
			if code := f.post(body); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			var at time.Time
			if err := f.db.Get(&at, `SELECT occurred_at FROM email_events WHERE sg_event_id = 'ev-t'`); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want.IsZero() {
				want = f.now
			}
			if !at.Equal(want) {
				t.Errorf("occurred_at %s, want %s", at, want)
			}
		})
	}
	if n := len(refused) + len(stored) + len(repaired) + len(times); n < 20 {
		t.Errorf("%d cases", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
