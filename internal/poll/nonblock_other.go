//go:build unix && (!linux || race)

package poll

import "syscall"

// ReadNonblock reads from fd, which must be in non-blocking mode. On
// Linux outside race-detector builds it skips the scheduler's system call
// bookkeeping (nonblock_linux.go); here it is syscall.Read.
func ReadNonblock(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

// WriteNonblock writes to fd, which must be in non-blocking mode; here it
// is syscall.Write.
func WriteNonblock(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }
