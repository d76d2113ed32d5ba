package websocket

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"unsafe"

	"github.com/fullduplex/websocket/internal/wstest"
)

// memConn returns a connection in the given role whose peer endlessly
// sends one message of size bytes.
func memConn(client bool, size int) *Conn {
	f := frame(true, 0, opBinary, !client, make([]byte, size))
	return newConn(&wstest.LoopConn{Data: f}, client, nil, "", nil, nil)
}

func TestZeroAllocsPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	// A ctx that can end is followed from one call to the next
	// (xsync.Interrupter): it costs an allocation when it changes, none
	// per message.
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), cctx} {
		for _, client := range []bool{false, true} {
			for _, size := range []int{16, 1024, 65536} {
				c := memConn(client, size)
				buf := make([]byte, 0, size)
				payload := make([]byte, size)
				rbuf := make([]byte, 4096)
				checks := []struct {
					name   string
					f      func()
					allocs float64
				}{
					{
						name: "ReadAppend",
						f:    func() { _, buf, _ = c.ReadAppend(ctx, buf[:0]) },
					},
					{
						name: "Reader",
						f: func() {
							_, r, _ := c.Reader(ctx)
							for {
								if _, err := r.Read(rbuf); err != nil {
									break
								}
							}
						},
					},
					{
						name: "Write",
						f:    func() { c.Write(ctx, MessageBinary, payload) },
					},
					{
						name: "Writer",
						f: func() {
							w, _ := c.Writer(ctx, MessageBinary)
							w.Write(payload)
							w.Close()
						},
						// Each Writer returns a handle of its own, so that one
						// kept past its Close cannot write into or close the
						// next message (TestStaleWriterWrite). It must be a new
						// address every time: handles are never reused, and are
						// allocated handleBatch at a time, so 50 runs make at
						// most 2 allocations, 0 on average (TestWriterHandleBatches).
						allocs: 0,
					},
					{
						// A control frame goes out of the connection's
						// small array: a local one escaped, one allocation
						// per ping (a heartbeat's too).
						name: "SendPing",
						f:    func() { c.SendPing(ctx, []byte("ping")) },
					},
				}
				for _, chk := range checks {
					if n := testing.AllocsPerRun(50, chk.f); n != chk.allocs {
						t.Errorf("ctx %v client=%v size=%d %s: %.1f allocs per message, want %.0f", ctx, client, size, chk.name, n, chk.allocs)
					}
				}
			}
		}
	}
}

func BenchmarkReadWrite(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{16, 1024, 65536, 1 << 20} {
		b.Run("Read/"+strconv.Itoa(size), func(b *testing.B) {
			c := memConn(false, size)
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				_, buf, _ = c.ReadAppend(ctx, buf[:0])
			}
		})
		b.Run("Write/"+strconv.Itoa(size), func(b *testing.B) {
			c := memConn(false, size)
			p := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				c.Write(ctx, MessageBinary, p)
			}
		})
	}
}

// nopHijacker hands out a prepared in-memory connection, so that only
// Accept's own allocations are counted.
type nopHijacker struct {
	http.ResponseWriter
	nc  net.Conn
	brw *bufio.ReadWriter
}

func (h *nopHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) { return h.nc, h.brw, nil }

func TestAcceptAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	r := httptest.NewRequest(http.MethodGet, "http://example.com/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	// What browsers send: checkOfferSyntax reads both with compression off.
	r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	r.Header.Set("Sec-WebSocket-Protocol", "chat, superchat")
	nc := &wstest.LoopConn{}
	h := &nopHijacker{ResponseWriter: httptest.NewRecorder(), nc: nc, brw: bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc))}
	n := testing.AllocsPerRun(100, func() {
		if _, err := Accept(h, r, nil); err != nil {
			t.Fatal(err)
		}
	})
	if n > 3 {
		t.Fatalf("%.0f allocations per Accept, the budget is 3", n)
	}
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Accept(h, r, nil)
		}
	})
	if bytes := res.AllocedBytesPerOp(); bytes > 1024 {
		t.Fatalf("%d bytes allocated per Accept, the budget is 1 KiB", bytes)
	}
}

