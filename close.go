package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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
	switch {
	case s >= 1000 && s <= 1003, s >= 1007 && s <= 1014:
		return true
	case s >= 3000 && s <= 4999:
		return true
	}
	return false
}

// maxCloseReason is the longest reason that fits a control frame after the
// two-byte code.
const maxCloseReason = maxControlPayload - 2

// CloseError is the close frame the peer sent: its code and reason. Reads
// return it, wrapped, once the peer has closed the connection; use errors.As
// or CloseStatus to get at it.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket: peer closed the connection: %v", e.Code)
	}
	return fmt.Sprintf("websocket: peer closed the connection: %v: %q", e.Code, e.Reason)
}

// CloseStatus returns the code of the first *CloseError in err's chain, or
// -1 if there is none. It is the peer's close code, never one this side sent.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// ProtocolError reports that the peer broke the protocol or a limit. The
// connection has been failed: Code went out in a close frame (where the
// connection still allowed it) and the TCP connection was closed.
type ProtocolError struct {
	Code   StatusCode
	Reason string
	Err    error // a sentinel such as ErrMessageTooBig, or nil
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("websocket: %s (closed with %v)", e.Reason, e.Code)
}

// Unwrap returns the sentinel behind the failure, if any.
func (e *ProtocolError) Unwrap() error { return e.Err }

// Sentinel errors.
var (
	// ErrClosed is returned by operations on a connection that has been closed.
	ErrClosed = errors.New("websocket: use of closed connection")
	// ErrMessageTooBig is wrapped in the *ProtocolError returned when a
	// message exceeds the read limit; the connection is closed with 1009.
	ErrMessageTooBig = errors.New("websocket: message exceeds the read limit")
	// ErrInvalidUTF8 is wrapped in the *ProtocolError returned when a text
	// message or close reason is not valid UTF-8; the connection is closed with 1007.
	ErrInvalidUTF8 = errors.New("websocket: invalid UTF-8")
	// ErrConcurrentRead is returned when a second goroutine reads while
	// another read is in progress. The connection is not affected.
	ErrConcurrentRead = errors.New("websocket: concurrent read on connection")
)

// parseClosePayload decodes a received close frame payload. An empty
// payload means no code (1005). A one-byte payload, a code that is not
// valid on the wire, or a reason that is not UTF-8 is a protocol error.
func parseClosePayload(p []byte, checkUTF8 bool) (CloseError, *ProtocolError) {
	switch len(p) {
	case 0:
		return CloseError{Code: StatusNoStatusRcvd}, nil
	case 1:
		return CloseError{}, &ProtocolError{Code: StatusProtocolError, Reason: "close frame payload of one byte"}
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.validOnWire() {
		return CloseError{}, &ProtocolError{Code: StatusProtocolError, Reason: "invalid close code " + strconv.Itoa(int(code))}
	}
	reason := p[2:]
	if checkUTF8 && !validUTF8(reason) {
		return CloseError{}, &ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "close reason is not valid UTF-8", Err: ErrInvalidUTF8}
	}
	return CloseError{Code: code, Reason: string(reason)}, nil
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

// Close performs the closing handshake: it sends a close frame with code
// and reason, waits for the peer's close frame (reading and discarding data
// messages if nothing else is reading), and closes the TCP connection. The
// whole handshake is bounded by CloseTimeout; when it runs out the TCP
// connection is closed anyway and Close reports the timeout.
//
// Close returns nil when the handshake completed. Calling it again, or
// after the peer closed, returns ErrClosed. code must be one that may be
// sent (1000-1003, 1007-1014, 3000-4999) and reason at most 123 bytes of
// UTF-8.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := checkCloseArgs(code, reason); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.closeTimeout())
	defer cancel()
	c.closing.Store(true)
	sent, err := c.sendClose(ctx, code, reason)
	if err != nil {
		c.closeNow(ErrClosed)
		return err
	}
	if !sent {
		return ErrClosed
	}
	err = c.awaitPeerClose(ctx)
	if err == errCloseAsync {
		return nil
	}
	c.closeNow(ErrClosed)
	return err
}

// CloseNow closes the TCP connection at once, without a closing handshake.
// Blocked reads and writes return. It returns ErrClosed if the connection
// was already closed.
func (c *Conn) CloseNow() error {
	if c.isClosed() {
		return ErrClosed
	}
	c.closeNow(ErrClosed)
	return nil
}

// closeNow closes the TCP connection once and records why.
func (c *Conn) closeNow(why error) {
	c.closeOnce.Do(func() {
		c.closeMu.Lock()
		c.closeErr = why
		c.closeMu.Unlock()
		c.stopHeartbeat()
		c.closedFlag.Store(true)
		close(c.closed)
		c.nc.Close()
		if ev := c.ev.Load(); ev != nil {
			if l := ev.l.Load(); l != nil {
				l.connClosed(c)
			}
		}
		if c.group != nil {
			c.group.remove(c)
		}
	})
}

// sendClose sends a close frame unless one was sent already, and reports
// whether this call sent it. An empty payload is sent for
// StatusNoStatusRcvd.
func (c *Conn) sendClose(ctx context.Context, code StatusCode, reason string) (bool, error) {
	if err := c.frameMu.lockOrClosed(ctx, c.closed); err != nil {
		if errors.Is(err, ErrClosed) {
			return false, nil
		}
		return false, fmt.Errorf("websocket: failed to send close frame: %w", err)
	}
	defer c.frameMu.unlock()
	if c.closeSent {
		return false, nil
	}
	c.closeSent = true
	var p [maxControlPayload]byte
	n := 0
	if code != StatusNoStatusRcvd {
		binary.BigEndian.PutUint16(p[:], uint16(code))
		n = 2 + copy(p[2:], reason)
	}
	if err := c.writeControlLocked(ctx, opClose, p[:n]); err != nil {
		return true, fmt.Errorf("websocket: failed to send close frame: %w", err)
	}
	return true, nil
}

