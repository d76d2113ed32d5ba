package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ErrPingFromCallback is returned by Ping called from a Poller callback on a
// connection that Poller serves: the pong must be read by a loop (or the
// goroutine serving the connection), and those never wait for one another
// (two callbacks pinging each other's connections would stall both).
var ErrPingFromCallback = errors.New("websocket: Ping from a Poller callback would wait for a pong a loop must read; call it from another goroutine")

// Ping sends a ping and waits for the matching pong, returning the round
// trip time.
//
// The pong is seen by whatever reads the connection. Whenever no goroutine
// is reading while Ping waits (when it starts, or once a Read, another
// Ping or Close lets go), Ping reads by itself: it handles control frames
// until its pong arrives, and stops at the first data message, which is
// left whole for the next Read (a Read that starts meanwhile waits for
// Ping to step aside). If a data message comes first and nothing reads it,
// Ping waits until ctx ends, since the pong queues behind the message.
// If the peer's close frame comes while Ping reads, Ping returns the
// peer's close once the closing handshake is over, as Read does: on a
// client, once the server has closed the TCP connection, which may take
// up to CloseTimeout (or until ctx ends).
//
// The ping's write is bounded by ctx like any write: where a ctx that ends
// during a write closes the connection (see Write), so does one that ends
// while the ping waits to go out, as it does behind HTTP/2 flow control
// on a server's stream whose peer reads nothing.
//
// On a connection served by a Poller, Ping called from a callback of that
// Poller, on any of its loops or of the goroutines serving one connection
// each, returns ErrPingFromCallback at once: the pong could only be read
// by one of those, and the callback holds one up. On a
// connection Dial opened in a browser, Ping returns ErrPingInBrowser at
// once.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	return c.ping(ctx, false)
}

// ping is Ping; heartbeat marks the heartbeat's, whose write, if ctx
// cuts it off part-way, ends the connection with errHeartbeatWriteCut.
func (c *Conn) ping(ctx context.Context, heartbeat bool) (time.Duration, error) {
	if c.viaBrowser() {
		return 0, ErrPingInBrowser
	}
	if c.onServingGoroutine() {
		return 0, ErrPingFromCallback
	}
	if err := c.ctxEnded(ctx); err != nil {
		return 0, err
	}
	ps := c.pingState()
	done := make(chan struct{})
	// The id is taken under the frame lock, so that ids grow in the order
	// the pings go out: a pong then answers every ping with a smaller id
	// (gotPong), whichever of several concurrent Pings wrote first.
	if err := c.lockFrame(ctx); err != nil {
		return 0, wrapError("websocket: failed to send ping", err)
	}
	ps.mu.Lock()
	ps.seq++
	id := ps.seq
	if ps.waiting == nil {
		ps.waiting = make(map[uint64]chan struct{})
	}
	ps.waiting[id] = done
	ps.mu.Unlock()
	defer func() {
		ps.mu.Lock()
		delete(ps.waiting, id)
		ps.mu.Unlock()
	}()
	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], id)
	start := time.Now()
	if heartbeat {
		c.flags.set(flagHeartbeatPing)
	}
	err := c.sendControl(ctx, opPing, payload[:])
	if heartbeat {
		c.flags.clear(flagHeartbeatPing)
	}
	c.unlockFrame()
	if err != nil {
		return 0, wrapError("websocket: failed to send ping", err)
	}
	for {
		// Asked for before trying, so that a read lock let go in between
		// is not missed.
		readFree := ps.awaitReadFree()
		if c.tryStartPump() {
			err := c.rd.pumpControl(ctx, done)
			// Stopped at a data message, the pump must not wake the
			// Pings (itself included): only the Read of that message
			// lets them read on, and its letting go wakes them.
			c.endPump(!errors.Is(err, errDataPending))
			if err != nil && !errors.Is(err, errDataPending) {
				return 0, err
			}
		}
		select {
		case <-done:
			return time.Since(start), nil
		case <-readFree:
			// Whoever read let go (a Read returned, another Ping's
			// pump or Close ended): if nobody reads now, read for the
			// pong ourselves.
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-c.done():
			return 0, c.errAfterClose()
		}
	}
}

