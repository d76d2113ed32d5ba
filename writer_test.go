package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// TestStaleWriterWrite: a Writer kept past its Close must not write into
// the next Writer's message. The peer used to receive "second STALE" and
// the stale Write returned nil.
func TestStaleWriterWrite(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			w1, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w1, "first"); err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			w2, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w2, "second"); err != nil {
				t.Fatal(err)
			}
			if n, err := io.WriteString(w1, " STALE"); err == nil || n != 0 {
				t.Fatalf("stale Write: n=%d err=%v, want 0 and an error", n, err)
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
			if n, err := io.WriteString(w1, " STALE"); err == nil || n != 0 {
				t.Fatalf("stale Write after both closed: n=%d err=%v", n, err)
			}
			for _, want := range []string{"first", "second"} {
				if _, got, err := to.Read(ctx); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
		})
	})
}

// TestStaleWriterClose: a second Close of a Writer must neither finish nor
// unlock the message another goroutine is writing with a newer Writer.
func TestStaleWriterClose(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			w1, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			opened := make(chan error, 1)
			proceed := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				w2, err := from.Writer(ctx, MessageText)
				opened <- err
				if err != nil {
					return
				}
				<-proceed
				_, err = io.WriteString(w2, "second")
				if cerr := w2.Close(); err == nil {
					err = cerr
				}
				done <- err
			}()
			if err := <-opened; err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err == nil {
				t.Error("second Close of a Writer succeeded")
			}
			if !from.msgMu.Held() || !from.flags.has(flagStreaming) {
				t.Error("a stale Close released the message lock the new Writer holds")
			}
			close(proceed)
			if err := <-done; err != nil {
				t.Fatalf("new Writer: %v", err)
			}
			for _, want := range []string{"", "second"} {
				if _, got, err := to.Read(ctx); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
		})
	})
}

// tlsPair returns the two ends of a wss connection, the client's with
// copts; both are closed when the test ends.
func tlsPair(t *testing.T, copts ConnOptions) (client, server *Conn) {
	t.Helper()
	srv := make(chan *Conn, 1)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		srv <- c
	}))
	t.Cleanup(ts.Close)
	client, _, err := Dial(testCtx(t), "wss"+strings.TrimPrefix(ts.URL, "https"), &DialOptions{
		TLSConfig:   &tls.Config{InsecureSkipVerify: true},
		ConnOptions: copts,
	})
	if err != nil {
		t.Fatal(err)
	}
	server = await(t, srv, "the handler's Conn")
	t.Cleanup(func() {
		client.CloseNow()
		server.CloseNow()
	})
	return client, server
}

// TestWriteCtxOverTLSCloses: over TLS, a write that its ctx cuts off
// closes the connection, even when nothing was reported written:
// crypto/tls may have put part of a record on the wire, and it fails every
// write after a deadline. Reporting the connection usable, as over plain
// TCP, left a torn record for the peer and a connection whose next write
// failed.
func TestWriteCtxOverTLSCloses(t *testing.T) {
	client, _ := tlsPair(t, ConnOptions{}) // the server reads nothing
	msg := make([]byte, 64<<10)
	var werr error
	for i := 0; werr == nil && i < 10000; i++ { // the server does not read: the socket fills
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		werr = client.Write(ctx, MessageBinary, msg)
		cancel()
	}
	if !errors.Is(werr, context.DeadlineExceeded) {
		t.Fatalf("Write into a full socket: %v, want the ctx's deadline", werr)
	}
	select {
	case <-client.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection stayed open after a TLS write its ctx cut off")
	}
}

// TestWriteTimeoutOverTLSReturnsInTime: over TLS, a write that
// WriteTimeout cuts off returns within about WriteTimeout, not 5 s later:
// closing the connection used to send TLS's close_notify alert first,
// which crypto/tls bounds by 5 s of its own, into the socket the peer had
// stopped reading. Found by the client-role differential.
func TestWriteTimeoutOverTLSReturnsInTime(t *testing.T) {
	const timeout = 100 * time.Millisecond
	client, server := tlsPair(t, ConnOptions{WriteTimeout: timeout})
	// The server reads for a while, then stops: the socket fills.
	rctx, rcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer rcancel()
	go func() {
		for rctx.Err() == nil {
			server.Read(rctx)
		}
	}()
	msg := make([]byte, 64<<10)
	for i := 0; i < 10000; i++ {
		start := time.Now()
		err := client.Write(context.Background(), MessageBinary, msg)
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write into a full socket: %v, want os.ErrDeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("the write WriteTimeout (%v) cut off returned after %v", timeout, d)
		}
		return
	}
	t.Fatal("10,000 writes of 64 KiB to a peer that reads nothing, and none timed out")
}

