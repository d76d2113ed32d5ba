package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fullduplex/websocket/internal/bpool"
	"github.com/fullduplex/websocket/internal/xsync"
	"golang.org/x/net/http/httpguts"
)

// DialOptions configures Dial. The zero value dials directly or through the
// proxy named by the environment, verifies TLS certificates with the
// system's roots, and offers no subprotocol and no compression. The
// connection keeps a pointer to the options; do not modify them while it
// is open.
type DialOptions struct {
	ConnOptions

	// HTTPHeader holds extra header fields for the handshake request, such
	// as Origin, Authorization or User-Agent. Fields the handshake sets
	// itself (Upgrade, Connection, Sec-WebSocket-*) are refused.
	HTTPHeader http.Header

	// Host, if set, is sent as the Host header instead of the URL's host.
	Host string

	// Subprotocols are offered to the server in order of preference. The
	// server's choice, if any, is Conn.Subprotocol.
	Subprotocols []string

	// TLSConfig is used for wss:// URLs and for https:// proxies. When nil,
	// the defaults of crypto/tls apply: certificates are verified against the
	// system roots. ServerName defaults to the host being reached, and the
	// ALPN protocol is always http/1.1.
	TLSConfig *tls.Config

	// Jar, if set, supplies cookies for the request and receives those the
	// response sets.
	Jar http.CookieJar

	// NetDialContext dials TCP connections, to the server or the proxy.
	// When nil, a net.Dialer is used.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Proxy chooses the proxy for a request, as http.Transport.Proxy does:
	// an http:// or https:// proxy URL, with optional user:password for
	// basic proxy authentication, reached with HTTP CONNECT. When nil,
	// http.ProxyFromEnvironment is used (HTTP_PROXY, HTTPS_PROXY, NO_PROXY).
	// Return a nil URL for a direct connection.
	Proxy func(*http.Request) (*url.URL, error)

	// MaxResponseHeaderBytes bounds the head of the server's handshake
	// response and of a proxy's answer to CONNECT: the status line and the
	// header fields, counted with their line ends and the empty line that
	// ends the head. The head may also hold at most one header line per 32
	// bytes of the bound (512 lines by default), since every line costs
	// memory beyond its bytes once parsed. A larger head fails Dial with an
	// error wrapping ErrResponseHeaderTooLarge as soon as it passes either
	// limit, so a hostile server or proxy cannot make Dial hold more than
	// the bound. Zero means DefaultMaxResponseHeaderBytes; negative values
	// are refused.
	MaxResponseHeaderBytes int

	// HTTP2, if set, makes Dial open the WebSocket over HTTP/2 (RFC 8441),
	// as a stream of a connection that HTTP2 keeps and shares with the
	// other Dials given the same HTTP2Transport: many WebSockets to one
	// server on one TCP connection. A wss:// URL negotiates HTTP/2 in the
	// TLS handshake; a ws:// URL speaks HTTP/2 over cleartext at once (h2c
	// with prior knowledge). Proxy, NetDialContext, TLSConfig and the
	// other fields apply as over HTTP/1.1. When the server does not accept
	// WebSockets over HTTP/2 (it does not speak HTTP/2, or does not
	// advertise SETTINGS_ENABLE_CONNECT_PROTOCOL), Dial falls back to an
	// HTTP/1.1 handshake unless HTTP2Only is set; the ProtoMajor of the
	// response Dial returns tells which was used. Client does not use it.
	// Nil, the default, means HTTP/1.1.
	HTTP2 *HTTP2Transport

	// HTTP2Only makes Dial fail, with an error wrapping ErrHTTP2Unsupported
	// that says why, where it would fall back to HTTP/1.1. It needs HTTP2.
	HTTP2Only bool
}

// DefaultMaxResponseHeaderBytes is the bound on a handshake response's head
// unless DialOptions.MaxResponseHeaderBytes says otherwise: 16 KiB. A 101
// response takes a few hundred bytes; 16 KiB is what Node.js accepts by
// default and twice the largest head nginx takes from an upstream by
// default (proxy_buffer_size, one page), so real servers and the proxies
// in front of them stay well below it, while a hostile server can make a
// Dial hold no more than that.
const DefaultMaxResponseHeaderBytes = 16 << 10

