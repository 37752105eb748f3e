package providers

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a provider call that failed. Retryable is true for throttling
// (429), server errors (5xx) and transport failures (including deadlines;
// errors.Is finds context.Canceled and DeadlineExceeded through Err); false
// for the other 4xx answers and malformed responses, which a retry would
// only repeat.
type Error struct {
	Provider   string // "twilio", "credit"
	Op         string // what was attempted, e.g. "send SMS"
	StatusCode int    // 0 when no HTTP answer arrived
	Retryable  bool
	Detail     string // the provider's own message, never credentials
	Err        error  // the transport error, if any
}

func (e *Error) Error() string {
	kind := "permanent"
	if e.Retryable {
		kind = "retryable"
	}
	s := fmt.Sprintf("%s: %s failed (%s)", e.Provider, e.Op, kind)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(": HTTP %d", e.StatusCode)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether err is a provider failure that retrying will
// not fix. Errors of any other type are not known to be permanent.
func Permanent(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && !pe.Retryable
}

// retryableStatus classifies an HTTP status that is not a success.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// maxBody bounds how much of a provider's answer is read.
const maxBody = 64 << 10
