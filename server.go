package websocket

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/fullduplex/websocket/internal/bpool"
)

// AcceptOptions configures Accept. The zero value accepts same-origin
// browser connections and any non-browser client, with no subprotocol and
// no compression. Connections keep a pointer to the options instead of a
// copy, so one AcceptOptions can serve every connection at no cost per
// connection; do not modify it while connections made with it are open.
type AcceptOptions struct {
	ConnOptions

	// Subprotocols lists the subprotocols the server speaks, in order of
	// preference. The first one the client also offers is chosen; if none
	// matches, the connection is accepted without a subprotocol and the
	// application should check Conn.Subprotocol. An offer that is not a
	// list of tokens is refused with 400, whatever this holds.
	Subprotocols []string

	// OriginPatterns lists the origins, besides the request's own host,
	// whose browsers may connect. A pattern is matched with path.Match,
	// case-insensitively, against the Origin's host ("example.com",
	// "*.example.com", "localhost:*"), or against scheme://host when the
	// pattern contains "://" ("https://*.example.com",
	// "chrome-extension://<id>").
	//
	// The request's own host matches with or without the scheme's default
	// port (443, or 80 for http) on either side. It and a pattern without
	// a scheme admit only a web page's origin: https, or http if the request did not come over
	// TLS. A page served over plain HTTP can be rewritten by anyone on its
	// network path, so it does not get the TLS endpoint, and the cookies
	// sent to it, in its site's name (browsers, too, hold http://a and
	// https://a to be different origins); list it with its scheme,
	// "http://example.com", to admit it all the same. Behind a proxy that
	// terminates TLS the request arrives without TLS, so both schemes pass
	// there: an https page on the plain hop is the common deployment, and
	// browsers do not let an https page open ws:// themselves. Other
	// schemes (ftp, file, a browser extension's) pass only a pattern that
	// names them.
	OriginPatterns []string

	// InsecureSkipOriginCheck accepts every Origin. It opens the endpoint to
	// cross-site WebSocket hijacking: any page a user visits can connect
	// with the user's cookies. Prefer OriginPatterns, or CheckOrigin.
	// When it is set, CheckOrigin is not called.
	InsecureSkipOriginCheck bool

	// CheckOrigin, if set, decides about the cross-origin requests that
	// OriginPatterns do not allow, for rules patterns cannot express (a
	// list of tenants' domains that changes at run time, an origin that
	// must match the request's own subdomain). It can only allow more: the
	// origin check is, in order,
	//
	//   - no Origin header (not a browser): accepted, CheckOrigin not called;
	//   - more than one Origin, or one that is not an absolute URL with a
	//     host: refused with 403, CheckOrigin not called;
	//   - the Origin a web page's on the request's Host (its scheme https,
	//     or http on a request that did not come over TLS), or matching one
	//     of OriginPatterns: accepted, CheckOrigin not called;
	//   - otherwise CheckOrigin(r) is called: true accepts, false refuses
	//     with 403. Without CheckOrigin the request is refused.
	//
	// So r.Header.Get("Origin") is the one well-formed, cross-origin Origin
	// when CheckOrigin runs. It runs on the handler's goroutine before
	// anything is written to w, and is called once per request at most.
	// Allowing an origin lets its pages connect with the user's cookies:
	// compare the whole scheme and host, never a substring or a suffix
	// without its dot ("evil-example.com" ends in "example.com"). A gorilla
	// Upgrader.CheckOrigin moves here unchanged; it is simply not asked
	// about the requests the rules above accept.
	CheckOrigin func(r *http.Request) bool

	// ResponseHeader holds extra header fields for the 101 response (the
	// 200 over HTTP/2), such as Set-Cookie. Fields that the handshake
	// itself sets are refused: Accept then answers every request with 500
	// and returns the error. Over HTTP/2, HTTP/1.1's connection-specific
	// fields (Keep-Alive, Proxy-Connection, Transfer-Encoding, TE) are
	// left out of the response, which they would make malformed.
	ResponseHeader http.Header

	// Group, if set, tracks the connection until it closes, so that
	// Group.Shutdown can close it with the others. Once Shutdown has
	// been called, Accept completes the upgrade, closes the connection
	// with 1001 (waiting for the peer's answer, at most CloseTimeout) and
	// returns ErrClosed.
	Group *Group
}

