package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// NetConn wraps c as a net.Conn that carries a byte stream: each Write
// sends one message of type typ (a zero-length Write sends none), and
// Read returns the payload of successive messages back to back. A message
// of the other type makes Read fail with a *ProtocolError and ends the
// connection with 1003 (unsupported data), without waiting for the
// peer's answer. The peer closing normally (1000 or 1001) reads as
// io.EOF.
//
// Use MessageBinary for an arbitrary byte stream (io.Copy, bufio, TLS over
// the conn). With MessageText the stream must be UTF-8 text: a Write that
// ends inside a character (a pipe or a terminal read cut it, as io.Copy's
// buffer may) sends the message up to the last whole character and holds
// back the rest, at most 3 bytes, for the next Write to complete, so that
// every message is valid UTF-8 as RFC 6455 requires of text; Write still
// reports all of p written. Bytes that are not UTF-8 are sent as they
// are, and the peer refuses them with 1007. Close with a character still
// incomplete sends none of it and says so in its error.
//
// Deadlines set on the returned conn bound its reads and writes, those
// already blocked included, as net.Conn requires: a read or write they cut
// off returns os.ErrDeadlineExceeded. A read cut off leaves the conn
// usable; a write cut off mid-message closes it, as a frame cannot be
// finished later (crypto/tls's conns do the same after a write times
// out), and later calls fail. ctx bounds them all, and its end closes
// the connection at once (CloseNow). ctx may outlive the connection (a
// server's base context): nothing stays registered on it once the
// WebSocket has ended, whether or not Close was called.
//
// Close closes the WebSocket with 1000 and waits for the peer's answer as
// Conn.Close does, at most the connection's CloseTimeout; deadlines do
// not shorten it. If the WebSocket has already ended (the peer closed it,
// a read or write failed, ctx ended), or the peer ends it during this
// Close, the first Close returns nil, as closing a socket whose peer has
// gone does; a Close after that returns ErrClosed. Reads and writes after
// Close, and those Close cuts off, return an error that matches both
// net.ErrClosed and ErrClosed (errors.Is), as a closed socket's do.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	n := &netConn{c: c, typ: typ, ctx: ctx}
	n.rd.init(ctx)
	n.wd.init(ctx)
	n.stopClose = context.AfterFunc(ctx, func() { c.CloseNow() })
	// The end of the WebSocket lets go of ctx, so that a long-lived ctx
	// does not keep what it wrapped, Close or no Close.
	c.whenEnded(n.detach)
	return n
}

// detach unregisters the conn from its ctx: the AfterFunc that closes it
// and each direction's context, a child of ctx.
func (n *netConn) detach() {
	n.stopClose()
	n.rd.release()
	n.wd.release()
}

type netConn struct {
	c         *Conn
	typ       MessageType
	ctx       context.Context
	stopClose func() bool

	closed atomic.Bool // Close was called

	// MessageText: the start of a character the last Write ended inside,
	// which the next Write completes. writeMu orders the Writes that
	// share it.
	writeMu sync.Mutex
	held    [utf8.UTFMax - 1]byte
	nheld   int

	readMu sync.Mutex
	reader io.Reader
	ended  error // what every later Read returns: io.EOF, or the message of the other type's failure

	rd, wd ctxDeadline
}

var _ net.Conn = (*netConn)(nil)

// ctxDeadline is one direction's deadline as a context that the deadline
// cancels: operations take the current one, so moving the deadline,
// earlier or later, applies to those already blocked. A context the
// deadline ended is replaced when the deadline moves again. (The streams
// of http2.go wait on a channel instead, deadline; the Conn's operations
// here take a ctx.)
type ctxDeadline struct {
	mu       sync.Mutex
	parent   context.Context
	ctx      context.Context
	cancel   context.CancelCauseFunc // with os.ErrDeadlineExceeded when the deadline passes
	timer    *time.Timer
	at       time.Time // the deadline, zero for none
	released bool      // the WebSocket ended or was closed: nothing is made any more
	closed   bool      // Close ran: a failure since is the close's, not the deadline's
}

func (d *ctxDeadline) init(parent context.Context) {
	d.parent = parent
	d.ctx, d.cancel = context.WithCancelCause(parent)
}

// context returns what an operation in this direction waits under.
func (d *ctxDeadline) context() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctx
}

