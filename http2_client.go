package websocket

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// The client's side of RFC 8441: Dial with DialOptions.HTTP2 opens the
// WebSocket as an extended CONNECT stream (":method CONNECT", ":protocol
// websocket") of an HTTP/2 connection from golang.org/x/net/http2, whose
// client sends extended CONNECT (net/http's refuses the :protocol
// pseudo-header). The request body is a pipe the Conn writes into; the
// response body is what it reads.

// HTTP2Transport keeps the HTTP/2 connections that Dial opens WebSockets
// on, for DialOptions.HTTP2. Dials given the same HTTP2Transport share a
// connection to the same server (the same scheme, host and port, proxy
// and DialOptions.TLSConfig): each WebSocket is a stream of it, until the
// server's limit of concurrent streams is reached (250 for net/http's
// server) and another connection is opened. A connection is closed when
// its last WebSocket closes.
//
// The zero value is ready to use. An HTTP2Transport is safe for concurrent
// use and must not be copied after its first use.
type HTTP2Transport struct {
	// WriteByteTimeout closes a connection whose writes have made no
	// progress for this long, ending every WebSocket on it (the peer
	// seen as gone, 1006). A server that stopped reading its socket (a
	// host gone silent, a partition) otherwise holds the writes of
	// every WebSocket on the connection, and the connection itself,
	// until TCP gives up, which takes many minutes; a server that only
	// stops reading one WebSocket does not count, as HTTP/2's flow
	// control holds that stream's data back before it reaches the
	// socket. Zero means 30 seconds; a negative value turns it off. It
	// applies to connections opened after it is set.
	WriteByteTimeout time.Duration

	mu      sync.Mutex
	conns   map[h2Key][]*h2Conn
	dialing map[h2Key]chan struct{} // closed when the dial under way ends
}

// defaultWriteByteTimeout is HTTP2Transport.WriteByteTimeout's zero value.
const defaultWriteByteTimeout = 30 * time.Second

func (t *HTTP2Transport) writeByteTimeout() time.Duration {
	switch {
	case t.WriteByteTimeout == 0:
		return defaultWriteByteTimeout
	case t.WriteByteTimeout < 0:
		return 0
	}
	return t.WriteByteTimeout
}

// h2Key tells which Dials may share a connection.
type h2Key struct {
	scheme string // "https", or "http" for h2c
	addr   string // host:port
	proxy  string // the proxy's URL, or ""
	tls    *tls.Config
}

// h2Conn is one HTTP/2 connection of an HTTP2Transport.
type h2Conn struct {
	cc      *http2.ClientConn
	key     h2Key
	streams int // WebSockets on it and Dials about to open one, under HTTP2Transport.mu
	local   net.Addr
	remote  net.Addr
	h2c     *h2cConn // the connection, for h2c: did the server answer in HTTP/1.1?
}

// ErrHTTP2Unsupported is wrapped by the error of a Dial with
// DialOptions.HTTP2Only when the server does not accept WebSockets over
// HTTP/2; the error says why and what to change.
var ErrHTTP2Unsupported = errors.New("websocket: the server does not accept WebSockets over HTTP/2 (RFC 8441)")

// Why a server does not accept WebSockets over HTTP/2.
const (
	noH2ALPN = "it chose HTTP/1.1 in the TLS handshake (ALPN): it does not speak HTTP/2 on this port"
	noH2C    = "it answered the HTTP/2 preface in HTTP/1.1: it does not speak HTTP/2 over cleartext (h2c) on this port"
	noXConn  = "it speaks HTTP/2 but does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL; a Go server needs GODEBUG=http2xconnect=1 in its environment or import _ \"github.com/fullduplex/websocket/xconnect\" in its main package"
)

