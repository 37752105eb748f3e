package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// supervisor runs the worker binary the way a process supervisor would:
// it starts it again whenever it dies, until the test stops it. A worker
// that cannot start (its database is cut off) is retried every two seconds.
type supervisor struct {
	t     *testing.T
	extra map[string]string
	log   io.Writer // every start's output, one after the other

	mu      sync.Mutex
	cmd     *exec.Cmd
	out     *syncWriter // the current process's output
	ready   bool
	exited  chan struct{} // closed when the current process ends
	stopped bool
	wake    chan struct{} // pokes the run loop after a kill

	starts, failedStarts, kills int
	done                        chan struct{}
}

func newSupervisor(t *testing.T, extra map[string]string, log io.Writer) *supervisor {
	return &supervisor{t: t, extra: extra, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// run keeps a worker running until stop; call it in its own goroutine.
func (s *supervisor) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		exited, ok := s.startOnce()
		if !ok {
			select {
			case <-time.After(2 * time.Second):
			case <-s.wake:
			}
			continue
		}
		<-exited
	}
}

// startOnce starts a process and waits until it is ready (true) or has
// given up (false, the process is gone).
func (s *supervisor) startOnce() (chan struct{}, bool) {
	cmd := exec.Command(filepath.Join(env.binDir, "worker"))
	cmd.Env = workerEnv(s.extra)
	out := &syncWriter{buf: &bytes.Buffer{}}
	w := io.MultiWriter(out, s.log)
	cmd.Stdout, cmd.Stderr = w, w
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil, false
	}
	s.starts++
	fmt.Fprintf(s.log, "\n===== %s supervisor: start #%d =====\n", time.Now().Format(time.RFC3339Nano), s.starts)
	if err := cmd.Start(); err != nil {
		s.failedStarts++
		s.mu.Unlock()
		s.t.Errorf("start worker: %v", err)
		return nil, false
	}
	exited := make(chan struct{})
	s.cmd, s.out, s.ready, s.exited = cmd, out, false, exited
	s.mu.Unlock()
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.After(60 * time.Second)
	for {
		if strings.Contains(out.String(), "worker ready") {
			s.mu.Lock()
			s.ready = s.cmd == cmd
			s.mu.Unlock()
			return exited, true
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.failedStarts++
			s.mu.Unlock()
			return nil, false
		case <-deadline:
			_ = cmd.Process.Kill()
			<-exited
			s.mu.Lock()
			s.failedStarts++
			s.mu.Unlock()
			return nil, false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReady waits until a worker is up, or the timeout passes.
func (s *supervisor) waitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		if ready {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// kill sends SIGKILL to the running worker; the run loop starts another.
func (s *supervisor) kill() bool {
	s.mu.Lock()
	cmd, exited, ready := s.cmd, s.exited, s.ready
	if cmd == nil || !ready {
		s.mu.Unlock()
		return false
	}
	s.ready = false
	s.kills++
	s.mu.Unlock()
	fmt.Fprintf(s.log, "\n===== %s supervisor: SIGKILL =====\n", time.Now().Format(time.RFC3339Nano))
	_ = cmd.Process.Kill()
	<-exited
	return true
}

// stop ends the worker gracefully and the run loop with it.
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopped = true
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	select {
	case <-s.done:
	case <-time.After(70 * time.Second):
		s.t.Error("the worker supervisor did not stop")
	}
}

func (s *supervisor) counts() (starts, failed, kills int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts, s.failedStarts, s.kills
}
