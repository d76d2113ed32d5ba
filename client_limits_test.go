package websocket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// rawServer accepts TCP connections on 127.0.0.1 and hands each, with the
// request read from it, to handle; the connection is closed when handle
// returns. Every connection is bounded by a deadline, and the cleanup waits
// for the handlers to return.
func rawServer(t *testing.T, handle func(nc net.Conn, req *http.Request)) string {
	t.Helper()
	addr, _ := tcpServer(t, func(nc net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		handle(nc, req)
	})
	return addr
}

// tcpServer accepts TCP connections on 127.0.0.1, counting them, and
// hands each to handle on a goroutine of its own; the connection is
// closed when handle returns. Every connection is bounded by a
// deadline, and the cleanup waits for the handlers to return.
func tcpServer(t *testing.T, handle func(nc net.Conn)) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				handle(nc)
			})
		}
	})
	return ln.Addr().String(), accepted
}

// waitForClose returns when the peer closes nc, or after a bound that
// only a hung client reaches.
func waitForClose(nc net.Conn) {
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, nc)
}

func proxyAt(addr string) func(*http.Request) (*url.URL, error) {
	return func(*http.Request) (*url.URL, error) {
		return &url.URL{Scheme: "http", Host: addr}, nil
	}
}

// TestDialContextBoundsResponseBody: a body that stalls after the response
// head cannot hold Dial past its ctx. Dial reads the part of a refused
// handshake's body it keeps under the ctx, and does not read a proxy's
// refusal of CONNECT at all, reporting the refusal at once.
func TestDialContextBoundsResponseBody(t *testing.T) {
	tests := []struct {
		name     string
		viaProxy bool
		response string
		wantErr  string // "" for an error wrapping context.DeadlineExceeded
		wantBody string // what the returned response's body holds
	}{
		{
			name:     "server refuses, body stalls",
			viaProxy: false,
			response: "HTTP/1.1 403 Forbidden\r\nContent-Length: 1000\r\n\r\nnot all of it",
			wantErr:  "",
			wantBody: "not all of it",
		},
		{
			name:     "server refuses, chunked body stalls",
			viaProxy: false,
			response: "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nnot all of it",
			wantErr:  "",
			wantBody: "not all of it",
		},
		{
			name:     "proxy refuses CONNECT, body stalls",
			viaProxy: true,
			response: "HTTP/1.1 403 Forbidden\r\nContent-Length: 1000\r\n\r\nnot all of it",
			wantErr:  "refused CONNECT to 127.0.0.1:9: 403 Forbidden",
			wantBody: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wstest.CheckLeaks(t)
			addr := rawServer(t, func(nc net.Conn, _ *http.Request) {
				io.WriteString(nc, tc.response)
				waitForClose(nc)
			})
			target := "ws://" + addr + "/"
			opts := &DialOptions{}
			if tc.viaProxy {
				target = "ws://127.0.0.1:9/"
				opts.Proxy = proxyAt(addr)
			}
			const timeout = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			c, resp, err := Dial(ctx, target, opts)
			elapsed := time.Since(start)
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			switch {
			case tc.wantErr == "" && !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			case tc.wantErr != "" && (!strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, context.DeadlineExceeded)):
				t.Errorf("error %v, want it to contain %q before the deadline", err, tc.wantErr)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Dial took %v with a %v ctx", elapsed, timeout)
			}
			var body []byte
			if resp != nil {
				body, _ = io.ReadAll(resp.Body)
			}
			if string(body) != tc.wantBody {
				t.Errorf("response body %q, want %q", body, tc.wantBody)
			}
		})
	}
}

