package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// reader is the read side of a Conn. Everything in it is owned by the
// goroutine holding Conn.readMu.
type reader struct {
	c    *Conn
	bufp *[]byte // pooled buffer, nil while nothing is buffered
	buf  []byte
	r, w int // unread bytes are buf[r:w]

	// The data frame being read.
	frameLeft   int64 // payload bytes not yet consumed
	frameKey    uint32
	frameMasked bool
	frameFin    bool

	// The data message being read.
	inMessage     bool        // a message has started and its final frame is not consumed
	unclaimed     bool        // a message's first header was read but no Read/Reader has taken it
	msgType       MessageType // type of the message in progress
	msgLen        int64       // payload bytes of the message delivered so far (after inflation)
	wireLen       int64       // payload bytes of the message read off the wire so far
	compressed    bool        // the message in progress is compressed
	inf           *inflater   // its decompressor
	checkUTF8     bool
	utf8          utf8Validator
	err           error  // sticky: once set the connection is unusable for reading
	stash         []byte // a Read's partial message, kept when its ctx ended
	resume        bool   // stash holds the start of the message in progress
	stopOnControl bool   // nextFrame returns after each control frame
	msgReader     messageReader
	cancelWait    sync.WaitGroup
	cancelFn      func()

	// Waiting for data without a buffer (read_unix.go).
	raw    syscall.RawConn
	rawFn  func(fd uintptr) bool
	rawN   int
	rawErr error

	// Serving by a Poller's loop (poller_linux.go).
	inLoop bool // the loop's goroutine reads: never wait for the network
}

func (r *reader) init(c *Conn, buffered []byte) {
	r.c = c
	r.msgReader.r = r
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
		r.bufp = readBufPool.Get().(*[]byte)
		r.buf = *r.bufp
		r.r, r.w = 0, 0
	}
}

// releaseIfIdle returns the buffer to the pool when it holds nothing, so an
// idle connection keeps no read buffer.
func (r *reader) releaseIfIdle() {
	if r.buf != nil && r.r == r.w {
		if r.bufp != nil {
			readBufPool.Put(r.bufp)
		}
		r.bufp, r.buf = nil, nil
		r.r, r.w = 0, 0
	}
}

// interrupt makes a blocked read return; it runs when the read's ctx ends.
func (r *reader) interrupt() {
	r.c.nc.SetReadDeadline(aLongTimeAgo)
	r.cancelWait.Done()
}

var aLongTimeAgo = time.Unix(1, 0)

// watch arranges for reads to be interrupted when ctx ends. The returned
// value must be passed to unwatch once the reads are over.
func (r *reader) watch(ctx context.Context) (stop func() bool) {
	if ctx.Done() == nil {
		return nil
	}
	r.cancelWait.Add(1)
	if r.cancelFn == nil {
		r.cancelFn = r.interrupt // made once, on the first cancelable read
	}
	return context.AfterFunc(ctx, r.cancelFn)
}

func (r *reader) unwatch(stop func() bool) {
	if stop == nil {
		return
	}
	if stop() {
		r.cancelWait.Done()
		return
	}
	// The interrupt ran or is running: wait for it, then undo its deadline.
	r.cancelWait.Wait()
	r.c.nc.SetReadDeadline(time.Time{})
}

// fill reads at least one more byte into the buffer.
func (r *reader) fill(ctx context.Context) error {
	if r.inLoop {
		_, _, err := r.fillNow() // a Poller's loop never waits
		return err
	}
	if r.r == r.w && r.raw != nil {
		if handled, err := r.fillIdle(r.watch(ctx)); handled {
			return interruptCause(ctx, err)
		}
	}
	r.makeRoom()
	n, err := r.readConn(ctx, r.buf[r.w:])
	r.w += n
	if n > 0 {
		return nil
	}
	return err
}

// makeRoom takes a buffer if there is none and makes room at its end,
// moving unread bytes to the front when they reach it.
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
	if r.inLoop {
		return r.readNowInto(p)
	}
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

// ensure buffers at least n bytes (n <= readBufferSize).
func (r *reader) ensure(ctx context.Context, n int) error {
	for r.w-r.r < n {
		if err := r.fill(ctx); err != nil {
			return err
		}
	}
	return nil
}

