package websocket

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/fullduplex/websocket/internal/bpool"
	"github.com/fullduplex/websocket/internal/poll"
	"github.com/fullduplex/websocket/internal/uring"
	"github.com/fullduplex/websocket/internal/wsproto"
)

// A loop is one goroutine waiting on its own epoll instance (internal/poll). Connections
// are registered edge-triggered for both directions: a read event means new
// bytes arrived, and the loop reads until the socket is drained (a read
// that does not fill the buffer) before waiting again; a write event means
// room in the socket, and the loop writes what the connection's queue
// holds. The loop feeds what it reads to the connection's protocol core
// and delivers each message as soon as its last byte is in; it never
// waits on a socket, and nothing it does for one connection waits for
// another.
type loop struct {
	p  *Poller
	ep *poll.Epoll
	g  atomic.Uint64

	mu       sync.Mutex
	conns    map[uint64]*Conn
	next     uint64
	closedQ  []*Conn
	readyQ   []*Conn // registered, to be serviced by the loop a first time
	stopping bool
	ended    bool // stopping with no connection left: the loop ends, registering none
	done     bool // the loop should end

	msg []byte // reused for the inflated messages the loop delivers
	// spent is what the connection being serviced has cost this turn:
	// bytes read and bytes inflated (maxServiceBytes).
	spent int

	// One non-blocking read (readNow), by the loop's goroutine only.
	dst    []byte
	readN  int
	readE  error
	readFn func(fd uintptr) bool

	// ring batches the loop's reads and writes (poller_batch_linux.go);
	// nil when each is a system call of its own.
	ring     *uring.Ring
	batch    []batchEntry
	resultFn func(tag uint64, res int32) // l.result, bound once
}

// loopSocket is a socket a loop took out of the runtime's poller.
type loopSocket = poll.Socket

func (p *Poller) startLoops() error {
	for range p.opts.Loops {
		ep, err := poll.New()
		if err != nil {
			p.stopLoops()
			p.wg.Wait()
			return fmt.Errorf("websocket: poller: %w", err)
		}
		l := &loop{p: p, ep: ep, conns: make(map[uint64]*Conn), next: poll.WakeToken + 1}
		l.readFn = l.readNow
		l.newRing()
		p.loops = append(p.loops, l)
		p.wg.Add(1)
		go l.run()
	}
	return nil
}

// goroutine returns the id of the loop's goroutine.
func (l *loop) goroutine() uint64 { return l.g.Load() }

func (p *Poller) stopLoops() {
	for _, l := range p.loops {
		l.mu.Lock()
		l.stopping = true
		l.wakeLocked()
		l.mu.Unlock()
	}
}

// register puts c, whose readMu the caller holds, under a loop's watch.
// From then on writes go through the connection's queue and the loop
// services the connection, starting with whatever is already buffered. It
// reports false when c has no raw socket to watch, is being written
// (frameMu held), or is in the middle of a message: one a Ping or Close
// began reading on the application's behalf, or a read the application
// gave up part-way. A loop starts every message it delivers itself, so
// such a connection gets a goroutine, whose reads finish the message
// first.
func (p *Poller) register(c *Conn, ev *evState) bool {
	r := &c.rd
	if len(p.loops) == 0 || r.raw == nil || r.midMessage() {
		return false
	}
	// Writes switch to the queue under frameMu, between frames, before
	// the loop can see the connection. Not if a write holds it: that one
	// may be stuck on a peer that reads nothing, and Serve would wait
	// with it (and Poller.Close with Serve). A goroutine serves c then.
	if !c.frameMu.TryLock() {
		return false
	}
	l := p.loops[p.next.Add(1)%uint64(len(p.loops))]
	c.frameMu.SetSlow() // lockFrame must see the queue
	// The loop does the socket's waiting, so the runtime's poller need not:
	// a detached socket spares an idle connection about 600 bytes (the
	// runtime's descriptor record and the finalizer). Nothing uses nc now:
	// Serve holds readMu, this frameMu, and writes will go to the queue.
	//
	// Under closeMu, which LocalAddr, RemoteAddr and closeTransport read
	// nc under: a closeTransport that finds nc detached finds the socket
	// too, and closes it before Done, even before the loop is set (ev.l);
	// one that came first closes nc, which is then left as it is.
	c.closeMu.Lock()
	detached := false
	if !c.flags.has(flagClosed) {
		if s, err := poll.Detach(c.nc); err == nil {
			r.raw = s
			ev.sock = s
			c.nc = detach(c.nc)
			detached = true
		}
	}
	c.closeMu.Unlock()
	if detached && testHookDetached != nil {
		testHookDetached(c)
	}
	c.wr.queue.Store(new(outQueue))
	c.unlockFrame()
	if c.deflate != nil && (c.deflate.sendTakeover || c.deflate.recvTakeover) {
		c.deflate.setPolled()
	}
	l.mu.Lock()
	if l.ended {
		// The Poller closed and the loop is gone: nothing will watch c.
		// closeNow closes its socket.
		l.mu.Unlock()
		c.readMu.Unlock()
		c.closeNow(ErrPollerClosed)
		p.finish(c, c.errAfterClose())
		return true
	}
	token := l.next
	l.next++
	ev.token = token
	ev.l.Store(l) // from here closeNow tells the loop (connClosed)
	l.conns[token] = c
	l.mu.Unlock()
	if testHookRegistering != nil {
		testHookRegistering()
	}
	// Control holds the socket open while it runs: the fd cannot be closed
	// and reused by another connection before it is registered.
	var err error
	if cerr := r.raw.Control(func(fd uintptr) { err = l.ep.Add(int(fd), token) }); cerr != nil {
		err = cerr
	}
	l.start(c, ev, err)
	return true
}

