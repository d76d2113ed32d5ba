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

	"github.com/fullduplex/websocket/internal/wsproto"
)

// reader drives the protocol core (wsproto.Decoder) for the read side of a
// Conn: it owns the read buffer and the message being read. Everything in
// it belongs to the goroutine holding Conn.readMu, which is a goroutine
// blocked in Read (this file) or a Poller's loop (poller_linux.go).
type reader struct {
	c    *Conn
	dec  wsproto.Decoder
	bufp *[]byte // pooled buffer, nil while nothing is buffered
	buf  []byte
	r, w int // undecoded bytes are buf[r:w]

	// The data message being read.
	msgType    MessageType // type of the message in progress
	chunk      []byte      // decoded payload not yet consumed (aliases buf or partial)
	partial    []byte      // a compressed message's payload collected so far, or an interrupted ReadAppend's part
	inf        *inflater   // the compressed message's decompressor, once all its payload is in
	err        error       // sticky: once set the connection is unusable for reading
	inMessage  bool        // begun (its first event decoded) and not read to its end
	unclaimed  bool        // begun by a Ping or Close reading on the application's behalf
	resume     bool        // a ReadAppend interrupted by its ctx: partial holds what it had
	compressed bool        // the message in progress is compressed
	last       bool        // chunk ends the message

	stopOnControl bool // next returns after each control frame
	msgReader     messageReader
	cancelWait    sync.WaitGroup
	cancelFn      func()

	// Waiting for data without a buffer (read_unix.go).
	raw    syscall.RawConn
	rawFn  func(fd uintptr) bool // rawRead, or readNow once a Poller's loop reads (poller_linux.go)
	rawN   int
	rawErr error
}

