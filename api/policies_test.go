package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/example/dunning/lab"
	"github.com/example/dunning/ops"
)

// Viewers may lint and simulate (nothing changes) but not move customers.
func TestPolicyLabForViewers(t *testing.T) {
	h := newHarness(t)
	rec := h.do(request{method: "POST", path: "/v1/policies/lint", token: viewerSecret, body: lintBody})
	var res ops.PolicyLint
	if err := json.Unmarshal(rec.Body.Bytes(), &res); rec.Code != http.StatusOK || err != nil || res.Policy != "candidate.v1" ||
		len(res.Warnings) != 2 || res.Warnings[1].Code != "termination_unwarned" || res.Warnings[0].Field != "ladder[1].offset" || res.Warnings[0].File != "candidate.v1.json" {
		t.Errorf("viewer lint: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "POST", path: "/v1/policies/simulate?format=text", token: viewerSecret, body: `{"policy":"strict.v1"}`})
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "Simulation of strict.v1 over 1 customers") {
		t.Errorf("viewer simulate: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(request{method: "POST", path: "/v1/policies/simulate", token: viewerSecret, body: `{"policy":"strict.v1"}`})
	var rep lab.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || len(rep.Customers) != 1 || rep.Customers[0].Suspension != lab.ChangeNew {
		t.Errorf("simulate JSON: %v %s", err, rec.Body)
	}
	// A candidate not yet published.
	before := len(h.fake.got())
	rec = h.do(request{method: "POST", path: "/v1/policies/simulate", token: viewerSecret, body: `{"policy_file":` + lintBody + `,"customers":["acme"]}`})
	if calls := h.fake.got()[before:]; rec.Code != http.StatusOK || len(calls) != 1 || calls[0].arg.(simulateCall).Policy != "candidate.v1" {
		t.Errorf("simulate a candidate file: %d %s", rec.Code, rec.Body)
	}
	before = len(h.fake.got())
	rec = h.do(request{method: "POST", path: "/v1/customers/acme/policy", token: viewerSecret, body: `{"to":"strict.v1","reason":"r"}`})
	if code, _ := errorCode(t, rec); rec.Code != http.StatusForbidden || code != "forbidden" || len(h.fake.got()) != before {
		t.Errorf("viewer change: %d %s", rec.Code, rec.Body)
	}
}

// Bad input gets a clear error and reaches no backend.
func TestPolicyLabBadInput(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		path, body string
		status     int
		want       string
		backend    bool // the backend is asked (and refuses)
	}{
		{"/v1/policies/lint", `{"name":"candidate","version":1,"day":"1x"}`, 400, "policy file candidate.v1.json: field day", true},
		{"/v1/policies/lint?file=x.v1.json", `not json`, 400, "policy file x.v1.json: not valid policy JSON", true},
		{"/v1/policies/lint", `{"name":"../../etc/passwd","version":1}`, 400, "must look like <name>.v<version>.json", false},
		{"/v1/policies/lint?file=..%2Fx.v1.json", lintBody, 400, "must look like", false},
		{"/v1/policies/lint?mode=x", lintBody, 400, "mode", false},
		{"/v1/policies/simulate", `{}`, 400, "give policy", false},
		{"/v1/policies/simulate", `{"policy":"strict.v1","policy_file":` + lintBody + `}`, 400, "one of them", false},
		{"/v1/policies/simulate", `{"policy_file":{"name":"candidate","version":1,"day":"1x"}}`, 400, "policy file candidate.v1.json: field day", false},
		{"/v1/policies/simulate", `{"policy_file":{"name":"../x","version":1}}`, 400, "name and version must make a file name", false},
		{"/v1/policies/simulate", `{"policy_file":"strict.v1"}`, 400, "name and version", false},
		{"/v1/policies/simulate", `{"policy":"nope.v1"}`, 400, `unknown policy "nope.v1"`, false},
		{"/v1/policies/simulate", `{"policy":"strict.v1","since":"yesterday"}`, 400, "since", false},
		{"/v1/policies/simulate", `{"policy":"strict.v1","since":"-3d"}`, 400, "since", false},
		{"/v1/policies/simulate", `{"policy":"strict.v1","customers":["x'; DROP TABLE customers;--"]}`, 400, "customer_id", false},
		{"/v1/policies/simulate", `{"policy":"strict.v1","extra":1}`, 400, "extra", false},
		{"/v1/policies/simulate?format=xml", `{"policy":"strict.v1"}`, 400, "format", false},
		{"/v1/customers/acme/policy", `{"to":"strict","reason":"r"}`, 400, "with its version", false},
		{"/v1/customers/acme/policy", `{"to":"strict.v1"}`, 400, "reason is required", false},
	} {
		before := len(h.fake.got())
		rec := h.do(request{method: "POST", path: c.path, token: operatorSecret, body: c.body})
		_, msg := errorCode(t, rec)
		if rec.Code != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: %d %q, want %d %q", c.path, c.body, rec.Code, msg, c.status, c.want)
		}
		if asked := len(h.fake.got()) > before; asked != c.backend {
			t.Errorf("%s %s: backend asked %v", c.path, c.body, asked)
		}
	}
	// Without a policy lab the routes say so.
	h = newHarness(t, func(o *Options) { o.Lab = nil })
	for _, p := range []string{"/v1/policies/lint", "/v1/policies/simulate"} {
		body := lintBody
		if strings.HasSuffix(p, "simulate") {
			body = `{"policy":"strict.v1"}`
		}
		if rec := h.do(request{method: "POST", path: p, token: operatorSecret, body: body}); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s without a lab: %d", p, rec.Code)
		}
	}
}
