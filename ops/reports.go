package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

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
	r, err := reports.Aging(ctx, st.DB(), asOf, opts)
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
	b, err := reports.ListCollectionsBatches(ctx, st.DB(), limit)
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
	var buf bytes.Buffer
	b, err := reports.FetchCollectionsBatch(ctx, st.DB(), &buf, batchID)
	if errors.Is(err, reports.ErrNoSuchBatch) {
		return b, notFound("collections export batch %q not found (starter export-collections --list shows them)", batchID)
	}
	if err != nil {
		return b, dbError(err)
	}
	_, err = w.Write(buf.Bytes())
	return b, err
}