// start lets go of the readMu that register held and sets c going: the
// loop services it first through readyQ, or, if c closed meanwhile, its
// end is reported. addErr is the error of adding c to the epoll set.
func (l *loop) start(c *Conn, ev *evState, addErr error) {
	c.readMu.Unlock()
	if addErr != nil {
		// The socket may be closed already: Close took c meanwhile.
		c.closeNow(fmt.Errorf("websocket: poller: %w", addErr))
	}
	if ev.has(evClosing) {
		// The loop took c's close while Serve held readMu, so the report
		// is left to Serve; the loop may have ended since (Poller.Close).
		if c.readMu.TryLock() {
			l.finishHeld(c)
		}
		return
	}
	if c.isClosed() {
		l.connClosed(c) // closeNow may have run before the loop was set
		return
	}
	if l.p.isClosed() {
		c.CloseNow() // Close ran since Serve checked, and did not see c in l.conns
		return
	}
	// Data may have come with the handshake or before the registration;
	// anything arriving from now on raises an event. Should c close
	// since the check and its loop end, the loop reported the end, and
	// wakeLocked leaves the loop's closed eventfd alone.
	l.mu.Lock()
	l.readyQ = append(l.readyQ, c)
	l.wakeLocked()
	l.mu.Unlock()
}

// released takes back what the loop left to a goroutine other than its own
// that held c's readMu (unlockServed): the report of c's end, or an event
// to service, which only the loop may do.
func (l *loop) released(c *Conn, ev *evState) {
	switch {
	case ev.has(evClosing):
		if c.readMu.TryLock() {
			l.finishHeld(c)
		}
	case ev.has(evPending):
		l.requeue(c)
	}
}

// testHookRegistering, if set, runs while register holds a connection's
// readMu with the connection already in its loop's table.
var testHookRegistering func()

// testHookDetached, if set, runs while register holds a connection's
// readMu, once its socket is detached and before its loop is set.
var testHookDetached func(*Conn)

// loopConns appends the connections the loops watch to conns.
func (p *Poller) loopConns(conns []*Conn) []*Conn {
	for _, l := range p.loops {
		l.mu.Lock()
		for _, c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
	}
	return conns
}

// wakeLocked wakes the loop; the caller holds l.mu. A loop that ended
// has closed its eventfd, whose number may by now name another file, so
// the write happens only while l.mu says the loop is still there.
func (l *loop) wakeLocked() {
	if !l.ended {
		l.ep.Wake()
	}
}

// connClosed is called by closeNow: the loop reports the end to the
// application on its own goroutine, after any message in progress. A
// connection is queued once, however many of closeNow and register see it
// closed.
func (l *loop) connClosed(c *Conn) {
	if c.ev.Load().flags.Or(evQueued)&evQueued != 0 {
		return
	}
	l.mu.Lock()
	l.closedQ = append(l.closedQ, c)
	l.wakeLocked()
	l.mu.Unlock()
}