// dialHTTP2 is Dial with DialOptions.HTTP2 or HTTP2Only set.
func dialHTTP2(ctx context.Context, req *http.Request, opts *DialOptions) (*Conn, *http.Response, error) {
	t := opts.HTTP2
	if t == nil {
		return nil, nil, errors.New("DialOptions.HTTP2Only needs DialOptions.HTTP2")
	}
	counted := 0
	for tries := 1; ; tries++ {
		pc, h1, err := t.conn(ctx, req, opts)
		if err != nil {
			return nil, nil, err
		}
		if pc == nil {
			return fallBackToHTTP1(ctx, req, opts, h1, noH2ALPN)
		}
		// Until its SETTINGS arrive, x/net lets a connection take 100
		// streams: a burst of Dials all reserve one there, and those
		// beyond the server's real limit fail. Such a failure is the
		// burst's, not the server's refusal, and is not counted.
		settled := pc.cc.State().MaxConcurrentStreams != 0
		c, resp, err := t.open(ctx, pc, req, opts)
		switch {
		case err == nil:
			return c, resp, nil
		case isNoExtendedConnect(err):
			return fallBackToHTTP1(ctx, req, opts, nil, noXConn)
		case pc.h2c != nil && pc.h2c.answeredHTTP1.Load():
			return fallBackToHTTP1(ctx, req, opts, nil, noH2C)
		case isStreamNotOpened(err):
			// A stream refused on a connection no other WebSocket uses
			// cannot be blamed on a burst: a server that refuses every
			// stream costs a few connections, not maxStreamTries.
			if settled || t.unused(pc) {
				counted++
			}
			if counted < maxStreamAttempts && tries < maxStreamTries && ctxDone(ctx) == nil {
				continue // on another connection, or this one once it has room
			}
			err = fmt.Errorf("no HTTP/2 connection to the server took the stream in %d attempts: %w", tries, err)
		}
		return nil, resp, err
	}
}

// maxStreamAttempts bounds the refusals a Dial takes from connections
// whose limit of streams it knew, or that no other stream used;
// maxStreamTries bounds all its tries, so
// that a server that accepts no stream at all (a limit of 0, which reads
// as no SETTINGS yet) costs some connections, not a loop. Each try finds
// room on a connection or opens one, and a new connection serves at least
// the server's limit: a burst of up to maxStreamTries times the limit
// gets through.
const (
	maxStreamAttempts = 5
	maxStreamTries    = 32
)

// isStreamNotOpened reports an extended CONNECT that the server never
// processed, which may go again on another connection (RFC 9113, section
// 8.7): the connection had no room for the stream (its reservation was
// made before the server's SETTINGS lowered the limit of concurrent
// streams), the server is shutting the connection down (GOAWAY), or it
// refused the stream (REFUSED_STREAM). x/net/http2 exports only the last;
// its own Transport retries all three.
func isStreamNotOpened(err error) bool {
	var se http2.StreamError
	if errors.As(err, &se) {
		return se.Code == http2.ErrCodeRefusedStream
	}
	switch err.Error() {
	case "http2: client conn not usable", "http2: Transport received Server's graceful shutdown GOAWAY":
		return true
	}
	return false
}

// fallBackToHTTP1 dials the WebSocket over HTTP/1.1, on nc if the server
// chose HTTP/1.1 there already, or fails if DialOptions.HTTP2Only says so.
func fallBackToHTTP1(ctx context.Context, req *http.Request, opts *DialOptions, nc net.Conn, why string) (*Conn, *http.Response, error) {
	if opts.HTTP2Only {
		if nc != nil {
			nc.Close()
		}
		return nil, nil, fmt.Errorf("%w: %s; leave DialOptions.HTTP2Only unset to fall back to HTTP/1.1", ErrHTTP2Unsupported, why)
	}
	// A failure says why HTTP/2 was left: the server that refuses
	// HTTP/1.1 as well is then explained.
	fellBack := func(err error) error {
		return fmt.Errorf("fell back to HTTP/1.1, as over HTTP/2 %s: %w", why, err)
	}
	if nc == nil {
		var err error
		if nc, err = dialTransport(ctx, req, opts); err != nil {
			return nil, nil, fellBack(err)
		}
	}
	c, resp, err := handshake(ctx, nc, req, opts)
	if err != nil {
		nc.Close()
		return nil, resp, fellBack(err)
	}
	return c, resp, nil
}

