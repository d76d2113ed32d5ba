package websocket

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wsproto"
)

// These tests run the bridge of browser_js.go under GOOS=js without a
// browser: a stand-in plays the browser's WebSocket object.
//
//	GOOS=js GOARCH=wasm go test -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" -run Browser .

type fakeMessage struct {
	text bool
	data []byte
}

type fakeClose struct {
	code   int
	reason string
}

// fakeSocket records what the bridge asks of the browser. With echoClose
// it answers a close as a browser whose server echoes it would: with the
// close event.
type fakeSocket struct {
	b         *browserConn
	echoClose bool
	buffered  atomic.Int64

	mu       sync.Mutex
	sent     []fakeMessage
	closes   []fakeClose
	released bool
	changed  chan struct{} // one token per change
}

func (s *fakeSocket) send(text bool, p []byte) error {
	s.mu.Lock()
	s.sent = append(s.sent, fakeMessage{text, bytes.Clone(p)})
	s.mu.Unlock()
	s.note()
	return nil
}

func (s *fakeSocket) close(code int, reason string) error {
	s.mu.Lock()
	s.closes = append(s.closes, fakeClose{code, reason})
	s.mu.Unlock()
	s.note()
	if s.echoClose {
		if code == 0 {
			code = int(StatusNoStatusRcvd)
		}
		go s.b.closeEvent(code, reason) // events come later, never inside a call
	}
	return nil
}

func (s *fakeSocket) note() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *fakeSocket) bufferedAmount() int { return int(s.buffered.Load()) }

func (s *fakeSocket) release() {
	s.mu.Lock()
	s.released = true
	s.mu.Unlock()
}

func (s *fakeSocket) messages() []fakeMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeMessage(nil), s.sent...)
}

func (s *fakeSocket) closeCalls() []fakeClose {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeClose(nil), s.closes...)
}

// newBrowserPair returns a client Conn over a bridge to a fake browser.
func newBrowserPair(t *testing.T, opts *ConnOptions) (*Conn, *browserConn, *fakeSocket) {
	t.Helper()
	checkLeaksJS(t)
	if opts == nil {
		opts = &ConnOptions{}
	}
	b := newBrowserConn("ws://example.test/ws", opts.readLimit())
	s := &fakeSocket{b: b, echoClose: true, changed: make(chan struct{}, 1)}
	b.sock = s
	c := newConn(b, true, opts, "", nil, nil)
	b.conn.Store(c)
	t.Cleanup(func() { c.CloseNow() })
	return c, b, s
}

func deliverBytes(b *browserConn, text bool, p []byte) {
	b.deliver(text, len(p), func(dst []byte) { copy(dst, p) })
}

func testPayload(n int, text bool) []byte {
	p := make([]byte, n)
	for i := range p {
		if text {
			p[i] = 'a' + byte(i%26)
		} else {
			p[i] = byte(i*7 + i>>8)
		}
	}
	return p
}

func TestBrowserBridgeWholeMessages(t *testing.T) {
	c, b, s := newBrowserPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want []fakeMessage
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		for _, typ := range []MessageType{MessageText, MessageBinary} {
			p := testPayload(n, typ == MessageText)
			if err := c.Write(ctx, typ, p); err != nil {
				t.Fatalf("Write %v %d: %v", typ, n, err)
			}
			want = append(want, fakeMessage{typ == MessageText, p})
			// The other way: a message event, read whole.
			deliverBytes(b, typ == MessageText, p)
			gotTyp, got, err := c.Read(ctx)
			if err != nil || gotTyp != typ || !bytes.Equal(got, p) {
				t.Fatalf("Read after a %v event of %d bytes: %v, %d bytes, %v", typ, n, gotTyp, len(got), err)
			}
		}
	}
	checkSent(t, s.messages(), want)
}

func checkSent(t *testing.T, got, want []fakeMessage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the browser was given %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].text != want[i].text || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("message %d: text %v, %d bytes; want text %v, %d bytes", i, got[i].text, len(got[i].data), want[i].text, len(want[i].data))
		}
	}
}

// A Writer's fragments reach the browser as one message.
func TestBrowserBridgeWriterFragments(t *testing.T) {
	c, _, s := newBrowserPair(t, &ConnOptions{WriteBufferSize: 256})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := testPayload(100_000, true)
	w, err := c.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 999)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkSent(t, s.messages(), []fakeMessage{{true, p}})
}

