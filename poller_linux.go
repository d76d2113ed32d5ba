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

	"github.com/fullduplex/websocket/internal/wsproto"
)

// A loop is one goroutine waiting on its own epoll instance. Connections
// are registered edge-triggered for both directions: a read event means new
// bytes arrived, and the loop reads until the socket is drained (a read
// that does not fill the buffer) before waiting again; a write event means
// room in the socket, and the loop writes what the connection's queue
// holds. The loop feeds what it reads to the connection's protocol core
// and delivers each message as soon as its last byte is in; it never
// waits on a socket, and nothing it does for one connection waits for
// another.
type loop struct {
	p    *Poller
	epfd int
	wake int // eventfd: connections closed or registered, or the poller stopping
	g    atomic.Uint64

	// The epoll fd is itself registered with the runtime's poller, so an
	// idle loop parks like any goroutine blocked on a socket. Blocking in
	// epoll_wait instead would hold the loop's P in a system call.
	file    *os.File
	rc      syscall.RawConn
	waitFn  func(fd uintptr) bool
	waitN   int
	waitErr error

	mu       sync.Mutex
	conns    map[uint64]*Conn
	next     uint64
	closedQ  []*Conn
	readyQ   []*Conn // registered, to be serviced by the loop a first time
	stopping bool

	events [64]syscall.EpollEvent
	msg    []byte // reused for the inflated messages the loop delivers
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
		Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET,
		Fd:     int32(uint32(token)),
		Pad:    int32(uint32(token >> 32)),
	}
	if err := syscall.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("websocket: epoll_ctl: %w", err)
	}
	return nil
}

// goroutine returns the id of the loop's goroutine.
func (l *loop) goroutine() uint64 { return l.g.Load() }

func (p *Poller) stopLoops() {
	for _, l := range p.loops {
		l.mu.Lock()
		l.stopping = true
		l.mu.Unlock()
		l.notify()
	}
}

// register puts c, whose readMu the caller holds, under a loop's watch.
// From then on writes go through the connection's queue and the loop
// services the connection, starting with whatever is already buffered. It
// reports false when c has no raw socket to watch.
func (p *Poller) register(c *Conn, ev *evState) bool {
	r := &c.rd
	if len(p.loops) == 0 || r.raw == nil {
		return false
	}
	l := p.loops[p.next.Add(1)%uint64(len(p.loops))]
	// Writes switch to the queue under frameMu, between frames, before
	// the loop can see the connection.
	if c.frameMu.lockOrClosed(context.Background(), c.closed) != nil {
		return false
	}
	c.wr.queue = &outQueue{limit: p.opts.WriteQueueLimit}
	c.unlockFrame()
	r.rawFn = r.readNow // the loop's reads never wait; fillIdle is not used again
	l.mu.Lock()
	token := l.next
	l.next++
	ev.token = token
	ev.onClosed = func() { l.connClosed(c) }
	ev.l.Store(l)
	l.conns[token] = c
	l.mu.Unlock()
	// Control holds the socket open while it runs: the fd cannot be closed
	// and reused by another connection before it is registered.
	var err error
	if cerr := r.raw.Control(func(fd uintptr) { err = l.ctl(syscall.EPOLL_CTL_ADD, int(fd), token) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		c.readMu.unlock()
		c.closeNow(fmt.Errorf("websocket: poller: %w", err))
		return true // the loop reports the end
	}
	c.readMu.unlock()
	if c.isClosed() {
		l.connClosed(c)
	}
	// Data may have come with the handshake or before the registration;
	// anything arriving from now on raises an event.
	l.mu.Lock()
	l.readyQ = append(l.readyQ, c)
	l.mu.Unlock()
	l.notify()
	return true
}

func (l *loop) forget(token uint64) {
	l.mu.Lock()
	delete(l.conns, token)
	l.mu.Unlock()
}

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
	l.g.Store(goid())
	for {
		n, err := l.waitEvents()
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
			if c == nil {
				continue
			}
			if e.Events&syscall.EPOLLOUT != 0 {
				c.wr.queue.flush(c)
			}
			if e.Events&^syscall.EPOLLOUT != 0 {
				l.ready(c)
			}
		}
	}
}

// woken handles the eventfd: closed connections are reported, registered
// ones serviced, and it reports true when the loop should end.
func (l *loop) woken() bool {
	var buf [8]byte
	syscall.Read(l.wake, buf[:])
	l.mu.Lock()
	closedQ, readyQ := l.closedQ, l.readyQ
	l.closedQ, l.readyQ = nil, nil
	for _, c := range closedQ {
		delete(l.conns, c.ev.Load().token)
	}
	done := l.stopping && len(l.conns) == 0
	l.mu.Unlock()
	for _, c := range readyQ {
		l.ready(c)
	}
	for _, c := range closedQ {
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
	c.rd.dropBuffer()
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
		l.serviceHeld(c, ev)
	}
}

