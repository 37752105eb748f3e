package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/reconcile"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/workflows"
)

// operation is one documented method and path.
type operation struct {
	method, path string
	op           *openapi3.Operation
	public       bool
}

func operations(t *testing.T) []operation {
	doc := loadDoc(t)
	var out []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			public := op.Security != nil && len(*op.Security) == 0
			out = append(out, operation{method, path, op, public})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// concrete fills the path parameters.
func concrete(path string) string {
	return strings.NewReplacer("{id}", "acme", "{key}", "acme:INV-acme-0002:invoice_issued", "{batch}", sampleBatch,
		"{endpoint_id}", "we_0123456789abcdef", "{delivery_id}", "7").Replace(path)
}

// examples are the operation's request body examples, as JSON.
func examples(op *openapi3.Operation) map[string]string {
	out := map[string]string{}
	if op.RequestBody == nil {
		return out
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil {
		return out
	}
	add := func(name string, v any) {
		b, _ := json.Marshal(v)
		out[name] = string(b)
	}
	if mt.Example != nil {
		add("example", mt.Example)
	}
	for name, ex := range mt.Examples {
		add(name, ex.Value.Value)
	}
	return out
}

// Every documented path and method is routed, and every route documented.
func TestDocumentMatchesRoutes(t *testing.T) {
	var documented []string
	for _, o := range operations(t) {
		documented = append(documented, o.method+" "+o.path)
	}
	routed := patterns()
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		t.Errorf("openapi.yaml and the routes differ\ndocumented: %v\nrouted:     %v", documented, routed)
	}
	// And each documented operation reaches a handler, not the catch-all.
	h := newHarness(t)
	for _, o := range operations(t) {
		body := ""
		for _, ex := range examples(o.op) {
			body = ex
			break
		}
		rec := h.do(request{method: o.method, path: concrete(o.path), token: operatorSecret, body: body})
		if rec.Code >= 300 {
			t.Errorf("%s %s: %d %s", o.method, o.path, rec.Code, rec.Body)
		}
	}
}

// The document's request examples pass the document's schemas and the
// handlers' validation, and reach the backend as given, with the token's
// name as the actor.
func TestRequestExamples(t *testing.T) {
	h := newHarness(t)
	n := 0
	for _, o := range operations(t) {
		for name, ex := range examples(o.op) {
			n++
			t.Run(o.op.OperationID+"/"+name, func(t *testing.T) {
				path := concrete(o.path)
				req := httptest.NewRequest(o.method, path, strings.NewReader(ex))
				req.Header.Set("Content-Type", "application/json")
				route, params, err := h.router.FindRoute(req)
				if err != nil {
					t.Fatal(err)
				}
				in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
					Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
				if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
					t.Fatalf("example does not match the schema: %v", err)
				}
				before := len(h.fake.got())
				rec := h.do(request{method: o.method, path: path, token: operatorSecret, body: ex})
				if rec.Code >= 300 {
					t.Fatalf("%d %s", rec.Code, rec.Body)
				}
				calls := h.fake.got()
				if len(calls) <= before {
					t.Fatal("the backend was not called")
				}
				checkSent(t, ex, calls[before])
			})
		}
	}
	if n < 20 {
		t.Errorf("only %d request examples in openapi.yaml", n)
	}
}

// checkSent checks that what the backend got carries the example's fields.
func checkSent(t *testing.T, example string, c call) {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal([]byte(example), &want); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c.arg)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if id, ok := want["customer_id"]; ok && c.op != "Onboard" {
		if c.customerID != id {
			t.Errorf("customer %q, want %q", c.customerID, id)
		}
		delete(want, "customer_id")
	}
	for k, v := range want {
		if k == "actor" {
			continue
		}
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s: sent %v, example has %v", k, got[k], v)
		}
	}
	if _, has := got["actor"]; has && got["actor"] != "alice" {
		t.Errorf("actor = %v, want the token's name alice", got["actor"])
	}
}

