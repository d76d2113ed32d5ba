package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/fullduplex/websocket/internal/bpool"
	"github.com/fullduplex/websocket/internal/wsproto"
	"github.com/fullduplex/websocket/internal/xsync"
)

// reader drives the protocol core (wsproto.Decoder) for the read side of a
// Conn: it owns the read buffer and the message being read. Everything in
// it belongs to the goroutine holding Conn.readMu, which is a goroutine
// blocked in Read (this file) or a Poller's loop (poller_linux.go).
type reader struct {
	c *Conn

	// The state of reading (its fields are promoted): nil only while a
	// Poller's connection rests between messages (hold, rest).
	*readState

	// The data message being read.
	err        error  // sticky: once set the connection is unusable for reading
	inMessage  bool   // begun (its first event decoded) and not read to its end
	unclaimed  bool   // begun by a Ping or Close reading on the application's behalf
	resume     bool   // a ReadAppend interrupted by its ctx: partial holds what it had
	cut        bool   // Close discarded the rest of the message a Reader was reading
	compressed bool   // the message in progress is compressed
	last       bool   // chunk ends the message
	msgOp      opcode // opcode of the message in progress: its MessageType, in a byte

	stopOnControl bool              // next returns after each control frame
	msgReader     *messageReader    // what Reader returns, made on first use
	intr          xsync.Interrupter // makes a blocked read honour its ctx

	// Waiting for data without a buffer (read_unix.go): the socket, and
	// the state of a read through it, made on the first one.
	raw   syscall.RawConn
	rawRd *rawRead
}

// readState is what the reader needs while it reads: the protocol core's
// state, the read buffer and the message in progress. A connection served
// by a Poller's loop gives it back to a pool whenever it rests between
// messages with nothing buffered, so that an idle connection does not
// carry it; a goroutine-served connection keeps it, as a goroutine blocked
// in Read would take it again at once.
type readState struct {
	dec  wsproto.Decoder
	bufp *[]byte // pooled buffer, nil while nothing is buffered
	buf  []byte
	r, w int // undecoded bytes are buf[r:w]

	chunk   []byte    // decoded payload not yet consumed (aliases buf or partial)
	partial *[]byte   // pooled: an interrupted ReadAppend's part, or what a Poller's loop gathered of a message
	inf     *inflater // the compressed message's decompressor, once it is read
}

var readStatePool = sync.Pool{New: func() any { return new(readState) }}

// hold gives the reader its state, if it rested without. Every entry into
// the reading code that a Poller's connection may reach at rest calls it.
func (r *reader) hold() {
	if r.readState != nil {
		return
	}
	st := readStatePool.Get().(*readState)
	c := r.c
	st.dec = wsproto.NewDecoder(wsproto.Config{
		Client:      c.client,
		Compression: c.deflate != nil,
		SkipUTF8:    c.opts.SkipUTF8Validation,
	})
	r.readState = st
}

// midMessage reports whether a message has begun that the application was
// not given: one a Ping or Close read up to (unclaimed), or one whose read
// was cut off (resume).
func (r *reader) midMessage() bool { return r.inMessage || r.resume || r.unclaimed }

// rest gives the state back to the pool if nothing in it is needed before
// the next byte arrives: no buffer, no message, nothing carried over in
// the protocol core.
func (r *reader) rest() {
	st := r.readState
	if st == nil || st.buf != nil || st.partial != nil || st.inf != nil || len(st.chunk) > 0 ||
		r.inMessage || r.resume || r.unclaimed || !st.dec.AtRest() {
		return
	}
	*st = readState{}
	r.readState = nil
	readStatePool.Put(st)
}

// rawRead is what a blocking read through syscall.RawConn needs: the
// callback, made once so that no read allocates it, and what it read. A
// connection a Poller's loop reads never makes one.
type rawRead struct {
	fn  func(fd uintptr) bool // reader.rawReadFunc
	n   int
	err error
}

func (r *reader) init(c *Conn, buffered []byte) {
	r.c = c
	r.hold()
	r.initRaw(c.nc)
	if len(buffered) > 0 {
		r.acquire()
		if len(buffered) > len(r.buf) {
			// More than a buffer's worth arrived with the handshake; keep it all.
			r.buf = append([]byte(nil), buffered...)
			r.bufp = nil
		}
		r.w = copy(r.buf, buffered)
	}
}

