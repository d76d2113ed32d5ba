package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// pollerServer is an echo server whose connections a Poller serves.
type pollerServer struct {
	url    string
	poller *Poller
	dopts  *DialOptions
	closed chan closedConn // one per connection, from OnClose
}

type closedConn struct {
	c   *Conn
	err error
}

// pollerModes runs a test body with connections on epoll (plain TCP, on
// Linux; with batched system calls, and with "tcp-plain" without) and on
// a goroutine each (TLS, which no loop can watch).
func pollerModes(t *testing.T, body func(t *testing.T, srv *pollerServer)) {
	for _, mode := range pollerModeNames {
		t.Run(mode, func(t *testing.T) {
			body(t, newPollerServer(t, mode, nil, nil))
		})
	}
}

// wrappingListener hands out its TCP conns wrapped, the *net.TCPConn
// hidden: a Poller serves them with a goroutine each, as it serves every
// conn off Linux, and their writes cannot be non-blocking, so a control
// frame the reader queues is finished by a goroutine (finishControl).
type wrappingListener struct{ net.Listener }

func (l wrappingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

type wrappedConn struct{ net.Conn }

func (c wrappedConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// pollerModeNames are the modes of pollerModes.
var pollerModeNames = []string{"tcp", "tcp-plain", "tls"}

// newPollerServer starts an echo server: every message comes back as is,
// and a text message "close" makes the server Close with 1000 from
// OnMessage.
func newPollerServer(t *testing.T, mode string, aopts *AcceptOptions, popts *PollerOptions) *pollerServer {
	t.Helper()
	wstest.CheckLeaks(t)
	checkFDs(t)
	srv := &pollerServer{closed: make(chan closedConn, 100)}
	opts := PollerOptions{Loops: 2}
	if popts != nil {
		opts = *popts
	}
	if mode == "tcp-plain" {
		opts.NoBatching = true
	}
	if opts.OnMessage == nil {
		opts.OnMessage = func(c *Conn, typ MessageType, msg []byte) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if typ == MessageText && string(msg) == "close" {
				c.Close(StatusNormalClosure, "bye")
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				t.Errorf("echo: %v", err)
			}
		}
	}
	if opts.OnClose == nil {
		opts.OnClose = func(c *Conn, err error) { srv.closed <- closedConn{c, err} }
	}
	p, err := NewPoller(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.poller = p
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, aopts)
		if err != nil {
			return
		}
		if err := p.Serve(c); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	var ts *httptest.Server
	srv.dopts = &DialOptions{}
	switch mode {
	case "tls":
		ts = httptest.NewTLSServer(h)
		srv.dopts.TLSConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	case "wrapped":
		ts = httptest.NewUnstartedServer(h)
		ts.Listener = wrappingListener{ts.Listener}
		ts.Start()
	default:
		ts = httptest.NewServer(h)
	}
	srv.url = "ws" + strings.TrimPrefix(ts.URL, "http")
	t.Cleanup(func() {
		ts.Close()
		p.Close()
	})
	return srv
}

func (s *pollerServer) dial(t *testing.T, opts *DialOptions) *Conn {
	t.Helper()
	if opts == nil {
		opts = s.dopts
	} else if s.dopts.TLSConfig != nil {
		o := *opts
		o.TLSConfig = s.dopts.TLSConfig
		opts = &o
	}
	c, _, err := Dial(testCtx(t), s.url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// nextClosed waits for the next OnClose.
func (s *pollerServer) nextClosed(t *testing.T) closedConn {
	t.Helper()
	select {
	case cc := <-s.closed:
		return cc
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose was not called")
		return closedConn{}
	}
}

func TestPollerEcho(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 4000, 4096, 10000, 65536, 1 << 20}
	compression := []struct {
		name string
		mode CompressionMode
	}{
		{
			name: "plain",
			mode: CompressionDisabled,
		},
		{
			name: "no context takeover",
			mode: CompressionNoContextTakeover,
		},
		{
			name: "context takeover",
			mode: CompressionContextTakeover,
		},
	}
	for _, comp := range compression {
		t.Run(comp.name, func(t *testing.T) {
			aopts := &AcceptOptions{}
			aopts.Compression.Mode = comp.mode
			aopts.Compression.Threshold = -1
			for _, mode := range pollerModeNames {
				t.Run(mode, func(t *testing.T) {
					srv := newPollerServer(t, mode, aopts, nil)
					dopts := &DialOptions{}
					dopts.Compression = aopts.Compression
					const clients = 4
					var wg sync.WaitGroup
					for i := range clients {
						c := srv.dial(t, dopts)
						wg.Add(1)
						go func() {
							defer wg.Done()
							ctx := testCtx(t)
							for j, size := range sizes {
								typ := MessageBinary
								if j%2 == 0 {
									typ = MessageText
								}
								msg := bytes.Repeat([]byte{byte('a' + i), byte('0' + j%10)}, size/2+1)[:size]
								if err := c.Write(ctx, typ, msg); err != nil {
									t.Errorf("client %d write %d: %v", i, size, err)
									return
								}
								gotTyp, got, err := c.Read(ctx)
								if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
									t.Errorf("client %d size %d: got %v, %d bytes, %v", i, size, gotTyp, len(got), err)
									return
								}
							}
							if err := c.Close(StatusNormalClosure, ""); err != nil {
								t.Errorf("client %d close: %v", i, err)
							}
						}()
					}
					wg.Wait()
					for range clients {
						if cc := srv.nextClosed(t); CloseStatus(cc.err) != StatusNormalClosure {
							t.Errorf("OnClose: %v", cc.err)
						}
					}
				})
			}
		})
	}
}

// TestPollerPipelined: many messages written back to back, in fragments
// and with pings between them, arrive whole and in order.
func TestPollerPipelined(t *testing.T) {
	pollerModes(t, func(t *testing.T, srv *pollerServer) {
		c := srv.dial(t, &DialOptions{ConnOptions: ConnOptions{WriteBufferSize: 256}})
		ctx := testCtx(t)
		const n = 300
		go func() {
			for i := range n {
				msg := []byte(strings.Repeat(fmt.Sprint(i), i%700))
				if i%3 == 0 {
					w, err := c.Writer(ctx, MessageText)
					if err != nil {
						return
					}
					w.Write(msg) // fragments every 256 bytes
					w.Close()
				} else if err := c.Write(ctx, MessageBinary, msg); err != nil {
					return
				}
				if i%50 == 0 {
					c.writeControl(ctx, opPing, []byte("p"))
				}
			}
		}()
		for i := range n {
			_, got, err := c.Read(ctx)
			want := strings.Repeat(fmt.Sprint(i), i%700)
			if err != nil || string(got) != want {
				t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
			}
		}
	})
}

// TestPollerTrickle: a frame arriving a byte at a time is delivered once
// complete, and the other connections of the loop are served meanwhile.
func TestPollerTrickle(t *testing.T) {
	pollerModes(t, func(t *testing.T, srv *pollerServer) {
		slow := srv.dial(t, nil)
		fast := srv.dial(t, nil)
		ctx := testCtx(t)
		payload := []byte(strings.Repeat("slowly ", 30))
		raw := frame(true, 0, opText, true, payload)
		for i := range raw {
			if _, err := slow.nc.Write(raw[i : i+1]); err != nil {
				t.Fatal(err)
			}
			if i == len(raw)/2 {
				if err := fast.Write(ctx, MessageText, []byte("meanwhile")); err != nil {
					t.Fatal(err)
				}
				if _, got, err := fast.Read(ctx); err != nil || string(got) != "meanwhile" {
					t.Fatalf("fast connection: %q %v", got, err)
				}
			}
		}
		if _, got, err := slow.Read(ctx); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("slow connection: %q %v", got, err)
		}
	})
}

