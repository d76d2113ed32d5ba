package websocket

import "syscall"

// lostConnErrnos are Windows' errors for a connection lost under us, the
// counterparts of errors_other.go's: Winsock's codes, which a socket call
// that fails at once returns and WSAGetOverlappedResult reports for an
// overlapped one (as package net gets them), and the Win32 codes the same
// NTSTATUS maps to when an overlapped operation's result is read with
// GetOverlappedResult or from the completion port (older Go, other
// transports). syscall.ECONNRESET and the rest do not match them there.
var lostConnErrnos = []syscall.Errno{
	// Reset or aborted (ECONNRESET, ECONNABORTED): STATUS_CONNECTION_RESET
	// and STATUS_CONNECTION_ABORTED.
	syscall.WSAECONNRESET,
	syscall.WSAECONNABORTED,
	syscall.ERROR_NETNAME_DELETED,
	1236, // ERROR_CONNECTION_ABORTED
	// Given up by TCP (ETIMEDOUT): retransmission timed out
	// (STATUS_IO_TIMEOUT, "the semaphore timeout period has expired"), or
	// keepalive found the peer gone (WSAENETRESET).
	10060, // WSAETIMEDOUT, which package syscall does not name
	10052, // WSAENETRESET
	121,   // ERROR_SEM_TIMEOUT
	// An unreachable host (EHOSTUNREACH).
	10065, // WSAEHOSTUNREACH
	1232,  // ERROR_HOST_UNREACHABLE
	// Written to after the sending side was shut (EPIPE). On Windows
	// that is only ever our own shutdown (a peer's end reads as EOF or a
	// reset), a write after our close frame; on Linux EPIPE covers both,
	// and is counted so: the two report the same.
	10058, // WSAESHUTDOWN
	syscall.ERROR_BROKEN_PIPE,
}
