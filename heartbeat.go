package websocket

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// noteFrame records that a frame, or a part of a frame's payload, arrived,
// for the heartbeat: a peer sending a long frame slowly is alive, on every
// read path alike (the decoder's events come a piece of payload at a time,
// and a read straight into the caller's buffer notes its own). Without a
// heartbeat it costs nothing: the counter is an atomic the hot path can
// skip.
func (c *Conn) noteFrame() {
	if hb := c.heartbeat(); hb != nil {
		hb.activity.Add(1)
	}
}

// noteTaken records, for the heartbeat, that the peer took a part of a
// long frame we are writing: the rest of the frame had waited for room
// that only the peer's reads make, so a peer reading it slowly is alive,
// though it cannot answer a ping until the frame is out. What the kernel
// takes before its buffers are full says nothing of the peer, so only
// the parts of frames too long for them count (heartbeatSlice), and those
// a Poller's loop sends once the socket said it was full (outQueue.flush).
func (c *Conn) noteTaken() {
	if hb := c.heartbeat(); hb != nil {
		hb.activity.Add(1)
	}
}

// heartbeatSlice is the part of a long frame written at a time when a
// heartbeat runs, so that the peer's reads of it count (noteTaken): a
// peer is deemed alive while it reads at least this much every
// PingInterval + PingTimeout.
const heartbeatSlice = 256 << 10

// noteDataFrame is noteFrame for a data frame, which a blocking reader
// returns to the application: a pong or close waiting for the write side
// is kicked first, as nothing may read for a while.
func (c *Conn) noteDataFrame() {
	c.noteFrame()
	if c.controlPending() {
		c.kickControl()
	}
}

// heartbeat pings a quiet peer and closes the connection when it does not
// answer. It runs on timers, so an idle connection has no goroutine for it.
type heartbeat struct {
	c     *Conn
	mu    sync.Mutex // guards timer, which the first tick may race to use
	timer *time.Timer
	last  uint64 // activity seen at the previous tick
	// activity counts frames and pieces of payload received, and parts of
	// long frames the peer took (noteTaken); without a heartbeat nothing
	// counts.
	activity atomic.Uint64
	stop     atomic.Bool
}

func (c *Conn) startHeartbeat() {
	hb := &heartbeat{c: c}
	c.extra().hb = hb
	hb.mu.Lock()
	hb.timer = time.AfterFunc(c.opts.PingInterval, hb.tick)
	hb.mu.Unlock()
}

func (c *Conn) stopHeartbeat() {
	if hb := c.heartbeat(); hb != nil {
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

// peerTook reports whether the peer took some of the bytes the kernel held
// for it when it held queued: a peer reading what the socket buffers held
// ahead of the ping, which it must read before the ping, is alive, however
// long that takes it (megabytes of buffers, a slow link). With queued
// unknown (-1) or zero, only the peer's frames and the writes the socket
// accepts count.
func (c *Conn) peerTook(queued int) bool {
	if queued <= 0 {
		return false
	}
	now := c.unsentBytes()
	return now >= 0 && now < queued
}

// closeDead fails the connection with 1001. If the close frame cannot go
// out at once (it waits behind a write, or in a Poller's queue, that a
// peer taking nothing never lets through), the connection closes now:
// waiting for the frame would only put off, by up to a second, the close
// PingInterval and PingTimeout promise.
func (hb *heartbeat) closeDead() {
	c := hb.c
	perr := &ProtocolError{Code: StatusGoingAway, Reason: "heartbeat timeout", Err: ErrHeartbeatTimeout}
	c.fail(perr, false)
	c.closeMu.Lock()
	sent := c.closeSent
	c.closeMu.Unlock()
	if !sent {
		c.closeNow(perr)
	}
}

// ErrHeartbeatTimeout is the error reported when the heartbeat found the
// peer unresponsive and closed the connection (with close code 1001).
var ErrHeartbeatTimeout = errors.New("websocket: peer did not answer the heartbeat ping in time")

func (hb *heartbeat) tick() {
	c := hb.c
	if hb.stop.Load() {
		return
	}
	if now := hb.activity.Load(); now != hb.last {
		hb.last = now
		hb.again()
		return
	}
	timeout := c.opts.PingTimeout
	if timeout <= 0 {
		timeout = c.opts.PingInterval
	}
	before := hb.activity.Load()
	queued := c.unsentBytes()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	_, err := c.ping(ctx, true)
	cancel()
	if hb.stop.Load() {
		return
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && hb.activity.Load() == before && !c.peerTook(queued) {
			hb.closeDead()
			return
		}
		if c.isClosed() {
			return
		}
	}
	hb.last = hb.activity.Load()
	hb.again()
}