// TestConnSizeClass keeps the Conn, which every idle connection holds, in
// the 320-byte size class on 64-bit platforms: one byte more and it would
// take 352. State only some connections need belongs behind a pointer made
// on first use (or, for options, in extras), and state only a reading
// connection needs in readState, which a Poller's idle connection gives
// back. The compression state of a connection with takeover stays in the
// 80-byte class likewise.
func TestConnSizeClass(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("size classes are checked on 64-bit platforms")
	}
	for _, tc := range []struct {
		name  string
		size  uintptr
		class uintptr
	}{
		{
			name:  "Conn",
			size:  unsafe.Sizeof(Conn{}),
			class: 320,
		},
		{
			name:  "deflate",
			size:  unsafe.Sizeof(deflate{}),
			class: 80,
		},
		{
			name:  "outQueue", // every Poller-served connection has one
			size:  unsafe.Sizeof(outQueue{}),
			class: 80,
		},
	} {
		if tc.size > tc.class {
			t.Errorf("%s is %d bytes: it leaves the %d-byte size class", tc.name, tc.size, tc.class)
		}
	}
}

// TestWriterHandleBatches: streamed messages allocate one batch of handles
// per handleBatch messages, and every handle is new.
func TestWriterHandleBatches(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	c := memConn(false, 16)
	ctx := context.Background()
	payload := make([]byte, 16)
	const msgs = 10 * handleBatch
	handles := make([]io.WriteCloser, 0, msgs+handleBatch)
	var before, after runtime.MemStats
	for i := range msgs + handleBatch {
		if i == handleBatch {
			// Warmed up: the Writer's state and the pools' are made.
			runtime.ReadMemStats(&before)
		}
		w, err := c.Writer(ctx, MessageBinary)
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, w)
		w.Write(payload)
		w.Close()
	}
	runtime.ReadMemStats(&after)
	// One batch per handleBatch messages, and two to spare: a GC during
	// the loop may empty the write buffer pool, which then makes a buffer.
	if n, most := after.Mallocs-before.Mallocs, uint64(msgs/handleBatch+2); n > most {
		t.Errorf("%d allocations for %d streamed messages, want at most %d", n, msgs, most)
	}
	seen := make(map[io.WriteCloser]bool)
	for _, w := range handles {
		if seen[w] {
			t.Fatal("a handle was handed out twice")
		}
		seen[w] = true
	}
}

// TestAnsweringPingsAllocatesNothing: a connection read by a goroutine
// answers a ping with a pong written in one non-blocking attempt on its
// raw socket, without allocating. A closure made per attempt cost three
// allocations per pong: the closure and the two results it wrote.
func TestAnsweringPingsAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	client, server := pair(t, nil, nil)
	if server.rd.raw == nil {
		t.Skip("no raw socket: pongs go out through the net.Conn")
	}
	ctx := testCtx(t)
	msg := []byte("m")
	var sbuf, cbuf []byte
	roundTrip := func() {
		if err := client.SendPing(ctx, []byte("p")); err != nil {
			t.Fatal(err)
		}
		if err := client.Write(ctx, MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		var err error
		if _, sbuf, err = server.ReadAppend(ctx, sbuf[:0]); err != nil {
			t.Fatal(err) // the ping was answered on the way
		}
		if err := server.Write(ctx, MessageBinary, sbuf); err != nil {
			t.Fatal(err)
		}
		if _, cbuf, err = client.ReadAppend(ctx, cbuf[:0]); err != nil {
			t.Fatal(err) // the pong, then the echo
		}
	}
	roundTrip() // buffers and pools warm
	if n := testing.AllocsPerRun(100, roundTrip); n != 0 {
		t.Errorf("%.2f allocations per ping answered and message echoed, want 0", n)
	}
}
