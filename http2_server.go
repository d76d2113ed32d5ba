package websocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
)

// The server's side of RFC 8441: Accept hands an HTTP/2 request here. The
// request must be an extended CONNECT (":method CONNECT", ":protocol
// websocket"); the answer is 200 without Sec-WebSocket-Key/Accept (RFC
// 8441, section 5), and the WebSocket runs on the stream: the request body
// in, the response out, flushed after every write.

// extendedConnectOn reports whether the HTTP/2 servers of this process,
// net/http's and golang.org/x/net/http2's, accept extended CONNECT. Go 1.25
// and 1.26 turn it on only with GODEBUG=http2xconnect=1, which they read
// from the environment once, when net/http is initialised: before this
// package is, so this is what they saw. It only decides whether a refusal
// says how to turn it on; a later Go may add a per-server switch
// (golang/go#53208), which this cannot see.
var extendedConnectOn = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// howToEnableServer says what a server needs for WebSockets over HTTP/2.
const howToEnableServer = `start the server with GODEBUG=http2xconnect=1 in its environment, or import _ "github.com/fullduplex/websocket/xconnect" in its main package`

// checkStreamHandshake validates the extended CONNECT request of RFC 8441,
// section 4, and the header fields RFC 6455 keeps (section 5).
func checkStreamHandshake(r *http.Request) *HandshakeError {
	protocol := r.Header[":protocol"]
	switch {
	case r.Method != http.MethodConnect:
		reason := "WebSocket over HTTP/2 needs an extended CONNECT request with :protocol websocket (RFC 8441), not " + r.Method
		if !extendedConnectOn {
			reason += "; this server does not offer extended CONNECT: " + howToEnableServer
		}
		return &HandshakeError{Status: http.StatusBadRequest, Reason: reason}
	case len(protocol) == 0:
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "CONNECT request without :protocol websocket"}
	case len(protocol) != 1 || !equalFoldASCII(protocol[0], "websocket"):
		return &HandshakeError{Status: http.StatusBadRequest, Reason: ":protocol " + strings.Join(protocol, ", ") + " is not websocket"}
	}
	return checkVersion(r.Header) // RFC 8441 keeps the header
}

