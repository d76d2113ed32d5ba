package suite

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// userAgent is what the fuzzer calls itself in both roles.
const userAgent = "fullduplex-wstest/1.0"

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func headerEnd(data []byte) int {
	i := bytes.Index(data, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// headerCount counts how often a header appears.
func headerCount(h http.Header, name string) int {
	return len(h.Values(name))
}

func hasToken(v, token string) bool {
	for _, t := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// sendClientHandshake writes the opening request for u.
func (s *session) sendClientHandshake(u *url.URL, origin string, protocols []string) {
	var k [16]byte
	rand.Read(k[:])
	s.key = base64.StdEncoding.EncodeToString(k[:])
	resource := u.EscapedPath()
	if resource == "" {
		resource = "/"
	}
	if u.RawQuery != "" {
		resource += "?" + u.RawQuery
	}
	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", resource)
	fmt.Fprintf(&b, "User-Agent: %s\r\n", userAgent)
	fmt.Fprintf(&b, "Host: %s:%s\r\n", host, port)
	b.WriteString("Upgrade: WebSocket\r\n")
	b.WriteString("Connection: Upgrade\r\n")
	b.WriteString("Pragma: no-cache\r\n")
	b.WriteString("Cache-Control: no-cache\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\n", s.key)
	if origin != "" {
		fmt.Fprintf(&b, "Origin: %s\r\n", origin)
	}
	if len(protocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(protocols, ","))
	}
	if len(s.offers) > 0 {
		var exts []string
		for _, o := range s.offers {
			exts = append(exts, o.String())
		}
		fmt.Fprintf(&b, "Sec-WebSocket-Extensions: %s\r\n", strings.Join(exts, ", "))
	}
	b.WriteString("Sec-WebSocket-Version: 13\r\n\r\n")
	s.httpRequest = b.String()
	s.sendData([]byte(s.httpRequest), false, 0)
}

// failHandshake gives up on the opening handshake and drops the connection.
func (s *session) failHandshake(reason string) {
	s.setNotClean(reason)
	s.dropConnection(true)
}

// processClientHandshake checks the server's response once it is complete.
func (s *session) processClientHandshake() {
	end := headerEnd(s.data)
	if end < 0 {
		return
	}
	s.httpResponse = string(s.data[:end])
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(s.data[:end])), nil)
	if err != nil {
		s.failHandshake("bad HTTP response: " + err.Error())
		return
	}
	if resp.Proto != "HTTP/1.1" {
		s.failHandshake(fmt.Sprintf("Unsupported HTTP version ('%s')", resp.Proto))
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		s.failHandshake(fmt.Sprintf("WebSocket connection upgrade failed (%s)", resp.Status))
		return
	}
	h := resp.Header
	if h.Get("Upgrade") == "" {
		s.failHandshake("HTTP Upgrade header missing")
		return
	}
	if !strings.EqualFold(strings.TrimSpace(h.Get("Upgrade")), "websocket") {
		s.failHandshake("HTTP Upgrade header different from 'websocket' (case-insensitive) : " + h.Get("Upgrade"))
		return
	}
	if !hasToken(strings.Join(h.Values("Connection"), ","), "upgrade") {
		s.failHandshake("HTTP Connection header does not include 'upgrade' value (case-insensitive)")
		return
	}
	switch headerCount(h, "Sec-WebSocket-Accept") {
	case 0:
		s.failHandshake("HTTP Sec-WebSocket-Accept header missing in opening handshake reply")
		return
	case 1:
	default:
		s.failHandshake("HTTP Sec-WebSocket-Accept header appears more than once in opening handshake reply")
		return
	}
	if got, want := strings.TrimSpace(h.Get("Sec-WebSocket-Accept")), acceptKey(s.key); got != want {
		s.failHandshake(fmt.Sprintf("HTTP Sec-WebSocket-Accept bogus value : expected %s / got %s", want, got))
		return
	}
	s.data = s.data[end:]
	s.clientNegotiated(h)
}

// clientNegotiated checks what the server chose (extensions, subprotocol)
// in an accepting response, over HTTP/1.1 or HTTP/2, and opens the
// connection.
func (s *session) clientNegotiated(h http.Header) {
	if n := headerCount(h, "Sec-WebSocket-Extensions"); n > 1 {
		s.failHandshake("HTTP Sec-WebSocket-Extensions header appears more than once in opening handshake reply")
		return
	} else if n == 1 {
		for _, e := range parseExtensions(h.Get("Sec-WebSocket-Extensions")) {
			if e.name != "permessage-deflate" {
				s.failHandshake(fmt.Sprintf("server wants to use extension '%s' we did not request, haven't implemented or did not enable", e.name))
				return
			}
			if s.pmce != nil {
				s.failHandshake("multiple occurrence of a permessage-compress extension")
				return
			}
			r, err := parseResponse(e)
			if err != nil {
				s.failHandshake(err.Error())
				return
			}
			if len(s.offers) == 0 {
				s.failHandshake("WebSocket permessage-compress extension response from server denied by client")
				return
			}
			s.pmce = newDeflate(false, r.serverNoContextTakeover, r.clientNoContextTakeover, r.serverMaxWindowBits, r.clientMaxWindowBits)
		}
	}
	if n := headerCount(h, "Sec-WebSocket-Protocol"); n > 1 {
		s.failHandshake("HTTP Sec-WebSocket-Protocol header appears more than once in opening handshake reply")
		return
	} else if sp := strings.TrimSpace(h.Get("Sec-WebSocket-Protocol")); sp != "" {
		s.failHandshake(fmt.Sprintf("subprotocol selected by server (%s) not requested by client", sp))
		return
	}
	if s.agent == "" {
		s.agent = h.Get("Server")
		if s.agent == "" {
			s.agent = "UnknownServer"
		}
	}
	s.opened()
}

