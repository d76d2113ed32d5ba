package websocket

import (
	"bytes"
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
// data is there. Connections the poller cannot watch that way (TLS,
// WebSockets over HTTP/2 streams, other net.Conn implementations, other
// systems) are served by a goroutine each, with the same callbacks, so
// code written for a Poller runs everywhere.
//
// The trade-off is the usual one of event loops: OnMessage runs on a
// goroutine shared with other connections, so while it runs, those
// connections wait. Keep it short; hand slow work to another goroutine.
//
// A loop never waits for a peer. A message is read as far as its
// bytes have arrived and resumed at the next event, compressed or not.
// Writes to an epoll-served connection, from a callback or from anywhere
// else, never wait for the socket either: what the socket does not take at
// once is queued and written by the loop when the socket becomes writable.
// A write from a callback that finds more than WriteQueueLimit bytes
// queued fails with ErrWriteQueueFull and closes the connection, so a
// peer that stops reading costs its own queue and nothing else; so does
// one that would wait for another goroutine's message while that writer
// waits for room. A write from a callback does wait, bounded by its ctx,
// for another goroutine's message in progress (a Writer open, a
// compressed Write) to end: keep those short on a served connection, or
// write from the callbacks only. A write from any other goroutine waits
// for room instead, bounded by its ctx: backpressure for a producer, and
// a ctx that ends leaves the connection open (a heartbeat drops a peer
// that stopped reading for good). Pongs and close frames go through the
// same queue.
//
// Where the kernel offers io_uring, a loop batches its system calls: the
// connections one wait found readable are read with one call, and the
// small frames written to them meanwhile are sent with one more once
// their callbacks returned (PollerOptions.NoBatching).
//
// A Poller is safe for concurrent use.
type Poller struct {
	opts  PollerOptions
	loops []*loop       // nil where epoll is not used
	next  atomic.Uint64 // spreads connections over the loops

	mu       sync.Mutex
	n        int                // connections served, for Len
	blocking map[*Conn]struct{} // those served by a goroutine each; the loops list theirs
	// servers holds the ids of the goroutines serving those, so that a
	// callback on any of them is known as the Poller's, as on a loop
	// (onServingGoroutine).
	servers map[uint64]struct{}
	closed  bool
	// inOnClose counts, by goroutine id, the OnClose calls under way
	// (finish): Close must know it is called from one wherever it runs.
	inOnClose map[uint64]int
	wg        sync.WaitGroup // loops and connections
}

// DefaultWriteQueueLimit is the default of PollerOptions.WriteQueueLimit.
const DefaultWriteQueueLimit = 1 << 20

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
	// epoll instance; 0 (or a negative value) means GOMAXPROCS/2 + 1. A
	// loop spends most of its time in system calls, and the fewer the
	// loops, the more events each collects per wait; but one loop serves
	// its connections on one core at a time. On two cores, 1,000 busy
	// connections got 1.2× the messages a second at 0.87× the CPU per
	// message from two loops as from one (BENCHMARKS.md, "Poller event
	// loops"), hence the default.
	// Raise it when OnMessage does enough work to keep a loop's core busy.
	Loops int

	// WriteQueueLimit bounds, per epoll-served connection, the bytes
	// written but not yet taken by the socket (beyond the kernel's own
	// send buffer). A write from a callback that finds more than this
	// queued fails with ErrWriteQueueFull and closes the connection: the
	// peer is not reading, or not as fast as the callbacks write, and a
	// loop never waits. A write from another goroutine waits for room,
	// until its ctx ends. A single write may exceed the limit once, and
	// so may the pongs owed ahead of a reply (those that waited while the
	// queue was past the limit join it together, a few KiB at most). Set it
	// above the most that callbacks write to one connection in a burst
	// (a few echoes of the largest message, a broadcast that lands
	// meanwhile), or a peer that reads, only slower, is dropped. Higher
	// values tolerate slower peers and bursts at the cost of memory per
	// slow peer. Zero, or a negative value, means DefaultWriteQueueLimit
	// (1 MiB).
	WriteQueueLimit int

	// NoBatching makes every read and write of a loop a system call of its
	// own. By default, on Linux with io_uring, a loop reads the
	// connections one wait reported readable with one system call, and
	// sends what was written to them meanwhile (frames up to 2 KiB) with
	// one more, after every OnMessage of the batch returned: fewer system
	// calls per message, at the price of replies leaving together rather
	// than each as soon as it is written. Batching is skipped silently
	// where io_uring is missing or refused.
	NoBatching bool
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
		opts.Loops = runtime.GOMAXPROCS(0)/2 + 1
	}
	if opts.WriteQueueLimit <= 0 {
		opts.WriteQueueLimit = DefaultWriteQueueLimit
	}
	p := &Poller{opts: opts, blocking: make(map[*Conn]struct{})}
	if err := p.startLoops(); err != nil {
		return nil, err
	}
	return p, nil
}

