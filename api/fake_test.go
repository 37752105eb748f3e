package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/reconcile"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// call is one call the fake backend got.
type call struct {
	op         string // Onboard, Update, Status, List, Emails, Email, Audit, Aging, Export
	customerID string
	update     string
	arg        any
}

// fakeOps is the backend: it records calls and answers with canned data,
// or with err when set.
type fakeOps struct {
	mu    sync.Mutex
	calls []call
	err   error
	// emptyResult makes updates answer nothing, as an update without a
	// result would.
	emptyResult bool
}

func (f *fakeOps) record(c call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.err
}

func (f *fakeOps) got() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

var t0 = time.Date(2026, 2, 10, 9, 30, 0, 0, time.UTC)

func sampleStatus(id string) account.StatusView {
	return account.StatusView{
		CustomerID: id, Name: "Acme Ltd", Email: "billing@acme.test", Status: account.StatusPastDue,
		Access: account.AccessLimited, RiskTier: "low", Policy: "standard.v1", Currency: "USD",
		BalanceMinor: 10000, OverdueMinor: 10000, DaysPastDue: 4, DunningStage: "overdue_1",
		Suspensions: []account.Suspension{{Reason: account.ReasonManual, Since: t0, Actor: "alice", Note: "chargeback"}},
		Invoices: []account.InvoiceView{{
			ID: "INV-" + id + "-0002", Kind: account.KindSubscription, AmountMinor: 10000, OutstandingMinor: 10000,
			IssuedAt: t0.AddDate(0, 0, -18), DueAt: t0.AddDate(0, 0, -4), DaysPastDue: 4, Stage: "overdue_1",
			NextStage: "overdue_2", NextActionAt: t0.AddDate(0, 0, 3),
		}},
		NextBillingAt: t0.AddDate(0, 0, 10), NextActionAt: t0.AddDate(0, 0, 3), NextAction: "overdue_2 for INV-" + id + "-0002",
		PhoneVerified: true, EmailOK: true, Channel: "email",
		Screening: &account.Screening{Outcome: "approve_prepay", Tier: "low", Score: 12, Summary: "low risk", Reasons: []string{"country: US (+0)"}},
		Reviews: []account.Review{{ID: "rev-" + id + "-1", Kind: account.ReviewMisuse, Source: "provider", NoticeID: "N-1", Category: "spam",
			Severity: account.SeverityModerate, Reason: "spam complaint", OpenedAt: t0, Deadline: t0.AddDate(0, 0, 2)}},
		Budget:     &account.BudgetView{LimitMinor: 50000, SpentMinor: 1250, Percent: 2, Percents: []int{50, 80, 100}, Notified: []int{}},
		UsageMinor: 1250,
		AsOf:       t0,
	}
}

func (f *fakeOps) Onboard(_ context.Context, app account.Application) (string, string, error) {
	if err := f.record(call{op: "Onboard", customerID: app.CustomerID, arg: app}); err != nil {
		return "", "", err
	}
	return workflows.WorkflowID(app.CustomerID), "run-1", nil
}

func (f *fakeOps) Update(_ context.Context, customerID, updateName string, arg, result any) error {
	if err := f.record(call{op: "Update", customerID: customerID, update: updateName, arg: arg}); err != nil {
		return err
	}
	if f.emptyResult {
		return nil
	}
	var res any = sampleStatus(customerID)
	if updateName == workflows.UpdateRecordPayment.Name {
		p := arg.(account.Payment)
		res = account.PaymentResult{PaymentID: p.PaymentID, Allocations: []account.Allocation{{InvoiceID: "INV-" + customerID + "-0002", AmountMinor: p.AmountMinor}},
			Status: account.StatusActive}
	}
	// What the Temporal client does: the result crosses as JSON.
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, result)
}

func (f *fakeOps) Status(_ context.Context, customerID string) (account.StatusView, error) {
	if err := f.record(call{op: "Status", customerID: customerID}); err != nil {
		return account.StatusView{}, err
	}
	return sampleStatus(customerID), nil
}

func (f *fakeOps) List(_ context.Context, filter ops.ListFilter) ([]ops.ListedCustomer, []byte, error) {
	if err := f.record(call{op: "List", arg: filter}); err != nil {
		return nil, nil, err
	}
	return []ops.ListedCustomer{{
		CustomerID: "acme", WorkflowID: "customer-acme", RunID: "run-1", Name: "Acme Ltd", Email: "billing@acme.test",
		Status: "past_due", DunningStage: "overdue_1", RiskTier: "low", AmountOverdueMinor: 10000, DaysPastDue: 4,
		ExecutionStatus: "running", StartedAt: t0,
	}}, []byte("next"), nil
}

