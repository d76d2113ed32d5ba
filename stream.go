package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// This file is the streaming write API: Writer sends a message as
// fragments while it is written, compressing as it goes when
// permessage-deflate was negotiated.

// Writer returns a writer for one message of type typ. Bytes written are
// buffered and sent as a fragment each time the buffer (WriteBufferSize,
// less 14 bytes kept for the frame's header) fills; on a server's side a
// Write of at least WriteBufferSize bytes into an empty buffer goes out
// as one fragment of its own, uncopied (a client masks a copy, a buffer
// at a time). Close sends the final
// fragment, which is empty when nothing is left in the buffer. Until
// Close, other data messages wait; pings, pongs and close frames may
// still go out between fragments. The writer must be closed, or the
// connection's writes stay blocked. With compression negotiated, every
// Writer message is compressed (see CompressionOptions.Threshold), and
// every WriterUncompressed message is not. The buffer then fills with the
// compressor's output, which lags its input: the compressor codes input a
// block at a time (up to 64 KiB), so a streamed compressed message may
// send nothing until that much was written, or until Close.
//
// The writer belongs to this one message: once closed, every Write and
// Close on it returns an error and has no effect, even after another
// Writer was opened on the connection. It is for one goroutine at a
// time: a Write or Close while another is running on it returns
// ErrConcurrentWrite and sends nothing. Handles are never reused, so they
// are allocated 32 at a time (16 bytes each): one allocation per 32
// streamed messages, and on a connection's first Writer one more, for
// state it then keeps.
//
// ctx bounds the wait for other writers and every write through the
// returned writer, as for Write. On a connection closed, or whose close
// frame is sent or queued, Writer fails with ErrClosed, as Write does. A
// nil error from the writer's Write
// means the bytes were buffered or sent (a connection that closed
// meanwhile is reported by the write that sends them, or by Close); a nil
// error from Close means the whole message was handed to the operating
// system: a peer that refuses the message, such as one over its read
// limit, says so with a close frame that the next Read reports (see
// ConnOptions.ReadLimit). Once a fragment went out, a message cut off
// by ctx cannot be finished: Close then closes the connection (the peer
// sees 1006), and its error wraps ErrClosed as well as ctx's; unless our
// close frame is already queued, which ends the connection anyway (the
// peer drops the unfinished message), and Close returns ctx's error.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	return c.writer(ctx, typ, c.deflate != nil)
}

// WriterUncompressed is Writer without compression, whatever was
// negotiated, as WriteUncompressed is Write without it: for a streamed
// message that mixes secrets with data an attacker may choose (CRIME,
// BREACH), or whose bytes are already compressed. Under context takeover
// the message stays out of the compression history, as the RFC has it,
// and the compressed messages around it are unaffected.
func (c *Conn) WriterUncompressed(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	return c.writer(ctx, typ, false)
}

// writer is Writer, compressing the message if compress is set, which
// requires compression to have been negotiated.
func (c *Conn) writer(ctx context.Context, typ MessageType, compress bool) (io.WriteCloser, error) {
	if err := checkMessageType(typ); err != nil {
		return nil, err
	}
	if err := c.ctxEnded(ctx); err != nil {
		return nil, err
	}
	if err := c.lockMessage(ctx); err != nil {
		return nil, err
	}
	if c.isClosed() || c.flags.has(flagCloseQueued) {
		// Fail now, as Write does, rather than at the first flush: an
		// encoder writing into the handle would do its work for nothing.
		c.msgMu.Unlock()
		return nil, c.errAfterCloseSent()
	}
	c.flags.set(flagStreaming)
	m := c.wr.msg
	if m == nil {
		// Made on the first Writer, under msgMu, and kept: a connection
		// that never streams does not carry it.
		m = &messageWriter{c: c}
		m.sink.m = m
		c.wr.msg = m
	}
	m.ctx = ctx
	m.op = opcode(typ)
	m.n = 0
	m.open = true
	m.err = nil
	m.rsv = 0
	if compress {
		m.rsv = bitRsv1
		m.fw, m.release = c.deflate.compressor(-1, &m.sink)
	}
	// The connection's messageWriter serves every message in turn, so each
	// gets a handle of its own: one kept past its Close must not reach the
	// next message. Handles are never reused, so they come from batches:
	// one allocation per handleBatch messages, the only one of a streamed
	// message. A handle kept forever keeps its batch (a few hundred bytes).
	if len(m.handles) == 0 {
		m.handles = make([]messageHandle, handleBatch)
	}
	h := &m.handles[0]
	m.handles = m.handles[1:]
	h.m = m
	return h, nil
}