func (r *reader) acquire() {
	if r.buf == nil {
		r.bufp = bpool.GetRead()
		r.buf = *r.bufp
		r.r, r.w = 0, 0
	}
}

// releaseIfIdle returns the buffer to the pool when it holds nothing that
// is still needed, so an idle connection keeps no read buffer.
func (r *reader) releaseIfIdle() {
	if r.buf != nil && r.r == r.w && len(r.chunk) == 0 {
		if r.bufp != nil {
			bpool.PutRead(r.bufp)
		}
		r.bufp, r.buf = nil, nil
		r.r, r.w = 0, 0
	}
}

// trimPartial is for a Poller's connection going quiet part-way through a
// message: storage for the message far larger than what came of it (taken
// from the pool, an earlier and larger message's) is swapped for storage
// of its size, so that a peer that leaves a message half-sent costs about
// the bytes it sent, not the largest message it ever sent, on every
// connection it holds that way. Storage something may point into stays:
// a chunk of it not yet consumed, or an inflater's history (ringInPlace),
// which a compressed message's output may be.
func (r *reader) trimPartial() {
	p := r.partial
	if p == nil || r.inf != nil || len(r.chunk) > 0 || r.msgReader != nil {
		return
	}
	n := len(*p)
	if cap(*p) <= max(2*n, partialKeep) {
		return
	}
	small := make([]byte, n, max(n, bpool.ReadSize))
	copy(small, *p)
	bpool.PutVar(p)
	r.partial = &small
}

// partialKeep is the storage a half-sent message may keep whatever its
// size: a read buffer's worth.
const partialKeep = bpool.ReadSize

// watch arranges for reads to be interrupted when ctx ends. The returned
// value must be passed to unwatch once the reads are over.
func (r *reader) watch(ctx context.Context) (stop func() bool) {
	return r.intr.Watch(ctx, r.c.nc, xsync.Read)
}

func (r *reader) unwatch(stop func() bool) {
	r.intr.Unwatch(stop, r.c.nc, xsync.Read)
}

// fillStream is fill, except that over an HTTP/2 stream with nothing
// buffered it first waits for the stream's bytes with no buffer held, as
// fillIdle does on a raw socket.
func (r *reader) fillStream(ctx context.Context) error {
	if s, ok := r.c.nc.(*streamConn); ok && r.r == r.w {
		r.releaseIfIdle()
		stop := r.watch(ctx)
		err := s.waitReadable()
		r.unwatch(stop)
		if err != nil {
			return interruptCause(ctx, err)
		}
	}
	return r.fill(ctx)
}

// fill reads at least one more byte into the buffer through the net.Conn.
// An empty buffer on a raw socket is filled by fillIdle instead, which
// next calls itself (a frame less on the deepest path).
func (r *reader) fill(ctx context.Context) error {
	r.makeRoom()
	n, err := r.readConn(ctx, r.buf[r.w:])
	r.w += n
	if n > 0 {
		return nil
	}
	return err
}

