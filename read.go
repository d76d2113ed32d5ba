package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/fullduplex/websocket/internal/bpool"
	"github.com/fullduplex/websocket/internal/wsproto"
)

// This file is the read API: whole messages (Read, ReadAppend) and
// streamed ones (Reader), on top of the message state kept in the reader
// (reader.go holds the buffer and the protocol core that feeds it).

// messageReader streams the connection's Reader messages, one at a time,
// each reached through its own readHandle.
type messageReader struct {
	r *reader
	// replayed is how much of partial (what a ReadAppend its ctx cut off
	// kept) the reader has returned, while it returns that before the
	// rest of the message; -1 otherwise.
	replayed int
	cur      *readHandle  // the handle of the message being read, if any
	handles  []readHandle // not yet handed out, each used for one message only
	// retiredAtEnd is the handle retired after returning every byte
	// its uncompressed message had brought, its final frame not read
	// yet: if the discard of the rest drops no byte (the final frame
	// was empty), nothing was cut and the handle says io.EOF.
	retiredAtEnd *readHandle
}

// readHandle is the io.Reader of one message, as Conn.Reader returns it.
// Handles are never reused: one kept past the next Read or Reader must not
// reach the next message. So they come from batches, as a Writer's do:
// one allocation per handleBatch messages.
type readHandle struct {
	m   *messageReader
	ctx context.Context
	// cut is set when a later Read or Reader took the connection on
	// before this message was read to its end (every byte returned, or
	// its io.EOF): Read then returns errReaderStale rather than io.EOF.
	cut bool
}

// errReaderStale is what the reader of a message returns when it is read
// after a later Read or Reader call discarded the rest of its message.
var errReaderStale = errors.New("websocket: message reader used after the next Read or Reader call, which discarded the rest of its message")

// handle returns a fresh handle for the message just begun; the caller
// retired the one before it.
func (m *messageReader) handle(ctx context.Context) *readHandle {
	if len(m.handles) == 0 {
		m.handles = make([]readHandle, handleBatch)
	}
	h := &m.handles[0]
	m.handles = m.handles[1:]
	h.m, h.ctx = m, ctx
	m.cur = h
	return h
}

// retire cuts the current handle from the connection, before a Read or
// Reader starts on the next message; the caller holds the read lock.
func (m *messageReader) retire() {
	h := m.cur
	if h == nil {
		return
	}
	m.cur = nil
	h.cut = m.r.inMessage && !m.r.unclaimed && !m.allReturned()
	m.retiredAtEnd = nil
	if h.cut && m.returnedSoFar() {
		m.retiredAtEnd = h
	}
}

// discarded settles the handle retired at the end of what its message had
// brought, once the rest is discarded: dropped tells whether a byte of it
// was. Called with dropped set as soon as one is, and at the end.
func (m *messageReader) discarded(dropped, end bool) {
	h := m.retiredAtEnd
	if h == nil {
		return
	}
	if dropped {
		m.retiredAtEnd = nil
		return
	}
	if end {
		h.cut = false
		m.retiredAtEnd = nil
	}
}

// allReturned reports whether the reader has returned every byte of its
// uncompressed message, all but the io.EOF: the next Read or Reader
// discards nothing then, and the retired reader says io.EOF. Of a
// compressed one the inflater may hold more, which only a read shows.
func (m *messageReader) allReturned() bool {
	return m.r.last && m.returnedSoFar()
}

// returnedSoFar reports whether the reader has returned every byte of its
// uncompressed message that the frames read so far brought.
func (m *messageReader) returnedSoFar() bool {
	r := m.r
	return r.readState != nil && !r.compressed && len(r.chunk) == 0 && m.replayed < 0
}

// Read reads the message's payload; it returns io.EOF after the last byte.
func (h *readHandle) Read(p []byte) (int, error) {
	m := h.m
	c := m.r.c
	if err := c.lockRead(h.ctx); err != nil {
		return 0, err
	}
	defer c.unlockRead()
	if m.cur != h {
		if h.cut {
			return 0, errReaderStale
		}
		return 0, io.EOF
	}
	if m.r.cut {
		return 0, errMessageCut
	}
	if m.r.unclaimed {
		// This message ended, and a Ping or Close reading on the
		// application's behalf has started the next one, which belongs
		// to the next Read or Reader.
		return 0, io.EOF
	}
	if len(p) == 0 {
		// Nothing to wait for: no room for a byte (and a replay must not
		// end with the message under it).
		return 0, nil
	}
	if m.replayed >= 0 {
		if n := m.replayPartial(p); n > 0 {
			return n, nil
		}
	}
	return m.r.read(h.ctx, p)
}

