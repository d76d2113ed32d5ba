package websocket

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// Poller reads many connections from a few goroutines and calls a function
// for each message, instead of a goroutine per connection blocked in Read.
// An idle connection then costs no goroutine stack and no buffer: on Linux,
// plain TCP and Unix connections are watched with epoll and read only when
// data is there. Connections the poller cannot watch that way (TLS, other
// net.Conn implementations, other systems) are served by a goroutine each,
// with the same callbacks, so code written for a Poller runs everywhere.
//
// The trade-off is the usual one of event loops: OnMessage runs on a
// goroutine shared with other connections, so while it runs, those
// connections wait. Keep it short; hand slow work to another goroutine.
// Writing from OnMessage is fine, since Write only blocks when the peer
// stops reading and the socket's send buffer fills; bound such writes with
// a ctx deadline if peers may be slow.
//
// A loop never waits for one connection: a message is read as far as its
// bytes have arrived and resumed at the next event. Only a compressed
// message too large for the read buffer is finished by a goroutine of its
// own, started for that message, since the inflater cannot pause.
//
// A Poller is safe for concurrent use.
type Poller struct {
	opts  PollerOptions
	loops []*loop       // nil where epoll is not used
	next  atomic.Uint64 // spreads connections over the loops

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup // loops and per-connection goroutines

	// bufs holds message buffers (*[]byte) for the goroutines that finish
	// large messages, so that each handoff does not grow one from nothing.
	bufs sync.Pool
}

// PollerOptions configures a Poller.
type PollerOptions struct {
	// OnMessage is called for every data message, in order, never
	// concurrently for one connection. msg is only valid during the call:
	// copy what must outlive it. Required.
	OnMessage func(c *Conn, typ MessageType, msg []byte)

	// OnClose is called once when a connection served by the poller ends,
	// after its last OnMessage, with the error that a Read would return
	// (CloseStatus tells the close code). It may be nil.
	OnClose func(c *Conn, err error)

	// Loops is the number of event loops, each a goroutine with its own
	// epoll instance; 0 means GOMAXPROCS/4 + 1. A loop spends most of its
	// time in system calls, and the fewer the loops, the more events each
	// collects per wait: on two cores, one loop served an echo benchmark
	// with 13-35% less CPU per message than two. Fewer loops than cores
	// also leave room for the application's goroutines. Raise it when
	// OnMessage does enough work to keep a loop's core busy.
	Loops int
}

// ErrPollerClosed is returned by Poller.Serve after Poller.Close.
var ErrPollerClosed = errors.New("websocket: poller closed")

// errServedByPoller is returned by reads on a connection a Poller serves.
var errServedByPoller = errors.New("websocket: connection is served by a Poller; it delivers the messages")

// NewPoller starts a poller's event loops.
func NewPoller(opts PollerOptions) (*Poller, error) {
	if opts.OnMessage == nil {
		return nil, errors.New("websocket: PollerOptions.OnMessage is required")
	}
	if opts.Loops <= 0 {
		opts.Loops = runtime.GOMAXPROCS(0)/4 + 1
	}
	p := &Poller{opts: opts, conns: make(map[*Conn]struct{})}
	if err := p.startLoops(); err != nil {
		return nil, err
	}
	return p, nil
}

// Serve hands c over to the poller, which from now on reads it and calls
// OnMessage for each message until the connection ends, then OnClose.
// Serve returns at once. Do not call Read, ReadAppend or Reader on c
// afterwards; Write, Ping, Close and the rest work as usual.
//
// Close called from a callback (for this connection or another one) sends
// the close frame and returns without waiting for the peer's answer, so
// that the loop is not held up; the poller completes the closing handshake
// (bounded by CloseTimeout). Called elsewhere, Close waits as usual while
// the poller reads, unless the connection's loop is busy at that moment.
func (p *Poller) Serve(c *Conn) error {
	if c.isClosed() {
		return ErrClosed
	}
	if !c.readMu.tryLock() {
		return ErrConcurrentRead
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.readMu.unlock()
		return ErrPollerClosed
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	p.mu.Unlock()
	ev := &evState{p: p}
	if !c.ev.CompareAndSwap(nil, ev) {
		p.forget(c)
		c.readMu.unlock()
		return errors.New("websocket: connection is already served by a Poller")
	}
	if p.register(c, ev) {
		return nil
	}
	c.readMu.unlock()
	go p.serveBlocking(c)
	return nil
}

// Len returns the number of connections the poller serves.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close closes every connection the poller serves with CloseNow (OnClose
// is still called for each), stops the loops and waits for them. For a
// graceful end, close the connections first, for example with
// Group.Shutdown. Close waits for the callbacks to return, so it must not
// be called from OnMessage or OnClose.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	p.closed = true
	conns := make([]*Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.CloseNow()
	}
	p.stopLoops()
	p.wg.Wait()
	return nil
}

