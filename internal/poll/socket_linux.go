package poll

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// ErrWouldBlock is returned by a Socket's I/O when the operation would
// have to wait: a Socket never waits.
var ErrWouldBlock = errors.New("poll: operation would block")

// Socket is a connection's socket taken out of the runtime's poller, for a
// loop that waits on an epoll instance of its own. A socket the runtime
// watches costs a descriptor record outside the heap, a finalizer and the
// net package's wrappers, about 700 bytes that an idle connection served by
// a loop never uses; a Socket is its descriptor and a reference count.
//
// Its I/O never waits, and its descriptor is closed only once no Read,
// Write or Control runs on it, so a number the kernel reuses for another
// connection is never read or written by mistake.
type Socket struct {
	fd int
	// state holds closing in bit 0 and the number of calls using fd
	// above it.
	state atomic.Int64
}

const (
	sockClosing = 1
	sockUser    = 2
)

// Detach takes nc's socket out of the runtime's poller: it duplicates the
// descriptor, then closes nc, which unregisters nc's and closes its number
// while the socket lives on through the duplicate. nc must be a TCP or
// Unix connection with no I/O in progress; it must not be used afterwards
// (its addresses still read).
func Detach(nc net.Conn) (*Socket, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("poll: connection has no socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	nc.Close()
	return &Socket{fd: fd}, nil
}

// dupCloexec duplicates fd with the close-on-exec flag, as the runtime
// does for every descriptor it opens. The duplicate shares the open file
// description, so the socket stays non-blocking.
func dupCloexec(fd int) (int, error) {
	for {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
}

// use marks a call using the descriptor; false once Close was called.
func (s *Socket) use() bool {
	for {
		v := s.state.Load()
		if v&sockClosing != 0 {
			return false
		}
		if s.state.CompareAndSwap(v, v+sockUser) {
			return true
		}
	}
}

// done ends a call of use, closing the descriptor if Close came meanwhile
// and this was the last call.
func (s *Socket) done() {
	if s.state.Add(-sockUser) == sockClosing {
		syscall.Close(s.fd)
	}
}

// Close closes the socket once no call uses it. Closing the last
// descriptor of a socket also removes it from every epoll instance.
func (s *Socket) Close() error {
	v := s.state.Or(sockClosing)
	if v&sockClosing != 0 {
		return net.ErrClosed
	}
	if v == 0 {
		return syscall.Close(s.fd)
	}
	return nil // the last call in progress closes it
}

// CloseWrite shuts down the sending side: the peer reads the end of the
// stream after what was sent.
func (s *Socket) CloseWrite() error {
	if !s.use() {
		return net.ErrClosed
	}
	defer s.done()
	return syscall.Shutdown(s.fd, syscall.SHUT_WR)
}

// Control runs f with the descriptor, which stays open meanwhile.
func (s *Socket) Control(f func(fd uintptr)) error {
	if !s.use() {
		return net.ErrClosed
	}
	defer s.done()
	f(uintptr(s.fd))
	return nil
}

// Acquire returns the descriptor, which stays open until Release, for
// calls made outside Read and Write (a batch of them through io_uring);
// false once Close was called.
func (s *Socket) Acquire() (fd int, ok bool) {
	if !s.use() {
		return -1, false
	}
	return s.fd, true
}

// Release ends an Acquire.
func (s *Socket) Release() { s.done() }

// Read runs f with the descriptor once; f must read without waiting. If
// f reports false (it would wait), Read returns ErrWouldBlock: a Socket
// cannot wait for readiness, its loop does.
func (s *Socket) Read(f func(fd uintptr) bool) error { return s.run(f) }

// Write is Read for writing.
func (s *Socket) Write(f func(fd uintptr) bool) error { return s.run(f) }

func (s *Socket) run(f func(fd uintptr) bool) error {
	if !s.use() {
		return net.ErrClosed
	}
	defer s.done()
	if !f(uintptr(s.fd)) {
		return ErrWouldBlock
	}
	return nil
}

// Socket is a syscall.RawConn, which is how the connection's reads and
// writes reach it.
var _ syscall.RawConn = (*Socket)(nil)
