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
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// slowClose is a net.Conn whose Close waits until release is closed.
type slowClose struct {
	net.Conn
	release chan struct{}
}

func (s *slowClose) Close() error {
	<-s.release
	return s.Conn.Close()
}

// TestCloseNowWaitsForTheFirst: a closeNow that comes while another one is
// closing the transport returns only once that one is done, so that after
// any of them the socket is closed.
func TestCloseNowWaitsForTheFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		nc := &slowClose{Conn: a, release: make(chan struct{})}
		c := newConn(nc, false, nil, "", nil, nil)
		first, second := make(chan struct{}), make(chan struct{})
		go func() {
			c.CloseNow()
			close(first)
		}()
		synctest.Wait() // the first is in nc.Close
		go func() {
			c.closeNow(errors.New("second"))
			close(second)
		}()
		synctest.Wait()
		select {
		case <-second:
			t.Fatal("the second closeNow returned while the first was closing the transport")
		default:
		}
		close(nc.release)
		<-first
		<-second
		if err := c.Write(context.Background(), MessageText, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after close: %v", err)
		}
	})
}

// TestCloseNowReportsOneCloser: of two CloseNow calls at once, one closes
// and returns nil, the other returns ErrClosed, as CloseNow documents.
// Both used to return nil when the second passed its look at the closed
// flag before the first had set it.
func TestCloseNowReportsOneCloser(t *testing.T) {
	for range 2000 {
		a, b := net.Pipe()
		c := newConn(a, false, nil, "", nil, nil)
		start := make(chan struct{})
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				<-start
				errs <- c.CloseNow()
			}()
		}
		close(start)
		first, second := <-errs, <-errs
		b.Close()
		if (first == nil) == (second == nil) {
			t.Fatalf("two CloseNow calls at once returned %v and %v; want nil once and ErrClosed once", first, second)
		}
	}
}

// closingOverPipe returns a server connection over net.Pipe whose Close
// (CloseTimeout 3 s) has sent its close frame, which the peer's end b
// has read, and now waits for the answer; closed gets what Close returns.
func closingOverPipe(t *testing.T) (c *Conn, b net.Conn, closed chan error) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	c = newConn(a, false, &ConnOptions{CloseTimeout: 3 * time.Second}, "", nil, nil)
	t.Cleanup(func() { c.CloseNow() })
	closed = make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	if op, _, _, err := readWire(bufio.NewReader(b)); err != nil || op != opClose {
		t.Fatalf("want our close frame, got %v %v", op, err)
	}
	return c, b, closed
}

// TestCloseLeavesNoGap: once Close, reading on with nothing waiting, has
// discarded a message, it discards the ones after it too. A read loop
// that was busy between two Reads then sees its messages end with the
// connection, never a later message after a missing one. It used to get
// the next message, as if the discarded one had not been sent.
func TestCloseLeavesNoGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, b, closed := closingOverPipe(t)
		b.Write(frame(true, 0, opText, true, []byte("1"))) // nobody waits: Close drops it
		synctest.Wait()
		read := make(chan string, 1)
		go func() {
			_, msg, err := c.Read(context.Background())
			read <- fmt.Sprintf("%q %v", msg, err)
		}()
		synctest.Wait() // the read loop is back, and waits
		b.Write(frame(true, 0, opText, true, []byte("2")))
		b.Write(frame(true, 0, opClose, true, closePayload(StatusNormalClosure, "")))
		if err := <-closed; err != nil {
			t.Errorf("Close: %v", err)
		}
		if got := <-read; !strings.Contains(got, ErrClosed.Error()) {
			t.Errorf("Read after Close dropped a message: %s, want ErrClosed", got)
		}
	})
}

// TestCloseReadsOnAfterHandingOver: Close, reading with nothing waiting,
// hands a message to a Read that comes to wait for one; if the
// application then reads no more, Close reads on by itself and finishes
// the handshake as soon as the peer's close frame comes. It used to wait
// for the application to read on, and timed out after CloseTimeout with
// the peer's answer unread. Also with the application reading on: the
// next message goes to its Read, then the close.
func TestCloseReadsOnAfterHandingOver(t *testing.T) {
	for _, readsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("reads-on=%v", readsOn), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, b, closed := closingOverPipe(t)
				synctest.Wait() // Close reads, holding the read lock
				read := make(chan string, 2)
				go func() {
					for range 2 {
						_, msg, err := c.Read(context.Background())
						read <- fmt.Sprintf("%q %v", msg, err)
						if !readsOn || err != nil {
							return
						}
					}
				}()
				synctest.Wait() // the Read waits for Close to step aside
				b.Write(frame(true, 0, opText, true, []byte("1")))
				if got := <-read; got != `"1" <nil>` {
					t.Fatalf("Read: %s", got)
				}
				synctest.Wait() // the application reads on, or not
				start := time.Now()
				if readsOn {
					b.Write(frame(true, 0, opText, true, []byte("2")))
					if got := <-read; got != `"2" <nil>` {
						t.Fatalf("second Read: %s", got)
					}
				}
				b.Write(frame(true, 0, opClose, true, closePayload(StatusNormalClosure, "")))
				if err := <-closed; err != nil || time.Since(start) > 0 {
					t.Errorf("Close returned %v after %v, with the peer's close frame sent at once", err, time.Since(start))
				}
			})
		})
	}
}