// isNoExtendedConnect reports x/net's refusal to send extended CONNECT to
// a server that did not allow it, which it does not export.
func isNoExtendedConnect(err error) bool {
	return err.Error() == "net/http: extended connect not supported by peer"
}

// conn returns a connection to the server of req with a stream reserved
// for the caller, which must open or release it. If the server chose
// HTTP/1.1 in the TLS handshake, it returns that connection as h1 instead.
func (t *HTTP2Transport) conn(ctx context.Context, req *http.Request, opts *DialOptions) (pc *h2Conn, h1 net.Conn, err error) {
	proxyFn := opts.Proxy
	if proxyFn == nil {
		proxyFn = http.ProxyFromEnvironment
	}
	proxyURL, err := proxyFn(req)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to choose proxy: %w", err)
	}
	key := h2Key{scheme: req.URL.Scheme, addr: hostPort(req.URL), tls: opts.TLSConfig}
	if proxyURL != nil {
		key.proxy = proxyURL.String()
	}
	for {
		t.mu.Lock()
		for _, pc := range t.conns[key] {
			if pc.cc.ReserveNewRequest() {
				pc.streams++
				t.mu.Unlock()
				return pc, nil, nil
			}
		}
		wait, busy := t.dialing[key]
		if !busy {
			if t.dialing == nil {
				t.dialing = make(map[h2Key]chan struct{})
				t.conns = make(map[h2Key][]*h2Conn)
			}
			wait = make(chan struct{})
			t.dialing[key] = wait
		}
		t.mu.Unlock()
		if busy {
			// One connection at a time per server: wait for the dial under
			// way and share its connection.
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("handshake: %w", ctx.Err())
			}
		}
		pc, h1, err = dialH2(ctx, key, req, opts, proxyURL)
		t.mu.Lock()
		delete(t.dialing, key)
		close(wait)
		if pc != nil {
			pc.cc.ReserveNewRequest()
			pc.streams++
			t.conns[key] = append(t.conns[key], pc)
		}
		t.mu.Unlock()
		return pc, h1, err
	}
}

// unused reports a connection on which no stream is reserved or open.
func (t *HTTP2Transport) unused(pc *h2Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return pc.streams == 0
}

// release gives back the stream conn reserved, and closes the connection
// once no WebSocket uses it.
func (t *HTTP2Transport) release(pc *h2Conn) {
	key := pc.key
	t.mu.Lock()
	pc.streams--
	last := pc.streams == 0
	if last {
		list := t.conns[key]
		for i, x := range list {
			if x == pc {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(t.conns, key)
		} else {
			t.conns[key] = list
		}
	}
	t.mu.Unlock()
	if last {
		go pc.cc.Close() // lingers: see lingerConn
	}
}

// lingerTimeout bounds how long the end of a client's HTTP/2 connection
// waits for the server to close its side.
const lingerTimeout = time.Second

// lingerConn is the TCP connection under a client's HTTP/2 connection.
// Its first Close ends our direction of the stream, then reads and drops
// what the server still sends until the server closes too (at most
// lingerTimeout), and only then closes. A socket closed with unread
// input is reset, and the reset makes the server's kernel drop what the
// server had not read yet: the last messages of the last WebSocket on the
// connection, which CloseNow had seen the transport send. A later Close
// (the transport's read loop ending meanwhile) waits for the first.
// Until HTTP/2 is agreed (linger, set before the transport starts), it
// closes at once: a TLS handshake that chose HTTP/1.1 hands the
// connection to an ordinary Conn.
type lingerConn struct {
	net.Conn
	linger bool
	once   sync.Once
	closed error
}

func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && c.linger && cw.CloseWrite() == nil {
			c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
			io.Copy(io.Discard, c.Conn)
		}
		c.closed = c.Conn.Close()
	})
	return c.closed
}