// TestDialResponseHeaderLimit: the head of the server's response and of a
// proxy's answer to CONNECT is bounded in bytes and in lines, and a peer
// that exceeds the bound costs no more memory than the bound.
func TestDialResponseHeaderLimit(t *testing.T) {
	// accepted returns a valid 101 head with extra header lines, padded
	// with an X-Pad field so that the head is size bytes long when size
	// is not 0.
	accepted := func(size int, extra string) func(key string) string {
		return func(key string) string {
			head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n" + extra
			if size > 0 {
				const padField = len("X-Pad: \r\n")
				head += "X-Pad: " + strings.Repeat("p", size-len(head)-padField-2) + "\r\n"
			}
			return head + "\r\n"
		}
	}
	fixed := func(s string) func(string) string {
		return func(string) string { return s }
	}
	tests := []struct {
		name     string
		viaProxy bool
		maxBytes int
		respond  func(key string) string
		endless  string // repeated after respond's text, until the client goes away
		wantErr  string // "" when Dial must succeed
	}{
		{
			name:     "endless line",
			viaProxy: false,
			maxBytes: 0,
			respond:  fixed("HTTP/1.1 101 Switching Protocols\r\nX-Long: "),
			endless:  "a",
			wantErr:  "server's handshake response header exceeds 16384 bytes",
		},
		{
			name:     "endless status line",
			viaProxy: false,
			maxBytes: 0,
			respond:  fixed("HTTP/1.1 101 "),
			endless:  "a",
			wantErr:  "server's handshake response header exceeds 16384 bytes",
		},
		{
			name:     "endless short lines",
			viaProxy: false,
			maxBytes: 0,
			respond:  fixed("HTTP/1.1 101 Switching Protocols\r\n"),
			endless:  "A: b\r\n",
			wantErr:  "server's handshake response header exceeds 512 lines",
		},
		{
			name:     "endless bare LF lines",
			viaProxy: false,
			maxBytes: 0,
			respond:  fixed("HTTP/1.1 101 Switching Protocols\n"),
			endless:  "A:\n",
			wantErr:  "server's handshake response header exceeds 512 lines",
		},
		{
			name:     "head at a small limit",
			viaProxy: false,
			maxBytes: 1024,
			respond:  accepted(1024, ""),
			wantErr:  "",
		},
		{
			name:     "head one byte over a small limit",
			viaProxy: false,
			maxBytes: 1024,
			respond:  accepted(1025, ""),
			wantErr:  "server's handshake response header exceeds 1024 bytes",
		},
		{
			name:     "head at the default limit",
			viaProxy: false,
			maxBytes: 0,
			respond:  accepted(16384, ""),
			wantErr:  "",
		},
		{
			name:     "head one byte over the default limit",
			viaProxy: false,
			maxBytes: 0,
			respond:  accepted(16385, ""),
			wantErr:  "server's handshake response header exceeds 16384 bytes",
		},
		{
			// 1024/32 = 32 lines: the three of the handshake and 29 more.
			name:     "lines at a small limit",
			viaProxy: false,
			maxBytes: 1024,
			respond:  accepted(0, strings.Repeat("X-A: 1\r\n", 29)),
			wantErr:  "",
		},
		{
			name:     "one line over a small limit",
			viaProxy: false,
			maxBytes: 1024,
			respond:  accepted(0, strings.Repeat("X-A: 1\r\n", 30)),
			wantErr:  "server's handshake response header exceeds 32 lines",
		},
		{
			name:     "refusal with an endless line",
			viaProxy: false,
			maxBytes: 0,
			respond:  fixed("HTTP/1.1 403 Forbidden\r\nX-Long: "),
			endless:  "a",
			wantErr:  "server's handshake response header exceeds 16384 bytes",
		},
		{
			name:     "proxy sends an endless line",
			viaProxy: true,
			maxBytes: 0,
			respond:  fixed("HTTP/1.1 200 OK\r\nX-Long: "),
			endless:  "a",
			wantErr:  "proxy's CONNECT response header exceeds 16384 bytes",
		},
		{
			name:     "proxy sends endless short lines",
			viaProxy: true,
			maxBytes: 0,
			respond:  fixed("HTTP/1.1 200 OK\r\n"),
			endless:  "A: b\r\n",
			wantErr:  "proxy's CONNECT response header exceeds 512 lines",
		},
		{
			name:     "proxy head one byte over a small limit",
			viaProxy: true,
			maxBytes: 100,
			respond:  fixed("HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", 100-len("HTTP/1.1 200 OK\r\nX-Pad: \r\n\r\n")+1) + "\r\n\r\n"),
			wantErr:  "proxy's CONNECT response header exceeds 100 bytes",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wstest.CheckLeaks(t)
			var chunk []byte
			if tc.endless != "" {
				chunk = []byte(strings.Repeat(tc.endless, 32<<10/len(tc.endless)))
			}
			addr := rawServer(t, func(nc net.Conn, req *http.Request) {
				if _, err := io.WriteString(nc, tc.respond(req.Header.Get("Sec-WebSocket-Key"))); err != nil {
					return
				}
				// Without a bound, a client would read all of this; stop
				// well short of exhausting the test's memory.
				for sent := 0; chunk != nil && sent < 32<<20; sent += len(chunk) {
					if _, err := nc.Write(chunk); err != nil {
						return
					}
				}
				waitForClose(nc)
			})
			target := "ws://" + addr + "/"
			opts := &DialOptions{MaxResponseHeaderBytes: tc.maxBytes}
			if tc.viaProxy {
				target = "ws://127.0.0.1:9/"
				opts.Proxy = proxyAt(addr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, _, err := Dial(ctx, target, opts)
			runtime.ReadMemStats(&after)

			if err == nil {
				c.CloseNow()
			}
			if grown := after.TotalAlloc - before.TotalAlloc; grown > 2<<20 {
				t.Errorf("Dial allocated %d KiB", grown>>10)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Dial: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Dial succeeded, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			case tc.wantErr != "" && !errors.Is(err, ErrResponseHeaderTooLarge):
				t.Fatalf("error %q does not wrap ErrResponseHeaderTooLarge", err)
			}
		})
	}
}

