package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/internal/wsproto"
)

// StatusCode is a WebSocket close code (RFC 6455, section 7.4).
type StatusCode int

// Close codes defined by RFC 6455 and the IANA registry.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusRcvd            StatusCode = 1005 // never sent; reported when a close frame had no code
	StatusAbnormalClosure         StatusCode = 1006 // never sent; reported when the TCP connection ended without a close frame
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
	StatusTLSHandshake            StatusCode = 1015 // never sent
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "normal closure",
	StatusGoingAway:               "going away",
	StatusProtocolError:           "protocol error",
	StatusUnsupportedData:         "unsupported data",
	StatusNoStatusRcvd:            "no status received",
	StatusAbnormalClosure:         "abnormal closure",
	StatusInvalidFramePayloadData: "invalid frame payload data",
	StatusPolicyViolation:         "policy violation",
	StatusMessageTooBig:           "message too big",
	StatusMandatoryExtension:      "mandatory extension",
	StatusInternalError:           "internal error",
	StatusServiceRestart:          "service restart",
	StatusTryAgainLater:           "try again later",
	StatusBadGateway:              "bad gateway",
	StatusTLSHandshake:            "TLS handshake",
}

// String returns the code and its registered name, such as "1000 (normal closure)".
func (s StatusCode) String() string {
	if name, ok := statusNames[s]; ok {
		return strconv.Itoa(int(s)) + " (" + name + ")"
	}
	return strconv.Itoa(int(s))
}

// validOnWire reports whether s may appear in a close frame: 1000-1003,
// 1007-1014 and the application range 3000-4999.
func (s StatusCode) validOnWire() bool {
	return s >= 0 && s <= 0xffff && wsproto.CodeValidOnWire(uint16(s))
}

// maxCloseReason is the longest reason that fits a control frame after the
// two-byte code.
const maxCloseReason = maxControlPayload - 2

// CloseError tells how a connection ended: the code and reason of the
// close frame the peer sent or, when the connection ended without one
// (the peer vanished, the network failed), StatusAbnormalClosure (1006)
// and no reason. No peer may send 1006; this side reports it in place of
// the missing frame, as RFC 6455, section 7.1.5, has it, so that every
// end of a connection has a code. Reads return it, wrapped, once the
// connection has ended; use errors.As or CloseStatus to get at it.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error describes the close; it has no "websocket:" prefix, as it is
// always returned wrapped in an error that has one.
func (e *CloseError) Error() string {
	switch {
	case e.Code == StatusAbnormalClosure && e.Reason == "":
		return "connection closed without a close frame (1006)"
	case e.Reason == "":
		return fmt.Sprintf("peer closed the connection with %v", e.Code)
	}
	return fmt.Sprintf("peer closed the connection with %v: %q", e.Code, e.Reason)
}

// CloseStatus returns the code of the first *CloseError in err's chain, or
// -1 if there is none: the code of the peer's close frame, or 1006 when
// the connection ended without one. It is the peer's code even where both
// sides closed at once and the peer echoed ours, whose frame it read
// before it sent its own.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// parseClosePayload decodes a received close frame payload (see
// wsproto.ParseClose).
func parseClosePayload(p []byte, checkUTF8 bool) (CloseError, *ProtocolError) {
	code, reason, err := wsproto.ParseClose(p, checkUTF8)
	if err != nil {
		return CloseError{}, protocolErrorOf(err)
	}
	return CloseError{Code: StatusCode(code), Reason: string(reason)}, nil
}

// checkCloseArgs validates what the application asked to send.
func checkCloseArgs(code StatusCode, reason string) error {
	if !code.validOnWire() {
		return fmt.Errorf("websocket: close code %d may not be sent", int(code))
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("websocket: close reason is %d bytes, the limit is %d", len(reason), maxCloseReason)
	}
	if !validUTF8([]byte(reason)) {
		return errors.New("websocket: close reason is not valid UTF-8")
	}
	return nil
}

// A connection's life: open; then our close frame queued (closeQueued)
// and written (closeSent) and the peer's received (closeRcvd), in either
// order; then closed (closeNow), once, with its cause. Every way a
// connection ends goes through the functions below: Close and CloseNow
// from the application, peerClosed from the read side, fail for a peer
// that broke the protocol or a heartbeat that timed out, and
// closeFrameWritten when our close frame is out. A closing handshake that
// nobody waits for is bounded by the end timer.

