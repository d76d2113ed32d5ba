package websocket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455, section 1.3.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey = %q", got)
	}
}

func TestAcceptRejects(t *testing.T) {
	valid := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/ws", nil)
		r.Header.Set("Connection", "keep-alive, Upgrade")
		r.Header.Set("Upgrade", "WebSocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return r
	}
	tests := []struct {
		name   string
		modify func(r *http.Request)
		opts   *AcceptOptions
		status int
		reason string // a substring of the body, where it matters
	}{
		{
			name:   "plain GET",
			modify: func(r *http.Request) { r.Header = http.Header{} },
			status: http.StatusBadRequest,
		},
		{
			name:   "POST",
			modify: func(r *http.Request) { r.Method = http.MethodPost },
			status: http.StatusMethodNotAllowed,
		},
		{
			name:   "HTTP/1.0",
			modify: func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0 },
			status: http.StatusBadRequest,
		},
		{
			name:   "no upgrade token in Connection",
			modify: func(r *http.Request) { r.Header.Set("Connection", "keep-alive") },
			status: http.StatusBadRequest,
		},
		{
			name:   "Upgrade not websocket",
			modify: func(r *http.Request) { r.Header.Set("Upgrade", "h2c") },
			status: http.StatusBadRequest,
		},
		{
			name:   "version missing",
			modify: func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") },
			status: http.StatusBadRequest,
		},
		{
			name:   "version 8",
			modify: func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") },
			status: http.StatusUpgradeRequired,
		},
		{
			// strings.TrimSpace took U+00A0 for white space, so the
			// version passed for 13.
			name:   "version 13 followed by a no-break space",
			modify: func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "13\u00a0") },
			status: http.StatusUpgradeRequired,
		},
		{
			name:   "version twice",
			modify: func(r *http.Request) { r.Header.Add("Sec-WebSocket-Version", "13") },
			status: http.StatusBadRequest,
			reason: "Sec-WebSocket-Version appears more than once",
		},
		{
			name: "bad extension offer",
			modify: func(r *http.Request) {
				r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=")
			},
			opts:   &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Mode: CompressionContextTakeover}}},
			status: http.StatusBadRequest,
			reason: "malformed Sec-WebSocket-Extensions header: expected",
		},
		{
			name: "bad extension offer, compression off",
			modify: func(r *http.Request) {
				r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate;")
			},
			status: http.StatusBadRequest,
			reason: "malformed Sec-WebSocket-Extensions header: expected",
		},
		{
			name:   "subprotocol with a space",
			modify: func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "x y, chat") },
			opts:   &AcceptOptions{Subprotocols: []string{"chat"}},
			status: http.StatusBadRequest,
			reason: `invalid Sec-WebSocket-Protocol: "x y" is not a token`,
		},
		{
			name:   "quoted subprotocol",
			modify: func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", `"chat"`) },
			status: http.StatusBadRequest,
			reason: `invalid Sec-WebSocket-Protocol: "\"chat\"" is not a token`,
		},
		{
			name:   "subprotocol with parameters",
			modify: func(r *http.Request) { r.Header.Add("Sec-WebSocket-Protocol", "chat;v=1") },
			status: http.StatusBadRequest,
			reason: `invalid Sec-WebSocket-Protocol: "chat;v=1" is not a token`,
		},
		{
			name:   "key missing",
			modify: func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") },
			status: http.StatusBadRequest,
		},
		{
			name:   "key of 15 bytes",
			modify: func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA") },
			status: http.StatusBadRequest,
		},
		{
			name:   "key not base64",
			modify: func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==") },
			status: http.StatusBadRequest,
		},
		{
			name:   "two keys",
			modify: func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") },
			status: http.StatusBadRequest,
			reason: "Sec-WebSocket-Key appears more than once",
		},
		{
			name:   "body with Content-Length",
			modify: func(r *http.Request) { r.ContentLength = 6 },
			status: http.StatusBadRequest,
		},
		{
			name: "chunked body",
			modify: func(r *http.Request) {
				r.ContentLength = -1
				r.TransferEncoding = []string{"chunked"}
			},
			status: http.StatusBadRequest,
		},
		{
			name:   "cross origin",
			modify: func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			status: http.StatusForbidden,
		},
		{
			name:   "null origin",
			modify: func(r *http.Request) { r.Header.Set("Origin", "null") },
			status: http.StatusForbidden,
		},
		{
			name:   "origin not in patterns",
			modify: func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			opts:   &AcceptOptions{OriginPatterns: []string{"*.good.example"}},
			status: http.StatusForbidden,
		},
		{
			name:   "response header injection",
			opts:   &AcceptOptions{ResponseHeader: http.Header{"X-A": {"v\r\nInjected: 1"}}},
			status: http.StatusInternalServerError,
		},
		{
			name:   "response header overriding the handshake",
			opts:   &AcceptOptions{ResponseHeader: http.Header{"Sec-Websocket-Accept": {"x"}}},
			status: http.StatusInternalServerError,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			if tc.modify != nil {
				tc.modify(r)
			}
			w := httptest.NewRecorder()
			c, err := Accept(w, r, tc.opts)
			if c != nil || err == nil {
				t.Fatal("Accept succeeded")
			}
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			var herr *HandshakeError
			if !errors.As(err, &herr) || herr.Status != tc.status {
				t.Fatalf("error %v", err)
			}
			if tc.status == http.StatusUpgradeRequired && w.Header().Get("Sec-WebSocket-Version") != "13" {
				t.Fatal("426 without Sec-WebSocket-Version: 13")
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("content type %q", ct)
			}
			if body := w.Body.String(); !strings.Contains(body, tc.reason) || strings.Count(body, "malformed") > 1 {
				t.Fatalf("body %q, want it to say %q once", body, tc.reason)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		name     string
		origin   string
		patterns []string
	}{
		{
			name:   "same origin",
			origin: "http://example.com",
		},
		{
			name:   "same origin different case",
			origin: "http://EXAMPLE.com",
		},
		{
			name:     "host pattern",
			origin:   "https://app.good.example",
			patterns: []string{"*.good.example"},
		},
		{
			name:     "scheme pattern",
			origin:   "https://good.example",
			patterns: []string{"https://good.example"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://example.com/ws", nil)
			r.Header.Set("Origin", tc.origin)
			if herr := checkOrigin(r, tc.patterns, nil); herr != nil {
				t.Fatal(herr)
			}
		})
	}
}