// replayPartial copies into p what a ReadAppend cut off by its ctx kept
// of the message and this reader has not returned yet; 0 once all of it
// has been, and the message goes on from the network.
func (m *messageReader) replayPartial(p []byte) int {
	n := copy(p, (*m.r.partial)[m.replayed:])
	m.replayed += n
	if m.replayed == len(*m.r.partial) {
		m.replayed = -1 // partial stays until the message ends: a compressed one's history may be in it
	}
	return n
}

// Read waits for the next data message and returns it whole, in a new
// slice the caller owns. See ReadAppend to reuse a buffer, and for what
// a ctx that ends does: it leaves the connection usable.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadAppend(ctx, nil)
}

// Reader waits for the next data message and returns its type and a reader
// of its payload, which returns io.EOF at the end of the message. The reader
// streams a message as it arrives, a compressed one inflated piece by
// piece as it is read. It is valid until the next call to Read,
// ReadAppend or Reader; a message not read to its end is discarded by
// that call. A reader read after that returns io.EOF if that call
// discarded no byte of its message (every byte had been returned; of a
// compressed message, which may inflate to more, its io.EOF too), and an
// error saying the rest was discarded otherwise: it never reaches the
// next message.
//
// ctx bounds the wait and every Read on the returned reader. When ctx ends
// while waiting, the connection stays usable: nothing is lost.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, nil, err
	}
	defer c.unlockRead()
	r := &c.rd
	if r.msgReader == nil {
		r.msgReader = &messageReader{r: r, replayed: -1} // kept; a connection that never calls Reader does not carry it
	}
	r.msgReader.retire()
	if r.resume {
		// A ReadAppend cut off by its ctx kept the start of this message:
		// the reader returns it first, then the rest.
		r.resume, r.cut = false, false
		r.msgReader.replayed = 0
	} else if err := r.begin(ctx); err != nil {
		return 0, nil, err
	}
	return MessageType(r.msgOp), r.msgReader.handle(ctx), nil
}

// ReadAppend waits for the next data message and appends its payload to
// dst, returning the extended slice. Reusing dst[:0] from call to call reads
// without allocating.
//
// If ctx ends while waiting for the message or in the middle of it, it
// returns ctx's error and the connection stays usable: the part of the
// message already received is kept and the next Read, ReadAppend or Reader
// returns the whole message.
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, dst, err
	}
	typ, dst, err := c.rd.readMessage(ctx, dst)
	c.unlockRead() // no defer: readMessage does not panic
	return typ, dst, err
}

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
	if err := ctx.Err(); err != nil {
		return err // an ended ctx reads nothing, even what has arrived
	}
	if c.readMu.TryLock() {
		return c.servedMeanwhile() // the common case, inline: lockReadOrPumping is a call
	}
	locked, pumping := c.lockReadOrPumping()
	if locked {
		return c.servedMeanwhile()
	}
	if !pumping && !c.flags.has(flagClosing) {
		if c.ev.Load() != nil {
			return errServedByPoller // the poller's loop holds the lock now
		}
		return ErrConcurrentRead
	}
	// Ping or Close is reading on the application's behalf and steps aside
	// at the next data message.
	err := c.readMu.lockOrClosed(ctx, c)
	if errors.Is(err, ErrClosed) {
		return c.errAfterClose()
	}
	if err != nil {
		return err
	}
	return c.servedMeanwhile()
}

// servedMeanwhile is lockRead's look at Conn.ev once it holds readMu:
// Serve may have taken c between the look before and the lock (or while
// the read waited behind a Ping's pump), and then the poller reads c, not
// the application. It lets go of the lock as a holder of a served
// connection must (unlockServed).
func (c *Conn) servedMeanwhile() error {
	if c.ev.Load() == nil {
		return nil
	}
	c.unlockServed()
	return errServedByPoller
}

// lockReadOrPumping takes the read lock if it is free, and otherwise
// reports whether a Ping's pump holds it (reading on the application's
// behalf until its pong or the next data message). A pump sets pumping
// under pumpMu while holding the lock, so under pumpMu a failed TryLock
// and pumping agree: a pump letting go meanwhile is not taken for a
// concurrent reader.
func (c *Conn) lockReadOrPumping() (locked, pumping bool) {
	if c.readMu.TryLock() {
		return true, false
	}
	c.pumpMu.Lock()
	defer c.pumpMu.Unlock()
	if c.readMu.TryLock() {
		return true, false
	}
	return false, c.pumping
}

