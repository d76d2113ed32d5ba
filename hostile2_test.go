package websocket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile peers, round two: peers of this library that write large
// messages while pinging each other, and Ping called from a Poller's
// callback. The scenarios that need the epoll loops are in
// hostile2_linux_test.go.

// rawWSClient is a hand-driven client connection, past the handshake.
type rawWSClient struct {
	nc net.Conn
	br *bufio.Reader
}

// dialRawWS opens a raw WebSocket connection to addr (host:port of a plain
// HTTP server). A positive rcvbuf shrinks the socket's receive buffer
// first, so that a client that does not read stalls the server's writes
// after a few KiB. The connection is closed at the end of the test, and
// every I/O on it fails after deadline.
func dialRawWS(t *testing.T, addr string, rcvbuf int, deadline time.Time) *rawWSClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if rcvbuf > 0 {
		nc.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	nc.SetDeadline(deadline)
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return &rawWSClient{nc: nc, br: br}
}

// pingBatch is many masked pings of 125 bytes, written with one call.
func pingBatch(n int) []byte {
	one := frame(true, 0, opPing, true, make([]byte, 125))
	return bytes.Repeat(one, n)
}

// TestPollerPingFromCallback: Ping called from OnMessage on the connection
// being served returns ErrPingFromCallback at once, since only the
// goroutine running the callback could read the pong; it used to wait
// forever (with context.Background()). Ping from any other goroutine still
// gets its pong through the poller.
func TestPollerPingFromCallback(t *testing.T) {
	for _, mode := range []string{"tcp", "tls"} {
		t.Run(mode, func(t *testing.T) {
			var served atomic.Pointer[Conn]
			result := make(chan error, 1)
			popts := &PollerOptions{
				Loops: 1,
				OnMessage: func(c *Conn, typ MessageType, msg []byte) {
					served.Store(c)
					if string(msg) == "ping yourself" {
						_, err := c.Ping(context.Background())
						result <- err
						return
					}
					c.Write(context.Background(), typ, msg)
				},
			}
			srv := newPollerServer(t, mode, nil, popts)
			c := srv.dial(t, nil)
			ctx := testCtx(t)
			// The client reads all along, so that it answers pings.
			echoes := make(chan string, 1)
			go func() {
				for {
					_, msg, err := c.Read(ctx)
					if err != nil {
						close(echoes)
						return
					}
					echoes <- string(msg)
				}
			}()
			if err := c.Write(ctx, MessageText, []byte("ping yourself")); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-result:
				if !errors.Is(err, ErrPingFromCallback) {
					t.Fatalf("Ping from OnMessage: %v, want ErrPingFromCallback", err)
				}
			case <-time.After(2 * time.Second):
				if sc := served.Load(); sc != nil {
					sc.CloseNow() // let the callback return
				}
				t.Fatal("Ping from OnMessage did not return")
			}
			// The connection is still served, and Ping from this goroutine
			// works.
			if err := c.Write(ctx, MessageText, []byte("still there?")); err != nil {
				t.Fatal(err)
			}
			if got := <-echoes; got != "still there?" {
				t.Fatalf("echo %q", got)
			}
			rtt, err := served.Load().Ping(ctx)
			if err != nil || rtt <= 0 {
				t.Fatalf("Ping from another goroutine: %v %v", rtt, err)
			}
		})
	}
}

// TestPollerMutualPingFromCallbacks: two OnMessage callbacks that each
// Ping the other's connection both get ErrPingFromCallback at once, in
// every mode. On connections served by a goroutine each (TLS here; every
// connection off Linux), only a connection's own goroutine was known as
// the Poller's, so each Ping waited for a pong that only the other,
// blocked goroutine could read, until its ctx ended.
//
// Both callbacks must be under way at once, so the connections must not
// share a loop: a loop runs one callback at a time, and the first would
// wait for the second, which that loop would never start. Serve places
// connections on a Poller's loops in turn, so two served one after the
// other go to its two loops; the test checks that they did.
func TestPollerMutualPingFromCallbacks(t *testing.T) {
	for _, mode := range pollerModeNames {
		t.Run(mode, func(t *testing.T) {
			var mu sync.Mutex
			named := map[string]*Conn{}
			var entered atomic.Int32
			both := make(chan struct{})    // both callbacks are under way
			abandon := make(chan struct{}) // the test ended first
			results := make(chan error, 2)
			srv := newPollerServer(t, mode, nil, &PollerOptions{
				Loops: 2,
				OnMessage: func(c *Conn, typ MessageType, msg []byte) {
					name, ping := strings.CutPrefix(string(msg), "ping ")
					mu.Lock()
					if !ping {
						named[name] = c
					}
					other := named[name]
					mu.Unlock()
					if !ping {
						c.Write(context.Background(), typ, msg)
						return
					}
					if entered.Add(1) == 2 {
						close(both)
					}
					select {
					case <-both:
					case <-abandon:
						results <- errors.New("the test ended before both callbacks were under way")
						return
					case <-time.After(10 * time.Second):
						results <- errors.New("the other callback did not start within 10s")
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_, err := other.Ping(ctx)
					results <- err
				},
			})
			// Run before the cleanup's Poller.Close: a failed check
			// must not leave a callback, and its loop, waiting.
			defer close(abandon)
			ctx := testCtx(t)
			a, b := srv.dial(t, nil), srv.dial(t, nil)
			for c, name := range map[*Conn]string{a: "a", b: "b"} {
				if err := c.Write(ctx, MessageText, []byte(name)); err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					t.Fatal(err)
				}
				go func() { // answers pings from here on
					for {
						if _, _, err := c.Read(ctx); err != nil {
							return
						}
					}
				}()
			}
			mu.Lock()
			sa, sb := named["a"], named["b"]
			mu.Unlock()
			if la := sa.ev.Load().l.Load(); la != nil && la == sb.ev.Load().l.Load() {
				t.Fatal("both connections are on one loop: the callbacks cannot be under way at once")
			}
			if err := a.Write(ctx, MessageText, []byte("ping b")); err != nil {
				t.Fatal(err)
			}
			if err := b.Write(ctx, MessageText, []byte("ping a")); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := await(t, results, "a callback's Ping"); !errors.Is(err, ErrPingFromCallback) {
					t.Errorf("Ping of another connection from a callback: %v, want ErrPingFromCallback", err)
				}
			}
		})
	}
}

