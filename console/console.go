// Package console is the staff console: a server-rendered web application
// for billing staff, mounted by the worker's HTTP server under /console/.
// It is built on the operations layer (package ops) like the API and the
// CLI, with no business logic of its own: every action is a workflow update
// through contract.Run, checked by the same validators, and a refusal is
// shown on the form with the validator's or the workflow's message.
//
// Staff sign in with an API token (DUNNING_API_TOKENS); the session carries
// the token's name, which is the actor in the audit log, and its role:
// viewers see, operators act. Sessions live in PostgreSQL
// (console_sessions), keyed by the hash of a random ID, with idle and
// absolute expiry; every form carries the session's CSRF token and every
// POST must come from the console's own origin.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/api"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
)

// Prefix is where the console is mounted.
const Prefix = "/console/"

// Ops is what the console needs of the operations layer; *ops.Ops is the
// real one.
type Ops interface {
	contract.Updater
	Onboard(ctx context.Context, app account.Application) (workflowID, runID string, err error)
	Status(ctx context.Context, customerID string) (account.StatusView, error)
	List(ctx context.Context, f ops.ListFilter) ([]ops.ListedCustomer, []byte, error)
	Emails(ctx context.Context, customerID string) ([]store.OutboxMessage, error)
	Audit(ctx context.Context, customerID string) ([]store.AuditEntry, error)
	Aging(ctx context.Context, asOf time.Time, opts reports.AgingOptions) (reports.AgingReport, error)
	ExportCollections(ctx context.Context, w io.Writer, exportedAt time.Time) (int, error)
	CollectionsBatches(ctx context.Context, limit int) ([]reports.CollectionsBatch, error)
	FetchCollectionsBatch(ctx context.Context, w io.Writer, batchID string) (reports.CollectionsBatch, error)
}

// Defaults of Options.
const (
	DefaultIdleTimeout    = 30 * time.Minute
	DefaultMaxAge         = 12 * time.Hour
	DefaultQueueHorizon   = ops.DefaultWorkHorizon
	DefaultSessionTimeout = 5 * time.Second
)

// Options configure the console.
type Options struct {
	Ops      Ops        // required
	Sessions Sessions   // required: PGSessions in the worker
	Tokens   api.Tokens // who may sign in
	Queue    WorkQueue  // the work queue's items; nil: the page says it is not available
	Outbound Outbound   // the webhooks page; nil: the page says it is not available
	// TemporalUIURL and Namespace make each customer's link to its
	// workflow in the Temporal Web UI; no URL, no links.
	TemporalUIURL string
	Namespace     string
	// PublicURL is the console's origin as staff reach it
	// (DUNNING_CONSOLE_URL), e.g. behind a TLS-terminating proxy: POSTs
	// must come from it, and cookies are Secure when it is https. Empty:
	// the request's own origin, Secure when the request came over TLS.
	PublicURL    string
	IdleTimeout  time.Duration // a session unused this long ends; default 30 minutes
	MaxAge       time.Duration // a session ends this long after sign-in; default 12 hours
	QueueHorizon time.Duration // how far ahead the work queue looks; default 7 days
	// SessionTimeout bounds each read or write of a session, so that a
	// hanging database gives a prompt 503; default 5 seconds.
	SessionTimeout time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type server struct {
	Options
	public  *url.URL // parsed PublicURL, nil when unset
	pages   map[string]*template.Template
	mux     *http.ServeMux
	limiter *failures
}

// New builds the console's handler, to mount at Prefix. It panics without
// Ops or Sessions, or with a PublicURL that is not a URL: programming or
// configuration errors checked at start.
func New(o Options) http.Handler {
	if o.Ops == nil || o.Sessions == nil {
		panic("console.New: Options.Ops and Options.Sessions are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.QueueHorizon <= 0 {
		o.QueueHorizon = DefaultQueueHorizon
	}
	s := &server{Options: o, pages: parsePages(), mux: http.NewServeMux(), limiter: &failures{}}
	if o.PublicURL != "" {
		u, err := url.Parse(o.PublicURL)
		if err != nil || u.Host == "" {
			panic("console.New: PublicURL " + o.PublicURL + " is not a URL")
		}
		s.public = u
	}
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", staticFiles(http.FileServerFS(static))))
	s.mux.HandleFunc("GET "+Prefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"queue", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET "+Prefix+"lang", s.switchLang)
	s.mux.Handle("GET "+Prefix+"signin", s.open(s.signinForm))
	s.mux.Handle("POST "+Prefix+"signin", s.open(s.signin))
	s.mux.Handle("POST "+Prefix+"signout", s.act(s.signout, false))
	s.mux.Handle("GET "+Prefix+"queue", s.see(s.queue))
	s.mux.Handle("GET "+Prefix+"customers", s.see(s.customers))
	s.mux.Handle("GET "+Prefix+"customers/{id}", s.see(s.customer))
	s.mux.Handle("POST "+Prefix+"customers/{id}/{action}", s.act(s.customerAction, true))
	s.mux.Handle("GET "+Prefix+"onboard", s.see(operatorsOnly(s.onboardForm)))
	s.mux.Handle("POST "+Prefix+"onboard", s.act(s.onboard, true))
	s.mux.Handle("GET "+Prefix+"aging", s.see(s.aging))
	s.mux.Handle("GET "+Prefix+"aging.csv", s.see(s.agingCSV))
	s.mux.Handle("GET "+Prefix+"collections", s.see(s.collections))
	s.mux.Handle("POST "+Prefix+"collections", s.act(s.exportCollections, true))
	// A batch holds the customers' contact details: for operators, as in the API.
	s.mux.Handle("GET "+Prefix+"collections/{batch}", s.see(operatorsOnly(s.collectionsBatch)))
	s.mux.Handle("GET "+Prefix+"webhooks", s.see(s.webhooks))
	s.mux.Handle("POST "+Prefix+"webhooks/deliveries/{delivery}/replay", s.act(s.replayDelivery, true))
	s.mux.Handle("POST "+Prefix+"webhooks/{endpoint}/replay-failed", s.act(s.replayFailed, true))
	s.mux.Handle(Prefix, s.open(func(_ http.ResponseWriter, _ *http.Request, _ *reqCtx) error {
		return &pageError{http.StatusNotFound, "error.not_found", ""}
	}))
	return s.headers(s.mux)
}

// headers sets what every console response carries: a strict content
// security policy (no inline script or style, no framing) and no caching
// of pages that show accounts.
func (s *server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, Prefix+"static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// staticFiles lets browsers keep the stylesheet and script for an hour.
func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// reqCtx is what a handler knows of its request: the language and, on
// signed-in pages, the session.
type reqCtx struct {
	lang Lang
	sess *Session
}

type handler func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error

// pageError is an error page: its status, message key and a detail (the
// validator's or backend's own words) shown as they are.
type pageError struct {
	status int
	key    string
	detail string
}

func (e *pageError) Error() string { return e.key + ": " + e.detail }

// open serves a page that needs no session.
func (s *server) open(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reqCtx{lang: pickLang(r)}
		if err := h(w, r, rc); err != nil {
			s.fail(w, r, rc, err)
		}
	})
}

// see serves a page for any signed-in member of staff; without a session
// it sends the browser to sign in and back.
func (s *server) see(h handler) http.Handler {
	return s.open(func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		sess, err := s.session(r)
		if errors.Is(err, ErrNoSession) {
			http.Redirect(w, r, Prefix+"signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil
		}
		if err != nil {
			return err
		}
		rc.sess = &sess
		return h(w, r, rc)
	})
}

// operatorsOnly refuses a viewer a page that is for operators.
func operatorsOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		if !rc.sess.CanAct() {
			return &pageError{http.StatusForbidden, "error.viewer", ""}
		}
		return h(w, r, rc)
	}
}