// headerLineBytes is how many bytes of MaxResponseHeaderBytes allow one
// header line: a typical line is longer, and a head of many shorter ones
// costs more to parse than its size suggests.
const headerLineBytes = 32

// ErrResponseHeaderTooLarge is wrapped by the error of a Dial whose server
// or proxy sent a response head over DialOptions.MaxResponseHeaderBytes or
// its line limit.
var ErrResponseHeaderTooLarge = errors.New("websocket: handshake response header too large")

// headerTooLargeError reports which head went over which limit; errors.Is
// matches it to ErrResponseHeaderTooLarge.
type headerTooLargeError struct {
	from  string // whose head: "server's handshake" or "proxy's CONNECT"
	limit int
	unit  string // "bytes" or "lines"
}

func (e *headerTooLargeError) Error() string {
	return fmt.Sprintf("%s response header exceeds %d %s", e.from, e.limit, e.unit)
}

func (e *headerTooLargeError) Is(target error) bool { return target == ErrResponseHeaderTooLarge }

func (o *DialOptions) maxResponseHeaderBytes() int {
	if o.MaxResponseHeaderBytes > 0 {
		return o.MaxResponseHeaderBytes
	}
	return DefaultMaxResponseHeaderBytes
}

// defaultDialOptions stands in for nil options; it is only read.
var defaultDialOptions DialOptions

// maxErrorBody is how much of a refused handshake's response body Dial keeps.
const maxErrorBody = 4 << 10

// Dial opens a WebSocket connection to a ws:// or wss:// URL (RFC 6455,
// section 4.1). ctx bounds the whole handshake, including DNS, proxy, TLS
// and the HTTP exchange, to the last byte Dial reads; it does not affect
// the connection once returned.
//
// On a refused or invalid handshake, Dial returns the server's response
// (status, headers and up to 4 KiB of the body) along with an error; a
// *HandshakeError in the chain names the cause. If ctx ends while that
// body is read, the error wraps ctx's error instead and the response holds
// the part of the body that arrived.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &defaultDialOptions
	}
	c, resp, err := dial(ctx, rawURL, opts)
	if err != nil {
		return nil, resp, wrapError("websocket: failed to dial "+rawURL, err)
	}
	return c, resp, nil
}

func dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	req, err := newHandshakeRequest(rawURL, opts)
	if err != nil {
		return nil, nil, err
	}
	if opts.HTTP2 != nil || opts.HTTP2Only {
		return dialHTTP2(ctx, req, opts) // http2_client.go
	}
	nc, err := dialTransport(ctx, req, opts)
	if err != nil {
		return nil, nil, err
	}
	c, resp, err := handshake(ctx, nc, req, opts)
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return c, resp, nil
}

// Client performs the client's opening handshake on nc, a connection the
// caller has already made, and returns the WebSocket connection over it:
// for transports Dial does not know (an SSH channel, a QUIC stream, a
// serial line) and for in-memory tests over net.Pipe.
//
// Client does no dialing, no proxying and no TLS: DialOptions.NetDialContext,
// Proxy and TLSConfig are not used. rawURL gives the request's Host and
// path, and the URL a cookie Jar sees; for a wss:// URL, nc must already be
// secured (pass the *tls.Conn of tls.Client). Everything else in opts
// applies as it does for Dial, and the errors and the response returned on
// a refused handshake are those of Dial.
//
// ctx bounds the handshake by setting deadlines on nc, so it can only
// interrupt a handshake if nc implements deadlines (net.Pipe and every
// net.Conn of the standard library do). From the call on nc belongs to
// the returned Conn: on any failure Client closes it.
func Client(ctx context.Context, nc net.Conn, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &defaultDialOptions
	}
	req, err := newHandshakeRequest(rawURL, opts)
	if err != nil {
		nc.Close()
		return nil, nil, wrapError("websocket: failed to open "+rawURL, err)
	}
	c, resp, err := handshake(ctx, nc, req, opts)
	if err != nil {
		nc.Close()
		return nil, resp, wrapError("websocket: failed to open "+rawURL, err)
	}
	return c, resp, nil
}