// forget removes c and reports whether it was still served.
func (p *Poller) forget(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns[c]; !ok {
		return false
	}
	delete(p.conns, c)
	p.wg.Done()
	return true
}

// finish reports the end of c to the application, once.
func (p *Poller) finish(c *Conn, err error) {
	if p.forget(c) && p.opts.OnClose != nil {
		p.opts.OnClose(c, err)
	}
}

// evState is what a Poller keeps per connection.
type evState struct {
	p     *Poller
	l     atomic.Pointer[loop] // the loop watching the connection; nil if a goroutine reads it
	token uint64               // the connection's key in l

	// dispatching is set while OnMessage runs, so that Close called from
	// it knows not to wait for the loop it would be holding up.
	dispatching atomic.Bool
	// pending is set by the loop when an event arrived while another
	// goroutine held readMu; that goroutine services the connection again.
	pending atomic.Bool
	// closing is set when the connection closed and its loop must report
	// it; the holder of readMu does so when it lets go.
	closing atomic.Bool

	// Reading without waiting (poller_linux.go), by the holder of readMu.
	nowFn  func(fd uintptr) bool // reads once into nowDst
	nowDst []byte
}

func (p *Poller) dispatch(c *Conn, ev *evState, typ MessageType, msg []byte) {
	ev.dispatching.Store(true)
	p.opts.OnMessage(c, typ, msg)
	ev.dispatching.Store(false)
}

// serveBlocking reads c with a goroutine of its own, for connections no
// loop can watch.
func (p *Poller) serveBlocking(c *Conn) {
	ev := c.ev.Load()
	var buf []byte
	for {
		typ, msg, err := c.readBlocking(context.Background(), buf[:0])
		if err != nil {
			c.closeNow(err) // usually closed already, and the reason recorded
			p.finish(c, c.errAfterClose())
			return
		}
		p.dispatch(c, ev, typ, msg)
		buf = keepSmall(msg)
	}
}

// readBlocking is ReadAppend for the poller's own goroutines, which may read
// a served connection.
func (c *Conn) readBlocking(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if !c.readMu.tryLock() {
		return 0, dst, ErrConcurrentRead
	}
	defer c.readMu.unlock()
	if c.isClosed() {
		return 0, dst, c.errAfterClose()
	}
	return c.rd.readMessage(ctx, dst)
}

// maxKeptBuffer bounds the message buffer a loop keeps between messages.
const maxKeptBuffer = 64 << 10

// getBuf returns a message buffer for a goroutine of the poller.
func (p *Poller) getBuf() *[]byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

// maxPooledBuffer bounds the buffers kept for handoffs; the pool lets the
// garbage collector take them back when they go unused.
const maxPooledBuffer = 1 << 20

// putBuf keeps msg's storage in b for the next goroutine, unless it grew
// past maxPooledBuffer.
func (p *Poller) putBuf(b *[]byte, msg []byte) {
	if cap(msg) > maxPooledBuffer {
		msg = nil
	}
	*b = msg[:0]
	p.bufs.Put(b)
}

// keepSmall returns msg's storage for reuse unless it grew large.
func keepSmall(msg []byte) []byte {
	if cap(msg) > maxKeptBuffer {
		return nil
	}
	return msg[:0]
}

// errWouldBlock reports that the socket has no more data for now.
var errWouldBlock = errors.New("websocket: read would block")

// scanResult says what a loop can do with the bytes buffered.
type scanResult int

const (
	scanNeedMore scanResult = iota // nothing complete: read more
	scanMessage                    // a whole message, a header the reader rejects, or a message too large to buffer whole
	scanControl                    // complete control frames, then an incomplete message
	scanHandoff                    // a compressed message too large to buffer whole
)