// Serve hands c over to the poller, which from now on reads it and calls
// OnMessage for each message until the connection ends, then OnClose.
// Serve returns at once; the callbacks run on the poller's goroutines,
// with one exception: OnClose may run on the goroutine that ends up
// handing the connection's end to the poller, inside Serve for one that
// ended while Serve took it, inside Close or Ping for one they were
// reading when it ended. So do not call Serve, Close or Ping on a served
// connection while holding a lock that OnClose takes.
// Over HTTP/2 the handler that accepted c must then wait for c.Done (see
// Conn.Done): the connection is the request's stream, and over HTTP/1.1
// it is not, so a handler that serves both checks r.ProtoMajor. Do
// not call Read, ReadAppend or Reader on c afterwards; Write, Ping, Close
// and the rest work as usual (see Poller for how writes behave, and Close
// and Ping for what they do when called from a callback).
//
// An error means c was not handed over (the poller was closed, c is
// closed, being read, or served already): the caller still owns c, and
// OnClose will not be called for it, so close it unless it is in use. A
// Ping reading for its pong, as the heartbeat's does, is no obstacle:
// the poller reads once it has its pong.
//
// A Reader that was left part-way through a message is not "being read":
// Serve takes c, the rest of that message is dropped (as the next read
// would drop it), and the Reader's next Read returns an error.
//
// A connection in the middle of a message, begun by a Ping or Close that
// read on the application's behalf or by a read cut off by its ctx, is
// served by a goroutine of its own rather than a loop: the message is
// delivered whole first, as the next ReadAppend would have. So is one
// that another goroutine is writing to when Serve is called, as that
// write may wait on its peer for long: Serve does not wait for it.
func (p *Poller) Serve(c *Conn) error {
	if c.isClosed() {
		return ErrClosed
	}
	locked, pumping := c.lockReadOrPumping()
	if !locked && !pumping {
		return ErrConcurrentRead
	}
	unlock := func() {
		switch {
		case !locked:
		case c.ev.Load() != nil:
			// Served already, by a loop that may have found the lock
			// held meanwhile and left its event or the connection's end
			// to the holder.
			c.unlockServed()
		default:
			c.unlockRead()
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		unlock()
		return ErrPollerClosed
	}
	p.n++
	p.wg.Add(1)
	p.mu.Unlock()
	ev := &evState{p: p}
	if !c.ev.CompareAndSwap(nil, ev) {
		p.mu.Lock()
		p.n--
		p.mu.Unlock()
		p.wg.Done()
		unlock()
		return errors.New("websocket: connection is already served by a Poller")
	}
	// A Ping reading for its pong on the application's behalf (the
	// heartbeat's, say) steps aside at the pong or at the next data
	// message, which a goroutine of the poller then takes over; Pings
	// from now on leave the reading to the poller.
	if locked && p.register(c, ev) {
		return nil
	}
	unlock()
	p.mu.Lock()
	p.blocking[c] = struct{}{}
	closed := p.closed
	p.mu.Unlock()
	if closed {
		c.CloseNow() // Close ran since the check above and did not see c
	}
	go p.serveBlocking(c)
	return nil
}

// isClosed reports whether Close was called.
func (p *Poller) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Len returns the number of connections the poller serves.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// Close closes every connection the poller serves with CloseNow (OnClose
// is still called for each), stops the loops and waits for them. The
// connections served by goroutines close side by side, so that those over
// TLS whose peers stopped reading cost 100 ms together, not each. For a
// graceful end, close the connections first, for example with
// Group.Shutdown. Called from a callback (OnMessage or OnClose) of this
// Poller, Close does the same but cannot wait for the callbacks, as the
// caller is one: it returns once the connections are closed and the loops
// told to stop, and the remaining OnClose calls follow. A Close after the
// first, or during it, returns ErrPollerClosed at once, without waiting.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	p.closed = true
	conns := make([]*Conn, 0, p.n)
	for c := range p.blocking {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	blocking := len(conns)
	// A connection that a loop registers after this sees p.closed and
	// closes itself (register).
	conns = p.loopConns(conns)
	inCallback := p.inCallback(conns)
	// The connections served by goroutines (TLS, HTTP/2, other net.Conns)
	// close side by side: each may wait up to 100 ms for a peer that
	// stopped reading (CloseNow), which one after another would add up. A
	// loop's sockets close at once.
	var closing sync.WaitGroup
	for _, c := range conns[:blocking] {
		closing.Go(func() { c.CloseNow() })
	}
	for _, c := range conns[blocking:] {
		c.CloseNow()
	}
	closing.Wait()
	p.stopLoops()
	if !inCallback {
		p.wg.Wait() // a callback calling Close would wait for itself
	}
	return nil
}

// inCallback reports whether the caller is one of p's loops, in an
// OnClose call, or the goroutine of one of conns, the connections it
// serves: where its callbacks run.
func (p *Poller) inCallback(conns []*Conn) bool {
	g := goid()
	if p.onLoop(g) {
		return true
	}
	p.mu.Lock()
	inOnClose := p.inOnClose[g] > 0
	p.mu.Unlock()
	if inOnClose {
		return true
	}
	for _, c := range conns {
		if ev := c.ev.Load(); ev != nil && ev.g.Load() == g {
			return true
		}
	}
	return false
}

// finish reports the end of c to the application, once.
func (p *Poller) finish(c *Conn, err error) {
	if c.ev.Load().flags.Or(evFinished)&evFinished != 0 {
		return
	}
	p.mu.Lock()
	p.n--
	delete(p.blocking, c)
	p.mu.Unlock()
	if p.opts.OnClose != nil {
		g := goid()
		p.mu.Lock()
		if p.inOnClose == nil {
			p.inOnClose = make(map[uint64]int)
		}
		p.inOnClose[g]++
		p.mu.Unlock()
		p.opts.OnClose(c, err)
		p.mu.Lock()
		if p.inOnClose[g]--; p.inOnClose[g] == 0 {
			delete(p.inOnClose, g)
		}
		p.mu.Unlock()
	}
	p.wg.Done()
}

// evState is what a Poller keeps per connection.
type evState struct {
	p     *Poller
	l     atomic.Pointer[loop] // the loop watching the connection; nil if a goroutine reads it
	token uint64               // the connection's key in l
	g     atomic.Uint64        // the goroutine reading the connection when no loop does

	flags atomic.Uint32 // evPending, evClosing, evFinished, evQueued
	// sock is the connection's socket once the loop took it out of the
	// runtime's poller; Conn.nc is then closed. Set under the Conn's
	// closeMu, with nc, before l.
	sock *loopSocket
}

// detachedSocket returns the socket a Poller took out of the runtime's
// poller for its loop, whose closing Conn.nc no longer does; nil if none.
// The caller holds closeMu.
func (c *Conn) detachedSocket() *loopSocket {
	if ev := c.ev.Load(); ev != nil {
		return ev.sock
	}
	return nil
}

// evState's flags.
const (
	// evPending is set by the loop when an event arrived while another
	// goroutine held readMu; that goroutine services the connection again.
	evPending = 1 << iota
	// evClosing is set when the connection closed and its loop must
	// report it; the holder of readMu does so when it lets go.
	evClosing
	// evFinished is set when the end was reported (Poller.finish).
	evFinished
	// evQueued is set when the connection joined its loop's closedQ.
	evQueued
	// evHangup is set when epoll said the peer shut down its side (or the
	// socket failed): the loop reads on to the end of the stream, since no
	// further event will announce it.
	evHangup
)

// has reports whether flag is set.
func (ev *evState) has(flag uint32) bool { return ev.flags.Load()&flag != 0 }

// queueLimit is the WriteQueueLimit of the Poller serving c, whose writes
// go through a queue.
func (c *Conn) queueLimit() int { return c.ev.Load().p.opts.WriteQueueLimit }

func (p *Poller) dispatch(c *Conn, typ MessageType, msg []byte) {
	if c.controlPending() {
		// Pongs to the pings that came before this message go out before
		// anything OnMessage writes in reply (Autobahn 5.6).
		c.kickControlBeforeReply()
	}
	p.opts.OnMessage(c, typ, msg)
}

// serveBlocking reads c with a goroutine of its own, for connections no
// loop can watch.
func (p *Poller) serveBlocking(c *Conn) {
	g := goid()
	c.ev.Load().g.Store(g)
	p.mu.Lock()
	if p.servers == nil {
		p.servers = make(map[uint64]struct{})
	}
	p.servers[g] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.servers, g)
		p.mu.Unlock()
	}()
	var buf []byte
	for {
		typ, msg, err := c.readBlocking(context.Background(), buf[:0])
		if err != nil {
			// The connection is closed, or will be once the closing
			// handshake's last frame is out (bounded by CloseTimeout).
			c.armEndTimer(err)
			<-c.ended() // OnClose, as Done, once the socket is closed and the Group left
			p.finish(c, c.errAfterClose())
			return
		}
		p.dispatch(c, typ, msg)
		buf = keepSmall(msg)
	}
}

