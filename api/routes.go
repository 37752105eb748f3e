package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

type route struct {
	pattern string
	handler http.Handler
}

// operatorReads are the reads viewers may not make: the collections
// files hold the customers' contact details for the agency, for the
// staff who hand them over, not for dashboards.
var operatorReads = map[string]bool{
	"GET /v1/collections/exports/{batch}": true,
}

// customerUpdate is a POST /v1/customers/{id}/<path> route that runs a
// workflow update.
type customerUpdate struct {
	path string
	// run decodes the request, records the caller as its actor when it has
	// one, validates it and runs the update.
	run func(s *server, w http.ResponseWriter, r *http.Request) error
}

// updateOf builds a customerUpdate for the update u. setActor is nil for
// requests without an actor.
func updateOf[Req, Res any](path string, u contract.Update[Req, Res], setActor func(*Req, string)) customerUpdate {
	return customerUpdate{path: path, run: func(s *server, w http.ResponseWriter, r *http.Request) error {
		var req Req
		if err := s.decode(w, r, &req); err != nil {
			return err
		}
		if setActor != nil {
			setActor(&req, info(r).actor) // the token, whatever the body says
		}
		if err := validate(req); err != nil {
			return err
		}
		return runUpdate(s, w, r, r.PathValue("id"), u, req)
	}}
}

func validate(req any) error {
	if v, ok := req.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return invalid(err)
		}
	}
	return nil
}

// customerUpdates are the update routes, by path under a customer.
var customerUpdates = []customerUpdate{
	updateOf("payments", workflows.UpdateRecordPayment, func(p *account.Payment, a string) { p.Actor = a }),
	updateOf[account.Usage]("usage", workflows.UpdateReportUsage, nil),
	updateOf("budget", workflows.UpdateSetBudget, func(b *account.Budget, a string) { b.Actor = a }),
	updateOf[account.PhoneCode]("phone/verify", workflows.UpdateVerifyPhone, nil),
	updateOf("phone/code", workflows.UpdateRequestPhoneCode, func(c *account.CodeRequest, a string) { c.Actor = a }),
	updateOf("abuse-reports", workflows.UpdateReportAbuse, func(r *account.AbuseReport, a string) { r.Actor = a }),
	updateOf("review-decisions", workflows.UpdateReviewDecision, func(d *account.Decision, a string) { d.Actor = a }),
	updateOf("suspend", workflows.UpdateSuspend, func(s *account.StaffAction, a string) { s.Actor = a }),
	updateOf("reinstate", workflows.UpdateReinstate, func(s *account.StaffAction, a string) { s.Actor = a }),
	updateOf("terminate", workflows.UpdateTerminate, func(s *account.StaffAction, a string) { s.Actor = a }),
	updateOf("promises", workflows.UpdatePromiseToPay, func(p *account.Promise, a string) { p.Actor = a }),
	updateOf("disputes", workflows.UpdateDisputeInvoice, func(d *account.Dispute, a string) { d.Actor = a }),
	updateOf("dispute-resolutions", workflows.UpdateResolveDispute, func(r *account.Resolution, a string) { r.Actor = a }),
	updateOf("write-offs", workflows.UpdateWriteOff, func(i *account.InvoiceAction, a string) { i.Actor = a }),
	updateOf("payment-method", workflows.UpdateSetPaymentMethod, func(c *account.CardUpdate, a string) { c.Actor = a }),
	updateOf("policy", workflows.UpdateChangePolicy, func(c *account.PolicyChange, a string) { c.Actor = a }),
	updateOf("subscriptions", workflows.UpdateAddSubscription, func(c *account.SubscriptionSpec, a string) { c.Actor = a }),
	updateOf("subscriptions/quantity", workflows.UpdateChangeQuantity, func(c *account.QuantityChange, a string) { c.Actor = a }),
	updateOf("subscriptions/cancel", workflows.UpdateCancelSubscription, func(c *account.Cancellation, a string) { c.Actor = a }),
	updateOf("exemptions", workflows.UpdateSetExemption, func(c *account.ExemptionRequest, a string) { c.Actor = a }),
	updateOf("exemptions/remove", workflows.UpdateRemoveExemption, func(c *account.ExemptionRemoval, a string) { c.Actor = a }),
}

// handlerFunc is a handler that returns its error for fail to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *server) h(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

