package websocket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/internal/wsproto"
)

// A connection served by a Poller's loop never waits for its socket: not
// to send a pong or a close frame, and not for a Write called from
// OnMessage. What the socket does not take at once waits in the
// connection's outQueue, and the loop writes it when the socket becomes
// writable (EPOLLOUT). One peer that stops reading then costs its own
// queue and nothing else. The queue is bounded by PollerOptions.
// WriteQueueLimit: past it, a write from the serving loop fails and drops
// the connection, and a write from any other goroutine waits for room
// (bounded by its ctx) before it takes the write side. Control frames
// that the read side queues do not join a queue that holds what the
// socket refused: they stay pending until it drains, so a ping flood
// costs one pending pong, and a close frame goes out after the data
// queued before it. They do join what a loop's batch held back
// (takesControl), which leaves with the batch, and they go in behind
// each frame a writer queues (unlockFrameSlow), so that a writer that
// keeps the queue from draining does not hold them back.

// ErrWriteQueueFull is returned by a write from a Poller's callback to a
// connection served by that Poller when the peer left more than
// PollerOptions.WriteQueueLimit bytes unread. The connection is closed: a
// peer that does not read would not read a close frame either. A write
// from another goroutine waits for room instead.
var ErrWriteQueueFull = errors.New("websocket: write queue full: the peer reads slower than the connection writes")

// outQueue holds the bytes a Poller-served connection could not write yet.
type outQueue struct {
	mu         sync.Mutex
	buf        []byte // what is left to write is buf[off:]
	off        int
	queued     atomic.Int64 // len(buf) - off, read without mu by the loop
	closeAfter bool         // a close frame is in buf: report it written when buf drains
	// batch is set while the connection's loop runs a batch that includes
	// it (poller_batch_linux.go): small writes then wait in buf for the
	// batch's end, when one system call sends what every connection of
	// the batch queued.
	batch bool
	// held is set while everything in buf was held back by the batch,
	// whole frames with nothing refused by the socket before them:
	// control frames may then join buf (takesControl).
	held  bool
	waits *queueWaits // made under mu by the first writer or loop that waits
	// hdr is where the holder of frameMu assembles a server frame's
	// header (writeFrame): send copies what it queues, so hdr is free
	// again once send returns.
	hdr [wsproto.MaxHeaderSize]byte
}

// queueWaits are the channels of those waiting on a queue, apart from the
// queue, which every served connection carries while few ever wait.
type queueWaits struct {
	room chan struct{} // closed when queued falls to the limit; made by a writer that waits
	// stuck is closed when a writer starts waiting for room: made by a
	// loop that waits for msgMu, whose holder may be that writer, waiting
	// for the loop (lockMessage).
	stuck chan struct{}

	// stall is ConnOptions.WriteTimeout's watch on what the socket
	// refused (watchStall): on while such bytes wait (stallOn), it drops
	// the peer when none of them left the queue for WriteTimeout. Made
	// at the first refusal and re-armed after, so that a peer refusing
	// then draining, message after message, costs no allocation.
	// stallDue is when the armed look is due: a firing before it belongs
	// to an arming since stopped. stallLeft counts the bytes that left
	// while it is on, stallMark what it counted when it last looked.
	stall     *time.Timer
	stallOn   bool
	stallDue  time.Time
	stallLeft uint64
	stallMark uint64
}

// waiting returns q.waits, made on first use; the caller holds q.mu.
func (q *outQueue) waiting() *queueWaits {
	if q.waits == nil {
		q.waits = new(queueWaits)
	}
	return q.waits
}

// send writes bufs, one frame or whole control frames, without waiting:
// what the socket does not take is queued. isClose marks a close frame,
// reported written (Conn.closeFrameWritten) once it has all gone out.
// It takes whatever it is given: the limit on data frames is the
// caller's (writer.send), and control frames, at most a few hundred
// bytes, always go in behind the data, so that a close follows what
// Write accepted before it.
func (q *outQueue) send(c *Conn, isClose bool, bufs [][]byte) (written bool, err error) {
	q.mu.Lock()
	if c.isClosed() {
		q.mu.Unlock()
		return false, c.errAfterClose()
	}
	if q.queued.Load() == 0 {
		if q.batch && totalLen(bufs) <= batchBufSize {
			if q.buf == nil {
				q.buf = batchBufPool.Get().(*[batchBufSize]byte)[:0]
			}
			q.held = true
		} else if bufs, err = q.sendNow(c, bufs); err != nil {
			q.mu.Unlock()
			return true, err
		}
	}
	if q.off > 0 && q.off >= len(q.buf)/2 {
		// Drop what went out before growing, so the storage stays within
		// about twice what is queued.
		q.buf = q.buf[:copy(q.buf, q.buf[q.off:])]
		q.off = 0
	}
	for _, b := range bufs {
		q.buf = append(q.buf, b...)
	}
	q.queued.Store(int64(len(q.buf) - q.off))
	done := q.queued.Load() == 0
	if isClose && !done {
		q.closeAfter = true
	}
	if c.opts.WriteTimeout > 0 {
		q.watchStall(c)
	}
	q.mu.Unlock()
	if isClose && done {
		c.closeFrameWritten()
	}
	return true, nil
}

