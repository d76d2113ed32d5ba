package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// A loop is one goroutine blocked in epoll_wait on its own epoll instance.
// Connections are registered edge-triggered: an event means new bytes
// arrived, and the loop reads until the socket is drained (a read that
// does not fill the buffer) before waiting again.
//
// On a loop the reader never waits for the network: its reads return
// errWouldBlock when the socket is empty (reader.inLoop), and scan decides
// what the reader may start on. A compressed message too large for the
// read buffer goes to a goroutine of its own (handoff), which reads it the
// ordinary, blocking way.
type loop struct {
	p    *Poller
	epfd int
	wake int // eventfd: connections closed, or the poller stopping

	// The epoll fd is itself registered with the runtime's poller, so an
	// idle loop parks like any goroutine blocked on a socket. Blocking in
	// epoll_wait instead would hold the loop's P in a system call, and a
	// goroutine it starts (handoff) would wait there until the runtime
	// took the P back: tens of microseconds per handoff.
	file    *os.File
	rc      syscall.RawConn
	waitFn  func(fd uintptr) bool
	waitN   int
	waitErr error

	mu       sync.Mutex
	conns    map[uint64]*Conn
	next     uint64
	closedQ  []*Conn
	stopping bool

	// busy is set while the loop handles events, callbacks included: a
	// Close then must not wait for the loop to read the peer's answer.
	busy atomic.Bool

	events [64]syscall.EpollEvent
	msg    []byte // reused for the messages the loop delivers
}

// epollET is EPOLLET as the unsigned bit it is in the kernel ABI; the
// syscall package declares it negative on some ports and positive on
// others, which no single expression of it converts on all of them.
const epollET = 1 << 31

// wakeToken is the epoll key of a loop's eventfd; connections count from 1.
const wakeToken = 0

func (p *Poller) startLoops() error {
	for range p.opts.Loops {
		l, err := newLoop(p)
		if err != nil {
			p.stopLoops()
			p.wg.Wait()
			return err
		}
		p.loops = append(p.loops, l)
		p.wg.Add(1)
		go l.run()
	}
	return nil
}

func newLoop(p *Poller) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("websocket: epoll_create1: %w", err)
	}
	wake, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil, fmt.Errorf("websocket: eventfd2: %w", errno)
	}
	l := &loop{p: p, epfd: epfd, wake: int(wake), conns: make(map[uint64]*Conn), next: wakeToken + 1}
	if err := l.ctl(syscall.EPOLL_CTL_ADD, l.wake, wakeToken); err != nil {
		syscall.Close(l.wake)
		syscall.Close(epfd)
		return nil, err
	}
	// Without registration in the runtime's poller, the loop falls back
	// to blocking in epoll_wait.
	if syscall.SetNonblock(epfd, true) == nil {
		l.file = os.NewFile(uintptr(epfd), "epoll")
		if rc, err := l.file.SyscallConn(); err == nil {
			l.rc = rc
			l.waitFn = l.pollNow
		}
	}
	return l, nil
}

// pollNow runs inside RawConn.Read: it collects ready events without
// waiting, and false asks the runtime to park until there are some.
func (l *loop) pollNow(fd uintptr) bool {
	l.waitN, l.waitErr = syscall.EpollWait(int(fd), l.events[:], 0)
	return l.waitN > 0 || l.waitErr != nil && l.waitErr != syscall.EINTR
}

// waitEvents waits for events and returns how many are in l.events.
func (l *loop) waitEvents() (int, error) {
	if l.rc != nil {
		if err := l.rc.Read(l.waitFn); err == nil {
			return l.waitN, l.waitErr
		}
		l.rc = nil // not pollable after all: block in epoll_wait instead
	}
	return syscall.EpollWait(l.epfd, l.events[:], -1)
}

func (l *loop) closeFDs() {
	syscall.Close(l.wake)
	if l.file != nil {
		l.file.Close()
		return
	}
	syscall.Close(l.epfd)
}

func (l *loop) ctl(op, fd int, token uint64) error {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET,
		Fd:     int32(uint32(token)),
		Pad:    int32(uint32(token >> 32)),
	}
	if err := syscall.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("websocket: epoll_ctl: %w", err)
	}
	return nil
}

func (p *Poller) stopLoops() {
	for _, l := range p.loops {
		l.mu.Lock()
		l.stopping = true
		l.mu.Unlock()
		l.notify()
	}
}

