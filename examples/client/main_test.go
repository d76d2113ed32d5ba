package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/examples/internal/testutil"
)

// echoServer is the server the client talks to in these tests. Each
// connection is greeted with "welcome" (and with binary 00 01 02 ff when
// the URL has ?binary), then every message is answered with
// "echo: <message>"; with ?bye the server closes at once with 1001 "bye",
// and with ?drop it drops the connection without a close frame.
type echoServer struct {
	url      string           // ws://127.0.0.1:port/ws
	headers  chan http.Header // request headers of each connection
	conns    chan *websocket.Conn
	closeRcv chan websocket.StatusCode
}

func startServer(t *testing.T, tlsServer bool) *echoServer {
	t.Helper()
	s := &echoServer{
		headers:  make(chan http.Header, 10),
		conns:    make(chan *websocket.Conn, 10),
		closeRcv: make(chan websocket.StatusCode, 10),
	}
	var handlers sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:   []string{"echo.v2", "echo.v1"},
			OriginPatterns: []string{"example.com"},
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		s.headers <- r.Header
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Write(ctx, websocket.MessageText, []byte("welcome")); err != nil {
			t.Errorf("server: Write: %v", err)
			return
		}
		q := r.URL.Query()
		if q.Has("binary") {
			if err := c.Write(ctx, websocket.MessageBinary, []byte{0, 1, 2, 0xff}); err != nil {
				t.Errorf("server: Write: %v", err)
				return
			}
		}
		if q.Has("bye") {
			c.Close(websocket.StatusGoingAway, "bye")
			return
		}
		if q.Has("drop") {
			c.CloseNow() // no close frame: the client sees the connection lost
			return
		}
		s.conns <- c
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				s.closeRcv <- websocket.CloseStatus(err)
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo: "), msg...)); err != nil {
				t.Errorf("server: Write: %v", err)
				return
			}
		}
	})
	var ts *httptest.Server
	if tlsServer {
		ts = httptest.NewTLSServer(h)
	} else {
		ts = httptest.NewServer(h)
	}
	t.Cleanup(func() {
		ts.Close()
		// Hijacked connections are not the httptest server's to wait for.
		handlers.Wait()
	})
	s.url = "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
	return s
}

// awaitReading returns once the client of the next connection is inside a
// read, which it shows by answering a ping. It stays there until a message
// or a close frame arrives, so that the server's answer to a close the
// client starts from now on reaches the client's reader.
func (s *echoServer) awaitReading(ctx context.Context, t *testing.T) {
	t.Helper()
	var c *websocket.Conn
	select {
	case c = <-s.conns:
	case <-ctx.Done():
		t.Fatal("no connection")
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("server: Ping: %v", err)
	}
}

// session is one run of the client, fed through a pipe.
type session struct {
	t      *testing.T
	ctx    context.Context // bounds every wait of the test
	cancel context.CancelFunc
	stdin  *io.PipeWriter
	out    *testutil.Lines
	next   int // next line of out to check
	done   chan error
}

func start(t *testing.T, args ...string) *session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	runCtx, interrupt := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	s := &session{t: t, ctx: ctx, cancel: interrupt, stdin: pw, out: testutil.NewLines(), done: make(chan error, 1)}
	go func() { s.done <- run(runCtx, args, pr, s.out) }()
	t.Cleanup(func() {
		// The end of input stops the goroutine reading it, however run ended.
		pw.Close()
		interrupt()
		s.wait()
		cancel()
	})
	return s
}

// expect checks the next lines of output.
func (s *session) expect(lines ...string) {
	s.t.Helper()
	for _, want := range lines {
		got, ok := s.out.Line(s.ctx, s.next)
		if !ok {
			s.t.Fatalf("waiting for line %q: %v; output so far:\n%s", want, s.ctx.Err(), s.out)
		}
		if got != want {
			s.t.Fatalf("line %d is %q, want %q; output so far:\n%s", s.next, got, want, s.out)
		}
		s.next++
	}
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		s.t.Fatalf("writing to stdin: %v", err)
	}
}