// controlProgress reports how many bytes left the queue since the
// connection's first control frame (ctlQueue.out), whether control frames
// put in the queue are still there, and whether they are at its head,
// with no data before them left to send.
func (q *outQueue) controlProgress(cq *ctlQueue) (out uint64, queued, atHead bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return cq.sentOut, cq.sentOut < cq.ctlEnd, cq.sentOut >= cq.ctlStart && cq.sentOut < cq.ctlEnd
}

// markControl records that the n bytes of control frames send just put
// in the queue end it (whatever of them the socket has not taken). While
// earlier ones are still queued, the span grows from where they start.
// Positions count from cq.sentOut, what left the queue since cq was made,
// and are taken under q.mu with it: a flush between send and this call
// (the loop's, on EPOLLOUT) moves both alike.
func (q *outQueue) markControl(cq *ctlQueue, n int) {
	q.mu.Lock()
	queued := uint64(len(q.buf) - q.off)
	if cq.sentOut >= cq.ctlEnd {
		cq.ctlStart = cq.sentOut + queued - min(uint64(n), queued)
	}
	cq.ctlEnd = cq.sentOut + queued
	q.mu.Unlock()
}

// left counts n bytes that left the queue, for the watch on control
// frames (Conn.watchStuckControl); the caller holds q.mu.
func (q *outQueue) left(c *Conn, n int) {
	if cq := c.ctl.Load(); cq != nil && n > 0 {
		cq.sentOut += uint64(n)
	}
	if w := q.waits; w != nil && w.stallOn {
		w.stallLeft += uint64(n)
	}
}

// sendNow writes as much of bufs as the socket takes now and returns the
// rest.
func (q *outQueue) sendNow(c *Conn, bufs [][]byte) ([][]byte, error) {
	for len(bufs) > 0 {
		n, err := c.wr.trySendv(bufs)
		for n > 0 {
			k := min(n, len(bufs[0]))
			bufs[0] = bufs[0][k:]
			n -= k
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if err == errWouldBlock {
			return bufs, nil
		}
		if err != nil {
			return bufs, err
		}
	}
	return nil, nil
}

// flush writes what is queued, as far as the socket takes it; the loop
// calls it when the socket becomes writable.
func (q *outQueue) flush(c *Conn) {
	// Check under the lock: a writer that has just met a full socket but
	// not yet queued the rest holds it, and its EPOLLOUT must not be lost.
	q.mu.Lock()
	if q.queued.Load() == 0 {
		q.mu.Unlock()
		return
	}
	rest, err := q.sendNow(c, [][]byte{q.buf[q.off:]})
	was := q.off
	if len(rest) == 0 {
		q.off = len(q.buf)
	} else {
		q.off = len(q.buf) - len(rest[0])
	}
	q.left(c, q.off-was)
	if q.off > was {
		c.noteTaken() // the socket had refused these bytes
	}
	q.settle(c, err)
}

// refusedPastLimit reports whether the socket left more than the limit
// queued. What a batch holds back has not been offered to the socket, and
// a batch that reads many messages of one connection can hold more than a
// low limit: it is sent first, and only what the socket refuses counts.
func (q *outQueue) refusedPastLimit(c *Conn) bool {
	q.mu.Lock()
	if q.held {
		q.held = false // the rest, if the socket refuses any, waits for EPOLLOUT
		q.mu.Unlock()
		q.flush(c)
		q.mu.Lock()
	}
	full := int(q.queued.Load()) > c.queueLimit()
	q.mu.Unlock()
	return full
}

// takesControl reports whether control frames may join what is queued:
// only what a batch held back is, which leaves with the batch, so a pong
// queued behind it is not held up by a peer that does not read, and goes
// out before the replies written after it. And only while that is small:
// a batch reads a flooding pinger many times in one turn, and each read
// would add a pong, where a pong that waits pending is replaced by the
// next (a flood of pings costs one).
func (q *outQueue) takesControl() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.batch && q.held && len(q.buf)-q.off <= batchBufSize-maxControlFrame
}

