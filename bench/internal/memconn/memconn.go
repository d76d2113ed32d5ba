// Package memconn provides in-memory stand-ins for network connections and
// for the net/http server's side of an upgrade, so that the benchmarks
// measure the libraries and not the network.
package memconn

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/bench/internal/wsframe"
)

// Addr is the address both ends of an in-memory connection report.
var Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}

// Replay is a net.Conn whose reads replay a fixed byte sequence over and
// over, as if the peer kept sending it, and whose writes are discarded.
// Every Read fills its buffer completely (up to the limit), like a socket
// whose receive buffer is never empty.
type Replay struct {
	data      []byte
	pos       int
	remaining int64 // bytes left before io.EOF; negative means no end
	written   atomic.Int64
	closed    atomic.Bool
}

// NewReplay returns a connection replaying data without end.
func NewReplay(data []byte) *Replay {
	return &Replay{data: data, remaining: -1}
}

// SetLimit makes reads end with io.EOF after n more bytes; a negative n
// removes the limit. The replay restarts from the beginning of the data.
func (c *Replay) SetLimit(n int64) {
	c.remaining = n
	c.pos = 0
}

// Written returns the number of bytes written so far.
func (c *Replay) Written() int64 { return c.written.Load() }

// Read implements net.Conn.
func (c *Replay) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if c.remaining == 0 {
		return 0, io.EOF
	}
	want := len(p)
	if c.remaining > 0 && int64(want) > c.remaining {
		want = int(c.remaining)
	}
	n := 0
	for n < want {
		k := copy(p[n:want], c.data[c.pos:])
		n += k
		c.pos += k
		if c.pos == len(c.data) {
			c.pos = 0
		}
	}
	if c.remaining > 0 {
		c.remaining -= int64(n)
	}
	return n, nil
}

// Write implements net.Conn; it discards p.
func (c *Replay) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	c.written.Add(int64(len(p)))
	return len(p), nil
}

// Close implements net.Conn.
func (c *Replay) Close() error {
	c.closed.Store(true)
	return nil
}

// Reopen makes a closed Replay usable again.
func (c *Replay) Reopen() { c.closed.Store(false) }

// LocalAddr implements net.Conn.
func (c *Replay) LocalAddr() net.Addr { return Addr }

// RemoteAddr implements net.Conn.
func (c *Replay) RemoteAddr() net.Addr { return Addr }

// SetDeadline implements net.Conn; deadlines are ignored.
func (c *Replay) SetDeadline(t time.Time) error { return nil }

// SetReadDeadline implements net.Conn; deadlines are ignored.
func (c *Replay) SetReadDeadline(t time.Time) error { return nil }

// SetWriteDeadline implements net.Conn; deadlines are ignored.
func (c *Replay) SetWriteDeadline(t time.Time) error { return nil }

// ResponseWriter is the server side of an HTTP/1.1 exchange as net/http
// hands it to a handler: an http.ResponseWriter that can be hijacked, with
// 4 KiB buffered reader and writer like net/http's. It is reusable: Reset
// prepares it for the next request without allocating.
type ResponseWriter struct {
	conn     net.Conn
	header   http.Header
	status   int
	hijacked bool
	brw      *bufio.ReadWriter
	buf      []byte
}

// NewResponseWriter returns a ResponseWriter over conn.
func NewResponseWriter(conn net.Conn) *ResponseWriter {
	w := &ResponseWriter{
		header: make(http.Header),
		brw:    bufio.NewReadWriter(bufio.NewReaderSize(nil, 4096), bufio.NewWriterSize(nil, 4096)),
		buf:    make([]byte, 0, 512),
	}
	w.Reset(conn)
	return w
}

// Reset prepares w for a new request on conn.
func (w *ResponseWriter) Reset(conn net.Conn) {
	w.conn = conn
	clear(w.header)
	w.status = 0
	w.hijacked = false
	w.brw.Reader.Reset(conn)
	w.brw.Writer.Reset(conn)
}

// Status returns the status code written, or 0.
func (w *ResponseWriter) Status() int { return w.status }

