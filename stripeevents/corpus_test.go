package stripeevents_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/example/dunning/stripeevents"
)

// envelope is a signed-as-is event around raw object JSON, so that the
// bytes are exactly the hostile ones (json.Marshal would repair them).
func envelope(id, typ, object string) []byte {
	return []byte(`{"id":"` + id + `","object":"event","api_version":"2024-06-20","created":1772442000,"type":"` + typ +
		`","livemode":false,"pending_webhooks":1,"data":{"object":` + object + `}}`)
}

const piType = string(stripeevents.TypePaymentSucceeded)

func piWith(reference string) string {
	return `{"id":"pi_1","object":"payment_intent","amount_received":5000,"currency":"usd",` +
		`"metadata":{"customer_id":"cust-1","invoice_id":"` + reference + `"}}`
}

// Hostile Stripe deliveries (signed, so they get past the signature): what
// is not an event is refused and stores nothing; an event with text
// PostgreSQL cannot hold (NUL, invalid UTF-8, lone surrogates) is stored
// with U+FFFD in its place instead of failing its insert on every
// redelivery; an object of the wrong shape is processed as unreadable;
// nothing answers 500, which would make Stripe redeliver it for days.
func TestStripeBadInputCorpus(t *testing.T) {
	refused := []struct{ name, body string }{
		{"empty", ""},
		{"not json", `{"id":"evt_1","object":"event",`},
		{"html", `<html><body>hello</body></html>`},
		{"not an event", `{"id":"evt_1","object":"list","data":[]}`},
		{"array", `[{"id":"evt_1","object":"event"}]`},
		{"object is not an object", string(envelope("evt_1", piType, `"pi_1"`))},
		{"raw NUL inside a string", string(envelope("evt_1", piType, piWith("inv\x00-1")))},
		{"trailing garbage", string(envelope("evt_1", piType, piWith("inv-1"))) + "\x00"},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			if code := f.post([]byte(tc.body)); code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", code)
			}
			if n := f.count(`SELECT count(*) FROM gateway_events`); n != 0 {
				t.Errorf("%d events stored", n)
			}
		})
	}

	stored := []struct {
		name, body string
		// the payload's reference as stored ("-": not checked), and the outcome
		reference, outcome string
	}{
		{"escaped NUL", string(envelope("evt_1", piType, piWith(`inv\u0000-1`))), "inv\uFFFD-1", "refused: "},
		{"invalid UTF-8", string(envelope("evt_1", piType, piWith("inv\xff\xfe-1"))), "inv\uFFFD\uFFFD-1", "refused: "},
		{"lone surrogate", string(envelope("evt_1", piType, piWith(`inv\ud800-1`))), "inv\uFFFD-1", "refused: "},
		{"surrogate pair", string(envelope("evt_1", piType, piWith(`inv-\ud83d\udcb3`))), "inv-💳", stripeevents.OutcomePaymentRecorded},
		{"bidi override", string(envelope("evt_1", piType, piWith(`inv-\u202e1`))), "inv-\u202e1", "refused: "},
		{"korean", string(envelope("evt_1", piType, piWith(`청구서-1`))), "청구서-1", stripeevents.OutcomePaymentRecorded},
		{"markup", string(envelope("evt_1", piType, piWith(`<script>alert(1)</script>`))), "<script>alert(1)</script>", stripeevents.OutcomePaymentRecorded},
		{"NUL in the event ID", string(envelope(`evt_\u0000x`, piType, piWith("inv-1"))), "inv-1", stripeevents.OutcomePaymentRecorded},
		{"metadata value not text", string(envelope("evt_1", piType,
			`{"id":"pi_1","amount_received":5000,"currency":"usd","metadata":{"customer_id":42}}`)), "-", stripeevents.OutcomeUnreadable},
		{"amount not a number", string(envelope("evt_1", piType,
			`{"id":"pi_1","amount_received":"lots","currency":"usd","metadata":{"customer_id":"cust-1"}}`)), "-", stripeevents.OutcomeUnreadable},
		{"negative amount", string(envelope("evt_1", piType,
			`{"id":"pi_1","amount_received":-5,"currency":"usd","metadata":{"customer_id":"cust-1"}}`)), "-", "refused: "},
		{"unknown fields and deep nesting", string(envelope("evt_1", piType,
			`{"id":"pi_1","amount_received":5000,"currency":"usd","metadata":{"customer_id":"cust-1"},"x":`+
				strings.Repeat("[", 3000)+strings.Repeat("]", 3000)+`}`)), "-", stripeevents.OutcomePaymentRecorded},
		{"nesting deeper than PostgreSQL takes", string(envelope("evt_1", piType,
			`{"id":"pi_1","amount_received":5000,"currency":"usd","metadata":{"customer_id":"cust-1"},"x":`+
				strings.Repeat("[", 9000)+strings.Repeat("]", 9000)+`}`)), "-", stripeevents.OutcomePaymentRecorded},
		{"number PostgreSQL cannot hold", strings.Replace(string(envelope("evt_1", piType, piWith("inv-1"))),
			`"livemode"`, `"x":1e200000,"livemode"`, 1), "-", stripeevents.OutcomeUnstorable},
		{"no data", `{"id":"evt_1","object":"event","type":"` + piType + `","created":1772442000}`, "-", stripeevents.OutcomeIgnored},
	}
	for _, tc := range stored {
		t.Run("stored/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustPost([]byte(tc.body))
			f.mustPost([]byte(tc.body)) // and its redelivery changes nothing
			var rows []struct {
				Processed bool   `db:"processed"`
				Outcome   string `db:"outcome"`
				Reference string `db:"reference"`
			}
			if err := f.db.Select(&rows, `SELECT processed_at IS NOT NULL AS processed, outcome,
				COALESCE(payload->'data'->'object'->'metadata'->>'invoice_id', '') AS reference FROM gateway_events`); err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				t.Fatalf("%d rows, want 1", len(rows))
			}
			r := rows[0]
			if !r.Processed || !strings.HasPrefix(r.Outcome, tc.outcome) {
				t.Errorf("processed %v, outcome %q, want %q...", r.Processed, r.Outcome, tc.outcome)
			}
			if tc.reference != "-" && r.Reference != tc.reference {
				t.Errorf("stored reference %q, want %q", r.Reference, tc.reference)
			}
			if len(f.n.Calls()) > 1 {
				t.Errorf("calls %+v", f.n.Calls())
			}
		})
	}
}
