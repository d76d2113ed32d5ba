package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Ping sends a ping and waits for the matching pong, returning the round
// trip time.
//
// The pong is seen by whatever reads the connection. If no goroutine is
// reading when Ping starts, Ping reads by itself: it handles control frames
// until its pong arrives, and stops at the first data message, which is
// left whole for the next Read (a Read that starts meanwhile waits for
// Ping to step aside). If a data message comes first and nothing reads it,
// Ping waits until ctx ends, since the pong queues behind the message.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	c.pingMu.Lock()
	c.pingSeq++
	id := c.pingSeq
	done := make(chan struct{})
	if c.pings == nil {
		c.pings = make(map[uint64]chan struct{})
	}
	c.pings[id] = done
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, id)
		c.pingMu.Unlock()
	}()

	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], id)
	start := time.Now()
	if err := c.writeControl(ctx, opPing, payload[:]); err != nil {
		return 0, fmt.Errorf("websocket: failed to send ping: %w", err)
	}
	mayRead := true
	for {
		if mayRead && c.tryStartPump() {
			err := c.rd.pumpControl(ctx, done)
			c.endPump()
			mayRead = false
			if err != nil && !errors.Is(err, errDataPending) {
				return 0, err
			}
		}
		select {
		case <-done:
			return time.Since(start), nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-c.closed:
			return 0, c.errAfterClose()
		}
	}
}

// tryStartPump takes the read lock for a Ping if nobody reads, marking it
// so that a Read arriving meanwhile waits instead of failing.
func (c *Conn) tryStartPump() bool {
	if c.ev.Load() != nil {
		return false // the Poller reads the pong
	}
	c.pumpMu.Lock()
	defer c.pumpMu.Unlock()
	if !c.readMu.tryLock() {
		return false
	}
	c.pumping = true
	return true
}

func (c *Conn) endPump() {
	c.pumpMu.Lock()
	c.pumping = false
	c.pumpMu.Unlock()
	c.readMu.unlock()
}

// lockRead takes the read lock for Read or Reader: at once if free, after
// waiting if a Ping holds it, and not at all if another read holds it.
func (c *Conn) lockRead(ctx context.Context) error {
	if c.isClosed() {
		return c.errAfterClose()
	}
	if c.ev.Load() != nil {
		return errServedByPoller
	}
	if c.readMu.tryLock() {
		return nil
	}
	// A pump sets pumping under pumpMu while holding readMu, so under
	// pumpMu a failed tryLock and pumping are consistent.
	c.pumpMu.Lock()
	if c.readMu.tryLock() {
		c.pumpMu.Unlock()
		return nil
	}
	pumping := c.pumping
	c.pumpMu.Unlock()
	if !pumping && !c.closing.Load() {
		return ErrConcurrentRead
	}
	// Ping or Close is reading on the application's behalf and steps aside
	// at the next data message.
	err := c.readMu.lockOrClosed(ctx, c.closed)
	if errors.Is(err, ErrClosed) {
		return c.errAfterClose()
	}
	return err
}

// gotPong wakes the Ping waiting for this payload, if any.
func (c *Conn) gotPong(payload []byte) {
	if len(payload) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(payload)
	c.pingMu.Lock()
	if ch, ok := c.pings[id]; ok {
		close(ch)
		delete(c.pings, id)
	}
	c.pingMu.Unlock()
}

// noteFrame records that a frame arrived, for the heartbeat. Without one
// it costs nothing: the counter is an atomic the hot path can skip.
func (c *Conn) noteFrame() {
	if c.hb != nil {
		c.activity.Add(1)
	}
}

// heartbeat pings a quiet peer and closes the connection when it does not
// answer. It runs on timers, so an idle connection has no goroutine for it.
type heartbeat struct {
	c     *Conn
	mu    sync.Mutex // guards timer, which the first tick may race to use
	timer *time.Timer
	last  uint64 // activity seen at the previous tick
	stop  atomic.Bool
}

func (c *Conn) startHeartbeat() {
	hb := &heartbeat{c: c}
	c.hb = hb
	hb.mu.Lock()
	hb.timer = time.AfterFunc(c.opts.PingInterval, hb.tick)
	hb.mu.Unlock()
}

func (c *Conn) stopHeartbeat() {
	if hb := c.hb; hb != nil {
		hb.stop.Store(true)
		hb.mu.Lock()
		hb.timer.Stop()
		hb.mu.Unlock()
	}
}

// again schedules the next tick.
func (hb *heartbeat) again() {
	hb.mu.Lock()
	hb.timer.Reset(hb.c.opts.PingInterval)
	hb.mu.Unlock()
}

// ErrHeartbeatTimeout is the error reported when the heartbeat found the
// peer unresponsive and closed the connection (with close code 1001).
var ErrHeartbeatTimeout = errors.New("websocket: peer did not answer the heartbeat ping in time")

func (hb *heartbeat) tick() {
	c := hb.c
	if hb.stop.Load() {
		return
	}
	if now := c.activity.Load(); now != hb.last {
		hb.last = now
		hb.again()
		return
	}
	timeout := c.opts.PingTimeout
	if timeout <= 0 {
		timeout = c.opts.PingInterval
	}
	before := c.activity.Load()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	_, err := c.Ping(ctx)
	cancel()
	if hb.stop.Load() {
		return
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && c.activity.Load() == before {
			c.failConn(&ProtocolError{Code: StatusGoingAway, Reason: "heartbeat timeout", Err: ErrHeartbeatTimeout}, false)
			return
		}
		if c.isClosed() {
			return
		}
	}
	hb.last = c.activity.Load()
	hb.again()
}