func TestDialRefusesNegativeMaxResponseHeaderBytes(t *testing.T) {
	dialed := false
	opts := &DialOptions{
		MaxResponseHeaderBytes: -1,
		NetDialContext: func(context.Context, string, string) (net.Conn, error) {
			dialed = true
			return nil, errors.New("dialed")
		},
	}
	_, _, err := Dial(context.Background(), "ws://127.0.0.1:9/", opts)
	if err == nil || !strings.Contains(err.Error(), "MaxResponseHeaderBytes") {
		t.Fatalf("error %v, want one naming MaxResponseHeaderBytes", err)
	}
	if dialed {
		t.Fatal("Dial dialed with invalid options")
	}
}

// TestCompressionModeInvalid: a CompressionMode that is not one of the
// defined constants is a configuration error in either role, and no
// handshake ever carries an empty Sec-WebSocket-Extensions header.
func TestCompressionModeInvalid(t *testing.T) {
	tests := []struct {
		name          string
		clientMode    CompressionMode
		serverMode    CompressionMode
		wantDialErr   string // "" when Dial must succeed
		wantStatus    int    // the refusal's status; 0 when Dial must not dial
		wantAcceptErr string // "" when Accept must succeed or not run
	}{
		{
			name:          "client mode 42",
			clientMode:    CompressionMode(42),
			serverMode:    CompressionContextTakeover,
			wantDialErr:   "invalid DialOptions.Compression.Mode CompressionMode(42)",
			wantStatus:    0,
			wantAcceptErr: "",
		},
		{
			name:          "client mode past the last",
			clientMode:    CompressionContextTakeover + 1,
			serverMode:    CompressionDisabled,
			wantDialErr:   "invalid DialOptions.Compression.Mode CompressionMode(3)",
			wantStatus:    0,
			wantAcceptErr: "",
		},
		{
			name:          "client mode negative",
			clientMode:    CompressionMode(-1),
			serverMode:    CompressionDisabled,
			wantDialErr:   "invalid DialOptions.Compression.Mode CompressionMode(-1)",
			wantStatus:    0,
			wantAcceptErr: "",
		},
		{
			name:          "server mode 42, client offers compression",
			clientMode:    CompressionContextTakeover,
			serverMode:    CompressionMode(42),
			wantDialErr:   "server answered 500",
			wantStatus:    http.StatusInternalServerError,
			wantAcceptErr: "invalid AcceptOptions.Compression.Mode CompressionMode(42)",
		},
		{
			name:          "server mode 42, client does not offer",
			clientMode:    CompressionDisabled,
			serverMode:    CompressionMode(42),
			wantDialErr:   "server answered 500",
			wantStatus:    http.StatusInternalServerError,
			wantAcceptErr: "invalid AcceptOptions.Compression.Mode CompressionMode(42)",
		},
		{
			name:          "both no context takeover",
			clientMode:    CompressionNoContextTakeover,
			serverMode:    CompressionNoContextTakeover,
			wantDialErr:   "",
			wantStatus:    0,
			wantAcceptErr: "",
		},
		{
			name:          "both disabled",
			clientMode:    CompressionDisabled,
			serverMode:    CompressionDisabled,
			wantDialErr:   "",
			wantStatus:    0,
			wantAcceptErr: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wstest.CheckLeaks(t)
			type accepted struct {
				extensions []string
				err        error
			}
			acceptCh := make(chan accepted, 1)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Mode: tc.serverMode}}})
				if err == nil {
					c.CloseNow()
				}
				acceptCh <- accepted{r.Header["Sec-Websocket-Extensions"], err}
			}))
			defer ts.Close()

			dials := 0
			opts := &DialOptions{
				ConnOptions: ConnOptions{Compression: CompressionOptions{Mode: tc.clientMode}},
				NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials++
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), opts)
			if err == nil {
				c.CloseNow()
			}
			switch {
			case tc.wantDialErr == "" && err != nil:
				t.Fatalf("Dial: %v", err)
			case tc.wantDialErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantDialErr)):
				t.Fatalf("Dial error %v, want it to contain %q", err, tc.wantDialErr)
			}
			if tc.wantDialErr != "" && tc.wantStatus == 0 {
				if dials != 0 {
					t.Fatal("Dial dialed with an invalid CompressionMode")
				}
				return
			}
			if tc.wantStatus != 0 && (resp == nil || resp.StatusCode != tc.wantStatus) {
				t.Fatalf("response %v, want status %d", resp, tc.wantStatus)
			}
			a := await(t, acceptCh, "the accepted Conn")
			for _, v := range a.extensions {
				if strings.TrimSpace(v) == "" {
					t.Errorf("client sent an empty Sec-WebSocket-Extensions header")
				}
			}
			switch {
			case tc.wantAcceptErr == "" && a.err != nil:
				t.Fatalf("Accept: %v", a.err)
			case tc.wantAcceptErr != "" && (a.err == nil || !strings.Contains(a.err.Error(), tc.wantAcceptErr)):
				t.Fatalf("Accept error %v, want it to contain %q", a.err, tc.wantAcceptErr)
			}
			if tc.wantAcceptErr != "" {
				var herr *HandshakeError
				if !errors.As(a.err, &herr) || herr.Status != http.StatusInternalServerError {
					t.Fatalf("Accept error %v, want a *HandshakeError with status 500", a.err)
				}
			}
		})
	}
}

