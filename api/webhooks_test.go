package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/example/dunning/ops"
)

// The webhook routes: operators register (the token's name is the
// creator, the secret is in that answer only), list, read deliveries and
// replay; bad input is refused with 400 and registers nothing.
func TestWebhookRoutes(t *testing.T) {
	h := newHarness(t)
	rec := h.do(request{method: "POST", path: "/v1/webhooks", token: operatorSecret,
		body: `{"url":"https://crm.example.com/hooks/dunning","event_types":["account.suspended","invoice.paid"]}`})
	if rec.Code != http.StatusCreated || rec.Header().Get("Location") != "/v1/webhooks/we_0123456789abcdef" {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	var reg ops.RegisteredWebhook
	if err := json.Unmarshal(rec.Body.Bytes(), &reg); err != nil || !strings.HasPrefix(reg.Secret, "whsec_") || reg.CreatedBy != "alice" {
		t.Fatalf("registered %+v %v", reg, err)
	}
	if c := h.fake.got(); c[len(c)-1].arg.(ops.NewWebhook).Actor != "alice" {
		t.Fatalf("actor %+v", c[len(c)-1])
	}
	rec = h.do(request{method: "GET", path: "/v1/webhooks", token: viewerSecret})
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "whsec_") || !strings.Contains(rec.Body.String(), "we_0123456789abcdef") {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "GET", path: "/v1/webhooks/we_0123456789abcdef/deliveries?status=failed&customer_id=acme&limit=5", token: viewerSecret})
	if c := h.fake.got(); rec.Code != http.StatusOK || !reflect.DeepEqual(c[len(c)-1].arg,
		ops.DeliveryFilter{EndpointID: "we_0123456789abcdef", Status: "failed", CustomerID: "acme", Limit: 5}) {
		t.Fatalf("deliveries: %d %s %+v", rec.Code, rec.Body, c[len(c)-1])
	}
	rec = h.do(request{method: "POST", path: "/v1/webhook-deliveries/7/replay", token: operatorSecret})
	if c := h.fake.got(); rec.Code != http.StatusOK || c[len(c)-1].arg != int64(7) {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "POST", path: "/v1/webhooks/we_0123456789abcdef/disable", token: operatorSecret})
	if c := h.fake.got(); rec.Code != http.StatusOK || c[len(c)-1].arg != false || !strings.Contains(rec.Body.String(), `"active":false`) {
		t.Fatalf("disable: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "POST", path: "/v1/webhook-deliveries/7/replay", token: viewerSecret})
	if rec.Code != http.StatusForbidden {
		t.Fatalf("viewer replay: %d", rec.Code)
	}

	registered := func() int {
		n := 0
		for _, c := range h.fake.got() {
			if c.op == "AddWebhook" {
				n++
			}
		}
		return n
	}
	before := registered()
	for _, tc := range []struct{ name, method, path, body, message string }{
		{"http", "POST", "/v1/webhooks", `{"url":"http://crm.example.com/x","event_types":["invoice.paid"]}`, "must use https://"},
		{"loopback http", "POST", "/v1/webhooks", `{"url":"http://127.0.0.1:8080/x","event_types":["invoice.paid"]}`, "DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK"},
		{"unknown type", "POST", "/v1/webhooks", `{"url":"https://crm.example.com/x","event_types":["payment.recorded"]}`, `unknown event type "payment.recorded"`},
		{"no types", "POST", "/v1/webhooks", `{"url":"https://crm.example.com/x","event_types":[]}`, "at least one event type"},
		{"secret given", "POST", "/v1/webhooks", `{"url":"https://crm.example.com/x","event_types":["invoice.paid"],"secret":"mine"}`, `unknown field "secret"`},
		{"types not a list", "POST", "/v1/webhooks", `{"url":"https://crm.example.com/x","event_types":"invoice.paid"}`, "must be an array"},
		{"endpoint id", "GET", "/v1/webhooks/we_nothex/deliveries", ``, "not an endpoint ID"},
		{"status", "GET", "/v1/webhooks/we_0123456789abcdef/deliveries?status=lost", ``, "must be pending, delivered, failed or cancelled"},
		{"limit", "GET", "/v1/webhooks/we_0123456789abcdef/deliveries?limit=5000", ``, "limit"},
		{"customer", "GET", "/v1/webhooks/we_0123456789abcdef/deliveries?customer_id=a%00b", ``, "customer"},
		{"delivery id", "POST", "/v1/webhook-deliveries/-1/replay", ``, "not a delivery ID"},
		{"delivery id text", "POST", "/v1/webhook-deliveries/abc/replay", ``, "not a delivery ID"},
		{"replay-failed id", "POST", "/v1/webhooks/we_x/replay-failed", ``, "not an endpoint ID"},
	} {
		calls := len(h.fake.got())
		rec := h.do(request{method: tc.method, path: tc.path, token: operatorSecret, body: tc.body})
		code, msg := errorCode(t, rec)
		if rec.Code != http.StatusBadRequest || code != "invalid_request" || !strings.Contains(msg, tc.message) {
			t.Errorf("%s: %d %s %q, want 400 containing %q", tc.name, rec.Code, code, msg, tc.message)
		}
		if tc.method == "GET" || strings.Contains(tc.path, "replay") {
			if len(h.fake.got()) != calls {
				t.Errorf("%s: bad input reached the backend", tc.name)
			}
		}
	}
	if registered() != before {
		t.Fatal("a refused registration was recorded")
	}
}