// defaultAcceptOptions stands in for nil options; it is only read.
var defaultAcceptOptions AcceptOptions

// HandshakeError reports a refused handshake and why: on the server, the
// HTTP status Accept answered with; on the client, the status the server
// (or, for a refused CONNECT, the proxy) answered with, which is 101 when
// the answer agreed to switch protocols but was malformed.
type HandshakeError struct {
	Status int
	Reason string
	Err    error // the underlying error, if any, such as http.ErrNotSupported from Hijack
}

// Error describes the refusal with its status and reason.
func (e *HandshakeError) Error() string {
	return "websocket: handshake failed: " + e.Reason
}

// Unwrap returns the underlying error, if any.
func (e *HandshakeError) Unwrap() error { return e.Err }

// Accept upgrades an HTTP request to a WebSocket connection (RFC 6455,
// section 4.2). On any problem with the request it answers with the fitting
// status (400, 403, 405, 426) and a short plain-text reason, and returns a
// *HandshakeError. It finds the http.Hijacker through ResponseWriter
// wrappers that implement Unwrap, as http.ResponseController does.
//
// After Accept returns a Conn, the handler may return; the connection lives
// on until closed. Over HTTP/2 it may not: see below.
//
// Over HTTP/2, Accept takes an extended CONNECT request with :protocol
// websocket (RFC 8441), answers 200 and runs the connection on the
// request's stream, with the same options and checks (no Sec-WebSocket-Key
// is needed); it refuses other HTTP/2 requests with 400, saying how to
// enable extended CONNECT if the server does not offer it (Go 1.25 and
// 1.26 need GODEBUG=http2xconnect=1, see package xconnect). The stream ends
// when the handler returns, so the handler must wait for Conn.Done before
// it returns, also after handing the connection to a Poller (which serves
// it with a goroutine of its own) or to other goroutines. When a client
// resets its stream as soon as it has the 200, Accept still returns a
// Conn: Read returns what the client sent, then a close status of 1006, as
// over TCP when the peer closes right after its handshake (net/http may
// report such a reset as the failure of the 200's write, which went out).
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &defaultAcceptOptions
	}
	if r.ProtoMajor == 2 {
		if herr := checkStreamHandshake(r); herr != nil {
			return nil, rejectStream(w, herr)
		}
	} else if herr := checkClientHandshake(r); herr != nil {
		return nil, reject(w, herr)
	}
	if herr := checkOfferSyntax(r.Header, opts); herr != nil {
		return nil, reject(w, herr)
	}
	if herr := checkAcceptRequest(r, opts); herr != nil {
		return nil, reject(w, herr)
	}
	subprotocol := selectSubprotocol(r.Header, opts.Subprotocols)
	dp, extensions, herr := acceptDeflate(r, opts)
	if herr != nil {
		return nil, reject(w, herr)
	}
	if r.ProtoMajor == 2 {
		return acceptStream(w, r, opts, subprotocol, extensions, dp) // http2_server.go
	}
	c, err := hijackUpgrade(w, r, opts, subprotocol, extensions, dp)
	if err != nil {
		return nil, err
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

// checkOfferSyntax refuses offers that break their grammar (RFC 6455,
// section 4.2.1: any violation of the handshake's ABNF gets an error
// status), whether or not the server would take them: a subprotocol list
// of tokens, and an extension list, which acceptDeflate parses when
// compression is on.
func checkOfferSyntax(h http.Header, opts *AcceptOptions) *HandshakeError {
	for _, v := range h["Sec-Websocket-Protocol"] {
		for rest := v; rest != ""; {
			var p string
			p, rest, _ = strings.Cut(rest, ",")
			if p = trimOWS(p); p != "" && !validToken(p) {
				return &HandshakeError{Status: http.StatusBadRequest, Reason: fmt.Sprintf("invalid Sec-WebSocket-Protocol: %q is not a token", p)}
			}
		}
	}
	if exts := h["Sec-Websocket-Extensions"]; len(exts) > 0 && !deflateEnabled(&opts.Compression) {
		if err := checkExtensionSyntax(exts); err != nil {
			return &HandshakeError{Status: http.StatusBadRequest, Reason: err.Error()}
		}
	}
	return nil
}

// checkAcceptRequest applies the checks of opts that do not depend on the
// protocol version: the origin, and the options themselves.
func checkAcceptRequest(r *http.Request, opts *AcceptOptions) *HandshakeError {
	if !opts.InsecureSkipOriginCheck {
		if herr := checkOrigin(r, opts.OriginPatterns, opts.CheckOrigin); herr != nil {
			return herr
		}
	}
	if name, ok := checkResponseHeader(opts.ResponseHeader); !ok {
		return &HandshakeError{Status: http.StatusInternalServerError, Reason: "invalid response header field " + name}
	}
	if mode := opts.Compression.Mode; !mode.valid() {
		return &HandshakeError{Status: http.StatusInternalServerError, Reason: fmt.Sprintf("invalid AcceptOptions.Compression.Mode %v", mode)}
	}
	return nil
}

// acceptDeflate answers the client's permessage-deflate offers: the
// parameters in force and the response header value, or neither.
func acceptDeflate(r *http.Request, opts *AcceptOptions) (*deflateParams, string, *HandshakeError) {
	if !deflateEnabled(&opts.Compression) {
		return nil, "", nil
	}
	params, response, ok, err := negotiateDeflate(r.Header["Sec-Websocket-Extensions"], &opts.Compression)
	if err != nil {
		return nil, "", &HandshakeError{Status: http.StatusBadRequest, Reason: err.Error()} // it says what is malformed
	}
	if !ok {
		return nil, "", nil
	}
	return &params, response, nil
}

// hijackUpgrade takes the HTTP/1.1 connection from net/http, answers 101
// and makes the Conn.
func hijackUpgrade(w http.ResponseWriter, r *http.Request, opts *AcceptOptions, subprotocol, extensions string, dp *deflateParams) (*Conn, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		herr := &HandshakeError{Status: http.StatusInternalServerError, Reason: "response writer cannot be hijacked: " + err.Error(), Err: err}
		return nil, reject(w, herr)
	}
	// The server may have set deadlines for the request; the WebSocket
	// connection manages its own.
	nc.SetDeadline(time.Time{})

	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		// The client sent frames right behind its request.
		buffered, _ = brw.Reader.Peek(n)
	}

	bufp := bpool.GetRead()
	resp := appendServerResponse((*bufp)[:0], r.Header["Sec-Websocket-Key"][0], subprotocol, extensions, opts.ResponseHeader)
	_, err = nc.Write(resp)
	if cap(resp) == cap(*bufp) {
		bpool.PutRead(bufp)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: failed to write handshake response: %w", err)
	}
	return newConn(nc, false, &opts.ConnOptions, subprotocol, buffered, dp), nil
}