// dialH2 connects to the server (through the proxy, if any) and starts
// HTTP/2 on the connection: negotiated with TLS for https, with prior
// knowledge for http (h2c).
func dialH2(ctx context.Context, key h2Key, req *http.Request, opts *DialOptions, proxyURL *url.URL) (*h2Conn, net.Conn, error) {
	dialFn := opts.NetDialContext
	if dialFn == nil {
		var d net.Dialer
		dialFn = d.DialContext
	}
	var nc net.Conn
	var err error
	if proxyURL != nil {
		nc, err = dialProxy(ctx, dialFn, proxyURL, key.addr, opts)
	} else {
		nc, err = dialFn(ctx, "tcp", key.addr)
	}
	if err != nil {
		return nil, nil, err
	}
	pc := &h2Conn{key: key, local: nc.LocalAddr(), remote: nc.RemoteAddr()}
	lc := &lingerConn{Conn: nc}
	nc = lc
	if key.scheme == "https" {
		tc, err := tlsHandshakeH2(ctx, nc, req.URL.Hostname(), opts.TLSConfig)
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		if tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
			return nil, tc, nil // HTTP/1.1: its Conn closes as any other
		}
		lc.linger = true
		nc = tc
	} else {
		lc.linger = true
		pc.h2c = &h2cConn{Conn: nc}
		nc = pc.h2c
	}
	tr := &http2.Transport{
		DisableCompression: true, // no Accept-Encoding on a CONNECT
		MaxHeaderListSize:  uint32(min(uint64(opts.maxResponseHeaderBytes()), math.MaxUint32)),
		WriteByteTimeout:   opts.HTTP2.writeByteTimeout(),
	}
	stop := watchHandshake(ctx, nc)
	pc.cc, err = tr.NewClientConn(nc)
	if stop() {
		if pc.cc != nil {
			pc.cc.Close()
		}
		nc.Close()
		return nil, nil, fmt.Errorf("handshake: %w", ctxDone(ctx))
	}
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("failed to start HTTP/2: %w", err)
	}
	return pc, nil, nil
}

// tlsHandshakeH2 is tlsHandshake offering HTTP/2 and HTTP/1.1 with ALPN.
func tlsHandshakeH2(ctx context.Context, nc net.Conn, serverName string, cfg *tls.Config) (*tls.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	cfg.NextProtos = []string{http2.NextProtoTLS, "http/1.1"}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s failed: %w", serverName, err)
	}
	return tc, nil
}

// h2cConn notes whether the server answered our HTTP/2 preface with an
// HTTP/1.1 response, which tells a server without h2c from a broken one.
type h2cConn struct {
	net.Conn
	read          bool // only the HTTP/2 client's read loop reads
	answeredHTTP1 atomic.Bool
}

func (c *h2cConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.read && n > 0 {
		c.read = true
		if bytes.HasPrefix(p[:n], []byte("HTTP/")) {
			c.answeredHTTP1.Store(true)
		}
	}
	return n, err
}