// act serves a form's POST: from the console's origin, in a live session,
// with the session's CSRF token and, when operator is set, by an operator.
func (s *server) act(h handler, operator bool) http.Handler {
	return s.open(func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		if err := s.checkOrigin(r); err != nil {
			return err
		}
		sess, err := s.session(r)
		if errors.Is(err, ErrNoSession) {
			return &pageError{http.StatusUnauthorized, "error.signed_out", ""}
		}
		if err != nil {
			return err
		}
		rc.sess = &sess
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return &pageError{http.StatusBadRequest, "error.bad_form", ""}
		}
		if !sameToken(r.PostForm.Get(csrfField), sess.CSRF) {
			return &pageError{http.StatusForbidden, "error.csrf", ""}
		}
		if operator && !sess.CanAct() {
			return &pageError{http.StatusForbidden, "error.viewer", ""}
		}
		return h(w, r, rc)
	})
}

// maxForm bounds a form's body.
const maxForm = 64 << 10

// fail shows err as an error page. Errors of package ops keep their own
// message; anything unexpected is logged and shown as an internal error.
func (s *server) fail(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	pe := s.explain(r, err)
	v := s.view(r, rc, "error.title")
	v.Error = rc.lang.T(pe.key)
	v.Detail = pe.detail
	v.Data = pe.status
	s.render(w, pe.status, "error.html", v)
}

// explain maps an error to its page: the status the API would answer and
// the message to show.
func (s *server) explain(r *http.Request, err error) *pageError {
	var (
		pe      *pageError
		inv     *ops.InvalidError
		refusal *ops.RefusedError
		down    *ops.UnavailableError
	)
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &inv):
		return &pageError{http.StatusBadRequest, "error.invalid", inv.Error()}
	case errors.Is(err, ops.ErrNotFound):
		return &pageError{http.StatusNotFound, "error.not_found", err.Error()}
	case errors.As(err, &refusal):
		return &pageError{http.StatusConflict, "error.refused", refusal.Message}
	case errors.Is(err, ops.ErrTerminated):
		return &pageError{http.StatusGone, "error.terminated", err.Error()}
	case errors.As(err, &down), errors.Is(err, errSessionsDown):
		s.Logger.Warn("console: backend unavailable", "path", r.URL.Path, "error", err)
		return &pageError{http.StatusServiceUnavailable, "error.unavailable", ""}
	}
	s.Logger.Error("console: request failed", "path", r.URL.Path, "error", err)
	return &pageError{http.StatusInternalServerError, "error.internal", ""}
}

// failures counts failed sign-ins per client address, to slow down
// guessing: after maxFailures in failureWindow the address must wait.
type failures struct {
	mu   sync.Mutex
	seen map[string][]time.Time
}

const (
	maxFailures   = 5
	failureWindow = 5 * time.Minute
)

// blocked says whether the address has failed too often lately.
func (f *failures) blocked(addr string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recent(addr, now)) >= maxFailures
}

// add records a failure.
func (f *failures) add(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil || len(f.seen) > 10000 {
		f.seen = map[string][]time.Time{} // bounded: a flood of addresses forgets, it does not grow
	}
	f.seen[addr] = append(f.recent(addr, now), now)
}

// clear forgets an address's failures after it signed in.
func (f *failures) clear(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.seen, addr)
}

func (f *failures) recent(addr string, now time.Time) []time.Time {
	var out []time.Time
	for _, t := range f.seen[addr] {
		if now.Sub(t) < failureWindow {
			out = append(out, t)
		}
	}
	return out
}