// newHandshakeRequest checks the URL and the options of a Dial or Client
// and returns the request to send.
func newHandshakeRequest(rawURL string, opts *DialOptions) (*http.Request, error) {
	u, err := parseWebSocketURL(rawURL)
	if err != nil {
		return nil, err
	}
	if err := checkDialOptions(opts); err != nil {
		return nil, err
	}
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}
	if opts.Host != "" {
		req.Host = opts.Host
	}
	return req, nil
}

// parseWebSocketURL accepts ws, wss, http and https URLs and returns the
// URL with its HTTP scheme, which is what proxies and cookie jars expect.
func parseWebSocketURL(rawURL string) (*url.URL, error) {
	if !strings.Contains(rawURL, "://") {
		// "localhost:8080/ws" would parse with the scheme "localhost".
		return nil, errors.New("the URL must start with ws:// or wss://")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the URL
		}
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return nil, fmt.Errorf("unsupported URL scheme %q: the URL must start with ws:// or wss://", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}
	if u.Fragment != "" {
		return nil, errors.New("URL may not have a fragment")
	}
	return u, nil
}

func checkDialOptions(opts *DialOptions) error {
	if name, ok := checkHeaderFields(opts.HTTPHeader); !ok {
		return fmt.Errorf("invalid header field %q", name)
	}
	for name := range opts.HTTPHeader {
		switch http.CanonicalHeaderKey(name) {
		case "Host", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions":
			return fmt.Errorf("header field %s is set by the handshake", name)
		}
	}
	for _, p := range opts.Subprotocols {
		if !validToken(p) {
			return fmt.Errorf("invalid subprotocol %q", p)
		}
	}
	if opts.Host != "" && !validHostHeader(opts.Host) {
		return fmt.Errorf("invalid Host %q", opts.Host)
	}
	if opts.MaxResponseHeaderBytes < 0 {
		return fmt.Errorf("invalid DialOptions.MaxResponseHeaderBytes %d", opts.MaxResponseHeaderBytes)
	}
	if !opts.Compression.Mode.valid() {
		return fmt.Errorf("invalid DialOptions.Compression.Mode %v", opts.Compression.Mode)
	}
	return nil
}

func validHostHeader(h string) bool {
	return !strings.ContainsAny(h, " \t\r\n/\\?#@")
}

// hostPort returns u's host with the scheme's default port when it has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port != "" && !strings.HasPrefix(u.Host, "[") {
		return u.Host
	}
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// watchHandshake makes blocking I/O on nc return when ctx ends. The stop
// function reports whether ctx ended.
func watchHandshake(ctx context.Context, nc net.Conn) (stop func() bool) {
	if ctx.Done() == nil {
		return neverDone
	}
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	in := new(xsync.Interrupter)
	watch := in.Watch(ctx, nc, xsync.Both)
	return func() bool {
		if in.Unwatch(watch, nc, xsync.Both) {
			return true
		}
		nc.SetDeadline(time.Time{}) // the one from ctx's deadline
		return false
	}
}

// ctxDone returns ctx's error, counting a deadline that has passed as
// exceeded even before ctx's own timer has fired: a network deadline set
// from it can expire first.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func neverDone() bool { return false }

// dialTransport connects to the server, through a proxy if one applies,
// and performs TLS for wss.
func dialTransport(ctx context.Context, req *http.Request, opts *DialOptions) (net.Conn, error) {
	dialFn := opts.NetDialContext
	if dialFn == nil {
		var d net.Dialer
		dialFn = d.DialContext
	}
	proxyFn := opts.Proxy
	if proxyFn == nil {
		proxyFn = http.ProxyFromEnvironment
	}
	proxyURL, err := proxyFn(req)
	if err != nil {
		return nil, fmt.Errorf("failed to choose proxy: %w", err)
	}
	target := hostPort(req.URL)
	var nc net.Conn
	if proxyURL != nil {
		nc, err = dialProxy(ctx, dialFn, proxyURL, target, opts)
	} else {
		nc, err = dialFn(ctx, "tcp", target)
	}
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme == "https" {
		tc, err := tlsHandshake(ctx, nc, req.URL.Hostname(), opts.TLSConfig)
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return nc, nil
}

func tlsHandshake(ctx context.Context, nc net.Conn, serverName string, cfg *tls.Config) (*tls.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	// HTTP/2 has no Upgrade; the WebSocket handshake needs HTTP/1.1.
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s failed: %w", serverName, err)
	}
	return tc, nil
}

