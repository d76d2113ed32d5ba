package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

// TestSendPing: SendPing returns once the ping is written; the pong
// reaches OnPong through the reader, and a Ping running alongside is not
// confused by it.
func TestSendPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pongs := make(chan []byte, 4)
		client, server := pipePair(&ConnOptions{OnPong: func(p []byte) { pongs <- bytes.Clone(p) }}, nil)
		defer client.CloseNow()
		defer server.CloseNow()
		ctx := context.Background()
		go server.Read(ctx) // answers pings
		go client.Read(ctx) // sees pongs

		if err := client.SendPing(ctx, []byte("probe")); err != nil {
			t.Fatalf("SendPing: %v", err)
		}
		if got := <-pongs; string(got) != "probe" {
			t.Fatalf("pong %q", got)
		}
		// An empty ping, and the longest.
		if err := client.SendPing(ctx, nil); err != nil {
			t.Fatalf("SendPing(nil): %v", err)
		}
		if got := <-pongs; len(got) != 0 {
			t.Fatalf("pong %q", got)
		}
		long := bytes.Repeat([]byte("p"), maxControlPayload)
		if err := client.SendPing(ctx, long); err != nil {
			t.Fatalf("SendPing of %d bytes: %v", len(long), err)
		}
		if got := <-pongs; !bytes.Equal(got, long) {
			t.Fatalf("pong of %d bytes", len(got))
		}
		// Ping still measures its own round trip.
		if _, err := client.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		await(t, pongs, "the pongs")
	})
}

func TestSendPingErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pipePair(nil, nil)
		defer server.CloseNow()
		ctx := context.Background()
		err := client.SendPing(ctx, make([]byte, maxControlPayload+1))
		if err == nil || err.Error() != "websocket: ping payload is 126 bytes, the limit is 125" {
			t.Errorf("oversized payload: %v", err)
		}
		client.CloseNow()
		err = client.SendPing(ctx, []byte("x"))
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after CloseNow: %v, want ErrClosed", err)
		}
		if err != nil && err.Error() != "websocket: failed to send ping: use of closed connection" {
			t.Errorf("error %q", err)
		}
	})
}