// TestWriterFirstFragmentCutOff: a Writer whose ctx ends before any byte
// of its first fragment went out leaves the connection usable, as Write
// does; its Close reports the ctx. Close used to treat the message as
// begun on the wire and close the connection.
func TestWriterFirstFragmentCutOff(t *testing.T) {
	cnc, snc := net.Pipe() // nothing goes out while the server does not read
	defer snc.Close()
	go func() { // answers the handshake, then never reads
		req, err := http.ReadRequest(bufio.NewReader(snc))
		if err != nil {
			return
		}
		io.WriteString(snc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			acceptKey(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
	}()
	client, _, err := Client(testCtx(t), cnc, "ws://x/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	w, err := client.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 100)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ { // enough to flush a first fragment
		_, werr = w.Write(chunk)
	}
	if !errors.Is(werr, context.DeadlineExceeded) {
		t.Fatalf("Writer.Write: %v, want its ctx's deadline", werr)
	}
	if err := w.Close(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Writer.Close: %v, want its ctx's deadline", err)
	}
	if client.isClosed() {
		t.Fatal("nothing of the message went out, yet its Writer closed the connection")
	}
}

// TestWriteCutEndsWithErrClosed: a write whose ctx ends after part of its
// frame, or of its message, went out closes the connection and reports
// its ctx and ErrClosed; what the other calls then report matches ErrClosed and not the
// ctx, which a read loop retrying on context errors would spin on. A
// Writer cut between two fragments ends the connection in Writer.Close.
func TestWriteCutEndsWithErrClosed(t *testing.T) {
	cases := []struct {
		name string
		peer func(b net.Conn)                         // reads part of what is sent, then stops
		cut  func(c *Conn, ctx context.Context) error // returns once ctx cut it
	}{
		{
			name: "Write mid-frame",
			peer: func(b net.Conn) { io.CopyN(io.Discard, b, 1000) },
			cut: func(c *Conn, ctx context.Context) error {
				return c.Write(ctx, MessageBinary, make([]byte, 1<<16))
			},
		},
		{
			name: "Writer between fragments",
			peer: func(b net.Conn) { readWire(bufio.NewReader(b)) }, // the first fragment, whole
			cut: func(c *Conn, ctx context.Context) error {
				w, err := c.Writer(ctx, MessageBinary)
				if err != nil {
					return err
				}
				fragment := make([]byte, 2*DefaultWriteBufferSize)
				for err == nil {
					_, err = w.Write(fragment)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("Writer.Write: %v, want its ctx's deadline", err)
				}
				return w.Close() // ends the connection, the message unfinished
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := net.Pipe()
				defer b.Close()
				c := newConn(a, false, nil, "", nil, nil)
				defer c.CloseNow()
				go tc.peer(b)
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				if err := tc.cut(c, ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrClosed) {
					t.Fatalf("the cut write: %v, want its ctx's deadline and ErrClosed", err)
				}
				if !c.isClosed() {
					t.Fatal("a frame or message left half written, and the connection still open")
				}
				_, _, rerr := c.Read(context.Background())
				werr := c.Write(context.Background(), MessageText, []byte("x"))
				for _, err := range []error{rerr, werr} {
					if !errors.Is(err, ErrClosed) || isCtxErr(err) {
						t.Errorf("after the cut write: %v, want ErrClosed and no ctx error", err)
					}
				}
			})
		})
	}
}