// makeRoom takes a buffer if there is none and makes room at its end,
// moving undecoded bytes to the front when they reach it. The decoder
// leaves at most an incomplete header or control frame undecoded, which
// always fits.
func (r *reader) makeRoom() {
	r.acquire()
	if r.r == r.w {
		r.r, r.w = 0, 0
	} else if r.w == len(r.buf) {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
}

// readConn reads from the network, turning a ctx-driven interrupt into the
// ctx's error.
func (r *reader) readConn(ctx context.Context, p []byte) (int, error) {
	stop := r.watch(ctx)
	n, err := r.c.nc.Read(p)
	r.unwatch(stop)
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, interruptCause(ctx, err)
}

// next decodes the next data event into ev, reading from the network as needed and
// acting on the control frames on the way.
func (r *reader) next(ctx context.Context, ev *wsproto.Event) error {
	r.hold()
	for {
		if r.err != nil {
			return r.err
		}
		r.dec.Limit = r.c.readLimit.Load()
		n, err := r.dec.DecodeInto(r.buf[r.r:r.w], ev)
		r.r += n
		switch {
		case err != nil:
			return r.failDecode(ctx, err)
		case ev.Kind == wsproto.Data:
			r.c.noteDataFrame()
			return nil
		case ev.Kind != wsproto.None:
			r.c.noteFrame()
			if err := r.control(ctx, ev); err != nil {
				return err
			}
			if r.stopOnControl {
				r.c.kickControl()
				return errControlHandled
			}
		case n == 0:
			if r.c.controlPending() {
				r.c.kickControl() // the pong to the pings decoded so far
			}
			var err error
			if r.r == r.w && r.raw != nil {
				err = r.fillIdle(ctx) // fill's frame less, on the deepest path
			} else {
				err = r.fillStream(ctx)
			}
			if err != nil {
				return r.connError(ctx, err)
			}
		}
	}
}

// control acts on a received control frame: a ping's pong is queued, never
// written here, so reading never waits for the write side.
func (r *reader) control(ctx context.Context, ev *wsproto.Event) error {
	c := r.c
	switch ev.Kind {
	case wsproto.Ping:
		c.queuePong(ev.Payload)
		if c.opts.OnPing != nil {
			c.opts.OnPing(ev.Payload)
		}
	case wsproto.Pong:
		// OnPong first: a Ping that returns at this pong finds what its
		// hook recorded.
		if c.opts.OnPong != nil {
			c.opts.OnPong(ev.Payload)
		}
		c.gotPong(ev.Payload)
	case wsproto.Close:
		ce := CloseError{Code: StatusCode(ev.Code), Reason: string(ev.Payload)}
		r.err = fmt.Errorf("websocket: failed to read: %w", &ce)
		if perr := c.failure(); perr != nil {
			r.err = perr // the peer answers our failing the connection
		}
		r.dropBuffer()
		c.peerClosed(ce)
		if ctx != nil {
			// A blocking read ends with the handshake: our answer out (a
			// server then closes), and for a client the server's end of
			// the stream, bounded by ctx and CloseTimeout.
			c.awaitCloseSent(ctx)
			if c.client {
				r.awaitServerEOF(ctx)
			}
		}
		return r.err
	}
	return nil
}

// connError turns an error from the network into the error a read reports,
// and makes it sticky when it ends the connection. ctx is the blocking
// read's, nil on a Poller's loop, which must not wait: with it, a peer
// that ended its side of the stream gets the control frames it is owed
// first (sendOwedControl).
func (r *reader) connError(ctx context.Context, err error) error {
	if isCtxErr(err) || err == errWouldBlock {
		return err // the connection stays usable
	}
	c := r.c
	if c.isClosed() {
		r.err = c.errAfterClose()
		return r.err
	}
	switch perr := c.failure(); {
	case perr != nil:
		// We failed the connection (a heartbeat timeout, say), and the
		// peer's end of the stream is its reaction: the cause is ours.
		r.err = perr
	case peerGone(err):
		r.err = abnormalClosure("", err)
		if ctx != nil && errors.Is(err, io.EOF) {
			c.sendOwedControl(ctx) // a blocking reader may wait for them
		}
	default:
		r.err = wrapError("websocket: failed to read frame", err)
	}
	c.closeNow(r.err)
	r.dropBuffer()
	return r.err
}

// failDecode fails the connection for what the decoder found wrong. A
// blocking reader (ctx not nil) then lingers, so that the peer reads our
// close frame before the TCP connection closes, or, where no linger is
// needed, waits until the frame is out; either ends with ctx, and is
// bounded anyway.
func (r *reader) failDecode(ctx context.Context, err error) error {
	perr := protocolErrorOf(err)
	r.err = perr
	r.dropBuffer()
	linger := r.c.lingerAfterFail()
	r.c.fail(perr, linger)
	switch {
	case ctx != nil && linger:
		r.linger(ctx)
	case ctx != nil:
		// The close frame may be on its way from another goroutine (a
		// stream has no non-blocking write): the caller must not close
		// the connection under it.
		r.c.awaitCloseSent(ctx)
	}
	return perr
}

// lingerAfterFail reports whether failing the connection should drain
// what the peer still sends after our close frame. Over TCP it must: data
// unread at close makes the kernel send a reset, which can destroy the
// close frame before the peer reads it. A server's HTTP/2 stream needs
// none: net/http sends what was written, then ends the stream, in order on
// the connection, and a linger there would only keep the stream open until
// it runs out, as the stream has no half-close to offer the client.
func (c *Conn) lingerAfterFail() bool {
	_, stream := c.nc.(*streamConn)
	return c.client || !stream
}

// protocolErrorOf turns the core's error into the package's.
func protocolErrorOf(err error) *ProtocolError {
	var we *wsproto.Error
	if !errors.As(err, &we) {
		return &ProtocolError{Code: StatusInternalError, Reason: err.Error()}
	}
	perr := &ProtocolError{Code: StatusCode(we.Code), Reason: we.Reason}
	switch we.Cause {
	case wsproto.CauseUTF8:
		perr.Err = ErrInvalidUTF8
	case wsproto.CauseTooBig:
		perr.Err = ErrMessageTooBig
	}
	return perr
}

// dropBuffer returns the read buffer to the pool once the connection can
// no longer be read; whatever it held is lost with the connection.
func (r *reader) dropBuffer() {
	if r.readState == nil {
		return // at rest: nothing held
	}
	r.r, r.w = 0, 0
	r.chunk = nil
	r.releaseIfIdle()
	r.releasePartial()
	if r.inf != nil {
		r.c.deflate.endInflate(r.inf)
		r.inf = nil
	}
}

// maxLinger bounds how long a failing connection waits for the peer to
// close after our close frame.
const maxLinger = time.Second

// linger drains what the peer still sends after we failed the connection,
// until it closes or maxLinger passes, then closes ours; when ctx ends
// first, the timer fail armed closes it. If our close frame is still on
// its way (a goroutine finishes a write the socket did not take at once,
// as on any conn without a non-blocking write: TLS, a wrapped net.Conn),
// its write closes the connection instead (deferCloseToFrame), bounded by
// that timer: closing now would lose the frame.
func (r *reader) linger(ctx context.Context) {
	if r.drainFor(ctx, min(maxLinger, r.c.opts.closeTimeout())) && !r.handCloseToFrameWriter() {
		r.c.closeNow(r.err)
	}
}

// handCloseToFrameWriter leaves the closing of the connection to the
// goroutine still writing our close frame, which the socket did not take at
// once (finishControl), and reports true, if there is one: that write then
// closes the connection (deferCloseToFrame). In a browser the browser
// sends the close frame when the connection closes, so nothing waits for
// it and it reports false.
func (r *reader) handCloseToFrameWriter() bool {
	c := r.c
	if c.viaBrowser() {
		return false
	}
	q := c.ctl.Load()
	return q != nil && q.inFlight.Load() && c.deferCloseToFrame()
}

// awaitServerEOF gives the server the chance to close the TCP connection
// first after the closing handshake (RFC 6455, section 7.1.1), then closes
// ours, at CloseTimeout at the latest; when ctx ends first, the timer
// peerClosed armed closes it.
func (r *reader) awaitServerEOF(ctx context.Context) {
	if r.drainFor(ctx, r.c.opts.closeTimeout()) {
		r.c.closeNow(r.c.endCause())
	}
}

// drainFor drains for at most d, and reports whether the caller should
// close the connection now: the peer closed it, or d passed. When ctx ended
// first it reports false: the caller's ctx bounds its wait, not the
// closing handshake, whose end timer (armed by peerClosed or fail) closes
// the connection if the peer does not. Closing here could cut off our close
// frame, still queued behind another goroutine's write.
func (r *reader) drainFor(ctx context.Context, d time.Duration) bool {
	dctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := r.drain(dctx)
	return !isCtxErr(err) || ctx.Err() == nil
}

// drain reads and drops whatever the peer still sends until it closes the
// connection or ctx ends, and returns what ended the reading (nil once
// the connection is closed).
func (r *reader) drain(ctx context.Context) error {
	r.hold()
	r.dropBuffer()
	var scratch [512]byte
	for !r.c.isClosed() {
		if _, err := r.readConn(ctx, scratch[:]); err != nil {
			return err
		}
	}
	return nil
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// interruptCause reports ctx's error in place of the deadline error by
// which a ctx-driven interrupt ended a network call. Not ctx's cause: the
// library classifies what it returns (ErrClosed, a close status, a
// request body let go), and a caller's cause could pass for any of them.
func interruptCause(ctx context.Context, err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
	}
	return err
}
