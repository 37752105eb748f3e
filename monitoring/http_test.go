package monitoring_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/example/dunning/account"
	"github.com/example/dunning/monitoring"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

func post(t *testing.T, h http.Handler, method, contentType, body string) (*httptest.ResponseRecorder, monitoring.Result) {
	t.Helper()
	req := httptest.NewRequest(method, "/v1/activity", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var res monitoring.Result
	if rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("response Content-Type %q", rec.Header().Get("Content-Type"))
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("response %q: %v", rec.Body.String(), err)
	}
	return rec, res
}

func line(id, customer, kind, extra string) string {
	return fmt.Sprintf(`{"event_id":%q,"customer_id":%q,"at":"2025-03-10T12:00:00Z","kind":%q%s}`, id, customer, kind, extra)
}

func TestHandlerJSONLines(t *testing.T) {
	e := setup(t)
	h := monitoring.Handler(e.ing)
	body := line("h1", "acme", "login", `,"region":"DE"`) + "\n" +
		`{"event_id":"h2"` + "\n" +
		line("h3", "acme", "resource_created", `,"resource_type":"Standard_ND6s"`) + "\n"
	rec, res := post(t, h, http.MethodPost, "application/x-ndjson", body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if res.Received != 3 || res.Stored != 2 || len(res.Invalid) != 1 || res.Invalid[0].Line != 2 || len(res.Hits) != 1 ||
		res.Hits[0].Status != monitoring.StatusReported || res.Hits[0].NoticeID == "" {
		t.Errorf("result %+v", res)
	}
	// The same body again: all duplicates, still a success.
	rec, res = post(t, h, http.MethodPost, "application/x-ndjson", body)
	if rec.Code != http.StatusOK || res.Duplicates != 2 || res.Stored != 0 || len(res.Hits) != 0 {
		t.Errorf("again: %d %+v", rec.Code, res)
	}
	// Nothing valid: 400 with the reasons.
	rec, res = post(t, h, http.MethodPost, "application/x-ndjson", "{\n"+line("h4", "acme", "usage", "")+"\n")
	if rec.Code != http.StatusBadRequest || len(res.Invalid) != 2 || res.Invalid[1].Line != 2 ||
		!strings.Contains(res.Invalid[1].Error, "amount_minor must be positive") {
		t.Errorf("nothing valid: %d %s", rec.Code, rec.Body)
	}
	if rec, res = post(t, h, http.MethodPost, "application/x-ndjson", "\n\n"); rec.Code != http.StatusBadRequest || res.Received != 0 {
		t.Errorf("empty body: %d %s", rec.Code, rec.Body)
	}
}

func TestHandlerJSONArray(t *testing.T) {
	e := setup(t)
	h := monitoring.Handler(e.ing)
	body := "[" + line("a1", "acme", "login", `,"region":"DE"`) + `,{"event_id":"a2","amount_minor":"x"},` +
		line("a3", "acme", "account_change", "") + "]"
	rec, res := post(t, h, http.MethodPost, "application/json; charset=utf-8", body)
	if rec.Code != http.StatusOK || res.Received != 3 || res.Stored != 2 || len(res.Invalid) != 1 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if inv := res.Invalid[0]; inv.Index != 1 || inv.Line != 0 || inv.EventID != "a2" || !strings.Contains(inv.Error, "amount_minor") {
		t.Errorf("invalid %+v", inv)
	}
	for _, bad := range []string{line("a4", "acme", "login", ""), "[] []", "[{]"} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(bad))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
			t.Errorf("body %q: %d %s", bad, rec.Code, rec.Body)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM activity_events`); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
}

func TestHandlerLimitsMethodAndMediaType(t *testing.T) {
	e := setup(t)
	h := monitoring.Handler(e.ing, monitoring.WithMaxBodyBytes(300))
	var b strings.Builder
	for i := range 5 {
		b.WriteString(line(fmt.Sprintf("big-%d", i), "acme", "login", "") + "\n")
	}
	if b.Len() <= 300 {
		t.Fatal("test body is not over the limit")
	}
	errorCode := func(rec *httptest.ResponseRecorder) string {
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return body.Error.Code
	}
	rec, _ := post(t, h, http.MethodPost, "application/x-ndjson", b.String())
	if rec.Code != http.StatusRequestEntityTooLarge || errorCode(rec) != "too_large" {
		t.Errorf("over the limit: %d %s", rec.Code, rec.Body)
	}
	// A body cut short by the limit is not ingested in part.
	if n := e.count(t, `SELECT count(*) FROM activity_events`); n != 0 {
		t.Errorf("%d events stored from a refused body", n)
	}
	if rec, res := post(t, h, http.MethodPost, "application/x-ndjson", line("small", "acme", "login", "")); rec.Code != http.StatusOK || res.Stored != 1 {
		t.Errorf("under the limit: %d %s", rec.Code, rec.Body)
	}

	rec, _ = post(t, h, http.MethodGet, "", "")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost || errorCode(rec) != "method_not_allowed" {
		t.Errorf("GET: %d %v", rec.Code, rec.Header())
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		rec, _ = post(t, h, http.MethodPost, ct, line("ct", "acme", "login", ""))
		if rec.Code != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d", ct, rec.Code)
		}
	}
}

type fakeUpdater struct {
	err  error
	got  []any
	name string
}

func (f *fakeUpdater) Update(_ context.Context, customerID, updateName string, arg, _ any) error {
	f.got = append(f.got, customerID, arg)
	f.name = updateName
	return f.err
}

func TestOpsReporterMapsErrors(t *testing.T) {
	rep := account.AbuseReport{NoticeID: "mon-1", Category: "other", Source: "monitoring", Detail: "x"}
	for _, c := range []struct {
		err  error
		want error
	}{
		{nil, nil},
		{fmt.Errorf("unknown customer %q: %w", "acme", ops.ErrNotFound), monitoring.ErrUnknownCustomer},
		{fmt.Errorf("%w", ops.ErrTerminated), monitoring.ErrRejected},
		{&ops.RefusedError{Op: "ReportAbuse", Message: "account is screening"}, monitoring.ErrRejected},
		{ops.Invalid(errors.New("bad")), monitoring.ErrRejected},
		{&ops.UnavailableError{Err: errors.New("no answer")}, nil},
	} {
		u := &fakeUpdater{err: c.err}
		err := monitoring.OpsReporter{Ops: u}.ReportAbuse(context.Background(), "acme", rep)
		switch {
		case c.err == nil && err != nil:
			t.Errorf("no error: got %v", err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%v: got %v, want %v", c.err, err, c.want)
		case c.want == nil && c.err != nil && (errors.Is(err, monitoring.ErrRejected) || errors.Is(err, monitoring.ErrUnknownCustomer)):
			t.Errorf("%v is transient, got %v", c.err, err)
		}
		if u.name != workflows.UpdateReportAbuse.Name || u.got[0] != "acme" || u.got[1] != rep {
			t.Errorf("update %s %v", u.name, u.got)
		}
	}
}