// rejectStream answers a refused HTTP/2 handshake. HTTP/2 has no Upgrade
// and no Connection header: a 426 only names the version.
func rejectStream(w http.ResponseWriter, herr *HandshakeError) error {
	if herr.Status == http.StatusUpgradeRequired {
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	http.Error(w, herr.Reason, herr.Status)
	return herr
}

// acceptStream completes Accept for an HTTP/2 request that passed the
// checks: it answers 200 and runs the connection on the stream.
func acceptStream(w http.ResponseWriter, r *http.Request, opts *AcceptOptions, subprotocol, extensions string, dp *deflateParams) (*Conn, error) {
	rc := http.NewResponseController(w)
	// The server's ReadTimeout and WriteTimeout bound every stream from
	// its start; the WebSocket connection manages its own. Setting a
	// deadline also proves that a stalled write can be interrupted, which
	// closing the connection needs.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return nil, reject(w, &HandshakeError{Status: http.StatusInternalServerError, Reason: "response writer cannot set deadlines (a wrapper must implement Unwrap): " + err.Error(), Err: err})
	}
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return nil, reject(w, &HandshakeError{Status: http.StatusInternalServerError, Reason: "response writer cannot set deadlines (a wrapper must implement Unwrap): " + err.Error(), Err: err})
	}
	h := w.Header()
	for name, values := range opts.ResponseHeader {
		if http2Forbidden(name) {
			continue // HTTP/1.1's hop-by-hop fields make an HTTP/2 response malformed
		}
		h[name] = append(h[name], values...)
	}
	if subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	if extensions != "" {
		h.Set("Sec-WebSocket-Extensions", extensions)
	}
	w.WriteHeader(http.StatusOK)
	// A failed flush means the stream or its connection ended, but not
	// that the client missed the 200: net/http reports a reset that
	// arrives while the handler waits for the headers' write as a failure
	// even when the headers went out, and the client may have sent
	// messages before its reset. As over TCP when the peer closes right
	// after its handshake, the Conn is made anyway, and it ends below:
	// Read returns what arrived, then 1006. A writer that cannot flush at
	// all is the server's fault, and no stream could work over it.
	flushErr := rc.Flush()
	if errors.Is(flushErr, http.ErrNotSupported) {
		return nil, fmt.Errorf("websocket: failed to write handshake response (a ResponseWriter wrapper must implement Unwrap): %w", flushErr)
	}

	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		local = streamAddr("")
	}
	s := newStreamConn(r.Body, &responseStream{w: w, rc: rc}, local, remoteAddr(r.RemoteAddr))
	c := newConn(s, false, &opts.ConnOptions, subprotocol, nil, dp)
	// The request's context ends when the client resets the stream or the
	// HTTP/2 connection ends. What the client sent before stays readable
	// (net/http serves the body's buffered data before its error), as
	// after a TCP peer's close: a reader reads it, then the end (1006),
	// and closes; a write fails at once. So that a handler waiting for
	// Done returns even if nothing reads, the Conn ends anyway after
	// CloseTimeout.
	stop := context.AfterFunc(r.Context(), func() {
		c.armEndTimer(fmt.Errorf("websocket: %w: the HTTP/2 stream or its connection ended", &CloseError{Code: StatusAbnormalClosure}))
	})
	s.atClose(func() { stop() })
	if flushErr != nil {
		c.armEndTimer(fmt.Errorf("websocket: %w: the HTTP/2 stream ended during the handshake: %w", &CloseError{Code: StatusAbnormalClosure}, flushErr))
	}
	if g := opts.Group; g != nil {
		c.extra().group = g
		if !g.add(c) {
			c.Close(StatusGoingAway, "server shutting down")
			return nil, ErrClosed
		}
	}
	return c, nil
}

// responseStream is the sending half of a server's stream: the response.
type responseStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (o *responseStream) write(p []byte, _ <-chan struct{}) (int, error) {
	n, err := o.w.Write(p)
	if err == nil && !frameHeaderOnly(p) {
		err = o.rc.Flush()
	}
	return n, err
}

// frameHeaderOnly reports whether p is the header of a server frame
// whose payload, over 125 bytes, comes in the next write: the writer sends
// a large frame's header and payload as two writes (write.go) where it
// cannot hand both to one system call. Flushing after the header would
// cost a DATA frame of its own and, on the other side, a read for it; the
// next write flushes both. Nothing else is ever written that looks like
// this: any whole frame of 4 or 10 bytes declares at most 8 bytes of
// payload, and a payload written apart from its header is over 125 bytes.
func frameHeaderOnly(p []byte) bool {
	switch len(p) {
	case 4:
		return p[1] == 126
	case 10:
		return p[1] == 127
	}
	return false
}

// interrupt resets the stream: net/http offers no other way to make a
// write waiting for the peer's flow control return.
func (o *responseStream) interrupt() bool {
	o.rc.SetWriteDeadline(time.Unix(1, 0)) // a deadline that has passed
	return true
}

// close does nothing: the response ends when the handler returns.
func (o *responseStream) close() {}

// remoteAddr turns Request.RemoteAddr into a net.Addr.
func remoteAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return streamAddr(s)
}

// streamAddr is an address known only as text.
type streamAddr string

func (a streamAddr) Network() string { return "tcp" }
func (a streamAddr) String() string  { return string(a) }

// http2Forbidden reports whether name is a connection-specific field,
// which an HTTP/2 message must not carry (RFC 9113, section 8.2.2):
// strict clients refuse the response. net/http drops Connection and
// Transfer-Encoding itself, not the others.
func http2Forbidden(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te":
		return true
	}
	return false
}