// The frame stream may come in pieces of any size, a byte at a time
// included, with control frames between fragments.
func TestBrowserBridgeWriteSplit(t *testing.T) {
	var stream []byte
	frame := func(fin bool, op wsproto.Opcode, payload string) {
		var hdr [wsproto.MaxHeaderSize]byte
		key := uint32(0x12345678)
		n := wsproto.PutHeader(hdr[:], wsproto.Header{Fin: fin, Op: op, Masked: true, Key: key, Length: int64(len(payload))})
		p := []byte(payload)
		wsproto.Mask(p, key)
		stream = append(stream, hdr[:n]...)
		stream = append(stream, p...)
	}
	frame(false, wsproto.OpText, "héllo, ")
	frame(false, wsproto.OpContinuation, "")
	frame(true, wsproto.OpPing, "ignored")
	frame(true, wsproto.OpContinuation, "wörld")
	frame(true, wsproto.OpBinary, strings.Repeat("x", 300))
	frame(true, wsproto.OpClose, "\x0f\xa1done") // 4001
	want := []fakeMessage{{true, []byte("héllo, wörld")}, {false, bytes.Repeat([]byte("x"), 300)}}
	for _, piece := range []int{1, 2, 3, 7, 64, len(stream)} {
		b := newBrowserConn("ws://example.test/", -1)
		s := &fakeSocket{b: b, changed: make(chan struct{}, 1)}
		b.sock = s
		in := bytes.Clone(stream)
		for rest := in; len(rest) > 0; {
			n := min(piece, len(rest))
			if m, err := b.Write(rest[:n]); m != n || err != nil {
				t.Fatalf("pieces of %d: Write: %d, %v", piece, m, err)
			}
			rest = rest[n:]
		}
		if !bytes.Equal(in, stream) {
			t.Fatalf("pieces of %d: Write changed the caller's bytes", piece)
		}
		checkSent(t, s.messages(), want)
		if got := s.closeCalls(); len(got) != 1 || got[0] != (fakeClose{4001, "done"}) {
			t.Errorf("pieces of %d: close calls %v, want [{4001 done}]", piece, got)
		}
		b.Close()
	}
}

func TestBrowserCloseArgs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       uint16
		reason     string
		wantCode   int
		wantReason string
	}{
		{
			name:       "normal",
			code:       1000,
			reason:     "bye",
			wantCode:   1000,
			wantReason: "bye",
		},
		{
			name:       "application",
			code:       4999,
			reason:     "x",
			wantCode:   4999,
			wantReason: "x",
		},
		{
			name:     "going away, which a browser may not send",
			code:     1001,
			reason:   "away",
			wantCode: 0,
		},
		{
			name:     "message too big",
			code:     1009,
			reason:   "too big",
			wantCode: 0,
		},
		{
			name:     "no status",
			code:     1005,
			wantCode: 0,
		},
		{
			name:     "registered range",
			code:     2999,
			wantCode: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reason := browserCloseArgs(tc.code, tc.reason)
			if code != tc.wantCode || reason != tc.wantReason {
				t.Errorf("browserCloseArgs(%d, %q) = %d, %q; want %d, %q", tc.code, tc.reason, code, reason, tc.wantCode, tc.wantReason)
			}
		})
	}
}

func TestBrowserCloseEvents(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       int
		reason     string
		wantStatus StatusCode
		wantReason string
	}{
		{
			name:       "server closes with 4001",
			code:       4001,
			reason:     "server says bye ✓",
			wantStatus: 4001,
			wantReason: "server says bye ✓",
		},
		{
			name:       "server closes with 1001",
			code:       1001,
			reason:     "going away",
			wantStatus: StatusGoingAway,
			wantReason: "going away",
		},
		{
			name:       "close frame without a code",
			code:       1005,
			wantStatus: StatusNoStatusRcvd,
		},
		{
			name:       "connection lost",
			code:       1006,
			wantStatus: StatusAbnormalClosure,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, b, s := newBrowserPair(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			deliverBytes(b, true, []byte("last words"))
			b.closeEvent(tc.code, tc.reason)
			_, msg, err := c.Read(ctx)
			if err != nil || string(msg) != "last words" {
				t.Fatalf("Read: %q, %v", msg, err)
			}
			_, _, err = c.Read(ctx)
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != tc.wantStatus || ce.Reason != tc.wantReason {
				t.Fatalf("Read after the close event: %v, want a CloseError %v %q", err, tc.wantStatus, tc.wantReason)
			}
			// The browser answered the close itself: nothing more to ask.
			if got := s.closeCalls(); len(got) != 0 {
				t.Errorf("close calls after the close event: %v", got)
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("the connection did not close")
			}
		})
	}
}

func TestBrowserClientClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		code StatusCode
		want fakeClose
	}{
		{
			name: "normal",
			code: StatusNormalClosure,
			want: fakeClose{1000, "client bye"},
		},
		{
			name: "going away goes without a code",
			code: StatusGoingAway,
			want: fakeClose{0, ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, s := newBrowserPair(t, nil)
			if err := c.Close(tc.code, "client bye"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := s.closeCalls(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("close calls %v, want [%v]", got, tc.want)
			}
			s.mu.Lock()
			released := s.released
			s.mu.Unlock()
			if !released {
				t.Error("the handlers were not released")
			}
		})
	}
}

func TestBrowserCloseNow(t *testing.T) {
	c, _, s := newBrowserPair(t, nil)
	c.CloseNow()
	if got := s.closeCalls(); len(got) != 1 || got[0] != (fakeClose{}) {
		t.Errorf("close calls %v, want one without a code", got)
	}
}

