package poll

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// TestSocketDetach: the socket lives on through the duplicate once nc is
// closed, reads and writes through it never wait, and Close ends it.
func TestSocketDetach(t *testing.T) {
	a, b := socketPair(t)
	defer b.Close()
	s, err := Detach(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write to the detached net.Conn: %v, want net.ErrClosed", err)
	}
	if _, err := b.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	var n int
	var rerr error
	read := func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return rerr != syscall.EAGAIN
	}
	if err := s.Read(read); err != nil || rerr != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v, %v", buf[:n], err, rerr)
	}
	if err := s.Read(read); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("read of an empty socket: %v, want ErrWouldBlock", err)
	}
	var werr error
	if err := s.Write(func(fd uintptr) bool { _, werr = syscall.Write(int(fd), []byte("pong")); return true }); err != nil || werr != nil {
		t.Fatalf("write: %v %v", err, werr)
	}
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(buf); n != 0 || err == nil {
		t.Fatalf("peer read after CloseWrite: %d, %v; want the end of the stream", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Control after Close: %v", err)
	}
}

// TestSocketCloseWaitsForUsers: a Close while a call uses the descriptor
// leaves it open until that call ends; the call closes it.
func TestSocketCloseWaitsForUsers(t *testing.T) {
	a, b := socketPair(t)
	defer b.Close()
	s, err := Detach(a)
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	s.Control(func(f uintptr) {
		fd = int(f)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// Still open: fcntl on it succeeds.
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_GETFD, 0); errno != 0 {
			t.Errorf("descriptor closed while in use: %v", errno)
		}
	})
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); errno != syscall.EBADF {
		t.Fatalf("descriptor after the last user: %v, want EBADF", errno)
	}
}

// TestSocketCloseRemovesFromEpoll: once closed, a detached socket raises
// no event, though the peer writes.
func TestSocketCloseRemovesFromEpoll(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a, b := socketPair(t)
	defer b.Close()
	s, err := Detach(a)
	if err != nil {
		t.Fatal(err)
	}
	var addErr error
	s.Control(func(fd uintptr) { addErr = e.Add(int(fd), 9) })
	if addErr != nil {
		t.Fatal(addErr)
	}
	waitFor(t, e) // writable
	s.Close()
	b.Write([]byte("x"))
	e.Wake()
	if got := waitFor(t, e); len(got) != 1 || !got[WakeToken].Readable {
		t.Fatalf("events after Close: %+v, want only the wake-up", got)
	}
}
