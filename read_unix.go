//go:build unix

package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/fullduplex/websocket/internal/bpool"
)

// An idle connection should hold no read buffer, yet a blocked Read needs
// somewhere to put the bytes. On Unix the reader waits for readability
// through the runtime poller with syscall.RawConn and takes a pooled
// buffer only once data is there: exactly the syscalls net.Conn.Read makes,
// with the buffer acquired after the wait instead of before.

// initRaw remembers the raw socket of plain TCP and Unix connections.
func (r *reader) initRaw(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	r.raw = rc
}

// rawReadFunc returns the callback of RawConn.Read, which reports false
// to have the poller wait. It is the deepest point of a blocked read, so
// it is a closure rather than a method value (whose wrapper would add a
// frame) and takes the pooled buffer itself rather than through acquire:
// a goroutine that echoes messages stays within its first 2 KiB of stack
// only while its deepest call does (see writeFrame).
func (r *reader) rawReadFunc(st *rawRead) func(fd uintptr) bool {
	return func(fd uintptr) bool {
		if r.buf == nil {
			r.bufp = bpool.GetRead()
			r.buf = *r.bufp
			r.r, r.w = 0, 0
		}
		for {
			n, err := syscall.Read(int(fd), r.buf[r.w:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				r.releaseIfIdle()
				return false
			case err != nil:
				st.n, st.err = 0, err
			case n == 0:
				st.n, st.err = 0, io.EOF
			default:
				st.n, st.err = n, nil
			}
			return true
		}
	}
}

// fillIdle reads into an empty buffer through the poller; the caller has
// seen that the connection has a raw socket. It is the wait between two
// messages, the deepest call of a goroutine that echoes them (see
// writeFrame), so next calls it without fill in between and what it does
// after the read is in rawReadError.
func (r *reader) fillIdle(ctx context.Context) error {
	r.releaseIfIdle()
	st := r.rawRd
	if st == nil {
		st = &rawRead{}
		st.fn = r.rawReadFunc(st)
		r.rawRd = st
	}
	st.n, st.err = 0, nil
	stop := r.watch(ctx)
	err := r.raw.Read(st.fn)
	r.unwatch(stop)
	if st.n > 0 {
		r.w += st.n
		return nil
	}
	return interruptCause(ctx, rawReadError(err, st.err))
}

// rawReadError is what a read through RawConn that read nothing reports:
// err from RawConn.Read, else readErr from the read itself.
func rawReadError(err, readErr error) error {
	if err == nil {
		err = readErr
	}
	if err != nil && errors.Is(err, syscall.ECONNRESET) {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// trySend writes b with one non-blocking system call where the connection
// has a raw socket, and reports errWouldBlock when the socket is full (or
// there is no raw socket).
func (w *writer) trySend(b []byte) (int, error) {
	rc := w.c.rd.raw
	if rc == nil {
		return 0, errWouldBlock
	}
	s := sendPool.Get().(*sendState)
	s.b, s.n, s.err = b, 0, nil
	err := w.tryRaw(rc, s.fn)
	n, werr := s.n, s.err
	s.b = nil // let the buffer go
	sendPool.Put(s)
	if err == nil {
		err = werr
	}
	if n < 0 {
		n = 0
	}
	if err == syscall.EAGAIN {
		return n, errWouldBlock
	}
	return n, err
}

// sendState is one trySend attempt. Its callback is bound once, when the
// pool makes it: a closure made per attempt would escape into
// RawConn.Write and cost allocations for every pong a reader answers.
type sendState struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool // write, bound once
}

var sendPool = sync.Pool{New: func() any {
	s := new(sendState)
	s.fn = s.write
	return s
}}

// write runs inside RawConn.Write: one attempt, never a wait.
func (s *sendState) write(fd uintptr) bool {
	for {
		s.n, s.err = syscall.Write(int(fd), s.b)
		if s.err != syscall.EINTR {
			return true
		}
	}
}

// tryRaw runs fn, one write attempt that never waits, on the socket.
// RawConn.Write refuses to run it once the write deadline has passed, and
// with ConnOptions.WriteTimeout set, the deadline the last blocking write
// left behind has always passed once the connection idled that long. It
// bounds a wait this attempt does not make, so it is cleared and the
// attempt made; the next blocking write sets its own (writer.armTimeout).
// The caller holds the write side (frameMu, or a Poller queue's lock), so
// no blocking write is under way.
func (w *writer) tryRaw(rc syscall.RawConn, fn func(fd uintptr) bool) error {
	err := rc.Write(fn)
	if err != nil && w.c.opts.WriteTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		w.c.nc.SetWriteDeadline(time.Time{})
		err = rc.Write(fn)
	}
	return err
}
