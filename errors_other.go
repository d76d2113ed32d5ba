//go:build !windows

package websocket

import "syscall"

// lostConnErrnos are the errors for a connection reset or aborted under
// us, written to after the peer shut it, or given up by TCP (keepalive or
// retransmission timeout, an unreachable host).
var lostConnErrnos = []syscall.Errno{
	syscall.ECONNRESET,
	syscall.ECONNABORTED,
	syscall.EPIPE,
	syscall.ETIMEDOUT,
	syscall.EHOSTUNREACH,
}