// TestCloseTimeoutNotCtxError: Close, whose close frame cannot go out
// within CloseTimeout behind a write the peer does not read, reports the
// handshake's timeout, not a ctx error: it takes no ctx, and its other
// timeout (the peer's close frame not coming) matches no ctx error either.
func TestCloseTimeoutNotCtxError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := newConn(a, false, &ConnOptions{CloseTimeout: time.Second}, "", nil, nil)
		defer c.CloseNow()
		go c.Write(context.Background(), MessageBinary, make([]byte, 1<<16)) // blocked: nobody reads
		synctest.Wait()
		err := c.Close(StatusNormalClosure, "")
		if err != errCloseSendTimeout {
			t.Errorf("Close: %v, want %v", err, errCloseSendTimeout)
		}
		if isCtxErr(err) {
			t.Errorf("Close: %v matches a ctx error", err)
		}
	})
}

// TestCloseContext: CloseContext's ctx bounds the closing handshake at
// every stage (behind a blocked write, waiting for the peer's answer, or
// over before it starts), closing the connection and reporting ctx's
// error; CloseTimeout, when shorter, still reports its own.
func TestCloseContext(t *testing.T) {
	tests := []struct {
		name         string
		ctxTimeout   time.Duration // 0: ended before the call
		closeTimeout time.Duration
		peerReads    bool // the peer reads (and discards) what we send
		blockedWrite bool // a write nobody reads holds the frame lock
		want         error
	}{
		{
			name:         "peer never answers",
			ctxTimeout:   time.Second,
			closeTimeout: time.Hour,
			peerReads:    true,
			want:         context.DeadlineExceeded,
		},
		{
			name:         "close frame behind a blocked write",
			ctxTimeout:   time.Second,
			closeTimeout: time.Hour,
			blockedWrite: true,
			want:         context.DeadlineExceeded,
		},
		{
			name:         "ctx ended before the call",
			ctxTimeout:   0,
			closeTimeout: time.Hour,
			peerReads:    true,
			want:         context.DeadlineExceeded,
		},
		{
			name:         "CloseTimeout first",
			ctxTimeout:   time.Hour,
			closeTimeout: time.Second,
			peerReads:    true,
			want:         errCloseTimeout,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := net.Pipe()
				defer b.Close()
				c := newConn(a, false, &ConnOptions{CloseTimeout: tc.closeTimeout}, "", nil, nil)
				defer c.CloseNow()
				got := make(chan []byte, 1)
				if tc.peerReads {
					go func() {
						data, _ := io.ReadAll(b)
						got <- data
					}()
				}
				if tc.blockedWrite {
					go c.Write(context.Background(), MessageBinary, make([]byte, 1<<16))
					synctest.Wait()
				}
				ctx, cancel := context.WithTimeout(context.Background(), tc.ctxTimeout)
				defer cancel()
				err := c.CloseContext(ctx, StatusGoingAway, "shutdown")
				if !errors.Is(err, tc.want) {
					t.Fatalf("CloseContext: %v, want %v", err, tc.want)
				}
				if !c.isClosed() {
					t.Fatal("the connection is still open")
				}
				if !tc.peerReads {
					return
				}
				data := <-got
				sentClose := len(data) >= 2 && data[0] == 0x88
				if wantClose := tc.ctxTimeout != 0; sentClose != wantClose {
					t.Errorf("peer read % x: close frame sent %v, want %v", data, sentClose, wantClose)
				}
			})
		})
	}
	t.Run("ctx with a cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			go io.Copy(io.Discard, b) // never answers
			c := newConn(a, false, nil, "", nil, nil)
			defer c.CloseNow()
			cause := errors.New("shutdown deadline")
			ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, cause)
			defer cancel()
			err := c.CloseContext(ctx, StatusGoingAway, "")
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cause) {
				t.Fatalf("CloseContext: %v, want both ctx's error and its cause", err)
			}
		})
	})
	t.Run("ended ctx after the connection ended", func(t *testing.T) {
		client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 8}}, nil)
		ctx := testCtx(t)
		go client.Write(ctx, MessageBinary, make([]byte, 100)) // over the limit: the server fails it
		if _, _, err := server.Read(ctx); !errors.Is(err, ErrMessageTooBig) {
			t.Fatalf("Read: %v", err)
		}
		server.CloseNow()
		ended, cancel := context.WithCancel(ctx)
		cancel()
		if err := server.CloseContext(ended, StatusNormalClosure, ""); err != ErrClosed {
			t.Fatalf("CloseContext: %v, want ErrClosed as Close returns", err)
		}
	})
	t.Run("handshake completes", func(t *testing.T) {
		client, server := pair(t, nil, nil)
		ctx := testCtx(t)
		errc := make(chan error, 1)
		go func() {
			_, _, err := client.Read(ctx) // answers
			errc <- err
		}()
		if err := server.CloseContext(ctx, StatusGoingAway, "shutdown"); err != nil {
			t.Fatalf("CloseContext: %v", err)
		}
		if err := <-errc; CloseStatus(err) != StatusGoingAway {
			t.Fatalf("client's Read after the handshake: %v", err)
		}
	})
}