// TestClientRequestExtensionsHeader: whatever the mode, the request carries
// a Sec-WebSocket-Extensions header only with an offer in it.
func TestClientRequestExtensionsHeader(t *testing.T) {
	u, _ := url.Parse("http://example.com/")
	req := &http.Request{URL: u, Host: u.Host}
	for _, mode := range []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover, CompressionContextTakeover + 1, 42, -1} {
		opts := &DialOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Mode: mode}}}
		head := string(appendClientRequest(nil, req, "dGhlIHNhbXBsZSBub25jZQ==", opts))
		parsed, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		exts, sent := parsed.Header["Sec-Websocket-Extensions"]
		if sent != deflateEnabled(&opts.Compression) {
			t.Errorf("mode %d: extensions header sent %v, compression enabled %v", mode, sent, deflateEnabled(&opts.Compression))
		}
		for _, v := range exts {
			if strings.TrimSpace(v) == "" {
				t.Errorf("mode %d: empty Sec-WebSocket-Extensions header", mode)
			}
		}
	}
}

// TestDialPeerClosesMidHead: a server or proxy that closes in the middle
// of its answer's head is reported in words, wrapping
// io.ErrUnexpectedEOF, where a bare EOF was (an outside probe).
func TestDialPeerClosesMidHead(t *testing.T) {
	wstest.CheckLeaks(t)
	half := func(nc net.Conn, req *http.Request) {
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
	}
	server := rawServer(t, half)
	proxy := rawServer(t, half)
	for _, tc := range []struct {
		name string
		url  string
		opts *DialOptions
		want string
	}{
		{
			name: "server",
			url:  "ws://" + server,
			want: "failed to read handshake response: connection closed after 54 bytes of the server's handshake response head",
		},
		{
			name: "proxy",
			url:  "ws://example.com",
			opts: &DialOptions{Proxy: proxyAt(proxy)},
			want: "connection closed after 54 bytes of the proxy's CONNECT response head",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Dial(testCtx(t), tc.url, tc.opts)
			if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial: %v, want an error wrapping io.ErrUnexpectedEOF saying %q", err, tc.want)
			}
		})
	}
}

