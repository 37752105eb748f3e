package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v84"
)

// failure turns a stripe-go error into an *Error. Without an answer
// (connection refused or reset, a timeout, a cancelled context) it is
// retryable: the retry carries the same idempotency key, so a request
// that did reach Stripe is answered from Stripe's stored result.
func failure(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "no answer before the deadline: " + msg
		}
		return &Error{Message: msg, Retryable: true}
	}
	e := &Error{Status: se.HTTPStatusCode, Code: string(se.Code), Message: se.Msg}
	if e.Code == "" {
		e.Code = string(se.Type) // idempotency_error has a type and no code
	}
	e.Retryable = retryable(e.Status, se.Code)
	if se.LastResponse != nil {
		e.RetryAfter = retryAfter(se.LastResponse.Header.Get("Retry-After"))
	}
	return e
}

// retryable: rate limits, Stripe's own failures, and conflicts that end by
// themselves (another request with the key still running, a locked
// object). Other 4xx answers come again on a retry; idempotency_error is
// one: the key was used with other parameters.
func retryable(status int, code stripe.ErrorCode) bool {
	switch {
	case status == http.StatusTooManyRequests, status >= 500:
		return true
	case code == stripe.ErrorCodeIdempotencyKeyInUse, code == stripe.ErrorCodeLockTimeout:
		return true
	}
	return false
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
