package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndedCtxDoesNothing: a call given a ctx that has already ended
// returns its error and does nothing, as a call whose ctx ends while it
// waits does: nothing is sent, nothing that arrived is consumed, and the
// connection stays usable. The uncontended fast paths never looked at the
// ctx, so such a Write sent its message and returned nil.
func TestEndedCtxDoesNothing(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	pm, err := NewPreparedMessage(MessageText, []byte("prepared"))
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func(c *Conn) error
	}{
		{
			name: "Write",
			call: func(c *Conn) error { return c.Write(ended, MessageText, []byte("x")) },
		},
		{
			name: "WriteUncompressed",
			call: func(c *Conn) error { return c.WriteUncompressed(ended, MessageText, []byte("x")) },
		},
		{
			name: "WritePrepared",
			call: func(c *Conn) error { return c.WritePrepared(ended, pm) },
		},
		{
			name: "Writer",
			call: func(c *Conn) error { _, err := c.Writer(ended, MessageText); return err },
		},
		{
			name: "SendPing",
			call: func(c *Conn) error { return c.SendPing(ended, nil) },
		},
		{
			name: "Ping",
			call: func(c *Conn) error { _, err := c.Ping(ended); return err },
		},
		{
			name: "Read",
			call: func(c *Conn) error { _, _, err := c.Read(ended); return err },
		},
		{
			name: "ReadAppend",
			call: func(c *Conn) error { _, _, err := c.ReadAppend(ended, nil); return err },
		},
		{
			name: "Reader",
			call: func(c *Conn) error { _, _, err := c.Reader(ended); return err },
		},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			var pings atomic.Int32
			aopts := &AcceptOptions{}
			aopts.OnPing = func([]byte) { pings.Add(1) }
			client, server := pair(t, aopts, nil)
			ctx := testCtx(t)
			// Something has arrived for the client: an ended ctx must not
			// read it either.
			if err := server.Write(ctx, MessageText, []byte("waiting")); err != nil {
				t.Fatal(err)
			}
			if err := tc.call(client); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with an ended ctx: %v, want context.Canceled", tc.name, err)
			}
			// Still usable both ways, and the first thing each side reads
			// is what was sent with a live ctx.
			if err := client.Write(ctx, MessageText, []byte("first")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := server.Read(ctx); err != nil || string(msg) != "first" {
				t.Fatalf("server read %q, %v; want \"first\", which an ended ctx sent nothing before", msg, err)
			}
			if _, msg, err := client.Read(ctx); err != nil || string(msg) != "waiting" {
				t.Fatalf("client read %q, %v; want \"waiting\", which an ended ctx left unread", msg, err)
			}
			if n := pings.Load(); n != 0 {
				t.Fatalf("the server read %d pings", n)
			}
		})
	}
	// On a closed connection the error says so, not that ctx ended: a
	// ctx error means the connection is still usable.
	for _, tc := range calls {
		t.Run(tc.name+"/closed", func(t *testing.T) {
			client, _ := pair(t, nil, nil)
			client.CloseNow()
			if err := tc.call(client); !errors.Is(err, ErrClosed) {
				t.Fatalf("%s with an ended ctx on a closed connection: %v, want ErrClosed", tc.name, err)
			}
		})
	}
}

