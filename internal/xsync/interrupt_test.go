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

type recorder struct{ calls []call }

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
