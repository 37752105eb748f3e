package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/example/dunning/account"
	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

func TestQuery(t *testing.T) {
	base := `WorkflowType = "CustomerLifecycle" AND ExecutionStatus != "ContinuedAsNew"`
	for _, tc := range []struct {
		f    ListFilter
		want string
	}{
		{ListFilter{}, base},
		{ListFilter{Status: "past_due"}, base + ` AND AccountStatus = "past_due"`},
		{ListFilter{Status: "suspended", Stage: "final_notice", RiskTier: "high", MinDaysPastDue: 30},
			base + ` AND AccountStatus = "suspended" AND DunningStage = "final_notice" AND RiskTier = "high" AND DaysPastDue >= 30`},
		{ListFilter{Exemption: "manual_pay"}, base + ` AND Exemptions = "manual_pay"`},
	} {
		if err := tc.f.Validate(); err != nil {
			t.Errorf("%+v: %v", tc.f, err)
		}
		if got := tc.f.Query(); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.f, got, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"active":             `"active"`,
		`a"b`:                `"a\"b"`,
		`a\b`:                `"a\\b"`,
		`x" OR "1" = "1`:     `"x\" OR \"1\" = \"1"`,
		"line\nbreak\ttab\r": `"line\nbreak\ttab\r"`,
		"nul\x00":            "\"nul\uFFFD\"",
		"한국":                 `"한국"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	// Whatever the value, the literal ends only at its last character.
	for _, in := range []string{`"`, `\`, `\"`, `"\`, `a\\"b`} {
		q := Quote(in)
		body := q[1 : len(q)-1]
		for i := 0; i < len(body); i++ {
			if body[i] == '\\' {
				i++
				continue
			}
			if body[i] == '"' {
				t.Errorf("Quote(%q) = %s ends early", in, q)
			}
		}
	}
}

func TestListFilterValidate(t *testing.T) {
	for _, tc := range []struct {
		f    ListFilter
		want string
	}{
		{ListFilter{Status: "late"}, `status "late" must be one of`},
		{ListFilter{Stage: `x" OR WorkflowType != "y`}, "stage"},
		{ListFilter{Stage: "Overdue"}, "stage"},
		{ListFilter{RiskTier: "high tier"}, "risk tier"},
		{ListFilter{MinDaysPastDue: -1}, "min_days_past_due"},
		{ListFilter{Exemption: `manual_pay" OR WorkflowType != "y`}, "exemption"},
		{ListFilter{PageSize: MaxPageSize + 1}, "page_size"},
		{ListFilter{PageSize: -1}, "page_size"},
	} {
		err := tc.f.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
}

func TestPageToken(t *testing.T) {
	for _, tok := range [][]byte{nil, {0}, {0, 1, 2, 0xff, '/', '+'}} {
		s := EncodePageToken(tok)
		if strings.ContainsAny(s, "+/=") {
			t.Errorf("token %q is not URL-safe", s)
		}
		back, err := DecodePageToken(s)
		if err != nil || string(back) != string(tok) {
			t.Errorf("round trip of %v: %v %v", tok, back, err)
		}
	}
	good := EncodePageToken([]byte("a token"))
	for _, bad := range []string{"!!", "AAAA", "YQ", good[:len(good)-1] + "x", "x" + good[1:]} {
		if _, err := DecodePageToken(bad); err == nil {
			t.Errorf("bad token %q accepted", bad)
		}
	}
	if p := NewPage(nil, nil); p.Customers == nil || p.NextPageToken != "" {
		t.Errorf("empty page = %+v", p)
	}
}

func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestListed(t *testing.T) {
	start := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	info := &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: "customer-acme", RunId: "run-2"},
		Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartTime: timestamppb.New(start),
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			"CustomerId": payload(t, "acme"), "AccountStatus": payload(t, "past_due"), "DunningStage": payload(t, "overdue_2"),
			"RiskTier": payload(t, "medium"), "AmountOverdue": payload(t, int64(12345)), "DaysPastDue": payload(t, int64(17)),
			"Exemptions": payload(t, []string{"manual_pay", "no_dunning"}),
		}},
		Memo: &commonpb.Memo{Fields: map[string]*commonpb.Payload{"name": payload(t, "Acme Ltd"), "email": payload(t, "billing@acme.test")}},
	}
	want := ListedCustomer{CustomerID: "acme", WorkflowID: "customer-acme", RunID: "run-2", Name: "Acme Ltd", Email: "billing@acme.test",
		Status: "past_due", DunningStage: "overdue_2", RiskTier: "medium", AmountOverdueMinor: 12345, DaysPastDue: 17,
		Exemptions: []string{"manual_pay", "no_dunning"}, ExecutionStatus: "running", StartedAt: start}
	if got := Listed(info); !reflect.DeepEqual(got, want) {
		t.Errorf("Listed:\n got %+v\nwant %+v", got, want)
	}
	// A run that has not set its attributes yet still lists, by workflow ID.
	bare := &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: "customer-new"},
		Status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}
	if got := Listed(bare); got.CustomerID != "new" || got.ExecutionStatus != "completed" || got.Status != "" {
		t.Errorf("bare = %+v", got)
	}
}

