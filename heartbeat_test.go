package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pipePair connects a client and a server Conn over net.Pipe, without a
// handshake, for tests that run inside a synctest bubble.
func pipePair(copts, sopts *ConnOptions) (client, server *Conn) {
	a, b := net.Pipe()
	return newConn(a, true, copts, "", nil, nil), newConn(b, false, sopts, "", nil, nil)
}

func TestHeartbeatClosesDeadPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pipePair(nil, &ConnOptions{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second})
		defer client.CloseNow()
		// The client never reads: it is dead as far as the server can tell.
		start := time.Now()
		_, _, err := server.Read(context.Background())
		if !errors.Is(err, ErrHeartbeatTimeout) {
			t.Fatalf("server read: %v", err)
		}
		if d := time.Since(start); d < 15*time.Second || d > 17*time.Second {
			t.Fatalf("dead peer detected after %v, want about 15s", d)
		}
	})
}

// TestHeartbeatDeadPeerBound: a peer that goes silent right after a tick
// is closed within 2*PingInterval + PingTimeout of its last frame, the
// bound PingInterval's godoc gives, and not before PingInterval +
// PingTimeout.
func TestHeartbeatDeadPeerBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, timeout = 10 * time.Second, 5 * time.Second
		client, server := pipePair(nil, &ConnOptions{PingInterval: interval, PingTimeout: timeout})
		defer client.CloseNow()
		done := make(chan error, 1)
		go func() {
			_, _, err := server.Read(context.Background())
			done <- err
		}()
		time.Sleep(interval + time.Second) // just past the first tick
		if err := client.Write(context.Background(), MessageText, []byte("last words")); err != nil {
			t.Fatal(err)
		}
		last := time.Now()
		if err := <-done; err != nil {
			t.Fatalf("server read: %v", err)
		}
		// The client now reads nothing: it is dead as far as the server
		// can tell.
		_, _, err := server.Read(context.Background())
		if !errors.Is(err, ErrHeartbeatTimeout) {
			t.Fatalf("server read: %v", err)
		}
		if d := time.Since(last); d < interval+timeout || d > 2*interval+timeout {
			t.Fatalf("dead peer detected %v after its last frame, want between %v and %v", d, interval+timeout, 2*interval+timeout)
		}
	})
}

func TestHeartbeatKeepsLivePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// OnPong runs on whichever goroutine reads the pong: the server's
		// Read, or the heartbeat's Ping reading on its own once Read has
		// returned.
		var pongs atomic.Int32
		client, server := pipePair(nil, &ConnOptions{
			PingInterval: 10 * time.Second,
			PingTimeout:  5 * time.Second,
			OnPong:       func([]byte) { pongs.Add(1) },
		})
		// The client reads (and so answers pings) but sends nothing.
		go client.Read(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, err := server.Read(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("server read: %v", err)
		}
		if n := pongs.Load(); n < 5 {
			t.Fatalf("%d pongs in a minute of 10s heartbeats", n)
		}
		server.CloseNow()
		client.CloseNow()
		synctest.Wait()
	})
}

func TestCloseTimeoutWithSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pipePair(nil, &ConnOptions{CloseTimeout: 3 * time.Second})
		defer client.CloseNow()
		// The client reads frames but never answers the close: it just
		// holds its read lock, simulated by reading raw bytes.
		go func() {
			buf := make([]byte, 512)
			for {
				if _, err := client.nc.Read(buf); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		err := server.Close(StatusNormalClosure, "")
		if !errors.Is(err, errCloseTimeout) {
			t.Fatalf("Close: %v", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("Close took %v, want the 3s CloseTimeout", d)
		}
		if !server.isClosed() {
			t.Fatal("TCP not closed after the timeout")
		}
	})
}