// dialProxy opens a tunnel to target through an HTTP or HTTPS proxy with
// CONNECT. The body of a refusal is not read: it would only delay Dial.
func dialProxy(ctx context.Context, dialFn func(context.Context, string, string) (net.Conn, error), proxyURL *url.URL, target string, opts *DialOptions) (net.Conn, error) {
	if proxyURL.Scheme != "http" && proxyURL.Scheme != "https" {
		return nil, fmt.Errorf("unsupported proxy scheme %q", proxyURL.Scheme)
	}
	nc, err := dialFn(ctx, "tcp", hostPort(proxyURL))
	if err != nil {
		return nil, fmt.Errorf("failed to reach proxy %s: %w", proxyURL.Host, err)
	}
	fail := func(err error) (net.Conn, error) {
		nc.Close()
		return nil, err
	}
	if proxyURL.Scheme == "https" {
		tc, err := tlsHandshake(ctx, nc, proxyURL.Hostname(), opts.TLSConfig)
		if err != nil {
			return fail(fmt.Errorf("proxy: %w", err))
		}
		nc = tc
	}
	stop := watchHandshake(ctx, nc)
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u := proxyURL.User; u != nil {
		pass, _ := u.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pass))
		fmt.Fprintf(&b, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	b.WriteString("\r\n")
	connectReq := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: target}}
	var resp *http.Response
	if _, err = io.WriteString(nc, b.String()); err == nil {
		bufp := bpool.GetRead()
		var data []byte
		var head int
		data, head, err = readHead(nc, *bufp, opts.maxResponseHeaderBytes(), "proxy's CONNECT")
		if err == nil {
			// Only the head is parsed: a 2xx answer to CONNECT has no body
			// whatever its header says (RFC 9110, section 9.3.6), and the
			// body of a refusal is not wanted.
			resp, err = http.ReadResponse(bufio.NewReader(bytes.NewReader(data[:head])), connectReq)
		}
		if err == nil && resp.StatusCode == http.StatusOK && len(data) > head {
			err = errors.New("proxy sent data before the tunnel was used")
		}
		bpool.PutRead(bufp)
	}
	if stop() || (err != nil && ctxDone(ctx) != nil) {
		return fail(fmt.Errorf("proxy CONNECT: %w", ctxDone(ctx)))
	}
	if err != nil {
		return fail(fmt.Errorf("proxy CONNECT to %s: %w", target, err))
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("proxy %s refused CONNECT to %s: %s", proxyURL.Host, target, resp.Status))
	}
	return nc, nil
}

// handshake sends the opening request on nc and checks the response.
func handshake(ctx context.Context, nc net.Conn, req *http.Request, opts *DialOptions) (*Conn, *http.Response, error) {
	var keyBytes [16]byte
	rand.Read(keyBytes[:])
	var keyText [24]byte
	base64.StdEncoding.Encode(keyText[:], keyBytes[:])
	key := string(keyText[:])

	// One pooled buffer carries the request out and the response head in.
	bufp := bpool.GetRead()
	defer bpool.PutRead(bufp)
	buf := *bufp

	stop := watchHandshake(ctx, nc)
	request := appendClientRequest(buf[:0], req, key, opts)
	_, err := nc.Write(request)
	var resp *http.Response
	var rest []byte
	if err == nil {
		resp, rest, err = readResponse(nc, req, buf, opts.maxResponseHeaderBytes())
	}
	var bodyErr error
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		// A refusal: keep the start of its body, read while ctx still
		// bounds the reads. The rest is never read (closing the body would
		// drain it); the connection is closed instead.
		var body []byte
		body, bodyErr = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	if stop() || ((err != nil || bodyErr != nil) && ctxDone(ctx) != nil) {
		return nil, resp, fmt.Errorf("handshake: %w", ctxDone(ctx))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read handshake response: %w", err)
	}
	if opts.Jar != nil {
		if cookies := resp.Cookies(); len(cookies) > 0 {
			opts.Jar.SetCookies(req.URL, cookies)
		}
	}
	subprotocol, dp, herr := checkServerResponse(resp, key, opts)
	if herr != nil {
		return nil, resp, herr
	}
	// rest holds frames the server sent right behind its response; newConn
	// copies them before the buffer goes back to the pool.
	return newConn(nc, true, &opts.ConnOptions, subprotocol, rest, dp), resp, nil
}