// connError turns an error from the network into the error a read reports,
// and makes it sticky when it ends the connection.
func (r *reader) connError(err error) error {
	if isCtxErr(err) || err == errWouldBlock {
		return err // the connection stays usable
	}
	c := r.c
	if c.isClosed() {
		r.err = c.errAfterClose()
		return r.err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		r.err = fmt.Errorf("websocket: connection closed without a close frame: %w: %w", &CloseError{Code: StatusAbnormalClosure}, err)
	} else {
		r.err = fmt.Errorf("websocket: failed to read frame: %w", err)
	}
	c.closeNow(r.err)
	r.dropBuffer()
	return r.err
}

// fail sends the close code of perr to the peer and ends the connection.
func (r *reader) fail(perr *ProtocolError) error {
	r.err = perr
	r.c.failConn(perr, true)
	r.dropBuffer()
	return perr
}

// dropBuffer returns the read buffer to the pool once the connection can
// no longer be read; whatever it held is lost with the connection.
func (r *reader) dropBuffer() {
	r.r, r.w = 0, 0
	r.releaseIfIdle()
}

func (r *reader) protocolError(format string, args ...any) error {
	return r.fail(&ProtocolError{Code: StatusProtocolError, Reason: fmt.Sprintf(format, args...)})
}

// nextFrame reads frame headers until a data frame starts, answering and
// acting on control frames on the way. On return the data frame's header
// has been consumed and its payload is next.
func (r *reader) nextFrame(ctx context.Context) error {
	if r.err != nil {
		return r.err
	}
	c := r.c
	for {
		if err := r.ensure(ctx, 2); err != nil {
			return r.connError(err)
		}
		hlen := headerLen(r.buf[r.r+1])
		if err := r.ensure(ctx, hlen); err != nil {
			return r.connError(err)
		}
		h, _, err := parseHeader(r.buf[r.r:])
		if err != nil {
			return r.protocolError("%v", err)
		}
		if err := r.checkHeader(&h); err != nil {
			return err
		}
		c.noteFrame()
		if h.op.isControl() {
			// Wait for the whole control frame before consuming anything, so
			// an interrupted read loses nothing.
			if err := r.ensure(ctx, hlen+int(h.length)); err != nil {
				return r.connError(err)
			}
			r.r += hlen
			payload := r.buf[r.r : r.r+int(h.length)]
			r.r += int(h.length)
			if h.masked {
				maskBytes(payload, h.key)
			}
			if err := r.handleControl(ctx, h.op, payload); err != nil {
				return err
			}
			if r.stopOnControl {
				return errControlHandled
			}
			continue
		}
		r.r += hlen
		if h.op != opContinuation {
			r.inMessage = true
			r.unclaimed = true
			r.msgType = MessageType(h.op)
			r.msgLen, r.wireLen = 0, 0
			r.checkUTF8 = h.op == opText && !c.opts.SkipUTF8Validation
			r.utf8.reset()
			r.compressed = h.rsv&bitRsv1 != 0
			if r.compressed {
				r.inf = c.deflate.startInflate(r)
			}
		}
		if lim := r.wireLimit(); lim >= 0 && h.length > lim-r.wireLen {
			return r.tooBig()
		}
		r.frameLeft = h.length
		r.frameKey = h.key
		r.frameMasked = h.masked
		r.frameFin = h.fin
		return nil
	}
}

// checkHeader applies the rules of RFC 6455, section 5, that depend on the
// connection's role and state, failing the connection on a violation.
func (r *reader) checkHeader(h *header) error {
	if why := r.headerViolation(h, r.inMessage); why != "" {
		return r.protocolError("%s", why)
	}
	return nil
}