// TestHeartbeatCountsPartOfAFrame: a peer sending one long frame slowly
// cannot answer a ping before the frame ends, yet it is alive while its
// bytes keep coming, whatever reads them; once they stop, the heartbeat
// closes the connection as for any silent peer. A read straight into the
// caller's buffer (Read of a large frame, a Reader with a large buffer)
// used to count nothing, so such a peer was closed mid-frame there and
// kept elsewhere.
func TestHeartbeatCountsPartOfAFrame(t *testing.T) {
	tests := []struct {
		name string
		read func(c *Conn) error
	}{
		{
			name: "Read",
			read: func(c *Conn) error {
				_, _, err := c.Read(context.Background())
				return err
			},
		},
		{
			name: "Reader, 32 KiB reads",
			read: func(c *Conn) error { return readAllWith(c, 32<<10) },
		},
		{
			name: "Reader, 512-byte reads",
			read: func(c *Conn) error { return readAllWith(c, 512) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				peer, b := net.Pipe()
				server := newConn(b, false, &ConnOptions{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second}, "", nil, nil)
				defer server.CloseNow()
				go io.Copy(io.Discard, peer) // takes the pings, never answers
				readErr := make(chan error, 1)
				go func() { readErr <- tt.read(server) }()
				// A masked binary frame of 1 MiB (a zero key leaves the
				// payload as sent), then 4 KiB every 3 seconds for a minute.
				peer.Write([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0})
				for range 20 {
					time.Sleep(3 * time.Second)
					if _, err := peer.Write(make([]byte, 4096)); err != nil {
						t.Fatalf("the server stopped reading a peer whose bytes kept coming: %v", err)
					}
				}
				stopped := time.Now()
				err := <-readErr
				if !errors.Is(err, ErrHeartbeatTimeout) {
					t.Fatalf("read: %v, want ErrHeartbeatTimeout", err)
				}
				// The heartbeat looks for activity every PingInterval, so
				// the ping goes out one to two intervals after the last
				// byte, and the end PingTimeout after that.
				if d := time.Since(stopped); d < 15*time.Second || d > 25*time.Second {
					t.Fatalf("silent peer closed %v after its last byte, want 15s to 25s", d)
				}
				peer.Close()
			})
		})
	}
}

// TestHeartbeatCountsAFrameThePeerTakes: a peer that reads one long frame
// of ours slowly cannot answer a ping before the frame is out, since the
// ping waits behind it, yet it is alive while it takes the frame's bytes;
// once it stops, the heartbeat closes the connection as for any silent
// peer. It used to be closed mid-frame, a live peer dropped for sending
// nothing while it read.
func TestHeartbeatCountsAFrameThePeerTakes(t *testing.T) {
	for _, client := range []bool{false, true} {
		name := "server"
		if client {
			name = "client (masked a buffer at a time)"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, peer := net.Pipe()
				defer peer.Close()
				c := newConn(a, client, &ConnOptions{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second}, "", nil, nil)
				defer c.CloseNow()
				writeErr := make(chan error, 1)
				go func() { writeErr <- c.Write(context.Background(), MessageBinary, make([]byte, 8<<20)) }()
				// 64 KiB a second for 40 seconds, then nothing.
				buf := make([]byte, 64<<10)
				for range 40 {
					if _, err := io.ReadFull(peer, buf); err != nil {
						t.Fatalf("the frame stopped while the peer read it: %v", err)
					}
					time.Sleep(time.Second)
				}
				stopped := time.Now()
				err := <-writeErr
				if !errors.Is(err, ErrHeartbeatTimeout) {
					t.Fatalf("write: %v, want ErrHeartbeatTimeout", err)
				}
				// The last part the peer took was at most a slice before
				// it stopped (256 KiB, 4 s here); the ping goes out one to
				// two intervals after it, the end PingTimeout after that.
				if d := time.Since(stopped); d < 10*time.Second || d > 25*time.Second {
					t.Fatalf("peer closed %v after it stopped reading, want 10s to 25s", d)
				}
			})
		})
	}
}

// readAllWith reads the next message through a Reader, buf bytes at a time.
func readAllWith(c *Conn, size int) error {
	_, r, err := c.Reader(context.Background())
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	for {
		if _, err := r.Read(buf); err != nil {
			return err
		}
	}
}

// TestHeartbeatCauseOutlivesPeerReaction: a Read that the connection's own
// heartbeat ends reports ErrHeartbeatTimeout whatever the peer does with
// our close frame: answer it and close, or just close. The blocked Read
// used to report the peer's reaction (its echoed 1001, or 1006 on EOF)
// when that reached it before the heartbeat's close did.
func TestHeartbeatCauseOutlivesPeerReaction(t *testing.T) {
	for _, echo := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			for run := range 20 {
				a, b := net.Pipe()
				c := newConn(a, true, &ConnOptions{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second}, "", nil, nil)
				go silentPeer(b, echo)
				_, _, err := c.Read(context.Background())
				if !errors.Is(err, ErrHeartbeatTimeout) {
					t.Fatalf("echo %v, run %d: Read: %v, want ErrHeartbeatTimeout", echo, run, err)
				}
				c.CloseNow()
				synctest.Wait()
			}
		})
	}
}