// endsAfterCheck is a ctx that ends right after its first Err: live when
// a call looks, ended while it runs.
type endsAfterCheck struct {
	context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func (c *endsAfterCheck) Err() error {
	err := c.Context.Err()
	c.once.Do(c.cancel)
	return err
}

// TestBroadcastCtxEndsWhileItRuns: members whose writes never wait (a
// Poller's, with room in their queues) get the message even when ctx ends
// while Broadcast runs, and none is dropped as too slow: each of their
// writes used to report the ctx once it had ended.
func TestBroadcastCtxEndsWhileItRuns(t *testing.T) {
	var g Group
	srv := newPollerServer(t, "tcp", &AcceptOptions{Group: &g}, &PollerOptions{Loops: 1})
	ctx := testCtx(t)
	var clients []*Conn
	for range 3 {
		clients = append(clients, srv.dial(t, nil))
	}
	waitForServed(t, &g, len(clients))
	pm, err := NewPreparedMessage(MessageText, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	inner, cancel := context.WithCancel(context.Background())
	defer cancel()
	if dropped := g.Broadcast(&endsAfterCheck{Context: inner, cancel: cancel}, pm); len(dropped) != 0 {
		t.Fatalf("Broadcast dropped %d members with room in their queues", len(dropped))
	}
	for i, c := range clients {
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
			t.Fatalf("member %d read %q, %v; want the broadcast", i, msg, err)
		}
	}
}

// TestBroadcastWaitsOutAFrameLockPastCtx: a member whose writes never wait
// is not dropped when ctx ends while its frame lock is held (by its loop
// sending a pong, or another goroutine queueing a message): nobody holds
// that lock while waiting for the peer, so Broadcast waits for it past
// ctx's end and the member gets the message.
func TestBroadcastWaitsOutAFrameLockPastCtx(t *testing.T) {
	var g Group
	srv := newPollerServer(t, "tcp", &AcceptOptions{Group: &g}, &PollerOptions{Loops: 1})
	client := srv.dial(t, nil)
	waitForServed(t, &g, 1)
	server := g.snapshot()[0]
	pm, err := NewPreparedMessage(MessageText, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := server.frameMu.lockOrClosed(context.Background(), server); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan []*Conn, 1)
	go func() { done <- g.Broadcast(bctx, pm) }()
	for deadline := time.Now().Add(10 * time.Second); !server.frameMu.HasWaiters(); {
		if time.Now().After(deadline) {
			t.Fatal("Broadcast never waited for the frame lock")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case dropped := <-done:
		server.unlockFrame()
		t.Fatalf("Broadcast returned while the frame lock was held, dropping %d", len(dropped))
	case <-time.After(100 * time.Millisecond):
	}
	server.unlockFrame()
	if dropped := <-done; len(dropped) != 0 {
		t.Fatalf("Broadcast dropped %d members", len(dropped))
	}
	if _, msg, err := client.Read(testCtx(t)); err != nil || string(msg) != "hi" {
		t.Fatalf("member read %q, %v; want the broadcast", msg, err)
	}
}

// TestWriteCtxBoundsFrameLockOnPoller: an ordinary Write to a Poller's
// connection keeps to its ctx while another goroutine holds the frame
// lock (copying a large frame into the queue can take milliseconds);
// only Broadcast waits that lock out past its ctx.
func TestWriteCtxBoundsFrameLockOnPoller(t *testing.T) {
	var g Group
	srv := newPollerServer(t, "tcp", &AcceptOptions{Group: &g}, &PollerOptions{Loops: 1})
	srv.dial(t, nil)
	waitForServed(t, &g, 1)
	server := g.snapshot()[0]
	if err := server.frameMu.lockOrClosed(context.Background(), server); err != nil {
		t.Fatal(err)
	}
	defer server.unlockFrame()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := server.Write(ctx, MessageText, []byte("hi")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write with the frame lock held: %v, want its ctx's deadline", err)
	}
}

// waitForServed waits until g has n members and a Poller's loop serves
// each, so that their writes never wait. Where there are no loops (no
// epoll: poller_other.go), a goroutine serves each connection and its
// writes may always wait, so the test is skipped.
func waitForServed(t *testing.T, g *Group, n int) {
	t.Helper()
	skipWithoutLoops(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conns := g.snapshot()
		served := len(conns) == n
		for _, c := range conns {
			served = served && !c.writeMayWait()
		}
		if served {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d members, want %d, all served by the Poller", len(conns), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEndedCtxBroadcastDropsNobody: Broadcast with an ended ctx sends
// nothing and closes no connection; each of its writes would report the
// ctx, which Broadcast takes as a member too slow to keep.
func TestEndedCtxBroadcastDropsNobody(t *testing.T) {
	var g Group
	client, server := pair(t, &AcceptOptions{Group: &g}, nil)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	pm, err := NewPreparedMessage(MessageText, []byte("late"))
	if err != nil {
		t.Fatal(err)
	}
	if dropped := g.Broadcast(ended, pm); len(dropped) != 0 {
		t.Fatalf("Broadcast with an ended ctx dropped %d connections", len(dropped))
	}
	ctx := testCtx(t)
	if err := server.Write(ctx, MessageText, []byte("first")); err != nil {
		t.Fatalf("the member is no longer usable: %v", err)
	}
	if _, msg, err := client.Read(ctx); err != nil || string(msg) != "first" {
		t.Fatalf("client read %q, %v; want \"first\"", msg, err)
	}
}

// TestWriterEndedBeforeLastFragment: a Writer whose ctx ends after a
// fragment went out cannot finish its message, so Close ends the
// connection. It used to return the ctx's error and leave the message
// open on the wire, and the next message broke the protocol.
func TestWriterEndedBeforeLastFragment(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx, cancel := context.WithCancel(testCtx(t))
	w, err := client.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	// More than the write buffer: a first fragment goes out at once.
	if _, err := w.Write(make([]byte, 3*DefaultWriteBufferSize)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Writer.Close after its ctx ended: %v, want context.Canceled", err)
	}
	if !client.isClosed() {
		t.Fatal("a message left unfinished on the wire, and the connection still open")
	}
	_, r, err := server.Reader(testCtx(t))
	if err == nil {
		_, err = io.Copy(io.Discard, r)
	}
	if CloseStatus(err) != StatusAbnormalClosure {
		t.Fatalf("the server's read of the cut message: %v, want close status 1006", err)
	}
}

// TestEndedCtxAfterWriteCut: a write cut off by its ctx closes the
// connection, and the next call with that same, ended ctx reports the
// closed connection, as the Write documentation says, not the ctx.
func TestEndedCtxAfterWriteCut(t *testing.T) {
	client, _ := pair(t, nil, nil) // the server never reads
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := client.Write(ctx, MessageBinary, make([]byte, 64<<20)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a write bigger than the socket buffers takes: %v, want its ctx's deadline", err)
	}
	// Where masking 64 MiB outlasts the ctx (an emulator), nothing went
	// out and the connection stays usable: then the ctx's error is right.
	want := context.DeadlineExceeded
	if client.isClosed() {
		want = ErrClosed
	}
	if err := client.Write(ctx, MessageBinary, []byte("x")); !errors.Is(err, want) {
		t.Fatalf("the next Write with the same ctx: %v, want %v", err, want)
	}
}

// TestNetConnWriteAfterClose: a NetConn's Write after its Close reports
// the closed connection, not a timeout: Close ends the ctx its deadlines
// hang on, and a timeout invites a retry.
func TestNetConnWriteAfterClose(t *testing.T) {
	client, server := pair(t, nil, nil)
	go server.Read(context.Background()) // until the end
	nc := NetConn(context.Background(), client, MessageBinary)
	nc.Close()
	if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) && !errors.Is(err, ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("NetConn.Write after Close: %v, want a closed connection", err)
	}
}

// skipWithoutLoops skips a test about a Poller's loops where a Poller has
// none (poller_other.go: every connection gets a goroutine of its own).
func skipWithoutLoops(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" && runtime.GOOS != "android" {
		t.Skip("a Poller has no loops here (no epoll): every connection is served by a goroutine")
	}
}