// handleBatch is how many message handles are allocated at once.
const handleBatch = 32

// messageHandle is the io.WriteCloser of one message. Close cuts it from
// the connection's messageWriter, so a stale handle touches nothing.
type messageHandle struct {
	m    *messageWriter // nil once closed; read and written only while busy
	busy atomic.Bool    // a Write or Close is running (use)
}

// Write sends p as part of the message, in fragments as the buffer fills.
func (h *messageHandle) Write(p []byte) (int, error) {
	m, err := h.use()
	if err != nil {
		return 0, err
	}
	defer h.busy.Store(false)
	return m.Write(p)
}

// Close sends the final fragment and releases the connection for other
// messages.
func (h *messageHandle) Close() error {
	m, err := h.use()
	if err == errWriterClosed {
		return errors.New("websocket: message writer already closed")
	}
	if err != nil {
		return err
	}
	defer h.busy.Store(false)
	h.m = nil
	return m.Close()
}

// errWriterClosed is a write through a closed message handle.
var errWriterClosed = errors.New("websocket: write to closed message writer")

// use claims the handle for one call, which clears busy when done: the
// message's state is for one call at a time.
func (h *messageHandle) use() (*messageWriter, error) {
	if !h.busy.CompareAndSwap(false, true) {
		return nil, ErrConcurrentWrite
	}
	m := h.m
	if m == nil {
		h.busy.Store(false)
		return nil, errWriterClosed
	}
	return m, nil
}

// messageWriter streams the connection's Writer messages as fragments,
// one message at a time, each reached through its own messageHandle.
type messageWriter struct {
	c    *Conn
	ctx  context.Context
	bufp *[]byte
	n    int // payload bytes buffered after the header room
	err  error
	op   opcode // opcode of the next fragment: the type first, continuation after
	rsv  byte   // RSV bits of the next fragment: RSV1 on the first one of a compressed message
	open bool

	// Compression, when negotiated: the compressor feeds sink, which
	// buffers and fragments the compressed bytes.
	handles []messageHandle // not yet handed out, each used for one message only
	fw      *compressor
	release func(*compressor)
	sink    compressSink
}

// compressSink receives a Writer's compressed output.
type compressSink struct{ m *messageWriter }

func (s *compressSink) Write(p []byte) (int, error) { return s.m.buffer(p, len(deflateTail)) }

// Write sends p as part of the message, in fragments as the buffer fills.
func (m *messageWriter) Write(p []byte) (int, error) {
	if !m.open {
		return 0, errors.New("websocket: write to closed message writer")
	}
	if m.err != nil {
		return 0, m.err
	}
	if m.fw != nil {
		n, err := m.fw.Write(p)
		if err == nil {
			err = m.err
		}
		return n, err
	}
	if m.n == 0 && len(p) >= m.c.opts.writeBufferSize() {
		// A write of a buffer's worth or more goes out as its own fragment,
		// without a copy (on a server) and in fewer frames.
		return m.writeDirect(p)
	}
	return m.buffer(p, 0)
}

// writeDirect sends p as one fragment.
func (m *messageWriter) writeDirect(p []byte) (int, error) {
	c := m.c
	if err := m.lockFrame(); err != nil {
		return 0, err
	}
	defer c.unlockFrame()
	if err := c.writeFrame(m.ctx, false, m.op, m.rsv, p); err != nil {
		m.err = err
		return 0, err
	}
	m.op = opContinuation
	m.rsv = 0
	return len(p), nil
}

// buffer appends p to the fragment buffer, sending it when full. The last
// hold bytes always stay behind, so the deflate tail can be dropped from
// the final fragment.
func (m *messageWriter) buffer(p []byte, hold int) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	total := len(p)
	for len(p) > 0 {
		if m.bufp == nil {
			m.bufp = m.c.wr.pool.Get().(*[]byte)
			m.n = 0
		}
		room := (*m.bufp)[maxHeaderSize+m.n:]
		if len(room) == 0 {
			if err := m.flushHolding(hold); err != nil {
				return total - len(p), err
			}
			continue
		}
		k := copy(room, p)
		m.n += k
		p = p[k:]
	}
	return total, nil
}

