package ops

import (
	"context"
	"errors"
	"testing"

	"github.com/example/dunning/reconcile"
)

// Bad input is refused before anything is dialled; servers that cannot be
// reached are unavailability (the CLI's exit code 3).
func TestReconcileRefusals(t *testing.T) {
	o := New(Options{Config: unreachable})
	defer o.Close()
	ctx := context.Background()
	var invalid *InvalidError
	for _, opts := range []reconcile.Options{
		{CustomerID: "no spaces"},
		{Repair: true},                 // no actor
		{Repair: true, Actor: "a\x00"}, // control characters
	} {
		if _, err := o.Reconcile(ctx, opts); !errors.As(err, &invalid) {
			t.Errorf("%+v: %v, want invalid", opts, err)
		}
	}
	var down *UnavailableError
	if _, err := o.Reconcile(ctx, reconcile.Options{}); !errors.As(err, &down) {
		t.Errorf("unreachable servers: %v", err)
	}
}
