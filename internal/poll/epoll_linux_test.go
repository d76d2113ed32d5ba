package poll

import (
	"net"
	"syscall"
	"testing"
)

// TestEpoll: a socket added edge-triggered reports writable at once,
// readable when data arrives, and a hangup when the peer shuts down its
// side; Wake reports the wake token.
func TestEpoll(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a, b := socketPair(t)
	defer a.Close()
	defer b.Close()
	raw, err := a.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var addErr error
	raw.Control(func(fd uintptr) { addErr = e.Add(int(fd), 7) })
	if addErr != nil {
		t.Fatal(addErr)
	}
	got := waitFor(t, e)
	if !got[7].Writable || got[7].Readable {
		t.Fatalf("after Add: %+v", got[7])
	}
	b.Write([]byte("x"))
	if got := waitFor(t, e); !got[7].Readable || got[7].Hangup {
		t.Fatalf("after a write from the peer: %+v", got)
	}
	// The last data and the peer's shutdown together: one event says both.
	b.Write([]byte("y"))
	b.(*net.UnixConn).CloseWrite()
	if got := waitFor(t, e); !got[7].Readable || !got[7].Hangup {
		t.Fatalf("after the peer's last write and shutdown: %+v", got)
	}
	e.Wake()
	if got := waitFor(t, e); got[WakeToken].Token != WakeToken || !got[WakeToken].Readable {
		t.Fatalf("after Wake: %+v", got)
	}
	e.Drain()
}

// waitFor collects one Wait's events by token.
func waitFor(t *testing.T, e *Epoll) map[uint64]Event {
	t.Helper()
	got := map[uint64]Event{}
	for len(got) == 0 {
		if err := e.Wait(func(ev Event) { got[ev.Token] = ev }); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := osFile(fd)
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}