// readBlocking is ReadAppend for the poller's own goroutines, which may read
// a served connection. It waits for readMu: a Close or Ping that waited for
// it while Serve ran lets go at once when it sees c served (unlockServed).
func (c *Conn) readBlocking(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if locked, err := c.readMu.Lock(ctx, c.done(), nil); err != nil {
		return 0, dst, err
	} else if !locked {
		return 0, dst, c.errAfterClose()
	}
	defer c.readMu.Unlock()
	if c.isClosed() {
		return 0, dst, c.errAfterClose()
	}
	return c.rd.readMessage(ctx, dst)
}

// unlockServed lets go of readMu for a goroutine that took it to read c
// itself (a Close waiting for the peer's close, a Ping's pump) and found c
// served meanwhile: Serve took c between that goroutine's check and its
// lock. What c's loop left to the holder in that time, an event or the
// connection's end, goes back to the loop.
func (c *Conn) unlockServed() {
	c.unlockRead()
	ev := c.ev.Load()
	if l := ev.l.Load(); l != nil {
		l.released(c, ev)
	}
}

// maxKeptBuffer bounds the message buffer a loop keeps between messages.
const maxKeptBuffer = 64 << 10

// keepSmall returns msg's storage for reuse unless it grew large.
func keepSmall(msg []byte) []byte {
	if cap(msg) > maxKeptBuffer {
		return nil
	}
	return msg[:0]
}