func TestExplain(t *testing.T) {
	wrapped := fmt.Errorf("update failed: %w", temporal.NewApplicationError("currency EUR does not match the account currency USD", "wrapError"))
	for _, tc := range []struct {
		name    string
		err     error
		is      error
		as      func(error) bool
		message string
	}{
		{"not found", serviceerror.NewNotFound("workflow not found"), ErrNotFound, nil, `unknown customer "acme": no workflow customer-acme`},
		{"completed", errors.New("workflow execution already completed"), ErrTerminated, nil, `customer "acme" is terminated: its lifecycle has ended`},
		// What the server answers an update to a completed workflow with.
		{"completed NotFound", serviceerror.NewNotFound("workflow execution already completed"), ErrTerminated, nil, `customer "acme" is terminated`},
		{"deadline", context.DeadlineExceeded, nil, isUnavailable, "RecordPayment for acme: no answer within 30s (is a worker running on task queue dunning?)"},
		{"grpc deadline", serviceerror.NewDeadlineExceeded("deadline"), nil, isUnavailable, "no answer within 30s"},
		{"unavailable", serviceerror.NewUnavailable("connection refused"), nil, isUnavailable, "connection refused"},
		{"validator", wrapped, nil, isRefused, "RecordPayment refused: currency EUR does not match the account currency USD"},
		{"plain", errors.New("amount_minor must be a positive amount"), nil, isRefused, "RecordPayment refused: amount_minor must be a positive amount"},
		{"ours", Invalid(errors.New("bad")), nil, func(err error) bool { var e *InvalidError; return errors.As(err, &e) }, "bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := explain("acme", workflows.UpdateRecordPayment.Name, 30*time.Second, "dunning", tc.err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if tc.as != nil && !tc.as(err) {
				t.Errorf("%T %v", err, err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message %q, want %q", err, tc.message)
			}
		})
	}
	var r *RefusedError
	if err := explain("acme", "X", time.Second, "q", wrapped); !errors.As(err, &r) || r.Message != "currency EUR does not match the account currency USD" {
		t.Errorf("refusal message = %+v", err)
	}
	if explain("acme", "X", time.Second, "q", nil) != nil {
		t.Error("nil error explained")
	}
}

func isUnavailable(err error) bool { var e *UnavailableError; return errors.As(err, &e) }
func isRefused(err error) bool     { var e *RefusedError; return errors.As(err, &e) }

// fakeClient answers the Temporal calls ops makes; other methods panic.
type fakeClient struct {
	client.Client
	startErr, updateErr, queryErr, listErr error
	started                                client.StartWorkflowOptions
	startArgs                              []any
	update                                 client.UpdateWorkflowOptions
	result                                 any
	listed                                 *workflowservice.ListWorkflowExecutionsRequest
}

type fakeRun struct{ client.WorkflowRun }

func (fakeRun) GetID() string    { return "customer-acme" }
func (fakeRun) GetRunID() string { return "run-1" }

type fakeHandle struct {
	client.WorkflowUpdateHandle
	result any
	err    error
}

func (h fakeHandle) Get(_ context.Context, v any) error {
	if h.err != nil {
		return h.err
	}
	b, _ := json.Marshal(h.result)
	return json.Unmarshal(b, v)
}

func (c *fakeClient) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	c.started, c.startArgs = o, args
	if c.startErr != nil {
		return nil, c.startErr
	}
	return fakeRun{}, nil
}

func (c *fakeClient) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	c.update = o
	return fakeHandle{result: c.result, err: c.updateErr}, nil
}

func (c *fakeClient) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	if c.queryErr != nil {
		return nil, c.queryErr
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(c.result)
	if err != nil {
		return nil, err
	}
	return value{p}, nil
}

type value struct{ p *commonpb.Payloads }

func (v value) HasValue() bool { return v.p != nil }
func (v value) Get(ptr any) error {
	return converter.GetDefaultDataConverter().FromPayloads(v.p, ptr)
}

