package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// NetConn wraps c as a net.Conn that carries a byte stream: each Write
// sends one message of type typ, and Read returns the payload of
// successive messages back to back. Messages of the other type make Read
// fail. The peer closing normally (1000 or 1001) reads as io.EOF.
//
// Deadlines set on the returned conn bound its reads and writes; ctx
// bounds them all and its end closes the connection. Close closes the
// WebSocket with 1000.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	return &netConn{c: c, typ: typ, ctx: ctx}
}

type netConn struct {
	c   *Conn
	typ MessageType
	ctx context.Context

	readMu sync.Mutex
	reader io.Reader
	eof    bool

	deadlineMu    sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

var _ net.Conn = (*netConn)(nil)

// deadlineCtx bounds one operation by the conn's ctx and a deadline.
func (n *netConn) deadlineCtx(d time.Time) (context.Context, context.CancelFunc) {
	if d.IsZero() {
		return context.WithCancel(n.ctx)
	}
	return context.WithDeadline(n.ctx, d)
}

func (n *netConn) Read(p []byte) (int, error) {
	n.readMu.Lock()
	defer n.readMu.Unlock()
	if n.eof {
		return 0, io.EOF
	}
	n.deadlineMu.Lock()
	ctx, cancel := n.deadlineCtx(n.readDeadline)
	n.deadlineMu.Unlock()
	defer cancel()
	for {
		if n.reader == nil {
			typ, r, err := n.c.Reader(ctx)
			if err != nil {
				return 0, n.readError(err)
			}
			if typ != n.typ {
				n.c.Close(StatusUnsupportedData, "unexpected message type")
				return 0, errors.New("websocket: NetConn: received a " + typ.String() + " message")
			}
			n.reader = r
		}
		// The message reader keeps the ctx it was made with; this call's
		// deadline applies.
		n.reader.(*messageReader).ctx = ctx
		k, err := n.reader.Read(p)
		if err == io.EOF {
			n.reader = nil
			if k > 0 {
				return k, nil
			}
			continue
		}
		if err != nil {
			return k, n.readError(err)
		}
		return k, nil
	}
}

func (n *netConn) readError(err error) error {
	switch CloseStatus(err) {
	case StatusNormalClosure, StatusGoingAway:
		n.eof = true
		return io.EOF
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return err
}

func (n *netConn) Write(p []byte) (int, error) {
	n.deadlineMu.Lock()
	ctx, cancel := n.deadlineCtx(n.writeDeadline)
	n.deadlineMu.Unlock()
	defer cancel()
	if err := n.c.Write(ctx, n.typ, p); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, os.ErrDeadlineExceeded
		}
		return 0, err
	}
	return len(p), nil
}

func (n *netConn) Close() error { return n.c.Close(StatusNormalClosure, "") }

func (n *netConn) LocalAddr() net.Addr  { return n.c.LocalAddr() }
func (n *netConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

func (n *netConn) SetDeadline(t time.Time) error {
	n.deadlineMu.Lock()
	n.readDeadline, n.writeDeadline = t, t
	n.deadlineMu.Unlock()
	return nil
}

func (n *netConn) SetReadDeadline(t time.Time) error {
	n.deadlineMu.Lock()
	n.readDeadline = t
	n.deadlineMu.Unlock()
	return nil
}

func (n *netConn) SetWriteDeadline(t time.Time) error {
	n.deadlineMu.Lock()
	n.writeDeadline = t
	n.deadlineMu.Unlock()
	return nil
}
