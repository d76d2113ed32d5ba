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
		la, ra := l.AddrPort(), r.AddrPort()
		if lv4, ok := ip4PortOf(la); ok {
			if rv4, ok := ip4PortOf(ra); ok {
				return &detachedConn4{local: lv4, remote: rv4}
			}
		}
		return &detachedConn{local: la, remote: ra}
	}
	return &detachedAddrs{local: local, remote: remote}
}

// detachedConn4 is detachedConn for the usual IPv4 connection, in 16
// bytes instead of 64.
type detachedConn4 struct {
	detachedIO
	local, remote ip4Port
}

// ip4Port is an IPv4 address and port; mapped records that the address
// came as IPv4-mapped IPv6, so that the net.Addr made from it is the one
// the connection had.
type ip4Port struct {
	ip     [4]byte
	port   uint16
	mapped bool
}

// ip4PortOf returns ap compactly if it is an IPv4 address.
func ip4PortOf(ap netip.AddrPort) (ip4Port, bool) {
	a := ap.Addr()
	if !a.Unmap().Is4() {
		return ip4Port{}, false
	}
	return ip4Port{ip: a.Unmap().As4(), port: ap.Port(), mapped: a.Is4In6()}, true
}

func (a ip4Port) tcpAddr() net.Addr {
	ip := netip.AddrFrom4(a.ip)
	if a.mapped {
		ip = netip.AddrFrom16(ip.As16())
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, a.port))
}

func (d *detachedConn4) LocalAddr() net.Addr  { return d.local.tcpAddr() }
func (d *detachedConn4) RemoteAddr() net.Addr { return d.remote.tcpAddr() }

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
