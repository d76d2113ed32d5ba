package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/uring"
)

// WS_NORING=1 makes every loop take the plain path, as where io_uring is
// missing (qemu-user, containers whose seccomp profile forbids it):
//
//	WS_NORING=1 go test -race .
func init() {
	if os.Getenv("WS_NORING") == "1" {
		noRing = true
	}
}

// needRing skips a test of batching where loops take the plain path.
func needRing(t *testing.T) {
	t.Helper()
	if noRing {
		t.Skip("WS_NORING=1: every loop takes the plain path")
	}
	r, err := uring.New(8)
	if err != nil {
		t.Skipf("io_uring unavailable, loops use plain system calls: %v", err)
	}
	r.Close()
}

// TestPollerLoopsBatch: where io_uring works, every loop batches its
// system calls unless told not to, so that the Poller tests exercise
// batching here ("tcp-plain" covers the other path).
func TestPollerLoopsBatch(t *testing.T) {
	needRing(t)
	for _, tc := range []struct {
		name string
		opts PollerOptions
		ring bool
	}{
		{
			name: "default",
			opts: PollerOptions{Loops: 2},
			ring: true,
		},
		{
			name: "NoBatching",
			opts: PollerOptions{Loops: 2, NoBatching: true},
			ring: false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.OnMessage = func(*Conn, MessageType, []byte) {}
			p, err := NewPoller(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for i, l := range p.loops {
				if got := l.ring != nil; got != tc.ring {
					t.Errorf("loop %d batches: %v, want %v", i, got, tc.ring)
				}
			}
		})
	}
}

// TestPollerBatchKeepsOrder: what a batch holds back, what bypasses it
// (frames over batchBufSize) and what other goroutines write meanwhile
// reach each peer in the order each writer wrote it. Each client sends its
// requests in one burst, so batches hold several messages of one
// connection; OnMessage answers each with a small, a large and a small
// message, while a goroutine per connection writes a numbered series.
func TestPollerBatchKeepsOrder(t *testing.T) {
	const (
		clients  = 6
		requests = 40
		side     = 60
	)
	big := strings.Repeat("x", batchBufSize+100)
	var wg sync.WaitGroup
	popts := &PollerOptions{
		Loops: 2,
		OnMessage: func(c *Conn, typ MessageType, msg []byte) {
			ctx := context.Background()
			if string(msg) == "side" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range side {
						if c.Write(ctx, MessageText, []byte("side:"+strconv.Itoa(i))) != nil {
							return
						}
					}
				}()
				return
			}
			for _, reply := range []string{"echo:" + string(msg), "big:" + string(msg) + ":" + big, "after:" + string(msg)} {
				if err := c.Write(ctx, MessageText, []byte(reply)); err != nil {
					t.Errorf("reply: %v", err)
					return
				}
			}
		},
	}
	for _, mode := range []string{"tcp", "tcp-plain"} {
		t.Run(mode, func(t *testing.T) {
			srv := newPollerServer(t, mode, nil, popts)
			var cwg sync.WaitGroup
			for range clients {
				c := srv.dial(t, nil)
				cwg.Add(1)
				go func() {
					defer cwg.Done()
					if err := checkBatchOrder(testCtx(t), c, requests, side, big); err != nil {
						t.Error(err)
					}
				}()
			}
			cwg.Wait()
			wg.Wait()
		})
	}
}

// checkBatchOrder sends "side" and the requests in a burst, then reads
// every reply and checks that each series arrives in order.
func checkBatchOrder(ctx context.Context, c *Conn, requests, side int, big string) error {
	if err := c.Write(ctx, MessageText, []byte("side")); err != nil {
		return err
	}
	for i := range requests {
		if err := c.Write(ctx, MessageText, []byte(strconv.Itoa(i))); err != nil {
			return err
		}
	}
	nextSide, nextReq, step := 0, 0, 0
	steps := []string{"echo:", "big:", "after:"}
	for nextSide < side || nextReq < requests {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("after %d requests and %d side messages: %w", nextReq, nextSide, err)
		}
		if s, ok := bytes.CutPrefix(msg, []byte("side:")); ok {
			if string(s) != strconv.Itoa(nextSide) {
				return fmt.Errorf("side message %q, want %d", s, nextSide)
			}
			nextSide++
			continue
		}
		want := steps[step] + strconv.Itoa(nextReq)
		if step == 1 {
			want += ":" + big
		}
		if string(msg) != want {
			return fmt.Errorf("reply %.40q, want %.40q", msg, want)
		}
		if step = (step + 1) % len(steps); step == 0 {
			nextReq++
		}
	}
	return nil
}