func TestBrowserPing(t *testing.T) {
	c, _, s := newBrowserPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); !errors.Is(err, ErrPingInBrowser) {
		t.Errorf("Ping: %v, want ErrPingInBrowser", err)
	}
	if err := c.SendPing(ctx, []byte("x")); !errors.Is(err, ErrPingInBrowser) {
		t.Errorf("SendPing: %v, want ErrPingInBrowser", err)
	}
	if err := c.Write(ctx, MessageText, []byte("still fine")); err != nil {
		t.Fatal(err)
	}
	checkSent(t, s.messages(), []fakeMessage{{true, []byte("still fine")}})
}

// A message over the read limit is refused by its header: 1009 here, no
// code from the browser, and its payload is never copied.
func TestBrowserReadLimit(t *testing.T) {
	c, b, s := newBrowserPair(t, &ConnOptions{ReadLimit: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.deliver(false, 1001, func([]byte) { t.Error("the payload of a message over the limit was copied") })
	_, _, err := c.Read(ctx)
	var perr *ProtocolError
	if !errors.As(err, &perr) || perr.Code != StatusMessageTooBig || !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("Read: %v, want a ProtocolError with 1009", err)
	}
	if got := s.closeCalls(); len(got) != 1 || got[0] != (fakeClose{}) {
		t.Errorf("close calls %v, want one without a code", got)
	}
}

// A page that does not read: past twice the read limit (at least 1 MiB)
// of unread data the connection fails with 1009.
func TestBrowserQueueBound(t *testing.T) {
	c, b, s := newBrowserPair(t, &ConnOptions{ReadLimit: 64 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chunk := testPayload(16<<10, false)
	for range (2 << 20) / len(chunk) {
		deliverBytes(b, false, chunk)
	}
	b.mu.Lock()
	queued := b.queued
	b.mu.Unlock()
	if queued != 0 {
		t.Errorf("%d bytes still queued after the overflow", queued)
	}
	_, _, err := c.Read(ctx)
	var perr *ProtocolError
	if !errors.As(err, &perr) || perr.Code != StatusMessageTooBig {
		t.Fatalf("Read: %v, want a ProtocolError with 1009", err)
	}
	if got := s.closeCalls(); len(got) == 0 || got[0] != (fakeClose{}) {
		t.Errorf("close calls %v, want one without a code", got)
	}
}

// A read whose ctx ends returns at once and leaves the connection usable.
func TestBrowserReadCtx(t *testing.T) {
	c, b, _ := newBrowserPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read: %v, want DeadlineExceeded", err)
	}
	deliverBytes(b, true, []byte("later"))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, msg, err := c.Read(ctx2); err != nil || string(msg) != "later" {
		t.Fatalf("Read after the interrupted one: %q, %v", msg, err)
	}
}

// A write waits while the browser holds too much unsent, until its ctx
// ends (the connection stays usable) or the browser drains.
func TestBrowserSendBackPressure(t *testing.T) {
	c, _, s := newBrowserPair(t, nil)
	s.buffered.Store(sendHighWater + 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.Write(ctx, MessageBinary, []byte("waits")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write: %v, want DeadlineExceeded", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	done := make(chan error, 1)
	go func() { done <- c.Write(ctx2, MessageBinary, []byte("goes")) }()
	s.buffered.Store(0)
	if err := <-done; err != nil {
		t.Fatalf("Write once drained: %v", err)
	}
	checkSent(t, s.messages(), []fakeMessage{{false, []byte("goes")}})
}

// Writes after the browser's WebSocket closed fail; reads see the end.
func TestBrowserWriteAfterEnd(t *testing.T) {
	c, b, _ := newBrowserPair(t, nil)
	b.closeEvent(1006, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, MessageText, []byte("lost")); err == nil {
		t.Error("Write after the close event succeeded")
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Error("Read after the close event succeeded")
	}
}

// checkLeaksJS is checkLeaks for js/wasm, whose runtime keeps a goroutine
// of its own (runtime.handleEvent) once it has waited for the event loop.
func checkLeaksJS(t *testing.T) {
	t.Helper()
	before := countGoroutinesJS()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := countGoroutinesJS()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func countGoroutinesJS() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && !strings.Contains(g, "runtime.handleEvent") {
			n++
		}
	}
	return n
}

// TestBrowserDialErrorWithoutClose: a WebSocket that fires error and no
// close event, as Node's does when it refuses a handshake, fails Dial at
// once rather than leave it to wait out its ctx.
func TestBrowserDialErrorWithoutClose(t *testing.T) {
	global := js.Global()
	saved := global.Get("WebSocket")
	defer global.Set("WebSocket", saved)
	global.Call("eval", `globalThis.WebSocket = function(url, protocols) {
		this.close = function() {};
		setTimeout(() => this.onerror({type: "error"}), 0);
	}; undefined`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := Dial(ctx, "ws://127.0.0.1:1/", nil)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want the connection refused at once", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial failed after %v", d)
	}
}