func sampleEmail(id, key string) store.OutboxMessage {
	return store.OutboxMessage{ID: 7, MessageKey: key, CustomerID: sql.NullString{String: id, Valid: true}, InvoiceID: sql.NullString{String: "INV-" + id + "-0002", Valid: true},
		Stage: "invoice_issued", Template: "invoice_issued", Channel: "email", ToEmail: "billing@acme.test", Subject: "Your invoice",
		BodyText: "Hello", BodyHTML: "<p>Hello</p>", Status: store.OutboxSent, Attempts: 1, CreatedAt: t0, UpdatedAt: t0,
		SentAt: sql.NullTime{Time: t0, Valid: true}}
}

func (f *fakeOps) Emails(_ context.Context, customerID string) ([]store.OutboxMessage, error) {
	if err := f.record(call{op: "Emails", customerID: customerID}); err != nil {
		return nil, err
	}
	return []store.OutboxMessage{sampleEmail(customerID, customerID+":INV-"+customerID+"-0002:invoice_issued")}, nil
}

func (f *fakeOps) Email(_ context.Context, customerID, key string) (store.OutboxMessage, error) {
	if err := f.record(call{op: "Email", customerID: customerID, arg: key}); err != nil {
		return store.OutboxMessage{}, err
	}
	return sampleEmail(customerID, key), nil
}

func (f *fakeOps) Audit(_ context.Context, customerID string) ([]store.AuditEntry, error) {
	if err := f.record(call{op: "Audit", customerID: customerID}); err != nil {
		return nil, err
	}
	return []store.AuditEntry{
		{ID: 1, EventKey: customerID + "/1", CustomerID: customerID, At: t0, Actor: "system", Action: account.EventAccountOpened, Reason: "application", Detail: json.RawMessage(`{"policy":"standard.v1"}`), RecordedAt: t0},
		{ID: 2, EventKey: customerID + "/2", CustomerID: customerID, At: t0, Actor: "alice", Action: account.EventPaymentRecorded, Reason: "payment p1",
			InvoiceID: sql.NullString{String: "INV-" + customerID + "-0001", Valid: true}, RecordedAt: t0},
	}, nil
}

func (f *fakeOps) Aging(_ context.Context, asOf time.Time, opts reports.AgingOptions) (reports.AgingReport, error) {
	if err := f.record(call{op: "Aging", arg: opts}); err != nil {
		return reports.AgingReport{}, err
	}
	var b [reports.NumBuckets]reports.BucketFigure
	for i := range b {
		b[i].Bucket = reports.BucketNames[i]
	}
	b[1].Figure = reports.Figure{Count: 1, Minor: 10000}
	dso := 30.5
	return reports.AgingReport{AsOf: asOf, Options: opts, Currencies: []reports.CurrencyAging{{
		Currency: "USD", Customers: 1, Buckets: b, Total: reports.Figure{Count: 1, Minor: 10000},
		Sales90dMinor: 29500, DSODays: &dso,
		TopCustomers: []reports.CustomerAging{{CustomerID: "acme", Name: "Acme Ltd", Status: "past_due", Currency: "USD", Buckets: b,
			Total: reports.Figure{Count: 1, Minor: 10000}}},
	}}}, nil
}

func (f *fakeOps) ExportCollections(_ context.Context, w io.Writer, at time.Time) (int, error) {
	if err := f.record(call{op: "Export", arg: at}); err != nil {
		return 0, err
	}
	fmt.Fprintln(w, strings.Join(reports.CollectionsHeader, ","))
	fmt.Fprintln(w, "acme,Acme Ltd,billing@acme.test,+14155550100,US,INV-acme-0002,100.00,USD,2026-02-01,acme/9,col-1")
	return 1, nil
}

const sampleBatch = "col-20260210T093000Z-0a1b2c3d"

func (f *fakeOps) CollectionsBatches(_ context.Context, limit int) ([]reports.CollectionsBatch, error) {
	if err := f.record(call{op: "Batches", arg: limit}); err != nil {
		return nil, err
	}
	return []reports.CollectionsBatch{{BatchID: sampleBatch, ExportedAt: t0, Rows: 1, SHA256: strings.Repeat("ab", 32), Kept: true}}, nil
}