// sendHeld writes, without waiting, what a loop's batch held back, when
// the connection closes before the batch could send it: a peer whose end
// of the stream came in that batch, after a message or a close frame, is
// owed the reply or the close frame's answer, which without batching
// would have gone out when written.
//
// The control frames that waited for the held data to leave (a batch too
// full for them to join, takesControl) are owed too, the close frame's
// answer above all, and go right behind it, if the write side is free.
//
// The connection's closeTransport calls it, and the loop's endBatch calls
// it for a connection it finds closed, as a close from another goroutine
// may come between the two: whichever takes q.mu first sends.
func (q *outQueue) sendHeld(c *Conn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sendHeldLocked(c)
}

// endBatch ends a loop's batch on q: from here on, writes go out as they
// come. The caller holds q.mu. A connection closed from another goroutine
// during the batch gets what the batch held back sent first, as its
// closeTransport may have looked for it already (sendHeld).
func (q *outQueue) endBatch(c *Conn) {
	if c.isClosed() {
		q.sendHeldLocked(c)
	}
	q.batch, q.held = false, false
}

// sendHeldLocked is sendHeld; the caller holds q.mu.
func (q *outQueue) sendHeldLocked(c *Conn) {
	if q.batch && q.held && q.queued.Load() > 0 {
		bufs := [][]byte{q.buf[q.off:]}
		if c.controlPending() && c.frameMu.TryLock() {
			// Not unlockFrame: the connection is closing, nothing more
			// is to be sent.
			defer c.frameMu.Unlock()
			if ctl, _ := c.takeControl(); len(ctl) > 0 {
				bufs = append(bufs, ctl)
			}
		}
		q.sendNow(c, bufs)
		q.left(c, len(q.buf)-q.off)
		q.dropStorage() // sent or lost: nothing may send it again (flush)
		q.queued.Store(0)
	}
}

// sent records that n bytes of what was queued went out in a batch (err
// is errWouldBlock when the socket took less, or what failed), and
// releases q.mu, which the batch took.
func (q *outQueue) sent(c *Conn, n int, err error) {
	q.off += n
	q.left(c, n)
	if err == errWouldBlock {
		err = nil // EPOLLOUT will say when the rest can go
	}
	q.settle(c, err)
}

// settle updates the queue after a write of q.buf up to q.off, releases
// q.mu and acts on the outcome: a failed write fails the connection, a
// queue that drained reports its close frame written, or lets the
// pending control frames go.
func (q *outQueue) settle(c *Conn, err error) {
	drained := q.off == len(q.buf)
	if drained {
		q.dropStorage() // an idle connection keeps none
	}
	q.queued.Store(int64(len(q.buf) - q.off))
	if err == nil && c.opts.WriteTimeout > 0 {
		q.watchStall(c)
	}
	if w := q.waits; w != nil && w.room != nil && int(q.queued.Load()) <= c.queueLimit() {
		close(w.room)
		w.room = nil
	}
	closeOut := q.closeAfter && drained && err == nil
	if closeOut {
		q.closeAfter = false
	}
	q.mu.Unlock()
	switch {
	case err != nil:
		c.frameError(true, err)
	case closeOut:
		c.closeFrameWritten()
	case drained:
		c.kickControl() // control frames wait for an empty queue
	}
}

// batchBufSize is the largest frame a batch holds back, and the size of
// the pooled storage that holds it: larger frames are written at once, as
// a copy would cost about what the system call saves.
const batchBufSize = 2048

var batchBufPool = sync.Pool{New: func() any { return new([batchBufSize]byte) }}

