package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/internal/bpool"
	"github.com/fullduplex/websocket/internal/wsproto"
	"github.com/fullduplex/websocket/internal/xsync"
)

// writer is the write side of a Conn. The frame fields are owned by the
// goroutine holding Conn.frameMu; the message writer by the one holding
// Conn.msgMu.
type writer struct {
	c    *Conn
	pool *sync.Pool
	iov  *iovec // made on the first vectored write
	// small assembles control frames and short data frames, under frameMu,
	// so they need no pooled buffer. It is made on first use and kept,
	// except by a Poller's server connection, which never needs it
	// (writeFrame).
	small *[maxControlFrame]byte
	// writev is set when the connection turns net.Buffers into one
	// vectored write (TCP and Unix sockets).
	writev bool
	// tls is set for a *tls.Conn. Every Write there becomes a record of
	// its own, so a server frame's header and payload are copied together
	// rather than sent as two buffers (writeFrame). And tls.Conn counts
	// only whole records as written and fails every write after one its
	// deadline cut off: a write its ctx interrupted leaves nothing to
	// resume (frameError).
	tls  bool
	msg  *messageWriter    // the streaming Writer's state, made on first use (stream.go)
	intr xsync.Interrupter // makes a blocked write honour its ctx
	// queue is set when a Poller's loop serves the connection: writes then
	// never wait for the socket (queue.go).
	queue atomic.Pointer[outQueue]
}

func (w *writer) init(c *Conn) {
	w.c = c
	w.pool = bpool.Writes(c.opts.writeBufferSize())
	_, w.tls = c.nc.(*tls.Conn)
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		w.writev = true
	}
}

// send writes bufs to the network as one frame, or as the start of one.
// Written reports whether any byte went out, in which case an error
// leaves the stream broken. On a Poller's connection, from the loop that
// serves it, a data frame that finds the queue past WriteQueueLimit is
// refused (ErrWriteQueueFull).
func (w *writer) send(ctx context.Context, bufs ...[]byte) (written bool, err error) {
	if q := w.queue.Load(); q != nil {
		// The loop cannot wait for room it alone makes. Checked outside
		// q.mu: only other writers can change the count meanwhile, and
		// only by adding to it.
		if int(q.queued.Load()) > w.c.queueLimit() && w.c.onServingGoroutine() && q.refusedPastLimit(w.c) {
			return false, ErrWriteQueueFull
		}
		return q.send(w.c, false, bufs)
	}
	w.armTimeout()
	stop := w.intr.Watch(ctx, w.c.nc, xsync.Write)
	var n int64
	if len(bufs) == 1 {
		var m int
		m, err = w.c.nc.Write(bufs[0])
		n = int64(m)
	} else if w.writev {
		if w.iov == nil {
			w.iov = new(iovec)
		}
		v := w.iov
		v.a[0], v.a[1] = bufs[0], bufs[1]
		v.bufs = v.a[:]
		n, err = v.bufs.WriteTo(w.c.nc)
		v.a[0], v.a[1] = nil, nil
	} else {
		n, err = writeEach(w.c.nc, bufs)
	}
	w.intr.Unwatch(stop, w.c.nc, xsync.Write)
	if err != nil {
		err = interruptCause(ctx, err)
	}
	return n > 0, err
}

// sendUnlimited is send for what WriteQueueLimit does not refuse: control
// frames, which always go in behind the queued data, and the rest of a
// frame whose start went out (a client's, masked a buffer at a time): a
// single write may exceed the limit once, and a frame cut short would
// break the stream. Without a queue it is send, with nothing to limit.
func (w *writer) sendUnlimited(ctx context.Context, bufs ...[]byte) (written bool, err error) {
	if q := w.queue.Load(); q != nil {
		return q.send(w.c, false, bufs)
	}
	return w.send(ctx, bufs...)
}