// open sends the extended CONNECT request on the stream reserved on pc and
// returns the connection running on it.
func (t *HTTP2Transport) open(ctx context.Context, pc *h2Conn, req *http.Request, opts *DialOptions) (*Conn, *http.Response, error) {
	// The stream lives as long as its context: detach it from ctx, which
	// only bounds the handshake.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	unwatch := context.AfterFunc(ctx, cancel)
	out := newRequestPipe()
	fail := func(resp *http.Response, err error) (*Conn, *http.Response, error) {
		unwatch()
		cancel()
		out.close()
		t.release(pc)
		return nil, resp, err
	}

	u := *req.URL
	u.User = nil
	hreq := (&http.Request{
		Method:        http.MethodConnect,
		URL:           &u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        streamRequestHeader(req, opts),
		Host:          req.Host,
		Body:          out,
		ContentLength: -1,
	}).WithContext(sctx)
	resp, err := pc.cc.RoundTrip(hreq)
	if err != nil {
		if ctxDone(ctx) != nil {
			err = fmt.Errorf("handshake: %w", ctxDone(ctx))
		}
		return fail(nil, err)
	}
	if opts.Jar != nil {
		if cookies := resp.Cookies(); len(cookies) > 0 {
			opts.Jar.SetCookies(req.URL, cookies)
		}
	}
	body := resp.Body
	resp.Body = http.NoBody
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A refusal: keep the start of its body, read while ctx still
		// bounds the stream.
		b, berr := io.ReadAll(io.LimitReader(body, maxErrorBody))
		body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if berr != nil && ctxDone(ctx) != nil {
			return fail(resp, fmt.Errorf("handshake: %w", ctxDone(ctx)))
		}
		return fail(resp, &HandshakeError{Status: resp.StatusCode, Reason: fmt.Sprintf("server answered %s to the extended CONNECT, not 2xx", resp.Status)})
	}
	if !unwatch() {
		body.Close()
		return fail(resp, fmt.Errorf("handshake: %w", ctxDone(ctx)))
	}
	subprotocol, dp, herr := checkNegotiation(resp, opts)
	if herr != nil {
		body.Close()
		return fail(resp, herr)
	}
	rb := &responseBody{ReadCloser: body, cancel: cancel, closed: make(chan struct{})}
	s := newStreamConn(rb, out, pc.local, pc.remote)
	// Once the stream's context has ended the stream: release the
	// connection (closing it if this was its last WebSocket), then wait
	// for the body's close, which may wait for the connection's writes.
	s.atClose(func() { t.release(pc) })
	s.atClose(rb.closeAndWait)
	return newConn(s, true, &opts.ConnOptions, subprotocol, nil, dp), resp, nil
}

// streamRequestHeader returns the header fields of the extended CONNECT
// request (RFC 8441, section 5): those of RFC 6455 but Upgrade,
// Connection and Sec-WebSocket-Key.
func streamRequestHeader(req *http.Request, opts *DialOptions) http.Header {
	h := make(http.Header, len(opts.HTTPHeader)+5)
	for name, values := range opts.HTTPHeader {
		// Clipped: the cookies appended below must not land in the
		// caller's array, which concurrent Dials share.
		h[name] = values[:len(values):len(values)]
	}
	h[":protocol"] = []string{"websocket"}
	h["Sec-Websocket-Version"] = []string{"13"}
	if deflateEnabled(&opts.Compression) {
		h["Sec-Websocket-Extensions"] = []string{deflateOffer(&opts.Compression)}
	}
	if len(opts.Subprotocols) > 0 {
		h["Sec-Websocket-Protocol"] = []string{strings.Join(opts.Subprotocols, ", ")}
	}
	if u := req.URL.User; u != nil && !hasField(h, "Authorization") {
		pass, _ := u.Password()
		h["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass))}
	}
	if opts.Jar != nil {
		for _, ck := range opts.Jar.Cookies(req.URL) {
			h["Cookie"] = append(h["Cookie"], ck.String())
		}
	}
	return h
}

// responseBody is what the client reads: the response body. Closing it
// ends the stream's context and closes the transport's body on a goroutine
// of its own. The context alone does not reach every wait of the
// transport: a request body write waiting for the server's flow control
// waits on a condition that only the stream's abort signals, and the
// pump's read of the response waited with it, so Close hung. Closing the
// body aborts the stream and breaks the read at once, then waits for the
// stream's end, hence the goroutine; once the stream is released,
// closeAndWait waits for that close to be over.
//
// The transport's body is closed once only: each close gives the
// connection's flow control back what was left unread, so a second one
// gave it twice, and after about 1 GiB given in excess over one
// connection's life x/net panicked (its window past 2^31-1).
type responseBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
	closed chan struct{} // closed once the transport's body is
}

func (b *responseBody) Close() error {
	b.cancel()
	b.once.Do(func() {
		go func() {
			b.ReadCloser.Close()
			close(b.closed)
		}()
	})
	return nil
}