// readResponse reads the server's response head, at most maxBytes long,
// into buf (or a larger buffer when it does not fit) and parses it. A 101
// response with a plain head is parsed in place with four allocations;
// anything else (an error status with a body, bare LF line ends) goes
// through http.ReadResponse, and the body of a refusal reads on from nc.
// rest is what followed the head of a 101 response.
func readResponse(nc net.Conn, req *http.Request, buf []byte, maxBytes int) (resp *http.Response, rest []byte, err error) {
	data, head, err := readHead(nc, buf, maxBytes, "server's handshake")
	if err != nil {
		return nil, nil, err
	}
	if resp := parseSwitchingResponse(data[:head], req); resp != nil {
		return resp, data[head:], nil
	}
	// The general path: net/http parses the head; a body starts with what
	// followed the head, copied because buf goes back to the pool.
	after := io.MultiReader(bytes.NewReader(bytes.Clone(data[head:])), nc)
	resp, err = http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(data[:head]), after)), req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		rest = data[head:]
	}
	return resp, rest, nil
}

// readHead reads from r up to the end of a response head: the first empty
// line after the status line, lines ending in CRLF or a bare LF as net/http
// reads them. It reads into buf, then into buffers twice as large up to
// maxBytes, and fails, naming the head as from, as soon as the head has
// more than maxBytes bytes or more than maxBytes/headerLineBytes header
// lines. data is everything read, the head being data[:head].
func readHead(r io.Reader, buf []byte, maxBytes int, from string) (data []byte, head int, err error) {
	maxLines := maxBytes / headerLineBytes
	n := 0
	lineStart, lines := 0, 0 // lines counts complete lines, the status line included
	for {
		if n == len(buf) {
			if n >= maxBytes {
				return nil, 0, &headerTooLargeError{from, maxBytes, "bytes"}
			}
			grown := make([]byte, min(2*len(buf), maxBytes))
			copy(grown, buf[:n])
			buf = grown
		}
		m, rerr := r.Read(buf[n:])
		scan := n
		n += m
		for {
			i := bytes.IndexByte(buf[scan:n], '\n')
			if i < 0 {
				break
			}
			end := scan + i + 1
			if line := buf[lineStart:end]; lines > 0 && (len(line) == 1 || len(line) == 2 && line[0] == '\r') {
				if end > maxBytes {
					return nil, 0, &headerTooLargeError{from, maxBytes, "bytes"}
				}
				return buf[:n], end, nil
			}
			lines++
			if lines-1 > maxLines {
				return nil, 0, &headerTooLargeError{from, maxLines, "lines"}
			}
			lineStart, scan = end, end
		}
		if n > maxBytes {
			// The empty line that ends the head comes after byte n.
			return nil, 0, &headerTooLargeError{from, maxBytes, "bytes"}
		}
		if rerr != nil {
			return nil, 0, rerr
		}
	}
}

// knownResponseFields are the canonical names of the fields a 101 response
// carries, so the parser needs no allocation to canonicalize them.
var knownResponseFields = []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Date", "Server", "Set-Cookie"}

// parseSwitchingResponse parses a "101 Switching Protocols" head, or
// returns nil for anything it does not handle plainly.
func parseSwitchingResponse(head []byte, req *http.Request) *http.Response {
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) || (head[12] != ' ' && !bytes.HasPrefix(head[12:], []byte("\r\n"))) {
		return nil
	}
	crlf := bytes.Count(head, []byte("\r\n"))
	lines := crlf - 2 // without the status line and the blank line
	if lines < 0 || bytes.Count(head, []byte("\n")) != crlf || bytes.Count(head, []byte("\r")) != crlf {
		return nil // bare CR or LF
	}
	s := string(head)
	end := strings.Index(s, "\r\n")
	resp := &http.Response{
		Status:     strings.TrimSpace(s[len("HTTP/1.1 "):end]),
		StatusCode: http.StatusSwitchingProtocols,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, lines),
		Body:       http.NoBody,
		Request:    req,
	}
	values := make([]string, lines)
	s = s[end+2 : len(s)-2]
	for i := 0; s != ""; i++ {
		line := s
		if j := strings.Index(s, "\r\n"); j >= 0 {
			line, s = s[:j], s[j+2:]
		} else {
			s = ""
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || !validToken(name) {
			return nil // includes obsolete line folding
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil
		}
		key := canonicalResponseField(name)
		values[i] = value
		resp.Header[key] = append(resp.Header[key], values[i:i+1:i+1]...)
	}
	return resp
}