// Close performs the closing handshake: it sends a close frame with code
// and reason, waits for the peer's close frame, and closes the TCP
// connection. A client first waits for the server to close it, as RFC
// 6455 section 7.1.1 asks, so a server that answers but keeps the TCP
// connection open holds a client's Close until CloseTimeout, and Close
// then returns nil: the handshake completed. The whole handshake is
// bounded by CloseTimeout; when it runs out before the peer's close frame
// came, the TCP connection is closed anyway and Close reports the timeout.
//
// Until the peer's close frame arrives, data messages go to a Read that
// waits for them; while none waits, Close reads on by itself and discards
// them. Once it has discarded one, it discards every message after it
// too, so that a read loop busy between two Reads sees its messages stop,
// never a later one after a gap.
//
// Close returns nil when the handshake completed. Calling it again, or
// after the peer closed, returns ErrClosed. code must be one that may be
// sent (1000-1003, 1007-1014, 3000-4999) and reason at most 123 bytes of
// UTF-8; otherwise Close reports why and closes the connection without a
// handshake, as CloseNow does (the peer sees 1006), so that a Close never
// leaves it open.
//
// On a connection served by a Poller, Close called from a callback of that
// Poller, on any of its loops or of the goroutines serving one connection
// each, returns once the close frame is sent (or queued): waiting would
// hold one of them up, maybe the one that reads the answer. The poller finishes the handshake, bounded by CloseTimeout.
func (c *Conn) Close(code StatusCode, reason string) error {
	return c.CloseContext(context.Background(), code, reason)
}

// CloseContext is Close with ctx bounding the closing handshake as well as
// CloseTimeout: if ctx ends first, the TCP connection is closed at once
// (the peer sees 1006 unless our close frame went out) and CloseContext
// returns an error that wraps ctx's (and its cause, if it was given one),
// so that errors.Is(err, context.DeadlineExceeded) tells it from a timeout
// of CloseTimeout's. A ctx that has ended already closes the connection
// without a handshake, as CloseNow does (on a connection already ended,
// CloseContext returns ErrClosed, as Close does). Use it to give a whole
// shutdown one deadline.
func (c *Conn) CloseContext(ctx context.Context, code StatusCode, reason string) error {
	if err := checkCloseArgs(code, reason); err != nil {
		c.CloseNow()
		return err
	}
	if ctx.Err() != nil {
		if c.CloseNow() != nil {
			return ErrClosed // as Close says after the end
		}
		return closeCutError(ctx)
	}
	hctx, cancel := context.WithTimeout(ctx, c.opts.closeTimeout())
	defer cancel()
	err := c.closeHandshake(hctx, code, reason)
	if err != nil && ctx.Err() != nil && (isCtxErr(err) || errors.Is(err, errCloseTimeout) || errors.Is(err, errCloseSendTimeout)) {
		return closeCutError(ctx)
	}
	return err
}

// closeCutError is what CloseContext returns when its ctx ended first:
// ctx's error, and its cause when the ctx was given one.
func closeCutError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause != nil && cause != err {
		return fmt.Errorf("websocket: closing handshake cut off, connection closed: %w (%w)", err, cause)
	}
	return fmt.Errorf("websocket: closing handshake cut off, connection closed: %w", err)
}

// closeHandshake is CloseContext's handshake, bounded by ctx.
func (c *Conn) closeHandshake(ctx context.Context, code StatusCode, reason string) error {
	c.flags.set(flagClosing)
	sent, err := c.sendClose(ctx, code, reason)
	if err != nil {
		c.closeNow(ErrClosed)
		if ctx.Err() != nil {
			// CloseTimeout, not a caller's ctx: report it as the other
			// timeout of the handshake is.
			return errCloseSendTimeout
		}
		return err
	}
	if !sent {
		return ErrClosed
	}
	if c.onServingGoroutine() {
		c.armEndTimer(errCloseTimeout)
		return nil
	}
	err = c.awaitPeerClose(ctx)
	// On a connection a Poller serves, our close frame may still wait in
	// the write queue behind data the peer has yet to read when its close
	// frame comes: closing now would cut both off.
	if err == nil && !c.awaitCloseSent(ctx) {
		err = errCloseSendTimeout
	}
	c.closeNow(ErrClosed)
	return err
}

