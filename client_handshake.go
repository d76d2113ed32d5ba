package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/fullduplex/websocket/internal/bpool"
	"golang.org/x/net/http/httpguts"
)

// This file runs the client's side of the opening handshake (RFC 6455,
// section 4.1) on a connected transport: the request, the bounded read of
// the response and its checks.

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
	data, head, src, err := readFinalHead(nc, buf, maxBytes, "server's handshake")
	if err != nil {
		return nil, nil, err
	}
	if resp := parseSwitchingResponse(data[:head], req); resp != nil {
		return resp, data[head:], nil
	}
	// The general path: net/http parses the head; a body starts with what
	// followed the head, copied because buf goes back to the pool.
	after := io.MultiReader(bytes.NewReader(bytes.Clone(data[head:])), src)
	resp, err = http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(data[:head]), after)), req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		rest = data[head:]
	}
	return resp, rest, nil
}

// readFinalHead is readHead for the final response: it skips the
// informational responses (100 Continue, 103 Early Hints) that HTTP lets
// a server or proxy send before it, which a client must take (RFC 9110,
// section 15.2), a bounded number of them. src reads on from the end of
// data.
func readFinalHead(nc net.Conn, buf []byte, maxBytes int, from string) (data []byte, head int, src io.Reader, err error) {
	src = nc
	for interim := 0; ; interim++ {
		data, head, err = readHead(src, buf, maxBytes, from)
		if err != nil || !isInterimHead(data[:head]) {
			return data, head, src, err
		}
		if interim == maxInterimResponses {
			return nil, 0, nil, fmt.Errorf("more than %d informational (1xx) responses before the final one", maxInterimResponses)
		}
		// What followed the interim head is read first, whole by the
		// next read: buf holds it all.
		after := bytes.Clone(data[head:])
		if len(after) > len(buf) {
			buf = make([]byte, len(after))
		}
		src = io.MultiReader(bytes.NewReader(after), nc)
	}
}

// maxInterimResponses bounds the informational responses skipped before
// the final one, as net/http's Transport does.
const maxInterimResponses = 5

// isInterimHead reports whether head is an HTTP/1.1 informational (1xx)
// response other than 101 Switching Protocols.
func isInterimHead(head []byte) bool {
	return len(head) > 12 && bytes.HasPrefix(head, []byte("HTTP/1.1 1")) &&
		!bytes.HasPrefix(head[9:], []byte("101")) &&
		isDigit(head[10]) && isDigit(head[11]) && (head[12] == ' ' || head[12] == '\r' || head[12] == '\n')
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

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
		if rerr == io.EOF {
			// Said in words: a bare EOF reads as if nothing was wrong.
			return nil, 0, fmt.Errorf("connection closed after %d bytes of the %s response head: %w", n, from, io.ErrUnexpectedEOF)
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
		value = trimOWS(value)
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
		if equalFoldASCII(name, k) {
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
	if u := req.URL.User; u != nil && !hasField(h, "Authorization") {
		pass, _ := u.Password()
		b = append(b, "Authorization: Basic "...)
		b = append(b, base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass))...)
		b = append(b, "\r\n"...)
	}
	var cookies []string
	for name, values := range h {
		if equalFoldASCII(name, "Cookie") {
			cookies = append(cookies, values...)
			continue
		}
		for _, v := range values {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if opts.Jar != nil {
		for _, ck := range opts.Jar.Cookies(req.URL) {
			cookies = append(cookies, ck.String())
		}
	}
	if len(cookies) > 0 {
		// One field, as RFC 6265 section 5.4 requires: a server that joins
		// repeated fields with commas would misread several.
		b = append(b, "Cookie: "...)
		b = append(b, strings.Join(cookies, "; ")...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// hasField reports whether h holds a field of that name, under a key
// spelled in any case: the caller's map may hold keys that are not
// canonical, and they are sent as they are.
func hasField(h http.Header, name string) bool {
	for key := range h {
		if equalFoldASCII(key, name) {
			return true
		}
	}
	return false
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
	if resp.ProtoMajor != 1 || resp.ProtoMinor < 1 {
		// HTTP/1.0 has neither 1xx answers nor Upgrade (RFC 9110,
		// sections 7.8 and 15.2): such a 101 is no protocol switch.
		return bad("server answered 101 in %s; switching protocols takes HTTP/1.1", resp.Proto)
	}
	// RFC 6455 section 4.1: the value must be "websocket" (in any
	// case), not a list that holds it; browsers refuse a second field too.
	if upgrade := resp.Header["Upgrade"]; len(upgrade) != 1 || !equalFoldASCII(trimOWS(upgrade[0]), "websocket") {
		return bad(`response Upgrade header is %q, not "websocket"`, strings.Join(upgrade, ", "))
	}
	if !headerContainsToken(resp.Header, "Connection", "upgrade") {
		return bad(`response Connection header does not contain "upgrade"`)
	}
	// RFC 6455 section 11.3.3: the field appears once; a second one,
	// whatever it holds, makes the value a list that is not the hash.
	accept := resp.Header["Sec-Websocket-Accept"]
	if len(accept) > 1 {
		return bad("Sec-WebSocket-Accept appears %d times", len(accept))
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
	// An empty field is an empty list (RFC 9110, section 5.6.1): no
	// extension, whatever was offered.
	if exts := resp.Header["Sec-Websocket-Extensions"]; !emptyList(exts) {
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