// flushHolding sends all but the last hold buffered bytes as a fragment
// and moves those to the front of the buffer.
func (m *messageWriter) flushHolding(hold int) error {
	kept := m.n
	m.n -= hold
	if err := m.flush(false); err != nil {
		return err
	}
	payload := (*m.bufp)[maxHeaderSize:]
	copy(payload, payload[kept-hold:kept])
	m.n = hold
	return nil
}

// lockFrame takes the frame lock for a fragment; a failure, its ctx's
// end among them, fails the message.
func (m *messageWriter) lockFrame() error {
	err := m.c.ctxEnded(m.ctx)
	if err == nil {
		err = m.c.lockFrame(m.ctx)
	}
	if err != nil {
		m.err = err
	}
	return err
}

// flush sends the buffered payload as a fragment.
func (m *messageWriter) flush(fin bool) error {
	c := m.c
	if err := m.lockFrame(); err != nil {
		return err
	}
	defer c.unlockFrame()
	var payload []byte
	var buf []byte
	if m.bufp != nil {
		buf = *m.bufp
		payload = buf[maxHeaderSize : maxHeaderSize+m.n]
	}
	h := header{Fin: fin, Rsv: m.rsv, Op: m.op, Length: int64(len(payload)), Masked: c.client}
	if c.client {
		h.Key = maskKey()
		maskBytes(payload, h.Key)
	}
	hdr := c.wr.scratch()[:] // free: we hold frameMu
	hn := putHeader(hdr, h)
	var err error
	if buf != nil {
		start := maxHeaderSize - hn
		copy(buf[start:], hdr[:hn])
		err = c.sendFrame(m.ctx, buf[start:maxHeaderSize+m.n])
	} else {
		err = c.sendFrame(m.ctx, hdr[:hn])
	}
	m.n = 0
	if err != nil {
		// Unless part of the frame went out, which closed the
		// connection, nothing of it did: a first fragment keeps its
		// opcode, so that Close leaves the connection usable, as Write
		// does.
		m.err = err
		return err
	}
	m.op = opContinuation
	m.rsv = 0
	return nil
}

// Close sends the final fragment and releases the connection for other
// messages.
func (m *messageWriter) Close() error {
	if !m.open {
		return errors.New("websocket: message writer already closed")
	}
	err := m.err
	compressed := m.fw != nil
	if compressed {
		if err == nil {
			err = m.fw.Flush()
		}
		if err == nil {
			err = m.err
		}
		if err == nil {
			// The flush ended the output with the tail, which stays out.
			m.n -= len(deflateTail)
		}
		m.release(m.fw)
		m.fw, m.release = nil, nil
	}
	if err == nil {
		err = m.flush(true)
	}
	if err != nil && m.op == opContinuation {
		// Fragments went out but the message cannot be finished; no other
		// data message may follow on this stream. Once our close frame is
		// queued none will anyway: the peer drops the message with its
		// answer, and closing now would cut the closing handshake short.
		// Nor when an HTTP/2 server ended the stream: the read side
		// still has its close frame to deliver (Conn.requestEnded).
		err = wrapError("websocket: message left unfinished", err)
		if !m.c.isClosed() && !m.c.flags.has(flagCloseQueued) && !m.c.isRequestEnded(err) {
			m.c.closeNow(endCauseOf(err))
			if isCtxErr(err) && !errors.Is(err, ErrClosed) {
				err = fmt.Errorf("%w (%w)", err, errWriteCut) // as frameError says it
			}
		}
	}
	if err != nil && compressed {
		// The peer may not have the message, whose plaintext is in the
		// history and in the stream the released compressor holds.
		m.c.deflate.abandonSend()
	}
	m.open = false
	if m.bufp != nil {
		m.c.wr.pool.Put(m.bufp)
		m.bufp = nil
	}
	m.c.flags.clear(flagStreaming)
	m.c.msgMu.Unlock()
	return err
}
