package websocket

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"sync"
	"sync/atomic"
)

// Group tracks live server connections, to broadcast to them and to close
// them together. Put a connection in a group with AcceptOptions.Group; it
// leaves the group when it closes.
//
// # Shutdown
//
// Hijacked connections are invisible to http.Server: Shutdown neither
// closes them nor waits for them, and the functions registered with
// RegisterOnShutdown are started by Shutdown but not waited for, so a
// program that exits when Shutdown returns cuts the closing handshakes
// short. Call Group.Shutdown yourself, after http.Server.Shutdown:
//
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	err := srv.Shutdown(ctx)                              // 1. no new connections
//	err = errors.Join(err, g.Shutdown(ctx, "restarting")) // 2. close the WebSockets with 1001
//
// In this order the listener is closed first, so clients that reconnect
// when they see 1001 reach another instance instead of this one, and an
// upgrade still in progress when Shutdown returns is closed with 1001 as
// it joins the group. In the other order the server goes on accepting
// connections while the group closes its own, and would close each
// newcomer at once.
//
// A WebSocket over HTTP/2 is not hijacked: it is a request whose handler
// runs until the connection ends, and http.Server.Shutdown waits for it,
// so in the order above Shutdown waits until ctx ends and Group.Shutdown
// gets an ended ctx (its members then see 1006, not 1001). A server that
// speaks HTTP/2, and any that wants its WebSockets closed while plain
// requests finish, starts Group.Shutdown from RegisterOnShutdown, which
// Shutdown calls once its listeners are closed, and waits for it after
// Shutdown returns (this order suits HTTP/1.1 too):
//
//	closed := make(chan error, 1)
//	srv.RegisterOnShutdown(func() {
//		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//		defer cancel()
//		closed <- g.Shutdown(ctx, "restarting")
//	})
//	…
//	err := srv.Shutdown(ctx)
//	err = errors.Join(err, <-closed)
//
// The zero value is ready to use. A Group is safe for concurrent use.
type Group struct {
	mu       sync.Mutex
	conns    map[*Conn]struct{}
	shutdown bool
}

// add tracks c, or reports false if the group is shutting down.
func (g *Group) add(c *Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdown {
		return false
	}
	if g.conns == nil {
		g.conns = make(map[*Conn]struct{})
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Group) remove(c *Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// snapshot returns the connections that are open and not closing.
func (g *Group) snapshot() []*Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	conns := make([]*Conn, 0, len(g.conns))
	for c := range g.conns {
		if !c.flags.has(flagCloseQueued) {
			conns = append(conns, c)
		}
	}
	return conns
}

// Len returns the number of connections in the group: those open and
// those still closing, which All and Broadcast skip. A connection leaves
// the group when it has ended, before its Done channel is closed.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// All returns an iterator over the group's connections, those open and
// not closing when All is called, in no particular order:
//
//	for c := range g.All() { … }
//
// The loop body may do anything with a connection, close it included, and
// connections may join or leave meanwhile: the iterator goes over a copy
// of the set taken when the loop starts. A connection may close while the
// loop runs, in which case what is done with it returns an error.
func (g *Group) All() iter.Seq[*Conn] {
	return func(yield func(*Conn) bool) {
		for _, c := range g.snapshot() {
			if !yield(c) {
				return
			}
		}
	}
}

// ErrSlowConsumer is wrapped in the *ProtocolError of a connection that
// Group.Broadcast dropped because it did not take a message in time; the
// connection is closed with 1008 (policy violation) and the reason
// "too slow".
var ErrSlowConsumer = errors.New("websocket: peer too slow to take a broadcast message")

// Broadcast sends pm to every connection of the group that is open and not
// closing, and returns once each has taken it or been dropped, with the
// connections it dropped (nil when none was).
//
// The message is framed (and compressed) once for all, as WritePrepared
// does. Each connection whose write may wait is written to by a goroutine
// of its own, so that one that waits holds up none of the others: one
// whose write may wait for its peer, and one whose message another
// goroutine is sending (a Writer left open, a large message being
// compressed). The others, connections a Poller's loop serves whose write
// queue is within PollerOptions.WriteQueueLimit, are written to one after
// the other without a goroutine: such a write never waits (what the
// socket does not take is queued). Past the limit a write waits for room
// like any other, except from a callback of the Poller that serves the
// connection (on any of its loops), where it fails with ErrWriteQueueFull
// and the connection is closed (see Poller), which leaves it out of the
// connections returned: those are the ones the slow-consumer policy below
// dropped. A Poller's connection is dropped only for that wait for room,
// or for another goroutine's message that holds up its write past ctx's
// end; a wait for another goroutine's frame to be queued, as long as
// copying it takes, may run past ctx's end instead.
//
// The slow-consumer policy: ctx bounds every write. A connection whose
// write has not completed when ctx ends is dropped. It is failed with
// 1008 (policy violation) and the reason "too slow": the close frame is
// queued behind the frame being written, which gets the connection's
// CloseTimeout more to go out; once the close frame is out, or the time is
// up, the connection is closed (the peer sees 1008 if it read that far,
// 1006 otherwise). A Read on it returns a *ProtocolError wrapping
// ErrSlowConsumer, or the peer's answer to the close frame (a *CloseError
// with 1008) if that is read first. Give ctx a deadline: the time a peer may stall the
// broadcast before it is dropped. Note that a write completes as soon as
// the operating system has taken the message, so a peer is dropped only
// once the socket buffers toward it are full.
//
// Broadcast waits for the writes it started, up to ctx's end, so that
// messages broadcast one after the other by one goroutine arrive in that
// order; calls made concurrently may arrive in either order. It waits for
// the connections not served by a Poller's loop even when called from a
// Poller callback, holding that loop up to ctx's end: call it from another
// goroutine, or with a short ctx, when the group has such connections.
func (g *Group) Broadcast(ctx context.Context, pm *PreparedMessage) (dropped []*Conn) {
	if ctx.Err() != nil {
		return nil // ended already: send nothing, and so drop nobody
	}
	conns := g.snapshot()
	var wg sync.WaitGroup
	state := make([]atomic.Int32, len(conns)) // writing, written or late
	// waiting, the connections written to apart, grows over conns' room,
	// over connections already looked at.
	waiting := conns[:0]
	bctx := broadcastCtx{Context: ctx, frameLock: context.WithoutCancel(ctx)}
	for _, c := range conns {
		if c.writeMayWait() || c.msgMu.Held() {
			// Its write may wait for its peer, or for another
			// goroutine's message (a Writer, one being compressed): it
			// goes apart, or it would hold up every write after it,
			// which could then meet a brief wait of their own with ctx
			// already ended.
			i := len(waiting)
			waiting = append(waiting, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The write may outlive ctx: a dropped connection's
				// frame gets CloseTimeout more to go out (see dropSlow).
				c.writePrepared(context.WithoutCancel(ctx), pm)
				state[i].CompareAndSwap(bcWriting, bcWritten)
			}()
			continue
		}
		// Its write never waits for the socket, so ctx ending meanwhile
		// does not stop it (writePrepared, not WritePrepared), nor a wait
		// for its frame lock (broadcastCtx).
		err := c.writePrepared(bctx, pm)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// It waited past ctx's end: for room its queue had when
			// writeMayWait looked, or for a message another goroutine
			// is writing (a Writer's, or one being compressed). The
			// frame lock alone is waited for past ctx's end, as its
			// holders never wait for the peer (broadcastCtx).
			dropped = append(dropped, c)
			dropSlow(c)
		}
	}
	if len(waiting) == 0 {
		return dropped
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return dropped
	case <-ctx.Done():
	}
	for i, c := range waiting {
		if state[i].CompareAndSwap(bcWriting, bcLate) {
			dropped = append(dropped, c)
			dropSlow(c)
		}
	}
	return dropped
}