// TestWriteToResetPeerIsAbnormalClosure: a write that finds the peer gone
// (its connection reset) reports an abnormal closure (1006), and so do
// the calls after it, the Read included, as when the read side meets the
// end of the stream first.
func TestWriteToResetPeerIsAbnormalClosure(t *testing.T) {
	client, server := pair(t, nil, nil)
	tcp, ok := client.netConn().(*net.TCPConn)
	if !ok {
		t.Fatalf("client transport is %T, want *net.TCPConn", client.netConn())
	}
	tcp.SetLinger(0) // close sends a reset
	client.CloseNow()
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		werr = server.Write(testCtx(t), MessageBinary, make([]byte, 1000))
	}
	if CloseStatus(werr) != StatusAbnormalClosure {
		t.Fatalf("Write to a reset peer: %v, want close status 1006", werr)
	}
	if _, _, err := server.Read(testCtx(t)); CloseStatus(err) != StatusAbnormalClosure {
		t.Errorf("Read after the failed write: %v, want close status 1006", err)
	}
}

// TestWriteWaitingForLockReportsTheEnd: a Write that waits for the frame
// lock while the holder's write ends the connection reports how it ended,
// and so does a write after it, as WriteTimeout's godoc says of the calls
// after a timeout; both said only ErrClosed (the wait for the lock gives
// up on the connection's end). Here the holder's WriteTimeout ends it,
// and a Writer's first write waits alongside.
func TestWriteWaitingForLockReportsTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := newConn(a, false, &ConnOptions{WriteTimeout: time.Second}, "", nil, nil)
		defer c.CloseNow()
		ctx := context.Background()
		holder := make(chan error, 1)
		go func() { holder <- c.Write(ctx, MessageBinary, make([]byte, 1<<20)) }() // the peer reads nothing
		synctest.Wait()
		waiters := make(chan error, 2)
		go func() { waiters <- c.Write(ctx, MessageText, []byte("waits")) }()
		go func() {
			w, err := c.Writer(ctx, MessageText)
			if err == nil {
				_, err = w.Write(make([]byte, 64<<10)) // past the buffer: a frame goes out
			}
			waiters <- err
		}()
		if err := <-holder; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the holder's Write: %v, want its WriteTimeout", err)
		}
		for range 2 {
			if err := <-waiters; !errors.Is(err, errWriteTimedOut) {
				t.Errorf("a write that waited: %v, want the WriteTimeout that ended the connection", err)
			}
		}
		if err := c.Write(ctx, MessageText, []byte("later")); !errors.Is(err, errWriteTimedOut) {
			t.Errorf("a write after: %v, want the WriteTimeout that ended the connection", err)
		}
	})
}

// TestWriterCutByOwnClose: Close called while a Writer streams a message
// sends its close frame between two fragments. The Writer then fails, and
// its Close reports the message unfinished, but must leave the closing
// handshake to finish: the peer drops the message when it reads our close
// frame. Writer.Close used to close the connection, so Close reported
// the end of the stream instead of the peer's answer.
func TestWriterCutByOwnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := newConn(a, true, &ConnOptions{CloseTimeout: 3 * time.Second}, "", nil, nil)
		defer c.CloseNow()
		ops := make(chan opcode, 16) // what the peer reads
		go func() {
			defer close(ops)
			br := bufio.NewReader(b)
			for {
				op, _, _, err := readWire(br)
				if err != nil {
					return
				}
				ops <- op
			}
		}()
		w, err := c.Writer(context.Background(), MessageBinary)
		if err != nil {
			t.Fatal(err)
		}
		fragment := make([]byte, 2*DefaultWriteBufferSize)
		if _, err := w.Write(fragment); err != nil {
			t.Fatalf("first fragment: %v", err)
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close(StatusNormalClosure, "") }()
		for op := range ops {
			if op == opClose {
				break
			}
		}
		synctest.Wait() // Close waits for the peer's answer
		if _, err := w.Write(fragment); err == nil {
			t.Fatal("Writer.Write after the close frame went out succeeded")
		}
		if err := w.Close(); err == nil {
			t.Error("Writer.Close of a message cut by Close reported nothing")
		}
		b.Write(frame(true, 0, opClose, false, closePayload(StatusNormalClosure, "")))
		b.Close() // the server closes first
		if err := <-closed; err != nil {
			t.Errorf("Close: %v, want the handshake completed", err)
		}
	})
}

