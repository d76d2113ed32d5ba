package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fullduplex/websocket/internal/xsync"
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
	// itself (Host, which DialOptions.Host sets; Upgrade, Connection,
	// Sec-WebSocket-Key, -Version, -Protocol and -Extensions) are refused.
	HTTPHeader http.Header

	// Host, if set, is sent as the Host header instead of the URL's host.
	Host string

	// Subprotocols are offered to the server in order of preference. The
	// server's choice, if any, is Conn.Subprotocol.
	Subprotocols []string

	// TLSConfig is used for wss:// URLs and for https:// proxies. When nil,
	// the defaults of crypto/tls apply: certificates are verified against the
	// system roots. ServerName defaults to the host being reached; set,
	// it names the server and an https:// proxy alike, as with
	// net/http's Transport. The
	// ALPN protocols offered are set by Dial, whatever NextProtos holds:
	// http/1.1, or h2 and http/1.1 when HTTP2 is set.
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
	// are refused. Over HTTP/2 (see HTTP2) the bound goes to the server as
	// SETTINGS_MAX_HEADER_LIST_SIZE and x/net/http2 enforces it while it
	// decodes: a larger response fails Dial with an HTTP/2 error
	// (COMPRESSION_ERROR or PROTOCOL_ERROR) that ends the whole connection,
	// other WebSockets on it included, rather than with
	// ErrResponseHeaderTooLarge.
	MaxResponseHeaderBytes int

	// HTTP2, if set, makes Dial open the WebSocket over HTTP/2 (RFC 8441),
	// as a stream of a connection that HTTP2 keeps and shares with the
	// other Dials given the same HTTP2Transport: many WebSockets to one
	// server on one TCP connection. A wss:// URL negotiates HTTP/2 in the
	// TLS handshake; a ws:// URL speaks HTTP/2 over cleartext at once (h2c
	// with prior knowledge). Proxy, NetDialContext, TLSConfig and the
	// other fields apply as over HTTP/1.1 (MaxResponseHeaderBytes says
	// how its failure differs). When the server does not accept
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
// section 4.1); http:// and https:// are taken for them, as browsers'
// WebSocket constructor takes them. ctx bounds the whole handshake, including DNS, proxy, TLS
// and the HTTP exchange, to the last byte Dial reads; it does not affect
// the connection once returned.
//
// On a refused or invalid handshake, Dial returns the server's response
// (status, headers and up to 4 KiB of the body) along with an error; a
// *HandshakeError in the chain names the cause. A proxy's refusal of
// CONNECT (407 when it wants credentials) is a *HandshakeError with the
// proxy's status, without a response. If ctx ends while that
// body is read, the error wraps ctx's error instead and the response holds
// the part of the body that arrived. A redirect (3xx) is such a refusal:
// Dial does not follow it, as RFC 6455 leaves to the client, since
// following could carry HTTPHeader's credentials to another host; its
// Location is in the returned response. Informational responses (1xx
// other than 101, such as 103 Early Hints) before the final one are
// skipped, at most five.
//
// In a browser (GOOS=js) Dial opens the browser's WebSocket object
// instead, which does the handshake and TLS itself and allows less: see
// the README's "In the browser (WASM)".
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &defaultDialOptions
	}
	c, resp, err := dial(ctx, rawURL, opts)
	if err != nil {
		return nil, resp, wrapError("websocket: failed to dial "+redactedURL(rawURL), err)
	}
	return c, resp, nil
}

func dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if inBrowser {
		return dialBrowser(ctx, rawURL, opts) // dial_js.go
	}
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
// ctx bounds the handshake by setting deadlines on nc, or, if nc has
// none (its SetDeadline fails), by closing nc when ctx ends. From the call on nc belongs to
// the returned Conn: on any failure Client closes it.
func Client(ctx context.Context, nc net.Conn, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &defaultDialOptions
	}
	req, err := newHandshakeRequest(rawURL, opts)
	if err != nil {
		nc.Close()
		return nil, nil, wrapError("websocket: failed to open "+redactedURL(rawURL), err)
	}
	c, resp, err := handshake(ctx, nc, req, opts)
	if err != nil {
		nc.Close()
		return nil, resp, wrapError("websocket: failed to open "+redactedURL(rawURL), err)
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
		Host:       hostHeader(u.Host),
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
	if u.Hostname() == "" {
		return nil, errors.New("URL has no host")
	}
	if u.Fragment != "" || strings.Contains(rawURL, "#") {
		return nil, errors.New("URL may not have a fragment")
	}
	u.RawQuery = escapeQuery(u.RawQuery)
	return u, nil
}

// escapeQuery percent-encodes what url.Parse leaves in a query but a
// request line cannot carry, as browsers do: a space would end the
// request-target (servers answer 400), and quotes and angle brackets are
// not URI characters.
func escapeQuery(q string) string {
	if !strings.ContainsAny(q, ` "<>`) {
		return q
	}
	var b strings.Builder
	for i := range len(q) {
		switch ch := q[i]; ch {
		case ' ', '"', '<', '>':
			fmt.Fprintf(&b, "%%%02X", ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// hostHeader returns the URL's host as the Host header gives it: with no
// empty port ("h:" becomes "h", as RFC 3986 section 6.2.3 normalises it)
// and no IPv6 zone.
func hostHeader(host string) string {
	return removeZone(strings.TrimSuffix(host, ":"))
}

// removeZone drops an IPv6 zone from a host ("[fe80::1%en0]:80" becomes
// "[fe80::1]:80") for the Host header: the zone names an interface of
// this machine, nothing the server knows (net/http does the same).
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	end := strings.LastIndex(host, "]")
	if end < 0 {
		return host
	}
	zone := strings.LastIndex(host[:end], "%")
	if zone < 0 {
		return host
	}
	return host[:zone] + host[end:]
}

// redactedURL is rawURL for an error's text: with its password, if it has
// one, replaced as url.URL.Redacted does, since errors end up in logs.
func redactedURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, ok := u.User.Password(); !ok {
		return rawURL
	}
	return u.Redacted()
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
	for i, p := range opts.Subprotocols {
		if !validToken(p) {
			return fmt.Errorf("invalid subprotocol %q", p)
		}
		if slices.Contains(opts.Subprotocols[:i], p) {
			// RFC 6455, section 4.1: the offered values are unique.
			return fmt.Errorf("subprotocol %q offered twice", p)
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
	if nc.SetDeadline(time.Time{}) != nil {
		// nc has no deadlines (an SSH channel, say): only closing it makes
		// its I/O return, and a handshake ctx cut off fails anyway.
		stopClose := context.AfterFunc(ctx, func() { nc.Close() })
		return func() bool { return !stopClose() }
	}
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	in := new(xsync.Interrupter)
	watch := in.Watch(ctx, nc, xsync.Both)
	return func() bool {
		defer in.Release()
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