// States of a write Broadcast hands to a goroutine.
const (
	bcWriting = iota
	bcWritten
	bcLate
)

// writeMayWait reports whether a write to c may wait for its peer: unless
// a Poller's loop serves c and its queue has room, or the caller is that
// loop (queue.go), the socket or the queue's back-pressure may hold it up.
// The loop is set after the queue, so a connection seen with a loop
// writes through its queue.
func (c *Conn) writeMayWait() bool {
	ev := c.ev.Load()
	if ev == nil || ev.l.Load() == nil {
		return true
	}
	q := c.wr.queue.Load()
	return int(q.queued.Load()) > c.queueLimit() && !c.onServingGoroutine()
}

// dropSlow fails c for not taking a broadcast message in time. The frame
// being written gets CloseTimeout to finish, then the close frame goes out
// (fail queues it behind that frame); the end timer armed first bounds
// both, and fail keeps it instead of arming its own, shorter one.
func dropSlow(c *Conn) {
	perr := &ProtocolError{Code: StatusPolicyViolation, Reason: "too slow", Err: ErrSlowConsumer}
	c.armEndTimer(perr)
	c.fail(perr, false)
}

// Shutdown closes every connection in the group with 1001 (going away) and
// the given reason, running the closing handshakes concurrently, and
// refuses connections accepted from then on (they are closed with 1001
// right away). Messages whose Write returned before Shutdown was called
// reach the peer ahead of the close frame. When ctx ends first, the
// remaining connections are dropped with CloseNow and ctx's error is
// returned; a ctx that has ended already sends no close frame at all. A
// reason Close would refuse (over 123 bytes, or not UTF-8) makes every
// close a CloseNow, as it does for Close, and Shutdown returns that
// error. See Group for where it goes in a server's shutdown.
func (g *Group) Shutdown(ctx context.Context, reason string) error {
	argErr := checkCloseArgs(StatusGoingAway, reason)
	g.mu.Lock()
	g.shutdown = true
	conns := make([]*Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// ctx bounds each handshake; one that has already
			// ended drops the connection without a close frame.
			c.CloseContext(ctx, StatusGoingAway, reason)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return argErr
	case <-ctx.Done():
		for _, c := range conns {
			c.CloseNow()
		}
		<-done
		return cmp.Or(argErr, ctx.Err())
	}
}
