package ops

import (
	"context"
	"io"
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