// silentPeer plays a server that answers no ping: it reads a client's
// frames until the close frame, then closes, after echoing it if echo.
func silentPeer(nc net.Conn, echo bool) {
	defer nc.Close()
	var hdr [6]byte // a short masked frame: two bytes, the key
	for {
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			return
		}
		payload := make([]byte, hdr[1]&0x7f)
		if _, err := io.ReadFull(nc, payload); err != nil {
			return
		}
		if opcode(hdr[0]&0x0f) == opClose {
			maskBytes(payload, binary.LittleEndian.Uint32(hdr[2:]))
			if echo {
				nc.Write(frame(true, 0, opClose, false, payload))
			}
			return
		}
	}
}

// TestHeartbeatCutPingReportsTimeout: a heartbeat ping that the peer's
// full receive window cuts off part-way, as a peer that reads nothing
// leaves a TCP socket or an HTTP/2 stream, ends the connection, and what
// the calls report after that says the heartbeat ended it
// (ErrHeartbeatTimeout), as well as that a write was left unfinished
// (ErrClosed). They reported the cut-off write alone.
func TestHeartbeatCutPingReportsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		nc := &stallingConn{Conn: a, wake: make(chan struct{})}
		c := newConn(nc, false, &ConnOptions{PingInterval: 10 * time.Second, PingTimeout: 5 * time.Second}, "", nil, nil)
		defer c.CloseNow()
		_, _, err := c.Read(context.Background())
		if !errors.Is(err, ErrHeartbeatTimeout) || !errors.Is(err, ErrClosed) {
			t.Fatalf("Read: %v, want an error wrapping ErrHeartbeatTimeout and ErrClosed", err)
		}
		if nc.written.Load() == 0 {
			t.Fatal("the ping was not cut part-way: the test no longer tests that")
		}
		err = c.Write(context.Background(), MessageText, []byte("x"))
		if !errors.Is(err, ErrHeartbeatTimeout) {
			t.Fatalf("Write after: %v, want an error wrapping ErrHeartbeatTimeout", err)
		}
	})
}

// stallingConn takes the first byte of each Write and then nothing more
// until its write deadline passes: a socket whose peer stopped reading
// just as its buffers filled. Reads go to the embedded connection.
type stallingConn struct {
	net.Conn
	written  atomic.Int64
	mu       sync.Mutex
	deadline time.Time
	closed   bool
	wake     chan struct{} // closed when the write deadline moves or on Close
}

func (s *stallingConn) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.wake)
	}
	s.mu.Unlock()
	return s.Conn.Close()
}

func (s *stallingConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		s.mu.Lock()
		d, wake, closed := s.deadline, s.wake, s.closed
		s.mu.Unlock()
		if closed {
			return 0, net.ErrClosed
		}
		if s.written.Load() == 0 {
			s.written.Add(1)
		}
		var expired <-chan time.Time
		if !d.IsZero() {
			if !time.Now().Before(d) {
				return 1, os.ErrDeadlineExceeded
			}
			expired = time.After(time.Until(d))
		}
		select {
		case <-wake:
		case <-expired:
		}
	}
}

func (s *stallingConn) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.deadline = t
		close(s.wake)
		s.wake = make(chan struct{})
	}
	return nil
}

func (s *stallingConn) SetDeadline(t time.Time) error {
	s.SetWriteDeadline(t)
	return s.Conn.SetReadDeadline(t)
}