func (r *reader) init(c *Conn, buffered []byte) {
	r.c = c
	r.dec = wsproto.NewDecoder(wsproto.Config{
		Client:      c.client,
		Compression: c.deflate != nil,
		SkipUTF8:    c.opts.SkipUTF8Validation,
	})
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

// releaseIfIdle returns the buffer to the pool when it holds nothing that
// is still needed, so an idle connection keeps no read buffer.
func (r *reader) releaseIfIdle() {
	if r.buf != nil && r.r == r.w && len(r.chunk) == 0 {
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

// next returns the next data event, reading from the network as needed and
// acting on the control frames on the way.
func (r *reader) next(ctx context.Context) (wsproto.Event, error) {
	for {
		if r.err != nil {
			return wsproto.Event{}, r.err
		}
		r.dec.Limit = r.c.readLimit.Load()
		n, ev, err := r.dec.Decode(r.buf[r.r:r.w])
		r.r += n
		switch {
		case err != nil:
			return ev, r.failDecode(ctx, err)
		case ev.Kind == wsproto.Data:
			r.c.noteFrame()
			return ev, nil
		case ev.Kind != wsproto.None:
			r.c.noteFrame()
			if err := r.control(ctx, ev); err != nil {
				return ev, err
			}
			if r.stopOnControl {
				return ev, errControlHandled
			}
		case n == 0:
			if err := r.fill(ctx); err != nil {
				return ev, r.connError(err)
			}
		}
	}
}

// control acts on a received control frame: a ping's pong is queued, never
// written here, so reading never waits for the write side.
func (r *reader) control(ctx context.Context, ev wsproto.Event) error {
	c := r.c
	switch ev.Kind {
	case wsproto.Ping:
		c.queuePong(ev.Payload)
		if c.opts.OnPing != nil {
			c.opts.OnPing(ev.Payload)
		}
	case wsproto.Pong:
		c.gotPong(ev.Payload)
		if c.opts.OnPong != nil {
			c.opts.OnPong(ev.Payload)
		}
	case wsproto.Close:
		ce := CloseError{Code: StatusCode(ev.Code), Reason: string(ev.Payload)}
		r.err = fmt.Errorf("websocket: failed to read: %w", &ce)
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
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		r.err = fmt.Errorf("websocket: connection closed without a close frame: %w: %w", &CloseError{Code: StatusAbnormalClosure}, err)
	default:
		r.err = fmt.Errorf("websocket: failed to read frame: %w", err)
	}
	c.closeNow(r.err)
	r.dropBuffer()
	return r.err
}

// failDecode fails the connection for what the decoder found wrong. A
// blocking reader (ctx not nil) then lingers, so that the peer reads our
// close frame before the TCP connection closes; the lingering ends with
// ctx, and is bounded anyway.
func (r *reader) failDecode(ctx context.Context, err error) error {
	perr := protocolErrorOf(err)
	r.err = perr
	r.dropBuffer()
	r.c.fail(perr, true)
	if ctx != nil {
		r.linger(ctx)
	}
	return perr
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
	r.r, r.w = 0, 0
	r.chunk = nil
	r.releaseIfIdle()
	r.releasePartial()
}

// maxLinger bounds how long a failing connection waits for the peer to
// close after our close frame.
const maxLinger = time.Second

// linger drains what the peer still sends after we failed the connection,
// until it closes, ctx ends or maxLinger passes, then closes ours.
func (r *reader) linger(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, min(maxLinger, r.c.opts.closeTimeout()))
	defer cancel()
	r.drain(ctx)
	r.c.closeNow(r.err)
}

// awaitServerEOF gives the server the chance to close the TCP connection
// first after the closing handshake (RFC 6455, section 7.1.1), bounded by
// ctx and CloseTimeout, then closes ours.
func (r *reader) awaitServerEOF(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.closeTimeout())
	defer cancel()
	r.drain(ctx)
	r.c.closeNow(r.c.endCause())
}

// drain reads and drops whatever the peer still sends until it closes the
// connection or ctx ends.
func (r *reader) drain(ctx context.Context) {
	r.dropBuffer()
	var scratch [512]byte
	for !r.c.isClosed() {
		if _, err := r.readConn(ctx, scratch[:]); err != nil {
			return
		}
	}
}

// start makes ev, the first data event of a message, the message in
// progress.
func (r *reader) start(ev wsproto.Event) {
	r.inMessage = true
	r.msgType = MessageType(ev.Op)
	r.compressed = ev.Compressed
	r.chunk = ev.Payload
	r.last = ev.Last
	r.partial = r.partial[:0]
}

// endOfMessage is called once the message has been read to its end.
func (r *reader) endOfMessage() {
	r.inMessage = false
	r.chunk = nil
	if r.inf != nil {
		r.c.deflate.endInflate(r.inf)
		r.inf = nil
	}
	r.releasePartial()
	r.releaseIfIdle()
}

// begin positions the reader at the start of a new message: the one a
// Ping or Close left unclaimed, or the next one after the rest of a
// message an earlier Reader abandoned.
func (r *reader) begin(ctx context.Context) error {
	if r.unclaimed {
		r.unclaimed = false
		return nil
	}
	if r.resume {
		// An interrupted ReadAppend's message is dropped; a compressed
		// one still needs what was collected, to be inflated.
		r.resume = false
		if !r.compressed {
			r.releasePartial()
		}
	}
	for r.inMessage {
		if err := r.discard(ctx); err != nil {
			return err
		}
	}
	ev, err := r.next(ctx)
	if err != nil {
		return err
	}
	r.start(ev)
	return nil
}

// discard drops the rest of the message in progress. A compressed message
// is still inflated, to keep the decompression context and the checks
// intact.
func (r *reader) discard(ctx context.Context) error {
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

// nextChunk makes the next payload of the message the chunk; the message
// must not have ended.
func (r *reader) nextChunk(ctx context.Context) error {
	ev, err := r.next(ctx)
	if err != nil {
		return err
	}
	r.chunk, r.last = ev.Payload, ev.Last
	return nil
}

// read fills p with the message's payload, inflated if it was compressed.
// It returns io.EOF at the end of the message.
func (r *reader) read(ctx context.Context, p []byte) (int, error) {
	if !r.inMessage {
		return 0, io.EOF
	}
	if r.compressed {
		return r.readInflated(ctx, p)
	}
	for len(r.chunk) == 0 {
		if r.last {
			r.endOfMessage()
			return 0, io.EOF
		}
		if len(p) >= readBufferSize/2 && r.r == r.w && r.dec.PayloadLeft() > 0 {
			return r.readDirect(ctx, p)
		}
		if err := r.nextChunk(ctx); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.chunk)
	r.chunk = r.chunk[n:]
	return n, nil
}

// maxDirectRead bounds one read straight into the caller's buffer.
const maxDirectRead = 64 << 10

// readDirect reads payload straight into p, bypassing the buffer, in
// chunks that stay in cache until they are unmasked. The buffer is empty
// and the current frame has payload left.
func (r *reader) readDirect(ctx context.Context, p []byte) (int, error) {
	k := min(int64(len(p)), r.dec.PayloadLeft(), maxDirectRead)
	n, err := r.readConn(ctx, p[:k])
	if err != nil {
		return 0, r.connError(err)
	}
	_, ev, err := r.dec.Decode(p[:n])
	if err != nil {
		return 0, r.failDecode(ctx, err)
	}
	r.last = ev.Last
	return n, nil
}

// collect gathers the whole payload of a compressed message, then starts
// inflating it. Inflation never waits for the network: compress/flate
// cannot resume after its source fails, and a ctx that ends while the
// message arrives must leave the connection usable.
func (r *reader) collect(ctx context.Context) error {
	if r.inf != nil {
		return nil
	}
	for !r.last {
		r.partial = append(r.partial, r.chunk...)
		r.chunk = nil
		if err := r.nextChunk(ctx); err != nil {
			return err
		}
	}
	if len(r.partial) > 0 {
		r.partial = append(r.partial, r.chunk...)
		r.chunk = r.partial
	}
	r.inf = r.c.deflate.startInflate(r)
	return nil
}

// readInflated reads decompressed payload, never inflating more than one
// byte past the read limit, so a decompression bomb costs no memory.
func (r *reader) readInflated(ctx context.Context, p []byte) (int, error) {
	if err := r.collect(ctx); err != nil {
		return 0, err
	}
	if room := r.dec.InflateRoom(); int64(len(p)) > room {
		p = p[:room]
	}
	n, err := r.inf.fr.Read(p)
	r.c.deflate.inflated(p[:n])
	if derr := r.dec.Inflated(p[:n]); derr != nil {
		return 0, r.failDecode(ctx, derr)
	}
	switch {
	case err == io.EOF:
		if len(r.chunk) > 0 {
			// The stream ended with a final block before the payload did.
			return 0, r.failDecode(ctx, r.dec.FailInflate("data after the final deflate block"))
		}
		if derr := r.dec.InflatedEnd(); derr != nil {
			return 0, r.failDecode(ctx, derr)
		}
		r.endOfMessage()
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	case err != nil:
		return 0, r.failDecode(ctx, r.dec.FailInflate(err.Error()))
	}
	return n, nil
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
// streams an uncompressed message frame by frame; a compressed one is
// collected whole (within the read limit) and inflated as it is read. It is
// valid until the next call to Read or Reader; a message not read to its
// end is discarded by that call.
//
// ctx bounds the wait and every Read on the returned reader. When ctx ends
// while waiting, the connection stays usable: nothing is lost.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, nil, err
	}
	defer c.readMu.unlock()
	r := &c.rd
	if err := r.begin(ctx); err != nil {
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
	start := len(dst)
	if r.resume && !r.compressed {
		dst = append(dst, r.partial...)
		r.releasePartial()
		r.resume = false
	} else if r.resume {
		r.resume = false // the collected part waits in partial
	} else if err := r.begin(ctx); err != nil {
		return 0, dst, err
	}
	var err error
	if r.compressed {
		dst, err = r.appendInflated(ctx, dst)
	} else {
		dst, err = r.appendPlain(ctx, dst)
	}
	switch {
	case err == nil:
		return r.msgType, dst, nil
	case r.err == nil && r.inMessage:
		// Only ctx ended: keep what arrived for the next call.
		if !r.compressed {
			r.partial = append(r.partial[:0], dst[start:]...)
		}
		r.resume = true
	}
	return 0, dst[:start], err
}

// appendPlain appends the rest of an uncompressed message to dst.
func (r *reader) appendPlain(ctx context.Context, dst []byte) ([]byte, error) {
	for {
		dst = append(dst, r.chunk...)
		r.chunk = nil
		if r.last {
			r.endOfMessage()
			return dst, nil
		}
		if r.r == r.w && r.dec.PayloadLeft() >= readBufferSize/2 {
			if len(dst) == cap(dst) {
				dst = growForRead(dst, r.dec.PayloadLeft())
			}
			n, err := r.readDirect(ctx, dst[len(dst):cap(dst)])
			if err != nil {
				return dst, err
			}
			dst = dst[:len(dst)+n]
			continue
		}
		if err := r.nextChunk(ctx); err != nil {
			return dst, err
		}
	}
}

// appendInflated appends a compressed message, inflated, to dst.
func (r *reader) appendInflated(ctx context.Context, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = growForRead(dst, 0)
		}
		n, err := r.readInflated(ctx, dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF || err == nil && !r.inMessage {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// partialPool holds the storage of large partial messages between
// messages, shared by all connections.
var partialPool sync.Pool

// takePartial returns storage for a message that arrives in pieces.
func takePartial() []byte {
	if b, ok := partialPool.Get().(*[]byte); ok {
		return *b
	}
	return nil
}

// releasePartial empties partial, returning large storage to the pool, so
// that one large message does not cost memory for the rest of the
// connection's life.
func (r *reader) releasePartial() {
	if cap(r.partial) > readBufferSize {
		b := r.partial[:0]
		partialPool.Put(&b)
		r.partial = nil
		return
	}
	r.partial = r.partial[:0]
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
			if err := r.discard(ctx); err != nil {
				return err
			}
			continue
		}
		ev, err := r.next(ctx)
		if err != nil {
			return err
		}
		r.start(ev)
		r.unclaimed = true
	}
	return r.err
}

// errControlHandled stops pumpControl's next after each control frame.
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
		if r.inMessage || r.resume {
			return errDataPending
		}
		ev, err := r.next(ctx)
		switch {
		case err == errControlHandled:
			continue
		case err != nil:
			return err
		}
		r.start(ev)
		r.unclaimed = true
		return errDataPending
	}
}

// errDataPending means a data frame is waiting to be read by the application.
var errDataPending = errors.New("data frame pending")

// lockRead takes the read lock for Read or Reader: at once if free, after
// waiting if a Ping or Close holds it to read on the application's behalf,
// and not at all if another read holds it.
func (c *Conn) lockRead(ctx context.Context) error {
	if c.isClosed() {
		return c.errAfterClose()
	}
	if c.ev.Load() != nil {
		return errServedByPoller
	}
	if c.readMu.tryLock() {
		return nil
	}
	// A pump sets pumping under pumpMu while holding readMu, so under
	// pumpMu a failed tryLock and pumping are consistent.
	c.pumpMu.Lock()
	if c.readMu.tryLock() {
		c.pumpMu.Unlock()
		return nil
	}
	pumping := c.pumping
	c.pumpMu.Unlock()
	if !pumping && !c.closing.Load() {
		return ErrConcurrentRead
	}
	// Ping or Close is reading on the application's behalf and steps aside
	// at the next data message.
	err := c.readMu.lockOrClosed(ctx, c.closed)
	if errors.Is(err, ErrClosed) {
		return c.errAfterClose()
	}
	return err
}
