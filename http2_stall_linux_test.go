package websocket

import (
	"context"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHTTP2WriteByteTimeout: a connection whose writes make no progress
// for HTTP2Transport.WriteByteTimeout is closed, and every WebSocket on it
// ends: a server host that stopped reading its socket would otherwise
// hold them until TCP gives up. A proxy that stops reading what the client
// sends stands for that host.
func TestHTTP2WriteByteTimeout(t *testing.T) {
	srv := newH2Server(t, false, talkerAndWriter(t))
	p := newFreezingProxy(t, srv.Listener.Addr().String())
	dopts := DialOptions{
		HTTP2:     &HTTP2Transport{WriteByteTimeout: 300 * time.Millisecond},
		HTTP2Only: true,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
				})
			}}
			return d.DialContext(ctx, network, addr)
		},
	}
	ctx := testCtx(t)
	url := "ws://" + p.ln.Addr().String()
	talker, _, err := dialTest(t, ctx, url+"/talker", &dopts)
	if err != nil {
		t.Fatal(err)
	}
	writer, _, err := dialTest(t, ctx, url+"/writer", &dopts)
	if err != nil {
		t.Fatal(err)
	}
	p.freeze()
	wrote := make(chan error, 1)
	go func() {
		for {
			if err := writer.Write(ctx, MessageBinary, make([]byte, 100000)); err != nil {
				wrote <- err
				return
			}
		}
	}()
	select {
	case err := <-wrote:
		if CloseStatus(err) != StatusAbnormalClosure {
			t.Errorf("the writer's Write: %v; want the connection gone (1006)", err)
		}
	case <-ctx.Done():
		t.Fatal("the writes stuck on a server that reads nothing never failed")
	}
	await(t, writer.Done(), "the writer to end")
	// The talker's unread message came before the end: then the end.
	if _, _, err := talker.Read(ctx); err != nil {
		t.Fatalf("the talker's message: %v", err)
	}
	if _, _, err := talker.Read(ctx); CloseStatus(err) != StatusAbnormalClosure {
		t.Errorf("the talker, on the same connection: %v; want it gone (1006)", err)
	}
}

// freezingProxy forwards TCP to addr until freeze, after which it stops
// reading what clients send, with small receive buffers so that their
// writes soon stall.
type freezingProxy struct {
	ln     net.Listener
	frozen chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezingProxy(t *testing.T, addr string) *freezingProxy {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln, frozen: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		p.close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			wg.Add(2)
			go func() {
				defer wg.Done()
				io.Copy(c, s)
				c.Close()
			}()
			go func() {
				defer wg.Done()
				p.forward(s, c)
			}()
		}
	}()
	return p
}

// forward copies what the client c sends to s until the proxy freezes.
func (p *freezingProxy) forward(s, c net.Conn) {
	buf := make([]byte, 4096)
	for {
		select {
		case <-p.frozen:
			return
		default:
		}
		n, err := c.Read(buf)
		if n > 0 {
			s.Write(buf[:n])
		}
		if err != nil {
			s.Close()
			return
		}
	}
}

func (p *freezingProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func (p *freezingProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}