// SendPing sends a ping with payload, at most 125 bytes, and returns once
// it is written, without waiting for the answer: for applications that
// run their own keep-alive or measure latency themselves. The peer's pong
// (the same payload, by RFC 6455) reaches ConnOptions.OnPong, called by
// whatever reads the connection, Read or a Poller; nothing reads on
// SendPing's behalf, so without a reader the pong is never seen. A peer
// may answer only the latest of several pings it has not answered yet
// (RFC 6455, section 5.5.3).
//
// Ping is the simpler choice when the round trip time is what matters,
// and ConnOptions.PingInterval when the aim is to drop dead peers; both
// work alongside SendPing. An 8-byte payload could in theory equal the
// one of a pending Ping, which would then return at this pong: Ping's
// payloads start at a random number, so only a payload copied from a
// Ping's could.
//
// Like the other writes, SendPing is safe from any goroutine, a Poller's
// callbacks included, and goes out between the fragments of a message
// being streamed. ctx bounds the wait
// for the frame lock and the write: if ctx ends before any byte went out
// the connection stays usable; if it ends part-way through, the
// connection is closed (see Write). In a browser it returns
// ErrPingInBrowser.
func (c *Conn) SendPing(ctx context.Context, payload []byte) error {
	if c.viaBrowser() {
		return ErrPingInBrowser
	}
	if err := c.ctxEnded(ctx); err != nil {
		return err
	}
	if len(payload) > maxControlPayload {
		return fmt.Errorf("websocket: ping payload is %d bytes, the limit is %d", len(payload), maxControlPayload)
	}
	if err := c.writeControl(ctx, opPing, payload); err != nil {
		return wrapError("websocket: failed to send ping", err)
	}
	return nil
}

// tryStartPump takes the read lock for a Ping if nobody reads, marking it
// so that a Read arriving meanwhile waits instead of failing.
func (c *Conn) tryStartPump() bool {
	if c.ev.Load() != nil {
		return false // the Poller reads the pong
	}
	c.pumpMu.Lock()
	defer c.pumpMu.Unlock()
	if !c.readMu.TryLock() {
		return false
	}
	if c.ev.Load() != nil {
		c.unlockServed() // Serve took c since the check above
		return false
	}
	c.pumping = true
	return true
}

// endPump ends what tryStartPump began, waking the Pings waiting to read
// if wake is set.
//
// The read lock is let go under pumpMu, with pumping cleared: lockRead,
// which tries the lock again under pumpMu when it finds it held, then sees
// it free or sees pumping set, never a lock held by nobody it may wait
// for, which it reported as a concurrent Read.
func (c *Conn) endPump(wake bool) {
	c.pumpMu.Lock()
	c.pumping = false
	if wake {
		c.unlockRead()
	} else {
		c.readMu.Unlock()
	}
	c.pumpMu.Unlock()
}

// unlockRead releases the read lock, then wakes the Pings that wait for
// their pong while nobody else may be reading: one of them reads for it.
// Without this, a Ping that began while a Read held the lock waited for
// good once the application stopped reading, its pong unread.
// Its fast path inlines: the first Ping sets the lock's slow flag.
func (c *Conn) unlockRead() {
	if !c.readMu.UnlockFast() {
		c.unlockReadSlow()
	}
}

//go:noinline
func (c *Conn) unlockReadSlow() {
	c.readMu.UnlockSlow()
	if ps := c.pings.Load(); ps != nil && ps.wantRead.Load() {
		ps.readLetGo()
	}
}

// gotPong wakes the Ping waiting for this payload, if any.
func (c *Conn) gotPong(payload []byte) {
	if len(payload) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(payload)
	ps := c.pings.Load()
	if ps == nil {
		return
	}
	ps.mu.Lock()
	if _, ok := ps.waiting[id]; ok {
		// Ids grow with each Ping, so the pong to this one also answers
		// every earlier Ping still waiting: a peer may answer only the
		// latest of several pings (RFC 6455, section 5.5.3). The distance
		// test keeps that right across a wrap of the counter.
		for other, ch := range ps.waiting {
			if id-other < 1<<32 {
				close(ch)
				delete(ps.waiting, other)
			}
		}
	}
	ps.mu.Unlock()
}

// pings is what Ping keeps: the pings waiting for their pong. It is made
// on the first Ping, so a connection that never pings does not carry it.
type pings struct {
	mu      sync.Mutex
	seq     uint64
	waiting map[uint64]chan struct{}

	// readFree is closed when the read lock is let go while wantRead is
	// set: Pings waiting for their pong may then read for it.
	wantRead atomic.Bool
	readFree chan struct{}
}

// awaitReadFree returns a channel closed the next time the read lock is
// let go.
func (ps *pings) awaitReadFree() <-chan struct{} {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.readFree == nil {
		ps.readFree = make(chan struct{})
		ps.wantRead.Store(true)
	}
	return ps.readFree
}

// readLetGo wakes the Pings waiting in awaitReadFree.
func (ps *pings) readLetGo() {
	ps.mu.Lock()
	if ps.readFree != nil {
		close(ps.readFree)
		ps.readFree = nil
		ps.wantRead.Store(false)
	}
	ps.mu.Unlock()
}

func (c *Conn) pingState() *pings {
	if ps := c.pings.Load(); ps != nil {
		return ps
	}
	// The slow flag first: a read lock let go after a Ping asked to be
	// woken must take unlockRead's slow path, which wakes it.
	c.readMu.SetSlow()
	// Start at a random number, so that a payload chosen for SendPing is
	// not taken for the answer to a Ping.
	c.pings.CompareAndSwap(nil, &pings{seq: rand.Uint64()})
	return c.pings.Load()
}
