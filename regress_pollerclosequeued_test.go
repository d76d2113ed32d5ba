//go:build linux

package websocket

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRegressionPollerCloseBehindQueuedData: Close, from a goroutine, on a
// connection a Poller serves whose write queue holds data the peer has not
// read yet, queues its close frame behind that data. When the peer's close
// frame then came (both ends closing at once), Close returned nil and
// closed the socket at once: the queued data and our close frame never
// left, and the peer saw the stream end inside a frame, without a close
// frame (1006). Close must wait for its frame to go out, and report a
// timeout, not success, when the peer reads nothing and it cannot.
func TestRegressionPollerCloseBehindQueuedData(t *testing.T) {
	for _, tc := range []struct {
		name      string
		peerReads bool
	}{
		{name: "the peer reads on", peerReads: true},
		{name: "the peer reads nothing", peerReads: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, nc := queuedServerConn(t, ConnOptions{CloseTimeout: 500 * time.Millisecond}, 16<<10)
			q := fillUntilRefused(t, server)
			closeErr := make(chan error, 1)
			go func() { closeErr <- server.Close(StatusNormalClosure, "server bye") }()
			awaitFlag(t, server, flagCloseQueued, "Close to queue its frame")
			if q.queued.Load() == 0 {
				t.Fatal("the queue emptied before the close frame joined it")
			}
			peerClose := frame(true, 0, opClose, true, closePayload(StatusNormalClosure, "client bye"))
			if _, err := nc.Write(peerClose); err != nil {
				t.Fatal(err)
			}
			if !tc.peerReads {
				err := await(t, closeErr, "Close")
				if !errors.Is(err, errCloseSendTimeout) {
					t.Errorf("Close with its frame stuck behind unread data returned %v, want %v", err, errCloseSendTimeout)
				}
				await(t, server.Done(), "the server Conn's end")
				return
			}
			data := readToCloseFrame(t, bufio.NewReaderSize(nc, 64<<10))
			if err := await(t, closeErr, "Close"); err != nil {
				t.Errorf("Close: %v", err)
			}
			t.Logf("the peer read %d bytes of data, then the close frame", data)
			await(t, server.Done(), "the server Conn's end")
		})
	}
}

// queuedServerConn returns a connection a one-loop Poller serves, with
// opts and a socket send buffer of bufSize bytes, and the raw client
// socket of its peer, whose receive buffer has bufSize bytes too and which
// has read nothing.
func queuedServerConn(t *testing.T, opts ConnOptions, bufSize int) (*Conn, net.Conn) {
	t.Helper()
	p, err := NewPoller(PollerOptions{Loops: 1, OnMessage: func(*Conn, MessageType, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	served := make(chan *Conn, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: opts})
		if err != nil {
			return
		}
		if err := p.Serve(c); err != nil {
			t.Errorf("Serve: %v", err)
		}
		served <- c
	}))
	ts.Listener = sendBufferListener{ts.Listener, bufSize}
	ts.Start()
	t.Cleanup(ts.Close)
	nc := rawUpgrade(t, strings.TrimPrefix(ts.URL, "http://"), bufSize)
	t.Cleanup(func() { nc.Close() })
	c := await(t, served, "the served Conn")
	if c.wr.queue.Load() == nil {
		t.Fatal("the Poller serves the connection from a goroutine, not a loop")
	}
	return c, nc
}

// awaitFlag waits, bounded, until c has flag f.
func awaitFlag(t *testing.T, c *Conn, f uint32, what string) {
	t.Helper()
	awaitCond(t, what, func() bool { return c.flags.has(f) })
}

// readToCloseFrame reads frames until a close frame and returns the data
// bytes before it; any error before the close frame fails t.
func readToCloseFrame(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	data := 0
	for {
		h, payload, err := readWireFrame(br)
		if err != nil {
			t.Fatalf("the stream ended after %d bytes of data, without a close frame: %v", data, err)
		}
		if h.Op == opClose {
			return data
		}
		data += len(payload)
	}
}
