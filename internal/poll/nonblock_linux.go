//go:build !race

package poll

import (
	"syscall"
	"unsafe"
)

// ReadNonblock reads from fd, which must be in non-blocking mode.
//
// It enters the kernel without the scheduler's system call bookkeeping
// (RawSyscall), which a call that never sleeps does not need. More than
// the bookkeeping's own cost, that spares a wake-up: when a call outlasts
// a scheduler tick (20 µs; a 64 KiB send on loopback takes about that)
// while every other P is busy, the runtime hands the caller's P to another
// thread, which finds nothing to do and sleeps again, and the caller must
// take a P back when the call returns.
//
// Race-detector builds use syscall.Read, whose annotations tell the
// detector that data passed through the descriptor.
func ReadNonblock(fd int, p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// WriteNonblock writes to fd, which must be in non-blocking mode, as
// ReadNonblock reads.
func WriteNonblock(fd int, p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}
