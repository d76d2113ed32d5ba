package xsync

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Side says which deadline an Interrupter moves.
type Side uint8

// The sides of a connection an Interrupter can interrupt.
const (
	Read Side = iota
	Write
	Both
)

// past is a deadline that has passed: setting it makes blocked I/O return.
var past = time.Unix(1, 0)

// An Interrupter makes blocking I/O on one side of a connection return
// when the context of the operation ends: the connection's deadline is
// moved into the past, and put back once the operation is over. This is
// how every blocking operation here honours its ctx without a goroutine
// per call. One Interrupter serves one operation at a time, on one
// connection and side; its zero value is ready. It is a pointer, 8 bytes
// in every connection, to state made on its first cancelable operation:
// a connection whose operations never have a ctx that can end carries
// nothing more.
//
// A ctx is followed with context.AfterFunc. One that a second operation
// in a row brings (the same Done channel) is followed from then on, from
// operation to operation: a loop that reads or writes with one ctx (an
// HTTP request's, a connection's) registers twice and allocates nothing
// per operation after that. Any other ctx is let go when its operation
// ends, as a ctx made for one operation is usually cancelled right after
// it, which would run the callback on a goroutine of its own for nothing.
// Release ends the following when the connection closes, so a ctx that
// outlives it does not keep it.
type Interrupter struct {
	s atomic.Pointer[interruptState] // Release may come from another goroutine
}

type interruptState struct {
	mu   sync.Mutex
	done <-chan struct{} // Done of the ctx followed, nil for none
	stop func() bool     // ends the following of done
	last <-chan struct{} // Done of the last operation's ctx
	keep bool            // follow done past its operation: the ctx came twice in a row
	gen  uint64          // counts the ctxs followed; a callback of an older one does nothing
	nc   net.Conn        // of the operation in progress
	side Side

	armed    bool // an operation is in progress
	ended    bool // the ctx followed has ended
	moved    bool // the deadline is in the past because it did
	released bool
}

// releasedState is the state of every Interrupter released before its
// first cancelable operation, so that closing such a connection makes
// nothing.
var releasedState = &interruptState{released: true}

// armed is what Watch returns for an operation Unwatch must end: not nil.
func armed() bool { return true }

// Watch arranges for nc's side to be interrupted when ctx ends. Pass the
// result to Unwatch once the operation is over; a ctx that can never end
// costs nothing (Watch and Unwatch inline to a test of it). nc is a
// net.Conn, not an interface of the three deadline methods, because
// converting the caller's net.Conn to another interface looks up its
// method table on every call, even when ctx cannot end.
func (in *Interrupter) Watch(ctx context.Context, nc net.Conn, side Side) (stop func() bool) {
	if ctx.Done() == nil {
		return nil
	}
	return in.watch(ctx, nc, side)
}

func (in *Interrupter) watch(ctx context.Context, nc net.Conn, side Side) (stop func() bool) {
	s := in.state()
	if s == releasedState {
		return nil // shared: not locked by every closed connection
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return nil // the connection is closed: its I/O fails by itself
	}
	done := ctx.Done()
	if done != s.done || s.stop == nil {
		s.follow(ctx, done)
		s.keep = done == s.last
	}
	s.last = done
	s.nc, s.side, s.armed = nc, side, true
	if s.ended {
		setDeadline(nc, side, past)
		s.moved = true
	}
	return armed
}

// state returns the Interrupter's state, made on first use.
func (in *Interrupter) state() *interruptState {
	if s := in.s.Load(); s != nil {
		return s
	}
	in.s.CompareAndSwap(nil, new(interruptState))
	return in.s.Load()
}

// follow stops following the last ctx and follows ctx; the caller holds
// s.mu.
func (s *interruptState) follow(ctx context.Context, done <-chan struct{}) {
	s.unfollow()
	gen := s.gen
	s.done = done
	s.stop = context.AfterFunc(ctx, func() { s.fire(gen) })
}

// unfollow stops following a ctx; the caller holds s.mu. A callback of it
// that is running already finds gen moved on.
func (s *interruptState) unfollow() {
	if s.stop != nil {
		s.stop()
	}
	s.gen++
	s.done, s.stop, s.ended = nil, nil, false
}

// fire runs when the ctx of generation gen ends.
func (s *interruptState) fire(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.released {
		return
	}
	s.ended = true
	if s.armed {
		setDeadline(s.nc, s.side, past)
		s.moved = true
	}
}

// Unwatch ends what Watch started, with the same nc and side. It reports
// true when ctx ended during the operation, whose error may then be ctx's
// doing, and puts the deadline back if it was moved; once it returns, the
// deadline no longer moves for ctx.
func (in *Interrupter) Unwatch(stop func() bool, nc net.Conn, side Side) (interrupted bool) {
	if stop == nil {
		return false
	}
	return in.unwatch(nc, side)
}

func (in *Interrupter) unwatch(nc net.Conn, side Side) bool {
	s := in.s.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	s.nc = nil
	interrupted := s.moved
	if s.moved {
		s.moved = false
		setDeadline(nc, side, time.Time{})
	} else if s.done != nil {
		// ctx may have ended with its callback yet to run: it will find
		// the operation over.
		select {
		case <-s.done:
			interrupted = true
		default:
		}
	}
	if !s.keep {
		s.unfollow()
	}
	return interrupted
}

// Release stops following a ctx for good: the connection has closed.
// Watch returns nil from then on. Release may run while an operation is
// in progress.
func (in *Interrupter) Release() {
	if in.s.CompareAndSwap(nil, releasedState) {
		return // nothing was followed, and nothing will be
	}
	s := in.s.Load()
	if s == releasedState {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.released = true
	s.unfollow()
}

func setDeadline(nc net.Conn, side Side, t time.Time) {
	switch side {
	case Read:
		nc.SetReadDeadline(t)
	case Write:
		nc.SetWriteDeadline(t)
	default:
		nc.SetDeadline(t)
	}
}
