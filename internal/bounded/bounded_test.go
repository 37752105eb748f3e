package bounded

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunReturnsTheAnswer(t *testing.T) {
	v, err := Run(context.Background(), func(context.Context) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("Run = %d %v", v, err)
	}
	boom := errors.New("boom")
	if _, err := Run(context.Background(), func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("Run error = %v", err)
	}
}

// A call that ignores its context is abandoned at the deadline.
func TestRunGivesUpOnACallThatIgnoresItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	_, err := Run(ctx, func(context.Context) (int, error) { <-release; return 1, nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want the deadline", err)
	}
}
