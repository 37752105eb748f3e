package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// DefaultMaxBodyBytes limits a request to Handler: about 50,000 events.
const DefaultMaxBodyBytes = 16 << 20

// HandlerOption configures Handler.
type HandlerOption func(*handler)

// WithMaxBodyBytes sets the request body limit (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) HandlerOption {
	return func(h *handler) {
		if n > 0 {
			h.maxBody = n
		}
	}
}

// Handler accepts POSTed activity events and answers with the Result:
// 200 when at least one event was valid (stored or a duplicate), 400 when
// none was. The body is JSON lines (Content-Type application/x-ndjson) or
// a JSON array of events (application/json). Authentication is up to
// whoever mounts it.
//
// The body is read whole (up to the limit) before anything is stored, so
// that a body cut short by the limit is refused (413) rather than ingested
// in part.
func Handler(ing *Ingester, opts ...HandlerOption) http.Handler {
	h := &handler{ing: ing, maxBody: DefaultMaxBodyBytes}
	for _, o := range opts {
		o(h)
	}
	return h
}

type handler struct {
	ing     *Ingester
	maxBody int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/x-ndjson" && mt != "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/x-ndjson (one event per line) or application/json (an array of events)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("body is larger than %d bytes: nothing was stored; send the events in smaller batches", h.maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request", "could not read the body")
		return
	}
	var res Result
	if mt == "application/x-ndjson" {
		res, err = IngestJSONLines(r.Context(), h.ing, bytes.NewReader(body))
	} else {
		res, err = ingestArray(r.Context(), h.ing, body)
	}
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			writeError(w, http.StatusBadRequest, "invalid_request", re.msg)
			return
		}
		// Events of customers committed before the failure stay stored;
		// sending the batch again counts them as duplicates.
		h.ing.logger().Error("activity ingest failed", "error", err, "stored", res.Stored)
		writeError(w, http.StatusInternalServerError, "internal", "the events could not be stored; send them again")
		return
	}
	status := http.StatusOK
	if res.Stored+res.Duplicates == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, res)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"response could not be encoded"}}`)
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