func (s *server) routes() []route {
	rts := []route{
		{"POST /v1/customers", s.h(s.onboard)},
		{"GET /v1/customers", s.h(s.list)},
		{"GET /v1/customers/{id}", s.h(s.status)},
		{"GET /v1/customers/{id}/emails", s.h(s.emails)},
		{"GET /v1/customers/{id}/emails/{key}", s.h(s.email)},
		{"GET /v1/customers/{id}/audit", s.h(s.audit)},
		{"POST /v1/enforcement-notices", s.h(s.enforcementNotice)},
		{"GET /v1/reports/aging", s.h(s.aging)},
		{"GET /v1/reports/recovery", s.h(s.recovery)},
		{"POST /v1/collections/export", s.h(s.exportCollections)},
		{"GET /v1/collections/exports", s.h(s.collectionsBatches)},
		{"GET /v1/collections/exports/{batch}", s.h(s.collectionsBatch)},
		{"POST /v1/activity", s.h(s.ingestActivity)},
		{"GET /v1/reconcile", s.h(s.reconcileReport)},
		{"POST /v1/reconcile", s.h(s.reconcileRepair)},
		{"POST /v1/webhooks", s.h(s.addWebhook)},
		{"GET /v1/webhooks", s.h(s.listWebhooks)},
		{"GET /v1/webhooks/{endpoint_id}/deliveries", s.h(s.webhookDeliveries)},
		{"POST /v1/webhooks/{endpoint_id}/replay-failed", s.h(s.replayFailed)},
		{"POST /v1/webhooks/{endpoint_id}/disable", s.h(s.setWebhookActive(false))},
		{"POST /v1/webhooks/{endpoint_id}/enable", s.h(s.setWebhookActive(true))},
		{"POST /v1/webhook-deliveries/{delivery_id}/replay", s.h(s.replayDelivery)},
		{"POST /v1/policies/lint", s.h(s.lintPolicy)},
		{"POST /v1/policies/simulate", s.h(s.simulate)},
	}
	for _, u := range customerUpdates {
		rts = append(rts, route{"POST /v1/customers/{id}/" + u.path, s.h(func(w http.ResponseWriter, r *http.Request) error {
			return u.run(s, w, r)
		})})
	}
	for i, rt := range rts {
		if strings.Contains(rt.pattern, "{id}") {
			rts[i].handler = s.checkID(rt.handler)
		}
	}
	return rts
}

// ingestActivity hands activity events to the monitoring ingester, which
// answers for itself (200 with what it stored and flagged, 400 when
// nothing was valid).
func (s *server) ingestActivity(w http.ResponseWriter, r *http.Request) error {
	if s.activity == nil {
		return &apiError{http.StatusServiceUnavailable, "unavailable", "activity monitoring is not configured on this server"}
	}
	s.activity.ServeHTTP(w, r)
	return nil
}

