package websocket

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/internal/wsproto"
)

// Control frames the read side decides to send (the pong to a ping, the
// close frame that answers the peer's or fails the connection) are never
// written by the reader: a reader that waited for the write side could
// deadlock against a writer waiting for the peer, which waits for us in
// the same way. They are queued here, one of each at most, and sent by
// whoever next holds frameMu: kickControl takes it when it is free, and a
// writer that holds it sends them when it lets go (unlockFrame).
//
// The order of the two sides matters: the reader sets pending, then tries
// frameMu; a holder releases frameMu, then checks pending. Either the try
// succeeds or the holder sees pending, so nothing is left behind.

// ctlQueue holds the control frames waiting for the write side.
type ctlQueue struct {
	mu       sync.Mutex
	pending  atomic.Bool // something below waits to be sent
	inFlight atomic.Bool // a goroutine writes control frames (finishControl)
	// replyDue is set when the control frames a Poller's dispatch owed
	// ahead of OnMessage's reply could not join the queue then (the frame
	// lock was held): the next holder that writes data sends them first.
	replyDue atomic.Bool
	// pongs holds the payloads of the pongs to send, each after a length
	// byte, oldest first, within maxPendingPongs bytes.
	pongs    []byte
	out      []byte // the frames being written, under frameMu
	hasClose bool
	closeLen int
	close    [maxControlPayload]byte
	// watch, when set, checks after CloseTimeout that control frames
	// waiting in or behind a Poller's queue moved (watchStuckControl).
	watch *time.Timer
	// sentOut counts the bytes that left a Poller's queue since this
	// queue was made; the last control frames put in it span ctlStart to
	// ctlEnd of that count. Guarded by the outQueue's mu, not by mu
	// (outQueue.left).
	sentOut, ctlStart, ctlEnd uint64
}

// maxPendingPongs bounds the pongs waiting for the write side. Past it,
// only the latest ping is answered, as RFC 6455 section 5.5.3 allows: a
// ping flood costs this much and no more.
const maxPendingPongs = 1024

// queuePong queues the answer to a ping. The reader sends what is queued
// (kickControl) once it has decoded what it has buffered, so a burst of
// pings costs one write.
//
// RFC 6455 (section 5.5.2) wants a pong for every ping until the peer's
// close frame, which the decoder reads last: so a ping that comes between
// our Close's frame and the peer's answer is answered too, after that
// frame (section 5.5.1 forbids only data frames there). A connection we
// fail (section 7.1.7) answers nothing more: its reader only drains, and
// the socket may be half-closed already. Nor does a close frame that
// only answers the peer's, which ends what we send.
func (c *Conn) queuePong(payload []byte) {
	q := c.ctlQueue()
	q.mu.Lock()
	if c.flags.has(flagFailing) || c.flags.has(flagCloseQueued) && !c.flags.has(flagClosing) {
		q.mu.Unlock()
		return
	}
	if len(q.pongs)+1+len(payload) > maxPendingPongs {
		q.pongs = q.pongs[:0]
	}
	q.pongs = append(append(q.pongs, byte(len(payload))), payload...)
	q.pending.Store(true)
	q.mu.Unlock()
}

// queueClose queues a close frame unless one was queued before, and
// reports whether this call queued it. From then on no data frame is sent.
// The caller sends it, or calls kickControl.
func (c *Conn) queueClose(code StatusCode, reason string) bool {
	q := c.ctlQueue()
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.flags.has(flagCloseQueued) {
		return false
	}
	c.flags.set(flagCloseQueued)
	q.closeLen = len(wsproto.AppendClose(q.close[:0], uint16(code), reason))
	q.hasClose = true
	q.pending.Store(true)
	return true
}