func TestPollerCloseFromOnMessage(t *testing.T) {
	pollerModes(t, func(t *testing.T, srv *pollerServer) {
		c := srv.dial(t, nil)
		ctx := testCtx(t)
		if err := c.Write(ctx, MessageText, []byte("close")); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.Read(ctx)
		if CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("client read: %v", err)
		}
		if cc := srv.nextClosed(t); !errors.Is(cc.err, ErrClosed) || CloseStatus(cc.err) != StatusNormalClosure {
			t.Fatalf("OnClose: %v", cc.err)
		}
	})
}

// TestPollerCloseElsewhere: Close called outside OnMessage completes the
// handshake while the poller reads, and reports success.
func TestPollerCloseElsewhere(t *testing.T) {
	srvConns := make(chan *Conn, 1)
	popts := &PollerOptions{
		Loops:     1,
		OnMessage: func(c *Conn, typ MessageType, msg []byte) { srvConns <- c },
	}
	for _, mode := range pollerModeNames {
		t.Run(mode, func(t *testing.T) {
			srv := newPollerServer(t, mode, nil, popts)
			c := srv.dial(t, nil)
			ctx := testCtx(t)
			c.Write(ctx, MessageText, []byte("hello"))
			sc := await(t, srvConns, "the served Conn")
			go c.Read(ctx) // the client answers the close
			if err := sc.Close(StatusGoingAway, "later"); err != nil {
				t.Fatalf("server Close: %v", err)
			}
			if cc := srv.nextClosed(t); cc.c != sc {
				t.Fatal("OnClose for another connection")
			}
		})
	}
}

func TestPollerPeerVanishes(t *testing.T) {
	pollerModes(t, func(t *testing.T, srv *pollerServer) {
		c := srv.dial(t, nil)
		c.Write(testCtx(t), MessageText, []byte("hi"))
		c.Read(testCtx(t))
		c.CloseNow()
		if cc := srv.nextClosed(t); CloseStatus(cc.err) != StatusAbnormalClosure {
			t.Fatalf("OnClose: %v", cc.err)
		}
	})
}

// TestPollerProtocolError: a bad frame is answered with its close code
// even though the loop may not wait for the peer.
func TestPollerProtocolError(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		want  StatusCode
	}{
		{
			name:  "unmasked",
			frame: frame(true, 0, opText, false, []byte("x")),
			want:  StatusProtocolError,
		},
		{
			name:  "reserved opcode",
			frame: frame(true, 0, 3, true, nil),
			want:  StatusProtocolError,
		},
		{
			name:  "invalid UTF-8",
			frame: frame(true, 0, opText, true, []byte{0xff}),
			want:  StatusInvalidFramePayloadData,
		},
		{
			name:  "continuation first",
			frame: frame(true, 0, opContinuation, true, []byte("x")),
			want:  StatusProtocolError,
		},
		{
			name:  "long ping",
			frame: frame(true, 0, opPing, true, make([]byte, 126)),
			want:  StatusProtocolError,
		},
		{
			name:  "too big",
			frame: frame(true, 0, opBinary, true, make([]byte, 2000)),
			want:  StatusMessageTooBig,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aopts := &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 1000}}
			srv := newPollerServer(t, "tcp", aopts, nil)
			c := srv.dial(t, nil)
			if _, err := c.nc.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.Read(testCtx(t))
			if CloseStatus(err) != tc.want {
				t.Fatalf("client read: %v", err)
			}
			cc := srv.nextClosed(t)
			var perr *ProtocolError
			if !errors.As(cc.err, &perr) || perr.Code != tc.want {
				t.Fatalf("OnClose: %v", cc.err)
			}
		})
	}
}

// TestPollerPing: an idle served connection answers pings, and Ping on it
// gets its pong through the poller.
func TestPollerPing(t *testing.T) {
	srvConns := make(chan *Conn, 1)
	popts := &PollerOptions{OnMessage: func(c *Conn, typ MessageType, msg []byte) { srvConns <- c }}
	for _, mode := range pollerModeNames {
		t.Run(mode, func(t *testing.T) {
			srv := newPollerServer(t, mode, nil, popts)
			c := srv.dial(t, nil)
			ctx := testCtx(t)
			if _, err := c.Ping(ctx); err != nil {
				t.Fatalf("client ping: %v", err)
			}
			if err := c.Write(ctx, MessageText, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			sc := await(t, srvConns, "OnMessage's Conn")
			go c.Read(ctx) // the client must read to answer
			if _, err := sc.Ping(ctx); err != nil {
				t.Fatalf("server ping: %v", err)
			}
			if _, _, err := sc.Read(ctx); !errors.Is(err, errServedByPoller) {
				t.Fatalf("Read on a served connection: %v", err)
			}
		})
	}
}

// TestPollerClose: closing the poller ends every connection, each with one
// OnClose, and refuses new ones.
func TestPollerClose(t *testing.T) {
	pollerModes(t, func(t *testing.T, srv *pollerServer) {
		const n = 5
		conns := make([]*Conn, n)
		for i := range conns {
			conns[i] = srv.dial(t, nil)
			conns[i].Write(testCtx(t), MessageText, []byte("x"))
			conns[i].Read(testCtx(t))
		}
		if got := srv.poller.Len(); got != n {
			t.Fatalf("Len = %d", got)
		}
		if err := srv.poller.Close(); err != nil {
			t.Fatal(err)
		}
		for range n {
			srv.nextClosed(t)
		}
		select {
		case cc := <-srv.closed:
			t.Fatalf("a second OnClose: %v", cc.err)
		default:
		}
		if err := srv.poller.Serve(conns[0]); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrPollerClosed) {
			t.Fatalf("Serve after Close: %v", err)
		}
	})
}