// register puts c, whose readMu the caller holds, under a loop's watch and
// services what is already buffered. It reports false when c has no raw
// socket to watch.
func (p *Poller) register(c *Conn, ev *evState) bool {
	r := &c.rd
	if len(p.loops) == 0 || r.raw == nil {
		return false
	}
	l := p.loops[p.next.Add(1)%uint64(len(p.loops))]
	l.mu.Lock()
	token := l.next
	l.next++
	l.conns[token] = c
	l.mu.Unlock()
	ev.token = token
	ev.nowFn = r.readNow
	ev.l.Store(l)
	// Control holds the socket open while it runs: the fd cannot be closed
	// and reused by another connection before it is registered.
	var err error
	if cerr := r.raw.Control(func(fd uintptr) { err = l.ctl(syscall.EPOLL_CTL_ADD, int(fd), token) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		l.mu.Lock()
		delete(l.conns, token)
		l.mu.Unlock()
		ev.l.Store(nil)
		return false
	}
	// Data may have come with the handshake or before the registration;
	// anything arriving from now on raises an event.
	var buf []byte // not the loop's: this is the caller's goroutine
	l.serviceHeld(c, ev, &buf)
	return true
}

// isBusy reports whether the loop is handling events now.
func (l *loop) isBusy() bool { return l.busy.Load() }

// notify wakes the loop.
func (l *loop) notify() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	syscall.Write(l.wake, one[:])
}

// connClosed is called by closeNow: the loop reports the end to the
// application on its own goroutine, after any message in progress.
func (l *loop) connClosed(c *Conn) {
	l.mu.Lock()
	l.closedQ = append(l.closedQ, c)
	l.mu.Unlock()
	l.notify()
}

func (l *loop) run() {
	defer l.p.wg.Done()
	defer l.closeFDs()
	for {
		l.busy.Store(false)
		n, err := l.waitEvents()
		l.busy.Store(true)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			// Cannot happen with a valid epoll fd and buffer; stop serving
			// rather than spin.
			l.abandon()
			return
		}
		for i := range l.events[:n] {
			e := &l.events[i]
			token := uint64(uint32(e.Fd)) | uint64(uint32(e.Pad))<<32
			if token == wakeToken {
				if l.woken() {
					return
				}
				continue
			}
			l.mu.Lock()
			c := l.conns[token]
			l.mu.Unlock()
			if c != nil {
				l.ready(c)
			}
		}
	}
}

// woken handles the eventfd: closed connections are reported, and it
// reports true when the loop should end.
func (l *loop) woken() bool {
	var buf [8]byte
	syscall.Read(l.wake, buf[:])
	l.mu.Lock()
	q := l.closedQ
	l.closedQ = nil
	for _, c := range q {
		delete(l.conns, c.ev.Load().token)
	}
	done := l.stopping && len(l.conns) == 0
	l.mu.Unlock()
	for _, c := range q {
		l.finishWhenFree(c, c.ev.Load())
	}
	return done
}

// finishWhenFree reports c's end once no goroutine is servicing it, so that
// OnClose never runs beside, or before, an OnMessage of the connection. If
// readMu is held, its holder sees closing when it lets go (serviceHeld).
func (l *loop) finishWhenFree(c *Conn, ev *evState) {
	ev.closing.Store(true)
	if c.readMu.tryLock() {
		l.finishHeld(c)
	}
}

// finishHeld reports c's end and releases readMu, which the caller holds.
func (l *loop) finishHeld(c *Conn) {
	l.p.finish(c, c.errAfterClose())
	c.readMu.unlock()
}

// abandon closes every connection of a loop that cannot go on.
func (l *loop) abandon() {
	l.mu.Lock()
	conns := make([]*Conn, 0, len(l.conns))
	for _, c := range l.conns {
		conns = append(conns, c)
	}
	l.conns = nil
	l.mu.Unlock()
	for _, c := range conns {
		c.CloseNow()
		l.p.finish(c, c.errAfterClose())
	}
}

// ready services c after an event, unless another goroutine holds its
// readMu; that one then sees pending and services it again.
func (l *loop) ready(c *Conn) {
	ev := c.ev.Load()
	ev.pending.Store(true)
	if c.readMu.tryLock() {
		l.serviceHeld(c, ev, &l.msg)
	}
}

// serviceHeld services c, whose readMu the caller holds, and releases it,
// looping while events arrived meanwhile. A handoff keeps readMu. buf is
// the calling goroutine's message buffer.
func (l *loop) serviceHeld(c *Conn, ev *evState, buf *[]byte) {
	for {
		ev.pending.Store(false)
		if l.service(c, ev, buf) {
			return
		}
		c.readMu.unlock()
		if ev.closing.Load() && c.readMu.tryLock() {
			l.finishHeld(c) // closed while serviced: report it now
			return
		}
		if !ev.pending.Load() || !c.readMu.tryLock() {
			return
		}
	}
}