// armTimeout sets ConnOptions.WriteTimeout's deadline for the write about
// to start. Every path to the socket calls it, before the ctx's watch
// (once ctx ends, its deadline in the past must win): a write that did
// not would meet the deadline an earlier write set, long past once the
// connection idled for WriteTimeout, and fail at once.
func (w *writer) armTimeout() {
	if w.c.opts.WriteTimeout > 0 {
		w.setTimeout() // apart, so that this check inlines into every write
	}
}

func (w *writer) setTimeout() {
	w.c.nc.SetWriteDeadline(time.Now().Add(w.c.opts.WriteTimeout))
}

// scratch returns small, made on first use.
func (w *writer) scratch() *[maxControlFrame]byte {
	if w.small == nil {
		w.small = new([maxControlFrame]byte)
	}
	return w.small
}

// iovec is what a vectored write needs: net.Buffers.WriteTo takes a
// pointer, so the slice lives here rather than escape on every write.
type iovec struct {
	a    [2][]byte
	bufs net.Buffers
}

// writeEach writes bufs one after the other, for connections that have no
// vectored write (net.Buffers would make the same calls, less directly).
func writeEach(nc net.Conn, bufs [][]byte) (int64, error) {
	var n int64
	for _, b := range bufs {
		m, err := nc.Write(b)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// frameError turns a failed frame write into the error reported, ending the
// connection when part of the frame went out (the stream cannot be resumed)
// or the network failed.
func (c *Conn) frameError(written bool, err error) error {
	ctxEnded := isCtxErr(err)
	if c.isClosed() && !ctxEnded {
		return c.errAfterClose()
	}
	// A write interrupted by its ctx reports the ctx even when the
	// interruption ended the connection meanwhile, as resetting an HTTP/2
	// stream does: that is why this write stopped.
	if ctxEnded && !written && !c.isClosed() && !c.wr.tls {
		return err // nothing went out: the connection is intact
	}
	switch {
	case ctxEnded:
		// The error says both why the write stopped and that the
		// connection is gone: a caller that retries on ctx's error
		// finds ErrClosed in it too.
		err = fmt.Errorf("websocket: failed to write frame: %w (%w)", err, errWriteCut)
	case c.opts.WriteTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("websocket: failed to write frame: %w (%w)", err, errWriteTimedOut)
	case peerGone(err):
		err = abnormalClosure("failed to write frame", err)
	default:
		err = wrapError("websocket: failed to write frame", err)
	}
	if c.requestEnded(err) {
		return err
	}
	why := endCauseOf(err)
	if why == errWriteCut && c.flags.has(flagHeartbeatPing) {
		why = errHeartbeatWriteCut // the heartbeat's own ping, cut by PingTimeout
	}
	c.closeNow(why)
	return err
}

// requestEnded handles a client's write over HTTP/2 that failed because
// the transport let go of the request body: the server ended the stream,
// as it does right after its close frame when it refuses a message (over
// ReadLimit) that the client is still sending. The response may still
// hold that close frame, and closing now would discard it, leaving 1006
// where the server said 1009. So the read side gets to read it: the
// connection ends once a read has taken the close frame (the answer to it
// fails the same way and lands here), or after a second (CloseTimeout if
// shorter) when nothing reads: as long as a failing connection lingers
// for the peer (see fail). Later writes fail as this one did.
func (c *Conn) requestEnded(err error) bool {
	if !c.isRequestEnded(err) {
		return false
	}
	c.closeMu.Lock()
	seen := c.peerCloseSeen
	c.closeMu.Unlock()
	if seen {
		// The server's close frame was read; ours cannot follow it.
		c.closeNow(c.endCause())
	} else {
		c.armEndTimerAfter(min(maxLinger, c.opts.closeTimeout()), err)
	}
	return true
}

// isRequestEnded reports whether err is a client's write to an HTTP/2
// request body the transport let go of (see requestEnded).
func (c *Conn) isRequestEnded(err error) bool {
	return c.client && errors.Is(err, errRequestEnded)
}

// errWriteCut is what calls report after a write, stopped by its ctx or
// by CloseTimeout, left a frame or a message unfinished, which ended the
// connection.
var errWriteCut = fmt.Errorf("%w: a write was cut off, leaving a frame or message unfinished", ErrClosed)

// endCauseOf is the error a write that ends the connection leaves for the
// calls after it: its own, unless that is a ctx's, which would tell a read
// loop that retries on context.Canceled to go on forever.
func endCauseOf(err error) error {
	switch {
	case isCtxErr(err):
		return errWriteCut
	case errors.Is(err, errWriteTimedOut):
		return errWriteTimedOut
	}
	return err
}

// errHeartbeatWriteCut is what a connection reports once the heartbeat's
// own ping was cut off part-way by PingTimeout: the peer read nothing,
// which is what the heartbeat looks for.
var errHeartbeatWriteCut = fmt.Errorf("%w: %w", ErrHeartbeatTimeout, errWriteCut)

// errWriteTimedOut is what a connection whose write ConnOptions.WriteTimeout
// cut off reports from then on.
var errWriteTimedOut = fmt.Errorf("%w: a write was not taken within ConnOptions.WriteTimeout", ErrClosed)

// maskKey returns a fresh masking key. The runtime's generator is seeded
// from the OS and cannot be predicted by the peer, as RFC 6455 requires.
func maskKey() uint32 {
	for {
		if k := rand.Uint32(); k != 0 {
			return k
		}
	}
}

// smallFrame is the largest payload writeFrame assembles without a pooled
// buffer.
const smallFrame = maxControlPayload

// writeFrame sends one frame whose payload is p. The caller holds frameMu.
// It never modifies p.
//
// A server's frame goes out as it is, behind a header written apart; the
// frames that must be copied (a client's, to mask them, and a large one
// over TLS) take writeFrameCopied. Keeping that apart keeps this frame at
// 112 bytes instead of 376 on amd64: the write path is the deepest call of
// an echoing goroutine, and a goroutine's deepest call sets its stack size
// for good (Go halves a parked goroutine's stack only while it uses less
// than a quarter of it, which a goroutine parked in a read never does).
func (c *Conn) writeFrame(ctx context.Context, fin bool, op opcode, rsv byte, p []byte) error {
	w := &c.wr
	if c.client || (len(p) > smallFrame && w.tls) {
		return c.writeFrameCopied(ctx, fin, op, rsv, p)
	}
	var hdr []byte
	if q := w.queue.Load(); q != nil {
		// A Poller's connection: the header in the queue's scratch and
		// the payload as it is, one writev, and no small array kept by
		// every idle connection.
		hdr = q.hdr[:]
	} else if len(p) <= smallFrame {
		return c.writeSmall(ctx, fin, op, rsv, p)
	} else if !w.writev && len(p) <= w.copyMax() {
		// One Write, as Write's: no deadline between header and payload.
		return c.writeCopied(ctx, fin, op, rsv, p)
	} else {
		// The header straight into small, with no Header to fill.
		hdr = w.scratch()[:]
	}
	hn := wsproto.PutUnmaskedHeader(hdr, fin, op, rsv, int64(len(p)))
	if len(p) > heartbeatSlice && w.queue.Load() == nil && c.heartbeat() != nil {
		return c.sendFrameSliced(ctx, hdr[:hn], p)
	}
	return c.sendFrame(ctx, hdr[:hn], p)
}

// sendFrameSliced sends a long frame heartbeatSlice bytes at a time, so
// that the heartbeat sees the peer take it (noteTaken).
func (c *Conn) sendFrameSliced(ctx context.Context, hdr, p []byte) error {
	written, err := c.wr.send(ctx, hdr, p[:heartbeatSlice])
	for p = p[heartbeatSlice:]; err == nil && len(p) > 0; {
		c.noteTaken()
		n := min(len(p), heartbeatSlice)
		_, err = c.wr.sendUnlimited(ctx, p[:n])
		p = p[n:]
	}
	if err != nil {
		return c.frameError(written, err)
	}
	return nil
}

// writeFrameCopied is writeFrame for a frame sent as a copy: a client's,
// masked, and a server's over TLS, whose header and payload go out in one
// record.
func (c *Conn) writeFrameCopied(ctx context.Context, fin bool, op opcode, rsv byte, p []byte) error {
	w := &c.wr
	h := header{Fin: fin, Rsv: rsv, Op: op, Length: int64(len(p)), Masked: c.client}
	if c.client {
		h.Key = maskKey()
	}
	if len(p) <= smallFrame {
		// Small frames are assembled in the connection's own array: no
		// pool round trip for the common short message.
		small := w.scratch()
		hn := putHeader(small[:], h)
		n := copy(small[hn:], p)
		if c.client {
			maskBytes(small[hn:hn+n], h.Key)
		}
		return c.sendFrame(ctx, small[:hn+n])
	}
	bufp := w.pool.Get().(*[]byte)
	defer w.pool.Put(bufp)
	buf := *bufp
	hn := putHeader(buf, h)
	if !c.client {
		if hn+len(p) <= len(buf) {
			n := copy(buf[hn:], p)
			return c.sendFrame(ctx, buf[:hn+n])
		}
		if len(p) > heartbeatSlice && c.heartbeat() != nil {
			return c.sendFrameSliced(ctx, buf[:hn], p)
		}
		written, err := w.send(ctx, buf[:hn], p)
		if err != nil {
			return c.frameError(written, err)
		}
		return nil
	}
	// Client: mask a copy, a buffer at a time.
	key := h.Key
	off := hn
	anyWritten := false
	for {
		n := copy(buf[off:], p)
		key = maskBytes(buf[off:off+n], key)
		p = p[n:]
		var written bool
		var err error
		if anyWritten {
			c.noteTaken() // the peer took the buffer before this one
			written, err = w.sendUnlimited(ctx, buf[:off+n])
		} else {
			written, err = w.send(ctx, buf[:off+n])
		}
		anyWritten = anyWritten || written
		if err != nil {
			return c.frameError(anyWritten, err)
		}
		if len(p) == 0 {
			return nil
		}
		off = 0
	}
}

// writeSmall sends a server frame of at most smallFrame bytes, assembled
// in the connection's small array, with one Write. The caller holds frameMu
// and has seen that no Poller's queue takes the connection's writes. Write
// calls it straight for a short message: the layers of writeFrame and send
// cost a sixth of such a write otherwise.
func (c *Conn) writeSmall(ctx context.Context, fin bool, op opcode, rsv byte, p []byte) error {
	w := &c.wr
	small := w.scratch()
	hn := wsproto.PutUnmaskedHeader(small[:], fin, op, rsv, int64(len(p)))
	n := copy(small[hn:], p)
	w.armTimeout()
	stop := w.intr.Watch(ctx, c.nc, xsync.Write)
	m, err := c.nc.Write(small[:hn+n])
	w.intr.Unwatch(stop, c.nc, xsync.Write)
	if err != nil {
		return c.frameError(m > 0, interruptCause(ctx, err))
	}
	return nil
}

// writeCopied sends a server frame that fits a pooled write buffer,
// copied there behind its header, with one Write: as writeSmall, with no
// layer between Write and the socket. On a TCP or Unix socket it stands
// in for the vectored write (writer.writev), whose path through the
// standard library is deep enough that a goroutine echoing such messages
// would outgrow its first stack for good (see writeFrame); the kernel
// copies the bytes either way, and a few KiB more in user space cost next
// to nothing beside the system call. On other connections (TLS, an
// HTTP/2 stream, a net.Pipe, a connection of the caller's) it takes one
// Write where the header and payload would take two, and no deadline
// can fall between the two, leaving half a frame sent.
func (c *Conn) writeCopied(ctx context.Context, fin bool, op opcode, rsv byte, p []byte) error {
	w := &c.wr
	bufp := w.pool.Get().(*[]byte)
	buf := *bufp
	hn := wsproto.PutUnmaskedHeader(buf, fin, op, rsv, int64(len(p)))
	n := copy(buf[hn:], p)
	w.armTimeout()
	stop := w.intr.Watch(ctx, c.nc, xsync.Write)
	m, err := c.nc.Write(buf[:hn+n])
	w.intr.Unwatch(stop, c.nc, xsync.Write)
	w.pool.Put(bufp)
	if err != nil {
		return c.frameError(m > 0, interruptCause(ctx, err))
	}
	return nil
}

// copyMax is the largest payload writeCopied takes: what fits the pooled
// write buffer behind the longest header.
func (w *writer) copyMax() int {
	return w.c.opts.writeBufferSize() - wsproto.MaxHeaderSize
}

func (c *Conn) sendFrame(ctx context.Context, frame ...[]byte) error {
	written, err := c.wr.send(ctx, frame...)
	if err != nil {
		return c.frameError(written, err)
	}
	return nil
}

// writeControl sends a control frame. Control frames take only frameMu, so
// they can go out between the fragments of a message.
func (c *Conn) writeControl(ctx context.Context, op opcode, payload []byte) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.sendControl(ctx, op, payload)
}

// sendControl sends a control frame; the caller holds frameMu.
func (c *Conn) sendControl(ctx context.Context, op opcode, payload []byte) error {
	// The connection's small array, free under frameMu: a local one
	// escapes through the write, an allocation per ping.
	frame := c.appendControlFrame(c.wr.scratch()[:0], op, payload)
	written, err := c.wr.sendUnlimited(ctx, frame)
	if err != nil {
		return c.frameError(written, err)
	}
	return nil
}

func (c *Conn) errAfterCloseSent() error {
	if c.isClosed() {
		return c.errAfterClose()
	}
	return ErrClosed
}

// lockFrame takes the frame lock for a data frame. Its fast path inlines:
// one CAS takes a free lock on a connection that has never had a control
// frame to send nor a Poller's queue, for both set the lock's slow flag
// (ctlQueue, Poller.register).
func (c *Conn) lockFrame(ctx context.Context) error {
	if c.frameMu.LockFast() {
		return nil
	}
	return c.lockFrameSlow(ctx)
}

// lockFrameSlow is lockFrame when the lock is taken or its slow flag is
// set: the close frame may be queued, or writes go through a Poller's
// queue, which may first have to make room.
//
//go:noinline
func (c *Conn) lockFrameSlow(ctx context.Context) error {
	lockCtx := ctx
	if q := c.wr.queue.Load(); q != nil {
		if int(q.queued.Load()) > c.queueLimit() {
			if err := q.awaitRoom(ctx, c); err != nil {
				return err
			}
		}
		if b, ok := ctx.(broadcastCtx); ok {
			lockCtx = b.frameLock
		}
	}
	for {
		if err := c.frameMu.lockOrClosedSlow(lockCtx, c); err != nil {
			return c.endedWhileWaiting(err)
		}
		if c.flags.has(flagCloseQueued) {
			return c.unlockAfterCloseSent()
		}
		if !c.controlPending() || !c.ctl.Load().replyDue.Load() || c.controlWaitsFor(c.wr.queue.Load(), true) {
			return nil
		}
		// The pongs a dispatch owed ahead of OnMessage's reply, which
		// this write may be, go first (kickControlBeforeReply): into a
		// Poller's queue, or as kickControl sends them, never cut off by
		// this write's ctx (taken, they would be lost with the
		// connection left usable). What the socket does not take at once
		// a goroutine finishes, bounded by CloseTimeout, holding the lock
		// this write then waits for again.
		handedOff, err := c.flushControl(nil)
		if err != nil {
			c.unlockFrame()
			return err
		}
		if !handedOff {
			if c.flags.has(flagCloseQueued) {
				return c.unlockAfterCloseSent()
			}
			return nil
		}
	}
}

// broadcastCtx is the ctx of Group.Broadcast's write to a connection a
// Poller's loop serves: its waits are ctx's, except the one for the frame
// lock, which uses frameLock, a ctx that does not end. On such a
// connection nobody holds the frame lock while waiting for the peer (a
// frame goes into the queue; room is waited for before the lock), only
// for as long as copying a frame into the queue takes, so a ctx ending
// meanwhile says nothing of the peer and must not get it dropped as too
// slow. Any other write keeps to its ctx there too.
type broadcastCtx struct {
	context.Context
	frameLock context.Context
}

// unlockAfterCloseSent releases frameMu, taken to send a data frame after
// the close frame went out, and returns the error for that.
//
//go:noinline
func (c *Conn) unlockAfterCloseSent() error {
	c.unlockFrame()
	return c.errAfterCloseSent()
}

// Write sends p as one message of type typ. It is safe to call from many
// goroutines; messages never interleave, and no writer is starved: one
// that has waited a millisecond is handed the lock in turn, so writers
// looping on Write cannot keep a Write, Ping or Close out until its ctx
// ends.
//
// ctx bounds the wait for other writers and the write itself. If ctx ends
// before any byte of the message went out, Write returns ctx's error and
// the connection stays usable; a ctx that has ended already sends nothing.
// If it ends part-way through, the frame cannot be finished: the
// connection is closed without a close frame (the peer sees 1006) and the
// error wraps ErrClosed as well as ctx's error, so errors.Is(err,
// ErrClosed) tells the two cases apart. Over TLS (wss), ctx ending during
// the write itself closes the connection in every case: crypto/tls may
// have sent part of a record while reporting nothing written, and fails
// every write after one its deadline cut off. So does a server's write on
// an HTTP/2 stream, which net/http lets a deadline interrupt only by
// resetting the stream, even if no byte went out (a client that keeps
// its flow-control window shut, say). Ending while waiting for
// other writers leaves it usable there too. Once a write closed the
// connection, other calls report ErrClosed, not ctx's error.
//
// A write that finds the peer gone (the connection reset, a broken pipe)
// reports a *CloseError with StatusAbnormalClosure, as a read of the end
// of the stream does, and so do the calls after it.
//
// A nil error means the message was handed to the operating system, not
// that the peer took it: a peer that refuses it (a message over its read
// limit) answers with a close frame, which the next Read reports (see
// ConnOptions.ReadLimit).
//
// A text message is not checked for valid UTF-8 on its way out, which
// would cost a pass over every message: a peer that checks (RFC 6455
// requires it) fails the connection with 1007. Use MessageBinary for
// bytes that may not be UTF-8.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if err := c.ctxEnded(ctx); err != nil {
		return err
	}
	return c.write(ctx, typ, p)
}

