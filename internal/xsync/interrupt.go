package xsync

import (
	"context"
	"sync"
	"time"
)

// Deadliner is the part of a net.Conn an Interrupter needs.
type Deadliner interface {
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

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
type Interrupter struct {
	s *interruptState
}

type interruptState struct {
	wg   sync.WaitGroup
	fire func() // moves the deadline
}

// Watch arranges for nc's side to be interrupted when ctx ends. Pass the
// result to Unwatch once the operation is over; a ctx that can never end
// costs nothing (Watch and Unwatch inline to a test of it).
func (in *Interrupter) Watch(ctx context.Context, nc Deadliner, side Side) (stop func() bool) {
	if ctx.Done() == nil {
		return nil
	}
	return in.watch(ctx, nc, side)
}

func (in *Interrupter) watch(ctx context.Context, nc Deadliner, side Side) (stop func() bool) {
	if in.s == nil {
		s := new(interruptState)
		s.fire = func() {
			setDeadline(nc, side, past)
			s.wg.Done()
		}
		in.s = s
	}
	in.s.wg.Add(1)
	return context.AfterFunc(ctx, in.s.fire)
}

// Unwatch ends what Watch started, with the same nc and side. If the
// interruption ran, or is running, it waits for it, clears the deadline
// and reports true: the operation's error is then ctx's doing.
func (in *Interrupter) Unwatch(stop func() bool, nc Deadliner, side Side) (interrupted bool) {
	if stop == nil {
		return false
	}
	return in.unwatch(stop, nc, side)
}

func (in *Interrupter) unwatch(stop func() bool, nc Deadliner, side Side) bool {
	if stop() {
		in.s.wg.Done()
		return false
	}
	in.s.wg.Wait()
	setDeadline(nc, side, time.Time{})
	return true
}

func setDeadline(nc Deadliner, side Side, t time.Time) {
	switch side {
	case Read:
		nc.SetReadDeadline(t)
	case Write:
		nc.SetWriteDeadline(t)
	default:
		nc.SetDeadline(t)
	}
}