func (l *loop) run() {
	defer l.p.wg.Done()
	defer l.ep.Close()
	defer func() {
		if l.ring != nil {
			l.ring.Close()
		}
	}()
	l.g.Store(goid())
	handle := l.event // made once: Wait's callback
	for !l.done {
		if err := l.ep.Wait(handle); err != nil {
			// Cannot happen with a valid epoll fd and buffer; stop serving
			// rather than spin.
			l.abandon()
			return
		}
		l.runBatch()
	}
}

// event handles one readiness report.
func (l *loop) event(ev poll.Event) {
	if ev.Token == poll.WakeToken {
		l.done = l.woken()
		return
	}
	l.mu.Lock()
	c := l.conns[ev.Token]
	l.mu.Unlock()
	if c == nil {
		return
	}
	if ev.Writable {
		c.wr.queue.Load().flush(c)
	}
	if ev.Hangup {
		c.ev.Load().flags.Or(evHangup)
	}
	if ev.Readable {
		if l.ring != nil {
			l.collect(c)
		} else {
			l.ready(c)
		}
	}
}

// woken handles the eventfd: closed connections are reported, registered
// ones serviced, and it reports true when the loop should end.
func (l *loop) woken() bool {
	l.ep.Drain()
	l.mu.Lock()
	closedQ, readyQ := l.closedQ, l.readyQ
	l.closedQ, l.readyQ = nil, nil
	for _, c := range closedQ {
		delete(l.conns, c.ev.Load().token)
	}
	done := l.stopping && len(l.conns) == 0
	l.ended = done
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
	ev.flags.Or(evClosing)
	if c.readMu.TryLock() {
		l.finishHeld(c)
	}
}

// finishHeld reports c's end, unless that was done, and releases readMu,
// which the caller holds.
func (l *loop) finishHeld(c *Conn) {
	if ev := c.ev.Load(); !ev.has(evFinished) {
		if ev.sock != nil {
			ev.sock.Close() // closeTransport's, unless it has yet to come to it
		}
		c.rd.dropBuffer()
		l.p.finish(c, c.errAfterClose())
	}
	c.readMu.Unlock()
}

// abandon closes every connection of a loop that cannot go on.
func (l *loop) abandon() {
	l.mu.Lock()
	conns := make([]*Conn, 0, len(l.conns))
	for _, c := range l.conns {
		conns = append(conns, c)
	}
	l.conns = nil
	l.ended = true // register closes what comes now; nothing wakes the loop
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
	ev.flags.Or(evPending)
	if c.readMu.TryLock() {
		l.serviceHeld(c, ev, nil)
	}
}

// serviceHeld services c, whose readMu the caller holds, and releases it,
// looping while events arrived meanwhile. pre, if not nil, is a read
// already done (a batch's).
func (l *loop) serviceHeld(c *Conn, ev *evState, pre *prefill) {
	for {
		ev.flags.And(^uint32(evPending))
		l.service(c, pre)
		pre = nil
		c.readMu.Unlock()
		if ev.has(evClosing) && c.readMu.TryLock() {
			l.finishHeld(c) // closed while serviced: report it now
			return
		}
		if !ev.has(evPending) || !c.readMu.TryLock() {
			return
		}
	}
}

// service reads what the socket holds and delivers every message whose
// last byte is in. pre, if not nil, is its first read, already done.
func (l *loop) service(c *Conn, pre *prefill) {
	r := &c.rd
	r.hold()
	l.spent = 0
	for !c.isClosed() {
		if l.spent >= maxServiceBytes {
			l.requeue(c)
			return
		}
		if r.err != nil {
			l.discard(c) // failing: wait for the peer to close, without blocking
			return
		}
		if !l.deliver(c) {
			continue // failed or closed: the checks above decide
		}
		if l.spent >= maxServiceBytes && (pre == nil || pre.room == nil) {
			// What is buffered waits for the next turn, and so does the
			// end of the stream a batch's read may have met: the bytes it
			// read are in the buffer already, and the next read meets the
			// end again.
			continue
		}
		var n, space int
		var err error
		if pre != nil {
			n, space, err = pre.n, pre.space, pre.err
			if pre.room != nil && n > 0 {
				l.partialRead(c, pre.room[:n])
			}
			pre = nil
		} else if r.readsIntoMessage() {
			n, space, err = l.fillPartial(c)
		} else {
			n, space, err = l.fill(r)
		}
		l.spent += n
		switch {
		case err == errWouldBlock && l.spent >= maxServiceBytes:
			// A batch's read came back empty after delivery stopped
			// short of what is buffered: no event will say it is there.
			l.requeue(c)
			return
		case err == errWouldBlock:
			r.releaseIfIdle()
			r.trimPartial()
			r.rest()
			return
		case err != nil:
			r.connError(nil, err)
		case n < space && !c.ev.Load().has(evHangup):
			// Drained: the next byte raises a new event. Not so for the
			// end of the stream once the peer shut down its side: that
			// was said with the last data, so reads go on until they
			// meet it.
			if l.deliver(c) && l.spent < maxServiceBytes {
				r.releaseIfIdle()
				r.trimPartial()
				r.rest()
				return
			}
		}
	}
}

