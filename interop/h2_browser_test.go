package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// WebSockets over HTTP/2 from headless Chromium. Chromium opens a
// WebSocket as a stream of the HTTP/2 connection it already has to the
// server when the server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL, and
// over a connection of its own with an HTTP/1.1 Upgrade otherwise. The
// examples/echo page is served over https://127.0.0.1 by an echo server
// in the test process (or, for the server without extended CONNECT, in a
// child process: the switch is process-wide), which records for every
// WebSocket how its handshake came and on which TCP connection.

// h2EchoMode is what the echo server offers.
type h2EchoMode int

const (
	// echoH2: HTTP/2 with extended CONNECT (this process has
	// GODEBUG=http2xconnect=1, see h2_test.go).
	echoH2 h2EchoMode = iota
	// echoH2NoXConnect: HTTP/2 without extended CONNECT, the default of
	// Go 1.25 and 1.26; served by a child process with
	// GODEBUG=http2xconnect=0.
	echoH2NoXConnect
	// echoH1: TLS offering only http/1.1 in ALPN.
	echoH1
)

// echoReplyPrefix starts every reply of examples/echo, and of ours.
const echoReplyPrefix = "Server: Hello. You said: "

// closeCommand, followed by a code and a reason, asks the echo server to
// close the connection.
const closeCommand = "close please "

// h2EchoServer serves the examples/echo page at / and an echo endpoint
// with the semantics of examples/echo at /ws, and reports each WebSocket
// as a "ws" event when it ends.
type h2EchoServer struct {
	page  []byte
	opts  *websocket.AcceptOptions
	conns connCounter
	emit  func(event string, data any)
	mux   *http.ServeMux

	pageConn atomic.Int32 // the TCP connection of the last request for the page
}

func newH2EchoServer(page []byte, compress bool, emit func(string, any)) *h2EchoServer {
	s := &h2EchoServer{page: page, opts: &websocket.AcceptOptions{}, emit: emit, mux: http.NewServeMux()}
	if compress {
		s.opts.Compression.Mode = websocket.CompressionContextTakeover
	}
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(s.page)
	})
	// No method in the pattern: over HTTP/2 the handshake is a CONNECT.
	s.mux.HandleFunc("/ws", s.serveWS)
	return s
}

func (s *h2EchoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.conns.request(r)
	if r.URL.Path == "/" {
		s.pageConn.Store(int32(connNumber(r)))
	}
	s.mux.ServeHTTP(w, r)
}

// configure sets up srv, not yet started, for mode.
func (s *h2EchoServer) configure(srv *httptest.Server, mode h2EchoMode) {
	srv.Config.ConnContext = s.conns.connContext
	srv.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	if mode != echoH1 {
		srv.EnableHTTP2 = true
		srv.TLS.NextProtos = []string{"h2", "http/1.1"}
	}
}

func (s *h2EchoServer) serveWS(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("socket")
	if name == "" {
		name = "page"
	}
	rec := newWSRecord(r, name)
	defer func() {
		rec.TCPConns, rec.RequestConns = s.conns.accepted(), s.conns.withRequests()
		rec.PageConn = int(s.pageConn.Load())
		s.emit("ws", rec)
	}()
	c, err := websocket.Accept(w, r, s.opts)
	if err != nil {
		rec.Err = "handshake: " + err.Error()
		return
	}
	// Over HTTP/2 the WebSocket is the request's stream: return only once
	// it is done.
	defer func() {
		c.CloseNow()
		<-c.Done()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var reply []byte
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				rec.PeerClose = &closeRecord{Code: int(ce.Code), Reason: ce.Reason}
			} else {
				rec.Err = err.Error()
			}
			return
		}
		if typ == websocket.MessageText && bytes.HasPrefix(p, []byte(closeCommand)) {
			code, reason, _ := strings.Cut(string(p[len(closeCommand):]), " ")
			n, _ := strconv.Atoi(code)
			rec.OurClose = &closeRecord{Code: n, Reason: reason}
			if err := c.Close(websocket.StatusCode(n), reason); err != nil {
				rec.OurClose.Err = err.Error()
			}
			return
		}
		reply = append(append(reply[:0], echoReplyPrefix...), p...)
		if err := c.Write(ctx, typ, reply); err != nil {
			rec.Err = "write: " + err.Error()
			return
		}
		rec.Messages++
	}
}

// echoPage reads the examples/echo page.
func echoPage(t *testing.T) []byte {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(*rootDir, "examples", "echo", "index.html"))
	if err != nil {
		t.Fatalf("the examples/echo page: %v", err)
	}
	return page
}

