package xsync

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestSemaFastPaths(t *testing.T) {
	var s Sema
	if !s.LockFast() {
		t.Fatal("LockFast failed on a new Sema")
	}
	if s.LockFast() || s.TryLock() {
		t.Fatal("a held Sema was taken again")
	}
	if !s.UnlockFast() {
		t.Fatal("UnlockFast failed with nobody waiting")
	}
	if s.Held() {
		t.Fatal("Held after UnlockFast")
	}
}

// SetSlow turns both fast paths off for good, and the slow paths still
// work: this is what lets the frame lock's owner check its queues.
func TestSemaSlowFlag(t *testing.T) {
	var s Sema
	s.SetSlow()
	for range 3 {
		if s.LockFast() {
			t.Fatal("LockFast succeeded after SetSlow")
		}
		if !s.TryLock() {
			t.Fatal("TryLock failed on a free Sema with the slow flag")
		}
		if !s.Held() || s.HasWaiters() {
			t.Fatalf("state %#x: want held, no waiters", s.state.Load())
		}
		if s.UnlockFast() {
			t.Fatal("UnlockFast succeeded after SetSlow")
		}
		s.UnlockSlow()
		if s.Held() {
			t.Fatal("held after UnlockSlow")
		}
	}
}

func TestSemaLockGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Sema
		s.TryLock()
		ctx, cancel := context.WithCancel(t.Context())
		stop := make(chan struct{})
		res := make(chan error, 2)
		go func() {
			_, err := s.Lock(ctx, nil, nil)
			res <- err
		}()
		go func() {
			ok, err := s.Lock(context.Background(), stop, nil)
			if ok || err != nil {
				err = errors.New("Lock returned without the stop channel")
			}
			res <- err
		}()
		synctest.Wait()
		if !s.HasWaiters() {
			t.Fatal("no waiters while two goroutines wait")
		}
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("Lock with a cancelled ctx: %v", err)
		}
		close(stop)
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s.HasWaiters() || !s.Held() {
			t.Fatalf("state %#x after the waiters left: want held, no waiters", s.state.Load())
		}
	})
}

// Many goroutines take turns; the counter proves mutual exclusion (and
// the race detector checks the happens-before edges), with and without the
// slow flag.
func TestSemaExclusion(t *testing.T) {
	for _, slowFlag := range []bool{false, true} {
		var s Sema
		if slowFlag {
			s.SetSlow()
		}
		var wg sync.WaitGroup
		n := 0
		for range 8 {
			wg.Go(func() {
				for range 2000 {
					if _, err := s.Lock(context.Background(), nil, nil); err != nil {
						t.Error(err)
						return
					}
					n++
					s.Unlock()
				}
			})
		}
		wg.Wait()
		if n != 8*2000 {
			t.Fatalf("slow=%v: counter %d, want %d", slowFlag, n, 8*2000)
		}
		if s.Held() || s.HasWaiters() {
			t.Fatalf("slow=%v: state %#x at the end", slowFlag, s.state.Load())
		}
	}
}

// TestSemaNoLostWakeup: a waiter woken by Unlock must get the lock even
// when another waiter gives up (its ctx ends) between its reading of the
// state word and its CAS, which then fails with the lock free. It used to
// go back to sleep, with the wake-up token spent, until an unrelated
// unlock. The hook plays the waiter that leaves at that moment.
func TestSemaNoLostWakeup(t *testing.T) {
	var s Sema
	s.TryLock()
	s.state.Add(waiter) // the waiter that will leave
	var armed atomic.Bool
	testHookQueued = func(hs *Sema) {
		if hs == &s && armed.CompareAndSwap(true, false) {
			s.state.Add(-waiter)
		}
	}
	defer func() { testHookQueued = nil }()
	got := make(chan struct{})
	go func() {
		s.Lock(context.Background(), nil, nil)
		close(got)
	}()
	for s.state.Load()/waiter != 2 {
		runtime.Gosched()
	}
	armed.Store(true)
	s.Unlock()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter still waits with the lock free")
	}
	if armed.Load() {
		t.Fatal("the hook did not run: the test did not reach the race it checks")
	}
}

// TestSemaWaiterDoesNotStarve: a goroutine that unlocks and locks again
// in a loop, holding the lock a while each time, used to win the free
// lock every time against a waiter, which has to wake up first: the
// waiter gave up at its ctx. Once it has waited starveAfter, Unlock hands
// it the lock.
func TestSemaWaiterDoesNotStarve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Sema
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if ok, _ := s.Lock(context.Background(), stop, nil); !ok {
					return
				}
				time.Sleep(100 * time.Microsecond) // a write, say
				s.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		time.Sleep(time.Microsecond) // the loop holds the lock
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if ok, err := s.Lock(ctx, nil, nil); !ok {
			t.Fatalf("Lock: %v after %v, the lock never free for it", err, time.Since(start))
		}
		if d := time.Since(start); d > 2*starveAfter {
			t.Errorf("took the lock after %v, want within about %v", d, starveAfter)
		}
		s.Unlock()
		close(stop)
		<-done
		if st := s.state.Load(); st != 0 {
			t.Errorf("state %#x once everyone left, want 0", st)
		}
	})
}
