package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fullduplex/websocket"

	// WebSockets over HTTP/2 need extended CONNECT, which Go 1.25 and 1.26
	// offer only with GODEBUG=http2xconnect=1; this sets it.
	_ "github.com/fullduplex/websocket/xconnect"
)

// BenchmarkH2Mux compares muxConns WebSockets multiplexed as streams of one
// HTTP/2 connection (RFC 8441, h2c with prior knowledge) with as many over
// HTTP/1.1, one TCP connection each, both between our client and our
// server in this process, on 127.0.0.1:
//
//   - echo/{h1,h2}: every WebSocket sends a 1 KiB binary message and waits
//     for its echo, over and over, all at once; b.N messages in all. It
//     reports msgs/s and the p50 and p99 of the round trips, in µs.
//   - idle/{h1,h2}: each iteration opens muxConns WebSockets, one echo
//     each, and measures what they keep while idle, both sides together
//     (client and server share the process): heap after a collection
//     (heapB/ws), goroutine stacks (stackB/ws), resident memory after
//     returning freed memory to the system (rssB/ws) and goroutines
//     (goroutines/ws); ns/op is the time to open them.
//
// The server is the README's: Accept, then Read and Write on the handler's
// goroutine, which waits for Done before it returns. The client dials each
// WebSocket with DialOptions.HTTP2Only and one HTTP2Transport for h2.
func BenchmarkH2Mux(b *testing.B) {
	protos := []string{"h1", "h2"}
	if k, _ := strconv.Atoi(os.Getenv("BENCH_ROTATE")); k%2 == 1 {
		protos = []string{"h2", "h1"}
	}
	for _, proto := range protos {
		b.Run("echo/"+proto, func(b *testing.B) { benchMuxEcho(b, proto == "h2") })
	}
	for _, proto := range protos {
		b.Run("idle/"+proto, func(b *testing.B) { benchMuxIdle(b, proto == "h2") })
	}
}

// muxConns is how many WebSockets each side of the comparison opens.
const muxConns = 100

// muxSize is the size of the echoed messages.
const muxSize = 1 << 10

// muxServer is our echo server on 127.0.0.1, speaking HTTP/1.1 and h2c.
type muxServer struct {
	srv      *http.Server
	url      string
	accepted atomic.Int64 // TCP connections
	handlers sync.WaitGroup
}

func startMuxServer(b *testing.B) *muxServer {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &muxServer{url: "ws://" + ln.Addr().String() + "/"}
	s.srv = &http.Server{
		Handler:   http.HandlerFunc(s.serve),
		Protocols: new(http.Protocols),
		// One stream per WebSocket: allow them all on one connection.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 2 * muxConns},
	}
	s.srv.Protocols.SetHTTP1(true)
	s.srv.Protocols.SetUnencryptedHTTP2(true)
	go s.srv.Serve(countingListener{ln, &s.accepted})
	b.Cleanup(func() {
		s.srv.Close()
		s.handlers.Wait()
	})
	return s
}

func (s *muxServer) serve(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer func() {
		c.CloseNow()
		<-c.Done()
	}()
	ctx := context.Background()
	var buf []byte
	for {
		typ, p, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
		buf = p
	}
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// dialMux opens muxConns WebSockets to s, over HTTP/2 on one connection or
// over HTTP/1.1 on one each, and checks that it is so. Each has echoed one
// message when it returns.
func dialMux(b *testing.B, s *muxServer, h2 bool) []*websocket.Conn {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{}
	if h2 {
		opts.HTTP2 = new(websocket.HTTP2Transport)
		opts.HTTP2Only = true
	}
	before := s.accepted.Load()
	msg := testPayload(muxSize)
	conns := make([]*websocket.Conn, 0, muxConns)
	for range muxConns {
		c, resp, err := websocket.Dial(ctx, s.url, opts)
		if err != nil {
			closeMux(conns)
			b.Fatal(err)
		}
		conns = append(conns, c)
		if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
			closeMux(conns)
			b.Fatalf("dialled over %s, want HTTP/%d", resp.Proto, want)
		}
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			closeMux(conns)
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			closeMux(conns)
			b.Fatal(err)
		}
	}
	want := int64(muxConns)
	if h2 {
		want = 1
	}
	if got := s.accepted.Load() - before; got != want {
		closeMux(conns)
		b.Fatalf("%d WebSockets took %d TCP connections, want %d", muxConns, got, want)
	}
	return conns
}

// closeMux closes the WebSockets and waits until each has ended.
func closeMux(conns []*websocket.Conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.Close(websocket.StatusNormalClosure, "")
			<-c.Done()
		})
	}
	wg.Wait()
}

func benchMuxEcho(b *testing.B, h2 bool) {
	s := startMuxServer(b)
	conns := dialMux(b, s, h2)
	defer closeMux(conns)
	msg := testPayload(muxSize)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	echo := func(c *websocket.Conn, n int, lat []time.Duration) ([]time.Duration, error) {
		buf := make([]byte, 0, muxSize)
		for range n {
			start := time.Now()
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				return lat, err
			}
			_, p, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return lat, err
			}
			if len(p) != muxSize {
				return lat, fmt.Errorf("echo of %d bytes, want %d", len(p), muxSize)
			}
			if lat != nil {
				lat = append(lat, time.Since(start))
			}
		}
		return lat, nil
	}
	run := func(total int, record bool) [][]time.Duration {
		lats := make([][]time.Duration, len(conns))
		errs := make([]error, len(conns))
		var wg sync.WaitGroup
		for i, c := range conns {
			n := total / len(conns)
			if i < total%len(conns) {
				n++
			}
			wg.Go(func() {
				var lat []time.Duration
				if record {
					lat = make([]time.Duration, 0, n)
				}
				lats[i], errs[i] = echo(c, n, lat)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		return lats
	}
	run(warmup*len(conns), false)
	b.SetBytes(2 * muxSize)
	b.ResetTimer()
	start := time.Now()
	lats := run(b.N, true)
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(percentile(all, 50))/1e3, "p50-us")
	b.ReportMetric(float64(percentile(all, 99))/1e3, "p99-us")
}

// percentile returns the p-th percentile of the sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func benchMuxIdle(b *testing.B, h2 bool) {
	s := startMuxServer(b)
	var heap, stack, rss, goroutines float64
	for range b.N {
		b.StopTimer()
		h0, st0, r0, g0 := muxMemory()
		b.StartTimer()
		conns := dialMux(b, s, h2)
		b.StopTimer()
		h1, st1, r1, g1 := muxMemory()
		heap += float64(h1 - h0)
		stack += float64(st1 - st0)
		rss += float64(r1 - r0)
		goroutines += float64(g1 - g0)
		closeMux(conns)
		b.StartTimer()
	}
	n := float64(b.N * muxConns)
	b.ReportMetric(heap/n, "heapB/ws")
	b.ReportMetric(stack/n, "stackB/ws")
	b.ReportMetric(rss/n, "rssB/ws")
	b.ReportMetric(goroutines/n, "goroutines/ws")
}

// muxMemory returns the live heap, the goroutine stacks and the resident
// memory of the process, after a collection that returns what is free to
// the system, and the number of goroutines.
func muxMemory() (heap, stack, rss uint64, goroutines int) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse, residentBytes(), runtime.NumGoroutine()
}

// residentBytes is the process's resident set size, from /proc; 0 where
// there is no /proc.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