// CloseNow closes the TCP connection at once, without a closing handshake.
// Blocked reads and writes return. It returns ErrClosed if the connection
// was already closed. Over HTTP/2 it resets the stream; on a client's side
// it first waits, at most 100 ms, for the transport to send what writes
// handed it, as a TCP connection still sends what it holds after close.
// Over TLS, the close_notify alert that precedes the TCP close, here as
// after Close, waits at most 100 ms for a peer that stopped reading.
func (c *Conn) CloseNow() error {
	if c.isClosed() || !c.closeNow(ErrClosed) {
		return ErrClosed
	}
	return nil
}

// closeNow closes the TCP connection once and records why, and reports
// whether this call closed it. A call that comes while another is closing
// returns once that one is done, as with sync.Once, whose 12 bytes every
// connection would carry.
func (c *Conn) closeNow(why error) (closed bool) {
	c.closeMu.Lock()
	if c.closeStarted {
		var wait chan struct{}
		if !c.closeFinished {
			if c.end().closeDone == nil {
				c.end().closeDone = make(chan struct{})
			}
			wait = c.end().closeDone
		}
		c.closeMu.Unlock()
		if wait != nil {
			<-wait
		}
		return false
	}
	c.closeStarted = true
	c.end().why = why
	if c.ending != nil && c.ending.timer != nil {
		c.ending.timer.Stop()
	}
	c.closeMu.Unlock()
	c.closeTransport()
	c.closeMu.Lock()
	c.closeFinished = true
	if c.ending != nil && c.ending.closeDone != nil {
		close(c.ending.closeDone)
	}
	c.closeMu.Unlock()
	return true
}

// closeSocket closes nc, a connection's transport, which ends for why. A
// TLS connection whose peer stopped taking our writes (a write cut off by
// its ctx or WriteTimeout, a control frame not taken within CloseTimeout)
// is closed underneath, the socket below every layer of TLS (an https
// proxy's too), without TLS' close_notify alert. Elsewhere the
// alert goes out, but crypto/tls would wait up to 5 s of its own for a
// peer to take it: after closeNotifyWait the socket is closed under it.
func closeSocket(nc net.Conn, why error) {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		nc.Close()
		return
	}
	raw := tc.NetConn()
	for inner, ok := raw.(*tls.Conn); ok; inner, ok = raw.(*tls.Conn) {
		raw = inner.NetConn() // TLS to the server inside TLS to a proxy
	}
	if errors.Is(why, errWriteCut) || errors.Is(why, errWriteTimedOut) || errors.Is(why, errControlStuck) {
		raw.Close()
		return
	}
	stop := time.AfterFunc(closeNotifyWait, func() { raw.Close() })
	tc.Close()
	stop.Stop()
}

// closeNotifyWait bounds the wait for the peer to take TLS' close_notify
// alert, which goes out after the closing handshake or none: a courtesy
// no close should wait long for.
const closeNotifyWait = 100 * time.Millisecond