// checkClientHandshake validates the opening handshake of RFC 6455,
// section 4.2.1.
func checkClientHandshake(r *http.Request) *HandshakeError {
	switch {
	case r.Method != http.MethodGet:
		return &HandshakeError{Status: http.StatusMethodNotAllowed, Reason: "method " + r.Method + " is not GET"}
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "protocol " + r.Proto + " is not HTTP/1.1"}
	case !headerContainsToken(r.Header, "Connection", "upgrade"):
		return &HandshakeError{Status: http.StatusBadRequest, Reason: `Connection header does not contain "upgrade"`}
	case !headerContainsToken(r.Header, "Upgrade", "websocket"):
		return &HandshakeError{Status: http.StatusBadRequest, Reason: `Upgrade header does not contain "websocket"`}
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
		// A body has no meaning on the opening GET, and net/http leaves
		// its unread bytes in the buffer the hijack hands over: accepted,
		// they would be read as the client's first frames, smuggled past
		// whatever inspected the request. (net/http sets ContentLength to
		// -1 for a chunked body; Content-Length: 0 is no body.)
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "upgrade request must not have a body"}
	}
	if herr := checkVersion(r.Header); herr != nil {
		return herr
	}
	switch keys := r.Header["Sec-Websocket-Key"]; {
	case len(keys) > 1: // RFC 6455, 11.3.1: at most once in a request
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "Sec-WebSocket-Key appears more than once"}
	case len(keys) == 0 || !validKey(keys[0]):
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "Sec-WebSocket-Key is not 16 bytes in base64"}
	}
	return nil
}

