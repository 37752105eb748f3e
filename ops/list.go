package ops

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/example/dunning/account"
	"github.com/example/dunning/workflows"
)

// Page sizes for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Statuses are the account statuses, as the AccountStatus search attribute
// holds them.
var Statuses = []account.Status{
	account.StatusScreening, account.StatusManualReview, account.StatusAwaitingPrepayment,
	account.StatusActive, account.StatusPastDue, account.StatusSuspended, account.StatusTerminated,
}

// ListFilter selects customers by their search attributes. Empty fields
// select everything.
type ListFilter struct {
	Status         string // AccountStatus, one of Statuses
	Stage          string // DunningStage, e.g. "overdue_2" or "none"
	RiskTier       string // RiskTier
	MinDaysPastDue int    // DaysPastDue >= this, when positive
	Exemption      string // Exemptions includes this, e.g. "manual_pay"
	PageSize       int    // default DefaultPageSize, at most MaxPageSize
	PageToken      []byte // from the previous page's nextPageToken
}

// ListedCustomer is one customer as the visibility store has it: the
// search attributes and memo of its latest run.
type ListedCustomer struct {
	CustomerID         string    `json:"customer_id"`
	WorkflowID         string    `json:"workflow_id"`
	RunID              string    `json:"run_id"`
	Name               string    `json:"name"`
	Email              string    `json:"email,omitempty"`
	Status             string    `json:"status"`
	DunningStage       string    `json:"dunning_stage"`
	RiskTier           string    `json:"risk_tier"`
	AmountOverdueMinor int64     `json:"amount_overdue_minor"`
	DaysPastDue        int64     `json:"days_past_due"`
	Exemptions         []string  `json:"exemptions,omitempty"`
	ExecutionStatus    string    `json:"execution_status"` // running, completed, ...
	StartedAt          time.Time `json:"started_at"`
}

// Stage and risk tier names are policy data; this is the shape they have.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Validate checks the filter before a query is built from it.
func (f ListFilter) Validate() error {
	if f.Status != "" && !slices.Contains(Statuses, account.Status(f.Status)) {
		return fmt.Errorf("status %q must be one of %v", f.Status, Statuses)
	}
	if f.Stage != "" && !namePattern.MatchString(f.Stage) {
		return fmt.Errorf("stage %q must be a dunning stage name such as overdue_1 or none", f.Stage)
	}
	if f.RiskTier != "" && !namePattern.MatchString(f.RiskTier) {
		return fmt.Errorf("risk tier %q must be a risk tier name such as low or high", f.RiskTier)
	}
	if f.Exemption != "" && !account.Exemption(f.Exemption).Valid() {
		return fmt.Errorf("exemption %q must be one of %v", f.Exemption, account.Exemptions())
	}
	if f.MinDaysPastDue < 0 {
		return fmt.Errorf("min_days_past_due must be 0 or more, got %d", f.MinDaysPastDue)
	}
	if f.PageSize < 0 || f.PageSize > MaxPageSize {
		return fmt.Errorf("page_size must be from 1 to %d, got %d", MaxPageSize, f.PageSize)
	}
	return nil
}

// Query is the visibility query for the filter. Runs closed by
// continue-as-new are left out: each customer appears once, as its latest
// run. Customers whose workflow ended (terminated, cancelled applications)
// are included.
func (f ListFilter) Query() string {
	q := []string{
		"WorkflowType = " + Quote(workflows.WorkflowType),
		"ExecutionStatus != " + Quote("ContinuedAsNew"),
	}
	if f.Status != "" {
		q = append(q, "AccountStatus = "+Quote(f.Status))
	}
	if f.Stage != "" {
		q = append(q, "DunningStage = "+Quote(f.Stage))
	}
	if f.RiskTier != "" {
		q = append(q, "RiskTier = "+Quote(f.RiskTier))
	}
	if f.MinDaysPastDue > 0 {
		q = append(q, fmt.Sprintf("DaysPastDue >= %d", f.MinDaysPastDue))
	}
	if f.Exemption != "" {
		q = append(q, workflows.AttrExemptions.GetName()+" = "+Quote(f.Exemption))
	}
	return strings.Join(q, " AND ")
}