// wait returns what run returned.
func (s *session) wait() error {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	default:
	}
	select {
	case err := <-s.done:
		s.done <- err // for the next call
		return err
	case <-s.ctx.Done():
		s.t.Fatalf("run did not return; output so far:\n%s", s.out)
		return nil
	}
}

func closeCode(t *testing.T, srv *echoServer) websocket.StatusCode {
	t.Helper()
	select {
	case code := <-srv.closeRcv:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no end of the connection")
		return 0
	}
}

func TestLinesAndEndOfInput(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	s := start(t, srv.url)
	s.expect("connected to "+srv.url, "< welcome")
	s.send("hello")
	s.expect("< echo: hello")
	s.send("héllo, wörld ✓")
	s.expect("< echo: héllo, wörld ✓")
	s.send("")
	s.expect("< echo: ")
	srv.awaitReading(s.ctx, t)
	s.stdin.Close()
	s.expect("closed: 1000 (normal closure)")
	if err := s.wait(); err != nil {
		t.Errorf("run: %v", err)
	}
	if code := closeCode(t, srv); code != websocket.StatusNormalClosure {
		t.Errorf("the server saw close code %v, want 1000", code)
	}
}

func TestPipedInput(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	s := start(t, srv.url)
	// The whole input at once, as from a file: the replies still all come
	// before the close.
	s.send("one\ntwo\nthree")
	s.stdin.Close()
	s.expect("connected to "+srv.url, "< welcome", "< echo: one", "< echo: two", "< echo: three")
	// The server's answer to the close may be read by Close itself rather
	// than by the receiving goroutine; either way the handshake completed.
	if line, _ := s.out.Line(s.ctx, s.next); line != "closed: 1000 (normal closure)" && line != "closed: the server answered our 1000 (normal closure)" {
		t.Errorf("last line %q, want the close", line)
	}
	if err := s.wait(); err != nil {
		t.Errorf("run: %v", err)
	}
	if code := closeCode(t, srv); code != websocket.StatusNormalClosure {
		t.Errorf("the server saw close code %v, want 1000", code)
	}
}

func TestInterrupt(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	s := start(t, srv.url)
	s.expect("connected to "+srv.url, "< welcome")
	srv.awaitReading(s.ctx, t)
	s.cancel() // Ctrl-C
	s.expect("closed: 1000 (normal closure)")
	if err := s.wait(); err != nil {
		t.Errorf("run: %v", err)
	}
	if code := closeCode(t, srv); code != websocket.StatusNormalClosure {
		t.Errorf("the server saw close code %v, want 1000", code)
	}
}