// takeControl returns the queued control frames, ready for the wire, and
// empties the queue. It reports whether a close frame is among them. The
// caller holds frameMu, and the frames are valid until it lets go.
func (c *Conn) takeControl() ([]byte, bool) {
	q := c.ctl.Load()
	if q == nil {
		return nil, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	dst := q.out[:0]
	for p := q.pongs; len(p) > 0; {
		n := int(p[0])
		dst = c.appendControlFrame(dst, opPong, p[1:1+n])
		p = p[1+n:]
	}
	if q.hasClose {
		dst = c.appendControlFrame(dst, opClose, q.close[:q.closeLen])
	}
	hasClose := q.hasClose
	q.out = dst
	q.pongs = q.pongs[:0]
	q.hasClose = false
	q.pending.Store(false)
	q.replyDue.Store(false)
	return dst, hasClose
}

// appendControlFrame appends a whole control frame, masked by a client.
func (c *Conn) appendControlFrame(dst []byte, op opcode, payload []byte) []byte {
	h := header{Fin: true, Op: op, Length: int64(len(payload)), Masked: c.client}
	if c.client {
		h.Key = maskKey()
	}
	var hdr [maxHeaderSize]byte
	n := putHeader(hdr[:], h)
	dst = append(dst, hdr[:n]...)
	start := len(dst)
	dst = append(dst, payload...)
	if c.client {
		maskBytes(dst[start:], h.Key)
	}
	return dst
}

// kickControl sends the queued control frames if the write side is free;
// otherwise its holder sends them when it lets go. It never waits.
func (c *Conn) kickControl() { c.kickControlAhead(false) }

// kickControlBeforeReply is kickControl before a data message reaches
// OnMessage: the control frames that wait join the queue whatever it
// holds, so that the pongs to the pings before the message go out before
// the reply written next (Autobahn 5.6's order). That costs at most one
// set of pongs per data message, where a flood of pings alone still
// costs one pong (takesControl); and only while the queue is within
// WriteQueueLimit: a peer that sends pings and messages but reads
// nothing must not grow it without bound.
func (c *Conn) kickControlBeforeReply() {
	c.kickControlAhead(true)
	if q := c.ctl.Load(); q != nil && q.pending.Load() {
		// Another goroutine holds the frame lock: the reply's writer may
		// take it next, before the pongs are sent (a handoff by Sema
		// in the instant between unlockFrameSlow's check and its
		// release), so its lockFrameSlow sends them first. Under mu, as
		// takeControl clears both: a take between the check above and
		// the store must not leave the flag set with nothing due.
		q.mu.Lock()
		if q.pending.Load() {
			q.replyDue.Store(true)
		}
		q.mu.Unlock()
	}
}

func (c *Conn) kickControlAhead(beforeReply bool) {
	for c.controlPending() && c.frameMu.TryLock() {
		if q := c.wr.queue.Load(); c.controlWaitsFor(q, beforeReply) {
			// The flush that empties the queue kicks again.
			c.frameMu.Unlock()
			if q.queued.Load() > 0 {
				c.watchStuckControl()
				return
			}
			continue
		}
		if handedOff, _ := c.flushControl(nil); handedOff {
			return // a goroutine finishes the write and releases frameMu
		}
		c.frameMu.Unlock()
	}
}

// controlWaitsFor reports whether the control frames that wait must
// stay pending until q drains rather than join it: q holds data, and
// neither is a reply about to be written within WriteQueueLimit
// (beforeReply) nor is all q holds a small batch held back
// (takesControl).
func (c *Conn) controlWaitsFor(q *outQueue, beforeReply bool) bool {
	switch {
	case q == nil || q.queued.Load() == 0:
		return false
	case beforeReply && int(q.queued.Load()) <= c.queueLimit():
		return false
	}
	return !q.takesControl()
}

// unlockFrame releases frameMu and sends what was queued meanwhile. Its
// fast path inlines: on a connection that never had a control frame to
// send (the slow flag unset) and with nobody waiting, one CAS releases it.
func (c *Conn) unlockFrame() {
	if !c.frameMu.UnlockFast() {
		c.unlockFrameSlow()
	}
}

// unlockFrameSlow is unlockFrame when others wait for the lock or control
// frames may be queued: it releases the lock, then sends what waits.
//
//go:noinline
func (c *Conn) unlockFrameSlow() {
	if c.controlPending() {
		// Control frames queued meanwhile go before the lock passes on:
		// a data writer waiting for it would overtake them (a reply
		// ahead of the pongs to the pings before its message). Into a
		// Poller's queue too, behind the frame just queued, whatever the
		// queue holds: a writer that keeps it from draining (a producer
		// streaming to a peer that reads, only slower) would otherwise
		// hold the pongs back for as long as it writes, and the peer's
		// heartbeat would drop a healthy connection. That costs a take of
		// the pending frames per frame written, never more than the
		// writes themselves, which WriteQueueLimit bounds.
		if handedOff, _ := c.flushControl(nil); handedOff {
			return // the goroutine finishing the write releases the lock
		}
	}
	c.frameMu.UnlockSlow()
	if c.controlPending() {
		c.kickControl()
	}
}

// controlPending reports whether control frames wait for the write side.
func (c *Conn) controlPending() bool {
	q := c.ctl.Load()
	return q != nil && q.pending.Load()
}

// ctlQueue returns the connection's control queue, made on first use so
// that a connection that never gets a ping or a close does not carry it.
func (c *Conn) ctlQueue() *ctlQueue {
	if q := c.ctl.Load(); q != nil {
		return q
	}
	// The slow flag first: whoever sees the queue must find unlockFrame's
	// fast path off, or a pending frame could wait for the next writer.
	c.frameMu.SetSlow()
	c.ctl.CompareAndSwap(nil, new(ctlQueue))
	return c.ctl.Load()
}

// flushControl writes the queued control frames; the caller holds frameMu.
// With a ctx it may wait, bounded by ctx. Without one it never waits: what
// the socket does not take at once is finished by a goroutine that keeps
// frameMu until done (handedOff), or, on a Poller, left to its queue.
func (c *Conn) flushControl(ctx context.Context) (handedOff bool, err error) {
	if q := c.ctl.Load(); q != nil {
		// Before takeControl clears pending, so that sendOwedControl sees
		// one or the other; a goroutine handed the write clears it.
		q.inFlight.Store(true)
		defer func() {
			if !handedOff {
				q.inFlight.Store(false)
			}
		}()
	}
	frames, hasClose := c.takeControl()
	switch {
	case len(frames) == 0:
		return false, nil
	case c.isClosed():
		return false, c.errAfterClose()
	case c.wr.queue.Load() != nil:
		q := c.wr.queue.Load()
		written, err := q.send(c, hasClose, [][]byte{frames})
		if err == nil && q.queued.Load() > 0 {
			q.markControl(c.ctl.Load(), len(frames))
			c.watchStuckControl()
		}
		if err != nil {
			return false, c.frameError(written, err)
		}
		return false, nil
	case ctx != nil:
		written, err := c.wr.sendUnlimited(ctx, frames)
		if err != nil {
			return false, c.frameError(written, err)
		}
		if hasClose {
			c.closeFrameWritten()
		}
		return false, nil
	}
	n, err := c.wr.trySend(frames)
	switch {
	case err == nil && n == len(frames):
		if hasClose {
			c.closeFrameWritten()
		}
		return false, nil
	case err != nil && err != errWouldBlock:
		return false, c.frameError(n > 0, err)
	}
	rest := append([]byte(nil), frames[n:]...)
	go c.finishControl(rest, hasClose)
	return true, nil
}

// watchStuckControl makes sure a check runs CloseTimeout from now on
// control frames that wait for a Poller connection's queue to drain, or
// sit in it. When they are at the queue's head, with no data before them,
// and nothing left the queue meanwhile (nor does a write now), the peer
// reads nothing, not even the pongs to its own pings, and is dropped, as
// finishControl drops it when a goroutine writes. Behind data they wait
// as a goroutine's pong waits for the frame lock: without a bound, as the
// data's writer is bounded by its own ctx.
func (c *Conn) watchStuckControl() {
	q, oq := c.ctl.Load(), c.wr.queue.Load()
	if q == nil || oq == nil {
		return
	}
	out, _, _ := oq.controlProgress(q)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.watch != nil || c.isClosed() {
		return
	}
	q.watch = time.AfterFunc(c.opts.closeTimeout(), func() {
		now, queued, atHead := oq.controlProgress(q)
		q.mu.Lock()
		q.watch = nil
		waiting := queued || q.pending.Load()
		moved := now != out
		q.mu.Unlock()
		if atHead && !moved && !c.isClosed() {
			// EPOLLOUT comes only once a good part of the socket's buffer
			// is free: a peer that read anything lets a write through now.
			oq.flush(c)
			now, _, _ = oq.controlProgress(q)
			moved = now != out
		}
		switch {
		case atHead && !moved && !c.isClosed():
			c.closeNow(errControlStuck)
		case waiting:
			c.watchStuckControl() // watch on
		}
	})
}

// stopControlWatch stops watchStuckControl's timer when the connection
// ends, so that it does not keep the connection for CloseTimeout.
func (c *Conn) stopControlWatch() {
	q := c.ctl.Load()
	if q == nil {
		return
	}
	q.mu.Lock()
	if q.watch != nil {
		q.watch.Stop()
		q.watch = nil
	}
	q.mu.Unlock()
}

// errControlStuck is why a connection ends whose peer did not take a
// control frame within CloseTimeout (finishControl): it reads too little,
// or nothing, not even the answers to its own pings.
var errControlStuck = fmt.Errorf("%w: the peer did not read a pong or close frame within CloseTimeout", ErrClosed)

// finishControl writes the rest of control frames the socket did not take
// at once, bounded by CloseTimeout: a peer that reads nothing for that
// long is dropped. It releases frameMu, which the caller handed over.
func (c *Conn) finishControl(rest []byte, hasClose bool) {
	// The control frames queued while these went out follow them before
	// the lock can pass to a data writer waiting for it: pongs leave in
	// the order of their pings, ahead of the replies to later messages.
	//
	// Only until a take finds a writer waiting for the lock: what that
	// writer's message followed was queued before it waited, so it went
	// out with that take. Beyond, a peer that pings as fast as we answer
	// would keep the lock from every writer (Sema's handoff is to a
	// waiter, not to the next pong).
	waited := false
	for c.sendControlNow(rest, hasClose) && !hasClose && !waited {
		waited = c.frameMu.HasWaiters()
		if rest, hasClose = c.takeControl(); len(rest) == 0 {
			break
		}
	}
	c.ctl.Load().inFlight.Store(false)
	if waited {
		c.frameMu.UnlockSlow()
		if c.controlPending() {
			c.kickControl()
		}
		return
	}
	c.unlockFrame()
}

// sendControlNow is finishControl's write of control frames, bounded by
// CloseTimeout; it reports whether they went out.
func (c *Conn) sendControlNow(frames []byte, hasClose bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.closeTimeout())
	_, err := c.wr.sendUnlimited(ctx, frames)
	timedOut := ctx.Err() != nil
	cancel()
	switch {
	case err != nil && timedOut && !c.isClosed():
		c.closeNow(errControlStuck)
	case err != nil:
		c.frameError(true, err)
	case hasClose:
		c.closeFrameWritten()
	}
	return err == nil
}

