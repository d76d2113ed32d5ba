package websocket

import "syscall"

// lostConnErrnos are Windows' errors for a connection lost under us:
// Winsock's reset and abort, and the ones an overlapped read or write on a
// socket reports when the connection is reset (the network name deleted)
// or the peer is gone (a broken pipe). syscall.ECONNRESET does not match
// them there.
var lostConnErrnos = []syscall.Errno{
	10060, // WSAETIMEDOUT, which package syscall does not name
	syscall.WSAECONNRESET,
	syscall.WSAECONNABORTED,
	syscall.ERROR_NETNAME_DELETED,
	syscall.ERROR_BROKEN_PIPE,
}