// TestAcceptRefusesRequestBody: an upgrade request that carries a body is
// refused with 400 before the hijack, whether the body is framed by
// Content-Length or chunked. Accepted, the body's bytes (here a valid
// masked text frame) were read as the client's first message. A frame
// written right behind a request without a body, in the same TCP write,
// is still the first message.
func TestAcceptRefusesRequestBody(t *testing.T) {
	const head = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	msg := frame(true, 0, opText, true, []byte("hello"))
	tests := []struct {
		name    string
		request string
		status  int
	}{
		{
			name:    "Content-Length body",
			request: head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(msg)) + string(msg),
			status:  http.StatusBadRequest,
		},
		{
			name:    "chunked body",
			request: head + fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n", len(msg)) + string(msg) + "\r\n0\r\n\r\n",
			status:  http.StatusBadRequest,
		},
		{
			name:    "Content-Length 0, frame pipelined",
			request: head + "Content-Length: 0\r\n\r\n" + string(msg),
			status:  http.StatusSwitchingProtocols,
		},
		{
			name:    "frame pipelined",
			request: head + "\r\n" + string(msg),
			status:  http.StatusSwitchingProtocols,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wstest.CheckLeaks(t)
			type result struct {
				acceptErr error
				msg       string
				readErr   error
			}
			results := make(chan result, 1)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Accept(w, r, nil)
				if err != nil {
					results <- result{acceptErr: err}
					return
				}
				defer c.CloseNow()
				ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
				defer cancel()
				_, b, err := c.Read(ctx)
				results <- result{msg: string(b), readErr: err}
			}))
			defer ts.Close()
			nc, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			// One write: the body or frame arrives with the head and sits
			// in net/http's buffer when the handler runs.
			if _, err := io.WriteString(nc, tc.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
			res := await(t, results, "the server's result")
			if tc.status != http.StatusSwitchingProtocols {
				var herr *HandshakeError
				if !errors.As(res.acceptErr, &herr) || herr.Status != tc.status {
					t.Fatalf("Accept returned %v, want a HandshakeError with status %d", res.acceptErr, tc.status)
				}
				const reason = "upgrade request must not have a body"
				if !strings.Contains(string(body), reason) || herr.Reason != reason {
					t.Fatalf("reason %q, body %q, want %q", herr.Reason, body, reason)
				}
				return
			}
			if res.acceptErr != nil || res.readErr != nil {
				t.Fatalf("Accept: %v, Read: %v", res.acceptErr, res.readErr)
			}
			if res.msg != "hello" {
				t.Fatalf("message %q, want %q", res.msg, "hello")
			}
		})
	}
}