// sendOwedControl lets the control frames a peer that ended its side of
// the stream (a FIN, an HTTP/2 END_STREAM) is owed go out before the
// connection closes: the pongs to its pings, which it may still read, as
// closing a socket sends what the kernel holds. A goroutine may be
// writing them (finishControl), over HTTP/2 always, as a stream has no
// non-blocking write; closing the stream under that write would reset
// it. That write is waited for, bounded by ctx and CloseTimeout; frames
// still queued behind a data write wait for it for a moment at most
// (maxLinger), as behind a write stuck on a peer that reads nothing more
// they would wait for ever.
func (c *Conn) sendOwedControl(ctx context.Context) {
	q := c.ctl.Load()
	if q == nil || !q.pending.Load() && !q.inFlight.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.closeTimeout())
	defer cancel()
	switch {
	case q.inFlight.Load():
		if c.lockFrame(ctx) != nil {
			return
		}
	case c.frameMu.TryLock():
	default:
		// A data write holds the write side: the peer may still be
		// reading it, and the pong goes out behind it. Wait a moment
		// (as a failing connection lingers), not longer: behind a write
		// stuck on a peer that reads nothing, it never would.
		lctx, lcancel := context.WithTimeout(ctx, maxLinger)
		err := c.lockFrame(lctx)
		lcancel()
		if err != nil {
			return
		}
	}
	c.flushControl(ctx)
	c.unlockFrame()
}
