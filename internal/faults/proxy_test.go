package faults

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{conn: c, r: bufio.NewReader(c)}
}

// dialAndSend dials and makes one round trip, returning the first error.
func dialAndSend(addr, line string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	cl := &client{conn: c, r: bufio.NewReader(c)}
	_, err = cl.roundTrip(line, 2*time.Second)
	return err
}

// roundTrip writes a line and reads the answer within wait.
func (c *client) roundTrip(line string, wait time.Duration) (string, error) {
	_ = c.conn.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		return "", err
	}
	got, err := c.r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func (c *client) read(wait time.Duration) (string, error) {
	_ = c.conn.SetDeadline(time.Now().Add(wait))
	got, err := c.r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// A reset or a closed connection, not a timeout.
func isDropped(err error) bool {
	return err != nil && !isTimeout(err) &&
		(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE))
}

func TestProxyForwards(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p.Addr())
	for _, line := range []string{"one", "two", strings.Repeat("x", 100000)} {
		if got, err := c.roundTrip(line, 2*time.Second); err != nil || got != line {
			t.Fatalf("round trip %.10q: %.10q %v", line, got, err)
		}
	}
	if s := p.Stats(); s.Accepted != 1 || s.Reset != 0 || p.Live() != 1 || p.Mode() != 0 {
		t.Errorf("stats %+v, live %d, mode %v", s, p.Live(), p.Mode())
	}
}

func TestProxyResetCutsLiveAndNewConnections(t *testing.T) {
	p := newProxy(t)
	live := dial(t, p.Addr())
	if _, err := live.roundTrip("hello", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut(Reset)
	if _, err := live.read(2 * time.Second); !isDropped(err) {
		t.Errorf("live connection after the cut: %v, want a reset", err)
	}
	// The kernel accepts and the proxy resets at once: the reset can land
	// before the dial has read the socket's state, so either step may see it.
	if err := dialAndSend(p.Addr(), "anyone?"); !isDropped(err) {
		t.Errorf("new connection during the cut: %v, want a reset", err)
	}
	p.Restore()
	again := dial(t, p.Addr())
	if got, err := again.roundTrip("back", 2*time.Second); err != nil || got != "back" {
		t.Errorf("after restore: %q %v", got, err)
	}
	if s := p.Stats(); s.Reset != 2 || s.Cuts != 1 || s.Accepted != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestProxyBlackholeHangsThenResumes(t *testing.T) {
	p := newProxy(t)
	live := dial(t, p.Addr())
	if _, err := live.roundTrip("hello", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut(Blackhole)
	if _, err := live.roundTrip("held", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("live connection in the blackhole: %v, want a hang", err)
	}
	fresh := dial(t, p.Addr())
	if _, err := fresh.roundTrip("new", 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("new connection in the blackhole: %v, want a hang", err)
	}
	if s := p.Stats(); s.Held != 2 {
		t.Errorf("held %d, want 2", s.Held)
	}
	p.Restore()
	// What was sent during the cut arrives, as after a healed partition.
	if got, err := live.read(2 * time.Second); err != nil || got != "held" {
		t.Errorf("live connection after restore: %q %v", got, err)
	}
	if got, err := fresh.read(2 * time.Second); err != nil || got != "new" {
		t.Errorf("new connection after restore: %q %v", got, err)
	}
}

func TestProxyBlackholeThenResetDropsHeldConnections(t *testing.T) {
	p := newProxy(t)
	live := dial(t, p.Addr())
	if _, err := live.roundTrip("hello", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut(Blackhole)
	held := dial(t, p.Addr())
	_ = held.conn.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.WriteString(held.conn, "waiting\n")
	time.Sleep(100 * time.Millisecond)
	p.Cut(Reset)
	for name, c := range map[string]*client{"live": live, "held": held} {
		if _, err := c.read(2 * time.Second); !isDropped(err) {
			t.Errorf("%s connection: %v, want a reset", name, err)
		}
	}
	if p.Live() != 0 {
		t.Errorf("%d connections still held", p.Live())
	}
	p.Restore()
	c := dial(t, p.Addr())
	if got, err := c.roundTrip("ok", 2*time.Second); err != nil || got != "ok" {
		t.Errorf("after restore: %q %v", got, err)
	}
}

func TestProxyCloseEndsEverything(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if _, err := c.roundTrip("x", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut(Blackhole)
	held := dial(t, p.Addr())
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on held connections")
	}
	for _, cl := range []*client{c, held} {
		if _, err := cl.read(2 * time.Second); !isDropped(err) {
			t.Errorf("after close: %v", err)
		}
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("the proxy still accepts after Close")
	}
}