// TestSendPingFromPollerCallback: SendPing never waits for a pong, so a
// Poller's callback may call it, unlike Ping.
func TestSendPingFromPollerCallback(t *testing.T) {
	errc := make(chan error, 1)
	p, err := NewPoller(PollerOptions{
		OnMessage: func(c *Conn, typ MessageType, msg []byte) {
			errc <- c.SendPing(context.Background(), msg)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pings := make(chan string, 1)
	client, server := pair(t, nil, &DialOptions{ConnOptions: ConnOptions{
		OnPing: func(p []byte) { pings <- string(p) },
	}})
	if err := p.Serve(server); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	go client.Read(ctx) // sees the ping; returns when the test's cleanup closes
	if err := client.Write(ctx, MessageText, []byte("ping me")); err != nil {
		t.Fatal(err)
	}
	if err := await(t, errc, "OnMessage's SendPing"); err != nil {
		t.Fatalf("SendPing from OnMessage: %v", err)
	}
	if got := await(t, pings, "the client's OnPing"); got != "ping me" {
		t.Fatalf("client got ping %q", got)
	}
}

// TestConcurrentPingsLastPongAnswersAll: many Pings at once to a peer
// that answers only the last ping it read, as RFC 6455 (section 5.5.3)
// lets it. That pong answers every Ping, which takes ping ids that grow
// in the order the pings go on the wire, not in the order the Pings
// began.
func TestConcurrentPingsLastPongAnswersAll(t *testing.T) {
	const pings = 50
	addr := rawServer(t, func(nc net.Conn, req *http.Request) {
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptKey(req.Header.Get("Sec-WebSocket-Key")))
		br := bufio.NewReader(nc)
		var last []byte
		for range pings {
			var hb [maxHeaderSize]byte
			if _, err := io.ReadFull(br, hb[:2]); err != nil {
				return
			}
			n := headerLen(hb[1])
			if _, err := io.ReadFull(br, hb[2:n]); err != nil {
				return
			}
			h, _, err := parseHeader(hb[:n])
			if err != nil || h.Op != opPing {
				t.Errorf("frame %+v, %v; want a ping", h, err)
				return
			}
			last = make([]byte, h.Length)
			if _, err := io.ReadFull(br, last); err != nil {
				return
			}
			maskBytes(last, h.Key)
		}
		nc.Write(frame(true, 0, opPong, false, last))
		waitForClose(nc)
	})
	ctx := testCtx(t)
	c, _, err := Dial(ctx, "ws://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	results := make(chan error, pings)
	for range pings {
		go func() {
			_, err := c.Ping(ctx)
			results <- err
		}()
	}
	for range pings {
		if err := <-results; err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}
}

// A Ping that starts while a Read holds the read lock, and whose pong
// comes only after the application stopped reading, still gets it: the
// Read's letting go of the lock wakes the Ping to read for itself. It
// waited for good before (the soak test's writers pinging while their
// side's reader finished), with its pong unread in the socket.
func TestPingReadsOnceTheReaderStops(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	read := make(chan error, 1)
	go func() {
		_, _, err := client.Read(ctx) // holds the read lock until a message comes
		read <- err
	}()
	pinged := make(chan error, 1)
	go func() {
		_, err := client.Ping(ctx)
		pinged <- err
	}()
	// Wait until the Ping has sent its ping and asked to be woken, which
	// it does right before it tries the read lock the Read holds.
	for {
		if ps := client.pings.Load(); ps != nil && ps.wantRead.Load() {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("Ping never waited")
		case <-time.After(time.Millisecond):
		}
	}
	if err := server.Write(ctx, MessageText, []byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("Read: %v", err)
	}
	// Only now does the server read the ping and answer it; the client
	// application reads no more.
	go server.Read(ctx)
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	select {
	case err := <-pinged:
		if err != nil {
			t.Fatalf("Ping: %v", err)
		}
	case <-short.Done():
		t.Fatal("Ping got no pong once the application stopped reading")
	}
}

// Pings that read for their pong between the Reads of a message streamed
// with Reader change nothing the Reads see, compressed or not:
//   - a pump ending let go of the read lock after it cleared its flag, and
//     a Read that came in between found the lock held by nobody it could
//     wait for (ErrConcurrentRead mid-message, seen in an interop run);
//   - a compressed message's last bytes come with its end, so a pump that
//     ran before the Reader's next Read started the next message, and the
//     Reader went on into it (a 64 KiB message read as 64 KiB plus the
//     next one; the interop suite's Node server rows).
func TestPingsBetweenStreamedReads(t *testing.T) {
	for _, mode := range []CompressionMode{CompressionDisabled, CompressionContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			copts := CompressionOptions{Mode: mode}
			client, server := pair(t,
				&AcceptOptions{ConnOptions: ConnOptions{Compression: copts}},
				&DialOptions{ConnOptions: ConnOptions{Compression: copts}})
			ctx := testCtx(t)
			go server.Read(ctx) // answers the client's pings
			const messages, size = 100, 64 << 10
			go func() {
				for i := range messages {
					if err := server.Write(ctx, MessageText, []byte("next")); err != nil {
						t.Error(err)
						return
					}
					w, err := server.Writer(ctx, MessageBinary)
					if err != nil {
						t.Error(err)
						return
					}
					msg := bytes.Repeat([]byte{byte(i)}, size)
					for len(msg) > 0 {
						n := min(len(msg), 1000)
						w.Write(msg[:n])
						msg = msg[n:]
					}
					if err := w.Close(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			pingCtx, stopPings := context.WithCancel(ctx)
			pings := make(chan error, 1)
			go func() {
				for pingCtx.Err() == nil {
					if _, err := client.Ping(pingCtx); err != nil && pingCtx.Err() == nil {
						pings <- err
						return
					}
				}
				pings <- nil
			}()
			buf := make([]byte, 32<<10) // a compressed message's end comes with its last bytes
			for i := range messages {
				if _, msg, err := client.Read(ctx); err != nil || string(msg) != "next" {
					t.Fatalf("message before %d: %q, %v", i, msg, err)
				}
				_, r, err := client.Reader(ctx)
				if err != nil {
					t.Fatalf("Reader %d: %v", i, err)
				}
				got := 0
				for {
					n, err := r.Read(buf)
					if !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte(i)}, n)) {
						t.Fatalf("message %d: bytes from another message after %d", i, got)
					}
					got += n
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("message %d, after %d bytes: %v", i, got, err)
					}
				}
				if got != size {
					t.Fatalf("message %d: %d bytes, want %d", i, got, size)
				}
			}
			stopPings()
			if err := <-pings; err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}

// TestPingReturnsAfterOnPong: when Ping returns, OnPong has seen the pong
// that answered it, so what the hook recorded (a plain variable here,
// which the race detector checks) is there to read.
func TestPingReturnsAfterOnPong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var last []byte
		client, server := pipePair(&ConnOptions{OnPong: func(p []byte) { last = bytes.Clone(p) }}, nil)
		defer client.CloseNow()
		defer server.CloseNow()
		ctx := context.Background()
		go server.Read(ctx) // answers pings
		go client.Read(ctx) // sees the pongs, and wakes the Pings
		for i := range 3 {
			if _, err := client.Ping(ctx); err != nil {
				t.Fatalf("Ping %d: %v", i, err)
			}
			if len(last) == 0 {
				t.Fatalf("Ping %d returned before OnPong saw its pong", i)
			}
			last = nil
		}
	})
}