// exchangePing is the payload of the pings sent right before each large
// message.
var exchangePing = []byte("before the message")

// largeExchange has both ends write several 4 MiB messages at once, each
// right after a ping, and fails the test unless every write and read
// completes within a few seconds, and then a Ping from each end gets its
// pong. Each end reads and writes with goroutines of its own, except a
// server that a Poller serves (gotServer not nil): its OnMessage must
// send the ping and echo the message, which makes its writes, and report
// the length of each message on gotServer. Readers go on reading after
// the last message, so that the Pings get their pongs.
//
// The pings go out with writeControl, as Ping sends them, but without
// waiting for the pong: a peer may answer only the latest of the pings it
// read before it could answer (RFC 6455, section 5.5.3), and Ping waits
// for the pong to its own.
func largeExchange(t *testing.T, client, server *Conn, gotServer <-chan int) {
	t.Helper()
	const (
		messages = 3
		size     = 4 << 20
		timeout  = 20 * time.Second // a hang guard: 0.1–1.5 s, loaded, with -race
	)
	// Fixed socket buffers, far smaller than a message: TCP's autotuning
	// would otherwise let a message sit in the buffers, and the writer
	// go on, now and then.
	for _, c := range []*Conn{client, server} {
		if tc, ok := c.nc.(*net.TCPConn); ok {
			tc.SetReadBuffer(256 << 10)
			tc.SetWriteBuffer(256 << 10)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Reading after the last message ends with this ctx.
	drainCtx, stopDrain := context.WithCancel(ctx)
	start := time.Now()
	fail := func(format string, args ...any) {
		t.Errorf("after %v: "+format, append([]any{time.Since(start)}, args...)...)
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	var work, drains sync.WaitGroup
	// readAndWrite runs c's writer and reader; the writer Pings once its
	// messages are out.
	readAndWrite := func(name string, c *Conn) {
		work.Add(2)
		go func() {
			defer work.Done()
			for i := range messages {
				if err := c.writeControl(ctx, opPing, exchangePing); err != nil {
					fail("%s: ping before write %d: %v", name, i, err)
					return
				}
				if err := c.Write(ctx, MessageBinary, msg); err != nil {
					fail("%s: write %d: %v", name, i, err)
					return
				}
			}
			if _, err := c.Ping(ctx); err != nil {
				fail("%s: Ping after the writes: %v", name, err)
			}
		}()
		drains.Add(1)
		go func() {
			defer drains.Done()
			buf := make([]byte, 64<<10)
			for i := range messages {
				if n, err := readCompare(ctx, c, buf, msg); err != nil {
					fail("%s: read %d: %d bytes, %v", name, i, n, err)
					work.Done()
					return
				}
			}
			work.Done()
			for {
				if _, _, err := c.Read(drainCtx); err != nil {
					return
				}
			}
		}()
	}
	readAndWrite("client", client)
	if gotServer == nil {
		readAndWrite("server", server)
	} else {
		// The Poller reads, and echoes: those are the server's writes.
		work.Add(1)
		go func() {
			defer work.Done()
			for i := range messages {
				select {
				case n := <-gotServer:
					if n != size {
						fail("server: message %d of %d bytes", i, n)
						return
					}
				case <-ctx.Done():
					fail("server: %d messages", i)
					return
				}
			}
			if _, err := server.Ping(ctx); err != nil {
				fail("server: Ping after the echoes: %v", err)
			}
		}()
	}
	work.Wait()
	elapsed := time.Since(start)
	stopDrain()
	drains.Wait()
	t.Logf("%d messages of %d bytes each way, each after a ping, then a Ping each way, in %v", messages, size, elapsed)
}

// readCompare reads a message with Reader, through buf, and checks that
// it is want. It returns the bytes read.
func readCompare(ctx context.Context, c *Conn, buf, want []byte) (int, error) {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		k, err := r.Read(buf)
		if k > 0 && (n+k > len(want) || !bytes.Equal(buf[:k], want[n:n+k])) {
			return n, errors.New("the message differs from what was sent")
		}
		n += k
		if err == io.EOF {
			if n != len(want) {
				return n, io.ErrUnexpectedEOF
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// TestLargeWritesWhilePinging: two peers of this library that both write
// large messages while both ping do not deadlock. A reader used to write
// the pong itself, waiting for its own write side, busy with a message the
// other peer was not reading, for the same reason: both stopped until a
// write's ctx ended (6s here).
func TestLargeWritesWhilePinging(t *testing.T) {
	client, server := pair(t, nil, nil)
	largeExchange(t, client, server, nil)
}
