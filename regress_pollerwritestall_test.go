//go:build linux

package websocket

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// sockQueue returns the bytes in c's socket send queue (SIOCOUTQ) or
// receive queue (SIOCINQ).
func sockQueue(c *Conn, req uintptr) int {
	var v int32
	c.rd.raw.Control(func(fd uintptr) {
		syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(&v)))
	})
	return int(v)
}

// TestRegressionPollerWriteStall: a goroutine that is not the loop writes
// 256 KiB messages to a Poller-served connection whose peer reads all
// along: everything must arrive. Now and then the transfer stops for
// good: the server's queue holds data, its socket's send queue is empty,
// the client has nothing to read, and the loop sits in epoll_wait.
// outQueue.flush returns early on queued == 0 without taking q.mu, so an
// EPOLLOUT edge that arrives while a writer is between sendNow's EAGAIN
// and its queued.Store is lost, and nothing writes the queue again. With
// the default WriteQueueLimit the writer then also waits in awaitRoom
// until its ctx ends.
func TestRegressionPollerWriteStall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
	}{
		{name: "default limit (writer waits for room)"},
		{name: "no practical limit", limit: 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 10 {
				writeStallOnce(t, tc.limit)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func writeStallOnce(t *testing.T, limit int) {
	srvConns := make(chan *Conn, 1)
	opts := &PollerOptions{Loops: 1, WriteQueueLimit: limit, OnMessage: func(c *Conn, _ MessageType, _ []byte) { srvConns <- c }}
	srv := newPollerServer(t, "tcp", nil, opts)
	client := srv.dial(t, nil)
	client.Write(testCtx(t), MessageText, []byte("hi"))
	server := await(t, srvConns, "the served Conn")
	defer client.CloseNow()
	// A bound on the whole transfer against a hang; a stall is found
	// sooner, by its signature.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const size = 256 << 10
	n := 200
	if raceEnabled {
		n = 30 // the race detector makes each write about 10x slower
	}
	msg := make([]byte, size)
	go func() {
		for range n {
			if err := server.Write(ctx, MessageBinary, msg); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	stalled := 0 // reads in a row that timed out with the stall's signature
	for i := 0; i < n; {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, _, err := client.Read(rctx)
		rcancel()
		if err == nil {
			i, stalled = i+1, 0
			continue
		}
		// The stall: the server's queue holds data, its socket's send
		// queue is empty and the client has nothing to read. A slow
		// machine (an emulator, a loaded CI host) can make one read take
		// longer than its timeout with data still on its way; that is
		// not the stall, and reading goes on (within ctx).
		queued := server.wr.queue.Load().queued.Load()
		outq, inq := sockQueue(server, 0x5411 /* SIOCOUTQ */), sockQueue(client, 0x541B /* SIOCINQ */)
		if queued > 0 && outq == 0 && inq == 0 && ctx.Err() == nil {
			if stalled++; stalled < 2 {
				continue // seen twice in a row, 2 s apart, it is no passing moment
			}
		} else if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			stalled = 0
			continue
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		loopState := "?"
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "(*loop).run") {
				loopState = strings.SplitN(g, "\n", 2)[0]
			}
		}
		t.Errorf("read %d after %v: %v; server queue %d bytes, server SIOCOUTQ %d, client SIOCINQ %d; loop %s", i, time.Since(start), err,
			queued, outq, inq, loopState)
		return
	}
}