// Header implements http.ResponseWriter.
func (w *ResponseWriter) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter. The status line and header
// go out at once, as net/http does for 1xx responses.
func (w *ResponseWriter) WriteHeader(code int) {
	if w.status != 0 || w.hijacked {
		return
	}
	w.status = code
	b := append(w.buf[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\n"...)
	for k, vs := range w.header {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	w.buf = b
	w.conn.Write(b)
}

// Write implements http.ResponseWriter.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.conn.Write(p)
}

// Hijack implements http.Hijacker.
func (w *ResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.conn, w.brw, nil
}

// SampleKey is the Sec-WebSocket-Key of RFC 6455, section 1.3.
const SampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

// UpgradeRequest returns a WebSocket opening handshake request for host, as
// net/http would parse it. extensions, if not empty, is offered as
// Sec-WebSocket-Extensions.
func UpgradeRequest(host, extensions string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, "http://"+host+"/", nil)
	if err != nil {
		panic(err)
	}
	r.RequestURI = "/"
	r.RemoteAddr = Addr.String()
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", SampleKey)
	r.Header.Set("Sec-WebSocket-Version", "13")
	if extensions != "" {
		r.Header.Set("Sec-WebSocket-Extensions", extensions)
	}
	return r
}

// errDeadline is returned by Handshaker reads after a deadline in the past.
var errDeadline = os.ErrDeadlineExceeded

// Handshaker is a net.Conn for a client: it reads the opening handshake
// request written to it and answers with a canned 101 response carrying the
// right Sec-WebSocket-Accept. Reads block until the response is ready and,
// once it is consumed, until the connection is closed, like an idle server.
// Writes after the request are discarded.
type Handshaker struct {
	mu       sync.Mutex
	cond     sync.Cond
	req      []byte
	resp     []byte
	rpos     int
	closed   bool
	deadline bool
}

// NewHandshaker returns a Handshaker ready for a request.
func NewHandshaker() *Handshaker {
	h := &Handshaker{req: make([]byte, 0, 1024), resp: make([]byte, 0, 256)}
	h.cond.L = &h.mu
	return h
}

// Reset prepares h for a new handshake.
func (h *Handshaker) Reset() {
	h.mu.Lock()
	h.req = h.req[:0]
	h.resp = h.resp[:0]
	h.rpos = 0
	h.closed = false
	h.deadline = false
	h.mu.Unlock()
}

// Write implements net.Conn.
func (h *Handshaker) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, net.ErrClosed
	}
	if len(h.resp) > 0 {
		return len(p), nil
	}
	h.req = append(h.req, p...)
	end := indexCRLFCRLF(h.req)
	if end < 0 {
		return len(p), nil
	}
	key := headerValue(h.req[:end], "sec-websocket-key")
	if key == nil {
		h.resp = append(h.resp[:0], "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"...)
	} else {
		b := append(h.resp[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
		b = wsframe.AppendAccept(b, key)
		h.resp = append(b, "\r\n\r\n"...)
	}
	h.cond.Broadcast()
	return len(p), nil
}

// Read implements net.Conn.
func (h *Handshaker) Read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		switch {
		case h.closed:
			return 0, net.ErrClosed
		case h.deadline:
			return 0, errDeadline
		case h.rpos < len(h.resp):
			n := copy(p, h.resp[h.rpos:])
			h.rpos += n
			return n, nil
		}
		h.cond.Wait()
	}
}

// Close implements net.Conn.
func (h *Handshaker) Close() error {
	h.mu.Lock()
	h.closed = true
	h.cond.Broadcast()
	h.mu.Unlock()
	return nil
}

// LocalAddr implements net.Conn.
func (h *Handshaker) LocalAddr() net.Addr { return Addr }

// RemoteAddr implements net.Conn.
func (h *Handshaker) RemoteAddr() net.Addr { return Addr }

// SetDeadline implements net.Conn; see SetReadDeadline.
func (h *Handshaker) SetDeadline(t time.Time) error { return h.SetReadDeadline(t) }

// SetReadDeadline implements net.Conn. Only deadlines already past have an
// effect: they make reads fail, which is how libraries interrupt a read.
func (h *Handshaker) SetReadDeadline(t time.Time) error {
	h.mu.Lock()
	h.deadline = !t.IsZero() && t.Before(time.Now())
	h.cond.Broadcast()
	h.mu.Unlock()
	return nil
}

// SetWriteDeadline implements net.Conn; it is ignored.
func (h *Handshaker) SetWriteDeadline(t time.Time) error { return nil }

// Ring hands out Handshakers round-robin from a fixed set, so that dialing
// allocates nothing of its own. The set is large enough that a connection
// handed out is long closed when its turn comes again.
type Ring struct {
	conns []*Handshaker
	next  atomic.Uint32
}

// NewRing returns a Ring of n Handshakers.
func NewRing(n int) *Ring {
	r := &Ring{conns: make([]*Handshaker, n)}
	for i := range r.conns {
		r.conns[i] = NewHandshaker()
	}
	return r
}

// Next returns the next Handshaker, reset.
func (r *Ring) Next() *Handshaker {
	h := r.conns[int(r.next.Add(1))%len(r.conns)]
	h.Reset()
	return h
}

var errNoNetwork = errors.New("memconn: unexpected network")

// DialContext returns the next Handshaker; its signature fits the libraries'
// dial hooks.
func (r *Ring) DialContext(_ context.Context, network, addr string) (net.Conn, error) {
	return r.Dial(network, addr)
}

// Dial is DialContext without a context.
func (r *Ring) Dial(network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, errNoNetwork
	}
	return r.Next(), nil
}

func indexCRLFCRLF(b []byte) int {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return i
		}
	}
	return -1
}

// headerValue finds the value of the header field name (lower case) in an
// HTTP message head, without allocating.
func headerValue(head []byte, name string) []byte {
	for len(head) > 0 {
		end := 0
		for end < len(head) && head[end] != '\n' {
			end++
		}
		line := head[:end]
		if end < len(head) {
			head = head[end+1:]
		} else {
			head = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) <= len(name) || line[len(name)] != ':' || !equalFoldASCII(line[:len(name)], name) {
			continue
		}
		v := line[len(name)+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		return v
	}
	return nil
}

func equalFoldASCII(b []byte, lower string) bool {
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