// maxServiceBytes bounds what one connection reads and inflates in one
// turn of its loop. Past it the connection goes to the back of the line
// (requeue), so a peer that floods cannot hold up the loop's other
// connections, nor one whose small compressed messages inflate a
// thousandfold.
const maxServiceBytes = 256 << 10

// requeue services c again after the events already waiting: the socket
// may still hold data, and no new edge will say so.
func (l *loop) requeue(c *Conn) {
	l.mu.Lock()
	l.readyQ = append(l.readyQ, c)
	l.wakeLocked()
	l.mu.Unlock()
}

// deliver feeds the buffered bytes to the protocol core and acts on what
// it finds, until they run out or the turn's budget does. It reports false
// when the connection failed or closed.
func (l *loop) deliver(c *Conn) bool {
	r := &c.rd
	for r.err == nil && !c.isClosed() {
		if l.spent >= maxServiceBytes {
			return true // the rest waits for the connection's next turn
		}
		r.dec.Limit = c.readLimit.Load()
		var ev wsproto.Event
		n, err := r.dec.DecodeInto(r.buf[r.r:r.w], &ev)
		r.r += n
		switch {
		case err != nil:
			r.failDecode(nil, err)
			return false
		case ev.Kind == wsproto.Data:
			c.noteFrame()
			if !l.data(c, &ev) {
				return false
			}
		case ev.Kind != wsproto.None:
			c.noteFrame()
			if r.control(nil, &ev) != nil {
				return false
			}
		case n == 0:
			if c.controlPending() {
				c.kickControl() // one pong for the pings of this read
			}
			return true
		}
	}
	return false
}

// data gathers a message's payload and delivers the message at its end.
// A message whose every byte arrived in one read is delivered straight
// from the read buffer (a compressed one inflated into the loop's msg);
// one that comes in pieces is gathered in partial, at a cost linear in its
// size, a compressed one inflated piece by piece as it arrives.
func (l *loop) data(c *Conn, ev *wsproto.Event) bool {
	r := &c.rd
	if ev.First && ev.Last {
		if !ev.Compressed {
			l.p.dispatch(c, MessageType(ev.Op), ev.Payload)
			return true
		}
		r.start(ev)
		return l.inflateWhole(c)
	}
	if ev.First {
		r.start(ev)
		r.chunk = nil
	}
	if r.compressed {
		return l.inflatePiece(c, ev.Payload, ev.Last)
	}
	p := r.partialBuf()
	*p = append(*p, ev.Payload...)
	if ev.Last {
		l.complete(c)
	}
	return true
}

// inflateWhole delivers a compressed message that arrived in one read,
// inflated into the loop's msg.
func (l *loop) inflateWhole(c *Conn) bool {
	r := &c.rd
	r.last = true
	out, err := r.appendInflated(nil, l.msg[:0], 0)
	l.spent += len(out)
	if err != nil {
		return false
	}
	l.p.dispatch(c, MessageType(r.msgOp), out)
	l.msg = keepSmall(out)
	return true
}

// inflatePiece inflates the next piece of a compressed message that comes
// in pieces, and delivers the message with its last one.
func (l *loop) inflatePiece(c *Conn, payload []byte, last bool) bool {
	r := &c.rd
	before := len(*r.partialBuf())
	msg, err := r.inflateArriving(payload, last)
	if err != nil {
		return false
	}
	if last {
		l.spent += len(msg) - before
	} else {
		l.spent += len(*r.partialBuf()) - before
	}
	if last {
		l.p.dispatch(c, MessageType(r.msgOp), msg)
		r.releasePartial() // after the call: msg is partial's storage
	}
	return true
}

// complete delivers an uncompressed message gathered in partial.
func (l *loop) complete(c *Conn) {
	r := &c.rd
	r.last = true
	l.p.dispatch(c, MessageType(r.msgOp), *r.partialBuf())
	r.endOfMessage() // after the call: msg is partial's storage, which goes back to the pool
}