// closeAndWait closes b, if nothing did, and waits for the transport's
// body to be closed, at most maxBodyCloseWait: that close sends the
// connection's flow control what the stream left unread, under the lock
// of the connection's writes, which a write stuck on a server that stopped
// reading its socket holds until the connection closes. CloseNow must
// not wait for that; the close finishes on its goroutine once the
// connection's write fails (HTTP2Transport.WriteByteTimeout) or its last
// WebSocket closes it.
func (b *responseBody) closeAndWait() {
	b.Close()
	t := time.NewTimer(maxBodyCloseWait)
	defer t.Stop()
	select {
	case <-b.closed:
	case <-t.C:
	}
}

// maxBodyCloseWait bounds how long closing a client's stream waits for
// the transport to let go of it.
const maxBodyCloseWait = time.Second

// requestPipe is the request body of the client's stream: the HTTP/2
// transport reads what the Conn writes. A write returns once the transport
// has taken all of it, or when its deadline passes, leaving the stream
// intact; as net.Pipe, it copies nothing in between.
type requestPipe struct {
	wrCh      chan []byte
	rdCh      chan int
	done      chan struct{} // closed by close: the transport reads EOF
	rdone     chan struct{} // closed when the transport closed the body
	eof       chan struct{} // closed when the transport has read EOF
	doneOnce  sync.Once
	rdoneOnce sync.Once
	eofOnce   sync.Once
}

func newRequestPipe() *requestPipe {
	return &requestPipe{
		wrCh:  make(chan []byte),
		rdCh:  make(chan int),
		done:  make(chan struct{}),
		rdone: make(chan struct{}),
		eof:   make(chan struct{}),
	}
}

// Read is the transport's: it takes what a write offers.
func (p *requestPipe) Read(b []byte) (int, error) {
	select {
	case <-p.done:
		return p.end()
	case <-p.rdone:
		return 0, io.ErrClosedPipe
	default:
	}
	select {
	case w := <-p.wrCh:
		n := copy(b, w)
		p.rdCh <- n
		return n, nil
	case <-p.done:
		return p.end()
	case <-p.rdone:
		return 0, io.ErrClosedPipe
	}
}

// end is the transport's read of the end of the body. The transport
// reads on only once it has sent what it read before, so from here on a
// reset of the stream no longer loses a message.
func (p *requestPipe) end() (int, error) {
	p.eofOnce.Do(func() { close(p.eof) })
	return 0, io.EOF
}

// Close is the transport's, when the stream ends.
func (p *requestPipe) Close() error {
	p.rdoneOnce.Do(func() { close(p.rdone) })
	return nil
}

// errRequestEnded is a write to a request body the transport let go:
// the stream was reset or its connection lost.
var errRequestEnded = &streamEndError{errors.New("the transport closed the request body")}

func (p *requestPipe) write(b []byte, expired <-chan struct{}) (int, error) {
	n := 0
	for len(b) > 0 {
		select {
		case p.wrCh <- b:
			k := <-p.rdCh
			b = b[k:]
			n += k
		case <-p.done:
			return n, errStreamClosed
		case <-p.rdone:
			return n, errRequestEnded
		case <-expired:
			return n, os.ErrDeadlineExceeded
		}
	}
	return n, nil
}

// interrupt does nothing: a write waits on its deadline and on close.
func (p *requestPipe) interrupt() bool { return false }

// requestLinger bounds how long close waits for the transport to send
// what a write already handed it. It is short: a transport still holding
// data after it is one the peer's flow control holds back, and a reset
// (CloseNow) should not wait on a peer that has stopped reading.
const requestLinger = 100 * time.Millisecond

// close ends the request body: the transport sends END_STREAM. It returns
// once the transport has read that end, and so has sent every message a
// write handed it before (it takes the body a read at a time, and sends
// what one read took before the next), or once the stream has ended, or
// after requestLinger: a Write returns when the transport has taken its
// bytes, not sent them, and the reset that Close and CloseNow go on to
// would otherwise drop the last message.
func (p *requestPipe) close() {
	p.doneOnce.Do(func() { close(p.done) })
	t := time.NewTimer(requestLinger)
	defer t.Stop()
	select {
	case <-p.eof:
	case <-p.rdone:
	case <-t.C:
	}
}