// dropStorage lets go of buf, giving pooled storage back.
func (q *outQueue) dropStorage() {
	if cap(q.buf) == batchBufSize {
		batchBufPool.Put((*[batchBufSize]byte)(q.buf[:batchBufSize]))
	}
	q.buf, q.off = nil, 0
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// awaitRoom waits, unless called from the serving loop, until no more
// than the limit is queued, ctx ends or the connection closes. Writers
// call it before taking frameMu: the loop that drains the queue may need
// frameMu itself.
func (q *outQueue) awaitRoom(ctx context.Context, c *Conn) error {
	var expired <-chan time.Time // ConnOptions.WriteTimeout's, made at the first wait
	for int(q.queued.Load()) > c.queueLimit() {
		if c.onServingGoroutine() {
			return nil // the write fails in send: a loop never waits
		}
		q.mu.Lock()
		if int(q.queued.Load()) <= c.queueLimit() {
			q.mu.Unlock()
			return nil
		}
		w := q.waiting()
		if w.room == nil {
			w.room = make(chan struct{})
		}
		room := w.room
		if w.stuck != nil {
			close(w.stuck)
			w.stuck = nil
		}
		q.mu.Unlock()
		if t := c.opts.WriteTimeout; t > 0 && expired == nil {
			timer := time.NewTimer(t)
			defer timer.Stop()
			expired = timer.C
		}
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done():
			err := c.errAfterClose()
			if errors.Is(err, errWriteTimedOut) {
				// The queue's own watch (watchStall) timed the peer out
				// first: this wait ends for the same reason.
				return errNoRoomInTime
			}
			return err
		case <-expired:
			c.closeNow(errWriteTimedOut)
			return errNoRoomInTime
		}
	}
	return nil
}

// errNoRoomInTime is what a write that waited for room in a queue gets
// when WriteTimeout ends its wait.
var errNoRoomInTime = fmt.Errorf("websocket: no room in the write queue within WriteTimeout: %w (%w)", os.ErrDeadlineExceeded, errWriteTimedOut)

// stuckCh returns a channel closed once a writer waits for room: at once
// if one does now.
func (q *outQueue) stuckCh() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.waiting()
	if w.room != nil {
		return closedChan
	}
	if w.stuck == nil {
		w.stuck = make(chan struct{})
	}
	return w.stuck
}

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// release drops the queue's storage once the connection is closed.
func (q *outQueue) release() {
	q.mu.Lock()
	q.dropStorage()
	q.queued.Store(0)
	q.stopStallWatch()
	q.mu.Unlock()
}

// watchStall arms ConnOptions.WriteTimeout's watch when the queue holds
// bytes the socket refused, and stops it once the queue is empty; the
// caller holds q.mu. A Poller's writes do not wait for the socket, so
// the timeout cannot bound a write's wait as it does with a goroutine
// per connection; it bounds the queue's instead: a peer that takes none
// of it for WriteTimeout is dropped, as a blocking write that long
// would have been. What a batch holds back (held) has not been refused
// and is not watched.
func (q *outQueue) watchStall(c *Conn) {
	t := c.opts.WriteTimeout
	if t <= 0 {
		return
	}
	if q.queued.Load() == 0 {
		q.stopStallWatch()
		return
	}
	w := q.waiting()
	if q.held || w.stallOn || c.isClosed() {
		return
	}
	w.stallOn = true
	w.stallMark = w.stallLeft
	w.stallDue = time.Now().Add(t)
	if w.stall == nil {
		w.stall = time.AfterFunc(t, func() { q.checkStall(c) })
	} else {
		w.stall.Reset(t)
	}
}

// stopStallWatch stops watchStall's timer; the caller holds q.mu.
func (q *outQueue) stopStallWatch() {
	if w := q.waits; w != nil && w.stallOn {
		w.stall.Stop()
		w.stallOn = false
	}
}

// checkStall is watchStall's timer: it drops the connection if nothing
// left the queue since the watch last looked, and looks again
// WriteTimeout later if something did. Before dropping it tries the
// socket once: EPOLLOUT comes only once a good part of the socket's
// buffer is free, and a peer that has read since usually lets a write
// through now. Not always: with receive buffers of a few KiB, Linux
// opens the window only after the reader freed a good part of its own
// buffer, and a peer reading slowly into one that small can show no
// progress for longer than a short WriteTimeout.
func (q *outQueue) checkStall(c *Conn) {
	for probe := true; ; probe = false {
		q.mu.Lock()
		w := q.waits
		switch {
		case w == nil || !w.stallOn || time.Now().Before(w.stallDue):
			// Stopped, or stopped and armed again, since it fired:
			// nothing to do; the timer fires again when due.
		case q.queued.Load() == 0 || c.isClosed():
			w.stallOn = false
		case w.stallLeft != w.stallMark:
			w.stallMark = w.stallLeft
			w.stallDue = time.Now().Add(c.opts.WriteTimeout)
			w.stall.Reset(c.opts.WriteTimeout)
		case probe:
			q.mu.Unlock()
			q.flush(c)
			continue
		default:
			w.stallOn = false
			q.mu.Unlock()
			c.closeNow(errWriteTimedOut)
			return
		}
		q.mu.Unlock()
		return
	}
}
