package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/internal/wsproto"
)

// In a browser (GOOS=js) a page cannot open a TCP connection, only the
// browser's WebSocket object, which speaks whole messages. browserConn
// lets the ordinary Conn run over it: it is the net.Conn under a Conn
// made by Dial, carrying the frame stream that Conn expects.
//
//   - Its Write side is fed the masked client frames our Conn writes. It
//     decodes them with the protocol core in the server's role (a server
//     decodes exactly what a client writes), gathers the fragments of a
//     message and hands the whole message to the browser (send); our close
//     frame becomes close(code, reason). Ping and pong frames are dropped:
//     Ping refuses on this transport and the browser answers the server's
//     pings itself.
//   - Its Read side turns the browser's message events into unmasked
//     server frames, one final frame per message, and the close event into
//     the server's close frame followed by the end of the stream (code 1006:
//     only the end of the stream).
//
// The browser delivers message events whether or not the page reads, and
// its API has no way to slow the server down. browserConn therefore
// queues what arrives and bounds it: a message larger than the read limit
// is queued as its frame header alone, so that the protocol core refuses
// it (1009, ErrMessageTooBig) without its payload ever being copied; and
// once more than maxQueued bytes wait undelivered, the connection fails
// with a *ProtocolError carrying 1009, the queue is dropped and the
// browser closes the WebSocket.
//
// This file has no syscall/js: the browser is behind browserSocket
// (dial_js.go), so the bridge is tested with a stand-in.
type browserConn struct {
	sock browserSocket
	url  string

	conn  atomic.Pointer[Conn] // the Conn over it, once made; for its read limit
	limit int64                // the read limit until conn is set

	// Read side: the browser's events, under mu.
	mu       sync.Mutex
	queue    []*inboundFrame
	queued   int64         // bytes held by queue, overhead included
	wake     chan struct{} // one token: the queue or the state changed
	ended    bool          // the close event was seen: the stream ends after the queue
	readErr  error         // the connection failed on this side (queue overflow)
	closed   bool          // Close was called
	done     chan struct{} // closed by Close
	closeEv  chan struct{} // closed when the close event was seen
	closeMsg string        // what the close event said, for Dial's error

	// Write side, under wmu: the frames our Conn writes.
	wmu      sync.Mutex
	dec      wsproto.Decoder
	in       []byte // bytes written and not decoded yet
	msg      []byte // the message being gathered
	msgText  bool
	sentDone bool // our close frame went to the browser

	rdl, wdl deadline // http2.go
}

// viaBrowser reports whether c runs over a browser's WebSocket object,
// which cannot send pings.
func (c *Conn) viaBrowser() bool {
	_, ok := c.nc.(*browserConn)
	return ok
}

// browserSocket is the browser's WebSocket object, as browserConn uses it.
// Its methods must not block; send and close report what the browser
// threw, if anything.
type browserSocket interface {
	// send sends one whole message: a string for text, bytes for binary.
	send(text bool, p []byte) error
	// close starts the closing handshake; code 0 means no code (and no
	// reason): the server then sees 1005.
	close(code int, reason string) error
	// bufferedAmount is how many bytes were passed to send and are not
	// yet on the network.
	bufferedAmount() int
	// release detaches the event handlers; no event reaches the bridge
	// afterwards.
	release()
}

// inboundFrame is one server frame made of a browser event: header and
// payload in one buffer.
type inboundFrame struct {
	b   []byte
	off int
	// headerOnly marks a message over the read limit: its payload was not
	// copied, so the stream ends where b does.
	headerOnly bool
}

// frameOverhead is what a queued frame costs beyond its bytes, counted
// against the queue's bound so that many empty messages are bounded too.
const frameOverhead = 64

// Bounds of the inbound queue: twice the read limit (a message being read
// and as much again behind it), at least minQueued; without a read limit,
// maxQueuedNoLimit.
const (
	minQueued        = 1 << 20
	maxQueuedNoLimit = 1 << 30
)

// sendHighWater is how much data the browser may hold unsent before a new
// message waits for it to drain (bufferedAmount): the browser never makes
// send wait, so this is the writer's only back-pressure.
const sendHighWater = 4 << 20

// sendPoll is how often a waiting writer looks at bufferedAmount again;
// the browser has no event for it.
const sendPoll = 5 * time.Millisecond

// errBrowserGone is the write error once the browser's WebSocket closed.
var errBrowserGone = errors.New("the browser's WebSocket is closed")

// errDroppedPayload is the read error past the header of a message that
// was too big to queue, if the protocol core did not refuse it (the read
// limit was raised after it arrived).
var errDroppedPayload = errors.New("a message over the read limit was dropped when it arrived")

func newBrowserConn(url string, limit int64) *browserConn {
	b := &browserConn{
		url:     url,
		limit:   limit,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		closeEv: make(chan struct{}),
		dec:     wsproto.NewDecoder(wsproto.Config{}), // server's role: our frames are masked
	}
	b.rdl.init(nil)
	b.wdl.init(nil)
	return b
}

