//go:build amd64 && !race

package websocket

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/fullduplex/websocket/internal/wstest"
)

// TestEchoGoroutineStackStaysSmall: a goroutine that reads and echoes
// messages of 16 B and 1 KiB over TCP keeps its first 2 KiB stack. Go grows a stack on the
// deepest call made and never shrinks one parked in a read, so a few more
// bytes of frame on the read or the write path would double what every
// idle connection of the goroutine mode costs (4.7 KB to 6.6 KB in
// BENCHMARKS.md). Frame sizes are the compiler's, so this holds for
// amd64 as built here, without the race detector.
//
// The stack in use is read in a process of its own: one that ran other
// tests holds stacks in its caches, which move the count.
func TestEchoGoroutineStackStaysSmall(t *testing.T) {
	size, _ := strconv.Atoi(os.Getenv("WS_STACK_CHILD"))
	if size == 0 {
		// 16 B: writeSmall; 1 KiB: writeCopied (TCP would otherwise take
		// the standard library's deeper vectored write).
		for _, size := range []int{16, 1024} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestEchoGoroutineStackStaysSmall$", "-test.v", "-test.count=1")
			// Two Ps whatever the machine: each P may keep a span of free
			// stacks in its cache, counted as in use, which moved the
			// figure per goroutine by 164 bytes a P (3.3 KB at 16).
			cmd.Env = append(os.Environ(), "WS_STACK_CHILD="+strconv.Itoa(size), "GOMAXPROCS=2")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%d B messages: %v\n%s", size, err, out)
			}
			if m := regexp.MustCompile(`\d+ bytes of stack per echoing goroutine`).Find(out); m != nil {
				t.Logf("%d B messages: %s", size, m)
			}
		}
		return
	}
	wstest.CheckLeaks(t)
	const n = 200
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echo := func(c *Conn) {
		defer c.CloseNow()
		ctx := context.Background()
		var buf []byte
		for {
			typ, b, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			buf = b
			if err := c.Write(ctx, typ, buf); err != nil {
				return
			}
		}
	}
	msg := frame(true, 0, opBinary, true, make([]byte, size))
	reply := make([]byte, len(frame(true, 0, opBinary, false, make([]byte, size))))
	var wg sync.WaitGroup
	var clients []net.Conn
	defer func() {
		for _, nc := range clients {
			nc.Close()
		}
		wg.Wait()
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, nc)
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(sc, false, nil, "", nil, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			echo(c)
		}()
		for range 2 {
			if _, err := nc.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(nc, reply); err != nil {
				t.Fatal(err)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	// 2 KiB a goroutine, with room for those that take a pool's or the
	// allocator's slow path at their deepest point (up to about a third
	// grow with 1 KiB messages); 4 KiB each when the path itself grew.
	// On Windows the runtime adds 4 KiB for the system to every stack
	// (stackSystem), so a goroutine starts with 8 KiB and grows to 16.
	first := int64(2048)
	if runtime.GOOS == "windows" {
		first = 8192
	}
	if per > first*7/4 {
		t.Fatalf("%d bytes of stack per echoing goroutine, want about %d", per, first)
	}
	t.Logf("%d bytes of stack per echoing goroutine", per)
}
