// Package poll is the epoll instance a Poller's loop waits on: connection
// sockets registered edge-triggered for both directions, and an eventfd
// that wakes the loop. It knows nothing of WebSockets.
package poll

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
)

// WakeToken is the token of the wake-up eventfd; sockets use other tokens.
const WakeToken = 0

// edgeTriggered is EPOLLET as the unsigned bit it is in the kernel ABI;
// the syscall package declares it negative on some ports and positive on
// others, which no single expression of it converts on all of them.
const edgeTriggered = 1 << 31

// Event is one readiness report: the token a socket was added with, and
// what it is ready for.
type Event struct {
	Token    uint64
	Readable bool // data, the end of the stream, or an error to read
	Writable bool // room in the send buffer
	// Hangup: the peer shut down its sending side, or the socket failed.
	// Edge-triggered, this is said once, possibly with the last data: a
	// reader must go on to the end of the stream, as no event will follow.
	Hangup bool
}

// Epoll is an epoll instance with its wake-up eventfd. The epoll fd is
// itself registered with the runtime's poller, so a Wait parks like any
// goroutine blocked on a socket; blocking in epoll_wait instead would
// hold the caller's P in a system call.
type Epoll struct {
	fd   int
	wake int

	file    *os.File
	rc      syscall.RawConn
	waitFn  func(fd uintptr) bool
	waitN   int
	waitErr error
	events  [64]syscall.EpollEvent
}

// New makes an epoll instance and its eventfd.
func New() (*Epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("eventfd2: %w", errno)
	}
	e := &Epoll{fd: fd, wake: int(wake)}
	if err := e.Add(e.wake, WakeToken); err != nil {
		syscall.Close(e.wake)
		syscall.Close(fd)
		return nil, err
	}
	// Without registration in the runtime's poller, Wait falls back to
	// blocking in epoll_wait.
	if syscall.SetNonblock(fd, true) == nil {
		e.file = os.NewFile(uintptr(fd), "epoll")
		if rc, err := e.file.SyscallConn(); err == nil {
			e.rc = rc
			e.waitFn = e.pollNow
		}
	}
	return e, nil
}

// Add watches fd, edge-triggered, for reading and writing, under token.
func (e *Epoll) Add(fd int, token uint64) error {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | edgeTriggered,
		Fd:     int32(uint32(token)),
		Pad:    int32(uint32(token >> 32)),
	}
	if err := syscall.EpollCtl(e.fd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// pollNow runs inside RawConn.Read: it collects ready events without
// waiting, and false asks the runtime to park until there are some.
func (e *Epoll) pollNow(fd uintptr) bool {
	e.waitN, e.waitErr = syscall.EpollWait(int(fd), e.events[:], 0)
	return e.waitN > 0 || e.waitErr != nil && e.waitErr != syscall.EINTR
}

// Wait waits for events and passes each to f, which must not call Wait.
func (e *Epoll) Wait(f func(Event)) error {
	n, err := e.wait()
	if err != nil {
		if err == syscall.EINTR {
			return nil
		}
		return err
	}
	for i := range e.events[:n] {
		ev := &e.events[i]
		f(Event{
			Token:    uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32,
			Readable: ev.Events&^syscall.EPOLLOUT != 0,
			Writable: ev.Events&syscall.EPOLLOUT != 0,
			Hangup:   ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0,
		})
	}
	return nil
}

func (e *Epoll) wait() (int, error) {
	if e.rc != nil {
		if err := e.rc.Read(e.waitFn); err == nil {
			return e.waitN, e.waitErr
		}
		e.rc = nil // not pollable after all: block in epoll_wait instead
	}
	return syscall.EpollWait(e.fd, e.events[:], -1)
}

// Wake makes the next or current Wait report WakeToken.
func (e *Epoll) Wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	syscall.Write(e.wake, one[:])
}

// Drain consumes the wake-ups reported so far.
func (e *Epoll) Drain() {
	var buf [8]byte
	syscall.Read(e.wake, buf[:])
}

// Close releases the epoll instance and the eventfd.
func (e *Epoll) Close() error {
	syscall.Close(e.wake)
	if e.file != nil {
		return e.file.Close()
	}
	return syscall.Close(e.fd)
}
