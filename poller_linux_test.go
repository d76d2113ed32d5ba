package websocket

import (
	"runtime"
	"sync"
	"testing"
)

// TestPollerIdleCost: on Linux, plain TCP connections are watched by the
// loops: once idle, a served connection has no goroutine and no read
// buffer.
func TestPollerIdleCost(t *testing.T) {
	var mu sync.Mutex
	var served []*Conn
	popts := &PollerOptions{
		Loops: 1,
		OnMessage: func(c *Conn, typ MessageType, msg []byte) {
			mu.Lock()
			served = append(served, c)
			mu.Unlock()
			c.Write(testCtx(t), typ, msg)
		},
	}
	srv := newPollerServer(t, "tcp", nil, popts)
	const n = 50
	// Dial one first so that the test server's own goroutines exist.
	first := srv.dial(t, nil)
	first.Write(testCtx(t), MessageText, []byte("hi"))
	first.Read(testCtx(t))
	before := runtime.NumGoroutine()
	for range n - 1 {
		c := srv.dial(t, nil)
		if err := c.Write(testCtx(t), MessageText, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if grew := runtime.NumGoroutine() - before; grew > n/5 {
		t.Errorf("%d goroutines more for %d idle connections", grew, n-1)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(served) != n {
		t.Fatalf("%d messages served", len(served))
	}
	for _, c := range served {
		ev := c.ev.Load()
		if ev == nil || ev.l == nil {
			t.Fatal("a TCP connection is not on a loop")
		}
		// The loop releases readMu after the last event; holding it, the
		// test may look at the reader.
		if !c.readMu.tryLock() {
			continue
		}
		if c.rd.buf != nil {
			t.Error("an idle served connection holds a read buffer")
		}
		c.readMu.unlock()
	}
}