// fillPartial reads the payload of a large frame straight into the
// message being gathered, a growing chunk at a time, instead of through
// the read buffer: fewer system calls and one copy less.
func (l *loop) fillPartial(c *Conn) (n, space int, err error) {
	room := partialRoom(&c.rd)
	n, err = l.read(&c.rd, room)
	if err != nil {
		return 0, len(room), err
	}
	l.partialRead(c, room[:n])
	return n, len(room), nil
}

// readsIntoMessage reports whether the next read goes straight into the
// message being gathered (fillPartial): a large uncompressed payload is
// due and nothing is buffered.
func (r *reader) readsIntoMessage() bool {
	return r.inMessage && !r.compressed && r.r == r.w && r.dec.PayloadLeft() >= bpool.ReadSize
}

// partialRoom returns where the next read into the message being gathered
// goes: the room after it, grown as needed, up to what its frame still
// carries and a read buffer's worth more. What follows the payload is
// read with it when it is there, so that the read that ends the payload
// ends short, showing the socket drained: a read that exactly filled its
// room would need another to find out.
func partialRoom(r *reader) []byte {
	p := r.partialBuf()
	// Bounded before the addition: with the read limit off, a peer can
	// declare a payload of 2^63-1 bytes.
	want := min(r.dec.PayloadLeft(), maxDirectRead) + bpool.ReadSize
	if cap(*p)-len(*p) < bpool.ReadSize {
		*p = growForRead(*p, want)
	}
	start := len(*p)
	return (*p)[start:min(cap(*p), start+int(min(want, maxDirectRead)))]
}

// partialRead takes in the payload bytes just read into partialRoom, and
// delivers the message if they end it.
func (l *loop) partialRead(c *Conn, got []byte) {
	r := &c.rd
	payload := got[:min(int64(len(got)), r.dec.PayloadLeft())]
	if next := got[len(payload):]; len(next) > 0 {
		// The bytes past the frame go to the read buffer, before the
		// message, where they were read, goes back to its pool.
		r.acquire()
		r.r, r.w = 0, copy(r.buf, next)
	}
	var ev wsproto.Event
	if _, err := r.dec.DecodeInto(payload, &ev); err != nil {
		r.failDecode(nil, err)
		return
	}
	c.noteFrame()
	p := r.partialBuf()
	*p = (*p)[:len(*p)+len(payload)]
	if ev.Last {
		l.complete(c)
	}
}

// readNow runs inside RawConn.Read: one read into dst, no waiting.
func (l *loop) readNow(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), l.dst)
		if err == syscall.EINTR {
			continue
		}
		l.readN, l.readE = n, err
		return true
	}
}

// read reads what the socket holds into p, without waiting.
func (l *loop) read(r *reader, p []byte) (int, error) {
	l.dst, l.readN, l.readE = p, 0, nil
	err := r.raw.Read(l.readFn)
	l.dst = nil
	if err != nil {
		return 0, err
	}
	switch n, err := l.readN, l.readE; {
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

// fill reads what the socket holds into the read buffer without waiting.
// It returns the bytes read and the room there was.
func (l *loop) fill(r *reader) (n, space int, err error) {
	r.makeRoom()
	space = len(r.buf) - r.w
	n, err = l.read(r, r.buf[r.w:])
	r.w += n
	return n, space, err
}

// discard reads and drops what the peer sends to a failing or closing
// connection, and closes it at the peer's end of stream, or once our
// close frame is out if that is still queued: a peer may half-close after
// its close frame and go on reading (deferCloseToFrame). The end timer
// bounds the wait.
//
// What it reads counts against the turn's budget, as in service: a peer
// that floods a connection it broke would otherwise hold the loop, and
// every other connection of it, until the end timer fires.
func (l *loop) discard(c *Conn) {
	r := &c.rd
	for {
		if l.spent >= maxServiceBytes {
			l.requeue(c)
			return
		}
		r.r, r.w = 0, 0
		n, _, err := l.fill(r)
		l.spent += n
		r.r, r.w = 0, 0
		if errors.Is(err, errWouldBlock) {
			r.releaseIfIdle()
			return
		}
		if err != nil {
			r.dropBuffer()
			if err != io.EOF || !c.deferCloseToFrame() {
				c.closeNow(r.err)
			}
			return
		}
	}
}
