package websocket

import (
	"sync"
	"syscall"
	"unsafe"
)

// vecState is what a non-blocking writev needs. It is pooled rather than
// kept per connection: a write allocates nothing, and an idle connection
// holds none.
type vecState struct {
	iov [4]syscall.Iovec
	cnt int
	n   int
	err error
	fn  func(fd uintptr) bool // writev, bound once
}

var vecPool = sync.Pool{New: func() any {
	v := new(vecState)
	v.fn = v.writev
	return v
}}

// trySendv writes bufs with one non-blocking writev and returns how many
// bytes went out; errWouldBlock when the socket is full.
func (w *writer) trySendv(bufs [][]byte) (int, error) {
	rc := w.c.rd.raw
	if rc == nil {
		return 0, errWouldBlock
	}
	v := vecPool.Get().(*vecState)
	defer vecPool.Put(v)
	v.cnt = 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if v.cnt == len(v.iov) {
			break
		}
		v.iov[v.cnt].Base = &b[0]
		v.iov[v.cnt].SetLen(len(b))
		v.cnt++
	}
	if v.cnt == 0 {
		return 0, nil
	}
	v.n, v.err = 0, nil
	err := w.tryRaw(rc, v.fn)
	for i := range v.cnt {
		v.iov[i].Base = nil // let the buffers go
	}
	if err == nil {
		err = v.err
	}
	if err == syscall.EAGAIN {
		return v.n, errWouldBlock
	}
	return v.n, err
}

// writev runs inside RawConn.Write: one attempt, never a wait.
func (v *vecState) writev(fd uintptr) bool {
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(v.cnt))
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			v.err = errno
			return true
		}
		v.n = int(n)
		return true
	}
}