// TestWriterFragmentSize: a Writer's buffered fragments carry
// WriteBufferSize less the 14 bytes kept for the header, as its godoc says,
// and a server's Write of WriteBufferSize bytes or more into an empty
// buffer goes out as one fragment of its own.
func TestWriterFragmentSize(t *testing.T) {
	for _, size := range []int{0, 256, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c, br := acceptRaw(t, &AcceptOptions{ConnOptions: ConnOptions{WriteBufferSize: size}})
			bufSize := size
			if bufSize == 0 {
				bufSize = DefaultWriteBufferSize
			}
			room := bufSize - 14
			ctx := testCtx(t)
			w, err := c.Writer(ctx, MessageBinary)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				w.Write(make([]byte, bufSize)) // into an empty buffer: whole
				for range 2*room + 1 {
					w.Write([]byte{1}) // small writes: buffered
				}
				w.Close() // the final fragment, with the last byte
			}()
			var got []int64
			for {
				op, _, n, err := readWire(br)
				if err != nil {
					t.Fatalf("after frames %v: %v", got, err)
				}
				got = append(got, n)
				if op != opContinuation && op != opBinary {
					t.Fatalf("frames %v, then opcode %d", got, op)
				}
				if n == 1 || len(got) == 10 {
					break
				}
			}
			want := []int64{int64(bufSize), int64(room), int64(room), 1}
			if !slices.Equal(got, want) {
				t.Fatalf("fragment sizes %v, want %v", got, want)
			}
		})
	}
}

// acceptRaw accepts a connection from a hand-driven client and returns the
// server's Conn and a reader of what it sends.
func acceptRaw(t *testing.T, opts *AcceptOptions) (*Conn, *bufio.Reader) {
	t.Helper()
	c, _, br := acceptRawConn(t, opts)
	return c, br
}

// acceptRawConn is acceptRaw that also returns the client's socket, for a
// client that writes, reads or shuts down as it likes.
func acceptRawConn(t *testing.T, opts *AcceptOptions) (*Conn, net.Conn, *bufio.Reader) {
	t.Helper()
	wstest.CheckLeaks(t)
	accepted := make(chan *Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}))
	t.Cleanup(ts.Close)
	nc, br := rawHandshake(t, ts.URL, "")
	c := await(t, accepted, "the accepted Conn")
	if c == nil {
		t.Fatal("Accept failed")
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, nc, br
}

// TestBusyWritersDoNotStarveOthers: beside goroutines writing back to
// back, a Write and a Ping get their turn: the lock that a writer looping
// on Write let go of used to go back to it every time, before a waiter
// woke, and the waiter gave up at its ctx (an outside probe: 5 to 10 of
// 10). The peer reads slowly enough for time to pass in the bubble.
func TestBusyWritersDoNotStarveOthers(t *testing.T) {
	for _, call := range []string{"Write", "Ping"} {
		t.Run(call, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := net.Pipe()
				c := newConn(a, false, nil, "", nil, nil)
				peer := newConn(b, true, nil, "", nil, nil)
				stop := make(chan struct{})
				var busy sync.WaitGroup
				for range 3 {
					busy.Go(func() {
						msg := make([]byte, 32<<10)
						for {
							select {
							case <-stop:
								return
							default:
							}
							if c.Write(context.Background(), MessageBinary, msg) != nil {
								return
							}
						}
					})
				}
				busy.Go(func() { // the peer: reads (so answers pings), slowly
					for {
						if _, _, err := peer.Read(context.Background()); err != nil {
							return
						}
						time.Sleep(100 * time.Microsecond)
					}
				})
				time.Sleep(time.Millisecond) // the writers are at it
				// Five tries each: a waiter used to win now and then.
				for try := range 5 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					start := time.Now()
					var err error
					if call == "Write" {
						err = c.Write(ctx, MessageText, []byte("me too"))
					} else {
						_, err = c.Ping(ctx)
					}
					cancel()
					if err != nil {
						t.Fatalf("%s %d beside busy writers: %v after %v", call, try, err, time.Since(start))
					}
				}
				close(stop)
				c.CloseNow()
				peer.CloseNow()
				busy.Wait()
			})
		})
	}
}

