package monitoring_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/example/dunning/monitoring"
)

// Hostile activity events are refused, each with an error naming the
// field, and nothing is written; unusual but storable text is stored whole.
func TestActivityBadInputCorpus(t *testing.T) {
	ev := func(extra string) string {
		return `{"event_id":"e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"resource_created","resource_type":"vm"` + extra + `}`
	}
	cases := []struct{ name, body, want string }{
		{"region nul", ev(`,"region":"DE\u0000"`), "region contains a NUL"},
		{"region rlo", ev(`,"region":"DE\u202e"`), "region contains a Unicode bidirectional"},
		{"region invalid utf8", ev(`,"region":"D` + "\xff" + `E"`), "not valid UTF-8"},
		{"region lone surrogate", ev(`,"region":"\ud800"`), "region contains the replacement character"},
		{"region long", ev(`,"region":"` + strings.Repeat("r", 201) + `"`), "region is longer than 200"},
		{"resource_type c1", `{"event_id":"e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"resource_created","resource_type":"vm\u009b"}`, "resource_type contains a control character (U+009B)"},
		{"resource_type isolate", `{"event_id":"e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"resource_created","resource_type":"\u2066vm"}`, "resource_type contains a Unicode bidirectional"},
		{"amount int64 max", fmt.Sprintf(`{"event_id":"e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"usage","amount_minor":%d}`, int64(math.MaxInt64)), "amount_minor"},
		{"amount past int64", `{"event_id":"e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"usage","amount_minor":9223372036854775808}`, "amount_minor"},
		{"amount negative", `{"event_id":"e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"usage","amount_minor":-1}`, "amount_minor"},
		{"at year 1", `{"event_id":"e1","customer_id":"acme","at":"0001-01-01T00:00:01Z","kind":"login"}`, "at 0001-01-01T00:00:01Z is out of range"},
		{"at year 1999", `{"event_id":"e1","customer_id":"acme","at":"1999-12-31T23:59:59Z","kind":"login"}`, "is out of range"},
		{"at year 9999", `{"event_id":"e1","customer_id":"acme","at":"9999-12-31T23:59:59Z","kind":"login"}`, "is out of range"},
		{"customer_id other form", `{"event_id":"e1","customer_id":"acme/../globex","at":"2025-03-10T12:00:00Z","kind":"login"}`, "customer_id"},
		{"customer_id nul", `{"event_id":"e1","customer_id":"acme\u0000","at":"2025-03-10T12:00:00Z","kind":"login"}`, "customer_id"},
		{"event_id bidi", `{"event_id":"e\u202e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"login"}`, "event_id"},
		{"kind unknown", `{"event_id":"e1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"Login\u0000"}`, "kind"},
	}
	e := setup(t)
	h := monitoring.Handler(e.ing)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, res := post(t, h, http.MethodPost, "application/x-ndjson", tc.body+"\n")
			if rec.Code != http.StatusBadRequest || len(res.Invalid) != 1 || !strings.Contains(res.Invalid[0].Error, tc.want) {
				t.Errorf("%d %s, want 400 with an error containing %q", rec.Code, rec.Body, tc.want)
			}
			for _, table := range []string{"activity_events", "activity_regions", "monitoring_hits"} {
				var n int
				if err := e.db.Get(&n, "SELECT count(*) FROM "+table); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("refused, but %s has %d rows", table, n)
				}
			}
		})
	}

	// Stored whole: unusual but harmless text, byte for byte.
	region, resource := "BR-SP", "Standard_ND6s — GPU «A100» 🚀 =1+1"
	body := fmt.Sprintf(`{"event_id":"ok-1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"resource_created","region":%q,"resource_type":%q}`, region, resource)
	rec, res := post(t, h, http.MethodPost, "application/x-ndjson", body+"\n")
	if rec.Code != http.StatusOK || res.Stored != 1 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got struct {
		Region   string `db:"region"`
		Resource string `db:"resource_type"`
		Raw      string `db:"raw"`
	}
	if err := e.db.Get(&got, `SELECT region, resource_type, raw->>'resource_type' AS raw FROM activity_events WHERE event_id = 'ok-1'`); err != nil {
		t.Fatal(err)
	}
	if got.Region != region || got.Resource != resource || got.Raw != resource {
		t.Errorf("stored %+v", got)
	}
}