// fakeServer answers one handshake with a canned response.
func fakeServer(t *testing.T, respond func(key string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		await(t, done, "the accept loop's end")
	})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		req, err := http.ReadRequest(newBufReader(nc))
		if err != nil {
			return
		}
		io.WriteString(nc, respond(req.Header.Get("Sec-WebSocket-Key")))
		io.Copy(io.Discard, nc)
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// upgradeAnswer answers a handshake rightly but for its Upgrade field.
func upgradeAnswer(upgrade string) func(key string) string {
	return func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + upgrade + "\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
	}
}

func TestDialRejects(t *testing.T) {
	ok := func(extra string) func(string) string {
		return func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n" + extra + "\r\n"
		}
	}
	tests := []struct {
		name    string
		respond func(key string) string
		status  int
		want    string
	}{
		{
			name: "not 101",
			respond: func(string) string {
				return "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"
			},
			status: 403,
			want:   "403",
		},
		{
			name: "wrong accept",
			respond: func(string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xxx\r\n\r\n"
			},
			status: 101,
			want:   "Sec-WebSocket-Accept",
		},
		{
			name:    "second accept after the right one",
			respond: ok("Sec-WebSocket-Accept: bogus\r\n"),
			status:  101,
			want:    "Sec-WebSocket-Accept appears 2 times",
		},
		{
			name:    "unoffered subprotocol",
			respond: ok("Sec-WebSocket-Protocol: chat\r\n"),
			status:  101,
			want:    "subprotocol",
		},
		{
			name:    "unoffered extension",
			respond: ok("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
			status:  101,
			want:    "extensions",
		},
		{
			// strings.EqualFold folds U+212A (KELVIN SIGN) to "k"; RFC
			// 6455 section 4.1 compares ASCII case-insensitively.
			name: "Upgrade spelled with a Kelvin sign",
			respond: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websoc\u212aet\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
			},
			status: 101,
			want:   "Upgrade header",
		},
		{
			name: "Upgrade followed by a no-break space",
			respond: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\u00a0\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
			},
			status: 101,
			want:   "Upgrade header",
		},
		{
			name: "101 in HTTP/1.0",
			respond: func(key string) string {
				return "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
			},
			status: 101,
			want:   "server answered 101 in HTTP/1.0",
		},
		{
			name: "missing upgrade",
			respond: func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
			},
			status: 101,
			want:   "Upgrade",
		},
		{
			name:    "upgrade list holding websocket",
			respond: upgradeAnswer("websocket, foo"),
			status:  101,
			want:    `Upgrade header is "websocket, foo"`,
		},
		{
			name:    "second upgrade field",
			respond: upgradeAnswer("websocket\r\nUpgrade: websocket"),
			status:  101,
			want:    `Upgrade header is "websocket, websocket"`,
		},
		{
			name:    "other protocol",
			respond: upgradeAnswer("h2c"),
			status:  101,
			want:    `Upgrade header is "h2c"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wstest.CheckLeaks(t)
			url := fakeServer(t, tc.respond)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, url, nil)
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			var herr *HandshakeError
			if !errors.As(err, &herr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v", err)
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("response %v", resp)
			}
			if tc.status == 403 {
				body, _ := io.ReadAll(resp.Body)
				if string(body) != "nope" {
					t.Fatalf("body %q", body)
				}
			}
		})
	}
}

func TestDialHonoursContext(t *testing.T) {
	wstest.CheckLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The server accepts TCP but never answers the handshake.
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err = Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	(<-accepted).Close()
}

func TestSubprotocolNegotiation(t *testing.T) {
	client, server := pair(t,
		&AcceptOptions{Subprotocols: []string{"v2", "v1"}},
		&DialOptions{Subprotocols: []string{"v1", "v2"}})
	if client.Subprotocol() != "v2" || server.Subprotocol() != "v2" {
		t.Fatalf("client %q server %q", client.Subprotocol(), server.Subprotocol())
	}
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// TestDialAcceptsUpgradeInAnyCase: RFC 6455 4.1 asks for an ASCII
// case-insensitive match of "websocket", with no list around it.
func TestDialAcceptsUpgradeInAnyCase(t *testing.T) {
	for _, upgrade := range []string{"WebSocket", "WEBSOCKET", " websocket "} {
		t.Run(upgrade, func(t *testing.T) {
			wstest.CheckLeaks(t)
			url := fakeServer(t, upgradeAnswer(upgrade))
			c, _, err := Dial(testCtx(t), url, nil)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			c.CloseNow()
		})
	}
}

// TestDialTakesEmptyExtensionsField: an empty Sec-WebSocket-Extensions
// field in the 101 is an empty list, no extension, whether or not
// compression was offered (it failed Dial without compression, naming no
// extension).
func TestDialTakesEmptyExtensionsField(t *testing.T) {
	respond := func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\nSec-WebSocket-Extensions: \r\nSec-WebSocket-Extensions: , \r\n\r\n"
	}
	for _, mode := range []CompressionMode{CompressionDisabled, CompressionContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			wstest.CheckLeaks(t)
			url := fakeServer(t, respond)
			c, _, err := Dial(testCtx(t), url, &DialOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Mode: mode}}})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			c.CloseNow()
		})
	}
}

// TestDialRefusesRepeatedSubprotocol: the subprotocols a client offers
// are unique (RFC 6455, section 4.1); a repeated one is refused before
// anything is dialed.
func TestDialRefusesRepeatedSubprotocol(t *testing.T) {
	_, _, err := Dial(testCtx(t), "ws://127.0.0.1:1/", &DialOptions{Subprotocols: []string{"chat", "v2", "chat"}})
	if err == nil || !strings.Contains(err.Error(), `subprotocol "chat" offered twice`) {
		t.Fatalf("Dial: %v, want the repeated subprotocol refused", err)
	}
}

// TestDialRequestFieldsOnce: the client's request carries one Cookie
// field, with the cookies of HTTPHeader and of the Jar joined by "; ", as
// RFC 6265 section 5.4 requires (it sent one field per cookie, which a
// server joining repeated fields with commas misreads), and one
// Authorization field when HTTPHeader has one under a key in any case and
// the URL has user information (it added the URL's as well).
func TestDialRequestFieldsOnce(t *testing.T) {
	heads := make(chan []string, 1)
	addr, _ := tcpServer(t, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		var head []string
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
			head = append(head, strings.TrimRight(line, "\r\n"))
		}
		heads <- head
		io.WriteString(nc, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://" + addr + "/")
	jar.SetCookies(u, []*http.Cookie{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}})
	opts := &DialOptions{
		Jar: jar,
		HTTPHeader: http.Header{
			"Cookie":        {"c=3"},
			"authorization": {"Bearer t"},
		},
	}
	if _, _, err := Dial(testCtx(t), "ws://user:pass@"+addr+"/", opts); err == nil {
		t.Fatal("Dial succeeded against a 400")
	}
	fields := map[string][]string{}
	for _, line := range <-heads {
		if name, value, ok := strings.Cut(line, ": "); ok {
			fields[strings.ToLower(name)] = append(fields[strings.ToLower(name)], value)
		}
	}
	if got := fields["cookie"]; len(got) != 1 || got[0] != "c=3; a=1; b=2" {
		t.Errorf("Cookie fields %q, want one: c=3; a=1; b=2", got)
	}
	if got := fields["authorization"]; len(got) != 1 || got[0] != "Bearer t" {
		t.Errorf("Authorization fields %q, want HTTPHeader's only", got)
	}
}

// TestAcceptRefusesReservedFieldsInAnyCase: a ResponseHeader key that is
// not canonical but names a field the handshake sets is refused as the
// canonical one is (500). It is written out as it is, so it got past the
// check, and the 101 carried two Sec-WebSocket-Accept fields, which a
// strict client refuses.
func TestAcceptRefusesReservedFieldsInAnyCase(t *testing.T) {
	for _, key := range []string{"sec-websocket-accept", "CONNECTION", "upgrade"} {
		t.Run(key, func(t *testing.T) {
			wstest.CheckLeaks(t)
			acceptErr := make(chan error, 1)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Accept(w, r, &AcceptOptions{ResponseHeader: http.Header{key: {"x"}}})
				if c != nil {
					c.CloseNow()
				}
				acceptErr <- err
			}))
			defer ts.Close()
			resp, err := http.DefaultClient.Do(upgradeRequest(t, ts.URL))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := <-acceptErr; err == nil || resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("Accept: %v, status %d; want an error and 500", err, resp.StatusCode)
			}
		})
	}
}

// upgradeRequest is a valid WebSocket upgrade request for url.
func upgradeRequest(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return req
}