// TestPeerThatReadsNothingIsDropped: a peer that pings and never reads
// gets its pong written in the background for CloseTimeout, then is
// dropped, and the connection's calls say so, not that a write of the
// application's was cut off (an outside probe's reading of the old error).
func TestPeerThatReadsNothingIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := newConn(a, false, &ConnOptions{CloseTimeout: time.Second}, "", nil, nil)
		defer c.CloseNow()
		go b.Write(frame(true, 0, opPing, true, []byte("are you there"))) // and never reads
		start := time.Now()
		_, _, err := c.Read(context.Background())
		if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "did not read a pong or close frame") {
			t.Fatalf("Read: %v, want ErrClosed saying the peer did not read", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("dropped after %v, want CloseTimeout (1s)", d)
		}
	})
}

// TestOwedPongBehindDataWrite: a peer that pings and then ends its side
// of the stream while a message is being written to it, and reads it
// all, gets the whole message and then the pong before the connection
// ends. The reader that met the end used to close the connection at once:
// the message was cut off mid-frame and the pong lost (RFC 6455 5.5.2: a
// ping gets its pong unless a close frame came). Found by the client-role
// differential, with one goroutine reading and another writing.
func TestOwedPongBehindDataWrite(t *testing.T) {
	const size = 8 << 20
	c, nc, _ := acceptRawConn(t, nil)
	wrote, read := pingThenEndBehindWrite(c, nc, size)
	select {
	case err := <-read:
		t.Fatalf("Read returned (%v) while the message was still being written: the connection ended under the writer", err)
	case <-time.After(200 * time.Millisecond): // well short of the wait's bound (maxLinger)
	}
	br := bufio.NewReader(nc)
	var got []string
	for {
		h, payload, err := readWireFrame(br)
		if err != nil {
			if err != io.EOF {
				t.Fatalf("after %q: %v, want the end of the stream", got, err)
			}
			break
		}
		got = append(got, fmt.Sprintf("%d:%d", h.Op, len(payload)))
	}
	want := []string{fmt.Sprintf("%d:%d", opBinary, size), fmt.Sprintf("%d:1", opPong)}
	if !slices.Equal(got, want) {
		t.Fatalf("frames %q, want the message and then the pong %q", got, want)
	}
	if err := <-wrote; err != nil {
		t.Errorf("Write: %v", err)
	}
	if err := <-read; CloseStatus(err) != StatusAbnormalClosure {
		t.Errorf("Read: %v, want 1006", err)
	}
}