// scan looks at the buffered frames, without consuming them, to tell what
// the loop should let the reader do. A message that fits in the buffer is
// read once complete, so that a message trickling in costs no more than
// its bytes in the buffer. A larger one is read as it comes: the reader
// keeps the part received (stash) and resumes at the next event, except a
// compressed one, whose inflater cannot stop half-way: that one goes to a
// goroutine. scan counts the complete control frames that come before any
// data frame. Rules the reader enforces are not checked here: a header the
// reader will reject is reported as scanMessage, since rejecting it needs
// no more bytes.
func (r *reader) scan() (controls int, what scanResult) {
	if r.inMessage || r.resume {
		// A message is half read: go on with it as bytes come, unless it
		// is compressed, since the inflater cannot stop and resume.
		if r.compressed {
			return 0, scanHandoff
		}
		return 0, scanMessage
	}
	b := r.buf[r.r:r.w]
	off := 0
	inMessage, compressed := false, false
	for len(b)-off >= 2 {
		hlen := headerLen(b[off+1])
		if len(b)-off < hlen {
			break
		}
		h, _, err := parseHeader(b[off:])
		if err != nil || r.headerViolation(&h, inMessage) != "" {
			return controls, scanMessage
		}
		if h.length > int64(len(b)-off-hlen) {
			// An incomplete frame. Whatever comes before it is handled
			// first; a message that cannot fit in the buffer is handed off.
			switch {
			case controls > 0:
				return controls, scanControl
			case !h.op.isControl() && h.length > int64(len(r.buf)-off-hlen),
				inMessage && len(b) == len(r.buf):
				// Too large to wait for in the buffer, or the fragments
				// before it fill the buffer: read the message as it comes
				// (a compressed one on a goroutine of its own).
				if compressed || !inMessage && h.rsv&bitRsv1 != 0 {
					return 0, scanHandoff
				}
				return 0, scanMessage
			case r.invalidTextSoFar(b):
				return 0, scanMessage // fail fast, without waiting for the rest
			}
			return 0, scanNeedMore
		}
		off += hlen + int(h.length)
		if h.op.isControl() {
			if !inMessage {
				controls++
			}
			continue
		}
		if !inMessage {
			compressed = h.rsv&bitRsv1 != 0
		}
		inMessage = true
		if h.fin {
			return controls, scanMessage
		}
	}
	switch {
	case controls > 0:
		return controls, scanControl
	case inMessage && len(b) == len(r.buf):
		// Complete fragments fill the buffer and the next header is cut
		// short: nothing more fits until the reader takes them.
		if compressed {
			return 0, scanHandoff
		}
		return 0, scanMessage
	case r.invalidTextSoFar(b):
		return 0, scanMessage
	}
	return 0, scanNeedMore
}

// invalidTextSoFar reports whether b, the buffered start of an incomplete
// message (control frames may be interleaved), is an uncompressed text
// message whose payload so far is already invalid UTF-8. RFC 6455 asks to
// fail such a message at once, not when its end arrives.
func (r *reader) invalidTextSoFar(b []byte) bool {
	if r.c.opts.SkipUTF8Validation {
		return false
	}
	var v utf8Validator
	v.reset()
	var chunk [128]byte
	for off := 0; len(b)-off >= 2; {
		hlen := headerLen(b[off+1])
		if len(b)-off < hlen {
			return false
		}
		h, _, _ := parseHeader(b[off:])
		off += hlen
		n := len(b) - off
		if h.length < int64(n) {
			n = int(h.length)
		}
		if !h.op.isControl() {
			if h.op == opBinary || h.op == opText && h.rsv&bitRsv1 != 0 {
				return false
			}
			key := h.key
			for p := b[off : off+n]; len(p) > 0; {
				k := copy(chunk[:], p)
				p = p[k:]
				if h.masked {
					key = maskBytes(chunk[:k], key)
				}
				if !v.feed(chunk[:k]) {
					return true
				}
			}
		}
		off += n
	}
	return false
}

// handleControlFrames reads and acts on the next k frames, all complete
// control frames.
func (r *reader) handleControlFrames(k int) error {
	r.stopOnControl = true
	defer func() { r.stopOnControl = false }()
	for range k {
		if err := r.nextFrame(context.Background()); err != errControlHandled {
			return err
		}
	}
	return nil
}