// TestCallersCauseIsNotOurs: a ctx's cause is the caller's and never
// taken for the library's own reasons. A write cut part-way by a ctx whose
// cause wraps ErrHeartbeatTimeout (another connection's end, passed on
// through a shared ctx) does not end this connection, which has no
// heartbeat, as a heartbeat timeout; a read cut by a ctx whose cause wraps
// ErrClosed or a close status leaves an error that claims neither, on a
// connection that still works. For a while interrupted I/O wrapped the
// ctx's cause, and all three did.
func TestCallersCauseIsNotOurs(t *testing.T) {
	t.Run("write cut", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			c := newConn(&stallingConn{Conn: a, wake: make(chan struct{})}, false, nil, "", nil, nil)
			defer c.CloseNow()
			other := fmt.Errorf("websocket: another connection: %w", ErrHeartbeatTimeout)
			ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, other)
			defer cancel()
			if err := c.Write(ctx, MessageText, []byte("hello")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Write cut part-way: %v, want an error wrapping ErrClosed", err)
			}
			err := c.Write(context.Background(), MessageText, []byte("x"))
			if errors.Is(err, ErrHeartbeatTimeout) {
				t.Fatalf("Write after the cut, without a heartbeat: %v, want no ErrHeartbeatTimeout", err)
			}
		})
	})
	for _, cause := range []error{
		fmt.Errorf("another connection: %w", ErrClosed),
		fmt.Errorf("upstream ended: %w", &CloseError{Code: StatusNormalClosure}),
	} {
		t.Run("read cut/"+cause.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := net.Pipe()
				defer b.Close()
				c := newConn(a, false, nil, "", nil, nil)
				defer c.CloseNow()
				ctx, cancel := context.WithCancelCause(context.Background())
				errc := make(chan error, 1)
				go func() {
					_, _, err := c.Read(ctx)
					errc <- err
				}()
				synctest.Wait() // the Read waits for the network
				cancel(cause)
				err := <-errc
				if errors.Is(err, ErrClosed) || CloseStatus(err) != -1 || !errors.Is(err, context.Canceled) {
					t.Fatalf("Read cut by its ctx: %v (close status %d), want context.Canceled alone", err, CloseStatus(err))
				}
				go b.Write(frame(true, 0, opText, true, []byte("hi")))
				if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "hi" {
					t.Fatalf("Read after the cut: %q, %v, want the next message", msg, err)
				}
			})
		})
	}
}

// TestHeartbeatDeadPeerBoundBehindWrite: a peer that takes nothing while
// we write to it is closed within 2*PingInterval + PingTimeout too. The
// heartbeat's close frame waits behind the stuck write, which the peer
// never lets through: the connection used to close only when the frame's
// linger ran out, up to a second later.
func TestHeartbeatDeadPeerBoundBehindWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, timeout = 150 * time.Millisecond, 150 * time.Millisecond
		client, server := pipePair(nil, &ConnOptions{PingInterval: interval, PingTimeout: timeout})
		defer client.CloseNow()
		start := time.Now()
		wrote := make(chan error, 1)
		go func() { wrote <- server.Write(context.Background(), MessageBinary, make([]byte, 1<<20)) }()
		<-server.Done()
		if d := time.Since(start); d > 2*interval+timeout {
			t.Errorf("closed %v after the peer went silent, want at most %v", d, 2*interval+timeout)
		}
		if err := <-wrote; !errors.Is(err, ErrHeartbeatTimeout) {
			t.Errorf("the stuck Write: %v; want ErrHeartbeatTimeout", err)
		}
	})
}

// TestHeartbeatKeepsPeerDrainingBuffers: a peer reading a long message of
// ours steadily is alive until its last byte, though once the message is
// all in our socket's send buffer (megabytes) the heartbeat's ping waits
// behind it for longer than PingTimeout: what the send buffer holds
// falling while the ping waits shows the peer reading. It used to be
// dropped as dead near the end of the message. Linux only (TIOCOUTQ).
// The peer's receive buffer is kept small, as a slow link's window keeps
// it, so that the bytes ahead of the ping wait on our side: bytes in the
// peer's receive buffer are acknowledged, and show in no queue of ours.
func TestHeartbeatKeepsPeerDrainingBuffers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's send queue is read on Linux only")
	}
	const size = 12 << 20
	// The peer reads every 20 ms, well within PingTimeout however the
	// machine schedules it; what waits ahead of the ping (megabytes)
	// takes it longer than PingTimeout.
	hb := ConnOptions{PingInterval: 150 * time.Millisecond, PingTimeout: 300 * time.Millisecond, ReadLimit: 2 * size}
	dopts := &DialOptions{
		ConnOptions: ConnOptions{ReadLimit: 2 * size},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err == nil {
				nc.(*net.TCPConn).SetReadBuffer(64 << 10)
			}
			return nc, err
		},
	}
	client, server := pair(t, &AcceptOptions{ConnOptions: hb}, dopts)
	ctx := testCtx(t)
	go server.Write(ctx, MessageBinary, make([]byte, size))
	_, r, err := client.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 64 KiB every 20 ms, about 3 MiB/s: 5 times heartbeatSlice per
	// PingInterval + PingTimeout.
	buf := make([]byte, 64<<10)
	for got := 0; got < size; got += len(buf) {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("read after %d bytes: %v (server: %v)", got, err, server.errAfterClose())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if server.isClosed() {
		t.Fatalf("the heartbeat closed a peer that read the whole message: %v", server.errAfterClose())
	}
}