// headerViolation says which rule of RFC 6455, section 5, h breaks, given
// whether a data message is in progress, or returns "". It has no side
// effects, so a Poller's scan can ask it ahead of the reader.
func (r *reader) headerViolation(h *header, inMessage bool) string {
	if rsv := h.rsv; rsv != 0 {
		// RSV1 marks a compressed message, only on its first frame and only
		// when permessage-deflate was negotiated.
		if rsv != bitRsv1 || r.c.deflate == nil || h.op.isControl() || h.op == opContinuation {
			return fmt.Sprintf("reserved bits %#x set without a negotiated extension", rsv>>4)
		}
	}
	switch {
	case h.op.isReserved():
		return h.op.String()
	case h.masked == r.c.client && r.c.client:
		return "masked frame from the server"
	case h.masked == r.c.client:
		return "unmasked frame from the client"
	case h.op.isControl() && !h.fin:
		return fmt.Sprintf("fragmented %v frame", h.op)
	case h.op.isControl() && h.length > maxControlPayload:
		return fmt.Sprintf("%v frame payload of %d bytes exceeds 125", h.op, h.length)
	case h.op.isControl():
		return ""
	case h.op == opContinuation && !inMessage:
		return "continuation frame without a message in progress"
	case h.op != opContinuation && inMessage:
		return fmt.Sprintf("new %v message before the previous one finished", h.op)
	}
	return ""
}

// handleControl acts on a received control frame.
func (r *reader) handleControl(ctx context.Context, op opcode, payload []byte) error {
	c := r.c
	switch op {
	case opPing:
		if r.inLoop {
			return r.pongFromLoop(ctx, payload)
		}
		if err := c.writeControl(ctx, opPong, payload); err != nil && !errors.Is(err, ErrClosed) {
			if isCtxErr(err) {
				return err
			}
			r.err = err
			return err
		}
		if c.opts.OnPing != nil {
			c.opts.OnPing(payload)
		}
	case opPong:
		c.gotPong(payload)
		if c.opts.OnPong != nil {
			c.opts.OnPong(payload)
		}
	case opClose:
		ce, perr := parseClosePayload(payload, !c.opts.SkipUTF8Validation)
		if perr != nil {
			return r.fail(perr)
		}
		r.err = fmt.Errorf("websocket: failed to read: %w", &ce)
		c.peerClosed(ce)
		r.dropBuffer()
		return r.err
	}
	return nil
}

// maxLoopPongWait bounds how long a Poller's loop waits to send a pong.
const maxLoopPongWait = time.Second

// pongFromLoop answers a ping on a Poller's loop, which must not wait long
// for a peer that sends pings but does not read: when the pong cannot go
// out in time, the connection is dropped.
func (r *reader) pongFromLoop(ctx context.Context, payload []byte) error {
	c := r.c
	ctx, cancel := context.WithTimeout(ctx, maxLoopPongWait)
	defer cancel()
	err := c.writeControl(ctx, opPong, payload)
	switch {
	case err == nil || errors.Is(err, ErrClosed):
	case isCtxErr(err):
		r.err = fmt.Errorf("websocket: peer does not read, pong not sent: %w", err)
		c.closeNow(r.err)
		return r.err
	default:
		r.err = err
		return err
	}
	if c.opts.OnPing != nil {
		c.opts.OnPing(payload)
	}
	return nil
}

// maxDirectRead bounds one read straight into the caller's buffer.
const maxDirectRead = 64 << 10

// readPayload reads up to len(p) bytes of the current data frame's payload.
func (r *reader) readPayload(ctx context.Context, p []byte) (int, error) {
	if int64(len(p)) > r.frameLeft {
		p = p[:r.frameLeft]
	}
	var n int
	if r.r < r.w {
		n = copy(p, r.buf[r.r:r.w])
		r.r += n
	} else if len(p) >= readBufferSize/2 {
		// Large reads bypass the buffer, in chunks that stay in cache
		// until they are unmasked.
		if len(p) > maxDirectRead {
			p = p[:maxDirectRead]
		}
		var err error
		n, err = r.readConn(ctx, p)
		if err != nil {
			return 0, r.connError(err)
		}
	} else {
		if err := r.fill(ctx); err != nil {
			return 0, r.connError(err)
		}
		n = copy(p, r.buf[r.r:r.w])
		r.r += n
	}
	p = p[:n]
	if r.frameMasked {
		r.frameKey = maskBytes(p, r.frameKey)
	}
	r.frameLeft -= int64(n)
	r.wireLen += int64(n)
	return n, nil
}

// endOfMessage is called when the final frame's payload is consumed.
func (r *reader) endOfMessage() error {
	r.inMessage = false
	if r.inf != nil {
		r.c.deflate.endInflate(r.inf)
		r.inf = nil
	}
	if r.checkUTF8 && !r.utf8.complete() {
		return r.fail(&ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "text message ends inside a UTF-8 sequence", Err: ErrInvalidUTF8})
	}
	r.releaseIfIdle()
	return nil
}

