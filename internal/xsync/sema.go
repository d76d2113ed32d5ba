// Package xsync holds the synchronisation the connection is built on: a
// mutex whose Lock gives up when a context ends or a channel closes, and
// the watch that turns a context's end into an I/O deadline.
package xsync

import (
	"context"
	"sync/atomic"
)

// Sema is a mutex whose Lock can be abandoned when a context ends or a
// channel closes. Its state word holds the lock in bit 0, the sticky slow
// flag in bit 1 and the number of waiters above them, so both the
// uncontended lock and unlock are a single atomic operation; waiters sleep
// on a one-token channel, made on first contention. The zero value is an
// unlocked Sema.
type Sema struct {
	state atomic.Int32
	wake  atomic.Pointer[chan struct{}]
}

const (
	held   = 1
	slow   = 2 // set for good by SetSlow
	waiter = 4
)

// SetSlow makes every later LockFast and UnlockFast fail, for good, so
// that their callers take the slow path that checks what a fast path
// cannot afford to. An owner sets it once it has such a thing to check;
// until then the fast paths are a single CAS.
func (s *Sema) SetSlow() { s.state.Or(slow) }

// LockFast takes the lock in one CAS if it is free, nobody waits and
// SetSlow was never called. It inlines into its callers.
func (s *Sema) LockFast() bool { return s.state.CompareAndSwap(0, held) }

// UnlockFast releases the lock in one CAS if nobody waits and SetSlow was
// never called; otherwise it leaves the lock held, for UnlockSlow.
func (s *Sema) UnlockFast() bool { return s.state.CompareAndSwap(held, 0) }

// TryLock takes the lock if it is free.
func (s *Sema) TryLock() bool {
	return s.state.CompareAndSwap(0, held) || s.tryLockQueued()
}

// tryLockQueued takes the lock if it is free while others wait for it or
// the slow flag is set. It retries while the lock stays free: waiters
// come and go in the same word, and a woken waiter that gave up on a CAS
// failed only by a waiter leaving would sleep with the lock free and the
// wake-up token spent.
func (s *Sema) tryLockQueued() bool {
	for {
		v := s.state.Load()
		if v&held != 0 {
			return false
		}
		if testHookQueued != nil {
			testHookQueued(s)
		}
		if s.state.CompareAndSwap(v, v|held) {
			return true
		}
	}
}

// testHookQueued, if set, runs in tryLockQueued between reading the state
// word and the CAS.
var testHookQueued func(*Sema)

// Held reports whether the lock is held, by anyone.
func (s *Sema) Held() bool { return s.state.Load()&held != 0 }

// HasWaiters reports whether goroutines wait in Lock.
func (s *Sema) HasWaiters() bool { return s.state.Load() >= waiter }

// Unlock releases the lock.
func (s *Sema) Unlock() {
	if !s.UnlockFast() {
		s.UnlockSlow()
	}
}

// UnlockSlow releases the lock and lets a sleeping waiter try again.
//
//go:noinline
func (s *Sema) UnlockSlow() {
	if s.state.Add(-held) >= waiter {
		select {
		case s.wakeCh() <- struct{}{}:
		default:
		}
	}
}

// wakeCh returns the channel waiters sleep on, made on first contention
// so that an uncontended Sema never allocates it.
func (s *Sema) wakeCh() chan struct{} {
	if p := s.wake.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{}, 1)
	if s.wake.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *s.wake.Load()
}

// Lock takes the lock, or gives up when ctx ends (returning its error) or
// when stop1 or stop2 is closed (returning false and no error). Nil stop
// channels never fire.
func (s *Sema) Lock(ctx context.Context, stop1, stop2 <-chan struct{}) (bool, error) {
	if s.TryLock() {
		return true, nil
	}
	s.state.Add(waiter)
	defer s.state.Add(-waiter)
	wake := s.wakeCh()
	for {
		if s.tryLockQueued() {
			return true, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false, ctx.Err()
		case <-stop1:
			return false, nil
		case <-stop2:
			return false, nil
		}
	}
}