// TestPollerHandshakeLeftovers: frames that arrive with the handshake are
// delivered.
func TestPollerHandshakeLeftovers(t *testing.T) {
	srv := newPollerServer(t, "tcp", nil, nil)
	addr := strings.TrimPrefix(srv.url, "ws://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	msg := frame(true, 0, opText, true, []byte("early"))
	nc.Write(append([]byte(req), msg...))
	p := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
	if resp, err := http.ReadResponse(p.br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	h, payload, err := p.readFrame()
	if err != nil || h.Op != opText || string(payload) != "early" {
		t.Fatalf("got %v %q %v", h.Op, payload, err)
	}
}

// TestPollerClient: a Poller serves client connections too: replies reach
// OnMessage, and a close started by the server ends with OnClose.
func TestPollerClient(t *testing.T) {
	wstest.CheckLeaks(t)
	got := make(chan string, 10)
	ended := make(chan error, 1)
	p, err := NewPoller(PollerOptions{
		OnMessage: func(c *Conn, typ MessageType, msg []byte) { got <- string(msg) },
		OnClose:   func(c *Conn, err error) { ended <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client, server := pair(t, nil, nil)
	if err := p.Serve(client); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for _, msg := range []string{"one", strings.Repeat("two", 3000)} {
		if err := server.Write(ctx, MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if m := await(t, got, "OnMessage"); m != msg {
			t.Fatalf("OnMessage got %d bytes, want %d", len(m), len(msg))
		}
	}
	if err := server.Close(StatusGoingAway, "bye"); err != nil {
		t.Fatalf("server Close: %v", err)
	}
	if err := await(t, ended, "OnClose"); CloseStatus(err) != StatusGoingAway {
		t.Fatalf("OnClose: %v", err)
	}
}

// TestPollerFragmentsFillBuffer: complete fragments that fill the read
// buffer, followed by a header cut short, are taken by the reader to make
// room, and the message arrives whole.
func TestPollerFragmentsFillBuffer(t *testing.T) {
	for _, first := range []int{4080, 4085, 4086, 4090} {
		t.Run(strconv.Itoa(first), func(t *testing.T) {
			srv := newPollerServer(t, "tcp", nil, nil)
			c := srv.dial(t, nil)
			a := bytes.Repeat([]byte{'a'}, first)
			b := bytes.Repeat([]byte{'b'}, 100)
			raw := append(frame(false, 0, opBinary, true, a), frame(true, 0, opContinuation, true, b)...)
			if _, err := c.nc.Write(raw); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.Read(testCtx(t))
			if err != nil || !bytes.Equal(got, append(a, b...)) {
				t.Fatalf("got %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestPollerCloseWhileServing: Close racing with Serve of many connections
// returns, and every connection Serve took gets exactly one OnClose:
// one registered after Close looked for the connections closes itself.
func TestPollerCloseWhileServing(t *testing.T) {
	checkFDs(t)
	const n = 40
	servers := make([]*Conn, n)
	for i := range servers {
		_, servers[i] = pair(t, nil, nil)
	}
	var mu sync.Mutex
	closes := map[*Conn]int{}
	p, err := NewPoller(PollerOptions{
		Loops:     2,
		OnMessage: func(*Conn, MessageType, []byte) {},
		OnClose: func(c *Conn, _ error) {
			mu.Lock()
			closes[c]++
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan *Conn, n)
	var wg sync.WaitGroup
	for _, c := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := p.Serve(c); {
			case err == nil:
				served <- c
			case !errors.Is(err, ErrPollerClosed):
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	wg.Wait()
	close(served)
	mu.Lock()
	defer mu.Unlock()
	for c := range served {
		if closes[c] != 1 {
			t.Errorf("a served connection got %d OnClose calls", closes[c])
		}
	}
	if len(closes) > n {
		t.Errorf("%d OnClose calls for %d connections", len(closes), n)
	}
	if got := p.Len(); got != 0 {
		t.Errorf("Len = %d after Close", got)
	}
}

// TestPollerCloseRacingServe: a Close that began waiting for readMu before
// Serve published the connection as served gets readMu when Serve lets
// go. It must then leave the reading to the Poller rather than read the
// loop's socket itself, and whatever the loop left to it meanwhile (here,
// in the second case, the connection's end) must still be reported: OnClose
// runs once and Poller.Close returns. The test holds the Poller's mutex to
// keep Serve between its lock and its publication while Close starts.
func TestPollerCloseRacingServe(t *testing.T) {
	for _, tc := range []struct {
		name string
		// endWhileHeld: a ping is waiting, and the server's OnPing, which
		// runs on Close's goroutine while it holds readMu, ends the
		// connection and waits until its loop has seen that.
		endWhileHeld bool
	}{
		{
			name: "close-handshake",
		},
		{
			name:         "end-while-held",
			endWhileHeld: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var closes atomic.Int32
			var sc *Conn
			aopts := &AcceptOptions{}
			if tc.endWhileHeld {
				aopts.OnPing = func([]byte) {
					sc.CloseNow()
					ev := sc.ev.Load()
					deadline := time.Now().Add(2 * time.Second)
					for !ev.has(evClosing) && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
				}
			}
			cc, s := pair(t, aopts, nil)
			sc = s
			if tc.endWhileHeld {
				if _, err := cc.nc.Write(frame(true, 0, opPing, true, []byte("x"))); err != nil {
					t.Fatal(err)
				}
			} else {
				go func() { // answers the close handshake
					for {
						if _, _, err := cc.Read(context.Background()); err != nil {
							return
						}
					}
				}()
			}
			p := countingPoller(t, &closes)
			defer p.Close() // on a failed check; after the test's own, it returns at once
			p.mu.Lock()
			// Deferred too: a failed check must not leave Serve waiting.
			unlock := sync.OnceFunc(p.mu.Unlock)
			defer unlock()
			serveErr := make(chan error, 1)
			go func() { serveErr <- p.Serve(sc) }()
			awaitCond(t, "Serve to take the read lock", sc.readMu.Held)
			closeErr := make(chan error, 1)
			go func() { closeErr <- sc.Close(StatusNormalClosure, "") }()
			awaitCond(t, "Close to wait for the read lock", sc.readMu.HasWaiters)
			unlock()
			if err := await(t, serveErr, "Serve"); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			select {
			case err := <-closeErr:
				if !tc.endWhileHeld && err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return")
			}
			pc := make(chan error, 1)
			go func() { pc <- p.Close() }()
			select {
			case <-pc:
			case <-time.After(5 * time.Second):
				t.Fatalf("Poller.Close hangs; OnClose ran %d times", closes.Load())
			}
			if n := closes.Load(); n != 1 {
				t.Errorf("OnClose ran %d times, want once", n)
			}
		})
	}
}

// TestPollerServeAfterPingReadAhead: a Ping that reads on the
// application's behalf stops at the first data message and leaves it begun
// for the next read. Serve must deliver that message, then the next; a loop
// starts every message it delivers itself, so such a connection is served
// by a goroutine (it used to go to a loop, which lost the message).
func TestPollerServeAfterPingReadAhead(t *testing.T) {
	cc, sc := pair(t, nil, nil)
	got := make(chan string, 4)
	p, err := NewPoller(PollerOptions{
		Loops:     1,
		OnMessage: func(_ *Conn, _ MessageType, m []byte) { got <- string(m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	// The client's message is in the server's socket before Ping pumps.
	if _, err := cc.nc.Write(frame(true, 0, opText, true, []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	pingDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := sc.Ping(ctx) // the raw client never answers
		pingDone <- err
	}()
	time.Sleep(100 * time.Millisecond) // the pump read "hello" and let go
	for {
		err := p.Serve(sc)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConcurrentRead) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := cc.nc.Write(frame(true, 0, opText, true, []byte("world"))); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	timeout := time.After(2 * time.Second)
	for len(msgs) < 2 {
		select {
		case m := <-got:
			msgs = append(msgs, m)
		case <-timeout:
			t.Fatalf("OnMessage got %q, want [hello world]", msgs)
		}
	}
	if msgs[0] != "hello" || msgs[1] != "world" {
		t.Fatalf("OnMessage got %q, want [hello world]", msgs)
	}
	await(t, pingDone, "the Ping's end")
}

// TestPollerServeAfterInterruptedCompressedRead: a ReadAppend cut off by
// its ctx in the middle of a compressed message leaves the message and its
// inflater in progress. After Serve, the message must be delivered whole,
// as the next ReadAppend would have: a loop fed the next fragment to that
// inflater, which then read the socket itself and crashed on a nil ctx.
func TestPollerServeAfterInterruptedCompressedRead(t *testing.T) {
	comp := CompressionOptions{Mode: CompressionNoContextTakeover}
	cc, sc := pair(t,
		&AcceptOptions{ConnOptions: ConnOptions{Compression: comp}},
		&DialOptions{ConnOptions: ConnOptions{Compression: comp}})
	if sc.deflate == nil {
		t.Fatal("compression not negotiated")
	}
	want := strings.Repeat("the quick brown fox jumps over the lazy dog ", 200)
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	fw.Write([]byte(want))
	fw.Flush()
	payload := bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})
	half := len(payload) / 2
	// The first fragment now; the server's ReadAppend runs out of time.
	if _, err := cc.nc.Write(frame(false, bitRsv1, opText, true, payload[:half])); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, _, err := sc.ReadAppend(ctx, nil)
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("ReadAppend: %v", err)
	}
	got := make(chan string, 1)
	p, err := NewPoller(PollerOptions{
		Loops:     1,
		OnMessage: func(_ *Conn, _ MessageType, m []byte) { got <- string(m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Serve(sc); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	third := half + (len(payload)-half)/2
	if _, err := cc.nc.Write(frame(false, 0, opContinuation, true, payload[half:third])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := cc.nc.Write(frame(true, 0, opContinuation, true, payload[third:])); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != want {
			t.Fatalf("OnMessage got %d bytes, want %d", len(m), len(want))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("message not delivered")
	}
}

// TestPollerCallbackNeverWaitsForAnotherLoop: a callback on one loop that
// pings a connection served by another loop gets ErrPingFromCallback at
// once, as it does for its own connection. Waiting would let two
// callbacks, each pinging a connection of the other's loop, stall both
// loops until their ctx ends.
func TestPollerCallbackNeverWaitsForAnotherLoop(t *testing.T) {
	ca, a := pair(t, nil, nil)
	cb, b := pair(t, nil, nil)
	other := map[*Conn]*Conn{a: b, b: a}
	res := make(chan error, 2)
	p, err := NewPoller(PollerOptions{
		Loops: 2,
		OnMessage: func(c *Conn, _ MessageType, _ []byte) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := other[c].Ping(ctx)
			res <- err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for _, c := range []*Conn{a, b} {
		if err := p.Serve(c); err != nil {
			t.Fatal(err)
		}
	}
	if la, lb := a.ev.Load().l.Load(), b.ev.Load().l.Load(); la == nil || la == lb {
		t.Skip("the connections are not on two loops (no epoll here)")
	}
	for _, c := range []*Conn{ca, cb} {
		go c.Read(context.Background()) // answers pings, until the cleanup closes it
		if err := c.Write(testCtx(t), MessageText, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case err := <-res:
			if !errors.Is(err, ErrPingFromCallback) {
				t.Errorf("Ping from a callback of another loop: %v, want ErrPingFromCallback", err)
			}
		case <-time.After(4 * time.Second):
			t.Fatal("Ping from a callback of another loop waited")
		}
	}
}

// countingPoller returns a Poller with one loop that ignores messages and
// counts its OnClose calls in closes. The test closes it.
func countingPoller(t *testing.T, closes *atomic.Int32) *Poller {
	t.Helper()
	p, err := NewPoller(PollerOptions{
		Loops:     1,
		OnMessage: func(*Conn, MessageType, []byte) {},
		OnClose:   func(*Conn, error) { closes.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPollerDoneDuringServe: Done may be called from any goroutine while
// Serve hands the connection over (which replaces its net.Conn with the
// loop's socket); the race detector checks it.
func TestPollerDoneDuringServe(t *testing.T) {
	_, server := pair(t, nil, nil)
	var closes atomic.Int32
	p := countingPoller(t, &closes)
	defer p.Close()
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-server.Done():
				return
			default:
			}
		}
	}()
	if err := p.Serve(server); err != nil {
		t.Fatal(err)
	}
	close(stop)
	await(t, watched, "the watcher's end")
}

// TestPollerLoopNeverWaitsForMessageLock: a writer on another goroutine
// that holds the message lock (a compressed Write, or a Writer streaming)
// and waits for room in the queue of a peer that does not read, waits
// for the loop to drain it. A callback's write to that connection must not
// wait for the lock then: it fails with ErrWriteQueueFull, as a loop's
// write over the limit does. It used to wait, for good with a Background
// ctx, and every connection of the loop with it.
func TestPollerLoopNeverWaitsForMessageLock(t *testing.T) {
	random := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{}).Read(random)
	cases := []struct {
		name   string
		copts  CompressionOptions
		writer func(c *Conn) // writes until the connection ends
	}{
		{
			name:  "compressed Write",
			copts: CompressionOptions{Mode: CompressionNoContextTakeover},
			writer: func(c *Conn) {
				for c.Write(context.Background(), MessageBinary, random) == nil {
				}
			},
		},
		{
			name: "Writer",
			writer: func(c *Conn) {
				w, err := c.Writer(context.Background(), MessageBinary)
				if err != nil {
					return
				}
				for err == nil {
					_, err = w.Write(random)
				}
				w.Close()
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pair(t,
				&AcceptOptions{ConnOptions: ConnOptions{Compression: tc.copts}},
				&DialOptions{ConnOptions: ConnOptions{Compression: tc.copts}})
			res := make(chan error, 1)
			serveQueued(t, server, func(c *Conn, _ MessageType, _ []byte) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res <- c.Write(ctx, MessageBinary, random[:4096])
			})
			go tc.writer(server) // the client never reads
			waitForRoomWaiter(t, server)
			if err := client.Write(testCtx(t), MessageText, []byte("go")); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-res:
				if !errors.Is(err, ErrWriteQueueFull) {
					t.Errorf("callback's write: %v, want ErrWriteQueueFull", err)
				}
			case <-time.After(4 * time.Second):
				t.Fatal("the callback's write waited for a writer that waits for the loop")
			}
		})
	}
}

// serveQueued serves c on a one-loop Poller with a 64 KiB WriteQueueLimit
// and onMessage, and skips the test where c gets no write queue.
func serveQueued(t *testing.T, c *Conn, onMessage func(*Conn, MessageType, []byte)) {
	t.Helper()
	p, err := NewPoller(PollerOptions{Loops: 1, WriteQueueLimit: 64 << 10, OnMessage: onMessage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Serve(c); err != nil {
		t.Fatal(err)
	}
	if c.wr.queue.Load() == nil {
		t.Skip("no write queue: the connection is not on a loop (no epoll here)")
	}
}

// waitForRoomWaiter waits until a writer to c waits for room in its queue.
func waitForRoomWaiter(t *testing.T, c *Conn) {
	t.Helper()
	q := c.wr.queue.Load()
	awaitCond(t, "a writer to wait for room in the queue", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.waits != nil && q.waits.room != nil
	})
}

// TestPollerCloseFromCallbackAfterLargeWrite: a callback that writes more
// than WriteQueueLimit (Write queues it and returns nil) and then calls
// Close: the close frame goes in behind the queued reply, and the peer
// reads the reply and then the close code. Close used to fail with
// ErrWriteQueueFull, as a data write from the loop does, and drop the
// connection with the reply unsent.
func TestPollerCloseFromCallbackAfterLargeWrite(t *testing.T) {
	for _, mode := range pollerModeNames {
		t.Run(mode, func(t *testing.T) {
			reply := make([]byte, 8<<20)
			errs := make(chan error, 2)
			srv := newPollerServer(t, mode, nil, &PollerOptions{
				Loops:           1,
				WriteQueueLimit: 64 << 10,
				OnMessage: func(c *Conn, _ MessageType, _ []byte) {
					errs <- c.Write(context.Background(), MessageBinary, reply)
					errs <- c.Close(4000, "bye")
				},
			})
			client := srv.dial(t, &DialOptions{ConnOptions: ConnOptions{ReadLimit: -1}})
			ctx := testCtx(t)
			if err := client.Write(ctx, MessageText, []byte("go")); err != nil {
				t.Fatal(err)
			}
			_, got, err := client.Read(ctx)
			if err != nil || len(got) != len(reply) {
				t.Fatalf("client read %d bytes, %v; want the %d-byte reply", len(got), err, len(reply))
			}
			if _, _, err := client.Read(ctx); CloseStatus(err) != 4000 {
				t.Fatalf("client read after the reply: %v, want a close with 4000", err)
			}
			if err := <-errs; err != nil {
				t.Errorf("callback's Write: %v", err)
			}
			if err := <-errs; err != nil {
				t.Errorf("callback's Close: %v", err)
			}
		})
	}
}

// TestPollerCloseFromCallback: Poller.Close called from OnMessage or
// OnClose closes every connection and returns, rather than wait for the
// callback that called it; the loops end once it returns. It used to hang
// for good (from OnClose, on a connection served by a goroutine of its
// own, after a first fix that knew only OnMessage).
func TestPollerCloseFromCallback(t *testing.T) {
	for _, from := range []string{"OnMessage", "OnClose"} {
		for _, mode := range pollerModeNames {
			t.Run(from+"/"+mode, func(t *testing.T) {
				var poller atomic.Pointer[Poller]
				closeErr := make(chan error, 1)
				closed := make(chan struct{}, 2)
				callClose := func() {
					if err := poller.Load().Close(); !errors.Is(err, ErrPollerClosed) {
						closeErr <- err
					}
				}
				srv := newPollerServer(t, mode, nil, &PollerOptions{
					Loops: 2,
					OnMessage: func(*Conn, MessageType, []byte) {
						if from == "OnMessage" {
							callClose()
						}
					},
					OnClose: func(*Conn, error) {
						if from == "OnClose" {
							callClose()
						}
						closed <- struct{}{}
					},
				})
				poller.Store(srv.poller)
				a := srv.dial(t, nil)
				b := srv.dial(t, nil)
				ctx := testCtx(t)
				for srv.poller.Len() < 2 { // both served before Close
					if ctx.Err() != nil {
						t.Fatal("the poller never served both connections")
					}
					time.Sleep(time.Millisecond)
				}
				if from == "OnMessage" {
					if err := a.Write(ctx, MessageText, []byte("shut down")); err != nil {
						t.Fatal(err)
					}
				} else {
					a.CloseNow()
				}
				select {
				case err := <-closeErr:
					if err != nil {
						t.Fatalf("Close from %s: %v", from, err)
					}
				case <-ctx.Done():
					t.Fatalf("Close from %s never returned", from)
				}
				if _, _, err := b.Read(ctx); CloseStatus(err) != StatusAbnormalClosure {
					t.Errorf("the other client's read: %v, want the end of the connection (1006)", err)
				}
				for range 2 {
					await(t, closed, "OnClose")
				}
				if err := srv.poller.Close(); !errors.Is(err, ErrPollerClosed) {
					t.Errorf("second Close: %v, want ErrPollerClosed", err)
				}
			})
		}
	}
}

// TestPollerWriteTimeoutBoundsRoomWait: on a Poller's connection, whose
// writes queue, ConnOptions.WriteTimeout bounds another goroutine's wait
// for room past WriteQueueLimit, though its ctx never ends: the write
// fails with os.ErrDeadlineExceeded and the connection closes.
func TestPollerWriteTimeoutBoundsRoomWait(t *testing.T) {
	client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: 200 * time.Millisecond}}, nil)
	serveQueued(t, server, func(*Conn, MessageType, []byte) {})
	_ = client // reads nothing
	wrote := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = server.Write(context.Background(), MessageBinary, make([]byte, 32<<10))
		}
		wrote <- err
	}()
	select {
	case err := <-wrote:
		// Whether the wait for room timed out or the watch on the queue
		// dropped the connection first, the write says WriteTimeout.
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, ErrClosed) {
			t.Fatalf("Write: %v, want os.ErrDeadlineExceeded and ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write waited for room past WriteTimeout")
	}
	await(t, server.Done(), "the server Conn's end")
}

// fillUntilRefused writes 16 KiB messages to c until its socket refuses
// bytes and they wait in c's queue, and returns the queue.
func fillUntilRefused(t *testing.T, c *Conn) *outQueue {
	t.Helper()
	q := c.wr.queue.Load()
	msg := make([]byte, 16<<10)
	for i := 0; q.queued.Load() == 0; i++ {
		if i == 4096 {
			t.Fatal("64 MiB written and the socket still took it all")
		}
		if err := c.Write(context.Background(), MessageBinary, msg); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	return q
}

// TestPollerWriteTimeoutDropsStalledQueue: a peer that reads nothing while
// a Poller's connection holds refused bytes well below WriteQueueLimit is
// dropped once WriteTimeout passes with none of them taken, and later
// calls say why. It used to stay connected, the bytes queued, for as long
// as the peer kept the TCP connection open.
func TestPollerWriteTimeoutDropsStalledQueue(t *testing.T) {
	client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: 100 * time.Millisecond}}, nil)
	serveQueued(t, server, func(*Conn, MessageType, []byte) {})
	_ = client // reads nothing
	// Keep something refused in the queue, never past its limit (a write
	// waiting for room has a WriteTimeout of its own), until the kernel's
	// buffers are full and nothing leaves.
	deadline := time.Now().Add(10 * time.Second)
	for !server.isClosed() {
		if time.Now().After(deadline) {
			t.Fatal("the connection outlived its stalled queue by 10 s")
		}
		if server.wr.queue.Load().queued.Load() > 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		fillUntilRefused(t, server)
	}
	await(t, server.Done(), "the server Conn's end")
	err := server.Write(context.Background(), MessageText, []byte("late"))
	if !errors.Is(err, errWriteTimedOut) {
		t.Fatalf("Write after the drop: %v, want the WriteTimeout error", err)
	}
	q := server.wr.queue.Load()
	q.mu.Lock()
	on := q.waits != nil && q.waits.stallOn
	q.mu.Unlock()
	if on {
		t.Fatal("the queue's watch outlived the connection")
	}
}

// TestPollerWriteTimeoutKeepsReader: a peer that reads everything keeps its
// connection while the loop that serves it is busy in another
// connection's callback for ten times WriteTimeout: the watch's own try
// of the socket sends what the loop cannot.
//
// The watch is armed by fillUntilRefused's last write, and its first
// look, WriteTimeout later, drops the peer unless the reader has started
// to drain the socket by then: 250 ms leaves a busy machine time to run
// the reader's goroutine, where 100 ms might not. Without the watch's
// try, the peer is dropped all the same (3 runs of 3): the loop stays
// busy for ten times WriteTimeout whatever it is.
func TestPollerWriteTimeoutKeepsReader(t *testing.T) {
	const timeout = 250 * time.Millisecond
	opts := &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: timeout}}
	busyClient, busy := pair(t, opts, nil)
	reader, readerPeer, _ := acceptRawConn(t, opts)
	p, err := NewPoller(PollerOptions{Loops: 1, WriteQueueLimit: 64 << 10, OnMessage: func(*Conn, MessageType, []byte) {
		time.Sleep(10 * timeout)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for _, c := range []*Conn{busy, reader} {
		if err := p.Serve(c); err != nil {
			t.Fatal(err)
		}
	}
	if reader.wr.queue.Load() == nil {
		t.Skip("no write queue: the connection is not on a loop (no epoll here)")
	}
	fillUntilRefused(t, reader)
	if err := busyClient.Write(context.Background(), MessageText, []byte("keep the loop busy")); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, readerPeer)
	time.Sleep(15 * timeout) // the loop is busy for 10 of them
	if reader.isClosed() {
		t.Fatalf("a peer that reads everything was dropped: %v", reader.errAfterClose())
	}
}

// TestPollerStallWatch drives the queue's WriteTimeout watch by hand (its
// timer, an hour long, never fires here; each look is made due by hand):
// a queue that moved since the watch last looked is watched on, one that
// did not is dropped, a look not yet due does nothing, and without
// WriteTimeout nothing is watched.
func TestPollerStallWatch(t *testing.T) {
	// watching reports whether q's watch is on.
	watching := func(q *outQueue) bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.waits != nil && q.waits.stallOn
	}
	// look runs the watch's look at q as if its time had come.
	look := func(c *Conn, q *outQueue) {
		q.mu.Lock()
		if q.waits != nil {
			q.waits.stallDue = time.Now()
		}
		q.mu.Unlock()
		q.checkStall(c)
	}
	t.Run("no WriteTimeout", func(t *testing.T) {
		client, server := pair(t, nil, nil)
		serveQueued(t, server, func(*Conn, MessageType, []byte) {})
		_ = client
		if watching(fillUntilRefused(t, server)) {
			t.Fatal("a queue is watched without WriteTimeout")
		}
	})
	t.Run("moved", func(t *testing.T) {
		client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: time.Hour}}, nil)
		serveQueued(t, server, func(*Conn, MessageType, []byte) {})
		_ = client
		q := fillUntilRefused(t, server)
		if !watching(q) {
			t.Fatal("refused bytes are queued and no watch is armed")
		}
		q.mu.Lock()
		q.waits.stallLeft++ // as if a byte had left
		q.mu.Unlock()
		look(server, q)
		if server.isClosed() {
			t.Fatal("a queue that moved was taken for stalled")
		}
		q.mu.Lock()
		looked := q.waits.stallMark == q.waits.stallLeft
		due := time.Until(q.waits.stallDue)
		q.mu.Unlock()
		if !watching(q) || !looked || due < 59*time.Minute {
			t.Fatalf("after a look at a queue that moved: watching %v, progress noted %v, next look in %v; want both and an hour", watching(q), looked, due)
		}
	})
	t.Run("not due", func(t *testing.T) {
		client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: time.Hour}}, nil)
		serveQueued(t, server, func(*Conn, MessageType, []byte) {})
		_ = client // reads nothing
		q := fillUntilRefused(t, server)
		// A firing of an arming since stopped, the watch armed again.
		q.checkStall(server)
		if server.isClosed() || !watching(q) {
			t.Fatalf("a look before it was due: closed %v, watching %v; want open and watching", server.isClosed(), watching(q))
		}
	})
	t.Run("stalled", func(t *testing.T) {
		client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: time.Hour}}, nil)
		serveQueued(t, server, func(*Conn, MessageType, []byte) {})
		_ = client // reads nothing
		// A look tries the socket once before it drops, and the kernel's
		// buffers may take what is queued: refill until they do not.
		var q *outQueue
		for i := 0; !server.isClosed(); i++ {
			if i == 1000 {
				t.Fatal("1000 looks at a queue the peer does not read, and it still moves")
			}
			q = fillUntilRefused(t, server)
			look(server, q)
		}
		if err := server.Write(context.Background(), MessageText, []byte("late")); !errors.Is(err, errWriteTimedOut) {
			t.Fatalf("Write after the drop: %v, want the WriteTimeout error", err)
		}
		if watching(q) {
			t.Fatal("the watch is still on after the drop")
		}
	})
}

// TestPollerClientCloseServerKeepsTCP: a client a Poller serves closes,
// and the server answers its close frame but keeps the TCP connection
// open. The end reports the server's close code, as on a Read loop, not a
// handshake that timed out waiting for a close frame (an outside probe:
// OnClose said so, CloseStatus -1, when Close ran in OnMessage). A Close
// from a goroutine waits up to CloseTimeout for the server to close TCP,
// as Close's godoc says (RFC 6455, section 7.1.1); it closed at once.
// CloseTimeout bounds the whole handshake, from Close's start: TCP's end
// is timed from there, not from the server's answer, which a busy
// machine may delay by most of it.
func TestPollerClientCloseServerKeepsTCP(t *testing.T) {
	wstest.CheckLeaks(t)
	const closeTimeout = 300 * time.Millisecond
	for _, fromCallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("from OnMessage=%v", fromCallback), func(t *testing.T) {
			tcpEnd := make(chan time.Time, 1) // when the client closed TCP, after the server's close frame
			addr := rawServer(t, func(nc net.Conn, req *http.Request) {
				io.WriteString(nc, upgradeAnswer("websocket")(req.Header.Get("Sec-WebSocket-Key")))
				nc.Write(frame(true, 0, opText, false, []byte("hi")))
				br := bufio.NewReader(nc)
				for {
					h, payload, err := readWireFrame(br)
					if err != nil {
						return
					}
					if h.Op == opClose {
						nc.Write(frame(true, 0, opClose, false, payload))
						waitForClose(nc)
						tcpEnd <- time.Now()
						return
					}
				}
			})
			ended := make(chan error, 1)
			closed := make(chan error, 1)
			closeStart := make(chan time.Time, 1)
			p, err := NewPoller(PollerOptions{
				OnMessage: func(c *Conn, _ MessageType, _ []byte) {
					if fromCallback {
						closeStart <- time.Now()
						closed <- c.Close(4001, "bye")
					} else {
						go func() {
							closeStart <- time.Now()
							closed <- c.Close(4001, "bye")
						}()
					}
				},
				OnClose: func(_ *Conn, err error) { ended <- err },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			dopts := &DialOptions{ConnOptions: ConnOptions{CloseTimeout: closeTimeout}}
			c, _, err := Dial(testCtx(t), "ws://"+addr, dopts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			start := time.Now()
			if err := p.Serve(c); err != nil {
				t.Fatal(err)
			}
			if err := await(t, closed, "Close"); err != nil {
				t.Errorf("Close: %v", err)
			}
			if !fromCallback && time.Since(start) < closeTimeout/2 {
				t.Errorf("Close returned after %v, before the server closed TCP or CloseTimeout (%v) passed", time.Since(start), closeTimeout)
			}
			if err := await(t, ended, "OnClose"); CloseStatus(err) != 4001 {
				t.Errorf("OnClose: %v (CloseStatus %d), want the server's 4001", err, CloseStatus(err))
			}
			if d := await(t, tcpEnd, "the client's end of TCP").Sub(await(t, closeStart, "Close's start")); d < closeTimeout/2 {
				t.Errorf("the client closed TCP %v after Close began, want about CloseTimeout (%v)", d, closeTimeout)
			}
		})
	}
}

// TestPollerPongsBeforeReplies: the pongs to pings that came before a
// message go out before what OnMessage writes in reply, whatever the
// batch already holds (Autobahn 5.6's order). With batching, replies to
// large messages earlier in the batch made the held data too large for
// control frames to join, and the pongs waited for the queue to empty,
// behind the reply written after them (an outside probe: 147 to 156 of
// 200 conversations).
func TestPollerPongsBeforeReplies(t *testing.T) {
	for _, mode := range []string{"tcp", "tcp-plain"} {
		t.Run(mode, func(t *testing.T) {
			srv := newPollerServer(t, mode, nil, nil)
			addr := strings.TrimPrefix(srv.url, "ws://")
			for round := range 20 {
				rc := dialRawWS(t, addr, 0, time.Now().Add(10*time.Second))
				var burst []byte
				for _, n := range []int{9705, 23, 13, 12611} {
					burst = append(burst, frame(true, 0, opBinary, true, make([]byte, n))...)
				}
				for i := range 12 {
					burst = append(burst, frame(true, 0, opPing, true, fmt.Appendf(nil, "ping %d", i))...)
				}
				burst = append(burst, frame(true, 0, opText, true, []byte("after the pings"))...)
				if _, err := rc.nc.Write(burst); err != nil {
					t.Fatal(err)
				}
				pongs := 0
				for {
					h, payload, err := readWireFrame(rc.br)
					if err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					if h.Op == opPong {
						pongs++
					}
					if h.Op == opText {
						if pongs != 12 {
							t.Fatalf("round %d: the reply %q came after %d pongs of 12", round, payload, pongs)
						}
						break
					}
				}
				rc.nc.Close()
			}
		})
	}
}

// TestPollerPongsBeforeRepliesWithOtherWriter: the pongs to the pings
// before a message go out before OnMessage's reply also while another
// goroutine writes on the connection. Its frame lock, held when the
// message is dispatched, keeps kickControlBeforeReply from sending them,
// and the reply's writer, waiting for the lock, could be handed it first
// (a review: 5 to 65 of 500 rounds, every run). lockFrameSlow now sends
// pongs due before a reply ahead of the data.
func TestPollerPongsBeforeRepliesWithOtherWriter(t *testing.T) {
	wstest.CheckLeaks(t)
	for _, mode := range []string{"tcp", "tcp-plain"} {
		t.Run(mode, func(t *testing.T) {
			popts := &PollerOptions{Loops: 1}
			popts.OnMessage = func(c *Conn, typ MessageType, msg []byte) {
				if string(msg) != "start" {
					c.Write(context.Background(), typ, msg)
					return
				}
				go func() { // as a Broadcast would write
					// It pauses now and then: with one P (GOMAXPROCS=1) a
					// goroutine always runnable leaves the network to
					// sysmon's poll, every 10 ms, which woke the client and
					// the loop once a round, too slowly for the deadline.
					for i := 1; c.Write(context.Background(), MessageBinary, []byte("background")) == nil; i++ {
						if i%32 == 0 {
							time.Sleep(time.Microsecond)
						}
					}
				}()
			}
			srv := newPollerServer(t, mode, nil, popts)
			rc := dialRawWS(t, strings.TrimPrefix(srv.url, "ws://"), 0, time.Now().Add(20*time.Second))
			defer rc.nc.Close()
			if _, err := rc.nc.Write(frame(true, 0, opText, true, []byte("start"))); err != nil {
				t.Fatal(err)
			}
			const rounds, pings = 500, 3
			bad := 0
			for round := range rounds {
				var burst []byte
				for i := range pings {
					burst = append(burst, frame(true, 0, opPing, true, fmt.Appendf(nil, "%d %d", round, i))...)
				}
				burst = append(burst, frame(true, 0, opText, true, fmt.Appendf(nil, "m%d", round))...)
				if _, err := rc.nc.Write(burst); err != nil {
					t.Fatal(err)
				}
				if pongs := pongsBeforeText(t, rc.br, fmt.Sprint(round, " ")); pongs != pings {
					bad++
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d replies went out before the pongs to the pings before their message", bad, rounds)
			}
		})
	}
}

// pongsBeforeText reads frames up to the next text frame and counts the
// pongs among them whose payload starts with prefix.
func pongsBeforeText(t *testing.T, br *bufio.Reader, prefix string) int {
	t.Helper()
	pongs := 0
	for {
		h, payload, err := readWireFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Op == opPong && strings.HasPrefix(string(payload), prefix):
			pongs++
		case h.Op == opText:
			return pongs
		}
	}
}

// TestPollerCloseStuckTLSPeersSideBySide: Poller.Close closes the
// connections it serves with goroutines side by side. Over TLS each may
// wait up to 100 ms for its close_notify alert to reach a peer that
// stopped reading; one after another, 20 such connections took 2 s (a
// review's note).
func TestPollerCloseStuckTLSPeersSideBySide(t *testing.T) {
	wstest.CheckLeaks(t)
	const conns = 20
	p, err := NewPoller(PollerOptions{OnMessage: func(*Conn, MessageType, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	for range conns {
		if err := p.Serve(stuckTLSClient(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > conns*closeNotifyWait/2 {
		t.Fatalf("Close of %d connections to stuck TLS peers took %v; one after another they take %v", conns, d, conns*closeNotifyWait)
	}
}

// TestPollerServeWhilePingReads: Serve takes a connection while a Ping
// reads for its pong on the application's behalf, as the heartbeat's does
// (PingInterval), instead of refusing it as being read; the poller reads
// once the Ping has its pong. Serve refused it (a soak run on a slow
// emulator, whose 5 ms heartbeat ticked between Accept and Serve).
func TestPollerServeWhilePingReads(t *testing.T) {
	client, server := pair(t, nil, nil)
	defer client.CloseNow()
	got := make(chan string, 1)
	p, err := NewPoller(PollerOptions{OnMessage: func(_ *Conn, _ MessageType, msg []byte) {
		got <- string(msg)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := testCtx(t)
	pinged := make(chan error, 1)
	go func() {
		_, err := server.Ping(ctx)
		pinged <- err
	}()
	for { // the client reads nothing yet: the Ping reads, waiting for its pong
		server.pumpMu.Lock()
		pumping := server.pumping
		server.pumpMu.Unlock()
		if pumping {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Serve(server); err != nil {
		t.Fatalf("Serve while a Ping reads: %v", err)
	}
	go client.Read(ctx) // answers the ping; returns when the test closes it
	if err := <-pinged; err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := client.Write(ctx, MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-got:
		if msg != "hello" {
			t.Fatalf("OnMessage got %q", msg)
		}
	case <-ctx.Done():
		t.Fatal("the poller did not read the message after the Ping")
	}
}

// TestPollerHalfCloseAfterCloseFrame: a peer that sends a message, then a
// close frame or a frame that fails the connection, then its end of the
// stream (a half-close), and reads on, gets the whole echo and then our
// close frame. The echo is larger than the sockets hold, so most of it
// waits in the connection's queue when the loop meets the end of the
// stream; the loop closed at once there, and the queue and the close
// frame were lost (the peer read a few MB of 16 and no close frame).
// Served by a goroutine ("wrapped"), a failing connection's reader closed
// it as it met the end of the stream, while a goroutine still wrote the
// close frame: the peer got none.
func TestPollerHalfCloseAfterCloseFrame(t *testing.T) {
	const size = 16 << 20
	for _, tc := range []struct {
		name string
		last []byte // after the message
		code StatusCode
	}{
		{
			name: "close-frame",
			last: frame(true, 0, opClose, true, []byte{0x03, 0xe8}),
			code: StatusNormalClosure,
		},
		{
			name: "protocol-error",
			last: frame(true, 0, opcode(3), true, nil), // a reserved opcode
			code: StatusProtocolError,
		},
	} {
		for _, mode := range []string{"tcp", "tcp-plain", "wrapped"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				aopts := &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 2 * size}}
				srv := newPollerServer(t, mode, aopts, &PollerOptions{Loops: 1})
				rc := dialRawWS(t, strings.TrimPrefix(srv.url, "ws://"), 0, time.Now().Add(20*time.Second))
				burst := append(frame(true, 0, opBinary, true, make([]byte, size)), tc.last...)
				if _, err := rc.nc.Write(burst); err != nil {
					t.Fatal(err)
				}
				if err := rc.nc.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc.br)
				if err != nil {
					t.Fatalf("after %d bytes: %v", len(got), err)
				}
				echo := frame(true, 0, opBinary, false, make([]byte, size))
				if len(got) < len(echo) || !bytes.Equal(got[:len(echo)], echo) {
					t.Fatalf("read %d bytes before the end of the stream, want the %d of the echo first", len(got), len(echo))
				}
				closeFrame := got[len(echo):]
				if len(closeFrame) < 4 || closeFrame[0] != 0x88 || StatusCode(binary.BigEndian.Uint16(closeFrame[2:])) != tc.code {
					t.Fatalf("after the echo: % x, want a close frame with %d", closeFrame[:min(len(closeFrame), 16)], tc.code)
				}
			})
		}
	}
}

// TestPollerCallbackWritePastLimitOnce: from a callback, one Write larger
// than WriteQueueLimit goes out whole, on a client's connection as on a
// server's, and a ping sent after it is not refused: the limit refuses
// the next data frame, not the rest of the frame it let in (a client's
// frame is masked and queued a write buffer at a time, and each piece
// was checked, so the Write failed part-way and closed the connection),
// nor a control frame (SendPing failed with ErrWriteQueueFull). The peer
// reads nothing until the callback returns, so most of the message waits
// in the queue.
func TestPollerCallbackWritePastLimitOnce(t *testing.T) {
	const size = 16 << 20
	for _, side := range []string{"server", "client"} {
		t.Run(side, func(t *testing.T) {
			msg := bytes.Repeat([]byte("0123456789abcdef"), size/16)
			type result struct{ write, ping error }
			res := make(chan result, 1)
			p, err := NewPoller(PollerOptions{
				Loops:           1,
				WriteQueueLimit: 64 << 10,
				OnMessage: func(c *Conn, _ MessageType, _ []byte) {
					var r result
					r.write = c.Write(context.Background(), MessageBinary, msg)
					r.ping = c.SendPing(context.Background(), []byte("after"))
					res <- r
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			limits := ConnOptions{ReadLimit: 2 * size}
			client, server := pair(t, &AcceptOptions{ConnOptions: limits}, &DialOptions{ConnOptions: limits})
			served, peer := server, client
			if side == "client" {
				served, peer = client, server
			}
			if err := p.Serve(served); err != nil {
				t.Fatal(err)
			}
			if served.wr.queue.Load() == nil {
				// Without a queue the Write blocks on the socket, which
				// the peer reads only after the callback returns.
				t.Skip("no write queue: the connection is not on a loop (no epoll here)")
			}
			ctx := testCtx(t)
			if err := peer.Write(ctx, MessageText, []byte("go")); err != nil {
				t.Fatal(err)
			}
			var r result
			select {
			case r = <-res:
			case <-ctx.Done():
				t.Fatal("OnMessage did not return")
			}
			if r.write != nil {
				t.Fatalf("Write of %d bytes from OnMessage, WriteQueueLimit 64 KiB: %v", size, r.write)
			}
			if r.ping != nil {
				t.Errorf("SendPing after it: %v", r.ping)
			}
			_, got, err := peer.Read(ctx)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("the peer read %d bytes (%v), want the %d written", len(got), err, size)
			}
		})
	}
}

// TestServeAgainLeavesTheConnectionServed: a second Serve of a served
// connection fails and leaves it served as it was. It holds the read lock
// for a moment, and a loop that met an event or the connection's end then
// leaves it to the holder; the failing Serve let go without looking, so a
// message was never delivered, or OnClose never came (and Poller.Close
// waited for it for good). Messages and ends race with Serve calls here,
// on a Poller that serves the connection and on one that is closed.
func TestServeAgainLeavesTheConnectionServed(t *testing.T) {
	closedPoller, err := NewPoller(PollerOptions{OnMessage: func(*Conn, MessageType, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	closedPoller.Close()
	got := make(chan string, 1)
	ended := make(chan error, 1)
	p, err := NewPoller(PollerOptions{
		Loops:     1,
		OnMessage: func(_ *Conn, _ MessageType, msg []byte) { got <- string(msg) },
		OnClose:   func(_ *Conn, err error) { ended <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	serveAgain := func(c *Conn) (stop func()) {
		done, quit := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-quit:
					return
				default:
				}
				if p.Serve(c) == nil || closedPoller.Serve(c) == nil {
					t.Error("Serve of a served connection succeeded")
					return
				}
				// A pause: with one P, a goroutine that never waits
				// leaves network wake-ups to sysmon, every 10 ms.
				time.Sleep(time.Microsecond)
			}
		}()
		return func() { close(quit); <-done }
	}
	ctx := testCtx(t) // one for all: testCtx adds a cleanup per call
	for round := range 10 {
		client, server := pair(t, nil, nil)
		if err := p.Serve(server); err != nil {
			t.Fatal(err)
		}
		// Deferred too: a failed check must not leave the goroutine
		// calling Serve for the rest of the package's tests.
		stop := sync.OnceFunc(serveAgain(server))
		defer stop()
		for i := range 100 {
			if err := client.Write(ctx, MessageText, []byte("m")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: message %d not delivered", round, i)
			}
		}
		client.CloseNow()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: no OnClose after the peer closed", round)
		}
		stop()
	}
}

// TestReadAfterServeLeavesItToThePoller: a Read that looked at the
// connection before Serve took it, and took the read lock after, or that
// waited behind a Ping reading for its pong, says the connection is
// served and leaves it to the poller (behind the Ping, the poller's
// goroutine may take the lock first and keep it, and the Read then waits
// until its ctx ends, as seen under qemu). It read the served connection
// itself: it met the detached socket's EAGAIN and closed the connection,
// or took the message OnMessage should have had.
func TestReadAfterServeLeavesItToThePoller(t *testing.T) {
	for _, behindPing := range []bool{false, true} {
		t.Run(fmt.Sprintf("behind-ping=%v", behindPing), func(t *testing.T) {
			client, server := pair(t, nil, nil)
			p, got := gotPoller(t)
			gate := &gatedCtx{Context: testCtx(t), entered: make(chan struct{}), open: make(chan struct{})}
			var readCtx context.Context = gate
			if behindPing {
				// The Read may wait on behind the poller's goroutine,
				// which takes the lock when the pump lets go, until its
				// ctx ends.
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				readCtx = ctx
				close(gate.open)
				go server.Ping(testCtx(t)) // no pong: the client reads nothing
				for !server.isPumping() {
					time.Sleep(time.Millisecond)
				}
			}
			readErr := make(chan error, 1)
			go func() {
				_, _, err := server.Read(readCtx)
				readErr <- err
			}()
			if behindPing {
				for !server.readMu.HasWaiters() {
					time.Sleep(time.Millisecond)
				}
			} else {
				<-gate.entered // the Read looked: not served yet
			}
			if err := p.Serve(server); err != nil {
				t.Fatal(err)
			}
			if !behindPing {
				close(gate.open)
			}
			if err := client.Write(testCtx(t), MessageText, []byte("m")); err != nil {
				t.Fatal(err)
			}
			select {
			case msg := <-got:
				if msg != "m" {
					t.Fatalf("OnMessage: %q", msg)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("OnMessage did not get the message")
			}
			err := await(t, readErr, "the Read's result")
			if !errors.Is(err, errServedByPoller) && !(behindPing && errors.Is(err, context.DeadlineExceeded)) {
				t.Errorf("Read: %v, want errServedByPoller (or, behind the Ping, its ctx's end)", err)
			}
		})
	}
}

// gotPoller returns a Poller of one loop, closed with the test, whose
// OnMessage sends each message's text to got.
func gotPoller(t *testing.T) (*Poller, chan string) {
	got := make(chan string, 1)
	p, err := NewPoller(PollerOptions{
		Loops:     1,
		OnMessage: func(_ *Conn, _ MessageType, msg []byte) { got <- string(msg) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, got
}

// gatedCtx holds its first Err call until open is closed: lockRead calls
// it between its look at Conn.ev and its lock.
type gatedCtx struct {
	context.Context
	entered, open chan struct{}
	once          sync.Once
}

func (g *gatedCtx) Err() error {
	g.once.Do(func() {
		close(g.entered)
		<-g.open
	})
	return g.Context.Err()
}

// isPumping reports whether a Ping reads on the application's behalf.
func (c *Conn) isPumping() bool {
	c.pumpMu.Lock()
	defer c.pumpMu.Unlock()
	return c.pumping
}

// TestServeWhileAWriteIsStuck: Serve returns at once while another
// goroutine's Write is stuck on a peer that reads nothing (the frame lock
// held); the connection is then served by a goroutine, and the write
// goes on. Serve waited for the lock for as long as the write took, for
// ever here, and Poller.Close waited for that Serve.
func TestServeWhileAWriteIsStuck(t *testing.T) {
	server, nc, br := acceptRawConn(t, nil)
	p, got := gotPoller(t)
	const size = 32 << 20
	wrote := make(chan error, 1)
	go func() { wrote <- server.Write(context.Background(), MessageBinary, make([]byte, size)) }()
	deadline := time.Now().Add(5 * time.Second)
	for !server.frameMu.Held() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(server) }()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		server.CloseNow() // lets Serve and the cleanup go
		t.Fatal("Serve waited for the stuck write")
	}
	// The peer reads at last: the whole message, and then its own
	// message reaches OnMessage.
	if op, _, n, err := readWire(br); err != nil || op != opBinary || n != size {
		t.Fatalf("the peer read %v %d bytes (%v), want the %d of the write", op, n, err, size)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("the write: %v", err)
	}
	if _, err := nc.Write(frame(true, 0, opText, true, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-got:
		if msg != "after" {
			t.Fatalf("OnMessage: %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnMessage did not get the message sent after Serve")
	}
}

// TestPollerPongsWhileAProducerStreams: a served connection that another
// goroutine streams to, faster than its peer reads, still answers the
// peer's pings: each pong goes into the queue behind the frame being
// written, as it goes out between two frames without a Poller. The
// pongs waited for the queue to drain, which the producer never let
// happen, and the peer's Ping (a heartbeat's) ran out.
func TestPollerPongsWhileAProducerStreams(t *testing.T) {
	skipWithoutLoops(t)
	client, server := pair(t, nil, nil)
	p, err := NewPoller(PollerOptions{Loops: 1, OnMessage: func(*Conn, MessageType, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	server.nc.(*net.TCPConn).SetWriteBuffer(128 << 10)
	if err := p.Serve(server); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	produced := make(chan struct{})
	writeCtx := testCtx(t) // one for all: testCtx adds a cleanup per call
	go func() {
		defer close(produced)
		msg := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if server.Write(writeCtx, MessageBinary, msg) != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		server.CloseNow()
		await(t, produced, "the producer's end")
	}()
	go func() { // a steady reader, slower than the producer
		for {
			if _, _, err := client.Read(context.Background()); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// Until the queue holds what the socket refused (it then stays
	// behind the producer), then a ping.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for q := server.wr.queue.Load(); q == nil || q.queued.Load() == 0; q = server.wr.queue.Load() {
		if ctx.Err() != nil {
			t.Fatal("nothing queued: the socket takes all the producer writes")
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 3 {
		if _, err := client.Ping(ctx); err != nil {
			t.Fatalf("ping %d of a server streaming to us: %v", i, err)
		}
	}
}