// serverRequest is what the fuzzing server learns from an opening request.
type serverRequest struct {
	path   string
	query  url.Values
	offers []deflateOffer
}

// processServerHandshake checks a client's opening request once it is
// complete and answers it.
func (s *session) processServerHandshake() {
	end := headerEnd(s.data)
	if end < 0 {
		if len(s.data) > 64<<10 {
			s.failServerHandshake(http.StatusRequestHeaderFieldsTooLarge, "request header too large")
		}
		return
	}
	s.httpRequest = string(s.data[:end])
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(s.data[:end])))
	if err != nil {
		s.failServerHandshake(http.StatusBadRequest, "bad HTTP request: "+err.Error())
		return
	}
	switch {
	case req.Method != http.MethodGet:
		s.failServerHandshake(http.StatusMethodNotAllowed, "HTTP method "+req.Method+" not allowed")
		return
	case req.Proto != "HTTP/1.1":
		s.failServerHandshake(http.StatusHTTPVersionNotSupported, "unsupported HTTP version "+req.Proto)
		return
	case req.Host == "":
		s.failServerHandshake(http.StatusBadRequest, "HTTP Host header missing in opening handshake request")
		return
	case !strings.EqualFold(strings.TrimSpace(req.Header.Get("Upgrade")), "websocket"):
		s.failServerHandshake(http.StatusBadRequest, "HTTP Upgrade header missing or not 'websocket'")
		return
	case !hasToken(strings.Join(req.Header.Values("Connection"), ","), "upgrade"):
		s.failServerHandshake(http.StatusBadRequest, "HTTP Connection header does not include 'upgrade' value")
		return
	}
	if v := strings.TrimSpace(req.Header.Get("Sec-WebSocket-Version")); v != "13" && v != "8" {
		s.failServerHandshake(http.StatusBadRequest, "missing or unsupported Sec-WebSocket-Version: "+v)
		return
	}
	key := strings.TrimSpace(req.Header.Get("Sec-WebSocket-Key"))
	if headerCount(req.Header, "Sec-WebSocket-Key") != 1 {
		s.failServerHandshake(http.StatusBadRequest, "HTTP Sec-WebSocket-Key header missing or repeated")
		return
	}
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		s.failServerHandshake(http.StatusBadRequest, "Sec-WebSocket-Key is not the base64 of 16 octets")
		return
	}
	ext, status, reason := s.serverNegotiate(req)
	if status != 0 {
		s.failServerHandshake(status, reason)
		return
	}
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	fmt.Fprintf(&b, "Server: %s\r\n", userAgent)
	b.WriteString("Upgrade: WebSocket\r\n")
	b.WriteString("Connection: Upgrade\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Accept: %s\r\n", acceptKey(key))
	if ext != "" {
		fmt.Fprintf(&b, "Sec-WebSocket-Extensions: %s\r\n", ext)
	}
	b.WriteString("\r\n")
	s.httpResponse = b.String()
	s.sendData([]byte(s.httpResponse), false, 0)
	s.data = s.data[end:]
	s.opened()
}

// serverNegotiate decides what a fuzzing server connection does with an
// opening request that passed the checks of its HTTP version: which case
// or control request it is (onConnect) and which permessage-deflate offer
// it accepts. It returns the Sec-WebSocket-Extensions value to answer with,
// or the status and reason of a refusal.
func (s *session) serverNegotiate(req *http.Request) (ext string, status int, reason string) {
	var offers []deflateOffer
	for _, e := range parseExtensions(strings.Join(req.Header.Values("Sec-WebSocket-Extensions"), ",")) {
		if e.name != "permessage-deflate" {
			continue
		}
		o, err := parseOffer(e)
		if err != nil {
			return "", http.StatusBadRequest, err.Error()
		}
		offers = append(offers, o)
	}
	sr := serverRequest{path: req.URL.Path, query: req.URL.Query(), offers: offers}
	if status, reason := s.onConnect(sr); status != 0 {
		return "", status, reason
	}
	if len(offers) > 0 && s.serverAccept != nil {
		if a := s.serverAccept(offers); a != nil {
			s.pmce = newDeflate(true, a.offer.requestNoContextTakeover, a.requestNoContextTakeover, a.offer.requestMaxWindowBits, a.requestMaxWindowBits)
			ext = a.String()
		}
	}
	return ext, 0, ""
}

// failServerHandshake answers with an HTTP error and drops the connection.
func (s *session) failServerHandshake(status int, reason string) {
	body := reason + "\n"
	resp := fmt.Sprintf("HTTP/1.1 %d %s\r\nServer: %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %s\r\n",
		status, http.StatusText(status), userAgent, strconv.Itoa(len(body)))
	if status == http.StatusBadRequest {
		resp += "Sec-WebSocket-Version: 13, 8\r\n"
	}
	resp += "\r\n" + body
	s.httpResponse = resp
	s.sendData([]byte(resp), false, 0)
	s.setNotClean(reason)
	s.dropConnection(false)
}