func (c *fakeClient) ListWorkflow(_ context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	c.listed = r
	if c.listErr != nil {
		return nil, c.listErr
	}
	return &workflowservice.ListWorkflowExecutionsResponse{NextPageToken: []byte("p2"), Executions: []*workflowpb.WorkflowExecutionInfo{
		{Execution: &commonpb.WorkflowExecution{WorkflowId: "customer-acme"}},
	}}, nil
}

func (c *fakeClient) Close() {}

// unreachable is a configuration whose servers cannot be reached: any
// attempt to connect fails, so an InvalidError proves nothing was tried.
var unreachable = config.Config{TemporalAddress: "127.0.0.1:1", TemporalNamespace: "default", TaskQueue: "dunning",
	DatabaseURL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"}

func application() account.Application {
	return account.Application{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Phone: "+14155550100",
		Country: "us", Currency: "usd", Plan: account.Plan{MonthlyFeeMinor: 10000},
		PaymentInstrument: account.PaymentInstrument{Type: "bank_transfer"}, SignupIP: "203.0.113.7"}
}

// emptyStore is a database with the schema and no customers.
func emptyStore(t *testing.T) *store.Store {
	_, db := pgtest.New(t)
	return store.New(db)
}

func TestOnboard(t *testing.T) {
	fc := &fakeClient{}
	o := New(Options{Config: unreachable, Client: fc, Store: emptyStore(t)})
	wid, rid, err := o.Onboard(context.Background(), application())
	if err != nil || wid != "customer-acme" || rid != "run-1" {
		t.Fatalf("Onboard = %q %q %v", wid, rid, err)
	}
	s := fc.started
	if s.ID != "customer-acme" || s.TaskQueue != "dunning" || !s.WorkflowExecutionErrorWhenAlreadyStarted ||
		s.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL || s.StaticSummary != "Lifecycle of Acme Ltd (acme)" {
		t.Errorf("start options = %+v", s)
	}
	if v, ok := s.TypedSearchAttributes.GetKeyword(workflows.AttrCustomerID); !ok || v != "acme" {
		t.Errorf("CustomerId = %q %v", v, ok)
	}
	in := fc.startArgs[0].(workflows.Input)
	if in.Country != "US" || in.Policy != "standard" || in.Locale != account.LocaleEnglish {
		t.Errorf("application not normalized: %+v", in.Application)
	}

	fc.startErr = serviceerror.NewWorkflowExecutionAlreadyStarted("started", "", "run-0")
	var r *RefusedError
	if _, _, err := o.Onboard(context.Background(), application()); !errors.As(err, &r) || err.Error() != `customer "acme" already exists (workflow customer-acme)` {
		t.Errorf("second onboard = %v", err)
	}

	// Bad input is refused before anything is tried.
	bad := application()
	bad.Email = "nope"
	lazy := New(Options{Config: unreachable})
	var inv *InvalidError
	if _, _, err := lazy.Onboard(context.Background(), bad); !errors.As(err, &inv) || !strings.Contains(err.Error(), `email "nope"`) {
		t.Errorf("bad application = %v", err)
	}
	unknown := application()
	unknown.Policy = "gold"
	if _, _, err := lazy.Onboard(context.Background(), unknown); !errors.As(err, &inv) {
		t.Errorf("unknown policy = %v", err)
	}
	// A good one meets the missing servers: PostgreSQL first (a customer
	// ID is checked against it), then Temporal.
	if _, _, err := lazy.Onboard(context.Background(), application()); !isUnavailable(err) || !strings.Contains(err.Error(), "cannot reach PostgreSQL") {
		t.Errorf("no database = %v", err)
	}
	noTemporal := New(Options{Config: unreachable, Store: emptyStore(t)})
	if _, _, err := noTemporal.Onboard(context.Background(), application()); !isUnavailable(err) || !strings.Contains(err.Error(), "cannot reach Temporal") {
		t.Errorf("no server = %v", err)
	}
}

func TestUpdate(t *testing.T) {
	fc := &fakeClient{result: account.StatusView{CustomerID: "acme", Status: account.StatusSuspended}}
	o := New(Options{Config: unreachable, Client: fc})
	var v account.StatusView
	arg := account.StaffAction{Actor: "alice", Reason: "chargeback"}
	if err := o.Update(context.Background(), "acme", workflows.UpdateSuspend.Name, arg, &v); err != nil || v.Status != account.StatusSuspended {
		t.Fatalf("Update = %+v %v", v, err)
	}
	if u := fc.update; u.WorkflowID != "customer-acme" || u.UpdateName != workflows.UpdateSuspend.Name || u.Args[0] != arg ||
		u.WaitForStage != client.WorkflowUpdateStageCompleted {
		t.Errorf("update options = %+v", u)
	}
	fc.updateErr = temporal.NewApplicationError("account is already suspended by hand by alice", "")
	var r *RefusedError
	if err := o.Update(context.Background(), "acme", workflows.UpdateSuspend.Name, arg, &v); !errors.As(err, &r) ||
		r.Message != "account is already suspended by hand by alice" || err.Error() != "Suspend refused: account is already suspended by hand by alice" {
		t.Errorf("refused update = %v", err)
	}
	fc.updateErr = serviceerror.NewNotFound("no such workflow")
	if err := o.Update(context.Background(), "nobody", workflows.UpdateSuspend.Name, arg, &v); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown customer = %v", err)
	}

	// Bad input is refused before anything is sent.
	lazy := New(Options{Config: unreachable})
	var inv *InvalidError
	for _, tc := range []struct {
		id  string
		arg any
	}{
		{"acme", account.Payment{PaymentID: "p", AmountMinor: 0, Currency: "USD", Method: "card"}},
		{"acme", account.StaffAction{Reason: "no actor"}},
		{"bad id!", arg},
	} {
		if err := lazy.Update(context.Background(), tc.id, "X", tc.arg, &v); !errors.As(err, &inv) {
			t.Errorf("Update(%q, %+v) = %v, want invalid", tc.id, tc.arg, err)
		}
	}
	if err := lazy.Update(context.Background(), "acme", "X", arg, &v); !isUnavailable(err) {
		t.Errorf("no server = %v", err)
	}
}

