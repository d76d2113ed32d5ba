package xsync

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestInterrupterEndsBlockedRead(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var in Interrupter
	ctx, cancel := context.WithCancel(context.Background())
	stop := in.Watch(ctx, a, Read)
	go cancel()
	_, err := a.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if !in.Unwatch(stop, a, Read) {
		t.Fatal("Unwatch did not report the interruption")
	}
	// The deadline is cleared: the next read waits for data, not the past.
	go b.Write([]byte{7})
	p := make([]byte, 1)
	if _, err := a.Read(p); err != nil || p[0] != 7 {
		t.Fatalf("read after Unwatch: %v %v", p, err)
	}
}

func TestInterrupterQuietWhenCtxLives(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var in Interrupter
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 { // reused, as a connection reuses it for every read
		stop := in.Watch(ctx, a, Write)
		go b.Read(make([]byte, 1))
		if _, err := a.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if in.Unwatch(stop, a, Write) {
			t.Fatal("interrupted though ctx did not end")
		}
	}
	if stop := in.Watch(context.Background(), a, Both); stop != nil {
		t.Fatal("Watch of a ctx that never ends returned a stop function")
	}
	if in.Unwatch(nil, a, Both) {
		t.Fatal("Unwatch(nil) reported an interruption")
	}
}

func TestInterrupterSides(t *testing.T) {
	for _, side := range []Side{Read, Write, Both} {
		d := &recorder{}
		var in Interrupter
		ctx, cancel := context.WithCancel(context.Background())
		stop := in.Watch(ctx, d, side)
		cancel()
		waitMoved(t, &in)
		if !in.Unwatch(stop, d, side) {
			t.Fatalf("side %d: not interrupted", side)
		}
		want := []string{"past", "zero"}
		for i, w := range want {
			if d.calls[i].side != side || (d.calls[i].t.IsZero() != (w == "zero")) {
				t.Fatalf("side %d: calls %+v", side, d.calls)
			}
		}
	}
}

type call struct {
	side Side
	t    time.Time
}

// recorder is a net.Conn that records its deadlines; its other methods
// are the nil embedded conn's, which an Interrupter never calls.
type recorder struct {
	net.Conn
	calls []call
}

func (r *recorder) SetDeadline(t time.Time) error {
	r.calls = append(r.calls, call{Both, t})
	return nil
}

func (r *recorder) SetReadDeadline(t time.Time) error {
	r.calls = append(r.calls, call{Read, t})
	return nil
}

func (r *recorder) SetWriteDeadline(t time.Time) error {
	r.calls = append(r.calls, call{Write, t})
	return nil
}

// waitMoved waits until ctx's callback has moved the deadline: it runs
// on a goroutine of its own.
func waitMoved(t *testing.T, in *Interrupter) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := in.s.Load()
		s.mu.Lock()
		moved := s.moved
		s.mu.Unlock()
		if moved {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the deadline was not moved")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInterrupterFollowsOneCtx: operations that share a ctx register with
// it once, and allocate nothing each.
func TestInterrupterFollowsOneCtx(t *testing.T) {
	d := &recorder{}
	var in Interrupter
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in.Unwatch(in.Watch(ctx, d, Read), d, Read)
	allocs := testing.AllocsPerRun(100, func() {
		if in.Unwatch(in.Watch(ctx, d, Read), d, Read) {
			t.Fatal("interrupted with ctx live")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per operation with the same ctx, want 0", allocs)
	}
	if len(d.calls) != 0 {
		t.Fatalf("deadline moved with ctx live: %+v", d.calls)
	}
}

// TestInterrupterSwitchesCtx: once an operation comes with another ctx,
// the one before ending interrupts nothing.
func TestInterrupterSwitchesCtx(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var in Interrupter
	first, cancelFirst := context.WithCancel(context.Background())
	in.Unwatch(in.Watch(first, a, Read), a, Read)
	second, cancelSecond := context.WithCancel(context.Background())
	defer cancelSecond()
	stop := in.Watch(second, a, Read)
	cancelFirst()
	go func() {
		time.Sleep(20 * time.Millisecond) // lets a wrong interruption land first
		b.Write([]byte{1})
	}()
	if _, err := a.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read under the second ctx: %v", err)
	}
	if in.Unwatch(stop, a, Read) {
		t.Fatal("reported interrupted by the first ctx")
	}
}

// TestInterrupterRelease: after Release, the ctx followed ending moves no
// deadline, and Watch follows no ctx.
func TestInterrupterRelease(t *testing.T) {
	d := &recorder{}
	var in Interrupter
	ctx, cancel := context.WithCancel(context.Background())
	in.Unwatch(in.Watch(ctx, d, Read), d, Read)
	in.Release()
	cancel()
	if stop := in.Watch(ctx, d, Read); stop != nil {
		t.Fatal("Watch after Release returned a stop function")
	}
	s := in.s.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil || len(d.calls) != 0 {
		t.Fatalf("still following a ctx after Release (calls %+v)", d.calls)
	}
}

// TestInterrupterLetsGoOfOneOffCtx: a ctx that only one operation brings
// is not followed past it: cancelling it afterwards, as a ctx made for
// one operation is, must not run the callback.
func TestInterrupterLetsGoOfOneOffCtx(t *testing.T) {
	d := &recorder{}
	var in Interrupter
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		in.Unwatch(in.Watch(ctx, d, Write), d, Write)
		s := in.s.Load()
		s.mu.Lock()
		following := s.stop != nil
		s.mu.Unlock()
		cancel()
		if following {
			t.Fatal("still following a ctx that came once")
		}
	}
}

// TestInterrupterReleaseUnused: releasing an Interrupter that never
// followed a ctx makes nothing, and it follows none afterwards.
func TestInterrupterReleaseUnused(t *testing.T) {
	var in Interrupter
	if n := testing.AllocsPerRun(10, func() {
		in = Interrupter{}
		in.Release()
	}); n != 0 {
		t.Fatalf("Release allocated %v times", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if stop := in.Watch(ctx, &recorder{}, Read); stop != nil {
		t.Fatal("Watch after Release returned a stop function")
	}
}
