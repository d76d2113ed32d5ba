package websocket

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// freezingConn is a connection whose writes, once frozen, block until it
// is closed, deadlines or not: a socket whose peer stopped reading, with
// no timeout to break the write.
type freezingConn struct {
	net.Conn
	frozen      chan struct{}
	freezeOnce  sync.Once
	closed      chan struct{}
	closeOnce   sync.Once
	blocked     chan struct{} // closed when a write blocks
	blockedOnce sync.Once
}

func newFreezingConn(nc net.Conn) *freezingConn {
	return &freezingConn{Conn: nc, frozen: make(chan struct{}), closed: make(chan struct{}), blocked: make(chan struct{})}
}

func (c *freezingConn) freeze() { c.freezeOnce.Do(func() { close(c.frozen) }) }

func (c *freezingConn) Write(p []byte) (int, error) {
	select {
	case <-c.frozen:
		c.blockedOnce.Do(func() { close(c.blocked) })
		<-c.closed
		return 0, net.ErrClosed
	default:
		return c.Conn.Write(p)
	}
}

func (c *freezingConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// talkerAndWriter serves two WebSockets: /talker sends a message its
// client leaves unread, and both read until the end.
func talkerAndWriter(t *testing.T) http.HandlerFunc {
	return h2Handler(t, nil, func(c *Conn, r *http.Request) {
		if r.URL.Path == "/talker" {
			c.Write(context.Background(), MessageBinary, make([]byte, 10000))
		}
		c.Read(context.Background())
	})
}

// TestHTTP2CloseNowBehindStalledConnection: CloseNow of a client's
// WebSocket over HTTP/2 returns, whatever the connection's writes do. With
// data left unread, closing the stream gives the connection's flow control
// that credit, under the lock of the connection's writes; a write of
// another WebSocket stuck on a server that stopped reading holds that lock.
// CloseNow waited for it until the connection closed: here, until the
// other WebSocket did; with a real dead server, until TCP gave up.
func TestHTTP2CloseNowBehindStalledConnection(t *testing.T) {
	h2Modes(t, func(t *testing.T, useTLS bool) {
		srv := newH2Server(t, useTLS, talkerAndWriter(t))
		var fc *freezingConn
		dopts := srv.dopts
		dopts.HTTP2 = new(HTTP2Transport)
		dopts.HTTP2Only = true
		dopts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			fc = newFreezingConn(nc)
			return fc, nil
		}
		ctx := testCtx(t)
		talker, _, err := dialTest(t, ctx, srv.url+"/talker", &dopts)
		if err != nil {
			t.Fatal(err)
		}
		writer, _, err := dialTest(t, ctx, srv.url+"/writer", &dopts)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.CloseNow()
		// The talker's message arrives, unread.
		if err := talker.nc.(*streamConn).waitReadable(); err != nil {
			t.Fatal(err)
		}
		fc.freeze()
		go writer.Write(ctx, MessageBinary, make([]byte, 100000))
		await(t, fc.blocked, "the writer's write to block")
		done := make(chan struct{})
		go func() {
			talker.CloseNow()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(maxBodyCloseWait + 5*time.Second):
			t.Fatal("CloseNow has not returned while the HTTP/2 connection's writes are stuck")
		}
		await(t, talker.Done(), "the talker's Done")
	})
}
