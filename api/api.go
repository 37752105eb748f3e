// Package api is the HTTP JSON API of the dunning system: the billing
// staff's operations (onboard, record payments and the other updates, read
// status, emails, audit log and reports) for other tools, on net/http's
// ServeMux. It is documented by openapi.yaml, served at /v1/openapi.yaml.
//
// Callers authenticate with bearer tokens (DUNNING_API_TOKENS): a viewer
// may only read (GET), an operator may do everything. The token's name is
// the actor recorded in the audit log. Errors are JSON:
//
//	{"error": {"code": "refused", "message": "..."}}
//
// Start it in-process with New over a real *ops.Ops, e.g. in the worker
// when cfg.HTTPAddr (DUNNING_HTTP_ADDR) is set:
//
//	tokens, err := api.ParseTokens(cfg.APITokens) // DUNNING_API_TOKENS
//	o := ops.New(ops.Options{Config: cfg, Client: c, Store: st})
//	h := api.New(api.Options{Ops: o, Reports: o, Tokens: tokens, Logger: logger,
//		Webhooks: map[string]http.Handler{"POST /webhooks/sendgrid": sg}})
//	ln, err := net.Listen("tcp", cfg.HTTPAddr)
//	go api.Serve(ctx, ln, h, logger)
package api

import (
	"context"
	"crypto/rand"
	_ "embed" // the OpenAPI document
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
)

// OpenAPI is the API's OpenAPI 3 document.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Ops is what the API needs of the operations layer; *ops.Ops is the real
// one. Its errors are mapped to HTTP statuses as package ops types them.
type Ops interface {
	Onboard(ctx context.Context, app account.Application) (workflowID, runID string, err error)
	Update(ctx context.Context, customerID, updateName string, arg, result any) error
	Status(ctx context.Context, customerID string) (account.StatusView, error)
	List(ctx context.Context, f ops.ListFilter) ([]ops.ListedCustomer, []byte, error)
	Emails(ctx context.Context, customerID string) ([]store.OutboxMessage, error)
	Email(ctx context.Context, customerID, key string) (store.OutboxMessage, error)
	Audit(ctx context.Context, customerID string) ([]store.AuditEntry, error)
}

// Reports produces the receivables reports; *ops.Ops implements it over
// package reports.
type Reports interface {
	Aging(ctx context.Context, asOf time.Time, opts reports.AgingOptions) (reports.AgingReport, error)
	ExportCollections(ctx context.Context, w io.Writer, exportedAt time.Time) (int, error)
	CollectionsBatches(ctx context.Context, limit int) ([]reports.CollectionsBatch, error)
	FetchCollectionsBatch(ctx context.Context, w io.Writer, batchID string) (reports.CollectionsBatch, error)
	Recovery(ctx context.Context, opts reports.RecoveryOptions) (reports.RecoveryReport, error)
}

// DefaultMaxBody is the largest request body accepted by default.
const DefaultMaxBody = 1 << 20

// Options configure the API.
type Options struct {
	Ops     Ops     // required
	Tokens  Tokens  // accepted bearer tokens; none: every authenticated route answers 401
	Reports Reports // nil: the report routes answer 503
	// Webhooks are mounted as given (pattern → handler), e.g.
	// "POST /webhooks/sendgrid", without bearer authentication: they
	// authenticate their callers themselves.
	Webhooks map[string]http.Handler
	// Activity ingests activity events for monitoring (POST /v1/activity,
	// operators only). Nil: the route answers 503.
	Activity http.Handler
	// Reconciler serves /v1/reconcile. Nil: those routes answer 503.
	Reconciler Reconciler
	Logger     *slog.Logger     // access and error log; default slog.Default()
	Now        func() time.Time // default time.Now
	MaxBody    int64            // largest request body in bytes; default DefaultMaxBody

	// Outbound serves /v1/webhooks and /v1/webhook-deliveries. Nil: those
	// routes answer 503.
	Outbound Outbound

	// Lab serves /v1/policies (lint, simulate). Nil: those routes answer 503.
	Lab Lab
}

type server struct {
	ops        Ops
	tokens     Tokens
	reports    Reports
	activity   http.Handler
	reconciler Reconciler
	outbound   Outbound
	lab        Lab
	log        *slog.Logger
	now        func() time.Time
	maxBody    int64
	mux        *http.ServeMux
}