// ctxEnded returns the error of a call given a ctx that has already
// ended, which then does nothing: how the connection ended if it did (a
// ctx error would say it is still usable), or else ctx's error.
func (c *Conn) ctxEnded(ctx context.Context) error {
	err := ctx.Err()
	if err != nil && c.isClosed() {
		return c.errAfterClose()
	}
	return err
}

// write is Write once ctx was seen live. Group.Broadcast calls it for
// connections whose writes never wait, which ctx ending meanwhile must not
// stop.
func (c *Conn) write(ctx context.Context, typ MessageType, p []byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	compress := c.deflate != nil && c.deflate.shouldCompress(len(p))
	if !compress {
		// A whole message is one frame, so the frame lock alone keeps it
		// apart from other messages, unless a Writer is streaming one:
		// Writer sets streaming before its first fragment, under msgMu.
		if err := c.lockFrame(ctx); err != nil {
			return err
		}
		if !c.flags.has(flagStreaming) {
			var err error
			switch {
			case c.client || c.wr.queue.Load() != nil:
				err = c.writeFrame(ctx, true, opcode(typ), 0, p)
			case len(p) <= smallFrame:
				err = c.writeSmall(ctx, true, opcode(typ), 0, p)
			case len(p) <= c.wr.copyMax():
				err = c.writeCopied(ctx, true, opcode(typ), 0, p)
			default:
				err = c.writeFrame(ctx, true, opcode(typ), 0, p)
			}
			c.unlockFrame()
			return err
		}
		c.unlockFrame()
	}
	if err := c.lockMessage(ctx); err != nil {
		return err
	}
	defer c.msgMu.Unlock()
	if compress {
		return c.writeCompressed(ctx, opcode(typ), p)
	}
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.writeFrame(ctx, true, opcode(typ), 0, p)
}