func canonicalResponseField(name string) string {
	for _, k := range knownResponseFields {
		if strings.EqualFold(name, k) {
			return k
		}
	}
	return http.CanonicalHeaderKey(name)
}

func appendClientRequest(b []byte, req *http.Request, key string, opts *DialOptions) []byte {
	b = append(b, "GET "...)
	b = append(b, req.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, req.Host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\n"...)
	if deflateEnabled(&opts.Compression) {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = append(b, deflateOffer(&opts.Compression)...)
		b = append(b, "\r\n"...)
	}
	if len(opts.Subprotocols) > 0 {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, strings.Join(opts.Subprotocols, ", ")...)
		b = append(b, "\r\n"...)
	}
	h := opts.HTTPHeader
	if u := req.URL.User; u != nil && h.Get("Authorization") == "" {
		pass, _ := u.Password()
		b = append(b, "Authorization: Basic "...)
		b = append(b, base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass))...)
		b = append(b, "\r\n"...)
	}
	for name, values := range h {
		for _, v := range values {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if opts.Jar != nil {
		for _, ck := range opts.Jar.Cookies(req.URL) {
			b = append(b, "Cookie: "...)
			b = append(b, ck.String()...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

// checkServerResponse validates the server's answer (RFC 6455, section
// 4.1) and returns the chosen subprotocol.
func checkServerResponse(resp *http.Response, key string, opts *DialOptions) (string, *deflateParams, *HandshakeError) {
	bad := func(format string, args ...any) (string, *deflateParams, *HandshakeError) {
		return "", nil, &HandshakeError{Status: resp.StatusCode, Reason: fmt.Sprintf(format, args...)}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return bad("server answered %s, not 101 Switching Protocols", resp.Status)
	}
	if !headerContainsToken(resp.Header, "Upgrade", "websocket") {
		return bad(`response Upgrade header does not contain "websocket"`)
	}
	if !headerContainsToken(resp.Header, "Connection", "upgrade") {
		return bad(`response Connection header does not contain "upgrade"`)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return bad("Sec-WebSocket-Accept %q does not match the key sent", got)
	}
	return checkNegotiation(resp, opts)
}

// checkNegotiation checks the extensions and the subprotocol the server
// chose, over HTTP/1.1 and HTTP/2 alike.
func checkNegotiation(resp *http.Response, opts *DialOptions) (string, *deflateParams, *HandshakeError) {
	bad := func(format string, args ...any) (string, *deflateParams, *HandshakeError) {
		return "", nil, &HandshakeError{Status: resp.StatusCode, Reason: fmt.Sprintf(format, args...)}
	}
	var dp *deflateParams
	if exts := resp.Header["Sec-Websocket-Extensions"]; len(exts) > 0 {
		if !deflateEnabled(&opts.Compression) {
			return bad("server chose extensions that were not offered: %s", strings.Join(exts, ", "))
		}
		params, used, err := acceptDeflateResponse(exts, &opts.Compression)
		if err != nil {
			return bad("invalid Sec-WebSocket-Extensions response: %v", err)
		}
		if used {
			dp = &params
		}
	}
	protos := resp.Header["Sec-Websocket-Protocol"]
	switch {
	case len(protos) == 0:
		return "", dp, nil
	case len(protos) > 1:
		return bad("server chose more than one subprotocol")
	}
	for _, p := range opts.Subprotocols {
		if p == protos[0] {
			return p, dp, nil
		}
	}
	return bad("server chose subprotocol %q, which was not offered", protos[0])
}
