package websocket

import (
	"compress/flate"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// writer is the write side of a Conn. The frame fields are owned by the
// goroutine holding Conn.frameMu; the message writer by the one holding
// Conn.msgMu.
type writer struct {
	c       *Conn
	pool    *sync.Pool
	bufSize int
	iov     *iovec // made on the first vectored write
	// small assembles control frames and short data frames, under frameMu,
	// so they need no pooled buffer.
	small [maxControlFrame]byte
	// vectored sends a server frame's header and payload as two buffers
	// (one writev on TCP) instead of copying them together; off for TLS,
	// where every Write becomes a record of its own.
	vectored bool
	// writev is set when the connection turns net.Buffers into one
	// vectored write (TCP and Unix sockets).
	writev     bool
	msg        messageWriter
	cancelWait sync.WaitGroup
	cancelFn   func()
	// queue is set when a Poller's loop serves the connection: writes then
	// never wait for the socket (queue.go).
	queue *outQueue
}

func (w *writer) init(c *Conn) {
	w.c = c
	w.bufSize = c.opts.writeBufferSize()
	w.pool = writeBufPool(w.bufSize)
	_, isTLS := c.nc.(*tls.Conn)
	w.vectored = !isTLS
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		w.writev = true
	}
	w.msg.c = c
	w.msg.sink.m = &w.msg
}

func (w *writer) interrupt() {
	w.c.nc.SetWriteDeadline(aLongTimeAgo)
	w.cancelWait.Done()
}

// send writes bufs to the network as one frame. Written reports whether any
// byte went out, in which case an error leaves the stream broken.
func (w *writer) send(ctx context.Context, bufs ...[]byte) (written bool, err error) {
	if w.queue != nil {
		return w.queue.send(w.c, false, bufs)
	}
	var stop func() bool
	if ctx.Done() != nil {
		w.cancelWait.Add(1)
		if w.cancelFn == nil {
			w.cancelFn = w.interrupt // made once, on the first cancelable write
		}
		stop = context.AfterFunc(ctx, w.cancelFn)
	}
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
	if stop != nil {
		if stop() {
			w.cancelWait.Done()
		} else {
			w.cancelWait.Wait()
			w.c.nc.SetWriteDeadline(time.Time{})
		}
	}
	err = interruptCause(ctx, err)
	return n > 0, err
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
	if c.isClosed() {
		return c.errAfterClose()
	}
	if isCtxErr(err) && !written {
		return err // nothing went out: the connection is intact
	}
	err = fmt.Errorf("websocket: failed to write frame: %w", err)
	c.closeNow(err)
	return err
}

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
func (c *Conn) writeFrame(ctx context.Context, fin bool, op opcode, rsv byte, p []byte) error {
	w := &c.wr
	h := header{Fin: fin, Rsv: rsv, Op: op, Length: int64(len(p)), Masked: c.client}
	if c.client {
		h.Key = maskKey()
	}
	if len(p) <= smallFrame {
		// Small frames are assembled in the connection's own array: no
		// pool round trip for the common short message.
		hn := putHeader(w.small[:], h)
		n := copy(w.small[hn:], p)
		if c.client {
			maskBytes(w.small[hn:hn+n], h.Key)
		}
		return c.sendFrame(ctx, w.small[:hn+n])
	}
	if !c.client && w.vectored {
		hn := putHeader(w.small[:], h)
		return c.sendFrame(ctx, w.small[:hn], p)
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
		written, err := w.send(ctx, buf[:off+n])
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
	var buf [maxControlFrame]byte
	return c.sendFrame(ctx, c.appendControlFrame(buf[:0], op, payload))
}

func (c *Conn) errAfterCloseSent() error {
	if c.isClosed() {
		return c.errAfterClose()
	}
	return ErrClosed
}

// lockFrame takes the frame lock for a data frame.
func (c *Conn) lockFrame(ctx context.Context) error {
	if !c.frameMu.state.CompareAndSwap(0, semaHeld) {
		if err := c.frameMu.lockOrClosedSlow(ctx, c.closed); err != nil {
			return err
		}
	}
	if c.closeQueued.Load() {
		return c.unlockAfterCloseSent()
	}
	return nil
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
// goroutines; messages never interleave.
//
// ctx bounds the wait for other writers and the write itself. If ctx ends
// before any byte of the message went out, Write returns ctx's error and
// the connection stays usable. If it ends part-way through, the frame
// cannot be finished: the connection is closed without a close frame (the
// peer sees 1006) and the error says so.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
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
		if !c.streaming.Load() {
			err := c.writeFrame(ctx, true, opcode(typ), 0, p)
			c.unlockFrame()
			return err
		}
		c.unlockFrame()
	}
	if err := c.msgMu.lockOrClosed(ctx, c.closed); err != nil {
		return err
	}
	defer c.msgMu.unlock()
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
	if err := c.lockMessageFrame(ctx); err != nil {
		return err
	}
	defer c.unlockMessageFrame()
	return c.writeFrame(ctx, true, opcode(typ), 0, p)
}