// closeTransport is the work of the one closeNow that closes: it stops
// the heartbeat, wakes every waiter, closes the socket and tells the
// Poller and the Group.
func (c *Conn) closeTransport() {
	c.stopHeartbeat()
	c.closeMu.Lock()
	c.flags.set(flagClosed)
	if ch := c.closed.Load(); ch != nil {
		close(*ch) // the waits inside the library end now
	}
	nc := c.nc // a Poller may replace it (netConn)
	why := c.end().why
	sock := c.detachedSocket()
	c.closeMu.Unlock()
	// Out of the group first: over HTTP/2 Done is the stream's, which
	// nc.Close ends.
	if x := c.extras; x != nil && x.group != nil {
		x.group.remove(c)
	}
	// A ctx that outlives the connection must not keep it.
	c.rd.intr.Release()
	c.wr.intr.Release()
	q := c.wr.queue.Load()
	if q != nil {
		q.sendHeld(c)
	}
	closeSocket(nc, why)
	if sock != nil {
		sock.Close() // nc was detached from it: its Close does nothing
	}
	if hook := testHookTransportClosed.Load(); hook != nil {
		(*hook)()
	}
	if q != nil {
		q.release()
	}
	c.stopControlWatch()
	if c.deflate != nil {
		c.deflate.retire() // its histories go once no read or write touches them
	}
	if ev := c.ev.Load(); ev != nil {
		if l := ev.l.Load(); l != nil {
			l.connClosed(c) // the loop reports the end
		}
	}
	// Done last: whoever waits for it finds the socket closed, the
	// connection out of its group and what whenEnded registered done (a
	// NetConn's ctx released). A function registered while these run is
	// run too; once flagEnded is set, whenEnded runs its own at once.
	for {
		c.closeMu.Lock()
		var onEnd func()
		if c.ending != nil {
			onEnd, c.ending.onEnd = c.ending.onEnd, nil
		}
		if onEnd == nil {
			c.flags.set(flagEnded)
			if c.ending != nil && c.ending.endedCh != nil {
				close(c.ending.endedCh)
			}
			c.closeMu.Unlock()
			return
		}
		c.closeMu.Unlock()
		onEnd()
	}
}

// whenEnded runs f once the connection has ended: at once, on the
// caller's goroutine, if it has already; otherwise on the goroutine that
// ends the connection, at the end of closeTransport, before Done's
// channel is closed. Over HTTP/2, where Done is the stream's, f runs when
// the stream closes, before Done does. f must not block.
func (c *Conn) whenEnded(f func()) {
	if s, ok := c.netConn().(*streamConn); ok {
		s.atClose(f)
		return
	}
	c.closeMu.Lock()
	if c.flags.has(flagEnded) {
		c.closeMu.Unlock()
		f()
		return
	}
	e := c.end()
	if prev := e.onEnd; prev != nil {
		e.onEnd = func() { prev(); f() }
	} else {
		e.onEnd = f
	}
	c.closeMu.Unlock()
}

// testHookTransportClosed, if set, runs in closeTransport right after the
// transport is closed (over HTTP/2, as the stream's Done closes). Atomic:
// connections of a test may still be closing when its cleanup resets it.
var testHookTransportClosed atomic.Pointer[func()]

// ended returns the channel Done returns outside HTTP/2: closed once
// closeTransport is done. It is made on first use, in the ending state,
// as few connections are asked.
func (c *Conn) ended() <-chan struct{} {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.flags.has(flagEnded) {
		return closedChan
	}
	if c.end().endedCh == nil {
		c.end().endedCh = make(chan struct{})
	}
	return c.end().endedCh
}

// armEndTimer bounds the rest of the closing handshake by CloseTimeout
// when no call waits for it: then the connection is closed with why.
func (c *Conn) armEndTimer(why error) {
	c.armEndTimerAfter(c.opts.closeTimeout(), why)
}

// armEndTimerAfter is armEndTimer with a bound of d. A timer set to end
// a handshake the peer did not answer (errCloseTimeout) that finds the
// peer's close frame read meanwhile ends with the handshake's cause: a
// client waiting for the server to close TCP after it answered is not
// waiting for a close frame.
func (c *Conn) armEndTimerAfter(d time.Duration, why error) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.end().timer == nil && !c.isClosed() {
		c.end().timer = time.AfterFunc(d, func() {
			if why == errCloseTimeout && c.peerCloseSeenNow() {
				c.closeNow(c.endCause())
				return
			}
			c.closeNow(why)
		})
	}
}

// sendClose sends a close frame unless one was queued already, and
// reports whether this call sent it. An empty payload is sent for
// StatusNoStatusRcvd.
func (c *Conn) sendClose(ctx context.Context, code StatusCode, reason string) (bool, error) {
	if err := c.frameMu.lockOrClosed(ctx, c); err != nil {
		if errors.Is(err, ErrClosed) {
			return false, nil
		}
		return false, wrapError("websocket: failed to send close frame", err)
	}
	if !c.queueClose(code, reason) {
		c.unlockFrame()
		return false, nil
	}
	_, err := c.flushControl(ctx)
	c.unlockFrame()
	if err != nil {
		return true, wrapError("websocket: failed to send close frame", err)
	}
	return true, nil
}