func (f *fakeOps) FetchCollectionsBatch(_ context.Context, w io.Writer, batchID string) (reports.CollectionsBatch, error) {
	if err := f.record(call{op: "Batch", arg: batchID}); err != nil {
		return reports.CollectionsBatch{}, err
	}
	fmt.Fprintln(w, strings.Join(reports.CollectionsHeader, ","))
	fmt.Fprintln(w, "acme,Acme Ltd,billing@acme.test,+14155550100,US,INV-acme-0002,100.00,USD,2026-02-01,acme/9,"+batchID)
	return reports.CollectionsBatch{BatchID: batchID, ExportedAt: t0, Rows: 1, Kept: true}, nil
}

// Test tokens.
const (
	operatorSecret = "operator-secret-0001"
	viewerSecret   = "viewer-secret-00001"
	tokenConfig    = "alice:operator:" + operatorSecret + ", dashboard:viewer:" + viewerSecret
)

// harness is the API over the fake, with the OpenAPI document to check
// every response against.
type harness struct {
	t       *testing.T
	fake    *fakeOps
	handler http.Handler
	logs    *syncBuffer
	router  routers.Router
	checked int // responses validated against the document
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func loadDoc(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	return doc
}

func newHarness(t *testing.T, mutate ...func(*Options)) *harness {
	t.Helper()
	tokens, err := ParseTokens(tokenConfig)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeOps{}
	logs := &syncBuffer{}
	opts := Options{
		Ops: fake, Reports: fake, Reconciler: fake, Outbound: fake, Lab: fake, Tokens: tokens,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Now:    func() time.Time { return t0 },
		Webhooks: map[string]http.Handler{"POST /webhooks/sendgrid": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})},
		Activity: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"received":1,"stored":1,"duplicates":0,"invalid":[],"hits":[]}`))
		}),
	}
	for _, m := range mutate {
		m(&opts)
	}
	router, err := legacy.NewRouter(loadDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, fake: fake, handler: New(opts), logs: logs, router: router}
}

// request is one test request.
type request struct {
	method, path, token, body string
	header                    map[string]string
}

// do sends the request and checks the response against the document when
// the document has the route.
func (h *harness) do(r request) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	h.checkResponse(req, rec)
	return rec
}

// checkResponse validates a response against the document's schema for
// its route and status; a response to a request the document has no route
// for must still be the error shape.
func (h *harness) checkResponse(req *http.Request, rec *httptest.ResponseRecorder) {
	h.t.Helper()
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		if strings.HasPrefix(req.URL.Path, "/webhooks/") {
			return
		}
		var body errorBody
		if json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code == "" || body.Error.Message == "" {
			h.t.Errorf("%s %s: unrouted answer is not the error shape: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		h.t.Errorf("%s %s: response %d does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, rec.Code, err, rec.Body)
	}
	h.checked++
}

// errorCode reads the error code of an error response.
func errorCode(t *testing.T, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	return body.Error.Code, body.Error.Message
}

func (f *fakeOps) Reconcile(_ context.Context, o reconcile.Options) (reconcile.Report, error) {
	if err := f.record(call{op: "Reconcile", customerID: o.CustomerID, arg: o}); err != nil {
		return reconcile.Report{}, err
	}
	rep := reconcile.Report{StartedAt: t0, FinishedAt: t0, Repair: o.Repair, Checked: 1, Drifted: 1, Customers: []reconcile.CustomerReport{{
		CustomerID: "acme", State: reconcile.StateDrift, Execution: "running",
		Drift: []reconcile.Drift{{Field: "payment:p1", Workflow: "500 USD", Database: reconcile.Missing, Repairable: true}},
	}}}
	if o.Repair {
		rep.Drifted, rep.Repaired = 0, 1
		rep.Customers[0].State = reconcile.StateRepaired
		rep.Customers[0].Repair = &account.ResyncResult{EventSeq: 12, Invoices: 1, PaymentsRestored: []string{"p1"}}
		rep.Customers[0].Remaining = []reconcile.Drift{}
	}
	return rep, nil
}

func (f *fakeOps) Recovery(_ context.Context, opts reports.RecoveryOptions) (reports.RecoveryReport, error) {
	if err := f.record(call{op: "Recovery", arg: opts}); err != nil {
		return reports.RecoveryReport{}, err
	}
	h, d, rate := 96.0, 4.0, int64(8000)
	usd := reports.CurrencyRecovery{
		Currency: "USD", Due: reports.Figure{Count: 3, Minor: 30000}, Collected: reports.Figure{Count: 1, Minor: 10000},
		AtRisk: reports.Figure{Count: 2, Minor: 20000}, Recovered: reports.Figure{Count: 2, Minor: 16000}, RecoveredInFull: 1, RateBP: &rate,
		Steps: []reports.StepRecovery{
			{Source: reports.SourceRetry, Step: "attempt_2", Attempt: 2, Figure: reports.Figure{Count: 1, Minor: 10000}},
			{Source: reports.SourceStaff, Step: "final_notice", Figure: reports.Figure{Count: 1, Minor: 6000}},
		},
	}
	for _, s := range reports.RecoverySources {
		usd.BySource = append(usd.BySource, reports.SourceFigure{Source: s})
	}
	usd.BySource[0].Figure, usd.BySource[3].Figure = reports.Figure{Count: 1, Minor: 10000}, reports.Figure{Count: 1, Minor: 6000}
	g := reports.RecoveryGroup{Currencies: []reports.CurrencyRecovery{usd},
		TimeToRecovery: reports.TimeToRecovery{Payments: 2, MedianHours: &h, P90Hours: &h, MedianDays: &d, P90Days: &d}}
	m := g
	m.Month = "2026-01"
	return reports.RecoveryReport{AsOf: t0, Options: opts, Total: g, Months: []reports.RecoveryGroup{m},
		Policies: []reports.PolicyRecovery{{Policy: "standard.v1", Total: g, Months: []reports.RecoveryGroup{m}}}}, nil
}

// The outbound webhook operations. AddWebhook validates as ops does (with
// http:// to loopback not allowed), so that refusals reach the API as
// ops' InvalidError; only valid requests are recorded as registrations.
func (f *fakeOps) AddWebhook(_ context.Context, req ops.NewWebhook) (ops.RegisteredWebhook, error) {
	if _, err := req.Validate(false); err != nil {
		return ops.RegisteredWebhook{}, ops.Invalid(err)
	}
	if err := f.record(call{op: "AddWebhook", arg: req}); err != nil {
		return ops.RegisteredWebhook{}, err
	}
	return ops.RegisteredWebhook{Endpoint: sampleEndpoint(req.EventTypes, req.Actor), Secret: "whsec_" + strings.Repeat("0", 64)}, nil
}

func sampleEndpoint(types []string, by string) store.Endpoint {
	return store.Endpoint{ID: "we_0123456789abcdef", URL: "https://crm.example.com/hooks/dunning", Secret: "whsec_never_shown",
		EventTypes: types, Active: true, CreatedBy: by, CreatedAt: t0}
}

func (f *fakeOps) Webhooks(context.Context) ([]store.Endpoint, error) {
	if err := f.record(call{op: "Webhooks"}); err != nil {
		return nil, err
	}
	return []store.Endpoint{sampleEndpoint([]string{"account.suspended"}, "alice")}, nil
}

func sampleDelivery(id int64) store.Delivery {
	status := int64(503)
	return store.Delivery{ID: id, EndpointID: "we_0123456789abcdef", EventID: "evt_0cc803bdd32d59825b48a47d3be6d27b", EventType: "invoice.paid",
		CustomerID: "acme", Status: store.DeliveryPending, Attempts: 3, NextAttemptAt: t0, LastStatus: &status,
		LastError: "receiver answered 503", CreatedAt: t0, UpdatedAt: t0}
}

func (f *fakeOps) WebhookDeliveries(_ context.Context, fl ops.DeliveryFilter) ([]store.Delivery, error) {
	if err := f.record(call{op: "WebhookDeliveries", arg: fl}); err != nil {
		return nil, err
	}
	return []store.Delivery{sampleDelivery(7)}, nil
}

func (f *fakeOps) ReplayDelivery(_ context.Context, id int64) (store.Delivery, error) {
	if err := f.record(call{op: "ReplayDelivery", arg: id}); err != nil {
		return store.Delivery{}, err
	}
	return sampleDelivery(id), nil
}

func (f *fakeOps) ReplayFailed(_ context.Context, endpointID string) (int, error) {
	if err := f.record(call{op: "ReplayFailed", arg: endpointID}); err != nil {
		return 0, err
	}
	return 2, nil
}

func (f *fakeOps) SetWebhookActive(_ context.Context, endpointID string, active bool) (store.Endpoint, error) {
	if err := f.record(call{op: "SetWebhookActive", arg: active}); err != nil {
		return store.Endpoint{}, err
	}
	e := sampleEndpoint([]string{"account.suspended"}, "alice")
	e.Active = active
	return e, nil
}
