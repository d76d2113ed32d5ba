package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
)

// ProtocolError reports that this side failed the connection: the peer
// broke the protocol or a limit, did not answer the heartbeat in time
// (Err is ErrHeartbeatTimeout), or sent a NetConn a message of the other
// type. Code went out in a close frame (where the connection still
// allowed it) and the TCP connection was closed. A Read failing on a
// violation by the peer returns once the peer has closed its side, or at
// most a second after the close frame: it reads and drops what the peer
// still sends meanwhile, as closing a socket with unread input would
// reset it and could lose the close frame on its way. CloseStatus reports -1 for it: it is the code this side
// sent, not one the peer did.
type ProtocolError struct {
	Code   StatusCode
	Reason string
	Err    error // a sentinel such as ErrMessageTooBig, or nil
}

// Error says what the peer did wrong and the close code it was sent.
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
	// ErrConcurrentWrite is returned by a Writer's Write or Close called
	// while another goroutine's Write or Close on the same writer is in
	// progress: a writer streams one message, from one goroutine at a time.
	// The refused call sends nothing; the message and the connection are
	// not affected. (The Conn's own writes are safe from many goroutines.)
	ErrConcurrentWrite = errors.New("websocket: concurrent use of one message writer")
)

// chainError adds context to an error so that the chain reads as one
// sentence with one "websocket: " prefix: "websocket: failed to dial
// ws://host/: handshake failed: …" rather than repeating the prefix of an
// error of this package that it wraps.
type chainError struct {
	msg string // with its "websocket: " prefix
	err error
}

// wrapError returns err with msg in front, dropping err's own
// "websocket: " prefix from the text; errors.Is and errors.As see err.
func wrapError(msg string, err error) error {
	return &chainError{msg: msg, err: err}
}

func (e *chainError) Error() string {
	return e.msg + ": " + strings.TrimPrefix(e.err.Error(), "websocket: ")
}

func (e *chainError) Unwrap() error { return e.err }

// peerGone reports whether a network error means the connection ended
// under us: the peer closed or reset it, or it was closed. A read or write
// that meets one reports an abnormal closure (1006), as a read of the end
// of the stream does.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		connLost(err)
}

// connLost reports whether err carries one of the system's errors for a
// connection reset or aborted under us, or a write to one the peer shut.
func connLost(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return slices.Contains(lostConnErrnos, errno)
}

// abnormalClosure wraps err, a network error for which peerGone holds,
// into a CloseError with StatusAbnormalClosure, with msg in front if any.
func abnormalClosure(msg string, err error) error {
	if msg == "" {
		return fmt.Errorf("websocket: %w: %w", &CloseError{Code: StatusAbnormalClosure}, err)
	}
	return fmt.Errorf("websocket: %s: %w: %w", msg, &CloseError{Code: StatusAbnormalClosure}, err)
}