// closeFrameWritten is called once our close frame is on the wire.
func (c *Conn) closeFrameWritten() {
	c.closeMu.Lock()
	c.closeSent = true
	if c.end().sentCh != nil {
		close(c.end().sentCh)
	}
	failure, linger, peerEOF := c.end().failure, c.lingerOnFail, c.end().peerEOF
	c.closeMu.Unlock()
	switch {
	case failure != nil && (!linger || peerEOF):
		c.closeNow(failure)
	case failure != nil:
		// Half-close, so the peer reads our close frame and then the end
		// of the stream; the reader drains until the peer closes.
		c.closeWrite()
	case peerEOF:
		// The peer's end of the stream came first (deferCloseToFrame):
		// with our close frame out, the handshake is over.
		c.closeNow(c.endCause())
	default:
		c.maybeEnd()
	}
}

// deferCloseToFrame is for a Poller's loop that meets the peer's end of
// the stream after the peer's close frame or our failing of the
// connection: if our close frame is still to be written (behind data the
// socket refused, which the peer may still be reading), it records the
// end of the stream, so that the connection closes once the frame is out
// (closeFrameWritten), and reports true; the end timer that peerClosed or
// fail armed bounds the wait. Otherwise the caller closes at once.
func (c *Conn) deferCloseToFrame() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeSent || !c.flags.has(flagCloseQueued) || c.ending == nil || c.ending.timer == nil {
		return false
	}
	c.ending.peerEOF = true
	return true
}

// ending is the part of a connection's state that only its end needs,
// made on first use under closeMu, so an open connection does not carry it.
type ending struct {
	why     error          // why the connection ended (closeNow), returned by later operations
	rcvd    chan struct{}  // closed when the peer's close frame was read
	sentCh  chan struct{}  // closed with closeSent, made when someone waits for it
	endedCh chan struct{}  // Done's, closed when closeTransport is done (ended)
	peer    CloseError     // the peer's close frame, once peerCloseSeen
	failure *ProtocolError // why we failed the connection, if we did
	timer   *time.Timer    // bounds a closing handshake nobody waits for
	// closeDone is closed when closeNow has finished, made by a second
	// closeNow that has to wait for the first.
	closeDone chan struct{}
	onEnd     func() // whenEnded's, run before endedCh is closed
	// peerEOF is set when a Poller's loop met the peer's end of the
	// stream while our close frame waited to be written
	// (deferCloseToFrame): the frame's write closes the connection.
	peerEOF bool
}

// end returns the ending state; the caller holds closeMu.
func (c *Conn) end() *ending {
	if c.ending == nil {
		c.ending = new(ending)
	}
	return c.ending
}

// awaitCloseSent waits until our close frame is on the wire, the
// connection closed, ctx ended or CloseTimeout passed, and reports
// whether the frame went out.
func (c *Conn) awaitCloseSent(ctx context.Context) (sent bool) {
	c.closeMu.Lock()
	if c.closeSent {
		c.closeMu.Unlock()
		return true
	}
	if c.end().sentCh == nil {
		c.end().sentCh = make(chan struct{})
	}
	ch := c.end().sentCh
	c.closeMu.Unlock()
	t := time.NewTimer(c.opts.closeTimeout())
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-c.done():
	case <-ctx.Done():
	case <-t.C:
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeSent
}

// maybeEnd closes a server's TCP connection once both close frames have
// crossed. A client waits (bounded) for the server to close first, as RFC
// 6455 section 7.1.1 asks: its reader or loop sees the end of the stream.
func (c *Conn) maybeEnd() {
	c.closeMu.Lock()
	done := c.closeSent && c.peerCloseSeen
	c.closeMu.Unlock()
	if done && !c.client {
		c.closeNow(c.endCause())
	}
}

// endCause is why a completed closing handshake ended the connection.
func (c *Conn) endCause() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.ending != nil && c.ending.failure != nil {
		return c.ending.failure // our close frame failed the connection
	}
	if c.flags.has(flagClosing) || !c.peerCloseSeen {
		return ErrClosed
	}
	ce := c.end().peer
	return fmt.Errorf("websocket: %w", &ce)
}

