// Package xsync holds the synchronisation the connection is built on: a
// mutex whose Lock gives up when a context ends or a channel closes, and
// the watch that turns a context's end into an I/O deadline.
package xsync

import (
	"context"
	"sync/atomic"
	"time"
)

// Sema is a mutex whose Lock can be abandoned when a context ends or a
// channel closes. Its state word holds the lock in bit 0, the sticky slow
// flag in bit 1, the starving flag in bit 2 and the number of waiters
// above them, so both the uncontended lock and unlock are a single atomic
// operation; waiters sleep on channels made on first contention. The zero
// value is an unlocked Sema.
//
// A free lock goes to whoever takes it first, which keeps a busy lock
// moving; but a goroutine that unlocks and locks again in a loop would
// then win every time against a waiter, which has to wake up first. So,
// as sync.Mutex does, a waiter that has waited more than starveAfter sets
// the starving flag, and from then on Unlock hands the lock straight to a
// sleeping waiter (the first to have gone to sleep on the channel since
// it last woke, channels being FIFO), holding it across. The flag goes
// when a waiter handed the lock had waited less than starveAfter (the
// queue moves), or when the last waiter leaves.
type Sema struct {
	state atomic.Int32
	chans atomic.Pointer[semaChans]
}

// semaChans are where waiters sleep: wake, a one-token channel, tells
// them to try again; hand, unbuffered, gives the lock to one of them
// (a send succeeds only into a waiter asleep on it, so the lock cannot
// be handed to nobody).
type semaChans struct {
	wake chan struct{}
	hand chan struct{}
}

const (
	held     = 1
	slow     = 2 // set for good by SetSlow
	starving = 4 // a waiter waited past starveAfter: Unlock hands over
	waiter   = 8
)

// starveAfter is how long a waiter may lose to goroutines that take the
// free lock first before Unlock hands it the lock: sync.Mutex's bound.
const starveAfter = time.Millisecond

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

// UnlockSlow releases the lock and lets a sleeping waiter try again, or,
// when a waiter starves, hands the lock to one.
//
//go:noinline
func (s *Sema) UnlockSlow() {
	if s.state.Load()&starving != 0 {
		select {
		case s.semaChans().hand <- struct{}{}:
			return // held on by the waiter that took it
		default: // nobody asleep on hand right now
		}
	}
	if s.state.Add(-held) >= waiter {
		select {
		case s.semaChans().wake <- struct{}{}:
		default:
		}
	}
}

// semaChans returns the channels waiters sleep on, made on first
// contention so that an uncontended Sema never allocates them.
func (s *Sema) semaChans() *semaChans {
	if p := s.chans.Load(); p != nil {
		return p
	}
	s.chans.CompareAndSwap(nil, &semaChans{wake: make(chan struct{}, 1), hand: make(chan struct{})})
	return s.chans.Load()
}

// Lock takes the lock, or gives up when ctx ends (returning its error) or
// when stop1 or stop2 is closed (returning false and no error). Nil stop
// channels never fire.
func (s *Sema) Lock(ctx context.Context, stop1, stop2 <-chan struct{}) (bool, error) {
	if s.TryLock() {
		return true, nil
	}
	s.state.Add(waiter)
	defer s.leave()
	ch := s.semaChans()
	start := time.Now()
	for {
		if s.tryLockQueued() {
			return true, nil
		}
		if s.state.Load()&starving == 0 && time.Since(start) > starveAfter {
			s.state.Or(starving) // Unlock hands the lock over from now on
		}
		select {
		case <-ch.hand:
			// Handed over, still held. A short wait means the queue
			// moves: back to letting the lock go, as sync.Mutex does.
			if time.Since(start) < starveAfter {
				s.state.And(^int32(starving))
			}
			return true, nil
		case <-ch.wake:
		case <-ctx.Done():
			return false, ctx.Err()
		case <-stop1:
			return false, nil
		case <-stop2:
			return false, nil
		}
	}
}

// leave counts a waiter out; the last one clears the starving flag, so
// that Unlock goes back to letting the lock go. (A waiter that comes
// meanwhile sets it again once it has waited as long.)
func (s *Sema) leave() {
	if s.state.Add(-waiter) < waiter {
		s.state.And(^int32(starving))
	}
}
