package websocket

import (
	"net"
	"net/netip"
	"time"
)

// detachedConn takes the place of a connection's net.Conn once a Poller's
// loop owns its socket (poll.Detach closed the net.Conn). Keeping the
// closed net.Conn would keep its descriptor wrapper and its two addresses,
// about 300 bytes per idle connection, only to answer LocalAddr and
// RemoteAddr; this keeps the TCP addresses in 64 bytes and makes a
// net.Addr when one is asked for. All I/O fails with net.ErrClosed: the
// loop reads and writes the socket itself.
type detachedConn struct {
	local, remote netip.AddrPort
	// Addresses that are not TCP (Unix sockets) are kept as they are.
	localAddr, remoteAddr net.Addr
}

// detach returns what stands for nc once its socket was detached.
func detach(nc net.Conn) *detachedConn {
	d := &detachedConn{localAddr: nc.LocalAddr(), remoteAddr: nc.RemoteAddr()}
	l, lok := d.localAddr.(*net.TCPAddr)
	r, rok := d.remoteAddr.(*net.TCPAddr)
	if lok && rok && l.Zone == "" && r.Zone == "" {
		d.local, d.remote = l.AddrPort(), r.AddrPort()
		d.localAddr, d.remoteAddr = nil, nil
	}
	return d
}

func (d *detachedConn) LocalAddr() net.Addr  { return d.addr(d.localAddr, d.local) }
func (d *detachedConn) RemoteAddr() net.Addr { return d.addr(d.remoteAddr, d.remote) }

func (d *detachedConn) addr(kept net.Addr, ap netip.AddrPort) net.Addr {
	if kept != nil {
		return kept
	}
	return net.TCPAddrFromAddrPort(ap)
}

func (d *detachedConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (d *detachedConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (d *detachedConn) Close() error                     { return nil } // closed by poll.Detach
func (d *detachedConn) SetDeadline(time.Time) error      { return net.ErrClosed }
func (d *detachedConn) SetReadDeadline(time.Time) error  { return net.ErrClosed }
func (d *detachedConn) SetWriteDeadline(time.Time) error { return net.ErrClosed }
