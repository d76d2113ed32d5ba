// Package uring runs batches of non-blocking socket calls (recv and send)
// through an io_uring instance: one system call for the whole batch
// instead of one per call. A Poller's loop uses it where system calls are
// dear. It never waits on a socket: every call is issued with
// MSG_DONTWAIT, so the kernel completes it at once, with -EAGAIN when the
// socket is not ready, and a Run returns with every call it submitted
// complete. No buffer is referenced by the kernel after Run returns.
package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Op codes, flags and offsets of the kernel's io_uring ABI
// (include/uapi/linux/io_uring.h).
const (
	opSend = 26
	opRecv = 27

	enterGetEvents = 1 << 0

	featSingleMmap = 1 << 0

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	msgDontWait = 0x40
)

// sqe is a submission queue entry, 64 bytes.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

// cqe is a completion queue entry, 16 bytes.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// The layouts must match the kernel's on every port.
var _ = [1]struct{}{}[unsafe.Sizeof(sqe{})-64]
var _ = [1]struct{}{}[unsafe.Sizeof(cqe{})-16]
var _ = [1]struct{}{}[unsafe.Sizeof(params{})-120]

// ErrFull is returned when a batch already holds as many calls as the
// ring has entries: Run it, then add more.
var ErrFull = errors.New("uring: batch full")

// Ring is one io_uring instance. It is not safe for concurrent use: one
// goroutine adds calls and runs them.
type Ring struct {
	fd int

	ring []byte // the SQ and CQ rings (one mapping, or the SQ's alone)
	cqm  []byte // the CQ ring's own mapping, without single mmap
	sqm  []byte // the submission entries

	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []sqe

	cqHead *uint32
	cqTail *uint32
	cqMask uint32
	cqes   []cqe

	queued int // entries added since the last Run
	tail   uint32
}

// ErrParks is returned by New when the kernel parks a non-blocking call
// that cannot complete, instead of failing it with EAGAIN: older kernels
// ignore MSG_DONTWAIT in io_uring and wait for the socket, and Run would
// wait with them.
var ErrParks = errors.New("uring: the kernel parks calls that would block")

// New makes a ring for batches of up to entries calls (a power of two),
// once it has checked that the kernel fails a call that would block.
func New(entries uint32) (*Ring, error) {
	var p params
	fd, _, errno := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd)}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.probe(); err != nil {
		r.Close() // cancels a parked call; its socket and buffer stay open
		return nil, err
	}
	return r, nil
}

// probeBuf is where the probe's recv would read: it lives as long as the
// process, as a call the kernel parked might outlive the ring.
var probeBuf [1]byte

// probe submits a recv on an empty socket and checks that it completed,
// with EAGAIN, during its submission.
func (r *Ring) probe() error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("uring: probe: %w", err)
	}
	defer syscall.Close(fds[1])
	defer syscall.Close(fds[0])
	r.Recv(fds[0], probeBuf[:], 0)
	atomic.StoreUint32(r.sqTail, r.tail)
	r.queued = 0
	for {
		_, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), 1, 0, 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
		break
	}
	res := int32(1)
	if r.reap(func(_ uint64, v int32) { res = v }) == 0 {
		return ErrParks
	}
	if res != -int32(syscall.EAGAIN) {
		return fmt.Errorf("uring: probe: recv on an empty socket returned %d", res)
	}
	return nil
}

func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	prot, flags := syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE
	if r.ring, err = syscall.Mmap(r.fd, offSQRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("io_uring: mmap: %w", err)
	}
	cq := r.ring
	if !single {
		if r.cqm, err = syscall.Mmap(r.fd, offCQRing, cqSize, prot, flags); err != nil {
			return fmt.Errorf("io_uring: mmap: %w", err)
		}
		cq = r.cqm
	}
	if r.sqm, err = syscall.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), prot, flags); err != nil {
		return fmt.Errorf("io_uring: mmap: %w", err)
	}
	sq := r.ring
	r.sqTail = (*uint32)(unsafe.Pointer(&sq[p.sqOff.tail]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&sq[p.sqOff.ringMask]))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Pointer(&sq[p.sqOff.array])), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqm[0])), p.sqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	r.cqHead = (*uint32)(unsafe.Pointer(&cq[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&cq[p.cqOff.tail]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&cq[p.cqOff.ringMask]))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&cq[p.cqOff.cqes])), p.cqEntries)
	return nil
}

// Close releases the ring. No batch may be in progress.
func (r *Ring) Close() error {
	for _, m := range [][]byte{r.sqm, r.cqm, r.ring} {
		if m != nil {
			syscall.Munmap(m)
		}
	}
	r.sqm, r.cqm, r.ring = nil, nil, nil
	return syscall.Close(r.fd)
}

// Fd is the ring's descriptor, for tests that make it fail.
func (r *Ring) Fd() int { return r.fd }

// Len is the number of calls added since the last Run.
func (r *Ring) Len() int { return r.queued }

// Recv adds a recv of fd into p to the batch, reported to Run's callback
// under tag. p must stay alive until Run returns.
func (r *Ring) Recv(fd int, p []byte, tag uint64) error { return r.add(opRecv, fd, p, tag) }

// Send adds a send of p on fd to the batch, reported under tag. p must
// stay alive until Run returns.
func (r *Ring) Send(fd int, p []byte, tag uint64) error { return r.add(opSend, fd, p, tag) }

func (r *Ring) add(op uint8, fd int, p []byte, tag uint64) error {
	if r.queued == len(r.sqes) {
		return ErrFull
	}
	i := r.tail & r.sqMask
	e := &r.sqes[i]
	*e = sqe{opcode: op, fd: int32(fd), len: uint32(len(p)), opFlags: msgDontWait, userData: tag}
	if len(p) > 0 {
		e.addr = uint64(uintptr(unsafe.Pointer(&p[0])))
	}
	r.sqArray[i] = i
	r.tail++
	r.queued++
	return nil
}

// Run submits the batch, waits until every call in it completed, and
// passes each call's tag and result (bytes, or a negated errno) to f.
//
// Non-blocking socket calls complete while they are submitted, so one
// io_uring_enter that waits for nothing normally does it all. Waiting for
// completions in that same call could wait forever if the kernel took
// fewer calls than asked (it stops short of memory); so a wait, when one
// is needed, is for calls already taken. After an error the ring is in an
// unknown state: close it.
func (r *Ring) Run(f func(tag uint64, res int32)) error {
	want := r.queued
	if want == 0 {
		return nil
	}
	atomic.StoreUint32(r.sqTail, r.tail)
	submitted, got := 0, 0
	for got < want {
		toSubmit, wait, flags := want-submitted, 0, uintptr(0)
		if toSubmit == 0 {
			wait, flags = want-got, enterGetEvents
		}
		n, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), uintptr(toSubmit), uintptr(wait), flags, 0, 0)
		switch errno {
		case 0:
			submitted += int(n)
		case syscall.EINTR:
		default:
			r.queued = want - submitted
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
		got += r.reap(f)
		if toSubmit > 0 && n == 0 && errno == 0 {
			r.queued = want - submitted
			return errors.New("io_uring_enter: no call taken")
		}
	}
	r.queued = 0
	return nil
}

// reap passes the completions the ring holds to f and returns how many.
func (r *Ring) reap(f func(tag uint64, res int32)) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		e := &r.cqes[head&r.cqMask]
		f(e.userData, e.res)
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}
