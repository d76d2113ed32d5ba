package suite

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// The fuzzing client over HTTP/2 (RFC 8441): each case opens an HTTP/2
// connection of its own (h2c with prior knowledge for ws://, TLS with ALPN
// "h2" for wss://), as over HTTP/1.1 it opens a TCP connection of its own,
// and runs on one extended CONNECT stream of it (":method CONNECT",
// ":protocol websocket"): the request body carries what the fuzzer sends,
// the response body what it receives. golang.org/x/net/http2's client
// sends extended CONNECT once the server has advertised
// SETTINGS_ENABLE_CONNECT_PROTOCOL.
//
// The opening handshake is RFC 8441's: the request has no Upgrade,
// Connection or Sec-WebSocket-Key, the answer is 200 without
// Sec-WebSocket-Accept. What the server chooses (permessage-deflate and its
// parameters, a subprotocol) is checked as over HTTP/1.1.

// dialH2 connects to host and starts HTTP/2 on the connection.
func dialH2(ctx context.Context, u *url.URL, host string, opts Options) (*http2.ClientConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "wss" {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{http2.NextProtoTLS}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
			tc.Close()
			return nil, fmt.Errorf("%s chose %q in the TLS handshake, not HTTP/2", host, p)
		}
		conn = tc
	}
	tr := &http2.Transport{DisableCompression: true}
	cc, err := tr.NewClientConn(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("starting HTTP/2: %w", err)
	}
	return cc, nil
}

// runCaseH2 is RunCase over HTTP/2.
func runCaseH2(ctx context.Context, cc ClientCase, c *Case, id string, u *url.URL, host string, opts Options) (*Result, error) {
	hc, err := dialH2(ctx, u, host, opts)
	if err != nil {
		return nil, err
	}
	defer hc.Close()
	st := newH2ClientStream(opts.stretch(closeHandshakeTimeout))
	defer st.finish()

	s := newSession(st, false, opts)
	s.setCase(c, caseNumber(id))
	s.agent = cc.Agent
	s.exclude = cc.Exclude
	var res *Result
	s.onResult = func(r *Result) { res = r }
	req := s.h2ClientRequest(u, cc.Origin, cc.Protocols)
	req.Body = st.reqBody
	req = req.WithContext(st.ctx)
	// The loop is not running yet: what these post waits for it.
	s.connectionMade()
	st.roundTrip(hc, req, func(resp *http.Response, err error) {
		s.loop.post(func() { s.processH2Response(st, resp, err) })
	})
	s.run(ctx, func() {})
	return res, nil
}

// h2ClientRequest builds the extended CONNECT request for u: the header
// fields of the HTTP/1.1 request but Host (now :authority), Upgrade,
// Connection and Sec-WebSocket-Key (RFC 8441, section 5).
func (s *session) h2ClientRequest(u *url.URL, origin string, protocols []string) *http.Request {
	target := *u
	target.Scheme = "http"
	if u.Scheme == "wss" {
		target.Scheme = "https"
	}
	target.User = nil
	target.Fragment = ""
	h := http.Header{}
	h.Set(":protocol", "websocket")
	h.Set("User-Agent", userAgent)
	h.Set("Pragma", "no-cache")
	h.Set("Cache-Control", "no-cache")
	if origin != "" {
		h.Set("Origin", origin)
	}
	if len(protocols) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(protocols, ","))
	}
	if len(s.offers) > 0 {
		var exts []string
		for _, o := range s.offers {
			exts = append(exts, o.String())
		}
		h.Set("Sec-WebSocket-Extensions", strings.Join(exts, ", "))
	}
	h.Set("Sec-WebSocket-Version", "13")
	path := target.EscapedPath()
	if path == "" {
		path = "/"
	}
	if target.RawQuery != "" {
		path += "?" + target.RawQuery
	}
	s.httpRequest = h2HeaderText([][2]string{
		{":method", http.MethodConnect},
		{":protocol", "websocket"},
		{":scheme", target.Scheme},
		{":authority", target.Host},
		{":path", path},
	}, h)
	return &http.Request{
		Method:        http.MethodConnect,
		URL:           &target,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		Host:          target.Host,
		ContentLength: -1,
	}
}

// processH2Response checks the answer to the extended CONNECT, as
// processClientHandshake checks an HTTP/1.1 answer.
func (s *session) processH2Response(st *h2ClientStream, resp *http.Response, err error) {
	if resp != nil {
		st.setBody(resp.Body)
	}
	if s.state != stateConnecting {
		return
	}
	if err != nil {
		s.failHandshake("extended CONNECT failed: " + err.Error())
		return
	}
	pseudo := [][2]string{{":status", fmt.Sprint(resp.StatusCode)}}
	s.httpResponse = h2HeaderText(pseudo, resp.Header)
	if resp.ProtoMajor != 2 {
		s.failHandshake(fmt.Sprintf("Unsupported HTTP version ('%s')", resp.Proto))
		return
	}
	if resp.StatusCode != http.StatusOK {
		s.failHandshake(fmt.Sprintf("WebSocket connection over HTTP/2 refused (%s): RFC 8441 requires 200", resp.Status))
		return
	}
	s.clientNegotiated(resp.Header)
}