// serviceHeld services c, whose readMu the caller holds, and releases it,
// looping while events arrived meanwhile.
func (l *loop) serviceHeld(c *Conn, ev *evState) {
	for {
		ev.pending.Store(false)
		l.service(c)
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

// service reads what the socket holds and delivers every message whose
// last byte is in.
func (l *loop) service(c *Conn) {
	r := &c.rd
	for !c.isClosed() {
		if r.err != nil {
			r.discardNow() // failing: wait for the peer to close, without blocking
			return
		}
		if !l.deliver(c) {
			continue // failed or closed: the checks above decide
		}
		n, space, err := r.fillNow()
		switch {
		case err == errWouldBlock:
			r.releaseIfIdle()
			return
		case err != nil:
			r.connError(err)
		case n < space:
			// Drained: the next byte raises a new event.
			if l.deliver(c) {
				r.releaseIfIdle()
				return
			}
		}
	}
}

// deliver feeds the buffered bytes to the protocol core and acts on what
// it finds. It reports false when the connection failed or closed.
func (l *loop) deliver(c *Conn) bool {
	r := &c.rd
	for r.err == nil && !c.isClosed() {
		r.dec.Limit = c.readLimit.Load()
		n, ev, err := r.dec.Decode(r.buf[r.r:r.w])
		r.r += n
		switch {
		case err != nil:
			r.failDecode(nil, err)
			return false
		case ev.Kind == wsproto.Data:
			c.noteFrame()
			if !l.data(c, ev) {
				return false
			}
		case ev.Kind != wsproto.None:
			c.noteFrame()
			if r.control(nil, ev) != nil {
				return false
			}
		case n == 0:
			return true
		}
	}
	return false
}

// data gathers a message's payload and delivers the message at its end.
// A message whose every byte arrived in one read is delivered straight
// from the read buffer; one that comes in pieces is gathered in partial,
// at a cost linear in its size, and a compressed one is inflated whole
// once its last byte is in.
func (l *loop) data(c *Conn, ev wsproto.Event) bool {
	r := &c.rd
	if ev.First && ev.Last && !ev.Compressed {
		l.p.dispatch(c, MessageType(ev.Op), ev.Payload)
		return true
	}
	if ev.First {
		r.start(ev)
	}
	if !ev.First || !ev.Last {
		if cap(r.partial) == 0 {
			r.partial = takePartial()
		}
		r.partial = append(r.partial, ev.Payload...)
		r.chunk = nil
	}
	if !ev.Last {
		return true
	}
	r.last = true
	if r.compressed {
		out, err := r.appendInflated(nil, l.msg[:0])
		if err != nil {
			return false
		}
		l.p.dispatch(c, r.msgType, out)
		l.msg = keepSmall(out)
		return true
	}
	l.p.dispatch(c, r.msgType, r.partial)
	r.endOfMessage() // after the call: msg is partial's storage, which goes back to the pool
	return true
}

// readNow runs inside RawConn.Read: one read into the buffer's free
// space, no waiting.
func (r *reader) readNow(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), r.buf[r.w:])
		if err == syscall.EINTR {
			continue
		}
		r.rawN, r.rawErr = n, err
		return true
	}
}

// fillNow reads what the socket holds into the buffer without waiting. It
// returns the bytes read and the room there was.
func (r *reader) fillNow() (n, space int, err error) {
	r.makeRoom()
	space = len(r.buf) - r.w
	r.rawN, r.rawErr = 0, nil
	if err := r.raw.Read(r.rawFn); err != nil {
		return 0, space, err
	}
	switch n, err := r.rawN, r.rawErr; {
	case err == syscall.EAGAIN:
		return 0, space, errWouldBlock
	case err == syscall.ECONNRESET:
		return 0, space, io.ErrUnexpectedEOF
	case err != nil:
		return 0, space, err
	case n == 0:
		return 0, space, io.EOF
	default:
		r.w += n
		return n, space, nil
	}
}

// discardNow reads and drops what the peer sends to a failing connection,
// closing it at the peer's end of stream; the end timer bounds the wait.
func (r *reader) discardNow() {
	for {
		r.r, r.w = 0, 0
		_, _, err := r.fillNow()
		r.r, r.w = 0, 0
		if errors.Is(err, errWouldBlock) {
			r.releaseIfIdle()
			return
		}
		if err != nil {
			r.dropBuffer()
			r.c.closeNow(r.err)
			return
		}
	}
}
