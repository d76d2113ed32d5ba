package uring

import (
	"bytes"
	"syscall"
	"testing"
)

// socketPair returns the two ends of a connected, non-blocking stream
// socket pair.
func socketPair(t testing.TB) (a, b int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
	})
	return fds[0], fds[1]
}

func newRing(t testing.TB, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		t.Skipf("no io_uring here: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

type result struct {
	tag uint64
	res int32
}

func run(t *testing.T, r *Ring) []result {
	t.Helper()
	var got []result
	if err := r.Run(func(tag uint64, res int32) { got = append(got, result{tag, res}) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRecvOnEmptySocketDoesNotWait(t *testing.T) {
	r := newRing(t, 8)
	a, _ := socketPair(t)
	buf := make([]byte, 64)
	if err := r.Recv(a, buf, 7); err != nil {
		t.Fatal(err)
	}
	got := run(t, r)
	if len(got) != 1 || got[0].tag != 7 || got[0].res != -int32(syscall.EAGAIN) {
		t.Fatalf("completions %v, want tag 7 with -EAGAIN", got)
	}
}

func TestSendThenRecv(t *testing.T) {
	r := newRing(t, 8)
	a, b := socketPair(t)
	c, d := socketPair(t)
	if err := r.Send(a, []byte("hello"), 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Send(c, []byte("world!"), 2); err != nil {
		t.Fatal(err)
	}
	got := run(t, r)
	if len(got) != 2 {
		t.Fatalf("completions %v, want 2", got)
	}
	for _, g := range got {
		if want := int32(4 + g.tag); g.res != want {
			t.Fatalf("send %d: %d bytes, want %d", g.tag, g.res, want)
		}
	}
	bufB, bufD := make([]byte, 16), make([]byte, 16)
	r.Recv(b, bufB, 10)
	r.Recv(d, bufD, 20)
	got = run(t, r)
	n := map[uint64]int32{}
	for _, g := range got {
		n[g.tag] = g.res
	}
	if !bytes.Equal(bufB[:max(n[10], 0)], []byte("hello")) || !bytes.Equal(bufD[:max(n[20], 0)], []byte("world!")) {
		t.Fatalf("received %q and %q (%v)", bufB, bufD, got)
	}
}

func TestShortSendOnFullSocket(t *testing.T) {
	r := newRing(t, 8)
	a, _ := socketPair(t)
	// A send buffer of its own, not net.core.wmem_default's, which a
	// machine may set above what is sent here.
	if err := syscall.SetsockoptInt(a, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 64<<10); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 8<<20)
	r.Send(a, big, 1)
	got := run(t, r)
	if len(got) != 1 || got[0].res <= 0 || int(got[0].res) >= len(big) {
		t.Fatalf("completions %v, want a short send", got)
	}
	r.Send(a, big, 2)
	got = run(t, r)
	if len(got) != 1 || got[0].res != -int32(syscall.EAGAIN) {
		t.Fatalf("completions %v, want -EAGAIN on a full socket", got)
	}
}

func TestBatchFull(t *testing.T) {
	r := newRing(t, 4)
	a, _ := socketPair(t)
	buf := make([]byte, 1)
	for i := range 4 {
		if err := r.Recv(a, buf, uint64(i)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := r.Recv(a, buf, 4); err != ErrFull {
		t.Fatalf("fifth call: %v, want ErrFull", err)
	}
	if got := run(t, r); len(got) != 4 {
		t.Fatalf("%d completions, want 4", len(got))
	}
	if r.Len() != 0 {
		t.Fatalf("Len %d after Run", r.Len())
	}
	// The ring wraps: more batches than entries.
	for range 3 {
		for i := range 4 {
			r.Recv(a, buf, uint64(i))
		}
		if got := run(t, r); len(got) != 4 {
			t.Fatalf("%d completions, want 4", len(got))
		}
	}
}

func TestBadDescriptor(t *testing.T) {
	r := newRing(t, 4)
	r.Recv(-1, make([]byte, 1), 3)
	got := run(t, r)
	if len(got) != 1 || got[0].res != -int32(syscall.EBADF) {
		t.Fatalf("completions %v, want -EBADF", got)
	}
}