// start makes ev, the first data event of a message, the message in
// progress.
func (r *reader) start(ev *wsproto.Event) {
	r.inMessage = true
	r.msgOp = ev.Op
	r.compressed = ev.Compressed
	r.chunk = ev.Payload
	r.last = ev.Last
	if r.partial != nil {
		*r.partial = (*r.partial)[:0]
	}
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
	r.cut = false
	if r.unclaimed {
		r.unclaimed = false
		return nil
	}
	r.dropResumed()
	for r.inMessage {
		if err := r.discard(ctx); err != nil {
			return err
		}
	}
	var ev wsproto.Event
	if err := r.next(ctx, &ev); err != nil {
		return err
	}
	r.start(&ev)
	return nil
}

// dropResumed drops what an interrupted ReadAppend kept of its message, if
// any; the rest is left for discard (a compressed message is still
// inflated to its end, whose back-references may reach what partial
// holds).
func (r *reader) dropResumed() {
	if !r.resume {
		return
	}
	r.resume = false
	if r.inf != nil && r.partial != nil {
		r.ringInPlace(*r.partial)
	}
	r.releasePartial()
}

// discard drops the rest of the message in progress. A compressed message
// is still inflated, to keep the decompression context and the checks
// intact.
func (r *reader) discard(ctx context.Context) error {
	var scratch [512]byte
	r.unclaimed = false
	for {
		n, err := r.read(ctx, scratch[:])
		if r.msgReader != nil {
			r.msgReader.discarded(n > 0, err == io.EOF)
		}
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
	var ev wsproto.Event
	if err := r.next(ctx, &ev); err != nil {
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
	r.hold()
	if r.compressed {
		return r.readInflated(ctx, p)
	}
	for len(r.chunk) == 0 {
		if r.last {
			r.endOfMessage()
			return 0, io.EOF
		}
		if len(p) >= bpool.ReadSize/2 && r.r == r.w && r.dec.PayloadLeft() > 0 {
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
		return 0, r.connError(ctx, err)
	}
	var ev wsproto.Event
	_, err = r.dec.DecodeInto(p[:n], &ev)
	if err != nil {
		return 0, r.failDecode(ctx, err)
	}
	r.c.noteFrame() // payload arrived: the peer is alive, as on every other path
	r.last = ev.Last
	return n, nil
}

// readMessage is ReadAppend for the holder of readMu.
func (r *reader) readMessage(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if r.msgReader != nil {
		r.msgReader.retire()
	}
	r.hold()
	if !r.inMessage && !r.resume && !r.unclaimed && r.err == nil {
		if typ, out, ok, err := r.readWhole(ctx, dst); ok {
			return typ, out, err
		}
	}
	start := len(dst)
	if r.resume {
		dst = append(dst, *r.partialBuf()...)
		r.releasePartial()
		r.resume = false
	} else if err := r.begin(ctx); err != nil {
		return 0, dst, err
	}
	var err error
	if r.compressed {
		dst, err = r.appendInflated(ctx, dst, start)
	} else {
		dst, err = r.appendPlain(ctx, dst)
	}
	switch {
	case err == nil:
		return MessageType(r.msgOp), dst, nil
	case r.err == nil && r.inMessage:
		// Only ctx ended: keep what arrived for the next call.
		p := r.partialBuf()
		*p = append((*p)[:0], dst[start:]...)
		r.resume = true
	}
	return 0, dst[:start], err
}

// readWhole is readMessage's fast path for a message already whole in the
// buffer, in one frame: no Event, no message state. It reports false, with
// nothing consumed, for anything else.
func (r *reader) readWhole(ctx context.Context, dst []byte) (MessageType, []byte, bool, error) {
	r.dec.Limit = r.c.readLimit.Load()
	op, p, n, err := r.dec.DecodeWhole(r.buf[r.r:r.w])
	if n == 0 {
		if err != nil {
			return 0, dst, true, r.failDecode(ctx, err)
		}
		return 0, dst, false, nil
	}
	r.r += n
	r.c.noteDataFrame()
	dst = append(dst, p...)
	r.releaseIfIdle()
	return MessageType(op), dst, true, nil
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
		if r.r == r.w && r.dec.PayloadLeft() >= bpool.ReadSize/2 {
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

// appendInflated appends a compressed message, inflated, to dst. The
// storage grows no further than the read limit (growInflated): a refused
// decompression bomb costs a buffer of the limit, and under twice the
// limit allocated in all.
//
// The message's output so far is dst[start:], where the inflater reads its
// back-references in place.
func (r *reader) appendInflated(ctx context.Context, dst []byte, start int) ([]byte, error) {
	var probe [1]byte
	for {
		if room := r.dec.InflateRoom(); len(dst) == cap(dst) && room > 1 {
			dst = growInflated(dst, room-1)
		}
		var n int
		var err error
		switch {
		case len(dst) == cap(dst):
			// At the limit: one byte more fails the message (and
			// readInflated returns none), and finding it needs no storage
			// for what would follow, only the output so far where Read's
			// back-references look.
			r.startInflate()
			r.ringInPlace(dst[start:])
			n, err = r.readInflated(ctx, probe[:])
		case r.inf != nil && r.inf.ringed:
			n, err = r.readInflated(ctx, dst[len(dst):cap(dst)])
			dst = dst[:len(dst)+n]
		default:
			n, err = r.inflateInPlace(ctx, dst[start:cap(dst)], len(dst)-start)
			dst = dst[:len(dst)+n]
		}
		if err == io.EOF || err == nil && !r.inMessage {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// partialBuf returns partial, taking pooled storage for it first: that of
// an earlier message that came in pieces, if any.
func (r *reader) partialBuf() *[]byte {
	if r.partial == nil {
		r.partial = bpool.GetVar()
		if r.partial == nil {
			r.partial = new([]byte)
		}
	}
	return r.partial
}

// releasePartial returns partial's storage to the pool, so that a message
// that came in pieces costs no memory for the rest of the connection's
// life, and the next one takes storage without allocating.
func (r *reader) releasePartial() {
	if r.msgReader != nil {
		r.msgReader.replayed = -1 // nothing kept to replay
	}
	if r.partial != nil {
		bpool.PutVar(r.partial)
		r.partial = nil
	}
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

// growInflated extends dst's capacity for inflated output, of which at
// most most more bytes may come. It doubles as growForRead does, except
// that a growth that would pass half of the largest size possible goes to
// it at once: the last copy then moves at most half of it, and the
// buffers before it add up to less than the limit.
func growInflated(dst []byte, most int64) []byte {
	c := int64(cap(dst))
	add := max(c, 512)
	if most <= c+2*add { // the new capacity, c+add, would pass (c+most)/2
		add = most
	}
	return slices.Grow(dst[:cap(dst)], int(add))[:len(dst)]
}

// errMessageCut is what a Reader returns once Close, reading on to the
// peer's close frame while nobody read, discarded the rest of its message.
var errMessageCut = fmt.Errorf("%w: the rest of the message was discarded while the connection closed", ErrClosed)

// readUntilClose reads on behalf of Close until the peer's close frame.
// Data messages go to the application if a Read is waiting for them
// (errDataPending) and are discarded otherwise. Once it discarded one
// message, or the rest of one, it discards all that follow: a read loop
// that was only busy between two Reads must see the messages end, not
// skip one and go on. A Reader whose message was cut gets errMessageCut.
func (r *reader) readUntilClose(ctx context.Context) error {
	waiting := r.c.readMu.HasWaiters
	for r.err == nil {
		if r.inMessage || r.resume {
			if waiting() && !r.cut && !r.c.flags.has(flagDropping) {
				return errDataPending
			}
			// The application's Reader, if it was reading this message,
			// must not take the end of what Close read for the end of
			// the message. A ReadAppend its ctx cut off is not waiting:
			// its message goes too.
			r.cut = r.cut || (r.inMessage && !r.unclaimed && !r.resume)
			r.c.flags.set(flagDropping) // never cleared: Close ends the connection
			r.dropResumed()
			if err := r.discard(ctx); err != nil {
				return err
			}
			continue
		}
		var ev wsproto.Event
		if err := r.next(ctx, &ev); err != nil {
			return err
		}
		r.start(&ev)
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
		var ev wsproto.Event
		err := r.next(ctx, &ev)
		switch {
		case err == errControlHandled:
			continue
		case err != nil:
			return err
		}
		r.start(&ev)
		r.unclaimed = true
		return errDataPending
	}
}

// errDataPending means a data frame is waiting to be read by the application.
var errDataPending = errors.New("data frame pending")