// FuzzReadHead checks readHead against net/http: where net/http reads a
// head, readHead ends it at the same byte, and refuses it only when it is
// over the limits.
func FuzzReadHead(f *testing.F) {
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00", 256, uint8(7))
	f.Add("HTTP/1.1 403 Forbidden\nContent-Length: 3\n\nbad", 64, uint8(1))
	f.Add("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", 32, uint8(3))
	f.Add("HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n", 64, uint8(0))
	f.Add("\r\n\r\n", 64, uint8(2))
	f.Add("HTTP/1.0 200 OK\r\n"+strings.Repeat("A: b\r\n", 3)+"\r\n", 64, uint8(5))
	f.Fuzz(func(t *testing.T, s string, maxBytes int, chunk uint8) {
		maxBytes = 1 + int(uint(maxBytes)%1024)
		r := &chunkReader{s: s, n: 1 + int(chunk)%64}
		data, head, err := readHead(r, make([]byte, 16), maxBytes, "fuzz")

		sr := strings.NewReader(s)
		br := bufio.NewReader(sr)
		_, herr := http.ReadResponse(br, nil)
		consumed := -1
		if herr == nil {
			consumed = len(s) - sr.Len() - br.Buffered()
		}
		switch {
		case err == nil:
			if head > maxBytes || head > len(data) || s[:len(data)] != string(data) {
				t.Fatalf("head %d of %d read, limit %d", head, len(data), maxBytes)
			}
			if lines := strings.Count(string(data[:head]), "\n") - 2; lines > maxBytes/headerLineBytes {
				t.Fatalf("%d header lines, limit %d", lines, maxBytes/headerLineBytes)
			}
			if herr == nil && consumed != head {
				t.Fatalf("head ends at %d, net/http read %d", head, consumed)
			}
		case errors.Is(err, ErrResponseHeaderTooLarge):
			if herr == nil && consumed <= maxBytes && strings.Count(s[:consumed], "\n")-2 <= maxBytes/headerLineBytes {
				t.Fatalf("refused a head of %d bytes that net/http reads: %v", consumed, err)
			}
		default:
			if herr == nil {
				t.Fatalf("readHead: %v, but net/http reads a head of %d bytes", err, consumed)
			}
		}
	})
}

// chunkReader returns s at most n bytes per Read.
type chunkReader struct {
	s string
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p, r.s[:min(r.n, len(r.s))])
	r.s = r.s[n:]
	return n, nil
}