// set moves the deadline to t; the zero time means none.
func (d *ctxDeadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.released {
		// Nothing waits any more, but the deadline still decides whether
		// an operation reports a timeout or how the WebSocket ended: a
		// caller that clears or renews it must then hear the latter.
		d.at = t
		if context.Cause(d.ctx) == os.ErrDeadlineExceeded {
			d.ctx, d.cancel = context.WithCancelCause(context.Background())
			d.cancel(net.ErrClosed)
		}
		return
	}
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired: the context it cancelled is spent.
		d.ctx, d.cancel = context.WithCancelCause(d.parent)
	} else if d.ctx.Err() != nil && d.parent.Err() == nil {
		d.ctx, d.cancel = context.WithCancelCause(d.parent) // a past deadline cancelled it
	}
	d.timer = nil
	d.at = t
	switch {
	case t.IsZero():
	case !t.After(time.Now()):
		d.cancel(os.ErrDeadlineExceeded)
	default:
		cancel := d.cancel
		d.timer = time.AfterFunc(time.Until(t), func() { cancel(os.ErrDeadlineExceeded) })
	}
}

// markClosed records that the NetConn was closed: operations that fail
// from then on failed on the close.
func (d *ctxDeadline) markClosed() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}

// release stops the deadline's timer and detaches its context from the
// parent's: the WebSocket ended, or the NetConn was closed. An operation
// the deadline had cut still reports it (passed).
func (d *ctxDeadline) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.cancel(net.ErrClosed)
	d.released = true
}

func (n *netConn) Read(p []byte) (int, error) {
	n.readMu.Lock()
	defer n.readMu.Unlock()
	if n.closed.Load() {
		return 0, errNetConnClosed
	}
	if n.ended != nil {
		return 0, n.ended
	}
	if len(p) == 0 && !n.closed.Load() && !n.c.isClosed() {
		return 0, nil // as a TCP connection's: no wait for what p has no room for
	}
	ctx := n.rd.context()
	for {
		if n.reader == nil {
			typ, r, err := n.c.Reader(ctx)
			if err != nil {
				return 0, n.opError(ctx, err)
			}
			if typ != n.typ {
				// The connection ends with 1003 without waiting for the
				// peer's answer, which the read deadline could not bound.
				perr := &ProtocolError{Code: StatusUnsupportedData, Reason: "NetConn received a " + typ.String() + " message"}
				n.c.fail(perr, false)
				n.ended = perr // not a later message, read before the close frame goes out
				return 0, perr
			}
			n.reader = r
		}
		// The message's reader keeps the ctx it was made with; this
		// call's deadline applies.
		n.reader.(*readHandle).ctx = ctx
		k, err := n.reader.Read(p)
		if err == io.EOF {
			n.reader = nil
			if k > 0 {
				return k, nil
			}
			continue
		}
		if err != nil {
			return k, n.opError(ctx, err)
		}
		return k, nil
	}
}

// opError turns an error of the WebSocket into what a net.Conn returns: a
// normal close reads as io.EOF, and a deadline's cut as
// os.ErrDeadlineExceeded (the deadline's context is cancelled, not timed
// out, so that it can be moved while an operation waits). dctx is the
// read deadline's context the Read ran with: once the deadline has
// passed, whatever else ended the Read meanwhile (a write the same
// deadline cut off, which closes the connection) reads as the deadline,
// as for a net.Conn.
func (n *netConn) opError(dctx context.Context, err error) error {
	if n.closed.Load() {
		return errNetConnClosed // our Close ended the read, whatever the peer answered
	}
	switch CloseStatus(err) {
	case StatusNormalClosure, StatusGoingAway:
		n.ended = io.EOF
		return io.EOF
	}
	if n.rd.passed(dctx) {
		return os.ErrDeadlineExceeded
	}
	return err
}

