package websocket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// pair returns a connected client and server, closed at the end of the test.
func pair(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) (client, server *Conn) {
	t.Helper()
	wstest.CheckLeaks(t)
	srvCh := make(chan *Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, aopts)
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		srvCh <- c
	}))
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, _, err := Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), dopts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	sc := await(t, srvCh, "the handler's Conn")
	t.Cleanup(func() {
		cc.CloseNow()
		sc.CloseNow()
	})
	return cc, sc
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// awaitBound bounds await: well past what any of these waits takes, also
// under qemu-user, and far below go test's timeout.
const awaitBound = 30 * time.Second

// await returns what ch gives, or fails the test if nothing comes within
// awaitBound. A goroutine that never reports (a handler that never ran, a
// callback never called) then fails its own test, by name, instead of
// holding the whole package until go test's timeout. Call it from the
// test's goroutine.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(awaitBound)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("waited %v for %s", awaitBound, what)
		panic("unreachable")
	}
}

// awaitCond returns once cond reports true, looking every millisecond,
// or fails the test if it does not within awaitBound. Call it from the
// test's goroutine.
func awaitCond(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(awaitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", awaitBound, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// underEmulator reports whether the tests run under qemu-user, which
// scripts/qemu-test.sh says by setting QEMU_TEST_ARCH: code runs several
// times slower there than natively.
func underEmulator() bool { return os.Getenv("QEMU_TEST_ARCH") != "" }

// slowMachine reports whether the race detector or an emulator slows the
// code under test several times over. A bound on how fast healthy work
// goes (an echo's round trip among hostile peers, say) may then be
// wider, as long as the bug it guards against still lands well outside.
func slowMachine() bool { return raceEnabled || underEmulator() }

func TestEchoBothAPIs(t *testing.T) {
	for _, size := range []int{0, 1, 125, 126, 4000, 65535, 65536, 300000} {
		client, server := pair(t, nil, nil)
		ctx := testCtx(t)
		msg := bytes.Repeat([]byte("abcdefgh"), size/8+1)[:size]
		errc := make(chan error, 1)
		go func() {
			typ, p, err := server.Read(ctx)
			if err == nil {
				var w io.WriteCloser
				w, err = server.Writer(ctx, typ)
				if err == nil {
					_, err = w.Write(p)
					if cerr := w.Close(); err == nil {
						err = cerr
					}
				}
			}
			errc <- err
		}()
		if err := client.Write(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		typ, r, err := client.Reader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if typ != MessageText || !bytes.Equal(got, msg) {
			t.Fatalf("size %d: got type %v, %d bytes", size, typ, len(got))
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _, err := server.Read(ctx)
			errc <- err
		}()
		if err := client.Close(StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-errc; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("server read after close: %v", err)
		}
	}
}

func TestCloseFromServerEchoedByClient(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := client.Read(ctx)
		readErr <- err
	}()
	if err := server.Close(4000, "custom"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := await(t, readErr, "the client's Read")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "custom" {
		t.Fatalf("client got %v", err)
	}
}

func TestPingWithoutReader(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	go func() {
		for {
			if _, _, err := server.Read(ctx); err != nil {
				return
			}
		}
	}()
	rtt, err := client.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rtt <= 0 {
		t.Fatalf("rtt %v", rtt)
	}
}

// TestCloseLeavesDataToReader: when the application reads while Close waits
// for the peer's answer, data arriving in between goes to the application,
// not to Close, and the application learns the peer's close code.
func TestCloseLeavesDataToReader(t *testing.T) {
	wstest.CheckLeaks(t)
	send := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverDone := make(chan struct{})
	go func() {
		defer close(serverDone)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+acceptKey(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		// Wait for the client's close frame, then send data before answering.
		var hdr [6]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		io.ReadFull(br, make([]byte, int(hdr[1]&0x7f)))
		<-send
		nc.Write(frame(true, 0, opText, false, []byte("last words")))
		nc.Write(frame(true, 0, opClose, false, closePayload(4001, "bye")))
		// Having answered the close, the server closes TCP first.
	}()
	ctx := testCtx(t)
	c, _, err := Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	closeErr := make(chan error, 1)
	go func() { closeErr <- c.Close(StatusNormalClosure, "") }()
	for !c.flags.has(flagClosing) || !c.readMu.Held() {
		runtime.Gosched()
	}
	type result struct {
		msg []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		_, msg, err := c.Read(ctx)
		got <- result{msg, err}
	}()
	for !c.readMu.HasWaiters() {
		runtime.Gosched()
	}
	close(send)
	r := await(t, got, "the reader's result")
	if r.err != nil || string(r.msg) != "last words" {
		t.Fatalf("Read during Close: %q %v", r.msg, r.err)
	}
	_, _, err = c.Read(ctx)
	if CloseStatus(err) != 4001 {
		t.Fatalf("second Read: %v", err)
	}
	if err := <-closeErr; err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.CloseNow()
	await(t, serverDone, "the server's end")
}
