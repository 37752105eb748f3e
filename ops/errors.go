package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/workflows"
)

// Sentinels for errors.Is. The errors ops returns carry their own message
// (which customer, which key) and match these.
var (
	// ErrNotFound: the customer (or email) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTerminated: the customer's lifecycle workflow has completed, so it
	// takes no more updates.
	ErrTerminated = errors.New("terminated")
)

// InvalidError is bad input, found before anything was sent.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalid wraps a validation error.
func Invalid(err error) error { return &InvalidError{Err: err} }

// RefusedError is an update's validator or handler saying no, or a start
// refused because the customer exists. Message is what it said, without
// Temporal's wrapping.
type RefusedError struct {
	Op      string // the update (or "status", "onboard"); empty when Message says it all
	Message string
}

func (e *RefusedError) Error() string {
	if e.Op == "" {
		return e.Message
	}
	return e.Op + " refused: " + e.Message
}

// UnavailableError means Temporal or PostgreSQL could not be reached or did
// not answer in time. The request may be retried.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// kindError is a not-found or terminated error with its own message.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func notFound(format string, args ...any) error {
	return &kindError{ErrNotFound, fmt.Sprintf(format, args...)}
}

// explain maps an error from a Temporal call about a customer's workflow to
// the ops error types. what names the call for messages; timeout and
// taskQueue make the message for a call that got no answer.
func explain(customerID, what string, timeout time.Duration, taskQueue string, err error) error {
	if err == nil {
		return nil
	}
	var (
		nf     *serviceerror.NotFound
		unav   *serviceerror.Unavailable
		busy   *serviceerror.ResourceExhausted
		intern *serviceerror.Internal
		dl     *serviceerror.DeadlineExceeded
		ours   *UnavailableError
		invErr *InvalidError
	)
	switch {
	case errors.As(err, &ours), errors.As(err, &invErr):
		return err
	case strings.Contains(err.Error(), "workflow execution already completed"):
		// Checked before NotFound: the server answers an update to a
		// completed workflow with a NotFound that says so.
		return &kindError{ErrTerminated, fmt.Sprintf("customer %q is terminated: its lifecycle has ended", customerID)}
	case errors.As(err, &nf):
		return notFound("unknown customer %q: no workflow %s", customerID, workflows.WorkflowID(customerID))
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &dl):
		return &UnavailableError{fmt.Errorf("%s for %s: no answer within %s (is a worker running on task queue %s?)", what, customerID, timeout, taskQueue)}
	case errors.As(err, &unav), errors.As(err, &busy), errors.As(err, &intern):
		// The server is away, overloaded or broken: worth another try,
		// never a refusal (a webhook would give up on it).
		return &UnavailableError{err}
	}
	return &RefusedError{Op: what, Message: rootMessage(err)}
}

// rootMessage strips the wrapping Temporal adds around a validator's or
// handler's error, and the "(type: ..., retryable: ...)" an application
// error adds to its message.
func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
