package api

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

// apiCase is a request the API must refuse with 400, a message containing
// want, and no call to the backend.
type apiCase struct {
	name, path, body, want string
}

// apiCorpus is hostile input for every update route, the application and
// the enforcement-notice webhook, as JSON bodies (escapes where JSON needs
// them: \u0000, \u202e, lone surrogates).
func apiCorpus() []apiCase {
	const cust = "/v1/customers/acme/"
	long := strings.Repeat("x", 1001)
	app := func(field, value string) string {
		fields := map[string]string{
			"customer_id": `"acme"`, "name": `"Acme Ltd"`, "email": `"billing@acme.example"`, "phone": `"+14155550100"`,
			"country": `"US"`, "currency": `"USD"`, "locale": `"en"`, "policy": `"standard"`, "plan": `{"monthly_fee_minor":10000}`,
			"payment_instrument": `{"type":"card","card_bin":"424242"}`, "signup_ip": `"203.0.113.7"`,
		}
		fields[field] = value
		var parts []string
		for k, v := range fields {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	cases := []apiCase{
		// Payments.
		{"payment nul reference", cust + "payments", `{"payment_id":"p1","amount_minor":500,"currency":"USD","method":"card","reference":"a\u0000b"}`, "reference contains a NUL"},
		{"payment bidi reference", cust + "payments", `{"payment_id":"p1","amount_minor":500,"currency":"USD","method":"card","reference":"INV\u202e1"}`, "reference contains a Unicode bidirectional"},
		{"payment lone surrogate", cust + "payments", `{"payment_id":"p1","amount_minor":500,"currency":"USD","method":"card","reference":"\ud800"}`, "reference contains the replacement character"},
		{"payment long reference", cust + "payments", `{"payment_id":"p1","amount_minor":500,"currency":"USD","method":"card","reference":"` + long + `"}`, "reference is longer than 1000"},
		{"payment int64 max", cust + "payments", fmt.Sprintf(`{"payment_id":"p1","amount_minor":%d,"currency":"USD","method":"card"}`, int64(math.MaxInt64)), "amount_minor"},
		{"payment past int64", cust + "payments", `{"payment_id":"p1","amount_minor":9223372036854775808,"currency":"USD","method":"card"}`, "amount_minor"},
		{"payment int64 min", cust + "payments", fmt.Sprintf(`{"payment_id":"p1","amount_minor":%d,"currency":"USD","method":"card"}`, int64(math.MinInt64)), "amount_minor"},
		{"payment fraction", cust + "payments", `{"payment_id":"p1","amount_minor":1.5,"currency":"USD","method":"card"}`, "amount_minor"},
		{"payment exponent", cust + "payments", `{"payment_id":"p1","amount_minor":1e30,"currency":"USD","method":"card"}`, "amount_minor"},
		{"payment id path", cust + "payments", `{"payment_id":"../p1","amount_minor":5,"currency":"USD","method":"card"}`, "payment_id"},
		{"payment id nul", cust + "payments", `{"payment_id":"p\u00001","amount_minor":5,"currency":"USD","method":"card"}`, "payment_id"},
		{"payment currency", cust + "payments", `{"payment_id":"p1","amount_minor":5,"currency":"usd\u0000","method":"card"}`, "currency"},
		{"payment raw control", cust + "payments", "{\"payment_id\":\"p1\",\"amount_minor\":5,\"currency\":\"USD\",\"method\":\"card\",\"reference\":\"a\x07\"}", "not valid JSON"},
		// Usage and budget.
		{"usage description c1", cust + "usage", `{"usage_id":"u1","amount_minor":5,"description":"a\u0085b"}`, "description contains a control character (U+0085)"},
		{"usage int64 max", cust + "usage", fmt.Sprintf(`{"usage_id":"u1","amount_minor":%d}`, int64(math.MaxInt64)), "amount_minor"},
		{"budget int64 max", cust + "budget", fmt.Sprintf(`{"limit_minor":%d}`, int64(math.MaxInt64)), "limit_minor"},
		{"budget negative", cust + "budget", `{"limit_minor":-1}`, "limit_minor"},
		{"budget percents", cust + "budget", `{"limit_minor":100,"notice_percents":[100,50]}`, "notice_percents"},
		// Abuse, reviews, staff actions.
		{"abuse detail nul", cust + "abuse-reports", `{"notice_id":"n1","category":"spam","source":"staff","detail":"x\u0000"}`, "detail contains a NUL"},
		{"abuse detail isolate", cust + "abuse-reports", `{"notice_id":"n1","category":"spam","source":"staff","detail":"x\u2067y"}`, "detail contains a Unicode bidirectional"},
		{"abuse deadline year 1", cust + "abuse-reports", `{"notice_id":"n1","category":"spam","source":"staff","detail":"x","deadline":"0001-01-01T00:00:01Z"}`, "deadline"},
		{"abuse deadline year 9999", cust + "abuse-reports", `{"notice_id":"n1","category":"spam","source":"staff","detail":"x","deadline":"9999-12-31T23:59:59Z"}`, "deadline"},
		{"abuse deadline not a time", cust + "abuse-reports", `{"notice_id":"n1","category":"spam","source":"staff","detail":"x","deadline":"tomorrow"}`, "deadline"},
		{"abuse category", cust + "abuse-reports", `{"notice_id":"n1","category":"Spam; DROP TABLE","source":"staff","detail":"x"}`, "category"},
		{"decision note bidi", cust + "review-decisions", `{"decision":"reinstate","note":"ok\u200f"}`, "note contains a Unicode bidirectional"},
		{"decision review_id", cust + "review-decisions", `{"review_id":"r\u202e1","decision":"reinstate"}`, "review_id"},
		{"suspend reason newline", cust + "suspend", `{"reason":"a\nb"}`, "reason contains a control character (U+000A)"},
		{"suspend reason blank", cust + "suspend", `{"reason":"   "}`, "reason is required"},
		{"reinstate note nul", cust + "reinstate", `{"reason":"paid","note":"\u0000"}`, "note contains a NUL"},
		{"terminate reason bom", cust + "terminate", `{"reason":"\ufeffbye"}`, "reason contains a byte order mark"},
		// Promises, disputes, write-offs.
		{"promise year 1", cust + "promises", `{"invoice_id":"INV-acme-0002","until":"0001-01-01T00:00:00Z"}`, "until"},
		{"promise year 3000", cust + "promises", `{"invoice_id":"INV-acme-0002","until":"3000-01-01T00:00:00Z"}`, "until"},
		{"promise until not a time", cust + "promises", `{"invoice_id":"INV-acme-0002","until":"2026-13-01"}`, "until"},
		{"promise invoice nul", cust + "promises", `{"invoice_id":"INV-acme-0002\u0000","until":"2026-03-01T00:00:00Z"}`, "invoice_id"},
		{"promise note ansi", cust + "promises", `{"invoice_id":"INV-acme-0002","until":"2026-03-01T00:00:00Z","note":"\u001b[2J"}`, "note contains a control character (U+001B)"},
		{"dispute reason rlo", cust + "disputes", `{"invoice_id":"INV-acme-0002","reason":"\u202e"}`, "reason contains a Unicode bidirectional"},
		{"dispute invoice malformed", cust + "disputes", `{"invoice_id":"INV acme","reason":"x"}`, "invoice_id"},
		{"resolve int64 max", cust + "dispute-resolutions", fmt.Sprintf(`{"invoice_id":"INV-acme-0002","outcome":"adjusted","amount_minor":%d}`, int64(math.MaxInt64)), "amount_minor"},
		{"resolve outcome", cust + "dispute-resolutions", `{"invoice_id":"INV-acme-0002","outcome":"forgiven"}`, "outcome"},
		{"write-off reason del", cust + "write-offs", `{"invoice_id":"INV-acme-0002","reason":"x\u007f"}`, "reason contains a control character (U+007F)"},
		{"phone code fullwidth", cust + "phone/verify", `{"code":"１２３４５６"}`, "code must be the 6 digits"},
		{"phone code nul", cust + "phone/verify", `{"code":"12345\u0000"}`, "code must be the 6 digits"},
		// Malformed customer IDs in the path.
		{"customer id bidi", "/v1/customers/acme%E2%80%AE/payments", `{"payment_id":"p1","amount_minor":5,"currency":"USD","method":"card"}`, "customer_id"},
		{"customer id nul", "/v1/customers/acme%00/suspend", `{"reason":"x"}`, "customer_id"},
		{"customer id too long", "/v1/customers/" + strings.Repeat("a", 65) + "/suspend", `{"reason":"x"}`, "customer_id"},
		// The application.
		{"application name nul", "/v1/customers", app("name", `"Acme\u0000"`), "name contains a NUL"},
		{"application name rlo", "/v1/customers", app("name", `"Acme \u202eLtd"`), "name contains a Unicode bidirectional"},
		{"application name surrogate", "/v1/customers", app("name", `"Acme \udc00"`), "name contains the replacement character"},
		{"application name long", "/v1/customers", app("name", `"`+strings.Repeat("a", 201)+`"`), "name is required (at most 200"},
		{"application email bidi", "/v1/customers", app("email", `"bill\u202eing@acme.example"`), "email contains a Unicode bidirectional"},
		{"application fee int64 max", "/v1/customers", app("plan", fmt.Sprintf(`{"monthly_fee_minor":%d}`, int64(math.MaxInt64))), "plan.monthly_fee_minor"},
		{"application fee past int64", "/v1/customers", app("plan", `{"monthly_fee_minor":99999999999999999999}`), "monthly_fee_minor"},
		{"application customer id", "/v1/customers", app("customer_id", `"acme/../globex"`), "customer_id"},
		{"application policy nul", "/v1/customers", app("policy", `"standard\u0000"`), "policy"},
		{"application ip", "/v1/customers", app("signup_ip", `"203.0.113.7\u0000"`), "signup_ip"},
		// Enforcement notices (the provider's webhook).
		{"notice detail nul", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N-1","category":"spam","detail":"x\u0000"}`, "detail contains a NUL"},
		{"notice detail rlo", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N-1","category":"spam","detail":"\u202ex"}`, "detail contains a Unicode bidirectional"},
		{"notice detail long", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N-1","category":"spam","detail":"` + long + `"}`, "detail is longer than 1000"},
		{"notice deadline year 1", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N-1","category":"spam","detail":"x","deadline":"0001-01-01T00:00:00.5Z"}`, "deadline"},
		{"notice deadline year 2200", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N-1","category":"spam","detail":"x","deadline":"2200-01-01T00:00:00Z"}`, "deadline"},
		{"notice other customer id", "/v1/enforcement-notices", `{"customer_id":"acme\u0000globex","notice_id":"N-1","category":"spam","detail":"x"}`, "customer_id"},
		{"notice id bidi", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N\u202e1","category":"spam","detail":"x"}`, "notice_id"},
		{"notice source", "/v1/enforcement-notices", `{"customer_id":"acme","notice_id":"N-1","category":"spam","source":"staff","detail":"x"}`, "source"},
	}
	return cases
}

// Every hostile request is refused with 400, a message naming the field,
// and nothing reaches the backend.
func TestBadInputCorpusThroughAPI(t *testing.T) {
	cases := apiCorpus()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.do(request{method: http.MethodPost, path: tc.path, token: operatorSecret, body: tc.body})
			code, msg := errorCode(t, rec)
			if rec.Code != http.StatusBadRequest || code != "invalid_request" || !strings.Contains(msg, tc.want) {
				t.Errorf("%d %s %q, want 400 invalid_request containing %q", rec.Code, code, msg, tc.want)
			}
			if calls := h.fake.got(); len(calls) != 0 {
				t.Errorf("refused but the backend was called: %+v", calls)
			}
		})
	}
	if len(cases) < 60 {
		t.Errorf("API corpus has %d cases, want at least 60", len(cases))
	}
}

// Text that is unusual but storable reaches the backend whole.
func TestUnusualTextReachesBackendWhole(t *testing.T) {
	h := newHarness(t)
	note := "첫 줄\n\tsecond line — «quoted» 🚀 =1+1"
	rec := h.do(request{method: http.MethodPost, path: "/v1/customers/acme/suspend", token: operatorSecret,
		body: fmt.Sprintf(`{"reason":"=HYPERLINK(\"x\")","note":%q}`, note)})
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	calls := h.fake.got()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	got := fmt.Sprintf("%+v", calls[0].arg)
	if !strings.Contains(got, note) || !strings.Contains(got, `=HYPERLINK("x")`) {
		t.Errorf("backend got %s", got)
	}
}

func TestCollectionsBatchRoutes(t *testing.T) {
	h := newHarness(t)
	rec := h.do(request{method: http.MethodGet, path: "/v1/collections/exports?limit=5", token: viewerSecret})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), sampleBatch) {
		t.Errorf("list: %d %s", rec.Code, rec.Body)
	}
	// The file holds contact details: a viewer may list batches, not fetch one.
	rec = h.do(request{method: http.MethodGet, path: "/v1/collections/exports/" + sampleBatch, token: viewerSecret})
	if code, _ := errorCode(t, rec); rec.Code != http.StatusForbidden || code != "forbidden" {
		t.Errorf("viewer fetch: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: http.MethodGet, path: "/v1/collections/exports/" + sampleBatch, token: operatorSecret})
	if rec.Code != http.StatusOK || rec.Header().Get("X-Export-Batch") != sampleBatch || !strings.HasSuffix(rec.Body.String(), ","+sampleBatch+"\n") {
		t.Errorf("fetch: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = h.do(request{method: http.MethodPost, path: "/v1/collections/export", token: operatorSecret})
	if rec.Code != http.StatusOK || rec.Header().Get("X-Export-Batch") != "col-1" {
		t.Errorf("export: %d %v", rec.Code, rec.Header())
	}
	rec = h.do(request{method: http.MethodGet, path: "/v1/collections/exports?limit=-1", token: viewerSecret})
	if code, _ := errorCode(t, rec); rec.Code != http.StatusBadRequest || code != "invalid_request" {
		t.Errorf("negative limit: %d %s", rec.Code, rec.Body)
	}
	calls := h.fake.got()
	if len(calls) != 3 || calls[0].op != "Batches" || calls[0].arg != 5 || calls[1].op != "Batch" || calls[1].arg != sampleBatch {
		t.Errorf("calls %+v", calls)
	}
}

// Report times outside 2000-2100 are refused, naming the parameter.
func TestAgingAsOfOutOfRange(t *testing.T) {
	h := newHarness(t)
	for _, v := range []string{"0001-01-01", "1999-12-31T23:59:59Z", "2101-01-01", "9999-12-31T23:59:59Z"} {
		rec := h.do(request{method: http.MethodGet, path: "/v1/reports/aging?as_of=" + v, token: viewerSecret})
		if code, msg := errorCode(t, rec); rec.Code != http.StatusBadRequest || code != "invalid_request" || !strings.Contains(msg, "as_of") || !strings.Contains(msg, "out of range") {
			t.Errorf("as_of %s: %d %s %q", v, rec.Code, code, msg)
		}
	}
	if calls := h.fake.got(); len(calls) != 0 {
		t.Errorf("backend called: %+v", calls)
	}
}