// errWouldBlock reports that the socket has no more data, or no room, for
// now.
var errWouldBlock = errors.New("websocket: operation would block")

// onServingGoroutine reports whether the calling goroutine serves
// connections for c's Poller: any of its loops (in a callback of any
// connection they serve), or a goroutine serving one connection (c's own
// or another's: TLS, HTTP/2, any connection off Linux). Such a call must
// not wait for something a loop or serving goroutine would read or
// drain: the one c is on may be held up in turn by a callback waiting for
// this one, and both would stall with every connection they serve.
func (c *Conn) onServingGoroutine() bool {
	ev := c.ev.Load()
	if ev == nil {
		return false
	}
	g := goid()
	return ev.g.Load() == g || ev.p.onLoop(g) || ev.p.onServer(g)
}

// onServer reports whether goroutine g serves one of p's connections.
func (p *Poller) onServer(g uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.servers[g]
	return ok
}

// onLoop reports whether goroutine g is one of p's loops.
func (p *Poller) onLoop(g uint64) bool {
	for _, l := range p.loops {
		if l.goroutine() == g {
			return true
		}
	}
	return false
}

// goid returns the calling goroutine's id, parsed from its stack header
// ("goroutine 123 [running]:"). It costs about a microsecond and is only
// asked on the rare paths that must not wait on the serving goroutine.
func goid() uint64 {
	var buf [32]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	var id uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + uint64(ch-'0')
	}
	return id
}
