//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/examples/internal/testutil"
)

// wasmServer is an instance of the program started by startWasm.
type wasmServer struct {
	addr    string // 127.0.0.1:port
	baseURL string // http://127.0.0.1:port
	wsURL   string // ws://127.0.0.1:port/ws
	logs    *testutil.Lines
	stop    func() // stops the server and checks how and how soon run ended; idempotent
}

// stopBound is how long run may take to return once its context ends:
// the grace of plain HTTP requests and the closing handshakes, and a
// margin for a loaded machine.
const stopBound = httpGrace + shutdownTimeout + 5*time.Second

// startWasm runs the program in-process on 127.0.0.1 (it builds the
// client) and returns once it has printed its address. The server stops
// at the end of the test.
func startWasm(t *testing.T) *wasmServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, logs := testutil.NewLines(), testutil.NewLines()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, stdout, logs)
	}()
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(stopBound):
			// Errorf, not Fatalf: stop may run on a goroutine of the test's.
			t.Errorf("run did not return within %v after its context ended; log:\n%s", stopBound, logs)
		}
	}
	t.Cleanup(stop)

	// The build of the client comes first.
	waitCtx, cancelWait := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelWait()
	line, ok := stdout.Line(waitCtx, 0)
	if !ok {
		select {
		case err := <-done:
			t.Fatalf("run: %v; log:\n%s", err, logs)
		default:
			t.Fatalf("no address printed; log:\n%s", logs)
		}
	}
	m := regexp.MustCompile(`^listening on http://(127\.0\.0\.1:\d+)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line %q does not give the address", line)
	}
	return &wasmServer{
		addr:    m[1],
		baseURL: "http://" + m[1],
		wsURL:   "ws://" + m[1] + "/ws",
		logs:    logs,
		stop:    stop,
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialEcho connects to the echo endpoint with its subprotocol, checks that
// a message comes back, and closes the connection at the end of the test.
func dialEcho(ctx context.Context, t *testing.T, srv *wasmServer) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, srv.wsURL, &websocket.DialOptions{Subprotocols: []string{"echo.v1"}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if c.Subprotocol() != "echo.v1" {
		t.Errorf("subprotocol %q, want echo.v1", c.Subprotocol())
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo: hi" {
		t.Fatalf("echo: %q, %v", msg, err)
	}
	return c
}

// The client builds for js/wasm, the server serves it with its glue, and
// the echo endpoint answers. The page itself runs in interop/wasm_test.go's
// browser with the same library.
func TestServer(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startWasm(t)
	ctx := testCtx(t)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		path       string
		wantType   string
		wantPrefix []byte
	}{
		{
			path:       "/",
			wantType:   "text/html; charset=utf-8",
			wantPrefix: []byte("<!doctype html>"),
		},
		{
			path:       "/main.wasm",
			wantType:   "application/wasm",
			wantPrefix: []byte("\x00asm"),
		},
		{
			path:     "/wasm_exec.js",
			wantType: "text/javascript",
		},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := client.Get(srv.baseURL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.wantType || !bytes.HasPrefix(body, tc.wantPrefix) || len(body) == 0 {
				t.Errorf("%s: %s, %q, %d bytes", tc.path, resp.Status, resp.Header.Get("Content-Type"), len(body))
			}
		})
	}
	c := dialEcho(ctx, t, srv)
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestMethods: the page and the files answer GET and HEAD, the endpoint
// GET only; other methods are refused with 405 and the methods allowed.
func TestMethods(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startWasm(t)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		name      string
		method    string
		path      string
		wantCode  int
		wantAllow []string // nil for none
		wantBody  bool
	}{
		{
			name:     "GET page",
			method:   http.MethodGet,
			path:     "/",
			wantCode: http.StatusOK,
			wantBody: true,
		},
		{
			name:     "HEAD page",
			method:   http.MethodHead,
			path:     "/",
			wantCode: http.StatusOK,
		},
		{
			name:     "HEAD program",
			method:   http.MethodHead,
			path:     "/main.wasm",
			wantCode: http.StatusOK,
		},
		{
			name:     "HEAD glue",
			method:   http.MethodHead,
			path:     "/wasm_exec.js",
			wantCode: http.StatusOK,
		},
		{
			name:      "POST page",
			method:    http.MethodPost,
			path:      "/",
			wantCode:  http.StatusMethodNotAllowed,
			wantAllow: []string{"GET", "HEAD"},
			wantBody:  true,
		},
		{
			name:      "PUT program",
			method:    http.MethodPut,
			path:      "/main.wasm",
			wantCode:  http.StatusMethodNotAllowed,
			wantAllow: []string{"GET", "HEAD"},
			wantBody:  true,
		},
		{
			name:      "DELETE glue",
			method:    http.MethodDelete,
			path:      "/wasm_exec.js",
			wantCode:  http.StatusMethodNotAllowed,
			wantAllow: []string{"GET", "HEAD"},
			wantBody:  true,
		},
		{
			name:      "OPTIONS page",
			method:    http.MethodOptions,
			path:      "/",
			wantCode:  http.StatusMethodNotAllowed,
			wantAllow: []string{"GET", "HEAD"},
			wantBody:  true,
		},
		{
			name:      "POST endpoint",
			method:    http.MethodPost,
			path:      "/ws",
			wantCode:  http.StatusMethodNotAllowed,
			wantAllow: []string{"GET"},
			wantBody:  true,
		},
		{
			name:      "HEAD endpoint",
			method:    http.MethodHead,
			path:      "/ws",
			wantCode:  http.StatusMethodNotAllowed,
			wantAllow: []string{"GET"},
		},
		{
			// Not a handshake.
			name:     "plain GET endpoint",
			method:   http.MethodGet,
			path:     "/ws",
			wantCode: http.StatusBadRequest,
			wantBody: true,
		},
		{
			name:     "unknown path",
			method:   http.MethodGet,
			path:     "/nope",
			wantCode: http.StatusNotFound,
			wantBody: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.baseURL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("%s %s answered %s, want %d", tc.method, tc.path, resp.Status, tc.wantCode)
			}
			var allow []string
			for _, m := range strings.Split(resp.Header.Get("Allow"), ",") {
				if m = strings.TrimSpace(m); m != "" {
					allow = append(allow, m)
				}
			}
			slices.Sort(allow)
			if !slices.Equal(allow, tc.wantAllow) {
				t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, resp.Header.Get("Allow"), tc.wantAllow)
			}
			if got := len(body) > 0; got != tc.wantBody {
				t.Errorf("%s %s: %d bytes of body", tc.method, tc.path, len(body))
			}
		})
	}
}

// TestShutdown: when run's context ends, as on SIGINT or SIGTERM, every
// WebSocket is closed with 1001 (going away), run returns in time, and the
// server accepts no more connections.
func TestShutdown(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startWasm(t)
	ctx := testCtx(t)
	conns := []*websocket.Conn{dialEcho(ctx, t, srv), dialEcho(ctx, t, srv)}

	// The reads below answer the server's close; stop waits for that.
	readErr := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			_, _, err := c.Read(ctx)
			readErr <- err
		}()
	}
	srv.stop() // fails the test if run does not return within stopBound
	for range conns {
		err := <-readErr
		if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
			t.Errorf("Read after shutdown: %v; close code %v, want %v", err, got, websocket.StatusGoingAway)
		}
	}
	if strings.Contains(srv.logs.String(), "cut short") {
		t.Errorf("closing handshakes cut short:\n%s", srv.logs)
	}
	if c, _, err := websocket.Dial(ctx, srv.wsURL, nil); err == nil {
		c.CloseNow()
		t.Error("Dial after shutdown succeeded")
	}
}

// TestShutdownUnresponsive: a peer that never answers the close frame
// does not hold the exit up past shutdownTimeout. The client here speaks
// the protocol by hand, so that nothing answers for it.
func TestShutdownUnresponsive(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startWasm(t)
	nc, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(stopBound + 10*time.Second))
	io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	// A masked "hi" (key 0), and its echo, so that the server's handler
	// is in its loop before the server is stopped.
	nc.Write([]byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'})
	if op, payload := readFrame(t, br); op != 0x1 || string(payload) != "echo: hi" {
		t.Fatalf("frame %#x %q, want the echo of hi", op, payload)
	}

	stopped := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(stopped)
		srv.stop() // fails the test if run does not return within stopBound
	}()
	if op, payload := readFrame(t, br); op != 0x8 || len(payload) < 2 || binary.BigEndian.Uint16(payload) != 1001 {
		t.Fatalf("frame %#x %q, want a close frame with 1001", op, payload)
	}
	// No answer: the server cuts the connection off.
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the close frame: %d bytes, %v; want EOF", n, err)
	}
	<-stopped
	t.Logf("run returned %v after its context ended", time.Since(start))
	if !strings.Contains(srv.logs.String(), "closing handshakes cut short") {
		t.Errorf("the log does not say the closing handshakes were cut short:\n%s", srv.logs)
	}
}

// readFrame reads one unfragmented frame the server sent (unmasked, under
// 126 bytes) and returns its opcode and payload.
func readFrame(t *testing.T, r io.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if h[1] >= 126 {
		t.Fatalf("frame header %#x: masked or long", h)
	}
	payload := make([]byte, h[1])
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return h[0] & 0x0f, payload
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{
			name: "unknown flag",
			args: []string{"-nope"},
		},
		{
			name: "extra argument",
			args: []string{"extra"},
		},
		{
			name: "bad address",
			args: []string{"-addr", "127.0.0.1:99999"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, io.Discard)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q", stdout.String())
			}
		})
	}
}
