package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/examples/internal/testutil"
)

// echoServer is an instance of the program started by startEcho.
type echoServer struct {
	baseURL string // http://127.0.0.1:port or https://…
	wsURL   string // ws://127.0.0.1:port/ws or wss://…
	logs    *testutil.Lines
	stop    func() // stops the server and checks how run ended; idempotent
}

// startEcho runs the program with args in-process on 127.0.0.1 and returns
// once it has printed its address. The server stops at the end of the test.
func startEcho(t *testing.T, args ...string) *echoServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, logs := testutil.NewLines(), testutil.NewLines()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), stdout, logs)
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
		case <-time.After(10 * time.Second):
			t.Fatalf("run did not return after its context ended; log:\n%s", logs)
		}
	}
	t.Cleanup(stop)

	waitCtx, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	line, ok := stdout.Line(waitCtx, 0)
	if !ok {
		t.Fatalf("no address printed; log:\n%s", logs)
	}
	m := regexp.MustCompile(`^listening on (https?)://(127\.0\.0\.1:\d+)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line %q does not give the address", line)
	}
	ws := "ws"
	if m[1] == "https" {
		ws = "wss"
	}
	return &echoServer{
		baseURL: m[1] + "://" + m[2],
		wsURL:   ws + "://" + m[2] + "/ws",
		logs:    logs,
		stop:    stop,
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial connects to the server and closes the connection at the end of the
// test.
func dial(ctx context.Context, t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestEcho(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t)
	ctx := testCtx(t)
	c := dial(ctx, t, srv.wsURL, nil)

	mib := bytes.Repeat([]byte("0123456789abcdef"), 1<<20/16)
	tests := []struct {
		name    string
		typ     websocket.MessageType
		payload []byte
	}{
		{
			name:    "text",
			typ:     websocket.MessageText,
			payload: []byte("hello, world"),
		},
		{
			name:    "empty text",
			typ:     websocket.MessageText,
			payload: []byte{},
		},
		{
			name:    "non-ASCII text",
			typ:     websocket.MessageText,
			payload: []byte("héllo, wörld ✓"),
		},
		{
			name:    "binary",
			typ:     websocket.MessageBinary,
			payload: []byte{0, 1, 2, 0xfe, 0xff},
		},
		{
			name:    "1 MiB text",
			typ:     websocket.MessageText,
			payload: mib,
		},
		{
			name:    "1 MiB binary",
			typ:     websocket.MessageBinary,
			payload: mib,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Write(ctx, tc.typ, tc.payload); err != nil {
				t.Fatalf("Write: %v", err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if typ != tc.typ {
				t.Errorf("reply is %v, want %v", typ, tc.typ)
			}
			want := append([]byte(replyPrefix), tc.payload...)
			if !bytes.Equal(got, want) {
				t.Errorf("reply is %d bytes %.60q…, want %d bytes %.60q…", len(got), got, len(want), want)
			}
		})
	}
}

func TestPage(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	resp, err := client.Get(srv.baseURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / answered %s with Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	// The elements other tests drive the page through.
	for _, id := range []string{"url", "connect", "status", "msg", "send", "close", "log"} {
		if !bytes.Contains(body, []byte(`id="`+id+`"`)) {
			t.Errorf("the page has no element #%s", id)
		}
	}
	if !bytes.Contains(body, []byte("window.echoClient")) {
		t.Error("the page does not expose window.echoClient")
	}

	// A plain GET of the endpoint is not a WebSocket handshake.
	resp, err = client.Get(srv.baseURL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET /ws answered %s, want 400", resp.Status)
	}
}

func TestPush(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t, "-push", "10ms")
	ctx := testCtx(t)
	c := dial(ctx, t, srv.wsURL, nil)

	// The client never speaks, yet messages keep coming, numbered in order.
	re := regexp.MustCompile(`^Server push (\d+) at \d\d:\d\d:\d\d$`)
	for n := 1; n <= 3; n++ {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		m := re.FindSubmatch(msg)
		if typ != websocket.MessageText || m == nil || string(m[1]) != fmt.Sprint(n) {
			t.Fatalf("message %d is %v %q, want text %q", n, typ, msg, fmt.Sprintf("Server push %d at hh:mm:ss", n))
		}
	}
	// Replies still come, among the pushes.
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if string(msg) == replyPrefix+"hi" {
			break
		}
		if !re.Match(msg) {
			t.Fatalf("unexpected message %q", msg)
		}
	}
}

// TestHeartbeat: a client that stops answering pings is closed with 1001.
// The client here speaks the protocol by hand, so that nothing answers
// the pings for it.
func TestHeartbeat(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t, "-ping", "20ms")
	nc, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(srv.wsURL, "/ws"), "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	pings := 0
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("after %d pings, no close frame: %v", pings, err)
		}
		payload := make([]byte, h[1]&0x7f) // the server's control frames: short, unmasked
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		switch h[0] & 0x0f {
		case 0x9:
			pings++
		case 0x8:
			if len(payload) < 2 || binary.BigEndian.Uint16(payload) != 1001 || pings == 0 {
				t.Fatalf("close frame %q after %d pings, want code 1001 after at least one", payload, pings)
			}
			return
		default:
			t.Fatalf("unexpected frame %#x", h[0])
		}
	}
}

func TestClientClose(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t)
	ctx := testCtx(t)
	c := dial(ctx, t, srv.wsURL, nil)

	// Close returns nil only when the server answered with its own close.
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	srv.stop()
	if want := `connection closed with code 1000 (normal closure) "bye"`; !strings.Contains(srv.logs.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, srv.logs)
	}
}

func TestShutdown(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t, "-push", "1h")
	ctx := testCtx(t)
	c := dial(ctx, t, srv.wsURL, nil)
	// Make sure the server has the connection before stopping it.
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatalf("Read: %v", err)
	}

	// The read below answers the server's close; stop waits for that.
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		readErr <- err
	}()
	srv.stop()
	err := <-readErr
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("Read after shutdown: %v; close code %v, want %v", err, got, websocket.StatusGoingAway)
	}
}

// TestShutdownUnusedConnection stops the server while a connection on which
// no request has come yet is open, as a browser opens ahead of need: the
// server must close it and exit cleanly instead of waiting for it.
func TestShutdownUnusedConnection(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t)
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.baseURL, "http://"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer nc.Close()
	// A page load makes sure the server has accepted the connection above:
	// connections are accepted in order.
	resp, err := http.Get(srv.baseURL + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	srv.stop() // fails the test if run returns an error
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read on the unused connection after shutdown: %d bytes, %v; want EOF", n, err)
	}
}

func TestTLS(t *testing.T) {
	testutil.CheckLeaks(t)
	srv := startEcho(t, "-tls")
	ctx := testCtx(t)
	if !strings.HasPrefix(srv.baseURL, "https://") {
		t.Fatalf("address %s is not https", srv.baseURL)
	}
	// The certificate is self-signed: verification would fail.
	insecure := &tls.Config{InsecureSkipVerify: true}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure, DisableKeepAlives: true}}
	resp, err := client.Get(srv.baseURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cert := resp.TLS.PeerCertificates[0]
	if key, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || key.Curve != elliptic.P256() {
		t.Errorf("certificate key is %T, want ECDSA P-256", cert.PublicKey)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("certificate: %v", err)
		}
	}
	if resp.ProtoMajor != 1 {
		t.Errorf("page served over %s; WebSocket needs HTTP/1.1", resp.Proto)
	}

	if _, _, err := websocket.Dial(ctx, srv.wsURL, nil); err == nil || !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Errorf("Dial without a trusted certificate: %v, want a verification error", err)
	}
	c := dial(ctx, t, srv.wsURL, &websocket.DialOptions{TLSConfig: insecure})
	if err := c.Write(ctx, websocket.MessageText, []byte("secret")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != replyPrefix+"secret" {
		t.Errorf("Read: %q, %v", msg, err)
	}
}

func TestCompress(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx := testCtx(t)
	compressing := &websocket.DialOptions{}
	compressing.Compression.Mode = websocket.CompressionContextTakeover
	tests := []struct {
		name string
		args []string
		want bool // permessage-deflate negotiated
	}{
		{
			name: "with -compress",
			args: []string{"-compress"},
			want: true,
		},
		{
			name: "without",
			args: nil,
			want: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startEcho(t, tc.args...)
			c, resp, err := websocket.Dial(ctx, srv.wsURL, compressing)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if got := strings.HasPrefix(ext, "permessage-deflate"); got != tc.want {
				t.Errorf("Sec-WebSocket-Extensions: %q; want permessage-deflate: %v", ext, tc.want)
			}
			msg := bytes.Repeat([]byte("compressible "), 1<<13)
			for range 2 {
				if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
					t.Fatalf("Write: %v", err)
				}
				_, got, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if !bytes.Equal(got, append([]byte(replyPrefix), msg...)) {
					t.Fatalf("reply of %d bytes differs from the message", len(got))
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
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
			name: "negative push",
			args: []string{"-push", "-1s"},
		},
		{
			name: "negative ping",
			args: []string{"-ping", "-1s"},
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

func TestDisplayAddr(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	tests := []struct {
		name string
		addr string
		want string
	}{
		{
			name: "host name",
			addr: "localhost:8080",
			want: "localhost:8080",
		},
		{
			name: "any port",
			addr: "127.0.0.1:0",
			want: "127.0.0.1:8080",
		},
		{
			name: "no host",
			addr: ":8080",
			want: "localhost:8080",
		},
		{
			name: "IPv6",
			addr: "[::1]:0",
			want: "[::1]:8080",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := displayAddr(tc.addr, bound); got != tc.want {
				t.Errorf("displayAddr(%q) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// TestKeepSmall: echo reuses its buffers between messages only while they
// are small; one a large message grew is let go, so that an idle
// connection does not keep twice its largest message.
func TestKeepSmall(t *testing.T) {
	for _, tc := range []struct {
		cap  int
		kept bool
	}{
		{cap: 0, kept: true},
		{cap: maxKept, kept: true},
		{cap: maxKept + 1, kept: false},
		{cap: 16 << 20, kept: false},
	} {
		b := keepSmall(make([]byte, 5, tc.cap+5)[5:])
		if got := b != nil; got != tc.kept || len(b) != 0 {
			t.Errorf("cap %d: kept %v (len %d), want kept %v and empty", tc.cap, got, len(b), tc.kept)
		}
	}
}
