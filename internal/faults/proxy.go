// Package faults gives tests the failures they inject: a TCP proxy that can
// cut a dependency off (resetting connections or hanging them silently), a
// fake provisioning webhook that can refuse, fail or hang, and a fake
// integrator's receiver for the outbound webhooks that checks signatures
// and can fail, hang or answer late. Each records
// what it did, so that a test can report the faults it injected.
package faults

import (
	"net"
	"sync"
	"sync/atomic"
)

// CutMode is how a cut proxy treats connections.
type CutMode int

const (
	// Reset closes every live connection with a TCP reset and resets each
	// new one as soon as it is accepted: a server that went away.
	Reset CutMode = iota + 1
	// Blackhole stops moving bytes without closing anything: live
	// connections hang, new ones are accepted and never answered, as in a
	// network partition. Restore lets the held bytes through again, as TCP
	// retransmission would after the partition heals.
	Blackhole
)

func (m CutMode) String() string {
	switch m {
	case Reset:
		return "reset"
	case Blackhole:
		return "blackhole"
	}
	return "open"
}

// ProxyStats counts what the proxy has seen and done.
type ProxyStats struct {
	Accepted int64 // connections accepted
	Reset    int64 // connections closed with a reset by a cut
	Held     int64 // connections accepted or paused while blackholed
	Cuts     int64 // calls to Cut
}

// Proxy forwards TCP connections from a local port to a target address
// until it is told to cut them.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	mode    CutMode // 0 when open
	open    chan struct{}
	conns   map[*pipe]struct{}
	closed  bool
	stats   ProxyStats
	handled sync.WaitGroup
	nextID  atomic.Int64
}

// pipe is one client connection and, once dialled, its upstream.
type pipe struct {
	id       int64
	client   net.Conn
	upstream net.Conn
	gone     chan struct{} // closed when the connection is dropped
}

// NewProxy listens on a free port of 127.0.0.1 and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, open: make(chan struct{}), conns: map[*pipe]struct{}{}}
	close(p.open)
	p.handled.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Mode is the current cut mode, 0 when the proxy forwards.
func (p *Proxy) Mode() CutMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Stats returns the counters.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Live is the number of client connections the proxy holds.
func (p *Proxy) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut stops forwarding. With Reset every live connection is closed at once
// with a TCP reset; with Blackhole they are paused. A second Cut may change
// the mode (a blackhole turned into resets drops the held connections).
func (p *Proxy) Cut(mode CutMode) {
	if mode != Reset && mode != Blackhole {
		panic("faults: unknown cut mode")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Cuts++
	wasBlackhole := p.mode == Blackhole
	if p.mode == 0 {
		p.open = make(chan struct{})
	}
	p.mode = mode
	switch mode {
	case Reset:
		for c := range p.conns {
			p.resetLocked(c)
		}
	case Blackhole:
		if !wasBlackhole {
			p.stats.Held += int64(len(p.conns))
		}
	}
}

// Restore forwards again. Paused connections carry on where they stopped;
// new connections are forwarded.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == 0 {
		return
	}
	p.mode = 0
	close(p.open)
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		p.closeLocked(c)
	}
	if p.mode != 0 {
		p.mode = 0
		close(p.open)
	}
	p.mu.Unlock()
	p.handled.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.handled.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		c := &pipe{id: p.nextID.Add(1), client: conn, gone: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = conn.Close()
			return
		}
		p.stats.Accepted++
		switch p.mode {
		case Reset:
			p.stats.Reset++
			p.mu.Unlock()
			reset(conn)
			continue
		case Blackhole:
			p.stats.Held++
		}
		p.conns[c] = struct{}{}
		p.handled.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// gate returns once the proxy forwards, or false when the connection was
// dropped meanwhile.
func (p *Proxy) gate(c *pipe) bool {
	for {
		p.mu.Lock()
		_, live := p.conns[c]
		open := p.open
		mode := p.mode
		p.mu.Unlock()
		if !live {
			return false
		}
		if mode == 0 {
			return true
		}
		select {
		case <-open:
		case <-c.gone:
			return false
		}
	}
}

func (p *Proxy) serve(c *pipe) {
	defer p.handled.Done()
	defer p.drop(c)
	// A connection accepted during a blackhole waits before it is dialled.
	if !p.gate(c) {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	if _, live := p.conns[c]; !live {
		p.mu.Unlock()
		_ = up.Close()
		return
	}
	c.upstream = up
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.copy(c, up, c.client); done <- struct{}{} }()
	go func() { p.copy(c, c.client, up); done <- struct{}{} }()
	<-done // one direction ended: end both
	p.drop(c)
	<-done
}

// copy moves bytes from src to dst, holding them at the gate while the
// proxy is cut.
func (p *Proxy) copy(c *pipe, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(c) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: serve ends both sides
		}
	}
}

// drop closes a connection normally (it ended, or the proxy closed).
func (p *Proxy) drop(c *pipe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked(c)
}

func (p *Proxy) closeLocked(c *pipe) {
	if _, ok := p.conns[c]; !ok {
		return
	}
	delete(p.conns, c)
	close(c.gone)
	_ = c.client.Close()
	if c.upstream != nil {
		_ = c.upstream.Close()
	}
}

func (p *Proxy) resetLocked(c *pipe) {
	if _, ok := p.conns[c]; !ok {
		return
	}
	delete(p.conns, c)
	close(c.gone)
	p.stats.Reset++
	reset(c.client)
	if c.upstream != nil {
		reset(c.upstream)
	}
}

// reset closes a connection with a TCP RST instead of a FIN.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