// readLimit returns the connection's read limit as it stands.
func (b *browserConn) readLimit() int64 {
	if c := b.conn.Load(); c != nil {
		return c.readLimit.Load()
	}
	return b.limit
}

func maxQueued(limit int64) int64 {
	if limit < 0 {
		return maxQueuedNoLimit
	}
	if limit > maxQueuedNoLimit/2 {
		return maxQueuedNoLimit
	}
	return max(2*limit, minQueued)
}

func (b *browserConn) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// deliver queues a message event of n bytes; fill copies its payload
// into a buffer of that size. It runs in the browser's event handler.
func (b *browserConn) deliver(text bool, n int, fill func([]byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.ended || b.readErr != nil {
		return
	}
	op := wsproto.OpBinary
	if text {
		op = wsproto.OpText
	}
	var hdr [wsproto.MaxHeaderSize]byte
	hlen := wsproto.PutHeader(hdr[:], wsproto.Header{Fin: true, Op: op, Length: int64(n)})
	limit := b.readLimit()
	f := &inboundFrame{}
	if limit >= 0 && int64(n) > limit {
		f.b = append([]byte(nil), hdr[:hlen]...)
		f.headerOnly = true
	} else {
		f.b = make([]byte, hlen+n)
		copy(f.b, hdr[:hlen])
		fill(f.b[hlen:])
	}
	cost := int64(len(f.b)) + frameOverhead
	if bound := maxQueued(limit); b.queued+cost > bound {
		b.overflowLocked(bound)
		return
	}
	b.queue = append(b.queue, f)
	b.queued += cost
	b.signal()
}

// overflowLocked fails the connection: the page left more than bound
// bytes unread. The browser cannot send 1009, so it closes without a code
// (the server sees 1005); reads here report 1009.
func (b *browserConn) overflowLocked(bound int64) {
	b.readErr = &ProtocolError{
		Code:   StatusMessageTooBig,
		Reason: fmt.Sprintf("more than %d bytes arrived that the page did not read (a browser cannot make the server wait)", bound),
	}
	b.queue, b.queued = nil, 0
	b.sock.close(0, "")
	b.signal()
}

// closed records the browser's close event: code and reason as the event
// has them. 1006 (and 1015) mean no close frame came; 1005 a close frame
// without a code.
func (b *browserConn) closeEvent(code int, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.ended = true
	b.closeMsg = fmt.Sprintf("close code %d", code)
	if reason != "" {
		b.closeMsg += fmt.Sprintf(", reason %q", reason)
	}
	close(b.closeEv)
	if b.closed || b.readErr != nil {
		return
	}
	switch code {
	case int(StatusAbnormalClosure), int(StatusTLSHandshake):
	default:
		var payload []byte
		if code != int(StatusNoStatusRcvd) {
			if !StatusCode(code).validOnWire() {
				break // no frame could have carried it: the stream just ends
			}
			if len(reason) > maxCloseReason {
				reason = reason[:maxCloseReason]
			}
			payload = append([]byte{byte(code >> 8), byte(code)}, reason...)
		}
		f := &inboundFrame{b: make([]byte, 2+len(payload))}
		wsproto.PutHeader(f.b, wsproto.Header{Fin: true, Op: wsproto.OpClose, Length: int64(len(payload))})
		copy(f.b[2:], payload)
		b.queue = append(b.queue, f)
		b.queued += int64(len(f.b)) + frameOverhead
	}
	b.signal()
}

// Read returns the next bytes of the server's frame stream.
func (b *browserConn) Read(p []byte) (int, error) {
	for {
		if isClosedChan(b.rdl.wait()) {
			return 0, os.ErrDeadlineExceeded
		}
		b.mu.Lock()
		switch {
		case b.closed:
			b.mu.Unlock()
			return 0, net.ErrClosed
		case len(b.queue) > 0:
			f := b.queue[0]
			n := copy(p, f.b[f.off:])
			f.off += n
			if f.off == len(f.b) {
				b.queue[0] = nil
				b.queue = b.queue[1:]
				b.queued -= int64(len(f.b)) + frameOverhead
				if f.headerOnly {
					b.readErr = errDroppedPayload
					b.queue, b.queued = nil, 0
				}
			}
			b.mu.Unlock()
			return n, nil
		case b.readErr != nil:
			err := b.readErr
			b.mu.Unlock()
			return 0, err
		case b.ended:
			b.mu.Unlock()
			return 0, io.EOF
		}
		b.mu.Unlock()
		select {
		case <-b.wake:
		case <-b.rdl.wait():
		case <-b.done:
		}
	}
}

// Write takes frames our Conn writes, in pieces of any size.
func (b *browserConn) Write(p []byte) (int, error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if isClosedChan(b.wdl.wait()) {
		return 0, os.ErrDeadlineExceeded
	}
	if err := b.writable(); err != nil {
		return 0, err
	}
	if len(b.in) == 0 && !b.dec.InMessage() {
		// A new message: the browser's own buffer is the only place it
		// can wait.
		if err := b.awaitDrain(); err != nil {
			return 0, err
		}
	}
	// The core unmasks in place, and p is not ours to change: copy it in
	// pieces, so that b.in stays small whatever the frame's size.
	const piece = 64 << 10
	for off := 0; off < len(p); {
		n := min(len(p)-off, piece)
		b.in = append(b.in, p[off:off+n]...)
		off += n
		if err := b.decode(); err != nil {
			return off, err
		}
	}
	if cap(b.in) > 2*piece && len(b.in) == 0 {
		b.in = nil
	}
	return len(p), nil
}

// writable reports why nothing can be written, if something prevents it.
func (b *browserConn) writable() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return net.ErrClosed
	case b.readErr != nil && b.readErr != errDroppedPayload:
		return b.readErr
	}
	return nil
}