// WriteUncompressed is Write without compression, whatever was negotiated.
// Use it for messages that mix secrets with data an attacker may choose:
// compressing them together can leak the secret through the message size
// (the CRIME and BREACH attacks).
func (c *Conn) WriteUncompressed(ctx context.Context, typ MessageType, p []byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	if err := c.ctxEnded(ctx); err != nil {
		return err
	}
	if err := c.lockMessageFrame(ctx); err != nil {
		return err
	}
	defer c.unlockMessageFrame()
	return c.writeFrame(ctx, true, opcode(typ), 0, p)
}

// lockMessageFrame takes both write locks, for a message sent as one frame
// outside Write's fast path.
func (c *Conn) lockMessageFrame(ctx context.Context) error {
	if err := c.lockMessage(ctx); err != nil {
		return err
	}
	if err := c.lockFrame(ctx); err != nil {
		c.msgMu.Unlock()
		return err
	}
	return nil
}

// lockMessage takes msgMu, which a writer holds for a whole message. A
// Poller's loop never waits for another goroutine: a writer holding msgMu
// may itself wait for room in the queue, which only the loop drains.
// So the loop waits for msgMu only until a writer waits for room, and
// then fails as a write from a loop that finds the queue over its limit
// does: with ErrWriteQueueFull, closing the connection.
func (c *Conn) lockMessage(ctx context.Context) error {
	if c.msgMu.LockFast() {
		return nil
	}
	q := c.wr.queue.Load()
	if q == nil || !c.onServingGoroutine() {
		return c.endedWhileWaiting(c.msgMu.lockOrClosedSlow(ctx, c))
	}
	locked, err := c.msgMu.Lock(ctx, q.stuckCh(), c.done())
	switch {
	case err != nil:
		return err
	case locked:
		return nil
	case c.isClosed():
		return c.errAfterClose()
	}
	return c.frameError(false, ErrWriteQueueFull)
}