// TestCloseWithBadArgumentsStillCloses: a code that may not be sent or a
// reason over 123 bytes or not UTF-8 gets an error, and the connection
// ends anyway, as with CloseNow: a deferred Close must not leak it.
func TestCloseWithBadArgumentsStillCloses(t *testing.T) {
	tests := []struct {
		name   string
		code   StatusCode
		reason string
		want   string
	}{
		{
			name:   "reserved code",
			code:   StatusNoStatusRcvd,
			reason: "",
			want:   "may not be sent",
		},
		{
			name:   "code out of range",
			code:   5000,
			reason: "",
			want:   "may not be sent",
		},
		{
			name:   "reason too long",
			code:   StatusNormalClosure,
			reason: strings.Repeat("x", 124),
			want:   "close reason is 124 bytes",
		},
		{
			name:   "reason not UTF-8",
			code:   StatusNormalClosure,
			reason: "\xff",
			want:   "not valid UTF-8",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pair(t, nil, nil)
			err := server.Close(tc.code, tc.reason)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Close: %v, want an error saying %q", err, tc.want)
			}
			if !server.isClosed() {
				t.Fatal("the connection is still open after Close")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _, err = client.Read(ctx)
			if CloseStatus(err) != StatusAbnormalClosure {
				t.Fatalf("the peer read %v, want the end of the stream (1006)", err)
			}
		})
	}
}