// service delivers the complete messages that have arrived. It reports true
// when it handed c to a goroutine, which now holds readMu.
func (l *loop) service(c *Conn, ev *evState, buf *[]byte) (handedOff bool) {
	r := &c.rd
	r.inLoop = true
	handedOff = l.deliver(c, ev, buf)
	if handedOff {
		r.inLoop = false // the reader now belongs to the handoff goroutine
		l.handoff(c, ev)
	} else {
		r.inLoop = false
	}
	return handedOff
}

// deliver is service's loop; it reports true when c must be handed off.
func (l *loop) deliver(c *Conn, ev *evState, buf *[]byte) bool {
	r := &c.rd
	drained := false
	for !c.isClosed() {
		if r.err != nil {
			r.discardNow() // failing: wait for the peer to close, without blocking
			return false
		}
		switch k, what := r.scan(); what {
		case scanMessage:
			typ, msg, err := r.readMessage(context.Background(), (*buf)[:0])
			if errors.Is(err, errWouldBlock) {
				return false // the reader keeps the part received
			}
			if err != nil {
				if r.err == nil && !c.isClosed() {
					return true // not expected on a loop: let a goroutine read on
				}
				continue // the connection is failing or closed
			}
			l.p.dispatch(c, ev, typ, msg)
			*buf = keepSmall(msg)
		case scanControl:
			if err := r.handleControlFrames(k); err != nil && r.err == nil {
				return true
			}
		case scanHandoff:
			return true
		case scanNeedMore:
			if drained {
				return false
			}
			n, space, err := r.fillNow()
			if errors.Is(err, errWouldBlock) {
				return false
			}
			if err != nil {
				r.connError(err)
				continue
			}
			drained = n < space
		}
	}
	return false
}

// handoff gives c to a goroutine that reads the message in progress the
// blocking way, then returns c to the loop.
func (l *loop) handoff(c *Conn, ev *evState) {
	l.p.wg.Add(1) // the connection's own count keeps the group open
	go func() {
		defer l.p.wg.Done()
		r := &c.rd
		buf := l.p.getBuf()
		defer func() { l.p.putBuf(buf, *buf) }()
		for !c.isClosed() && r.err == nil {
			typ, msg, err := r.readMessage(context.Background(), (*buf)[:0])
			if err != nil {
				break
			}
			l.p.dispatch(c, ev, typ, msg)
			*buf = msg[:0]
			if !r.inMessage && !r.resume && r.r == r.w {
				break
			}
		}
		// Events that came meanwhile set pending; service them here.
		ev.pending.Store(true)
		l.serviceHeld(c, ev, buf)
	}()
}

// readNow runs inside RawConn.Read: one read into nowDst, no waiting.
func (r *reader) readNow(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), r.c.ev.Load().nowDst)
		if err == syscall.EINTR {
			continue
		}
		r.rawN, r.rawErr = n, err
		return true
	}
}

// readNowInto reads what the socket holds into p, without waiting.
func (r *reader) readNowInto(p []byte) (int, error) {
	if r.raw == nil || r.c.ev.Load() == nil {
		return 0, errWouldBlock // only in tests: a loop needs a raw socket
	}
	if len(p) == 0 {
		return 0, io.ErrShortBuffer // a read of nothing would look like EOF
	}
	r.rawN, r.rawErr = 0, nil
	ev := r.c.ev.Load()
	ev.nowDst = p
	err := r.raw.Read(ev.nowFn)
	ev.nowDst = nil
	if err != nil {
		return 0, err
	}
	switch n, err := r.rawN, r.rawErr; {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err == syscall.ECONNRESET:
		return 0, io.ErrUnexpectedEOF
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	default:
		return n, nil
	}
}

// fillNow reads what the socket holds into the buffer without waiting. It
// returns the bytes read and the room there was.
func (r *reader) fillNow() (n, space int, err error) {
	r.makeRoom()
	space = len(r.buf) - r.w
	n, err = r.readNowInto(r.buf[r.w:])
	r.w += n
	if errors.Is(err, errWouldBlock) {
		r.releaseIfIdle()
	}
	return n, space, err
}

// discardNow reads and drops what the peer sends to a failing connection,
// closing it at the peer's end of stream; the close timer bounds the wait.
func (r *reader) discardNow() {
	for {
		r.r, r.w = 0, 0
		_, _, err := r.fillNow()
		r.r, r.w = 0, 0
		if errors.Is(err, errWouldBlock) {
			return
		}
		if err != nil {
			r.dropBuffer()
			r.c.closeNow(r.err)
			return
		}
	}
}