// endedWhileWaiting turns the ErrClosed of a write that waited for a lock
// while the connection ended into how it ended, as the write that ended
// it and the calls after it report (a peer gone, a WriteTimeout, a
// heartbeat's timeout).
func (c *Conn) endedWhileWaiting(err error) error {
	if err == ErrClosed {
		return c.errAfterClose()
	}
	return err
}

func (c *Conn) unlockMessageFrame() {
	c.unlockFrame()
	c.msgMu.Unlock()
}

// writeCompressed deflates p and sends it as one frame. The caller holds
// msgMu, which keeps the compression context in wire order.
func (c *Conn) writeCompressed(ctx context.Context, op opcode, p []byte) error {
	bufp := bpool.GetVar()
	if bufp == nil {
		bufp = new([]byte)
	}
	defer bpool.PutVar(bufp)
	*bufp = (*bufp)[:0]
	if err := c.deflate.appendCompressed(bufp, p); err != nil {
		c.deflate.abandonSend()
		return fmt.Errorf("websocket: failed to compress message: %w", err)
	}
	if err := c.lockFrame(ctx); err != nil {
		c.deflate.abandonSend()
		return err
	}
	defer c.unlockFrame()
	if err := c.writeFrame(ctx, true, op, bitRsv1, *bufp); err != nil {
		c.deflate.abandonSend()
		return err
	}
	return nil
}

func checkMessageType(typ MessageType) error {
	if typ != MessageText && typ != MessageBinary {
		return invalidMessageType(typ) // apart, so that the check inlines
	}
	return nil
}

func invalidMessageType(typ MessageType) error {
	return fmt.Errorf("websocket: invalid message type %d", int(typ))
}
