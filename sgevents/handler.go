package sgevents

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
)

// Defaults for Config.
const (
	DefaultMaxAge  = 10 * time.Minute
	DefaultMaxBody = 4 << 20 // bytes; SendGrid's batches are well under 1 MiB
	DefaultTimeout = 25 * time.Second
)

// Config configures a Handler.
type Config struct {
	PublicKey string           // SendGrid's verification key, base64 (SENDGRID_WEBHOOK_PUBLIC_KEY)
	Store     *Store           // where events go
	Notifier  Notifier         // told of undeliverable addresses
	Clock     func() time.Time // default time.Now
	MaxAge    time.Duration    // how far the signed timestamp may be from the clock; default 10 minutes
	MaxBody   int64            // largest body accepted, in bytes; default 4 MiB
	Timeout   time.Duration    // for recording and notifying one batch; default 25 seconds
	Logger    *slog.Logger     // default slog.Default()
}

// Handler is the SendGrid Event Webhook endpoint (http.Handler).
type Handler struct {
	key      *ecdsa.PublicKey
	store    *Store
	notifier Notifier
	clock    func() time.Time
	maxAge   time.Duration
	maxBody  int64
	timeout  time.Duration
	log      *slog.Logger
}

// NewHandler checks the configuration; a missing or unusable key is an
// error, so that the endpoint is never served unverified.
func NewHandler(cfg Config) (*Handler, error) {
	key, err := ParsePublicKey(cfg.PublicKey)
	if err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.Notifier == nil {
		return nil, errors.New("sgevents: a Store and a Notifier are required")
	}
	h := &Handler{key: key, store: cfg.Store, notifier: cfg.Notifier, clock: cfg.Clock,
		maxAge: cfg.MaxAge, maxBody: cfg.MaxBody, timeout: cfg.Timeout, log: cfg.Logger}
	if h.clock == nil {
		h.clock = time.Now
	}
	if h.maxAge <= 0 {
		h.maxAge = DefaultMaxAge
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// ServeHTTP checks the request (method, signature headers, size, timestamp,
// signature, JSON, in that order, so that nothing unauthenticated is
// parsed), records the batch and notifies. 2xx tells SendGrid the batch is
// done; 500 makes it retry; 4xx means the request itself is wrong.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed", slog.String("method", r.Method))
		return
	}
	sig := r.Header.Get(eventwebhook.VerificationHTTPHeader)
	ts := r.Header.Get(eventwebhook.TimestampHTTPHeader)
	if sig == "" || ts == "" {
		h.refuse(w, r, http.StatusUnauthorized, "unsigned request",
			slog.Bool("has_signature", sig != ""), slog.Bool("has_timestamp", ts != ""))
		return
	}
	if r.ContentLength > h.maxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large", slog.Int64("limit", h.maxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large", slog.Int64("limit", h.maxBody))
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "body unreadable", slog.String("error", err.Error()))
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		h.refuse(w, r, http.StatusForbidden, "timestamp is not Unix seconds")
		return
	}
	// Both ways: a timestamp in the future is as suspect as an old one.
	if age := h.clock().Sub(time.Unix(sec, 0)); age > h.maxAge || age < -h.maxAge {
		h.refuse(w, r, http.StatusForbidden, "timestamp outside the allowed window",
			slog.Duration("age", age.Truncate(time.Second)), slog.Duration("max_age", h.maxAge))
		return
	}
	if ok, err := eventwebhook.VerifySignature(h.key, body, sig, ts); err != nil || !ok {
		h.refuse(w, r, http.StatusForbidden, "bad signature", slog.Bool("decodable", err == nil))
		return
	}
	events, err := ParseBatch(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "malformed batch", slog.String("error", err.Error()))
		return
	}
	// The work is finished even if SendGrid hangs up: each event is its own
	// transaction, and what is done need not be done again on the retry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.timeout)
	defer cancel()
	if err := h.process(ctx, events); err != nil {
		h.log.Error("sendgrid events: batch not done, SendGrid will retry",
			slog.Int("events", len(events)), slog.String("error", err.Error()))
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) process(ctx context.Context, events []Event) error {
	received := h.clock()
	var keys []string // messages whose address failed in this batch
	fresh := 0
	for _, ev := range events {
		if ev.Repaired {
			h.log.Warn("sendgrid event was not valid Unicode: stored with U+FFFD in its place",
				slog.String("sg_event_id", ev.EventID), slog.String("event", ev.Event))
		}
		rec, err := h.store.Record(ctx, ev, received)
		if err != nil {
			return fmt.Errorf("record: %w", err)
		}
		if rec.New {
			fresh++
		}
		if rec.UnknownMessage {
			h.log.Warn("sendgrid event for a message not in the outbox",
				slog.String("message_key", ev.DunningKey), slog.String("event", ev.Event), slog.String("sg_event_id", ev.EventID))
		}
		if rec.MarkedCustomer {
			h.log.Info("customer email marked undeliverable", slog.String("customer_id", rec.CustomerID),
				slog.String("message_key", ev.DunningKey), slog.String("event", ev.Event))
		}
		if ev.Undeliverable() && ev.DunningKey != "" && !slices.Contains(keys, ev.DunningKey) {
			keys = append(keys, ev.DunningKey)
		}
	}
	// Also for events recorded by an earlier post: their notice may still
	// be pending because the notifier failed then.
	notified := 0
	if len(keys) > 0 {
		n, err := h.store.NotifyPending(ctx, h.notifier, keys)
		notified = n
		if err != nil {
			return err
		}
	}
	h.log.Info("sendgrid events", slog.Int("events", len(events)), slog.Int("new", fresh), slog.Int("notified", notified))
	return nil
}

// refuse answers a request that is not accepted, and logs why without the
// signature, the body or anything else from the request that could be
// replayed or is personal data.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, code int, why string, attrs ...slog.Attr) {
	base := []slog.Attr{slog.Int("status", code), slog.String("reason", why),
		slog.String("remote", r.RemoteAddr), slog.Int64("content_length", r.ContentLength)}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "sendgrid webhook request refused", append(base, attrs...)...)
	http.Error(w, http.StatusText(code), code)
}