// h2HeaderText renders an HTTP/2 header block for the reports: the pseudo
// header fields in order, then the others, sorted, one per line.
func h2HeaderText(pseudo [][2]string, h http.Header) string {
	var b strings.Builder
	for _, p := range pseudo {
		fmt.Fprintf(&b, "%s: %s\r\n", p[0], p[1])
	}
	names := make([]string, 0, len(h))
	for name := range h {
		if !strings.HasPrefix(name, ":") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range h[name] {
			fmt.Fprintf(&b, "%s: %s\r\n", strings.ToLower(name), v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// h2ClientStream is the fuzzing client's transport over HTTP/2: one
// extended CONNECT stream.
//
// Its end maps onto TCP's as RFC 8441, section 6, says. Close (TCP's FIN)
// ends the request body, so x/net sends END_STREAM after what was written;
// reads go on until the server ends its side, as a TCP connection's do
// until the peer's FIN, but at most drain: then, and on abort (TCP's RST),
// the stream is reset with RST_STREAM(CANCEL), which x/net sends when the
// request's context ends.
type h2ClientStream struct {
	ctx     context.Context // the request's: cancelling it resets the stream
	cancel  context.CancelFunc
	reqBody *io.PipeReader
	pw      *io.PipeWriter
	drain   time.Duration

	ready chan struct{} // closed once body is set or the stream was reset
	body  io.ReadCloser
	rtErr error // set before ready closes when there is no body
	rtEnd chan struct{}

	pending []byte // written, not yet flushed: one writer at a time

	mu       sync.Mutex
	writing  bool
	closed   bool
	readyHit bool
	timer    *time.Timer
}

func newH2ClientStream(drain time.Duration) *h2ClientStream {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	return &h2ClientStream{
		ctx:     ctx,
		cancel:  cancel,
		reqBody: pr,
		pw:      pw,
		drain:   drain,
		ready:   make(chan struct{}),
		rtEnd:   make(chan struct{}),
	}
}

// roundTrip sends the request and calls done with the answer, on a
// goroutine of its own so that the event loop (and the opening handshake's
// timer) keep running.
func (c *h2ClientStream) roundTrip(hc *http2.ClientConn, req *http.Request, done func(*http.Response, error)) {
	go func() {
		defer close(c.rtEnd)
		resp, err := hc.RoundTrip(req)
		// done posts to the loop: the verdict on the handshake comes
		// before the end of the stream the reader then sees.
		done(resp, err)
		if err != nil {
			c.mu.Lock()
			if !c.readyHit {
				c.readyHit = true
				c.rtErr = err
				close(c.ready)
			}
			c.mu.Unlock()
		}
	}()
}

// setBody makes the response body what Read reads.
func (c *h2ClientStream) setBody(body io.ReadCloser) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.body = body
	if !c.readyHit {
		c.readyHit = true
		close(c.ready)
	}
}

var errStreamReset = errors.New("HTTP/2 stream reset by the fuzzer")

func (c *h2ClientStream) Read(p []byte) (int, error) {
	<-c.ready
	c.mu.Lock()
	body, err := c.body, c.rtErr
	c.mu.Unlock()
	if body == nil {
		if err == nil {
			err = errStreamReset
		}
		return 0, err
	}
	return body.Read(p)
}

func (c *h2ClientStream) Write(p []byte) (int, error) {
	c.pending = append(c.pending, p...)
	return len(p), nil
}

// Flush hands what was written to the transport, which sends it as DATA
// frames before it takes anything else.
func (c *h2ClientStream) Flush() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.pending = c.pending[:0]
		return net.ErrClosed
	}
	c.writing = true
	c.mu.Unlock()
	_, err := c.pw.Write(c.pending)
	c.pending = c.pending[:0]
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
	return err
}

// Close sends END_STREAM after what was flushed, and resets the stream if
// the server has not ended its side within drain. A Flush waiting on a
// server that does not read cannot finish: the stream is reset at once.
func (c *h2ClientStream) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	writing := c.writing
	if !writing {
		c.timer = time.AfterFunc(c.drain, c.abort)
	}
	c.mu.Unlock()
	if writing {
		c.abort()
		return nil
	}
	c.pw.Close()
	return nil
}

// abort resets the stream: RST_STREAM(CANCEL).
func (c *h2ClientStream) abort() {
	c.mu.Lock()
	c.closed = true
	if !c.readyHit {
		c.readyHit = true
		close(c.ready)
	}
	c.mu.Unlock()
	c.cancel()
	c.pw.CloseWithError(errStreamReset)
}

// finish releases the stream once the session is over.
func (c *h2ClientStream) finish() {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.abort()
	<-c.rtEnd
	c.mu.Lock()
	body := c.body
	c.mu.Unlock()
	if body != nil {
		body.Close()
	}
}
