package stripeevents

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"
)

// Defaults for Config.
const (
	DefaultTolerance = webhook.DefaultTolerance // 5 minutes
	DefaultMaxBody   = 1 << 20                  // bytes; Stripe's events are far smaller
	DefaultTimeout   = 25 * time.Second         // Stripe waits up to about 30 seconds
	// DefaultMaxWait is how long an event waits for the one it depends on
	// (a dispute's closing for its creation) before it is given up: as
	// long as Stripe goes on redelivering.
	DefaultMaxWait = 72 * time.Hour
)

// SignatureHeader is the header Stripe signs its deliveries in.
const SignatureHeader = "Stripe-Signature"

// Config configures a Handler.
type Config struct {
	Secret    string           // the endpoint's signing secret, whsec_... (STRIPE_WEBHOOK_SECRET)
	Store     *Store           // where events go
	Notifier  Notifier         // hands updates to the workflows
	Clock     func() time.Time // default time.Now; the signature's tolerance is always against the real clock
	Tolerance time.Duration    // how old a signed timestamp may be; default 5 minutes
	MaxBody   int64            // largest body accepted, in bytes; default 1 MiB
	Timeout   time.Duration    // for recording and handing over one event; default 25 seconds
	MaxWait   time.Duration    // default 72 hours
	Logger    *slog.Logger     // default slog.Default()
}

// Handler is the Stripe webhook endpoint (http.Handler), and the retry of
// pending events (ProcessPending).
type Handler struct {
	cfg Config
	log *slog.Logger
}

// NewHandler checks the configuration; without a secret the endpoint must
// not be served, since unsigned events could record payments.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Secret == "" {
		return nil, errors.New("stripeevents: the webhook signing secret is required")
	}
	if cfg.Store == nil || cfg.Notifier == nil {
		return nil, errors.New("stripeevents: a Store and a Notifier are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, log: cfg.Logger}, nil
}

// ServeHTTP checks the request (method, size, signature and timestamp, in
// that order, so that nothing unauthenticated is parsed or stored), records
// the event and hands it over. 200 tells Stripe the event is ours for good
// (processed, or stored to be processed by ProcessPending); 500 makes it
// redeliver; 4xx means the request itself is wrong.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed", slog.String("method", r.Method))
		return
	}
	if r.ContentLength > h.cfg.MaxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large", slog.Int64("limit", h.cfg.MaxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large", slog.Int64("limit", h.cfg.MaxBody))
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "body unreadable", slog.String("error", err.Error()))
		return
	}
	// The fake and the real account may run other API versions than
	// stripe-go's: only the fields read here matter.
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get(SignatureHeader), h.cfg.Secret,
		webhook.ConstructEventOptions{Tolerance: h.cfg.Tolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, refusal(err))
		return
	}
	// The work is finished even if Stripe hangs up: what is done need not
	// be done again on the redelivery.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.Timeout)
	defer cancel()
	rec, err := h.cfg.Store.Record(ctx, ev, body, h.cfg.Clock())
	if err != nil {
		h.log.Error("stripe event not recorded, Stripe will redeliver", slog.String("event_id", rec.EventID), slog.String("error", err.Error()))
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	switch {
	case rec.Unstorable:
		h.log.Error("stripe event PostgreSQL cannot store: recorded without its payload and not acted on",
			slog.String("event_id", rec.EventID), slog.String("type", string(ev.Type)))
	case rec.Repaired:
		h.log.Warn("stripe event was not storable text: stored with U+FFFD in its place",
			slog.String("event_id", rec.EventID), slog.String("type", string(ev.Type)))
	}
	if _, err := h.process(ctx, rec.EventID); err != nil {
		h.log.Warn("stripe event pending, Stripe will redeliver", slog.String("event_id", rec.EventID),
			slog.String("type", string(ev.Type)), slog.Bool("new", rec.New), slog.String("error", err.Error()))
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refusal says why the webhook package refused a delivery.
func refusal(err error) string {
	switch {
	case errors.Is(err, webhook.ErrNotSigned):
		return "unsigned request"
	case errors.Is(err, webhook.ErrInvalidHeader):
		return "malformed signature header"
	case errors.Is(err, webhook.ErrNoValidSignature):
		return "bad signature"
	case errors.Is(err, webhook.ErrTooOld):
		return "timestamp outside the tolerance (a replay?)"
	}
	return "signed, but not an event" // its JSON is not one
}

// refuse answers a request that is not accepted, and logs why without the
// signature or the body.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, code int, why string, attrs ...slog.Attr) {
	base := []slog.Attr{slog.Int("status", code), slog.String("reason", why),
		slog.String("remote", r.RemoteAddr), slog.Int64("content_length", r.ContentLength)}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "stripe webhook request refused", append(base, attrs...)...)
	http.Error(w, http.StatusText(code), code)
}
