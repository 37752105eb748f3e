package monitoring

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/example/dunning/risk"
)

// linesChunk is how many events IngestJSONLines holds before ingesting
// them, so that a large file does not sit in memory whole. Rules still see
// earlier chunks: they are in the database by then.
const linesChunk = 5000

// IngestJSONLines ingests JSON lines, one event per line, as
// risk.ParseActivityEvents reads them (blank lines skipped, unknown fields
// refused, "at" in RFC 3339), except that a malformed line does not stop
// the rest: it becomes an InvalidEvent with its line number. The error is
// reading r or the database failing; events of earlier chunks stay stored.
func IngestJSONLines(ctx context.Context, ing *Ingester, r io.Reader) (Result, error) {
	res := newResult()
	var items []item
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		err := ing.ingest(ctx, items, &res)
		items = items[:0]
		return err
	}
	br := bufio.NewReader(r)
	index := 0
	for n := 1; ; n++ {
		raw, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return res, fmt.Errorf("activity line %d: %w", n, err)
		}
		if line := bytes.TrimSpace(raw); len(line) > 0 {
			res.Received++
			ev, perr := parseEvent(line)
			if perr != nil {
				res.Invalid = append(res.Invalid, InvalidEvent{Index: index, Line: n, EventID: ev.EventID, Error: perr.Error()})
			} else {
				items = append(items, item{ev: ev, raw: bytes.Clone(line), index: index, line: n})
			}
			index++
			if len(items) >= linesChunk {
				if err := flush(); err != nil {
					return res, err
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	sortInvalid(res.Invalid)
	return res, nil
}

// ingestArray ingests a JSON array of events, each element read like a
// line of IngestJSONLines; a malformed element is an InvalidEvent with its
// index. A body that is not a JSON array is an error before anything is
// stored.
func ingestArray(ctx context.Context, ing *Ingester, body []byte) (Result, error) {
	var elems []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&elems); err != nil {
		return Result{}, &requestError{fmt.Sprintf("body is not a JSON array of events: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Result{}, &requestError{"body has more than one JSON value"}
	}
	res := newResult()
	res.Received = len(elems)
	items := make([]item, 0, len(elems))
	for i, e := range elems {
		ev, err := parseEvent(e)
		if err != nil {
			res.Invalid = append(res.Invalid, InvalidEvent{Index: i, EventID: ev.EventID, Error: err.Error()})
			continue
		}
		items = append(items, item{ev: ev, raw: e, index: i})
	}
	err := ing.ingest(ctx, items, &res)
	sortInvalid(res.Invalid)
	return res, err
}

// requestError is a request that cannot be read at all.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

// parseEvent reads one event the way risk.ParseActivityEvents reads a
// line (same messages), leaving validation to Ingest. On error the event
// ID is returned when it could be read, to name the event in the result.
func parseEvent(line []byte) (risk.ActivityEvent, error) {
	if !utf8.Valid(line) {
		return risk.ActivityEvent{}, errors.New("not valid UTF-8")
	}
	return risk.DecodeActivityEvent(line)
}

func sortInvalid(inv []InvalidEvent) {
	slices.SortStableFunc(inv, func(a, b InvalidEvent) int { return cmp.Compare(a.Index, b.Index) })
}
