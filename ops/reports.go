package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reports"
)

// Aging is the receivables aging report as of asOf.
func (o *Ops) Aging(ctx context.Context, asOf time.Time, opts reports.AgingOptions) (reports.AgingReport, error) {
	if err := opts.Validate(); err != nil {
		return reports.AgingReport{}, Invalid(err)
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return reports.AgingReport{}, err
	}
	r, err := waitRead(ctx, func() (reports.AgingReport, error) { return reports.Aging(ctx, st.DB(), asOf, opts) })
	return r, dbError(err)
}

// ExportCollections writes the write-offs handed to collections that no
// earlier export included, as CSV, and returns how many. On error, discard
// what was written to w (see reports.ExportCollections).
func (o *Ops) ExportCollections(ctx context.Context, w io.Writer, exportedAt time.Time) (int, error) {
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return 0, err
	}
	n, err := reports.ExportCollections(ctx, st.DB(), w, exportedAt)
	return n, dbError(err)
}

// CollectionsBatches lists past collections exports, newest first (limit
// 0: all).
func (o *Ops) CollectionsBatches(ctx context.Context, limit int) ([]reports.CollectionsBatch, error) {
	if limit < 0 {
		return nil, Invalid(fmt.Errorf("limit %d must not be negative", limit))
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return nil, err
	}
	b, err := waitRead(ctx, func() ([]reports.CollectionsBatch, error) { return reports.ListCollectionsBatches(ctx, st.DB(), limit) })
	return b, dbError(err)
}

// batchPattern is a batch ID as newBatchID makes them.
var batchPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// FetchCollectionsBatch writes a past collections export again, byte for
// byte; an unknown batch is ErrNotFound.
func (o *Ops) FetchCollectionsBatch(ctx context.Context, w io.Writer, batchID string) (reports.CollectionsBatch, error) {
	if !batchPattern.MatchString(batchID) {
		return reports.CollectionsBatch{}, Invalid(fmt.Errorf("batch %q is not an export batch ID like col-20260101T000000Z-1a2b3c4d", batchID))
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return reports.CollectionsBatch{}, err
	}
	var buf bytes.Buffer // the abandoned read of a cut database writes here, never to w
	b, err := waitRead(ctx, func() (reports.CollectionsBatch, error) {
		return reports.FetchCollectionsBatch(ctx, st.DB(), &buf, batchID)
	})
	if errors.Is(err, reports.ErrNoSuchBatch) {
		return b, notFound("collections export batch %q not found (starter export-collections --list shows them)", batchID)
	}
	if err != nil {
		return b, dbError(err)
	}
	_, err = w.Write(buf.Bytes())
	return b, err
}

// Recovery is the recovery report: what was at risk among the invoices due
// in the window and how it came back. An unknown policy is invalid input.
func (o *Ops) Recovery(ctx context.Context, opts reports.RecoveryOptions) (reports.RecoveryReport, error) {
	if err := opts.Validate(); err != nil {
		return reports.RecoveryReport{}, Invalid(err)
	}
	reg, err := setup.Policies(o.cfg)
	if err != nil {
		return reports.RecoveryReport{}, err // configuration, not the caller's input
	}
	if opts.Policy != "" {
		if _, err := reg.Get(opts.Policy); err != nil {
			return reports.RecoveryReport{}, Invalid(err)
		}
	}
	opts.Policies = reg
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return reports.RecoveryReport{}, err
	}
	r, err := waitRead(ctx, func() (reports.RecoveryReport, error) { return reports.Recovery(ctx, st.DB(), opts) })
	return r, dbError(err)
}

// DefaultRecoveryWindow is how far back the recovery report looks by
// default.
const DefaultRecoveryWindow = 180 * 24 * time.Hour

// ParseTimeOrAgo reads a report window's edge: a time as ParseTime reads
// it, or a positive duration before now ("180d", "36h").
func ParseTimeOrAgo(s string, now time.Time) (time.Time, error) {
	if d, err := policy.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q must be a positive duration (how long ago) or a time", s)
		}
		t := now.Add(-d)
		if t.Year() < account.MinYear {
			return time.Time{}, fmt.Errorf("%q is too long ago: it must be after the year %d", s, account.MinYear)
		}
		return t, nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a duration like 180d or a time like 2026-03-01 or 2026-03-01T00:00:00Z", s)
	}
	return t, nil
}

// RecoveryOptions reads the recovery report's window and policy filter as
// the command and the API take them: since (default 180 days ago) and
// until (default now) are times or durations before now. A bad one is
// invalid input, its message naming the parameter.
func RecoveryOptions(now time.Time, since, until, policyName string) (reports.RecoveryOptions, error) {
	opts := reports.RecoveryOptions{Since: now.Add(-DefaultRecoveryWindow), Until: now, Policy: policyName}
	var err error
	if since != "" {
		if opts.Since, err = ParseTimeOrAgo(since, now); err != nil {
			return opts, Invalid(fmt.Errorf("since: %w", err))
		}
	}
	if until != "" {
		if opts.Until, err = ParseTimeOrAgo(until, now); err != nil {
			return opts, Invalid(fmt.Errorf("until: %w", err))
		}
	}
	if err := opts.Validate(); err != nil {
		return opts, Invalid(err)
	}
	return opts, nil
}
