// Package bounded runs a call that may not honour its context and returns
// by the context's end regardless.
//
// lib/pq ends a query on a cancelled context only once the server has its
// cancel request: with the server silent (a network partition, a
// blackholed proxy) both wait until the driver's I/O timeout
// (DUNNING_DB_IO_TIMEOUT, 45 s by default; store.Dialer) fails the call.
// Callers that owe someone an answer sooner (a staff page, an API call)
// get it by their own deadline instead; the abandoned call ends at the
// I/O timeout, holding one pooled connection meanwhile (at most the
// pool's size, after which calls wait for a connection, and that wait
// honours the context).
package bounded

import (
	"context"
	"fmt"
)

// Run calls f(ctx) and returns its result, or an error wrapping ctx.Err()
// as soon as ctx ends. f must not write anything the caller reads after an
// early return.
func Run[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("no answer in time: %w", ctx.Err())
	}
}
