package stripefake

import (
	"net/http"
)

// keyRecord is what Stripe keeps of an idempotency key: the request it
// came with and, once executed, the answer, replayed for the same request.
type keyRecord struct {
	request string // method, path and the sorted parameters
	done    bool
	status  int
	body    []byte
}

// claimKey marks key in use for r, or answers r itself (true): the stored
// answer for the same request, 409 while the first is still executing, 400
// for the key with other parameters.
func (s *Server) claimKey(w http.ResponseWriter, key string, r *http.Request) (*keyRecord, bool) {
	req := r.Method + " " + r.URL.Path + "?" + r.PostForm.Encode()
	s.mu.Lock()
	rec, ok := s.keys[key]
	if !ok {
		rec = &keyRecord{request: req}
		s.keys[key] = rec
		s.mu.Unlock()
		return rec, false
	}
	done, same, status, body := rec.done, rec.request == req, rec.status, rec.body
	s.mu.Unlock()
	switch {
	case !same:
		writeError(w, http.StatusBadRequest, APIError{Type: typeIdempotency,
			Message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '" + key + "' if you meant to execute a different request."})
	case !done:
		writeError(w, http.StatusConflict, APIError{Type: typeInvalidRequest, Code: "idempotency_key_in_use",
			Message: "There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later."})
	default:
		writeJSON(w, status, body, true)
	}
	return nil, true
}

// releaseKey forgets a key whose request was not executed.
func (s *Server) releaseKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// finishKey stores the answer. As Stripe does, an answer is kept once the
// endpoint executed (successes, and declines: 402); refused parameters
// (other 4xx) are not, so the key can be used again.
func (s *Server) finishKey(key string, rec *keyRecord, status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status < 300 || status == http.StatusPaymentRequired {
		rec.done, rec.status, rec.body = true, status, body
		return
	}
	delete(s.keys, key)
}