// lockMessageFrame takes both write locks, for a message sent as one frame
// outside Write's fast path.
func (c *Conn) lockMessageFrame(ctx context.Context) error {
	if err := c.msgMu.lockOrClosed(ctx, c.closed); err != nil {
		return err
	}
	if err := c.lockFrame(ctx); err != nil {
		c.msgMu.unlock()
		return err
	}
	return nil
}

func (c *Conn) unlockMessageFrame() {
	c.unlockFrame()
	c.msgMu.unlock()
}

var compressBufPool sync.Pool // *[]byte, compressed payloads

// writeCompressed deflates p and sends it as one frame. The caller holds
// msgMu, which keeps the compression context in wire order.
func (c *Conn) writeCompressed(ctx context.Context, op opcode, p []byte) error {
	bufp, _ := compressBufPool.Get().(*[]byte)
	if bufp == nil {
		bufp = new([]byte)
	}
	defer func() {
		*bufp = (*bufp)[:0]
		compressBufPool.Put(bufp)
	}()
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
		return fmt.Errorf("websocket: invalid message type %d", int(typ))
	}
	return nil
}

// Writer returns a writer for one message of type typ. Bytes written are
// buffered and sent as a fragment each time the buffer (WriteBufferSize)
// fills; Close sends the final fragment. Until Close, other data messages
// wait; pings, pongs and close frames may still go out between fragments.
// The writer must be closed, or the connection's writes stay blocked.
//
// The writer belongs to this one message: once closed, every Write and
// Close on it returns an error and has no effect, even after another
// Writer was opened on the connection. It costs one small allocation.
//
// ctx bounds the wait for other writers and every write through the
// returned writer, as for Write.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if err := checkMessageType(typ); err != nil {
		return nil, err
	}
	if err := c.msgMu.lockOrClosed(ctx, c.closed); err != nil {
		return nil, err
	}
	c.streaming.Store(true)
	m := &c.wr.msg
	m.ctx = ctx
	m.op = opcode(typ)
	m.n = 0
	m.open = true
	m.err = nil
	m.rsv = 0
	if c.deflate != nil {
		m.rsv = bitRsv1
		m.fw, m.release = c.deflate.compressor(-1, &m.sink)
	}
	// The connection's messageWriter serves every message in turn, so each
	// gets a handle of its own: one kept past its Close must not reach the
	// next message. This is the only allocation of a streamed message.
	return &messageHandle{m: m}, nil
}

// messageHandle is the io.WriteCloser of one message. Close cuts it from
// the connection's messageWriter, so a stale handle touches nothing.
type messageHandle struct {
	m *messageWriter // nil once closed
}

// Write sends p as part of the message, in fragments as the buffer fills.
func (h *messageHandle) Write(p []byte) (int, error) {
	if h.m == nil {
		return 0, errors.New("websocket: write to closed message writer")
	}
	return h.m.Write(p)
}

// Close sends the final fragment and releases the connection for other
// messages.
func (h *messageHandle) Close() error {
	m := h.m
	if m == nil {
		return errors.New("websocket: message writer already closed")
	}
	h.m = nil
	return m.Close()
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

	// Compression, when negotiated: the flate writer feeds sink, which
	// buffers and fragments the compressed bytes.
	fw      *flate.Writer
	release func(*flate.Writer)
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
	if m.n == 0 && len(p) >= m.c.wr.bufSize {
		// A write of a buffer's worth or more goes out as its own fragment,
		// without a copy (on a server) and in fewer frames.
		return m.writeDirect(p)
	}
	return m.buffer(p, 0)
}

// writeDirect sends p as one fragment.
func (m *messageWriter) writeDirect(p []byte) (int, error) {
	c := m.c
	if err := c.lockFrame(m.ctx); err != nil {
		m.err = err
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

// flush sends the buffered payload as a fragment.
func (m *messageWriter) flush(fin bool) error {
	c := m.c
	if err := c.lockFrame(m.ctx); err != nil {
		m.err = err
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
	hdr := c.wr.small[:] // free: we hold frameMu
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
	m.op = opContinuation
	m.rsv = 0
	if err != nil {
		m.err = err
	}
	return err
}

// Close sends the final fragment and releases the connection for other
// messages.
func (m *messageWriter) Close() error {
	if !m.open {
		return errors.New("websocket: message writer already closed")
	}
	err := m.err
	if m.fw != nil {
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
		if err != nil {
			m.c.deflate.abandonSend()
		}
		m.release(m.fw)
		m.fw, m.release = nil, nil
	}
	if err == nil {
		err = m.flush(true)
	} else if m.op == opContinuation && !m.c.isClosed() {
		// Fragments went out but the message cannot be finished; no other
		// data message may follow on this stream.
		err = fmt.Errorf("websocket: message left unfinished: %w", err)
		m.c.closeNow(err)
	}
	m.open = false
	if m.bufp != nil {
		m.c.wr.pool.Put(m.bufp)
		m.bufp = nil
	}
	m.c.streaming.Store(false)
	m.c.msgMu.unlock()
	return err
}