// New builds the API handler. It panics without Options.Ops, a programming
// error.
func New(o Options) http.Handler {
	if o.Ops == nil {
		panic("api.New: Options.Ops is required")
	}
	s := &server{ops: o.Ops, tokens: o.Tokens, reports: o.Reports, activity: o.Activity, reconciler: o.Reconciler, outbound: o.Outbound, lab: o.Lab, log: o.Logger, now: o.Now, maxBody: o.MaxBody, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if o.Tokens.Len() == 0 {
		s.log.Warn("api: no bearer tokens configured; every authenticated request will be refused", "env", TokensEnv)
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.authorize(rt.handler, operatorReads[rt.pattern], viewerPosts[rt.pattern]))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	for pattern, h := range o.Webhooks {
		s.mux.Handle(pattern, h)
	}
	// Anything else: 401 before 404, so that routes are not probed without
	// a token.
	s.mux.Handle("/", s.authenticate(http.HandlerFunc(s.noRoute)))
	return s.observe(s.mux)
}

// patterns lists the API's own routes ("METHOD /path"), for checks
// against the OpenAPI document. Webhooks are not included.
func patterns() []string {
	s := &server{}
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.pattern)
	}
	return append(out, "GET /healthz", "GET /v1/openapi.yaml")
}

// reqInfo is what the access log needs to know about a request; handlers
// deeper in fill it in.
type reqInfo struct {
	id    string
	actor string
}

type infoKey struct{}

func info(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// observe gives each request an ID (the caller's X-Request-Id when it is
// sane) and writes one access log line: no bodies, no tokens, no query.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		ri := &reqInfo{id: id}
		w.Header().Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)),
			slog.String("actor", ri.actor), slog.Int64("bytes", rec.bytes))
	})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder keeps the status and size for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type roleKey struct{}

// authenticate requires a known bearer token and records its name as the
// actor.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dunning"`)
			s.fail(w, r, &apiError{http.StatusUnauthorized, "unauthorized", "an Authorization: Bearer token is required"})
			return
		}
		tok, ok := s.tokens.lookup(secret)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dunning", error="invalid_token"`)
			s.fail(w, r, &apiError{http.StatusUnauthorized, "unauthorized", "the bearer token is not known"})
			return
		}
		info(r).actor = tok.Name
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), roleKey{}, tok.Role)))
	})
}

// authorize authenticates, then lets viewers read only (and use the
// readOnly routes, which change nothing), and not even that on
// operatorOnly routes.
func (s *server) authorize(next http.Handler, operatorOnly, readOnly bool) http.Handler {
	return s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, _ := r.Context().Value(roleKey{}).(Role)
		if !role.allows(r.Method) && !readOnly {
			s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "token " + info(r).actor + " is a " + string(role) + ": it may only read"})
			return
		}
		if operatorOnly && role != RoleOperator {
			s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "token " + info(r).actor + " is a " + string(role) + ": this is for operators"})
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// noRoute answers what ServeMux has no route for: 405 with Allow when the
// path exists for other methods, else 404.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		s.fail(w, r, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", r.Method + " is not allowed on " + r.URL.Path})
		return
	}
	s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no route " + r.Method + " " + r.URL.Path})
}

// apiError is an error with its HTTP status and code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func invalid(err error) error {
	return &apiError{http.StatusBadRequest, "invalid_request", err.Error()}
}

// errorBody is the shape of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// fail writes err as an error response. Unexpected errors are logged with
// the request ID and answered with a message that tells nothing inside.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae      *apiError
		inv     *ops.InvalidError
		refusal *ops.RefusedError
		down    *ops.UnavailableError
	)
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &inv):
		ae = &apiError{http.StatusBadRequest, "invalid_request", inv.Error()}
	case errors.Is(err, ops.ErrNotFound):
		ae = &apiError{http.StatusNotFound, "not_found", err.Error()}
	case errors.As(err, &refusal):
		ae = &apiError{http.StatusConflict, "refused", refusal.Message}
	case errors.Is(err, ops.ErrTerminated):
		ae = &apiError{http.StatusGone, "terminated", err.Error()}
	case errors.As(err, &down):
		s.log.Warn("backend unavailable", "request_id", info(r).id, "error", err)
		w.Header().Set("Retry-After", "5")
		ae = &apiError{http.StatusServiceUnavailable, "unavailable", "a backend service (Temporal or PostgreSQL) is unavailable or did not answer in time; try again"}
	default:
		s.log.Error("request failed", "request_id", info(r).id, "error", err)
		ae = &apiError{http.StatusInternalServerError, "internal", "internal error (request " + info(r).id + ")"}
	}
	var body errorBody
	body.Error.Code, body.Error.Message = ae.code, ae.message
	writeJSON(w, ae.status, body)
}

// writeJSON writes v with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"response could not be encoded"}}`)
	}
	writeRaw(w, status, "application/json", append(b, '\n'))
}

// writeRaw writes a complete body of the content type.
func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
