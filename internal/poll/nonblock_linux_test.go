package poll

import (
	"bytes"
	"syscall"
	"testing"
)

// nonblockPair returns a connected pair of non-blocking stream sockets.
func nonblockPair(t *testing.T) (a, b int) {
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

func TestNonblockCalls(t *testing.T) {
	a, b := nonblockPair(t)
	var buf [64]byte
	if n, err := ReadNonblock(a, buf[:]); err != syscall.EAGAIN || n != -1 {
		t.Fatalf("read of an empty socket: %d, %v; want -1, EAGAIN", n, err)
	}
	if n, err := WriteNonblock(b, []byte("hello ")); err != nil || n != 6 {
		t.Fatalf("write: %d, %v", n, err)
	}
	iov := make([]syscall.Iovec, 2)
	parts := [][]byte{[]byte("vectored "), []byte("world")}
	for i, p := range parts {
		iov[i].Base = &p[0]
		iov[i].SetLen(len(p))
	}
	if n, err := WritevNonblock(b, iov); err != nil || n != 14 {
		t.Fatalf("writev: %d, %v", n, err)
	}
	if n, err := WritevNonblock(b, nil); err != nil || n != 0 {
		t.Fatalf("writev of nothing: %d, %v", n, err)
	}
	n, err := ReadNonblock(a, buf[:])
	if err != nil || !bytes.Equal(buf[:n], []byte("hello vectored world")) {
		t.Fatalf("read: %q, %v", buf[:max(n, 0)], err)
	}
	if n, err := ReadNonblock(a, nil); err != nil || n != 0 {
		t.Fatalf("read into nothing: %d, %v", n, err)
	}
	syscall.Close(b)
	if n, err := ReadNonblock(a, buf[:]); err != nil || n != 0 {
		t.Fatalf("read after the peer closed: %d, %v; want 0 (end of stream)", n, err)
	}
	if n, err := ReadNonblock(-1, buf[:]); err != syscall.EBADF || n != -1 {
		t.Fatalf("read of a bad descriptor: %d, %v; want -1, EBADF", n, err)
	}
}

// TestWriteNonblockFull checks that a full socket buffer makes a write
// fail with EAGAIN rather than wait.
func TestWriteNonblockFull(t *testing.T) {
	_, b := nonblockPair(t)
	chunk := make([]byte, 64<<10)
	for range 1 << 12 {
		_, err := WriteNonblock(b, chunk)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("256 MiB written into a socket nobody reads, without EAGAIN")
}