// Quote makes s a string literal of the visibility query language:
// double-quoted, with backslashes and double quotes escaped and control
// characters written as escapes, so that no value can end the literal.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			// Not expressible as an escape the parser takes; never a
			// legitimate filter value.
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// List lists customers matching the filter, a page at a time.
func (o *Ops) List(ctx context.Context, f ListFilter) (customers []ListedCustomer, nextPageToken []byte, err error) {
	if err := f.Validate(); err != nil {
		return nil, nil, Invalid(err)
	}
	size := f.PageSize
	if size == 0 {
		size = DefaultPageSize
	}
	ctx, cancel, limit := o.withTimeout(ctx)
	defer cancel()
	c, err := o.temporalClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: int32(size), NextPageToken: f.PageToken, Query: f.Query(),
	})
	if err != nil {
		return nil, nil, explainList(limit, err)
	}
	customers = make([]ListedCustomer, 0, len(resp.GetExecutions()))
	for _, info := range resp.GetExecutions() {
		customers = append(customers, Listed(info))
	}
	return customers, resp.GetNextPageToken(), nil
}

// explainList maps a visibility error. A page token or query the server
// refuses (InvalidArgument) is the caller's input; search attributes not
// registered show up the same way, with the server's message saying so.
func explainList(limit time.Duration, err error) error {
	var (
		bad *serviceerror.InvalidArgument
		dl  *serviceerror.DeadlineExceeded
	)
	switch {
	case errors.As(err, &bad):
		return Invalid(fmt.Errorf("list refused by Temporal: %s", bad.Message))
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &dl):
		return &UnavailableError{fmt.Errorf("list: Temporal gave no answer within %s", limit)}
	}
	return &UnavailableError{fmt.Errorf("list: %w", err)}
}

// Listed reads a customer from a workflow execution's search attributes
// and memo. Attributes the workflow has not set yet are left empty.
func Listed(info *workflowpb.WorkflowExecutionInfo) ListedCustomer {
	attrs := info.GetSearchAttributes().GetIndexedFields()
	memo := info.GetMemo().GetFields()
	lc := ListedCustomer{
		WorkflowID:      info.GetExecution().GetWorkflowId(),
		RunID:           info.GetExecution().GetRunId(),
		ExecutionStatus: strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
	}
	if ts := info.GetStartTime(); ts != nil {
		lc.StartedAt = ts.AsTime().UTC()
	}
	decode(attrs, workflows.AttrCustomerID.GetName(), &lc.CustomerID)
	decode(attrs, workflows.AttrAccountStatus.GetName(), &lc.Status)
	decode(attrs, workflows.AttrDunningStage.GetName(), &lc.DunningStage)
	decode(attrs, workflows.AttrRiskTier.GetName(), &lc.RiskTier)
	decode(attrs, workflows.AttrAmountOverdue.GetName(), &lc.AmountOverdueMinor)
	decode(attrs, workflows.AttrDaysPastDue.GetName(), &lc.DaysPastDue)
	decode(attrs, workflows.AttrExemptions.GetName(), &lc.Exemptions)
	decode(memo, "name", &lc.Name)
	decode(memo, "email", &lc.Email)
	if lc.CustomerID == "" {
		lc.CustomerID = strings.TrimPrefix(lc.WorkflowID, "customer-")
	}
	return lc
}

// decode reads one payload; a missing or malformed one leaves v as it is.
func decode(fields map[string]*commonpb.Payload, name string, v any) {
	if p, ok := fields[name]; ok && p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, v)
	}
}

// Page is one page of a listing as the CLI and API print it, with the
// page token in its text form.
type Page struct {
	Customers     []ListedCustomer `json:"customers"`
	NextPageToken string           `json:"next_page_token,omitempty"`
}

// NewPage pairs a page of customers with its next page token.
func NewPage(customers []ListedCustomer, next []byte) Page {
	if customers == nil {
		customers = []ListedCustomer{}
	}
	return Page{Customers: customers, NextPageToken: EncodePageToken(next)}
}

// EncodePageToken is the text form of Temporal's opaque page token:
// base64url of the token and its CRC-32. The checksum lets a mangled token
// be refused at once; Temporal may take its full timeout over one.
func EncodePageToken(token []byte) string {
	if len(token) == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint32(slices.Clone(token), crc32.ChecksumIEEE(token)))
}

// DecodePageToken reads EncodePageToken's form.
func DecodePageToken(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) <= 4 {
		return nil, fmt.Errorf("page token %q is not one a listing returned", s)
	}
	token, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(token) != sum {
		return nil, fmt.Errorf("page token %q is not one a listing returned", s)
	}
	return token, nil
}