// awaitDrain waits while the browser holds more than sendHighWater bytes
// unsent, until the write deadline or Close.
func (b *browserConn) awaitDrain() error {
	if b.sock.bufferedAmount() <= sendHighWater {
		return nil
	}
	t := time.NewTicker(sendPoll)
	defer t.Stop()
	for b.sock.bufferedAmount() > sendHighWater {
		select {
		case <-t.C:
		case <-b.wdl.wait():
			return os.ErrDeadlineExceeded
		case <-b.done:
			return net.ErrClosed
		case <-b.closeEv:
			return errBrowserGone
		}
	}
	return nil
}

// decode runs the protocol core over b.in and acts on what it finds.
func (b *browserConn) decode() error {
	r := 0
	defer func() {
		b.in = b.in[:copy(b.in, b.in[r:])]
	}()
	for {
		var ev wsproto.Event
		n, err := b.dec.DecodeInto(b.in[r:], &ev)
		r += n
		if err != nil {
			return fmt.Errorf("frame written to the browser: %w", err)
		}
		switch ev.Kind {
		case wsproto.None:
			if n == 0 {
				return nil
			}
		case wsproto.Data:
			if ev.First {
				b.msgText = ev.Op == wsproto.OpText
				b.msg = b.msg[:0]
			}
			b.msg = append(b.msg, ev.Payload...)
			if ev.Last {
				err := b.sendMessage()
				if cap(b.msg) > 64<<10 {
					b.msg = nil
				}
				if err != nil {
					return err
				}
			}
		case wsproto.Close:
			b.sendClose(ev.Code, string(ev.Payload))
		}
		// Ping and pong frames: see browserConn.
	}
}

func (b *browserConn) sendMessage() error {
	select {
	case <-b.closeEv:
		return errBrowserGone
	default:
	}
	if err := b.sock.send(b.msgText, b.msg); err != nil {
		return fmt.Errorf("the browser refused to send: %w", err)
	}
	return nil
}

// sendClose passes our close frame to the browser. A browser may only
// send 1000 and 3000-4999: any other code (1001, or 1002, 1007, 1009 …
// with which this side fails a connection) goes without a code or reason,
// which the server reads as 1005.
func (b *browserConn) sendClose(code uint16, reason string) {
	if b.sentDone {
		return
	}
	b.sentDone = true
	select {
	case <-b.closeEv:
		return // the browser finished the closing handshake already
	default:
	}
	c, r := browserCloseArgs(code, reason)
	b.sock.close(c, r)
}

// browserCloseArgs maps a close frame's code and reason to the arguments
// of the browser's close: code 0 for none.
func browserCloseArgs(code uint16, reason string) (int, string) {
	if code == wsproto.CloseNormal || code >= 3000 && code <= 4999 {
		return int(code), reason
	}
	return 0, ""
}

// Close ends the bridge: blocked calls return, the queue is dropped and,
// unless our close frame or the server's already went, the browser closes
// the WebSocket without a code (the server sees 1005: a browser cannot
// drop a connection without a close frame).
func (b *browserConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return net.ErrClosed
	}
	b.closed = true
	b.queue, b.queued = nil, 0
	close(b.done)
	ended := b.ended
	b.mu.Unlock()
	b.wmu.Lock()
	sent := b.sentDone
	b.sentDone = true
	b.msg, b.in = nil, nil
	b.wmu.Unlock()
	if !ended && !sent {
		b.sock.close(0, "")
	}
	b.sock.release()
	b.rdl.stop()
	b.wdl.stop()
	return nil
}

func (b *browserConn) LocalAddr() net.Addr  { return browserAddr("browser") }
func (b *browserConn) RemoteAddr() net.Addr { return browserAddr(b.url) }

func (b *browserConn) SetDeadline(t time.Time) error {
	b.rdl.set(t)
	b.wdl.set(t)
	return nil
}

func (b *browserConn) SetReadDeadline(t time.Time) error {
	b.rdl.set(t)
	return nil
}

func (b *browserConn) SetWriteDeadline(t time.Time) error {
	b.wdl.set(t)
	return nil
}

// browserAddr is the address of either end of a browser's WebSocket: the
// page does not see the network, only the URL.
type browserAddr string

func (a browserAddr) Network() string { return "websocket" }
func (a browserAddr) String() string  { return string(a) }