// checkID refuses a malformed customer ID in the path before anything else.
func (s *server) checkID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := account.ValidateCustomerID(r.PathValue("id")); err != nil {
			s.fail(w, r, invalid(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// runUpdate runs the update and answers with its result as the workflow
// gave it: the account status, or the payment's outcome for payments.
func runUpdate[Req, Res any](s *server, w http.ResponseWriter, r *http.Request, customerID string, u contract.Update[Req, Res], req Req) error {
	res, err := contract.Run(r.Context(), s.ops, u, customerID, req)
	if err != nil {
		return err
	}
	if res == nil {
		// An update that answers nothing: answer with the status it left.
		v, err := s.ops.Status(r.Context(), customerID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
	writeJSON(w, http.StatusOK, *res)
	return nil
}

// Onboarded is the answer to POST /v1/customers.
type Onboarded struct {
	CustomerID string `json:"customer_id"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

func (s *server) onboard(w http.ResponseWriter, r *http.Request) error {
	var app account.Application
	if err := s.decode(w, r, &app); err != nil {
		return err
	}
	app.Normalize()
	if err := app.Validate(); err != nil {
		return invalid(err)
	}
	wid, rid, err := s.ops.Onboard(r.Context(), app)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/customers/"+url.PathEscape(app.CustomerID))
	writeJSON(w, http.StatusCreated, Onboarded{CustomerID: app.CustomerID, WorkflowID: wid, RunID: rid})
	return nil
}

func (s *server) list(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "status", "stage", "risk_tier", "min_days_past_due", "exemption", "page_size", "page_token")
	if err != nil {
		return err
	}
	f := ops.ListFilter{Status: q.Get("status"), Stage: q.Get("stage"), RiskTier: q.Get("risk_tier"), Exemption: q.Get("exemption")}
	if f.MinDaysPastDue, err = intParam(q, "min_days_past_due"); err != nil {
		return err
	}
	if f.PageSize, err = intParam(q, "page_size"); err != nil {
		return err
	}
	if f.PageToken, err = ops.DecodePageToken(q.Get("page_token")); err != nil {
		return invalid(err)
	}
	if err := f.Validate(); err != nil {
		return invalid(err)
	}
	customers, next, err := s.ops.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ops.NewPage(customers, next))
	return nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request) error {
	v, err := s.ops.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// EmailSummary is an outbox message without its body.
type EmailSummary struct {
	ID         int64      `json:"id"`
	MessageKey string     `json:"message_key"` // the dunning_key SendGrid gets
	CustomerID string     `json:"customer_id"`
	InvoiceID  string     `json:"invoice_id,omitempty"`
	Stage      string     `json:"stage"`
	Template   string     `json:"template"`
	Channel    string     `json:"channel"`  // email or sms
	ToEmail    string     `json:"to_email"` // the phone number for sms
	Subject    string     `json:"subject"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
}

// Email is an outbox message with its body.
type Email struct {
	EmailSummary
	BodyText string `json:"body_text"`
	BodyHTML string `json:"body_html"`
}

func summary(m store.OutboxMessage) EmailSummary {
	e := EmailSummary{ID: m.ID, MessageKey: m.MessageKey, CustomerID: m.CustomerID.String, InvoiceID: m.InvoiceID.String,
		Stage: m.Stage, Template: m.Template, Channel: m.Channel, ToEmail: m.ToEmail, Subject: m.Subject, Status: m.Status,
		Attempts: m.Attempts, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if m.SentAt.Valid {
		e.SentAt = &m.SentAt.Time
	}
	return e
}

func (s *server) emails(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.ops.Emails(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]EmailSummary, 0, len(rows))
	for _, m := range rows {
		out = append(out, summary(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"emails": out})
	return nil
}

func (s *server) email(w http.ResponseWriter, r *http.Request) error {
	m, err := s.ops.Email(r.Context(), r.PathValue("id"), r.PathValue("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Email{EmailSummary: summary(m), BodyText: m.BodyText, BodyHTML: m.BodyHTML})
	return nil
}

// AuditEntry is one audit log row.
type AuditEntry struct {
	ID         int64           `json:"id"`
	EventKey   string          `json:"event_key"`
	CustomerID string          `json:"customer_id"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Reason     string          `json:"reason"`
	InvoiceID  string          `json:"invoice_id,omitempty"`
	Detail     json.RawMessage `json:"detail"`
	RecordedAt time.Time       `json:"recorded_at"`
}

func (s *server) audit(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.ops.Audit(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]AuditEntry, 0, len(rows))
	for _, e := range rows {
		detail := e.Detail
		if len(detail) == 0 || string(detail) == "null" {
			detail = json.RawMessage("{}")
		}
		out = append(out, AuditEntry{ID: e.ID, EventKey: e.EventKey, CustomerID: e.CustomerID, At: e.At, Actor: e.Actor,
			Action: string(e.Action), Reason: e.Reason, InvoiceID: e.InvoiceID.String, Detail: detail, RecordedAt: e.RecordedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
	return nil
}

// EnforcementNotice is a provider's enforcement notice: a ReportAbuse for
// the customer with source "provider".
type EnforcementNotice struct {
	CustomerID string `json:"customer_id"`
	account.AbuseReport
}

func (s *server) enforcementNotice(w http.ResponseWriter, r *http.Request) error {
	var n EnforcementNotice
	if err := s.decode(w, r, &n); err != nil {
		return err
	}
	if err := account.ValidateCustomerID(n.CustomerID); err != nil {
		return invalid(err)
	}
	switch n.Source {
	case "":
		n.Source = account.SourceProvider
	case account.SourceProvider:
	default:
		return invalid(fmt.Errorf("source %q: an enforcement notice comes from the provider (omit source or give \"provider\")", n.Source))
	}
	n.Actor = info(r).actor
	if err := validate(n.AbuseReport); err != nil {
		return err
	}
	return runUpdate(s, w, r, n.CustomerID, workflows.UpdateReportAbuse, n.AbuseReport)
}

// decode reads a JSON request body into v: one JSON value, no unknown
// fields, at most maxBody bytes. An empty body leaves v as it is, for
// requests whose fields are all optional.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return s.bodyError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if pe, ok := errors.AsType[*time.ParseError](err); ok {
		return invalid(fmt.Errorf("request body: field %s must be an RFC 3339 time like 2026-03-01T00:00:00Z, not %q", timeField(body, pe.Value), pe.Value))
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err == nil {
		if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
			err = extra
			if err == nil {
				err = errors.New("more than one JSON value")
			}
		}
	}
	if err != nil {
		return s.bodyError(err)
	}
	return nil
}

// timeField names the top-level field of body whose string value is v, for
// a time that did not parse (the decoder's error does not say which).
func timeField(body []byte, v string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) == nil {
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			var s string
			if json.Unmarshal(fields[k], &s) == nil && s == v {
				return k
			}
		}
	}
	return "(a time)"
}

// bodyError explains why a body could not be decoded.
func (s *server) bodyError(err error) error {
	var (
		tooBig *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	case errors.As(err, &syntax):
		return invalid(fmt.Errorf("request body is not valid JSON (at byte %d): %s", syntax.Offset, syntax))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid(errors.New("request body is not valid JSON: it ends early"))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid(fmt.Errorf("request body must be a JSON object, not %s", typ.Value))
		}
		return invalid(fmt.Errorf("field %s must be %s, not %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value))
	}
	return invalid(fmt.Errorf("request body: %s", strings.TrimPrefix(err.Error(), "json: ")))
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice" || kind == "array":
		return "an array"
	}
	return "an object"
}

// query returns the query parameters, refusing any not in allowed (a
// misspelt filter would otherwise silently match everything) and any
// given twice.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalid(fmt.Errorf("query: %v", err))
	}
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			return nil, invalid(fmt.Errorf("unknown query parameter %q (known: %s)", k, strings.Join(allowed, ", ")))
		}
		if len(vs) > 1 {
			return nil, invalid(fmt.Errorf("query parameter %q is given %d times", k, len(vs)))
		}
	}
	return q, nil
}

func intParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, invalid(fmt.Errorf("%s %q must be an integer", name, v))
	}
	return n, nil
}
