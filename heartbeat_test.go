package websocket

import (
	"context"
	"errors"
	"net"
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
