package suite

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The fuzzing server over HTTP/2 (RFC 8441): an http.Handler for net/http's
// HTTP/2 server (or golang.org/x/net/http2's), which must offer extended
// CONNECT: on Go 1.25 and 1.26 only with GODEBUG=http2xconnect=1 in the
// environment. Each extended CONNECT stream is one fuzzing connection: the
// request body carries what the client sends, the response what the
// fuzzer sends, flushed per write. The handler runs the connection and
// returns when it has ended, which ends the stream.

// HTTP2Handler returns a handler that plays the fuzzing server, with the
// same protocol as Serve (/getCaseCount, /runCase, /updateReports, ...),
// on WebSockets over HTTP/2. It answers other requests with an error. The
// connections it runs end when ctx does.
func (sv *Server) HTTP2Handler(ctx context.Context) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sv.serveStream(ctx, w, r)
	})
}

func (sv *Server) serveStream(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	st := &h2ServerStream{w: w, rc: http.NewResponseController(w), body: r.Body}
	s := newSession(st, true, sv.Options)
	s.srv = sv
	s.exclude = sv.Exclude
	s.onResult = sv.addResult
	// The loop is not running yet: what these post waits for it.
	s.connectionMade()
	s.httpRequest = h2HeaderText([][2]string{
		{":method", r.Method},
		{":protocol", r.Header.Get(":protocol")},
		{":authority", r.Host},
		{":path", r.URL.RequestURI()},
	}, r.Header)
	ext, status, reason := s.processH2Request(r)
	if status != 0 {
		for _, t := range s.timers {
			t.cancel()
		}
		s.httpResponse = h2HeaderText([][2]string{{":status", itoa(status)}}, nil)
		http.Error(w, reason, status)
		return
	}
	// The server's timeouts bound a request from its start; the fuzzer
	// keeps its own.
	st.rc.SetReadDeadline(time.Time{})
	st.rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Server", userAgent)
	if ext != "" {
		h.Set("Sec-WebSocket-Extensions", ext)
	}
	w.WriteHeader(http.StatusOK)
	s.httpResponse = h2HeaderText([][2]string{{":status", "200"}}, h)
	if err := st.rc.Flush(); err != nil {
		s.failHandshake("writing the response: " + err.Error())
	}
	s.run(ctx, func() {
		if s.state == stateConnecting {
			s.opened()
		}
	})
	if s.c != nil {
		sv.caseEnded()
	}
}

// processH2Request checks an extended CONNECT request, as
// processServerHandshake checks an HTTP/1.1 one: no Upgrade, Connection
// or Sec-WebSocket-Key (RFC 8441, section 5), the rest alike.
func (s *session) processH2Request(r *http.Request) (ext string, status int, reason string) {
	protocol := r.Header.Values(":protocol")
	switch {
	case r.ProtoMajor != 2:
		return "", http.StatusHTTPVersionNotSupported, "unsupported HTTP version " + r.Proto + ": this handler serves WebSockets over HTTP/2"
	case r.Method != http.MethodConnect:
		return "", http.StatusMethodNotAllowed, "HTTP method " + r.Method + " not allowed: a WebSocket over HTTP/2 is an extended CONNECT"
	case len(protocol) != 1 || !strings.EqualFold(protocol[0], "websocket"):
		return "", http.StatusBadRequest, ":protocol " + strings.Join(protocol, ", ") + " is not websocket"
	case r.Host == "":
		return "", http.StatusBadRequest, ":authority missing in opening handshake request"
	}
	if v := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Version")); v != "13" && v != "8" {
		return "", http.StatusBadRequest, "missing or unsupported Sec-WebSocket-Version: " + v
	}
	return s.serverNegotiate(r)
}

// h2ServerStream is the fuzzing server's transport over HTTP/2: a
// handler's request body and response.
//
// Its end maps onto TCP's as RFC 8441, section 6, says. Close (TCP's FIN)
// stops reading; the handler then returns, and net/http ends the response
// with END_STREAM (followed by RST_STREAM(NO_ERROR) if the client has not
// ended its side, which HTTP/2 allows a server that has answered). abort
// (TCP's RST) resets the stream at once: net/http's only way to do so from
// a handler, a write deadline in the past, sends RST_STREAM(INTERNAL_ERROR)
// rather than RFC 8441's CANCEL; the client sees a reset either way.
type h2ServerStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	body io.ReadCloser

	mu      sync.Mutex
	writing bool
	closed  bool
}

func (c *h2ServerStream) Read(p []byte) (int, error) { return c.body.Read(p) }

// Write hands p to net/http, which sends it when its buffer fills or at
// Flush.
func (c *h2ServerStream) Write(p []byte) (int, error) {
	if !c.begin() {
		return 0, net.ErrClosed
	}
	defer c.end()
	return c.w.Write(p)
}

func (c *h2ServerStream) Flush() error {
	if !c.begin() {
		return net.ErrClosed
	}
	defer c.end()
	return c.rc.Flush()
}

func (c *h2ServerStream) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writing = !c.closed
	return c.writing
}

func (c *h2ServerStream) end() {
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
}

// Close stops reading; the stream ends when the handler returns. A write
// waiting on a client that does not read cannot finish: the stream is
// reset at once.
func (c *h2ServerStream) Close() error {
	c.mu.Lock()
	c.closed = true
	writing := c.writing
	c.mu.Unlock()
	if writing {
		c.abort()
	}
	return c.body.Close()
}

// abort resets the stream.
func (c *h2ServerStream) abort() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.rc.SetWriteDeadline(time.Unix(1, 0))
	c.body.Close()
}