// TestWriterOneGoroutineAtATime: a second goroutine's Write or Close on a
// Writer whose Write is still running is refused with ErrConcurrentWrite
// and sends nothing. Both used to touch the message's buffer and frame
// state at once: the peer got bytes where a header belongs (1002) or a
// short message, and every call returned nil (an outside probe, 10 of 10).
func TestWriterOneGoroutineAtATime(t *testing.T) {
	c, br := acceptRaw(t, nil)
	ctx := testCtx(t)
	w, err := c.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	// More than the loopback socket holds: the Write blocks until the
	// peer reads.
	const big = 32 << 20
	wrote := make(chan error, 1)
	go func() {
		_, err := w.Write(make([]byte, big))
		wrote <- err
	}()
	for !w.(*messageHandle).busy.Load() {
		runtime.Gosched()
	}
	if n, err := w.Write([]byte("x")); n != 0 || !errors.Is(err, ErrConcurrentWrite) {
		t.Errorf("second Write: n=%d err=%v, want 0 and ErrConcurrentWrite", n, err)
	}
	if err := w.Close(); !errors.Is(err, ErrConcurrentWrite) {
		t.Errorf("concurrent Close: %v, want ErrConcurrentWrite", err)
	}
	op, _, n, err := readWire(br)
	if err != nil || op != opBinary || n != big {
		t.Fatalf("first fragment: opcode %d, %d bytes, %v; want binary, %d bytes", op, n, err, big)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("first Write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after the Write: %v", err)
	}
	op, _, n, err = readWire(br)
	if err != nil || op != opContinuation || n != 0 {
		t.Fatalf("final fragment: opcode %d, %d bytes, %v; want an empty continuation", op, n, err)
	}
}

// TestWriteTimeout: with ConnOptions.WriteTimeout, a write the peer does
// not take in time fails with os.ErrDeadlineExceeded and closes the
// connection, though its ctx never ends; writes that are taken are not
// cut by the deadline of an earlier one, however long the connection
// idles between them; and a ctx that ends first still cuts a write off.
func TestWriteTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	t.Run("peer reads nothing", func(t *testing.T) {
		c, _, _ := acceptRawConn(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: timeout}})
		err := c.Write(context.Background(), MessageBinary, make([]byte, 32<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write to a peer that reads nothing: %v, want os.ErrDeadlineExceeded", err)
		}
		if err := c.Write(context.Background(), MessageText, []byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after the timeout: %v, want ErrClosed", err)
		}
	})
	t.Run("idle between writes", func(t *testing.T) {
		c, nc, _ := acceptRawConn(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: timeout}})
		go io.Copy(io.Discard, nc)
		// Each way a frame reaches the socket: one Write of a frame
		// assembled whole (a short message, one that fits the write
		// buffer), a vectored write (past the write buffer; 64 KiB,
		// which the socket's buffers take without waiting for the
		// reader's goroutine, as 1 MiB did not), a streamed message and
		// a ping. Each must set its own deadline, not meet the one an
		// earlier write left behind.
		writes := []struct {
			name  string
			write func() error
		}{
			{"64 KiB", func() error { return c.Write(context.Background(), MessageBinary, make([]byte, 64<<10)) }},
			{"16 B", func() error { return c.Write(context.Background(), MessageText, []byte("sixteen bytes...")) }},
			{"1 KiB", func() error { return c.Write(context.Background(), MessageBinary, make([]byte, 1<<10)) }},
			{"Writer", func() error {
				w, err := c.Writer(context.Background(), MessageBinary)
				if err != nil {
					return err
				}
				if _, err := w.Write(make([]byte, 100)); err != nil {
					return err
				}
				return w.Close()
			}},
			{"SendPing", func() error { return c.SendPing(context.Background(), []byte("p")) }},
		}
		for _, w := range append(writes, writes...) {
			time.Sleep(2 * timeout) // the last write's deadline passes
			if err := w.write(); err != nil {
				t.Fatalf("%s to a peer that reads, the connection idle past WriteTimeout: %v", w.name, err)
			}
		}
	})
	t.Run("pong after idle", func(t *testing.T) {
		// The reader answers a ping with a write that never waits, which
		// the socket refused once the deadline an earlier write left had
		// passed.
		client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: timeout}}, nil)
		go func() {
			for {
				if _, _, err := server.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		w, err := server.Writer(context.Background(), MessageBinary)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(make([]byte, 100))
		if err := w.Close(); err != nil {
			t.Fatalf("streamed message: %v", err)
		}
		ctx := testCtx(t)
		if _, _, err := client.Read(ctx); err != nil {
			t.Fatalf("client Read: %v", err)
		}
		time.Sleep(2 * timeout) // the streamed message's deadline passes
		if _, err := client.Ping(ctx); err != nil {
			t.Fatalf("Ping of a server idle past WriteTimeout: %v", err)
		}
		if err := server.Write(ctx, MessageText, []byte("still here")); err != nil {
			t.Fatalf("server Write after the pong: %v", err)
		}
	})
	t.Run("ctx first", func(t *testing.T) {
		c, _, _ := acceptRawConn(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: time.Hour}})
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := c.Write(ctx, MessageBinary, make([]byte, 32<<20)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write cut by its ctx: %v, want context.DeadlineExceeded", err)
		}
	})
}

