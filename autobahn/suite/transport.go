package suite

import (
	"io"
	"net"
)

// A session runs on a transport: a TCP connection (with or without TLS), as
// Autobahn's do, or one HTTP/2 stream carrying a WebSocket (RFC 8441), in
// h2client.go and h2server.go. The cases cannot tell them apart: they see
// the same octets, and a transport's end maps onto the end of a TCP
// connection as RFC 8441, section 6, says: an orderly close (FIN) is
// END_STREAM, an abort (RST) is RST_STREAM.
type transport interface {
	// Read returns what the peer sent. It fails once the peer has ended
	// its side (io.EOF for FIN or END_STREAM) or aborted, or once Close or
	// abort was called, as a socket's read does after close(2).
	io.Reader
	// Write sends p. Over HTTP/2 it may keep p until Flush.
	io.Writer
	// Close ends the connection in order: what was written goes out, then
	// FIN or END_STREAM. Called while a Write waits on a peer that does
	// not read, it aborts instead.
	Close() error
}

// aborter is a transport with an abort of its own; a TCP connection is
// aborted by closing it with SO_LINGER 0 (dropConnection).
type aborter interface {
	// abort ends the connection at once, discarding what was not sent:
	// RST_STREAM over HTTP/2.
	abort()
}

// flusher is a transport that keeps writes until Flush: an HTTP/2 stream,
// where a write the peer should see on its own (Autobahn's "sync" writes)
// must be a DATA frame of its own, as over TCP it is a segment of its own.
type flusher interface {
	Flush() error
}

// abortTransport ends t at once.
func abortTransport(t transport) {
	if a, ok := t.(aborter); ok {
		a.abort()
		return
	}
	nc, _ := t.(net.Conn)
	if u, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = u.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	t.Close()
}