// reject answers a refused handshake and returns herr.
func reject(w http.ResponseWriter, herr *HandshakeError) error {
	h := w.Header()
	switch herr.Status {
	case http.StatusUpgradeRequired:
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Upgrade", "websocket")
		h.Set("Connection", "Upgrade")
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodGet)
	}
	http.Error(w, herr.Reason, herr.Status)
	return herr
}

// checkOrigin allows requests without an Origin (non-browser clients),
// same-site requests, origins matching one of patterns, and those fn
// allows (see AcceptOptions.OriginPatterns and CheckOrigin).
func checkOrigin(r *http.Request, patterns []string, fn func(*http.Request) bool) *HandshakeError {
	origins := r.Header["Origin"]
	if len(origins) == 0 {
		return nil
	}
	forbidden := &HandshakeError{Status: http.StatusForbidden, Reason: "origin " + origins[0] + " is not allowed"}
	if len(origins) > 1 {
		return forbidden
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" {
		return forbidden
	}
	// Unless a pattern names the scheme, only a web page's origin counts,
	// and a page that came over plain HTTP, which a network attacker can
	// rewrite, does not count for a request that came over TLS. Without
	// TLS both schemes pass: TLS may end at a proxy in front of us.
	// (url.Parse lowercases the scheme.)
	web := u.Scheme == "https" || u.Scheme == "http" && r.TLS == nil
	if web && sameHost(u.Scheme, u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		} else if !web {
			continue
		}
		if ok, _ := path.Match(toLowerASCII(p), toLowerASCII(target)); ok {
			return nil
		}
	}
	if fn != nil && fn(r) {
		return nil
	}
	return forbidden
}

// sameHost reports whether the host of a web origin of scheme names the
// host a request came to, the scheme's default port written out or not on
// either side: browsers leave it out, and a proxy may add it to Host.
func sameHost(scheme, originHost, requestHost string) bool {
	port := ":443"
	if scheme == "http" {
		port = ":80"
	}
	return equalFoldASCII(strings.TrimSuffix(originHost, port), strings.TrimSuffix(requestHost, port))
}

// reservedResponseFields are set by the handshake and may not be overridden.
var reservedResponseFields = []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"}

func checkResponseHeader(h http.Header) (string, bool) {
	if name, ok := checkHeaderFields(h); !ok {
		return name, false
	}
	for _, name := range reservedResponseFields {
		if hasField(h, name) { // a key spelled otherwise is written out all the same
			return name, false
		}
	}
	return "", true
}

// selectSubprotocol picks the first of the server's subprotocols that the
// client offered.
func selectSubprotocol(h http.Header, supported []string) string {
	if len(supported) == 0 {
		return ""
	}
	offered := headerTokens(h, "Sec-Websocket-Protocol")
	for _, s := range supported {
		for _, o := range offered {
			if o == s {
				return s
			}
		}
	}
	return ""
}

func appendServerResponse(b []byte, key, subprotocol, extensions string, extra http.Header) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = appendAcceptKey(b, key)
	b = append(b, "\r\n"...)
	if subprotocol != "" {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, subprotocol...)
		b = append(b, "\r\n"...)
	}
	if extensions != "" {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = append(b, extensions...)
		b = append(b, "\r\n"...)
	}
	for name, values := range extra {
		for _, v := range values {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}