// Each route calls the backend as it should.
func TestRoutes(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		method, path, body string
		status             int
		want               call
	}{
		{"POST", "/v1/customers", `{"customer_id":" acme ","name":"Acme","email":"a@acme.test","phone":"+14155550100","country":"us","currency":"usd","plan":{"monthly_fee_minor":100},"payment_instrument":{"type":"bank_transfer"},"signup_ip":"203.0.113.7"}`,
			201, call{op: "Onboard", customerID: "acme"}},
		{"GET", "/v1/customers?status=past_due&stage=overdue_1&risk_tier=low&min_days_past_due=3&page_size=10&page_token=" + ops.EncodePageToken([]byte("next")), "", 200,
			call{op: "List", arg: ops.ListFilter{Status: "past_due", Stage: "overdue_1", RiskTier: "low", MinDaysPastDue: 3, PageSize: 10, PageToken: []byte("next")}}},
		{"GET", "/v1/customers?exemption=manual_pay", "", 200, call{op: "List", arg: ops.ListFilter{Exemption: "manual_pay"}}},
		{"POST", "/v1/customers/acme/subscriptions", `{"subscription_id":"storage","product":"Storage","quantity":2,"unit_price_minor":1500,"actor":"mallory"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateAddSubscription.Name, arg: account.SubscriptionSpec{SubscriptionID: "storage", Product: "Storage", Quantity: 2, UnitPriceMinor: 1500, Actor: "alice"}}},
		{"POST", "/v1/customers/acme/subscriptions/quantity", `{"subscription_id":"seats","quantity":8}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateChangeQuantity.Name, arg: account.QuantityChange{SubscriptionID: "seats", Quantity: 8, Actor: "alice"}}},
		{"POST", "/v1/customers/acme/subscriptions/cancel", `{"subscription_id":"seats","when":"now","reason":"r"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateCancelSubscription.Name, arg: account.Cancellation{SubscriptionID: "seats", When: "now", Reason: "r", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/exemptions", `{"exemption":"manual_pay","reason":"r","until":"2026-03-01T00:00:00Z"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateSetExemption.Name, arg: account.ExemptionRequest{Exemption: account.ExemptManualPay, Reason: "r", Until: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Actor: "alice"}}},
		{"POST", "/v1/customers/acme/exemptions/remove", `{"exemption":"manual_pay","reason":"r"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateRemoveExemption.Name, arg: account.ExemptionRemoval{Exemption: account.ExemptManualPay, Reason: "r", Actor: "alice"}}},
		{"GET", "/v1/customers/acme", "", 200, call{op: "Status", customerID: "acme"}},
		{"GET", "/v1/customers/acme/emails", "", 200, call{op: "Emails", customerID: "acme"}},
		{"GET", "/v1/customers/acme/emails/acme:INV-acme-0002:due", "", 200, call{op: "Email", customerID: "acme", arg: "acme:INV-acme-0002:due"}},
		{"GET", "/v1/customers/acme/audit", "", 200, call{op: "Audit", customerID: "acme"}},
		{"POST", "/v1/customers/acme/payments", `{"payment_id":"p1","amount_minor":500,"currency":"USD","method":"card","actor":"mallory"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateRecordPayment.Name, arg: account.Payment{PaymentID: "p1", AmountMinor: 500, Currency: "USD", Method: "card", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/usage", `{"usage_id":"u1","amount_minor":5}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateReportUsage.Name, arg: account.Usage{UsageID: "u1", AmountMinor: 5}}},
		{"POST", "/v1/customers/acme/budget", `{"limit_minor":100,"notice_percents":[50,100],"hard_stop":true}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateSetBudget.Name, arg: account.Budget{LimitMinor: 100, NoticePercents: []int{50, 100}, HardStop: true, Actor: "alice"}}},
		{"POST", "/v1/customers/acme/phone/verify", `{"code":"000111"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateVerifyPhone.Name, arg: account.PhoneCode{Code: "000111"}}},
		{"POST", "/v1/customers/acme/phone/code", ``, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateRequestPhoneCode.Name, arg: account.CodeRequest{Actor: "alice"}}},
		{"POST", "/v1/customers/acme/abuse-reports", `{"notice_id":"n1","category":"spam","source":"staff","detail":"x"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateReportAbuse.Name, arg: account.AbuseReport{NoticeID: "n1", Category: "spam", Source: "staff", Detail: "x", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/review-decisions", `{"decision":"reinstate"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateReviewDecision.Name, arg: account.Decision{Decision: "reinstate", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/suspend", `{"reason":"r"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateSuspend.Name, arg: account.StaffAction{Reason: "r", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/reinstate", `{"reason":"r"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateReinstate.Name, arg: account.StaffAction{Reason: "r", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/terminate", `{"reason":"r","note":"n"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateTerminate.Name, arg: account.StaffAction{Reason: "r", Note: "n", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/promises", `{"invoice_id":"INV-acme-0002","until":"2026-03-01T00:00:00Z"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdatePromiseToPay.Name, arg: account.Promise{InvoiceID: "INV-acme-0002", Until: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Actor: "alice"}}},
		{"POST", "/v1/customers/acme/disputes", `{"invoice_id":"INV-acme-0002","reason":"r"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateDisputeInvoice.Name, arg: account.Dispute{InvoiceID: "INV-acme-0002", Reason: "r", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/dispute-resolutions", `{"invoice_id":"INV-acme-0002","outcome":"voided"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateResolveDispute.Name, arg: account.Resolution{InvoiceID: "INV-acme-0002", Outcome: "voided", Actor: "alice"}}},
		{"POST", "/v1/customers/acme/write-offs", `{"invoice_id":"INV-acme-0002","reason":"r"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateWriteOff.Name, arg: account.InvoiceAction{InvoiceID: "INV-acme-0002", Reason: "r", Actor: "alice"}}},
		{"POST", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N-1","category":"ddos","detail":"d","actor":"provider-bot"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateReportAbuse.Name, arg: account.AbuseReport{NoticeID: "N-1", Category: "ddos", Source: "provider", Detail: "d", Actor: "alice"}}},
		{"GET", "/v1/reports/aging?as_of=2026-02-01&currency=usd&status=past_due,suspended&top_n=5", "", 200,
			call{op: "Aging", arg: reports.AgingOptions{Currency: "USD", Statuses: []string{"past_due", "suspended"}, TopN: 5}}},
		{"GET", "/v1/reports/recovery?since=2026-01-01&until=30d&policy=standard", "", 200,
			call{op: "Recovery", arg: reports.RecoveryOptions{Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Until: t0.Add(-30 * 24 * time.Hour), Policy: "standard"}}},
		{"GET", "/v1/reports/recovery?format=csv", "", 200,
			call{op: "Recovery", arg: reports.RecoveryOptions{Since: t0.Add(-180 * 24 * time.Hour), Until: t0}}},
		{"POST", "/v1/collections/export", "", 200, call{op: "Export", arg: t0.UTC()}},
		{"GET", "/v1/reconcile?customer_id=acme", "", 200, call{op: "Reconcile", customerID: "acme", arg: reconcile.Options{CustomerID: "acme"}}},
		{"POST", "/v1/reconcile", `{"reason":"r"}`, 200, call{op: "Reconcile", arg: reconcile.Options{Repair: true, Actor: "alice", Reason: "r"}}},
		{"POST", "/v1/reconcile", ``, 200, call{op: "Reconcile", arg: reconcile.Options{Repair: true, Actor: "alice"}}},
		{"POST", "/v1/customers/acme/policy", `{"to":"strict.v2","reason":"r","actor":"mallory"}`, 200,
			call{op: "Update", customerID: "acme", update: workflows.UpdateChangePolicy.Name, arg: account.PolicyChange{To: "strict.v2", Reason: "r", Actor: "alice"}}},
		{"POST", "/v1/policies/lint", lintBody, 200, call{op: "LintPolicy", arg: json.RawMessage(lintBody)}},
		{"POST", "/v1/policies/simulate", `{"policy":"strict.v1","customers":["acme"],"since":"30d"}`, 200,
			call{op: "Simulate", arg: simulateCall{Policy: "strict.v1", Customers: []string{"acme"}, Since: t0.UTC().Add(-30 * 24 * time.Hour).Format(time.RFC3339)}}},
		{"POST", "/v1/policies/simulate?format=csv", `{"policy":"strict"}`, 200,
			call{op: "Simulate", arg: simulateCall{Policy: "strict.v2", Since: t0.UTC().Add(-180 * 24 * time.Hour).Format(time.RFC3339)}}},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := len(h.fake.got())
			rec := h.do(request{method: tc.method, path: tc.path, token: operatorSecret, body: tc.body})
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			calls := h.fake.got()[before:]
			if len(calls) != 1 {
				t.Fatalf("backend calls %+v, want one", calls)
			}
			got := calls[0]
			if tc.want.op == "Onboard" {
				got.arg = nil // checked below
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("backend got %+v\nwant        %+v", got, tc.want)
			}
		})
	}
	// The onboarding request is normalized before it is sent, and answered
	// with where the customer is.
	rec := h.do(request{method: "POST", path: "/v1/customers", token: operatorSecret, body: cases[0].body})
	app := h.fake.got()[len(h.fake.got())-1].arg.(account.Application)
	if app.CustomerID != "acme" || app.Country != "US" || app.Currency != "USD" || app.Locale != account.LocaleEnglish || app.Policy != "standard" {
		t.Errorf("application sent = %+v", app)
	}
	if rec.Header().Get("Location") != "/v1/customers/acme" || !strings.Contains(rec.Body.String(), `"workflow_id":"customer-acme"`) {
		t.Errorf("onboard answer: %v %s", rec.Header(), rec.Body)
	}
	// The list answers the next page's token in its text form.
	rec = h.do(request{method: "GET", path: "/v1/customers", token: viewerSecret})
	if !strings.Contains(rec.Body.String(), `"next_page_token":"`+ops.EncodePageToken([]byte("next"))+`"`) {
		t.Errorf("list: %s", rec.Body)
	}
	if h.checked < len(cases) {
		t.Errorf("only %d responses checked against openapi.yaml", h.checked)
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	for _, o := range operations(t) {
		path := concrete(o.path)
		body := ""
		for _, ex := range examples(o.op) {
			body = ex
			break
		}
		if o.public {
			if rec := h.do(request{method: o.method, path: path}); rec.Code != http.StatusOK {
				t.Errorf("%s %s without a token: %d, want 200 (public)", o.method, o.path, rec.Code)
			}
			continue
		}
		before := len(h.fake.got())
		rec := h.do(request{method: o.method, path: path, body: body})
		if code, _ := errorCode(t, rec); rec.Code != http.StatusUnauthorized || code != "unauthorized" || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s without a token: %d %s %v", o.method, o.path, rec.Code, rec.Body, rec.Header())
		}
		rec = h.do(request{method: o.method, path: path, body: body, token: "not-a-known-token-at-all"})
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s %s with an unknown token: %d %s", o.method, o.path, rec.Code, rec.Body)
		}
		rec = h.do(request{method: o.method, path: path, body: body, token: viewerSecret})
		if (o.method == http.MethodGet || viewerPosts[o.method+" "+o.path]) && !operatorReads[o.method+" "+o.path] {
			if rec.Code != http.StatusOK {
				t.Errorf("viewer %s %s: %d %s", o.method, o.path, rec.Code, rec.Body)
			}
		} else {
			if code, _ := errorCode(t, rec); rec.Code != http.StatusForbidden || code != "forbidden" {
				t.Errorf("viewer %s %s: %d %s, want 403", o.method, o.path, rec.Code, rec.Body)
			}
			if calls := h.fake.got(); len(calls) != before {
				t.Errorf("viewer %s %s reached the backend: %+v", o.method, o.path, calls[before:])
			}
		}
	}
	// Other spellings of the header.
	for _, v := range []string{"bearer " + operatorSecret, "Bearer  " + operatorSecret + " "} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/customers/acme", nil)
		req.Header.Set("Authorization", v)
		h.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("Authorization %q: %d", v, rec.Code)
		}
	}
	for _, v := range []string{"Basic " + operatorSecret, operatorSecret, "Bearer", "Bearer " + operatorSecret[:10]} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/customers/acme", nil)
		req.Header.Set("Authorization", v)
		h.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", v, rec.Code)
		}
	}
	// Unknown routes are not revealed without a token.
	if rec := h.do(request{method: "GET", path: "/v1/nothing"}); rec.Code != http.StatusUnauthorized {
		t.Errorf("unknown route without a token: %d", rec.Code)
	}
}

func TestValidationErrors(t *testing.T) {
	h := newHarness(t)
	big := `{"reason":"` + strings.Repeat("x", DefaultMaxBody) + `"}`
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code, message            string
	}{
		{"unknown field", "POST", "/v1/customers/acme/suspend", `{"reason":"r","reasn":"x"}`, nil, 400, "invalid_request", `unknown field "reasn"`},
		{"not JSON", "POST", "/v1/customers/acme/suspend", `{"reason":`, nil, 400, "invalid_request", "not valid JSON"},
		{"syntax", "POST", "/v1/customers/acme/suspend", `{reason}`, nil, 400, "invalid_request", "not valid JSON"},
		{"wrong type", "POST", "/v1/customers/acme/payments", `{"payment_id":"p","amount_minor":"5","currency":"USD","method":"card"}`, nil, 400, "invalid_request", "field amount_minor must be an integer"},
		{"array body", "POST", "/v1/customers/acme/suspend", `["r"]`, nil, 400, "invalid_request", "must be a JSON object"},
		{"two values", "POST", "/v1/customers/acme/suspend", `{"reason":"r"} {"reason":"s"}`, nil, 400, "invalid_request", "more than one JSON value"},
		{"too large", "POST", "/v1/customers/acme/suspend", big, nil, 413, "too_large", "larger than"},
		{"form", "POST", "/v1/customers/acme/suspend", `reason=r`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "application/json"},
		{"zero amount", "POST", "/v1/customers/acme/payments", `{"payment_id":"p","amount_minor":0,"currency":"USD","method":"card"}`, nil, 400, "invalid_request", "amount_minor must be a positive amount"},
		{"negative amount", "POST", "/v1/customers/acme/usage", `{"usage_id":"u","amount_minor":-5}`, nil, 400, "invalid_request", "amount_minor must be a positive amount"},
		{"no reason", "POST", "/v1/customers/acme/suspend", `{}`, nil, 400, "invalid_request", "reason is required"},
		{"empty body", "POST", "/v1/customers/acme/write-offs", ``, nil, 400, "invalid_request", "invoice_id"},
		{"bad code", "POST", "/v1/customers/acme/phone/verify", `{"code":"12a456"}`, nil, 400, "invalid_request", "6 digits"},
		{"bad decision", "POST", "/v1/customers/acme/review-decisions", `{"decision":"maybe"}`, nil, 400, "invalid_request", `decision "maybe"`},
		{"bad percents", "POST", "/v1/customers/acme/budget", `{"limit_minor":5,"notice_percents":[80,50]}`, nil, 400, "invalid_request", "notice_percents must rise"},
		{"bad promise time", "POST", "/v1/customers/acme/promises", `{"invoice_id":"I","until":"soon"}`, nil, 400, "invalid_request", "request body"},
		{"bad customer id", "POST", "/v1/customers/a%20b/suspend", `{"reason":"r"}`, nil, 400, "invalid_request", "customer_id"},
		{"bad customer id on read", "GET", "/v1/customers/-x", ``, nil, 400, "invalid_request", "customer_id"},
		{"bad application", "POST", "/v1/customers", `{"customer_id":"acme"}`, nil, 400, "invalid_request", "invalid application"},
		{"notice source", "POST", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"n","category":"spam","source":"staff","detail":"d"}`, nil, 400, "invalid_request", "from the provider"},
		{"notice customer", "POST", "/v1/enforcement-notices", `{"notice_id":"n","category":"spam","detail":"d"}`, nil, 400, "invalid_request", "customer_id"},
		{"list status", "GET", "/v1/customers?status=late", ``, nil, 400, "invalid_request", `status "late"`},
		{"list exemption", "GET", "/v1/customers?exemption=all", ``, nil, 400, "invalid_request", `exemption "all"`},
		{"hostile subscription id", "POST", "/v1/customers/acme/subscriptions", `{"subscription_id":"a b\u0000","product":"p","quantity":1,"unit_price_minor":5}`, nil, 400, "invalid_request", "subscription_id"},
		{"quantity overflow", "POST", "/v1/customers/acme/subscriptions", `{"subscription_id":"s","product":"p","quantity":1000000,"unit_price_minor":900000000000000}`, nil, 400, "invalid_request", "more than the maximum amount"},
		{"zero quantity", "POST", "/v1/customers/acme/subscriptions/quantity", `{"subscription_id":"s","quantity":0}`, nil, 400, "invalid_request", "quantity 0"},
		{"cancel when", "POST", "/v1/customers/acme/subscriptions/cancel", `{"subscription_id":"s","when":"later","reason":"r"}`, nil, 400, "invalid_request", `when "later"`},
		{"unknown exemption", "POST", "/v1/customers/acme/exemptions", `{"exemption":"no_invoices","reason":"r"}`, nil, 400, "invalid_request", `exemption "no_invoices"`},
		{"exemption without reason", "POST", "/v1/customers/acme/exemptions/remove", `{"exemption":"manual_pay"}`, nil, 400, "invalid_request", "reason is required"},
		{"list stage", "GET", "/v1/customers?stage=x%22%20OR%20true", ``, nil, 400, "invalid_request", "stage"},
		{"list unknown param", "GET", "/v1/customers?risk-tier=high", ``, nil, 400, "invalid_request", `unknown query parameter "risk-tier"`},
		{"reconcile actor in body", "POST", "/v1/reconcile", `{"actor":"mallory"}`, nil, 400, "invalid_request", `unknown field "actor"`},
		{"reconcile unknown param", "GET", "/v1/reconcile?customer=acme", ``, nil, 400, "invalid_request", `unknown query parameter "customer"`},
		{"list repeated param", "GET", "/v1/customers?status=active&status=past_due", ``, nil, 400, "invalid_request", "given 2 times"},
		{"list days", "GET", "/v1/customers?min_days_past_due=ten", ``, nil, 400, "invalid_request", "must be an integer"},
		{"list page size", "GET", "/v1/customers?page_size=5000", ``, nil, 400, "invalid_request", "page_size"},
		{"list token", "GET", "/v1/customers?page_token=%21%21", ``, nil, 400, "invalid_request", "page token"},
		{"aging format", "GET", "/v1/reports/aging?format=xml", ``, nil, 400, "invalid_request", "format"},
		{"aging as_of", "GET", "/v1/reports/aging?as_of=yesterday", ``, nil, 400, "invalid_request", "as_of"},
		{"aging currency", "GET", "/v1/reports/aging?currency=XX", ``, nil, 400, "invalid_request", "XX"},
		{"aging status", "GET", "/v1/reports/aging?status=late", ``, nil, 400, "invalid_request", "late"},
		{"recovery since", "GET", "/v1/reports/recovery?since=yesterday", ``, nil, 400, "invalid_request", "since"},
		{"recovery until", "GET", "/v1/reports/recovery?until=2026-02-30", ``, nil, 400, "invalid_request", "until"},
		{"recovery window", "GET", "/v1/reports/recovery?since=2026-02-01&until=2026-01-01", ``, nil, 400, "invalid_request", "must be before"},
		{"recovery policy", "GET", "/v1/reports/recovery?policy=Gold%21", ``, nil, 400, "invalid_request", "policy"},
		{"recovery format", "GET", "/v1/reports/recovery?format=xml", ``, nil, 400, "invalid_request", "format"},
		{"recovery unknown param", "GET", "/v1/reports/recovery?currency=USD", ``, nil, 400, "invalid_request", `unknown query parameter "currency"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.fake.got())
			rec := h.do(request{method: tc.method, path: tc.path, token: operatorSecret, body: tc.body, header: tc.header})
			code, msg := errorCode(t, rec)
			if rec.Code != tc.status || code != tc.code || !strings.Contains(msg, tc.message) {
				t.Errorf("%d %s %q, want %d %s containing %q", rec.Code, code, msg, tc.status, tc.code, tc.message)
			}
			if calls := h.fake.got(); len(calls) != before {
				t.Errorf("bad input reached the backend: %+v", calls[before:])
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		err     error
		status  int
		code    string
		message string
	}{
		{ops.Invalid(errors.New("policy \"gold\" is unknown")), 400, "invalid_request", `policy "gold" is unknown`},
		{fmt.Errorf("wrapped: %w", ops.ErrNotFound), 404, "not_found", "not found"},
		{&ops.RefusedError{Op: workflows.UpdateRecordPayment.Name, Message: "currency EUR does not match the account currency USD"}, 409, "refused",
			"currency EUR does not match the account currency USD"},
		{&ops.RefusedError{Message: `customer "acme" already exists (workflow customer-acme)`}, 409, "refused", "already exists"},
		{fmt.Errorf("x: %w", ops.ErrTerminated), 410, "terminated", "terminated"},
		{&ops.UnavailableError{Err: errors.New("cannot reach Temporal at 10.0.0.1:7233")}, 503, "unavailable", "try again"},
		{errors.New("boom: secret detail"), 500, "internal", "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			h := newHarness(t)
			h.fake.err = tc.err
			for _, r := range []request{
				{method: "POST", path: "/v1/customers/acme/payments", body: `{"payment_id":"p","amount_minor":5,"currency":"USD","method":"card"}`},
				{method: "GET", path: "/v1/customers/acme"},
				{method: "POST", path: "/v1/enforcement-notices", body: `{"customer_id":"acme","notice_id":"n","category":"spam","detail":"d"}`},
			} {
				r.token = operatorSecret
				rec := h.do(r)
				code, msg := errorCode(t, rec)
				if rec.Code != tc.status || code != tc.code || !strings.Contains(msg, tc.message) {
					t.Errorf("%s %s: %d %s %q, want %d %s containing %q", r.method, r.path, rec.Code, code, msg, tc.status, tc.code, tc.message)
				}
				if strings.Contains(msg, "refused:") || strings.Contains(msg, "10.0.0.1") || strings.Contains(msg, "secret detail") {
					t.Errorf("message %q shows wrapping or internals", msg)
				}
				if tc.status == 503 && rec.Header().Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
			}
			if tc.status >= 500 && !strings.Contains(h.logs.String(), "request_id=") {
				t.Errorf("%d not logged with its request ID:\n%s", tc.status, h.logs)
			}
		})
	}
}

// An update that answers nothing is answered with the status it left.
func TestUpdateWithoutResult(t *testing.T) {
	h := newHarness(t)
	h.fake.emptyResult = true
	rec := h.do(request{method: "POST", path: "/v1/customers/acme/phone/code", token: operatorSecret})
	calls := h.fake.got()
	if rec.Code != 200 || len(calls) != 2 || calls[1].op != "Status" {
		t.Errorf("%d %s %+v", rec.Code, rec.Body, calls)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t)
	rec := h.do(request{method: "GET", path: "/v1/nothing", token: viewerSecret})
	if code, _ := errorCode(t, rec); rec.Code != 404 || code != "not_found" {
		t.Errorf("unknown route: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "DELETE", path: "/v1/customers/acme", token: operatorSecret})
	if code, _ := errorCode(t, rec); rec.Code != 405 || code != "method_not_allowed" || rec.Header().Get("Allow") != "GET" {
		t.Errorf("DELETE customer: %d %s %v", rec.Code, rec.Body, rec.Header())
	}
	rec = h.do(request{method: "GET", path: "/v1/customers/acme/payments", token: viewerSecret})
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET payments: %d %v", rec.Code, rec.Header())
	}
	if len(h.fake.got()) != 0 {
		t.Errorf("backend called: %+v", h.fake.got())
	}
}

func TestPublicRoutesAndWebhooks(t *testing.T) {
	h := newHarness(t)
	rec := h.do(request{method: "GET", path: "/healthz"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ok"`) {
		t.Errorf("healthz: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "GET", path: "/v1/openapi.yaml"})
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), OpenAPI) || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Errorf("openapi.yaml: %d %s", rec.Code, rec.Header())
	}
	// A webhook authenticates its callers itself: no bearer token needed.
	rec = h.do(request{method: "POST", path: "/webhooks/sendgrid", body: `[]`})
	if rec.Code != http.StatusNoContent {
		t.Errorf("webhook: %d %s", rec.Code, rec.Body)
	}
}

func TestReports(t *testing.T) {
	h := newHarness(t)
	for format, ct := range map[string]string{"": "application/json", "json": "application/json", "csv": "text/csv; charset=utf-8", "text": "text/plain; charset=utf-8"} {
		rec := h.do(request{method: "GET", path: "/v1/reports/aging?format=" + format, token: viewerSecret})
		if rec.Code != 200 || rec.Header().Get("Content-Type") != ct || !strings.Contains(rec.Body.String(), "acme") {
			t.Errorf("aging %q: %d %v\n%s", format, rec.Code, rec.Header(), rec.Body)
		}
	}
	for format, want := range map[string]string{"": `"recovery_rate_bp": 8000`, "csv": "group,,,USD,3,300.00", "text": "final_notice"} {
		rec := h.do(request{method: "GET", path: "/v1/reports/recovery?format=" + format, token: viewerSecret})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("recovery %q: %d\n%s", format, rec.Code, rec.Body)
		}
	}
	// as_of defaults to now.
	var rep reports.AgingReport
	rec := h.do(request{method: "GET", path: "/v1/reports/aging", token: viewerSecret})
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || !rep.AsOf.Equal(t0) {
		t.Errorf("aging as of %v, want %v (%v)", rep.AsOf, t0, err)
	}
	rec = h.do(request{method: "POST", path: "/v1/collections/export", token: operatorSecret})
	if rec.Code != 200 || rec.Header().Get("X-Exported-Count") != "1" || !strings.HasPrefix(rec.Body.String(), "customer_id,name") ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), "collections-20260210T093000Z.csv") {
		t.Errorf("export: %d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	// Without reports configured, the routes say so.
	h = newHarness(t, func(o *Options) { o.Reports = nil })
	for _, r := range []request{{method: "GET", path: "/v1/reports/aging"}, {method: "POST", path: "/v1/collections/export"}} {
		r.token = operatorSecret
		if rec := h.do(r); rec.Code != 503 {
			t.Errorf("%s %s without reports: %d", r.method, r.path, rec.Code)
		}
	}
}

func TestAccessLogAndRequestID(t *testing.T) {
	h := newHarness(t)
	rec := h.do(request{method: "POST", path: "/v1/customers/acme/suspend", token: operatorSecret,
		body: `{"reason":"very-private-reason"}`, header: map[string]string{"X-Request-Id": "req-42"}})
	if rec.Header().Get("X-Request-Id") != "req-42" {
		t.Errorf("request ID = %q", rec.Header().Get("X-Request-Id"))
	}
	rec = h.do(request{method: "GET", path: "/v1/customers/acme", token: viewerSecret, header: map[string]string{"X-Request-Id": "bad id\n"}})
	if id := rec.Header().Get("X-Request-Id"); len(id) != 16 {
		t.Errorf("generated request ID = %q", id)
	}
	h.do(request{method: "GET", path: "/v1/customers/acme", token: "wrong-token-wrong-token"})
	logs := h.logs.String()
	for _, want := range []string{"request_id=req-42", "method=POST", "path=/v1/customers/acme/suspend", "status=200", "actor=alice", "actor=dashboard", "duration="} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{operatorSecret, viewerSecret, "wrong-token-wrong-token", "very-private-reason"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log shows %q:\n%s", secret, logs)
		}
	}
}

func TestActivityRouteWithoutMonitoring(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Activity = nil })
	rec := h.do(request{method: "POST", path: "/v1/activity", token: operatorSecret, body: `[]`})
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "not configured") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "POST", path: "/v1/activity", token: viewerSecret, body: `[]`})
	if rec.Code != 403 {
		t.Errorf("viewer: %d", rec.Code)
	}
}