func TestStatusAndList(t *testing.T) {
	fc := &fakeClient{result: account.StatusView{CustomerID: "acme", Status: account.StatusActive}}
	o := New(Options{Config: unreachable, Client: fc})
	if v, err := o.Status(context.Background(), "acme"); err != nil || v.Status != account.StatusActive {
		t.Errorf("Status = %+v %v", v, err)
	}
	fc.queryErr = serviceerror.NewNotFound("x")
	if _, err := o.Status(context.Background(), "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status of unknown = %v", err)
	}
	customers, next, err := o.List(context.Background(), ListFilter{Status: "active", PageToken: []byte("p1")})
	if err != nil || len(customers) != 1 || customers[0].CustomerID != "acme" || string(next) != "p2" {
		t.Errorf("List = %+v %q %v", customers, next, err)
	}
	if r := fc.listed; r.PageSize != DefaultPageSize || string(r.NextPageToken) != "p1" || !strings.Contains(r.Query, `AccountStatus = "active"`) {
		t.Errorf("list request = %v", r)
	}
	fc.listErr = serviceerror.NewInvalidArgument("invalid page token")
	var inv *InvalidError
	if _, _, err := o.List(context.Background(), ListFilter{}); !errors.As(err, &inv) || !strings.Contains(err.Error(), "invalid page token") {
		t.Errorf("bad token = %v", err)
	}
	fc.listErr = serviceerror.NewUnavailable("down")
	if _, _, err := o.List(context.Background(), ListFilter{}); !isUnavailable(err) {
		t.Errorf("down = %v", err)
	}
	if _, _, err := o.List(context.Background(), ListFilter{Status: "late"}); !errors.As(err, &inv) {
		t.Errorf("bad filter = %v", err)
	}
}

// A customer ID whose rows PostgreSQL holds is refused before anything
// starts, even when Temporal has forgotten its workflow (retention).
func TestOnboardRefusesAReusedCustomerID(t *testing.T) {
	st := emptyStore(t)
	app := application()
	app.Normalize()
	c := store.Customer{CustomerID: "acme", Name: "Acme (2019)", Email: "old@acme.test", Country: "US", Currency: "USD", Locale: "en",
		Policy: "standard.v1", MonthlyFeeMinor: 10000, InstrumentType: "card", SignupIP: "203.0.113.7", Status: "terminated", Access: "none",
		DunningStage: "none", CreatedAt: time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := st.Record(context.Background(), c, nil); err != nil {
		t.Fatal(err)
	}
	fc := &fakeClient{}
	o := New(Options{Config: unreachable, Client: fc, Store: st})
	_, _, err := o.Onboard(context.Background(), application())
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "never reused") || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("Onboard of a reused ID = %v", err)
	}
	if fc.started.ID != "" {
		t.Errorf("a workflow was started: %+v", fc.started)
	}
}