// awaitPeerClose waits for the peer's close frame after ours went out,
// reading by itself when no other goroutine is reading. For a client it
// then waits for the server to close the TCP connection, as RFC 6455
// section 7.1.1 asks.
func (c *Conn) awaitPeerClose(ctx context.Context) error {
	if ev := c.ev.Load(); ev != nil {
		return c.awaitPeerCloseServed(ctx, ev)
	}
	for {
		locked, err := c.readMu.lockUnless(ctx, c.closeRcvdCh(), c.closed)
		if err != nil {
			return errCloseTimeout
		}
		if locked {
			err = c.rd.readUntilClose(ctx)
			c.readMu.unlock()
			if errors.Is(err, errDataPending) {
				// The application reads: it will see the rest, and the
				// peer's close, itself.
				select {
				case <-c.closeRcvdCh():
				case <-c.closed:
				case <-ctx.Done():
					return errCloseTimeout
				}
			} else if errors.Is(err, context.DeadlineExceeded) {
				return errCloseTimeout
			} else if err != nil && !isPeerClose(err) && !c.peerCloseSeen() {
				return err
			}
		}
		select {
		case <-c.closeRcvdCh():
			if c.client {
				c.awaitServerEOF(ctx)
			}
			return nil
		case <-c.closed:
			return c.errAfterClose()
		default:
		}
	}
}

// errCloseAsync tells Close that the poller finishes the handshake.
var errCloseAsync = errors.New("websocket: close handshake left to the poller")

// awaitPeerCloseServed waits for the peer's close frame on a connection a
// Poller reads. Called from a callback, of this connection or of another
// on the same loop, waiting would hold up the loop that reads the answer:
// a timer bounds the handshake instead, and Close returns at once. (Called
// elsewhere while the loop happens to be busy, it returns early too, which
// is harmless.)
func (c *Conn) awaitPeerCloseServed(ctx context.Context, ev *evState) error {
	if l := ev.l.Load(); ev.dispatching.Load() || l != nil && l.isBusy() {
		time.AfterFunc(c.opts.closeTimeout(), func() { c.closeNow(errCloseTimeout) })
		return errCloseAsync
	}
	select {
	case <-c.closeRcvdCh():
		return nil
	case <-c.closed:
		if c.peerCloseSeen() {
			return nil
		}
		return c.errAfterClose()
	case <-ctx.Done():
		return errCloseTimeout
	}
}

func (c *Conn) peerCloseSeen() bool {
	select {
	case <-c.closeRcvdCh():
		return true
	default:
		return false
	}
}

// awaitServerEOF gives the server the chance to close the TCP connection
// first, bounded by ctx.
func (c *Conn) awaitServerEOF(ctx context.Context) {
	if locked, _ := c.readMu.lockUnless(ctx, c.closed, nil); locked {
		c.rd.drain(ctx)
		c.readMu.unlock()
	}
}

var errCloseTimeout = errors.New("websocket: close handshake timed out waiting for the peer's close frame")

func isPeerClose(err error) bool {
	var ce *CloseError
	return errors.As(err, &ce) && ce.Code != StatusAbnormalClosure
}

// peerClosed records the peer's close frame and, if the peer started the
// closing handshake, answers it and ends the connection. It runs on the
// reading goroutine, which holds readMu.
func (c *Conn) peerClosed(ce CloseError) {
	rcvd := c.closeRcvdCh()
	c.closeMu.Lock()
	c.peerClose = ce
	c.closeMu.Unlock()
	close(rcvd)
	timeout := c.opts.closeTimeout()
	if c.rd.inLoop {
		timeout = min(timeout, maxLoopPongWait) // a Poller's loop may not wait long
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sent, _ := c.sendClose(ctx, ce.Code, "")
	if !sent {
		if c.ev.Load() != nil {
			// Close may not be waiting (it returns at once when called
			// from OnMessage): the handshake is complete, so end it here.
			c.closeNow(ErrClosed)
		}
		return // otherwise our Close is waiting and will finish the job
	}
	why := fmt.Errorf("websocket: connection closed by the peer: %w", &ce)
	if c.client && !c.rd.inLoop {
		c.rd.drain(ctx)
	}
	c.closeNow(why)
}

// failConn fails the connection (RFC 6455, section 7.1.7): it sends the
// close code of perr if no close frame went out yet, and closes the TCP
// connection. With linger, it first half-closes and drains what the peer
// still sends for a moment, so our close frame is not lost to a TCP reset;
// only the reading goroutine may linger.
func (c *Conn) failConn(perr *ProtocolError, linger bool) {
	timeout := c.opts.closeTimeout()
	if timeout > time.Second {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reason := perr.Reason
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	reason = strings.ToValidUTF8(reason, "")
	if sent, err := c.sendClose(ctx, perr.Code, reason); sent && err == nil && linger {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		if c.rd.inLoop {
			// A Poller's loop may not wait: it drains as data comes, and
			// the timer ends the connection if the peer never closes.
			time.AfterFunc(timeout, func() { c.closeNow(perr) })
			return
		}
		c.rd.drain(ctx)
	}
	c.closeNow(perr)
}
