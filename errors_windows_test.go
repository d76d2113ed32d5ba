package websocket

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// TestPeerGoneWindowsErrnos: each error Windows reports for a connection
// lost under us is told from the others, as on Linux its counterpart is:
// Winsock's own codes (a socket call that fails at once, and what
// WSAGetOverlappedResult reports for an overlapped one, as package net
// gets them since Go 1.25), and the Win32 codes an overlapped operation's
// NTSTATUS maps to through GetOverlappedResult.
func TestPeerGoneWindowsErrnos(t *testing.T) {
	opError := func(op string, errno syscall.Errno) error {
		return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError(op, errno)}
	}
	cases := []struct {
		name  string
		errno syscall.Errno
		gone  bool
	}{
		// Linux: ECONNRESET, ECONNABORTED.
		{"WSAECONNRESET", 10054, true},
		{"WSAECONNABORTED", 10053, true},
		{"ERROR_NETNAME_DELETED (STATUS_CONNECTION_RESET)", 64, true},
		{"ERROR_CONNECTION_ABORTED (STATUS_CONNECTION_ABORTED)", 1236, true},
		// Linux: ETIMEDOUT, from retransmission or keepalive.
		{"WSAETIMEDOUT", 10060, true},
		{"WSAENETRESET (keepalive failed)", 10052, true},
		{"ERROR_SEM_TIMEOUT (STATUS_IO_TIMEOUT)", 121, true},
		// Linux: EHOSTUNREACH.
		{"WSAEHOSTUNREACH", 10065, true},
		{"ERROR_HOST_UNREACHABLE (STATUS_HOST_UNREACHABLE)", 1232, true},
		// Linux: EPIPE, a write after the sending side was shut.
		{"WSAESHUTDOWN", 10058, true},
		{"ERROR_BROKEN_PIPE", 109, true},
		// Not a lost connection.
		{"WSAEWOULDBLOCK", 10035, false},
		{"WSAEINVAL", 10022, false},
		{"WSAENOTSOCK", 10038, false},
		{"ERROR_OPERATION_ABORTED", 995, false},
	}
	for _, tc := range cases {
		for _, op := range []string{"wsarecv", "wsasend"} {
			if got := peerGone(opError(op, tc.errno)); got != tc.gone {
				t.Errorf("%s %s (%d): peerGone = %v, want %v", op, tc.name, uint(tc.errno), got, tc.gone)
			}
		}
	}
}
