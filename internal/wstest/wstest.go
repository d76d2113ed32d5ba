// Package wstest holds the test helpers that do not need the websocket
// package itself: a goroutine-leak check, in-memory connections and
// listeners, and ports for the programs tests start (FreePort). Helpers
// that build a *websocket.Conn from its internals (pair, memConn) stay in
// the package's own tests, which are white-box.
package wstest

import (
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// CheckLeaks fails the test if goroutines started during it are still
// running three seconds after it ends (connections wind down
// asynchronously, so the check polls).
func CheckLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines before, %d after:\n%s", before, n, strings.TrimSpace(allStacks()))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// allStacks returns every goroutine's stack, the whole dump up to 16 MiB:
// the goroutine that explains a leak is often not among the first.
func allStacks() string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 16<<20 {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// LoopConn is an in-memory net.Conn for benchmarks and allocation
// budgets: reads replay Data forever, writes are discarded, deadlines are
// ignored.
type LoopConn struct {
	Data []byte
	off  int
}

func (l *LoopConn) Read(p []byte) (int, error) {
	if len(l.Data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, l.Data[l.off:])
	l.off = (l.off + n) % len(l.Data)
	return n, nil
}

func (l *LoopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (l *LoopConn) Close() error                     { return nil }
func (l *LoopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (l *LoopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (l *LoopConn) SetDeadline(time.Time) error      { return nil }
func (l *LoopConn) SetReadDeadline(time.Time) error  { return nil }
func (l *LoopConn) SetWriteDeadline(time.Time) error { return nil }

// PipeListener is a net.Listener whose connections are net.Pipes made by
// Dial: an HTTP server in memory.
type PipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// NewPipeListener returns a listener with no connection yet.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for Dial, or for Close.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept return net.ErrClosed; it may be called more than once.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr returns an address of network "pipe".
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial returns the client's end of a new connection to the server, whose
// end Accept returns.
func (l *PipeListener) Dial(t testing.TB) net.Conn {
	a, b := net.Pipe()
	select {
	case l.conns <- b:
	case <-l.closed:
		t.Fatal("listener closed")
	}
	return a
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