// TestServerFrameOneWrite: a server's frame up to the write buffer goes to
// a connection without writev (a pipe, TLS, a wrapping net.Conn) in one
// Write, whatever sends it, so that no deadline or failure falls between
// its header and its payload. Only Write did; WriteUncompressed and a
// Writer's fragments took two (a review).
func TestServerFrameOneWrite(t *testing.T) {
	wstest.CheckLeaks(t)
	a, b := net.Pipe()
	defer a.Close()
	cc := &countingConn{Conn: b}
	server := newConn(cc, false, nil, "", nil, nil)
	defer server.CloseNow()
	go io.Copy(io.Discard, a)
	ctx := testCtx(t)
	msg := make([]byte, 1000) // more than smallFrame, less than copyMax
	tests := []struct {
		name  string
		write func() error
	}{
		{
			name:  "Write",
			write: func() error { return server.Write(ctx, MessageBinary, msg) },
		},
		{
			name:  "WriteUncompressed",
			write: func() error { return server.WriteUncompressed(ctx, MessageBinary, msg) },
		},
		{
			name:  "Writer",
			write: func() error { return writeThroughWriter(ctx, server, MessageBinary, msg) },
		},
	}
	for _, tt := range tests {
		before := cc.writes.Load()
		if err := tt.write(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if n := cc.writes.Load() - before; n != 1 {
			t.Errorf("%s of %d bytes: %d Writes, want 1", tt.name, len(msg), n)
		}
	}
}

// countingConn counts the Writes made on it.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestWriterAfterClose: Writer on a connection already closed (CloseNow)
// or closing (our close frame sent) fails at once with ErrClosed, as Write
// does, instead of handing out a writer whose bytes could never go out.
// WriterUncompressed goes the same way.
func TestWriterAfterClose(t *testing.T) {
	for _, how := range []string{"CloseNow", "close sent"} {
		t.Run(how, func(t *testing.T) {
			client, server := pair(t, nil, nil)
			ctx := testCtx(t)
			if how == "CloseNow" {
				client.CloseNow()
			} else {
				// The server never answers, so our close frame is sent
				// and the connection stays open until CloseTimeout.
				go client.CloseContext(ctx, StatusNormalClosure, "")
				if _, _, err := server.Reader(ctx); CloseStatus(err) != StatusNormalClosure {
					t.Fatalf("server: %v; want our close frame", err)
				}
			}
			for name, open := range map[string]func(context.Context, MessageType) (io.WriteCloser, error){
				"Writer":             client.Writer,
				"WriterUncompressed": client.WriterUncompressed,
			} {
				if w, err := open(ctx, MessageText); w != nil || !errors.Is(err, ErrClosed) {
					t.Errorf("%s: %v, %v; want no writer and ErrClosed", name, w, err)
				}
			}
			if err := client.Write(ctx, MessageText, []byte("x")); !errors.Is(err, ErrClosed) {
				t.Errorf("Write: %v; want ErrClosed", err)
			}
		})
	}
}