// pingThenEndBehindWrite starts a Write of size bytes to c and, once it
// holds the frame lock (until the peer, nc, takes the message), a Read;
// then the peer pings and ends its side of the stream. It returns what
// the Write and the Read return.
func pingThenEndBehindWrite(c *Conn, nc net.Conn, size int) (wrote, read chan error) {
	wrote, read = make(chan error, 1), make(chan error, 1)
	go func() { wrote <- c.Write(context.Background(), MessageBinary, make([]byte, size)) }()
	for c.frameMu.TryLock() {
		c.frameMu.Unlock()
		runtime.Gosched()
	}
	go func() {
		_, _, err := c.Read(context.Background())
		read <- err
	}()
	nc.Write(frame(true, 0, opPing, true, []byte("p")))
	nc.(*net.TCPConn).CloseWrite()
	return wrote, read
}

// TestOwedControlDoesNotWaitForStuckWriter: the pong owed to a peer that
// pings and then ends its side of the stream is sent only if the write
// side is free, or a control write is under way: behind a data write
// stuck on that peer, which reads nothing, it could never go out, and
// waiting for it (up to CloseTimeout, an hour here) would hold up the end
// of the connection, and the stuck writer with it.
func TestOwedControlDoesNotWaitForStuckWriter(t *testing.T) {
	c, nc, _ := acceptRawConn(t, &AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: time.Hour}})
	// The peer reads nothing: the write never ends.
	wrote, read := pingThenEndBehindWrite(c, nc, 16<<20)
	select {
	case err := <-read:
		if CloseStatus(err) != StatusAbnormalClosure {
			t.Errorf("Read: %v, want 1006", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the end of the peer's stream did not end the connection: the reader waited for the stuck writer")
	}
	if err := <-wrote; err == nil {
		t.Error("the stuck Write succeeded")
	}
}

// TestPongsBeforeReplyOverTLS: over wss, a Poller's OnMessage echo goes
// out after the pongs to the pings that came before its message. The
// server sends a message's first fragment and a ping, then two more pings
// and the last fragment. Without a non-blocking write, pongs go out
// through a goroutine holding the frame lock, and the echo's writer took
// the lock between its release and the write of the pongs queued
// meanwhile (an outside probe: 13 to 31 of 500 under -race). With
// another goroutine writing on the connection, the lock it holds when the
// message is dispatched keeps the pongs back, and the echo's writer may
// be handed the lock before them (a review: 4 runs in 40 failed, each 1
// echo of 300, until lockFrameSlow sent pongs due before a reply).
func TestPongsBeforeReplyOverTLS(t *testing.T) {
	wstest.CheckLeaks(t)
	for _, other := range []bool{false, true} {
		t.Run(fmt.Sprintf("other writer=%v", other), func(t *testing.T) {
			pongsBeforeReplyOverTLS(t, other)
		})
	}
}

func pongsBeforeReplyOverTLS(t *testing.T, otherWriter bool) {
	const messages, pings = 300, 3
	bad := make(chan int, 1)
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS() // for its certificate
	scfg := ts.TLS.Clone()
	ts.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			bad <- -1
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			bad <- -1
			return
		}
		io.WriteString(nc, upgradeAnswer("websocket")(req.Header.Get("Sec-WebSocket-Key")))
		n := 0
		for i := range messages {
			nc.Write(append(frame(false, 0, opText, false, []byte("m")), frame(true, 0, opPing, false, []byte{byte(i), 0})...))
			var rest []byte
			for j := 1; j < pings; j++ {
				rest = append(rest, frame(true, 0, opPing, false, []byte{byte(i), byte(j)})...)
			}
			nc.Write(append(rest, frame(true, 0, opContinuation, false, []byte("end"))...))
			pongs := 0
			for {
				h, payload, err := readWireFrame(br)
				if err != nil {
					bad <- -1
					return
				}
				if h.Op == opPong && len(payload) == 2 && payload[0] == byte(i) {
					pongs++
				}
				if h.Op == opText && string(payload) != "background" {
					if pongs < pings {
						n++
					}
					break
				}
			}
		}
		bad <- n
	}()
	done := make(chan struct{})
	var started sync.Once
	p, err := NewPoller(PollerOptions{
		OnMessage: func(c *Conn, typ MessageType, msg []byte) {
			if otherWriter {
				started.Do(func() {
					go func() { // as a Broadcast would write
						for c.Write(context.Background(), MessageText, []byte("background")) == nil {
						}
					}()
				})
			}
			c.Write(context.Background(), typ, msg)
		},
		OnClose: func(*Conn, error) { close(done) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, _, err := Dial(testCtx(t), "wss://"+ln.Addr().String(), &DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := p.Serve(c); err != nil {
		t.Fatal(err)
	}
	if n := <-bad; n != 0 {
		t.Fatalf("%d of %d echoes went out before the pongs to the pings before their message (-1: the exchange failed)", n, messages)
	}
}

// TestPingFloodDoesNotStarveWriters: on a connection without a
// non-blocking write (a pipe here; TLS and HTTP/2 streams alike), a peer
// that sends pings back to back while it reads slowly keeps pongs going
// out through finishControl, which holds the frame lock. A Write and a
// Close still get the lock within a few batches of pongs (Write's godoc:
// no writer is starved). finishControl sent the pongs queued meanwhile
// before letting go, and unlockFrame those queued after, so the lock was
// let go only when no pong waited, which a flood never allows (a review:
// Write and Close waited 170 ms to past their 500 ms ctx, every run).
//
// What is counted is the pongs the peer reads between the call and its
// frame, not time: once a writer waits, the lock passes to it after the
// batch being written, however long the scheduler then takes to run it.
func TestPingFloodDoesNotStarveWriters(t *testing.T) {
	tests := []struct {
		name string
		// call starts the call on server.
		call func(ctx context.Context, server *Conn)
		// waiting reports whether the call's frame waits for the lock.
		waiting func(server *Conn) bool
	}{
		{
			name: "Write",
			call: func(ctx context.Context, server *Conn) {
				go server.Write(ctx, MessageBinary, []byte("data"))
			},
			waiting: func(server *Conn) bool { return server.frameMu.HasWaiters() },
		},
		{
			name: "Close",
			call: func(ctx context.Context, server *Conn) {
				go server.CloseContext(ctx, StatusNormalClosure, "")
			},
			waiting: func(server *Conn) bool { return server.flags.has(flagCloseQueued) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wstest.CheckLeaks(t)
			f := pingFlood()
			defer f.stop()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tt.call(ctx, f.server)
			// Counted from when the frame waits (or came without
			// waiting): the pongs before the call's goroutine runs are
			// the scheduler's.
			for !tt.waiting(f.server) && len(f.other) == 0 {
				if ctx.Err() != nil {
					t.Fatalf("%s during a ping flood: it did not start within 5 s", tt.name)
				}
				time.Sleep(10 * time.Microsecond)
			}
			before := f.pongs.Load()
			var at int64
			select {
			case at = <-f.other:
			case <-ctx.Done():
				t.Fatalf("%s during a ping flood: its frame did not come within 5 s; %d pongs meanwhile", tt.name, f.pongs.Load()-before)
			}
			t.Logf("%d pongs before the frame", at-before)
			if n := at - before; n > maxStarvingPongs {
				t.Fatalf("%s during a ping flood: %d pongs went out before its frame, want at most %d", tt.name, n, maxStarvingPongs)
			}
		})
	}
}

// maxStarvingPongs bounds the pongs TestPingFloodDoesNotStarveWriters
// lets out before a writer's frame. A batch is what maxPendingPongs holds
// (1,024 bytes: 512 pongs of one byte): the one being written when the
// writer begins to wait, and the one taken after it, 700 to 1,700 pongs
// in all with -race, one P and two test binaries sharing the machine.
// Starved, a writer waited through about 60,000.
const maxStarvingPongs = 8 * 512

// flood is the peer of pingFlood.
type flood struct {
	server *Conn
	pongs  atomic.Int64 // the pongs the peer read
	other  chan int64   // the pong count when the first other frame came
	stop   func()
}

// slowReader reads at most 64 bytes at a time, and sleeps after each.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p[:min(len(p), 64)])
	time.Sleep(50 * time.Microsecond)
	return n, err
}

// pingFlood returns a server Conn over a pipe whose peer sends pings back
// to back and reads slowly, counting the pongs, with a goroutine reading
// (and so answering) them; stop ends it all.
func pingFlood() *flood {
	a, b := net.Pipe()
	f := &flood{server: newConn(b, false, nil, "", nil, nil), other: make(chan int64, 1)}
	var ping []byte
	for range 200 {
		ping = append(ping, frame(true, 0, opPing, true, []byte("p"))...)
	}
	var wg sync.WaitGroup
	wg.Go(func() { // the peer reads everything, slowly
		br := bufio.NewReaderSize(slowReader{a}, 64)
		for {
			h, _, err := readWireFrame(br)
			if err != nil {
				return
			}
			if h.Op == opPong {
				f.pongs.Add(1)
				continue
			}
			select {
			case f.other <- f.pongs.Load():
			default:
			}
		}
	})
	wg.Go(func() { // and floods pings
		for {
			if _, err := a.Write(ping); err != nil {
				return
			}
		}
	})
	wg.Go(func() { // our reader answers them
		for {
			if _, _, err := f.server.Read(context.Background()); err != nil {
				return
			}
		}
	})
	for f.pongs.Load() < 1000 { // the flood is on
		time.Sleep(time.Millisecond)
	}
	f.stop = func() {
		f.server.CloseNow()
		a.Close()
		wg.Wait()
	}
	return f
}

// TestPongsDueBeforeReplySurviveItsCtx: pongs due before a reply (held
// back from the dispatch by another writer's lock, replyDue) go out even
// when the reply's ctx ends before the peer takes anything. The reply's
// writer took them and wrote them under its own ctx: cut off before a
// byte, they were lost with the connection left usable (a review). Now
// they are sent as kickControl sends them, finished by a goroutine.
func TestPongsDueBeforeReplySurviveItsCtx(t *testing.T) {
	wstest.CheckLeaks(t)
	a, b := net.Pipe()
	defer a.Close()
	c := newConn(b, false, nil, "", nil, nil)
	defer c.CloseNow()
	if !c.frameMu.TryLock() { // another writer, when the message is dispatched
		t.Fatal("the frame lock is taken")
	}
	c.queuePong([]byte("P"))
	c.kickControlBeforeReply()
	if !c.ctl.Load().replyDue.Load() {
		t.Fatal("the pong is not due before the reply")
	}
	c.frameMu.UnlockSlow() // as unlockFrameSlow lets go, after its check
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err := c.Write(ctx, MessageText, []byte("reply"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		t.Fatalf("Write: %v, want its ctx's error on a usable connection", err)
	}
	first := make(chan []byte, 1)
	go func() {
		a.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, _ := a.Read(buf)
		first <- buf[:n]
		io.Copy(io.Discard, a)
	}()
	if err := c.Write(context.Background(), MessageText, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := <-first; len(got) == 0 || opcode(got[0]&0x0f) != opPong {
		t.Fatalf("the peer got % x first, not the pong owed before the reply", got)
	}
}