// startH2EchoServer starts the echo server for mode and returns the page's
// URL and where its events come from.
func startH2EchoServer(t *testing.T, mode h2EchoMode, compress bool) (string, eventSource) {
	t.Helper()
	if mode == echoH2NoXConnect {
		return startH2EchoProcess(t, compress)
	}
	events := newEventLog()
	s := newH2EchoServer(echoPage(t), compress, events.add)
	srv := httptest.NewUnstartedServer(s)
	s.configure(srv, mode)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/", events
}

// The child process serving the echo page without extended CONNECT is this
// test binary, running TestH2EchoServerProcess with the environment below.
const (
	h2EchoProcessEnv = "INTEROP_H2_ECHO_SERVER" // "plain" or "deflate"
	h2EchoPageEnv    = "INTEROP_H2_ECHO_PAGE"   // the page to serve
)

// startH2EchoProcess starts the echo server in a child process with
// GODEBUG=http2xconnect=0: HTTP/2 without extended CONNECT.
func startH2EchoProcess(t *testing.T, compress bool) (string, eventSource) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	envBin, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	page, err := filepath.Abs(filepath.Join(*rootDir, "examples", "echo", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	variant := "plain"
	if compress {
		variant = "deflate"
	}
	proc := startPeer(t, procSpec{
		name: "echo-server-h2-no-xconnect",
		dir:  ".",
		argv: []string{envBin, "GODEBUG=http2xconnect=0", h2EchoProcessEnv + "=" + variant, h2EchoPageEnv + "=" + page,
			exe, "-test.run=^TestH2EchoServerProcess$", "-test.count=1"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, _, err := proc.waitEvent(ctx, 0, "its listening line", func(ev peerEvent) bool { return ev.Event == "listening" })
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("https://127.0.0.1:%d/", ev.Port), proc
}

// TestH2EchoServerProcess is not a test of its own: TestChromiumH2 runs the
// test binary with INTEROP_H2_ECHO_SERVER set and this test selected, to
// serve the echo page from a process whose HTTP/2 server does not offer
// extended CONNECT. It prints {"event":"listening","port":N}, then a "ws"
// event per WebSocket, and serves until its stdin closes.
func TestH2EchoServerProcess(t *testing.T) {
	variant := os.Getenv(h2EchoProcessEnv)
	if variant == "" {
		return
	}
	page, err := os.ReadFile(os.Getenv(h2EchoPageEnv))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	emitLine := func(event string, data any) {
		line, err := json.Marshal(map[string]any{"event": event, "data": data})
		if err != nil {
			panic(err)
		}
		mu.Lock()
		os.Stdout.Write(append(line, '\n'))
		mu.Unlock()
	}
	s := newH2EchoServer(page, variant == "deflate", emitLine)
	srv := httptest.NewUnstartedServer(s)
	s.configure(srv, echoH2NoXConnect)
	srv.StartTLS()
	defer srv.Close()
	mu.Lock()
	fmt.Fprintf(os.Stdout, "{\"event\":\"listening\",\"port\":%d}\n", port(t, srv))
	mu.Unlock()
	io.Copy(io.Discard, os.Stdin)
}

// startH2Browser starts Chromium driven by peers/h2_browser.mjs.
func startH2Browser(t *testing.T) (*browser, error) {
	return startBrowserDriver(t, "chromium-h2", "h2_browser.mjs")
}

// h2PageChecks is what peers/h2_browser.mjs reports of the echo page.
type h2PageChecks struct {
	NextHopProtocol  string `json:"nextHopProtocol"` // how the page itself came
	StatusOnLoad     string `json:"statusOnLoad"`
	TextReply        string `json:"textReply"`
	BinaryReply      string `json:"binaryReply"`
	StatusAfterClose string `json:"statusAfterClose"`
	Sockets          []struct {
		TextOK      bool   `json:"textOK"`
		BinaryOK    bool   `json:"binaryOK"`
		BigTextOK   bool   `json:"bigTextOK"`
		BigBinaryOK bool   `json:"bigBinaryOK"`
		Extensions  string `json:"extensions"`
		Close       struct {
			Code     int    `json:"code"`
			Reason   string `json:"reason"`
			WasClean bool   `json:"wasClean"`
		} `json:"close"`
	} `json:"sockets"`
}

// socketEnd is how one of the page's WebSockets ends: closed by the page,
// or by the server when asked to (closeCommand).
type socketEnd struct {
	closeRecord
	byServer bool
}

// h2SocketEnds are the WebSockets the page opens besides its own.
var h2SocketEnds = []socketEnd{
	{closeRecord: closeRecord{Code: 4000, Reason: "closed by the page ✓"}},
	{closeRecord: closeRecord{Code: 4001, Reason: "closed by the server ✓"}, byServer: true},
	{closeRecord: closeRecord{Code: 1000, Reason: "done"}},
}

// TestChromiumH2 opens the examples/echo page in Chromium over HTTP/2 and
// checks on the server's side that the page's WebSockets came as extended
// CONNECT streams of the page's own TCP connection; and that without
// extended CONNECT, or without HTTP/2, they come as HTTP/1.1 Upgrades.
func TestChromiumH2(t *testing.T) {
	b, startErr := startH2Browser(t)
	deflate := compression{name: "permessage-deflate", peerArg: "default"}
	for _, tc := range []struct {
		name      string
		mode      h2EchoMode
		comp      compression
		direction string
	}{
		{
			name:      "h2",
			mode:      echoH2,
			comp:      compressionOff,
			direction: "browser → examples/echo page over HTTP/2 (wss://, RFC 8441 extended CONNECT)",
		},
		{
			name:      "h2 deflate",
			mode:      echoH2,
			comp:      deflate,
			direction: "browser → examples/echo page over HTTP/2 (wss://, RFC 8441 extended CONNECT)",
		},
		{
			name:      "h2 without extended CONNECT",
			mode:      echoH2NoXConnect,
			comp:      compressionOff,
			direction: "browser → examples/echo page over HTTP/2 without extended CONNECT (GODEBUG=http2xconnect=0): WebSockets fall back to HTTP/1.1",
		},
		{
			name:      "http1 only",
			mode:      echoH1,
			comp:      compressionOff,
			direction: "browser → examples/echo page over HTTP/1.1 (TLS without h2 in ALPN): WebSockets over HTTP/1.1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRow(t, "Chromium", tc.direction, tc.comp.name)
			if startErr != nil {
				t.Fatal(startErr)
			}
			r.setVersion(strings.TrimPrefix(b.version, "Chromium "))
			browserH2Echo(t, b, r, tc.mode, tc.comp)
			tc.comp.finish(t, r)
		})
	}
}

// browserH2Echo runs the echo page's checks in Chromium against the echo
// server in mode, then the server's.
func browserH2Echo(t *testing.T, b *browser, r *row, mode h2EchoMode, comp compression) {
	compress := comp.on() && *compressionOn
	pageURL, events := startH2EchoServer(t, mode, compress)
	wsURL := "wss" + strings.TrimPrefix(strings.TrimSuffix(pageURL, "/"), "https") + "/ws"
	var ends []map[string]any
	for _, e := range h2SocketEnds {
		ends = append(ends, map[string]any{"code": e.Code, "reason": e.Reason, "byServer": e.byServer})
	}
	id := b.job(t, map[string]any{"job": "h2", "url": pageURL, "ws": wsURL, "ends": ends, "closeCommand": closeCommand})
	var got h2PageChecks
	if !b.result(t, id, 90*time.Second, &got) {
		return
	}

	// The browser's side.
	const hello = "hello over HTTP/2 ✓"
	wantHop := "h2"
	if mode == echoH1 {
		wantHop = "http/1.1"
	}
	checks := []struct {
		name string
		ok   bool
		got  any
	}{
		{
			name: "protocol of the page (nextHopProtocol)",
			ok:   got.NextHopProtocol == wantHop,
			got:  got.NextHopProtocol,
		},
		{
			name: "#status after load",
			ok:   got.StatusOnLoad == "open",
			got:  got.StatusOnLoad,
		},
		{
			name: "text reply in #log",
			ok:   got.TextReply == echoReplyPrefix+hello,
			got:  got.TextReply,
		},
		{
			name: "binary reply in #log",
			ok:   got.BinaryReply == fmt.Sprintf("binary %d bytes", len(echoReplyPrefix)+1000),
			got:  got.BinaryReply,
		},
		{
			name: "#status after the close button",
			ok:   strings.TrimSpace(got.StatusAfterClose) == "closed 1000",
			got:  got.StatusAfterClose,
		},
		{
			name: "number of WebSockets opened by the checks",
			ok:   len(got.Sockets) == len(h2SocketEnds),
			got:  len(got.Sockets),
		},
	}
	for i, s := range got.Sockets {
		want := h2SocketEnds[i]
		checks = append(checks, []struct {
			name string
			ok   bool
			got  any
		}{
			{
				name: fmt.Sprintf("socket %d: text, binary, 1 MiB text and 1 MiB binary echoed byte for byte", i),
				ok:   s.TextOK && s.BinaryOK && s.BigTextOK && s.BigBinaryOK,
				got:  fmt.Sprintf("text %v, binary %v, 1 MiB text %v, 1 MiB binary %v", s.TextOK, s.BinaryOK, s.BigTextOK, s.BigBinaryOK),
			},
			{
				name: fmt.Sprintf("socket %d: close event", i),
				// The page sees the reason of the close frame that ended
				// the connection: ours, where the server started, and
				// otherwise the server's answer, which has none.
				ok:  s.Close.Code == want.Code && s.Close.WasClean && (s.Close.Reason == want.Reason || !want.byServer),
				got: fmt.Sprintf("%+v", s.Close),
			},
			{
				name: fmt.Sprintf("socket %d: extensions negotiated", i),
				ok:   strings.Contains(s.Extensions, "permessage-deflate") == compress,
				got:  fmt.Sprintf("%q", s.Extensions),
			},
		}...)
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("browser: %s: got %v", c.name, c.got)
		}
	}

	// The server's side: every WebSocket, ended.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	recs, err := waitRecords(ctx, events, 1+len(h2SocketEnds))
	for _, rec := range recs {
		t.Logf("server: %v", rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]wsRecord{}
	for _, rec := range recs {
		byName[rec.Name] = rec
	}
	wantEnds := map[string]wsRecord{
		"page": {Messages: 2, PeerClose: &closeRecord{Code: 1000, Reason: "bye"}},
	}
	for i, e := range h2SocketEnds {
		end := wsRecord{Messages: 4, PeerClose: &e.closeRecord}
		if e.byServer {
			end = wsRecord{Messages: 4, OurClose: &e.closeRecord}
		}
		wantEnds[strconv.Itoa(i)] = end
	}
	var last wsRecord // the last to end: its counts cover the others
	conns := map[int]bool{}
	for name, want := range wantEnds {
		rec, ok := byName[name]
		if !ok {
			t.Errorf("server: no record of WebSocket %q", name)
			continue
		}
		if rec.RequestConns >= last.RequestConns {
			last = rec
		}
		conns[rec.Conn] = true
		if rec.Err != "" || rec.Messages != want.Messages || !sameClose(rec.PeerClose, want.PeerClose) || !sameClose(rec.OurClose, want.OurClose) {
			t.Errorf("server: WebSocket %q: %v; want %d messages echoed and the close %v", name, rec, want.Messages, wsRecord{PeerClose: want.PeerClose, OurClose: want.OurClose})
		}
		switch {
		case mode == echoH2 && (rec.ProtoMajor != 2 || rec.Method != http.MethodConnect || rec.ALPN != "h2"):
			t.Errorf("server: WebSocket %q came as %s %s (ALPN %q), want HTTP/2.0 CONNECT (ALPN h2)", name, rec.Proto, rec.Method, rec.ALPN)
		case mode == echoH2 && rec.Conn != rec.PageConn:
			t.Errorf("server: WebSocket %q came on TCP connection %d, the page on %d: want the same", name, rec.Conn, rec.PageConn)
		case mode != echoH2 && (rec.ProtoMajor != 1 || rec.Method != http.MethodGet || rec.ALPN != "http/1.1"):
			t.Errorf("server: WebSocket %q came as %s %s (ALPN %q), want HTTP/1.1 GET (ALPN http/1.1)", name, rec.Proto, rec.Method, rec.ALPN)
		case mode != echoH2 && rec.Conn == rec.PageConn:
			t.Errorf("server: WebSocket %q came on the page's TCP connection %d, want one of its own", name, rec.Conn)
		}
	}
	// Chromium may open a second connection as it loads the page, which it
	// closes unused once the first has come up: count the connections
	// that carried requests.
	unused := fmt.Sprintf("%d TCP connections accepted in all", last.TCPConns)
	if n := last.TCPConns - last.RequestConns; n > 0 {
		unused += fmt.Sprintf(", %d closed unused", n)
	}
	switch mode {
	case echoH2:
		// Four WebSockets open at once, and the page, on one connection.
		if len(conns) != 1 || last.RequestConns != 1 {
			t.Errorf("server: the WebSockets came on %d TCP connections, and requests on %d; want 1", len(conns), last.RequestConns)
		}
		r.addNote(fmt.Sprintf("server saw the page and its %d WebSockets (all open at once) as HTTP/2 streams of one TCP connection, CONNECT with :protocol websocket (%s)", len(recs), unused))
	default:
		if len(conns) != len(wantEnds) || last.RequestConns != 1+len(wantEnds) {
			t.Errorf("server: %d WebSockets over HTTP/1.1 came on %d TCP connections, requests on %d; want one each, and one for the page", len(wantEnds), len(conns), last.RequestConns)
		}
		r.addNote(fmt.Sprintf("page over %s; server saw its %d WebSockets as HTTP/1.1 GET Upgrades, one TCP connection each (%s)", got.NextHopProtocol, len(recs), unused))
	}
	r.addNote("text, binary, 1 MiB both types; closes 1000/4000 by the page, 4001 by the server")
}

func sameClose(a, b *closeRecord) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Code == b.Code && a.Reason == b.Reason && a.Err == b.Err
}