// peerClosed records the peer's close frame and answers it with the same
// code, unless our close frame went first. The read side calls it; it
// never waits.
func (c *Conn) peerClosed(ce CloseError) {
	rcvd := c.closeRcvdCh()
	c.closeMu.Lock()
	c.end().peer = ce
	c.peerCloseSeen = true
	c.closeMu.Unlock()
	close(rcvd)
	c.armEndTimer(ErrClosed)
	if c.queueClose(ce.Code, "") {
		c.kickControl()
		return
	}
	c.maybeEnd()
}

// fail fails the connection (RFC 6455, section 7.1.7): it queues the
// close code of perr unless a close frame was queued before, and closes
// the TCP connection once the frame is out. With linger, it half-closes
// instead, and the reader drains what the peer still sends for a moment
// after our close frame, so that nothing we sent is lost to a TCP reset;
// without, a close frame queued before means closing at once.
func (c *Conn) fail(perr *ProtocolError, linger bool) {
	c.closeMu.Lock()
	if c.end().failure == nil {
		c.end().failure, c.lingerOnFail = perr, linger
	}
	c.flags.set(flagFailing)
	// Once failure is set, closeFrameWritten half-closes after our close
	// frame; if the frame went out before, that is up to this call.
	sentBefore := c.closeSent
	bounded := c.ending.timer != nil
	c.closeMu.Unlock()
	reason := perr.Reason
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	reason = strings.ToValidUTF8(reason, "")
	if !c.queueClose(perr.Code, reason) {
		// Ours was queued before (Close waits for the peer's answer, or
		// an earlier failure queued it): no frame can carry perr's code.
		// Without linger the connection closes now, unless the caller
		// armed the end timer to give the frame being written, and the
		// close frame queued behind it, time to go out (dropSlow): then
		// the close frame's write closes it (closeFrameWritten), as
		// after a first failure. With linger, as after our close frame
		// below, the peer gets that frame and then our end of the
		// stream, while the reader drains what it still sends: closing
		// with its bytes unread would reset the connection and could
		// destroy what we sent last, the close frame included.
		if !linger {
			if sentBefore || !bounded {
				c.closeNow(perr)
			}
			return
		}
		c.armEndTimerAfter(min(maxLinger, c.opts.closeTimeout()), perr)
		if sentBefore {
			c.closeWrite()
		}
		return
	}
	c.armEndTimerAfter(min(maxLinger, c.opts.closeTimeout()), perr)
	c.kickControl()
}

// failure returns why we failed the connection (fail), or nil.
func (c *Conn) failure() *ProtocolError {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.ending == nil {
		return nil
	}
	return c.ending.failure
}

// awaitPeerClose waits for the peer's close frame after ours went out,
// reading by itself when no other goroutine is reading. For a client it
// then waits for the server to close the TCP connection.
func (c *Conn) awaitPeerClose(ctx context.Context) error {
	if c.ev.Load() != nil {
		return c.awaitPeerCloseServed(ctx)
	}
	for {
		locked, err := c.readMu.Lock(ctx, c.closeRcvdCh(), c.done())
		if err != nil {
			return errCloseTimeout
		}
		if locked && c.ev.Load() != nil {
			// Serve took c while this waited: the Poller reads now.
			c.unlockServed()
			return c.awaitPeerCloseServed(ctx)
		}
		if locked {
			err = c.rd.readUntilClose(ctx)
			c.unlockRead()
			if errors.Is(err, errDataPending) {
				// The message goes to the Read that waits for it. Once
				// that Read lets go, Close reads on, unless another Read
				// waits for the next message.
				if !c.awaitReadLetGo(ctx) {
					return errCloseTimeout
				}
			} else if errors.Is(err, context.DeadlineExceeded) {
				return errCloseTimeout
			} else if err != nil && !isPeerClose(err) && !c.peerCloseSeenNow() {
				return err
			}
		}
		select {
		case <-c.closeRcvdCh():
			if c.client {
				c.awaitServerEOF(ctx)
			}
			return nil
		case <-c.done():
			if c.peerCloseSeenNow() {
				return nil
			}
			return c.errAfterClose()
		default:
		}
	}
}

