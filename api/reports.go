package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/example/dunning/ops"
	"github.com/example/dunning/reports"
)

var errNoReports = &apiError{http.StatusServiceUnavailable, "unavailable", "reports are not configured on this server"}

// reportFormat is one way to write a report: its content type and writer.
type reportFormat[R any] struct {
	contentType string
	write       func(io.Writer, R) error
}

// reportFormats are a report's formats by the format parameter's value.
func reportFormats[R any](json, csv, text func(io.Writer, R) error) map[string]reportFormat[R] {
	return map[string]reportFormat[R]{
		"json": {"application/json", json},
		"csv":  {"text/csv; charset=utf-8", csv},
		"text": {"text/plain; charset=utf-8", text},
	}
}

// pickFormat reads the format parameter (json by default).
func pickFormat[R any](q url.Values, formats map[string]reportFormat[R]) (reportFormat[R], error) {
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	out, ok := formats[format]
	if !ok {
		return out, invalid(fmt.Errorf("format %q must be json, csv or text", format))
	}
	return out, nil
}

// writeReport renders the whole report before answering, so that a
// writer's failure is an error status, not a truncated 200.
func writeReport[R any](w http.ResponseWriter, out reportFormat[R], rep R) error {
	var buf bytes.Buffer
	if err := out.write(&buf, rep); err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, out.contentType, buf.Bytes())
	return nil
}

var (
	agingFormats    = reportFormats(reports.WriteJSON, reports.WriteCSV, reports.WriteText)
	recoveryFormats = reportFormats(reports.WriteRecoveryJSON, reports.WriteRecoveryCSV, reports.WriteRecoveryText)
)

// aging answers GET /v1/reports/aging?as_of=&format=&currency=&status=&top_n=.
func (s *server) aging(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "as_of", "format", "currency", "status", "top_n")
	if err != nil {
		return err
	}
	out, err := pickFormat(q, agingFormats)
	if err != nil {
		return err
	}
	asOf := s.now()
	if v := q.Get("as_of"); v != "" {
		if asOf, err = ops.ParseTime(v); err != nil {
			return invalid(fmt.Errorf("as_of: %v", err))
		}
	}
	opts := reports.AgingOptions{Currency: strings.ToUpper(q.Get("currency"))}
	if v := q.Get("status"); v != "" {
		opts.Statuses = strings.Split(v, ",")
	}
	if opts.TopN, err = intParam(q, "top_n"); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return invalid(err)
	}
	if s.reports == nil {
		return errNoReports
	}
	rep, err := s.reports.Aging(r.Context(), asOf, opts)
	if err != nil {
		return err
	}
	return writeReport(w, out, rep)
}

// recovery answers GET /v1/reports/recovery?since=&until=&policy=&format=.
func (s *server) recovery(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "since", "until", "policy", "format")
	if err != nil {
		return err
	}
	out, err := pickFormat(q, recoveryFormats)
	if err != nil {
		return err
	}
	opts, err := ops.RecoveryOptions(s.now(), q.Get("since"), q.Get("until"), q.Get("policy"))
	if err != nil {
		return invalid(err)
	}
	if s.reports == nil {
		return errNoReports
	}
	rep, err := s.reports.Recovery(r.Context(), opts)
	if err != nil {
		return err
	}
	return writeReport(w, out, rep)
}

// exportCollections answers POST /v1/collections/export with the CSV for
// the collections agency. It is built in memory first: an export that
// fails half-way has recorded nothing, and must not look like a file.
func (s *server) exportCollections(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if s.reports == nil {
		return errNoReports
	}
	at := s.now().UTC()
	var buf bytes.Buffer
	n, err := s.reports.ExportCollections(r.Context(), &buf, at)
	if err != nil {
		return err
	}
	w.Header().Set("X-Exported-Count", strconv.Itoa(n))
	if batch := reports.BatchOf(buf.Bytes()); batch != "" {
		w.Header().Set("X-Export-Batch", batch)
	}
	w.Header().Set("Content-Disposition", `attachment; filename="collections-`+at.Format("20060102T150405Z")+`.csv"`)
	writeRaw(w, http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
	return nil
}

// collectionsBatches answers GET /v1/collections/exports?limit= with the
// past exports, newest first.
func (s *server) collectionsBatches(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit")
	if err != nil {
		return err
	}
	if limit < 0 {
		return invalid(fmt.Errorf("limit %d must not be negative", limit))
	}
	if s.reports == nil {
		return errNoReports
	}
	batches, err := s.reports.CollectionsBatches(r.Context(), limit)
	if err != nil {
		return err
	}
	if batches == nil {
		batches = []reports.CollectionsBatch{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"batches": batches})
	return nil
}

// collectionsBatch answers GET /v1/collections/exports/{batch} with a past
// export's CSV, byte for byte as it was first produced.
func (s *server) collectionsBatch(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if s.reports == nil {
		return errNoReports
	}
	var buf bytes.Buffer
	b, err := s.reports.FetchCollectionsBatch(r.Context(), &buf, r.PathValue("batch"))
	if err != nil {
		return err
	}
	w.Header().Set("X-Exported-Count", strconv.Itoa(b.Rows))
	w.Header().Set("X-Export-Batch", b.BatchID)
	w.Header().Set("Content-Disposition", `attachment; filename="`+b.BatchID+`.csv"`)
	writeRaw(w, http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
	return nil
}