// TestPollerRingFailure: a ring whose io_uring_enter fails is dropped.
// The connections of the failed batch, whose bytes may have been read and
// lost, are failed; the loop goes on with plain system calls, so the next
// connection is echoed.
func TestPollerRingFailure(t *testing.T) {
	needRing(t)
	srv := newPollerServer(t, "tcp", nil, &PollerOptions{Loops: 1})
	l := srv.poller.loops[0]
	ctx := testCtx(t)
	first := srv.dial(t, nil)
	echo := func(c *Conn, msg string) error {
		if err := c.Write(ctx, MessageText, []byte(msg)); err != nil {
			return err
		}
		_, got, err := c.Read(ctx)
		if err == nil && string(got) != msg {
			err = fmt.Errorf("echo %q, want %q", got, msg)
		}
		return err
	}
	if err := echo(first, "before"); err != nil {
		t.Fatal(err)
	}
	// Put a pipe where the ring's descriptor was: io_uring_enter on it
	// fails, and closing the ring later closes the pipe's end.
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[1])
	l.mu.Lock() // dropRing sets ring under mu
	ringFd := l.ring.Fd()
	l.mu.Unlock()
	if err := syscall.Dup3(p[0], ringFd, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	syscall.Close(p[0])
	if err := echo(first, "during"); err == nil {
		t.Fatal("the connection of the failed batch was echoed")
	}
	if cc := srv.nextClosed(t); cc.err == nil || !strings.Contains(cc.err.Error(), "input/output error") {
		t.Errorf("the failed connection ended with %v, want EIO", cc.err)
	}
	second := srv.dial(t, nil)
	for i := range 3 {
		if err := echo(second, "after "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPollerPongBeforeLaterReplies: a pong answers a ping before the
// reply to the message that followed the ping, as without batching, even
// when the reply to the message before the ping is still held back.
func TestPollerPongBeforeLaterReplies(t *testing.T) {
	for _, mode := range []string{"tcp", "tcp-plain"} {
		t.Run(mode, func(t *testing.T) {
			srv := newPollerServer(t, mode, nil, &PollerOptions{Loops: 1})
			rc := dialRawWS(t, strings.TrimPrefix(srv.url, "ws://"), 0, time.Now().Add(5*time.Second))
			var burst []byte
			burst = append(burst, frame(true, 0, opText, true, []byte("m1"))...)
			burst = append(burst, frame(true, 0, opPing, true, []byte("p"))...)
			burst = append(burst, frame(true, 0, opText, true, []byte("m2"))...)
			if _, err := rc.nc.Write(burst); err != nil { // one read, one batch
				t.Fatal(err)
			}
			var got []string
			for range 3 {
				var h [2]byte
				if _, err := io.ReadFull(rc.br, h[:]); err != nil {
					t.Fatalf("after %q: %v", got, err)
				}
				payload := make([]byte, h[1]&0x7f) // small, unmasked
				if _, err := io.ReadFull(rc.br, payload); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%d:%s", h[0]&0x0f, payload))
			}
			want := []string{"1:m1", "10:p", "1:m2"}
			if !slices.Equal(got, want) {
				t.Fatalf("frames %q, want %q (opcode:payload)", got, want)
			}
		})
	}
}

// TestPollerHalfCloseGetsAnswers: a peer that sends a message, a ping and
// a close frame and then shuts down its sending side gets the reply, the
// pong and the answer to its close (RFC 6455, section 5.5.1) before the
// connection ends. The end of the stream came in the batch that held them
// back, and the connection used to close before the batch sent them; and
// with a reply too large for control frames to join the batch (a few
// hundred bytes short of batchBufSize), the pong and the close answer,
// left waiting for the held reply to leave, were lost (an outside probe:
// 27-30 of 30 runs for 1950-2044 bytes).
func TestPollerHalfCloseGetsAnswers(t *testing.T) {
	for _, mode := range []string{"tcp", "tcp-plain"} {
		for _, size := range []int{4, batchBufSize - 100} {
			t.Run(fmt.Sprintf("%s/%d", mode, size), func(t *testing.T) {
				srv := newPollerServer(t, mode, nil, &PollerOptions{Loops: 1})
				msg := strings.Repeat("x", size)
				for range 10 {
					rc := dialRawWS(t, strings.TrimPrefix(srv.url, "ws://"), 0, time.Now().Add(5*time.Second))
					var burst []byte
					burst = append(burst, frame(true, 0, opText, true, []byte(msg))...)
					burst = append(burst, frame(true, 0, opPing, true, []byte("p"))...)
					burst = append(burst, frame(true, 0, opClose, true, []byte{0x03, 0xe8})...)
					if _, err := rc.nc.Write(burst); err != nil {
						t.Fatal(err)
					}
					if err := rc.nc.(*net.TCPConn).CloseWrite(); err != nil {
						t.Fatal(err)
					}
					rest, err := io.ReadAll(rc.br)
					if err != nil {
						t.Fatal(err)
					}
					got := shortFrames(rest)
					want := []string{"1:" + msg, "10:p", "8:\x03\xe8"}
					if !slices.Equal(got, want) {
						t.Fatalf("%d frames, want %d: %.60q", len(got), len(want), got)
					}
					rc.nc.Close()
				}
			})
		}
	}
}

// shortFrames lists the unmasked frames in b as "opcode:payload", for
// payloads shorter than 64 KiB; a truncated frame ends the list.
func shortFrames(b []byte) []string {
	var got []string
	for len(b) >= 2 {
		n, hdr := int(b[1]&0x7f), 2
		if n == 126 && len(b) >= 4 {
			n, hdr = int(binary.BigEndian.Uint16(b[2:4])), 4
		}
		if len(b) < hdr+n {
			break
		}
		got = append(got, fmt.Sprintf("%d:%s", b[0]&0x0f, b[hdr:hdr+n]))
		b = b[hdr+n:]
	}
	return got
}

// TestPollerBatchHeldIsNotRefused: a batch that reads a burst of messages
// from one connection holds its replies back for one send at the batch's
// end. Held replies past a low WriteQueueLimit used to fail the next one
// with ErrWriteQueueFull and drop a peer that read everything: the limit
// is for what the socket refuses.
func TestPollerBatchHeldIsNotRefused(t *testing.T) {
	const (
		limit    = 4096
		requests = 40
	)
	for _, mode := range []string{"tcp", "tcp-plain"} {
		t.Run(mode, func(t *testing.T) {
			srv := newPollerServer(t, mode, nil, &PollerOptions{Loops: 1, WriteQueueLimit: limit})
			rc := dialRawWS(t, strings.TrimPrefix(srv.url, "ws://"), 0, time.Now().Add(5*time.Second))
			msg := strings.Repeat("m", 1000)
			var burst []byte
			for range requests {
				burst = append(burst, frame(true, 0, opText, true, []byte(msg))...)
			}
			burst = append(burst, frame(true, 0, opClose, true, []byte{0x03, 0xe8})...)
			if _, err := rc.nc.Write(burst); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(rc.br)
			if err != nil {
				t.Fatal(err)
			}
			got := shortFrames(rest)
			if len(got) != requests+1 || got[requests] != "8:\x03\xe8" {
				t.Fatalf("%d frames back, want %d echoes and the close answer: last %.20q", len(got), requests, got[len(got)-1:])
			}
			rc.nc.Close()
		})
	}
}