// awaitReadLetGo waits, after Close stepped aside for a Read waiting for
// a message, until the read lock is let go by that Read (or the peer's
// close frame was read, or the connection closed). It reports false if
// ctx ended first. Without it, an application that read that message and
// no more would leave the peer's close frame unread until CloseTimeout.
func (c *Conn) awaitReadLetGo(ctx context.Context) bool {
	// Asked for before the look at the lock, so that a Read letting go in
	// between wakes this (unlockReadSlow sees wantRead).
	readFree := c.pingState().awaitReadFree()
	if !c.readMu.Held() && !c.readMu.HasWaiters() {
		return true // that Read has come and gone
	}
	select {
	case <-readFree:
	case <-c.closeRcvdCh():
	case <-c.done():
	case <-ctx.Done():
		return false
	}
	return true
}

// awaitPeerCloseServed waits for the peer's close frame on a connection a
// Poller reads. A client then waits for the server to close the TCP
// connection, which the loop sees, as awaitServerEOF does.
func (c *Conn) awaitPeerCloseServed(ctx context.Context) error {
	select {
	case <-c.closeRcvdCh():
		if c.client {
			select {
			case <-c.done():
			case <-ctx.Done():
			}
		}
		return nil
	case <-c.done():
		if c.peerCloseSeenNow() {
			return nil
		}
		return c.errAfterClose()
	case <-ctx.Done():
		return errCloseTimeout
	}
}

func (c *Conn) peerCloseSeenNow() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.peerCloseSeen
}

// awaitServerEOF gives the server the chance to close the TCP connection
// first, bounded by ctx.
func (c *Conn) awaitServerEOF(ctx context.Context) {
	if locked, _ := c.readMu.Lock(ctx, c.done(), nil); locked {
		if c.ev.Load() != nil {
			c.unlockServed() // served since the caller looked: the Poller reads
			return
		}
		c.rd.drain(ctx)
		c.unlockRead()
	}
}

var errCloseTimeout = errors.New("websocket: close handshake timed out waiting for the peer's close frame")

// errCloseSendTimeout is what Close reports when its close frame could not
// be sent within CloseTimeout (a write the peer does not read holds the
// connection).
var errCloseSendTimeout = errors.New("websocket: close handshake timed out sending the close frame")

func isPeerClose(err error) bool {
	var ce *CloseError
	return errors.As(err, &ce) && ce.Code != StatusAbnormalClosure
}

// closeRcvdCh returns the channel closed when the peer's close frame has
// been read.
func (c *Conn) closeRcvdCh() chan struct{} {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.end().rcvd == nil {
		c.end().rcvd = make(chan struct{})
	}
	return c.end().rcvd
}

// closeWrite shuts down our sending side, where the transport can.
func (c *Conn) closeWrite() {
	if ev := c.ev.Load(); ev != nil && ev.l.Load() != nil && ev.sock != nil {
		ev.sock.CloseWrite()
		return
	}
	if cw, ok := c.netConn().(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// done returns a channel closed once the TCP connection is closed. It is
// made on first use, so that a connection nobody waits on does not carry
// it; closeNow closes it under closeMu, which orders the two.
func (c *Conn) done() <-chan struct{} {
	if ch := c.closed.Load(); ch != nil {
		return *ch
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if ch := c.closed.Load(); ch != nil {
		return *ch
	}
	ch := make(chan struct{})
	if c.flags.has(flagClosed) {
		close(ch)
	}
	c.closed.Store(&ch)
	return ch
}

// isClosed reports whether the TCP connection has been closed.
func (c *Conn) isClosed() bool { return c.flags.has(flagClosed) }

// errAfterClose is the error operations return once the connection is gone.
func (c *Conn) errAfterClose() error {
	c.closeMu.Lock()
	err := c.end().why
	peer, seen := c.end().peer, c.peerCloseSeen
	c.closeMu.Unlock()
	if err == nil || err == ErrClosed {
		// Closed by Close or CloseNow; say how the peer answered, if it did.
		if seen {
			return fmt.Errorf("%w; the %w", ErrClosed, &peer)
		}
		return ErrClosed
	}
	return err
}