// TestCloseFailedWhileWaitingKeepsWhatWasSent: a client whose Close waits
// for the server's answer and meets a frame that fails the connection (a
// message over the read limit, its payload left unread) must not close
// the socket with bytes unread: the kernel would reset the connection and
// drop what the client sent last, its close frame included. It half-closes
// after its close frame and drains instead, so the server reads every
// byte of the message Write accepted, the close frame, and then the end
// of the stream. Found by the client-role differential.
func TestCloseFailedWhileWaitingKeepsWhatWasSent(t *testing.T) {
	const size = 200_000
	closeReturned := make(chan struct{})
	got := make(chan string, 1)
	addr := rawServer(t, func(nc net.Conn, req *http.Request) {
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptKey(req.Header.Get("Sec-WebSocket-Key")))
		// Over the client's read limit, sent before the client reads.
		nc.Write(frame(true, 0, opBinary, false, make([]byte, 5000)))
		// Read nothing while the client fails the connection: its
		// message fills the buffers. A client that closes its socket at
		// once returns from Close; one that lingers is still in it.
		select {
		case <-closeReturned:
		case <-time.After(300 * time.Millisecond):
		}
		var payload int
		var closing []byte
		br := bufio.NewReader(nc)
		for {
			h, p, err := readWireFrame(br)
			if err != nil {
				got <- fmt.Sprintf("%d payload bytes, close %x, then %v", payload, closing, err)
				return
			}
			if h.Op == opClose {
				closing = p
			} else {
				payload += len(p)
			}
		}
	})
	ctx := testCtx(t)
	c, _, err := Dial(ctx, "ws://"+addr+"/", &DialOptions{ConnOptions: ConnOptions{ReadLimit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, MessageBinary, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	err = c.Close(4000, "")
	close(closeReturned)
	if !errors.Is(err, ErrMessageTooBig) {
		t.Errorf("Close: %v, want the read limit's error", err)
	}
	want := fmt.Sprintf("%d payload bytes, close %x, then %v", size, []byte{0x0f, 0xa0}, io.EOF)
	if s := <-got; s != want {
		t.Fatalf("the server read %s; want %s", s, want)
	}
}

// TestCloseOverTLSToStuckPeer: over TLS, a connection to a peer that no
// longer reads closes at once, not after crypto/tls' 5 s bound on its
// close_notify alert: on CloseNow the alert gets a short wait of its own,
// and a write cut off by its ctx closes the socket below every layer of
// TLS, a proxy's too (wss through an https proxy). The pipe takes
// nothing the peer does not read, as a socket whose buffers are full.
func TestCloseOverTLSToStuckPeer(t *testing.T) {
	wstest.CheckLeaks(t)
	for _, layers := range []int{1, 2} {
		t.Run(fmt.Sprintf("layers=%d/CloseNow", layers), func(t *testing.T) {
			client := stuckTLSClient(t, layers)
			start := time.Now()
			if err := client.CloseNow(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("CloseNow took %v", d)
			}
			select {
			case <-client.Done():
			case <-time.After(time.Second):
				t.Fatal("Done did not close")
			}
		})
		t.Run(fmt.Sprintf("layers=%d/write cut", layers), func(t *testing.T) {
			client := stuckTLSClient(t, layers)
			defer client.CloseNow()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := client.Write(ctx, MessageBinary, make([]byte, 64<<10))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Write to a peer that reads nothing: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("the write its ctx cut off at 100 ms returned after %v", d)
			}
		})
	}
}

// stuckTLSClient returns a client over layers of TLS on a net.Pipe whose
// server answers the handshake and then reads nothing.
func stuckTLSClient(t *testing.T, layers int) *Conn {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS() // for its certificate
	scfg := ts.TLS.Clone()
	ts.Close()
	cnc, snc := net.Pipe()
	t.Cleanup(func() { snc.Close() })
	go func() { // answers the handshake, then never reads
		var nc net.Conn = snc
		for range layers {
			nc = tls.Server(nc, scfg)
		}
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			acceptKey(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
	}()
	var nc net.Conn = cnc
	for range layers {
		nc = tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	}
	client, _, err := Client(testCtx(t), nc, "wss://x/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestPongWhileClosing: a ping that comes after our close frame, before
// the peer's, is answered (RFC 6455, section 5.5.2: a pong for every ping
// unless a close frame was received; section 5.5.1 forbids only data
// frames after ours), by a goroutine's Close reading on its own and by a
// Poller's loop. It used to go unanswered, and a peer whose heartbeat
// pinged while it finished its last message could drop the connection.
func TestPongWhileClosing(t *testing.T) {
	t.Run("goroutine", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, b, closed := closingOverPipe(t)
			br := bufio.NewReader(b)
			b.Write(frame(true, 0, opPing, true, []byte("still there?")))
			if op, p, _, err := readWire(br); err != nil || op != opPong || string(p) != "still there?" {
				t.Fatalf("after our close frame, a ping got %v %q %v; want its pong", op, p, err)
			}
			b.Write(frame(true, 0, opClose, true, closePayload(StatusNormalClosure, "")))
			if err := <-closed; err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	})
	for _, mode := range []string{"tcp", "tcp-plain"} {
		t.Run("poller/"+mode, func(t *testing.T) {
			srv := newPollerServer(t, mode, nil, nil)
			nc, br := rawHandshake(t, "http"+strings.TrimPrefix(srv.url, "ws"), "")
			nc.Write(frame(true, 0, opText, true, []byte("close"))) // the server's OnMessage closes
			if op, _, _, err := readWire(br); err != nil || op != opClose {
				t.Fatalf("want the server's close frame, got %v %v", op, err)
			}
			nc.Write(frame(true, 0, opPing, true, []byte("still there?")))
			if op, p, _, err := readWire(br); err != nil || op != opPong || string(p) != "still there?" {
				t.Fatalf("after the server's close frame, a ping got %v %q %v; want its pong", op, p, err)
			}
			nc.Write(frame(true, 0, opClose, true, closePayload(StatusNormalClosure, "")))
			if got := srv.nextClosed(t); CloseStatus(got.err) != StatusNormalClosure {
				t.Errorf("OnClose: %v; want the peer's 1000", got.err)
			}
		})
	}
}

// TestNoPongWhenFailing: once we fail the connection (here for a frame
// with a reserved bit), a ping that follows gets no pong: after our close
// frame comes the end of the stream (RFC 6455, section 7.1.7).
func TestNoPongWhenFailing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := newConn(a, false, &ConnOptions{CloseTimeout: time.Second}, "", nil, nil)
		defer c.CloseNow()
		go c.Read(context.Background())
		b.Write(append(frame(true, 2, opText, true, []byte("x")), frame(true, 0, opPing, true, []byte("p"))...))
		br := bufio.NewReader(b)
		if op, p, _, err := readWire(br); err != nil || op != opClose || CloseStatus(&CloseError{Code: StatusCode(uint16(p[0])<<8 | uint16(p[1]))}) != StatusProtocolError {
			t.Fatalf("want our close frame with 1002, got %v %q %v", op, p, err)
		}
		if op, p, _, err := readWire(br); err == nil {
			t.Fatalf("after our failing close frame: %v %q; want the end of the stream", op, p)
		}
	})
}
