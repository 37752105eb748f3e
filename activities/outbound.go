package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"go.temporal.io/sdk/activity"

	"github.com/example/dunning/store"
	"github.com/example/dunning/webhooks"
)

// Outbound delivers the outbox of public events to the integrators'
// endpoints: it claims due deliveries, POSTs each signed, and records the
// outcome. Registered beside Activities; the webhook dispatcher workflow
// runs DeliverWebhooks in a loop.
type Outbound struct {
	Store    *store.Store
	Schedule webhooks.Schedule // zero: webhooks.DefaultSchedule
	// Timeout bounds one attempt (connecting, sending, the answer).
	Timeout time.Duration
	// Poll is how often to look for due deliveries when none was found.
	Poll time.Duration
	// Parallel is how many attempts run at once (to different customers or
	// endpoints: one customer's events to one endpoint go one at a time).
	Parallel int
	Client   *http.Client // nil: a client that does not follow redirects
	Logger   *slog.Logger
}

// Outbound defaults.
const (
	DefaultWebhookTimeout  = 10 * time.Second
	DefaultWebhookPoll     = time.Second
	DefaultWebhookParallel = 8
	// leaseMargin is added to the attempt timeout for the lease on a
	// claimed delivery: time to record the outcome.
	leaseMargin = 5 * time.Second
	// maxErrorText bounds what of a receiver's answer is kept.
	maxErrorText = 300
)

// DeliverInput says how long one DeliverWebhooks run lasts before it
// returns (the workflow then starts the next).
type DeliverInput struct {
	For time.Duration `json:"for"`
}

// DeliverResult counts what one run did.
type DeliverResult struct {
	Delivered int `json:"delivered"`
	Retrying  int `json:"retrying"`
	Failed    int `json:"failed"`
}

// DeliverWebhooks delivers due webhooks until in.For has passed or the
// worker stops (then the attempts in flight finish, within the worker's stop
// timeout, and the run returns so that another worker takes over). It
// heartbeats all along, so a dead worker's run is retried elsewhere and a
// delivery whose worker died mid-attempt is due again when its lease ends;
// if the heartbeat is lost (the SDK cancels ctx), attempts are cut off and
// due again at once. Database errors are logged and retried within the run.
func (o *Outbound) DeliverWebhooks(ctx context.Context, in DeliverInput) (DeliverResult, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		beat := time.NewTicker(time.Second)
		defer beat.Stop()
		for {
			select {
			case <-beat.C:
				activity.RecordHeartbeat(ctx) // throttled by the SDK to 80% of the heartbeat timeout
			case <-done:
				return
			}
		}
	}()
	return o.deliver(ctx, time.Now().Add(in.For), activity.GetWorkerStopChannel(ctx)), nil
}

