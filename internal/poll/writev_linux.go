package poll

import (
	"syscall"
	"unsafe"
)

// WritevNonblock writes iov's buffers to fd, which must be in non-blocking
// mode, as ReadNonblock reads. Race-detector builds
// use it too: writev carries no annotations in package syscall either.
func WritevNonblock(fd int, iov []syscall.Iovec) (int, error) {
	if len(iov) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}
