package websocket

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
)

// unsentBytes returns how many bytes of ours the kernel still holds for
// the peer (not sent yet, or sent and not acknowledged), or -1 where that
// cannot be known (HTTP/2 streams, wrapped conns). The heartbeat counts a
// fall in it as the peer taking our data: what sits in the socket buffers
// ahead of a ping must be read before the ping is.
func (c *Conn) unsentBytes() int {
	c.closeMu.Lock()
	rc, nc := c.rd.raw, c.nc
	c.closeMu.Unlock()
	if rc == nil {
		rc = rawConnBelowTLS(nc)
	}
	if rc == nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) {
		var v int32
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v)))
		if errno == 0 {
			n = int(v)
		}
	})
	return n
}

// rawConnBelowTLS returns the socket under nc's layers of TLS, if nc has
// TLS over a socket.
func rawConnBelowTLS(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return nil
	}
	inner := tc.NetConn()
	for t, ok := inner.(*tls.Conn); ok; t, ok = inner.(*tls.Conn) {
		inner = t.NetConn()
	}
	sc, ok := inner.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