// deliver runs deliveries until the deadline, stop or the end of ctx, and
// waits for the attempts in flight (each bounded by Timeout; cut off when
// ctx ends). Parallel senders each claim one delivery, attempt it, record
// it and claim the next at once; claims never collide (SKIP LOCKED) and
// keep each customer's order. An idle sender looks again after Poll times
// Parallel, the senders staggered, so the database sees about one look per
// Poll when there is nothing to do.
func (o *Outbound) deliver(ctx context.Context, until time.Time, stop <-chan struct{}) DeliverResult {
	parallel := max(o.Parallel, 1)
	poll := o.Poll
	if poll <= 0 {
		poll = DefaultWebhookPoll
	}
	var (
		mu      sync.Mutex
		res     DeliverResult
		failing atomic.Bool // the database is away: logged once per outage
		wg      sync.WaitGroup
	)
	for i := range parallel {
		wg.Go(func() {
			backoff := time.Duration(0)
			pause(ctx, stop, until, time.Duration(i)*poll)
			for ctx.Err() == nil && time.Now().Before(until) && !closed(stop) {
				claims, err := o.Store.ClaimDeliveries(ctx, time.Now(), 1, o.timeout()+leaseMargin)
				switch {
				case err != nil:
					if ctx.Err() == nil && failing.CompareAndSwap(false, true) {
						o.logger().Warn("webhook deliveries: cannot claim; trying again", "error", err)
					}
					backoff = min(max(2*backoff, poll), 5*time.Second)
					pause(ctx, stop, until, backoff)
					continue
				case failing.CompareAndSwap(true, false):
					o.logger().Info("webhook deliveries: claiming again")
				}
				backoff = 0
				if len(claims) == 0 {
					pause(ctx, stop, until, poll*time.Duration(parallel))
					continue
				}
				out := o.deliverOne(ctx, claims[0])
				mu.Lock()
				switch {
				case out.Delivered:
					res.Delivered++
				case out.Retry.IsZero():
					res.Failed++
				default:
					res.Retrying++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res
}

// pause waits d, or less if ctx ends, stop closes or the deadline comes
// first.
func pause(ctx context.Context, stop <-chan struct{}, until time.Time, d time.Duration) {
	t := time.NewTimer(min(d, time.Until(until)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-stop:
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// deliverOne makes one attempt and records it. The outcome is recorded even
// when ctx ends (briefly, on a context of its own); if that fails too, the
// lease runs out and the delivery is attempted again: at least once.
func (o *Outbound) deliverOne(ctx context.Context, c store.Claim) store.AttemptOutcome {
	start := time.Now()
	status, retryAfter, errText := o.post(ctx, c)
	now := time.Now()
	out := store.AttemptOutcome{DeliveryID: c.DeliveryID, Attempt: c.Attempt, Duration: now.Sub(start), StatusCode: status, Error: errText}
	switch {
	case errText == "":
		out.Delivered = true
	case ctx.Err() != nil:
		// Cut off on our side (the run lost its heartbeat), not the
		// receiver's fault: due again at once.
		out.Error = "interrupted: the delivery run was cancelled during the attempt"
		out.Retry = now
	default:
		sched := o.schedule()
		if at, ok := sched.Next(c.RoundAttempts, c.RoundStarted, now); ok {
			out.Retry = at
			if ra := now.Add(retryAfter); retryAfter > 0 && ra.After(at) && ra.Sub(c.RoundStarted) <= sched.GiveUp {
				out.Retry = ra
			}
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseMargin)
	defer cancel()
	if err := o.Store.CompleteAttempt(rctx, out, now); err != nil {
		o.logger().Warn("webhook delivery: outcome not recorded; it will be attempted again", "delivery", c.DeliveryID, "error", err)
	}
	log := o.logger().With("delivery", c.DeliveryID, "endpoint", c.EndpointID, "event", c.EventID, "attempt", c.Attempt)
	switch {
	case out.Delivered:
		log.Debug("webhook delivered", "status", status)
	case out.Retry.IsZero():
		log.Warn("webhook delivery failed for good: retry schedule exhausted", "error", out.Error)
	default:
		log.Info("webhook delivery will be retried", "error", out.Error, "at", out.Retry)
	}
	return out
}

// post sends the event signed and says how the receiver answered: its
// status (0 without an answer), how long it asked us to wait (429/503
// Retry-After), and an error text unless it answered 2xx.
func (o *Outbound) post(ctx context.Context, c store.Claim) (int, time.Duration, string) {
	actx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	body := []byte(c.Body)
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dunning-webhooks/1")
	req.Header.Set(webhooks.EventIDHeader, c.EventID)
	req.Header.Set(webhooks.EventTypeHeader, c.EventType)
	req.Header.Set(webhooks.SignatureHeader, webhooks.Sign(c.Secret, time.Now(), body))
	resp, err := o.client().Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, 0, fmt.Sprintf("no answer within %s", o.timeout())
		}
		return 0, 0, "no answer: " + cleanText(err.Error())
	}
	defer resp.Body.Close()
	text, readErr := io.ReadAll(io.LimitReader(resp.Body, maxErrorText))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, ""
	}
	msg := fmt.Sprintf("receiver answered %d", resp.StatusCode)
	if t := cleanText(string(text)); t != "" {
		msg += ": " + t
	} else if readErr != nil && errors.Is(readErr, context.DeadlineExceeded) {
		msg += " and then no body within the timeout"
	}
	return resp.StatusCode, retryAfter(resp), msg
}

// retryAfter reads a Retry-After header in seconds (429, 503).
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(min(secs, 24*3600)) * time.Second
}

// cleanText makes a receiver's text storable and readable: valid UTF-8,
// no control characters, bounded.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorText {
		s = strings.ToValidUTF8(s[:maxErrorText], "") + "…"
	}
	return s
}

// schedule is the retry schedule; the default when none (or a bad one) is
// set, so that a zero Outbound never gives up at the first failure.
func (o *Outbound) schedule() webhooks.Schedule {
	if o.Schedule.Validate() != nil {
		return webhooks.DefaultSchedule
	}
	return o.Schedule
}

func (o *Outbound) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultWebhookTimeout
}

func (o *Outbound) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return noRedirects
}

// noRedirects does not follow redirects: a receiver that moved answers 3xx,
// which is retried and shows in the log, rather than the signed event going
// to another host.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (o *Outbound) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}