// TestDialSkipsInterimResponses: informational responses (100 Continue,
// 103 Early Hints) before the 101 are skipped, as HTTP asks of a client
// (RFC 9110, section 15.2), frames right behind the 101 still arrive, and
// a server that sends nothing but them is refused after a bounded number.
func TestDialSkipsInterimResponses(t *testing.T) {
	switching := func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
	}
	hello := string(frame(true, 0, opText, false, []byte("hello")))
	tests := []struct {
		name    string
		respond func(key string) []string // written one after the other
		wantErr string                    // "" when Dial must succeed and read "hello"
	}{
		{
			name: "100 Continue",
			respond: func(key string) []string {
				return []string{"HTTP/1.1 100 Continue\r\n\r\n", switching(key) + hello}
			},
		},
		{
			name: "103 Early Hints and 100 in one write with the 101",
			respond: func(key string) []string {
				return []string{"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + switching(key) + hello}
			},
		},
		{
			name: "too many",
			respond: func(key string) []string {
				return []string{strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterimResponses+1) + switching(key)}
			},
			wantErr: "more than 5 informational (1xx) responses",
		},
		{
			name: "1xx then a refusal",
			respond: func(key string) []string {
				return []string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"}
			},
			wantErr: "403",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, func(nc net.Conn, req *http.Request) {
				for _, part := range tc.respond(req.Header.Get("Sec-WebSocket-Key")) {
					if _, err := io.WriteString(nc, part); err != nil {
						return
					}
				}
				waitForClose(nc)
			})
			ctx := testCtx(t)
			c, _, err := Dial(ctx, "ws://"+addr, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Dial: %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hello" {
				t.Fatalf("Read: %q, %v", msg, err)
			}
		})
	}
}

// TestDialThroughProxyAnySuccess: every 2xx answer to CONNECT opens the
// tunnel (RFC 9110, section 9.3.6); Dial took only 200 (an outside probe).
// Other answers are refusals, a *HandshakeError with the proxy's status.
// Informational answers before the final one are skipped (RFC 9110,
// section 15.2); Dial took them for refusals (an outside probe).
func TestDialThroughProxyAnySuccess(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err == nil {
			c.Write(r.Context(), typ, msg)
		}
	}))
	t.Cleanup(origin.Close)
	const early = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
	tests := []struct {
		interim string // informational answers before the final one
		status  string
		refused bool
	}{
		{status: "200 Connection established"},
		{status: "204 No Content"},
		{status: "299 Whatever"},
		{status: "302 Found", refused: true},
		{status: "407 Proxy Authentication Required", refused: true},
		{
			interim: "HTTP/1.1 100 Continue\r\n\r\n",
			status:  "200 Connection established",
		},
		{
			interim: early + "HTTP/1.1 100 Continue\r\n\r\n",
			status:  "200 Connection established",
		},
		{
			interim: early,
			status:  "407 Proxy Authentication Required",
			refused: true,
		},
	}
	for _, tc := range tests {
		t.Run(strings.Repeat("1xx, ", strings.Count(tc.interim, "HTTP/"))+tc.status, func(t *testing.T) {
			proxy := rawServer(t, func(nc net.Conn, req *http.Request) {
				if req.Method != http.MethodConnect {
					return
				}
				fmt.Fprintf(nc, "%sHTTP/1.1 %s\r\n\r\n", tc.interim, tc.status)
				if tc.refused {
					waitForClose(nc)
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					return
				}
				defer up.Close()
				go func() {
					io.Copy(up, nc)
					up.Close() // the client left: end the other direction too
				}()
				io.Copy(nc, up)
			})
			ctx := testCtx(t)
			c, _, err := Dial(ctx, "ws"+strings.TrimPrefix(origin.URL, "http"), &DialOptions{Proxy: proxyAt(proxy)})
			if tc.refused {
				var he *HandshakeError
				if !errors.As(err, &he) || !strings.HasPrefix(tc.status, fmt.Sprint(he.Status, " ")) || !strings.Contains(err.Error(), "refused CONNECT") {
					t.Fatalf("Dial: %v, want a *HandshakeError with the proxy's status", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, MessageText, []byte("through")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || string(got) != "through" {
				t.Fatalf("echo: %q, %v", got, err)
			}
		})
	}
}
