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
// RemoteAddr; a TCP connection's addresses fit in 64 bytes here, and a
// net.Addr is made when one is asked for. All I/O fails with
// net.ErrClosed: the loop reads and writes the socket itself.
type detachedConn struct {
	detachedIO
	local, remote netip.AddrPort
}

// detachedAddrs is detachedConn for addresses that are not plain TCP ones
// (Unix sockets, IPv6 zones): they are kept as they are.
type detachedAddrs struct {
	detachedIO
	local, remote net.Addr
}

// detach returns what stands for nc once its socket was detached.
func detach(nc net.Conn) net.Conn {
	local, remote := nc.LocalAddr(), nc.RemoteAddr()
	l, lok := local.(*net.TCPAddr)
	r, rok := remote.(*net.TCPAddr)
	if lok && rok && l.Zone == "" && r.Zone == "" {
		return &detachedConn{local: l.AddrPort(), remote: r.AddrPort()}
	}
	return &detachedAddrs{local: local, remote: remote}
}

func (d *detachedConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(d.local) }
func (d *detachedConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(d.remote) }

func (d *detachedAddrs) LocalAddr() net.Addr  { return d.local }
func (d *detachedAddrs) RemoteAddr() net.Addr { return d.remote }

// detachedIO is the I/O of a detached connection: none.
type detachedIO struct{}

func (detachedIO) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (detachedIO) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (detachedIO) Close() error                     { return nil } // closed by poll.Detach
func (detachedIO) SetDeadline(time.Time) error      { return net.ErrClosed }
func (detachedIO) SetReadDeadline(time.Time) error  { return net.ErrClosed }
func (detachedIO) SetWriteDeadline(time.Time) error { return net.ErrClosed }
