package stripeevents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/stripe/stripe-go/v84"
)

// state is where one attempt left an event.
type state int

const (
	stateBusy      state = iota // processed before, or being processed right now
	stateProcessed              // processed now
	stateWaiting                // left pending until the event it depends on is processed
)

// process hands one recorded event over unless it is processed. The row
// stays locked during the call, so that two deliveries at once (or a
// delivery and ProcessPending) hand it over once: the second skips the
// locked row. An error is a failure that a later attempt may not meet; the
// attempt is recorded on the event, which stays pending.
func (h *Handler) process(ctx context.Context, id string) (state, error) {
	tx, err := h.cfg.Store.db.BeginTxx(ctx, nil)
	if err != nil {
		return stateBusy, err
	}
	defer func() { _ = tx.Rollback() }()
	var row Row
	err = tx.GetContext(ctx, &row, `
		SELECT event_id, type, created, payload, received_at FROM gateway_events
		WHERE event_id = $1 AND processed_at IS NULL FOR UPDATE SKIP LOCKED`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return stateBusy, nil
	}
	if err != nil {
		return stateBusy, err
	}
	var ev stripe.Event
	if err := json.Unmarshal(row.Payload, &ev); err != nil {
		// It was a verified event when it was recorded; jsonb keeps its meaning.
		return h.finish(ctx, tx, row, plan{outcome: OutcomeUnreadable, warn: true})
	}
	p, err := planEvent(ctx, tx, ev, row.Created)
	if err != nil {
		return h.postpone(ctx, tx, row, "", err)
	}
	if p.waitFor != "" {
		if waited := h.cfg.Clock().Sub(row.ReceivedAt); waited > h.cfg.MaxWait {
			return h.finish(ctx, tx, row, plan{outcome: OutcomeGaveUp + " for " + p.waitFor, warn: true})
		}
		if err := postpone(ctx, tx, id, p.customerID, "waiting for "+p.waitFor); err != nil {
			return stateBusy, err
		}
		h.log.Info("stripe event waits", slog.String("event_id", id), slog.String("type", row.Type), slog.String("for", p.waitFor))
		return stateWaiting, tx.Commit()
	}
	if p.call != nil {
		if err := p.call(ctx, h.cfg.Notifier); err != nil {
			final := finalOutcome(err)
			if final == "" {
				return h.postpone(ctx, tx, row, p.customerID, err)
			}
			p.outcome, p.warn = final, true
		}
	}
	return h.finish(ctx, tx, row, p)
}

// finish marks the event processed with the plan's outcome.
func (h *Handler) finish(ctx context.Context, tx *sqlx.Tx, row Row, p plan) (state, error) {
	level := slog.LevelInfo
	if p.warn {
		level = slog.LevelWarn
	}
	h.log.Log(ctx, level, "stripe event processed", slog.String("event_id", row.EventID), slog.String("type", row.Type),
		slog.String("customer_id", p.customerID), slog.String("outcome", p.outcome))
	if err := finish(ctx, tx, row.EventID, p.customerID, p.outcome, h.cfg.Clock()); err != nil {
		return stateBusy, err
	}
	return stateProcessed, tx.Commit()
}

// postpone records a failed attempt and returns its cause.
func (h *Handler) postpone(ctx context.Context, tx *sqlx.Tx, row Row, customerID string, cause error) (state, error) {
	if err := postpone(ctx, tx, row.EventID, customerID, cause.Error()); err != nil {
		return stateBusy, errors.Join(cause, err)
	}
	if err := tx.Commit(); err != nil {
		return stateBusy, errors.Join(cause, err)
	}
	return stateBusy, cause
}

// ProcessPending hands over the events still pending (a page at a time,
// in the order Stripe created them): those whose hand-over failed and
// Stripe stopped redelivering, and those that waited for another. It goes
// on past a failure, so that one customer does not hold up another, and
// returns how many it processed and the failures joined.
func (h *Handler) ProcessPending(ctx context.Context) (int, error) {
	ids, err := h.cfg.Store.Pending(ctx, 500)
	if err != nil {
		return 0, err
	}
	processed := 0
	var errs []error
	for _, id := range ids {
		st, err := h.process(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("event %s: %w", id, err))
		}
		if st == stateProcessed {
			processed++
		}
	}
	return processed, errors.Join(errs...)
}