// beginMessage positions the reader at the start of a new message's payload,
// skipping what is left of a message an earlier Reader abandoned.
func (r *reader) beginMessage(ctx context.Context) error {
	if r.unclaimed {
		r.unclaimed = false
		return nil
	}
	for r.inMessage {
		if err := r.discardFrames(ctx); err != nil {
			return err
		}
	}
	if err := r.nextFrame(ctx); err != nil {
		return err
	}
	r.unclaimed = false
	return nil
}

// discardFrames drops the rest of the message in progress. A compressed
// message is still inflated, to keep the decompression context and the
// checks intact.
func (r *reader) discardFrames(ctx context.Context) error {
	var scratch [512]byte
	r.unclaimed = false
	for {
		_, err := r.read(ctx, scratch[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readRaw reads the message's payload as it is on the wire, frame after
// frame. It returns io.EOF after the final frame, leaving the message open.
func (r *reader) readRaw(ctx context.Context, p []byte) (int, error) {
	for r.frameLeft == 0 {
		if !r.inMessage || r.frameFin {
			return 0, io.EOF
		}
		if err := r.nextFrame(ctx); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	return r.readPayload(ctx, p)
}

// read fills p with the message's payload, inflated if it was compressed,
// enforcing the read limit and UTF-8. It returns io.EOF at the end of the
// message. With an empty p it only moves past empty frames, so that the
// end of the message is seen.
func (r *reader) read(ctx context.Context, p []byte) (n int, err error) {
	if !r.inMessage {
		return 0, io.EOF
	}
	if r.inf != nil {
		n, err = r.inflate(ctx, p)
	} else {
		n, err = r.readRaw(ctx, p)
		r.msgLen += int64(n)
	}
	if n > 0 && r.checkUTF8 && !r.utf8.feed(p[:n]) {
		return n, r.fail(&ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in text message", Err: ErrInvalidUTF8})
	}
	if err == io.EOF {
		if err := r.endOfMessage(); err != nil {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	return n, err
}

// inflate reads decompressed payload, never inflating more than one byte
// past the read limit, so a decompression bomb costs no memory.
func (r *reader) inflate(ctx context.Context, p []byte) (int, error) {
	lim := r.c.readLimit.Load()
	if lim >= 0 && int64(len(p)) > lim-r.msgLen+1 {
		p = p[:lim-r.msgLen+1]
	}
	if len(p) == 0 {
		// Only called to find the end of the message: peek by inflating
		// nothing is impossible, so report progress and let the caller grow.
		if r.frameLeft == 0 && r.frameFin && r.inf.src.trailer == len(inflateTrailer) {
			return 0, io.EOF
		}
		return 0, nil
	}
	r.inf.src.ctx = ctx
	n, err := r.inf.fr.Read(p)
	r.inf.src.ctx = nil
	r.msgLen += int64(n)
	r.c.deflate.inflated(p[:n])
	if lim >= 0 && r.msgLen > lim {
		return 0, r.tooBig()
	}
	switch {
	case err == io.EOF:
		if r.inf.src.trailer < 0 {
			// The stream ended with a final block before the payload did.
			if m, _ := r.readRaw(ctx, p[:1]); m > 0 || !r.frameFin {
				return n, r.fail(&ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "data after the final deflate block"})
			}
		}
		return n, io.EOF
	case err != nil && r.err == nil && !isCtxErr(err):
		return n, r.fail(&ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "invalid compressed data: " + err.Error()})
	}
	return n, err
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// interruptCause reports ctx's error in place of the deadline error by
// which a ctx-driven interrupt ended a network call.
func interruptCause(ctx context.Context, err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
	}
	return err
}

// wireLimit bounds the bytes of a message on the wire. A compressed
// message is limited after inflation; its wire size only has to stay
// within what deflate could possibly expand a message of the limit to.
func (r *reader) wireLimit() int64 {
	lim := r.c.readLimit.Load()
	if lim < 0 || !r.compressed {
		return lim
	}
	return lim + lim/8 + 1024
}

func (r *reader) tooBig() error {
	return r.fail(&ProtocolError{Code: StatusMessageTooBig, Reason: fmt.Sprintf("message exceeds the read limit of %d bytes", r.c.readLimit.Load()), Err: ErrMessageTooBig})
}

// messageReader is the io.Reader returned by Conn.Reader.
type messageReader struct {
	r   *reader
	ctx context.Context
}

// Read reads the message's payload; it returns io.EOF after the last byte.
func (m *messageReader) Read(p []byte) (int, error) {
	c := m.r.c
	if err := c.lockRead(m.ctx); err != nil {
		return 0, err
	}
	defer c.readMu.unlock()
	return m.r.read(m.ctx, p)
}

// Reader waits for the next data message and returns its type and a reader
// of its payload, which returns io.EOF at the end of the message. The reader
// streams the message frame by frame, so no limit applies beyond the read
// limit, and it is valid until the next call to Read or Reader; a message
// not read to its end is discarded by that call.
//
// ctx bounds the wait and every Read on the returned reader. When ctx ends
// while waiting, the connection stays usable: nothing is lost.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, nil, err
	}
	defer c.readMu.unlock()
	r := &c.rd
	r.releaseStash()
	r.resume = false
	if err := r.beginMessage(ctx); err != nil {
		return 0, nil, err
	}
	r.msgReader.ctx = ctx
	return r.msgType, &r.msgReader, nil
}

// Read waits for the next data message and returns it whole, in a new
// slice the caller owns. See ReadAppend to reuse a buffer.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadAppend(ctx, nil)
}

// ReadAppend waits for the next data message and appends its payload to
// dst, returning the extended slice. Reusing dst[:0] from call to call reads
// without allocating.
//
// If ctx ends while waiting for the message or in the middle of it, Read
// returns ctx's error and the connection stays usable: the part of the
// message already received is kept and the next Read or ReadAppend returns
// the whole message.
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, dst, err
	}
	typ, dst, err := c.rd.readMessage(ctx, dst)
	c.readMu.unlock() // no defer: unlock inlines, and readMessage does not panic
	return typ, dst, err
}

// readMessage is ReadAppend for the holder of readMu.
func (r *reader) readMessage(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if typ, out, ok := r.takeBuffered(ctx, dst); ok {
		return typ, out, nil
	}
	start := len(dst)
	if r.resume {
		dst = append(dst, r.stash...)
		r.releaseStash()
		r.resume = false
	} else if err := r.beginMessage(ctx); err != nil {
		return 0, dst, err
	}
	for {
		var n int
		var err error
		if len(dst) == cap(dst) {
			// Find out whether more payload follows before growing dst.
			if _, err = r.read(ctx, nil); err == nil {
				dst = growForRead(dst, r.frameLeft)
			}
		}
		if err == nil {
			n, err = r.read(ctx, dst[len(dst):cap(dst)])
			dst = dst[:len(dst)+n]
		}
		switch {
		case err == io.EOF:
			return r.msgType, dst, nil
		case err != nil && r.err == nil:
			// Only ctx ended (or, on a Poller's loop, the socket is empty):
			// keep what arrived for the next call.
			r.keep(dst[start:])
			r.resume = true
			return 0, dst[:start], err
		case err != nil:
			return 0, dst[:start], err
		}
	}
}

// takeBuffered returns a whole message straight from the read buffer when
// it is one final, uncompressed data frame small enough to buffer whole
// and passing every check: the common case for small messages, without the
// frame-by-frame machinery. It consumes nothing and reports false when
// anything needs the general path (fragments, control frames, compression,
// large frames, the read limit, a read error, a protocol or UTF-8 error),
// which then reads the same bytes again and reports what is wrong.
func (r *reader) takeBuffered(ctx context.Context, dst []byte) (MessageType, []byte, bool) {
	if r.inMessage || r.resume || r.err != nil || r.w-r.r < 2 {
		return 0, dst, false
	}
	b := r.buf[r.r:r.w]
	op := opcode(b[0] & 0x0f)
	if b[0]&^0x0f != bitFin || (op != opText && op != opBinary) {
		return 0, dst, false
	}
	hlen := headerLen(b[1])
	if len(b) < hlen {
		return 0, dst, false
	}
	h, _, err := parseHeader(b)
	if err != nil || h.masked == r.c.client || h.length > readBufferSize/2 {
		return 0, dst, false
	}
	if lim := r.c.readLimit.Load(); lim >= 0 && h.length > lim {
		return 0, dst, false
	}
	if need := hlen + int(h.length); len(b) < need {
		// Bounded by half a buffer, so waiting for the rest is safe.
		if r.ensure(ctx, need) != nil {
			return 0, dst, false
		}
		b = r.buf[r.r:r.w]
	}
	start := len(dst)
	dst = append(dst, b[hlen:hlen+int(h.length)]...)
	p := dst[start:]
	if h.masked {
		maskBytes(p, h.key)
	}
	if op == opText && !r.c.opts.SkipUTF8Validation && !validUTF8(p) {
		return 0, dst[:start], false
	}
	r.r += hlen + len(p)
	r.c.noteFrame()
	r.releaseIfIdle()
	return MessageType(op), dst, true
}

// stashPool holds the storage of large stashes between interrupted
// messages, shared by all connections.
var stashPool sync.Pool

// keep stashes the part p of the message in progress, for the next read.
func (r *reader) keep(p []byte) {
	if r.stash == nil && len(p) > readBufferSize {
		if b, ok := stashPool.Get().(*[]byte); ok {
			r.stash = *b
		}
	}
	r.stash = append(r.stash[:0], p...)
}

// releaseStash empties the stash, returning large storage to the pool, so
// that one large interrupted message does not cost memory for the rest of
// the connection's life.
func (r *reader) releaseStash() {
	if cap(r.stash) > readBufferSize {
		b := r.stash[:0]
		stashPool.Put(&b)
		r.stash = nil
		return
	}
	r.stash = r.stash[:0]
}

// growForRead extends dst's capacity without trusting the peer's declared
// length more than a buffer's worth at a time: capacity doubles, starting
// small.
func growForRead(dst []byte, frameLeft int64) []byte {
	add := cap(dst)
	if add < 512 {
		add = 512
	}
	if frameLeft > 0 && frameLeft < int64(add) {
		add = int(frameLeft)
	}
	return append(dst[:cap(dst)], make([]byte, add)...)[:len(dst)]
}

// drain reads and drops whatever the peer still sends until it closes the
// connection or ctx ends, then releases the buffer.
func (r *reader) drain(ctx context.Context) {
	r.dropBuffer()
	var scratch [512]byte
	for {
		if _, err := r.readConn(ctx, scratch[:]); err != nil {
			return
		}
	}
}

// discardUntilClose reads and drops frames until the peer's close frame
// arrives or reading fails. It returns the error that ended it.
func (r *reader) discardUntilClose(ctx context.Context) error {
	for r.err == nil {
		if r.inMessage {
			if err := r.discardFrames(ctx); err != nil {
				return err
			}
			continue
		}
		if err := r.nextFrame(ctx); err != nil {
			return err
		}
	}
	return r.err
}

// readUntilClose reads on behalf of Close until the peer's close frame.
// Data messages go to the application if a Read is waiting for them
// (errDataPending) and are discarded otherwise.
func (r *reader) readUntilClose(ctx context.Context) error {
	waiting := r.c.readMu.hasWaiters
	for r.err == nil {
		if r.inMessage || r.resume {
			if waiting() || r.resume {
				return errDataPending
			}
			if err := r.discardFrames(ctx); err != nil {
				return err
			}
			continue
		}
		if err := r.nextFrame(ctx); err != nil {
			return err
		}
	}
	return r.err
}

// errControlHandled stops pumpControl's nextFrame after each control frame.
var errControlHandled = errors.New("control frame handled")

// pumpControl reads on behalf of a Ping while nobody else reads: it handles
// control frames until done is closed, and stops at the first data frame,
// which stays unclaimed for the next Read.
func (r *reader) pumpControl(ctx context.Context, done <-chan struct{}) error {
	r.stopOnControl = true
	defer func() { r.stopOnControl = false }()
	for {
		select {
		case <-done:
			return nil
		default:
		}
		if r.inMessage {
			return errDataPending
		}
		err := r.nextFrame(ctx)
		switch {
		case err == errControlHandled:
			continue
		case err != nil:
			return err
		}
		return errDataPending
	}
}

// errDataPending means a data frame is waiting to be read by the application.
var errDataPending = errors.New("data frame pending")