func TestServerSpeaksFirst(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	url := srv.url + "?binary&bye"
	// Nothing is typed: the messages and the server's close still show up,
	// and run returns.
	s := start(t, url)
	s.expect(
		"connected to "+url,
		"< welcome",
		`< binary 4 bytes: "\x00\x01\x02\xff"`,
		`closed: 1001 (going away) "bye"`,
	)
	if err := s.wait(); err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRequestFlags(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	s := start(t,
		"-H", "X-Token: abc",
		"-H", "x-token:def",
		"-H", "Authorization: Bearer t0k3n",
		"-origin", "https://example.com",
		"-subprotocol", "nope",
		"-subprotocol", "echo.v1",
		srv.url)
	s.expect("connected to "+srv.url+" (subprotocol echo.v1)", "< welcome")
	h := <-srv.headers
	checks := []struct {
		name string
		got  string
		want string
	}{
		{
			name: "X-Token",
			got:  strings.Join(h.Values("X-Token"), ","),
			want: "abc,def",
		},
		{
			name: "Authorization",
			got:  h.Get("Authorization"),
			want: "Bearer t0k3n",
		},
		{
			name: "Origin",
			got:  h.Get("Origin"),
			want: "https://example.com",
		},
		{
			name: "Sec-WebSocket-Protocol",
			got:  h.Get("Sec-WebSocket-Protocol"),
			want: "nope, echo.v1",
		},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	srv.awaitReading(s.ctx, t)
	s.stdin.Close()
	s.expect("closed: 1000 (normal closure)")
	if err := s.wait(); err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestInsecure(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, true)
	url := srv.url
	if !strings.HasPrefix(url, "wss://") {
		t.Fatalf("URL %s is not wss", url)
	}

	s := start(t, url)
	if err := s.wait(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("run without -insecure: %v, want a certificate error", err)
	}

	s = start(t, "-insecure", url)
	s.expect("connected to "+url, "< welcome")
	s.send("over TLS")
	s.expect("< echo: over TLS")
	srv.awaitReading(s.ctx, t)
	s.stdin.Close()
	s.expect("closed: 1000 (normal closure)")
	if err := s.wait(); err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestFailures(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{
			name: "no URL",
			args: nil,
			want: "want exactly one URL",
		},
		{
			name: "two URLs",
			args: []string{srv.url, srv.url},
			want: "want exactly one URL",
		},
		{
			name: "header without a colon",
			args: []string{"-H", "X-Token abc", srv.url},
			want: `want "Name: value"`,
		},
		{
			name: "header the handshake sets",
			args: []string{"-H", "Sec-WebSocket-Version: 12", srv.url},
			want: "set by the handshake",
		},
		{
			name: "unsupported scheme",
			args: []string{"ftp://127.0.0.1/"},
			want: "unsupported URL scheme",
		},
		{
			name: "origin refused",
			args: []string{"-origin", "https://evil.example.net", srv.url},
			want: "403 Forbidden",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.args...)
			err := s.wait()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDescribeEnd(t *testing.T) {
	tests := []struct {
		name     string
		err      error // that ended the reads
		closing  bool  // our Close was called
		closeErr error // and returned this
		want     string
	}{
		{
			name: "server's close",
			err:  fmt.Errorf("read: %w", &websocket.CloseError{Code: websocket.StatusGoingAway, Reason: "restart"}),
			want: `closed: 1001 (going away) "restart"`,
		},
		{
			name:    "server's answer to our close",
			err:     fmt.Errorf("read: %w", &websocket.CloseError{Code: websocket.StatusNormalClosure}),
			closing: true,
			want:    "closed: 1000 (normal closure)",
		},
		{
			name:    "answer read by Close",
			err:     websocket.ErrConcurrentRead,
			closing: true,
			want:    "closed: the server answered our 1000 (normal closure)",
		},
		{
			name:     "Close failed",
			err:      websocket.ErrClosed,
			closing:  true,
			closeErr: errors.New("timed out"),
			want:     "connection ended: timed out",
		},
		{
			name: "broken connection",
			err:  io.ErrUnexpectedEOF,
			want: "connection ended: unexpected EOF",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := &closer{started: make(chan struct{}), done: make(chan struct{}), err: tc.closeErr}
			if tc.closing {
				close(cl.started)
				close(cl.done)
			}
			if got := cl.describeEnd(tc.err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLineTooLong: a line of input longer than a message may be ends the
// session with an error, after the answers to what was sent before it; it
// used to end it as the end of input does, exiting 0.
func TestLineTooLong(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	s := start(t, srv.url)
	s.expect("connected to "+srv.url, "< welcome")
	go io.WriteString(s.stdin, "short\n"+strings.Repeat("z", maxLine+10)+"\n")
	s.expect("< echo: short")
	if err := s.wait(); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("run: %v, want an error saying the line is too long", err)
	}
}

// TestConnectionLost: a connection the server drops without a close frame
// ends run with an error (a non-zero exit), where a close frame, whatever
// its code, ends it with nil.
func TestConnectionLost(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startServer(t, false)
	for _, tc := range []struct {
		query   string
		wantErr bool
	}{
		{query: "?drop", wantErr: true},
		{query: "?bye", wantErr: false},
	} {
		t.Run(tc.query, func(t *testing.T) {
			s := start(t, srv.url+tc.query)
			if err := s.wait(); (err != nil) != tc.wantErr {
				t.Errorf("run: %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}