// passed reports whether an operation that ran with dctx, this
// direction's context then, failed on the deadline: dctx was ended by it
// (not by the NetConn's ctx, nor by Close), or the deadline has come even
// if its timer has not fired yet (the other direction's, at the same
// time, may have closed the connection first).
func (d *ctxDeadline) passed(dctx context.Context) bool {
	if context.Cause(dctx) == os.ErrDeadlineExceeded {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.closed && !d.at.IsZero() && !time.Now().Before(d.at)
}

func (n *netConn) Write(p []byte) (int, error) {
	if n.typ == MessageText {
		return n.writeText(p)
	}
	if len(p) == 0 {
		// A stream has nothing to send, as a TCP conn's zero-length
		// Write does; an empty message would be a frame for nothing.
		return 0, n.writable()
	}
	if err := n.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writable returns the error a write would fail with now, if any.
func (n *netConn) writable() error {
	if n.closed.Load() {
		return errNetConnClosed
	}
	if n.c.isClosed() {
		return n.c.errAfterClose()
	}
	if n.wd.passed(n.wd.context()) {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// send sends p as one message.
func (n *netConn) send(p []byte) error {
	ctx := n.wd.context()
	if err := n.c.Write(ctx, n.typ, p); err != nil {
		if n.closed.Load() {
			return errNetConnClosed
		}
		if n.wd.passed(ctx) {
			return os.ErrDeadlineExceeded // see opError
		}
		return err
	}
	return nil
}

// writeText sends p as text messages that end on whole characters: the
// character held back by the last Write, completed by p's first bytes,
// goes out first, as a message of its own (the stream's reader does not
// see message boundaries), and an incomplete character at p's end is
// held back in turn.
func (n *netConn) writeText(p []byte) (int, error) {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	// What is held would never go out: fail as a send would.
	if err := n.writable(); err != nil {
		return 0, err
	}
	rest := p
	if n.nheld > 0 {
		var char [utf8.UTFMax]byte
		k := copy(char[:], n.held[:n.nheld])
		k += copy(char[k:], rest)
		whole := wholeText(char[:k])
		if whole == 0 {
			n.nheld = copy(n.held[:], char[:k]) // still incomplete
			return len(p), nil
		}
		if err := n.send(char[:whole]); err != nil {
			return 0, err // still held: a retry of p completes it
		}
		rest = rest[whole-n.nheld:]
		n.nheld = 0
	}
	whole := wholeText(rest)
	if whole > 0 {
		if err := n.send(rest[:whole]); err != nil {
			return len(p) - len(rest), err
		}
	}
	n.nheld = copy(n.held[:], rest[whole:])
	return len(p), nil
}

// errNetConnClosed is what a NetConn's reads and writes return after its
// Close: code written for sockets looks for net.ErrClosed, code written for
// this package for ErrClosed, and both find it.
var errNetConnClosed error = netConnClosedError{}

type netConnClosedError struct{}

func (netConnClosedError) Error() string { return "websocket: use of closed network connection" }

func (netConnClosedError) Is(target error) bool {
	return target == net.ErrClosed || target == ErrClosed
}

// wholeText returns the length of p without the incomplete character it
// may end with: the start of a multi-byte sequence whose other bytes have
// not come yet. Anything else, invalid bytes included, counts as whole.
func wholeText(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return i
			}
			break
		}
	}
	return len(p)
}

func (n *netConn) Close() error {
	first := n.closed.CompareAndSwap(false, true)
	ended := n.c.isClosed()
	n.stopClose()
	err := n.c.Close(StatusNormalClosure, "")
	n.detach() // done already if the WebSocket ended (whenEnded)
	n.rd.markClosed()
	n.wd.markClosed()
	if held := n.dropHeld(); held > 0 && first {
		return fmt.Errorf("websocket: NetConn closed inside a UTF-8 character: its first %d byte(s) were not sent", held)
	}
	if first && (ended || errors.Is(err, ErrClosed)) {
		// The WebSocket ended before (the peer closed it, a read or
		// write failed, ctx ended): the first Close of the net.Conn
		// succeeds, as closing a socket whose peer has gone does.
		return nil
	}
	return err
}

// dropHeld forgets the incomplete character a text Write held back, and
// returns its length.
func (n *netConn) dropHeld() int {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	held := n.nheld
	n.nheld = 0
	return held
}

func (n *netConn) LocalAddr() net.Addr  { return n.c.LocalAddr() }
func (n *netConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

func (n *netConn) SetDeadline(t time.Time) error {
	n.rd.set(t)
	n.wd.set(t)
	return nil
}

func (n *netConn) SetReadDeadline(t time.Time) error {
	n.rd.set(t)
	return nil
}

func (n *netConn) SetWriteDeadline(t time.Time) error {
	n.wd.set(t)
	return nil
}
