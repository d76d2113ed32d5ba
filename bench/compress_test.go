package bench

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	ours "github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/bench/internal/memconn"
	"github.com/fullduplex/websocket/bench/internal/wsframe"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// The compression benchmarks play the server with permessage-deflate
// (RFC 7692) negotiated. Reads replay a pre-encoded stream of compressed,
// masked client text frames (RSV1 set, the 00 00 ff ff tail removed) made
// with compress/flate; writes send compressed text messages to a
// connection that discards them. The messages are distinct JSON documents
// of one size, so a context carried from one message to the next helps as
// it would in a real stream of similar messages.
//
// With no context takeover the stream of compressed messages loops without
// end. With context takeover each message refers back to the ones before
// it, so the stream is valid once only: after its last message the
// connection is replaced (timer stopped) and the stream starts again.
//
// gobwas/ws has no permessage-deflate of its own (wsflate is a separate
// package driven frame by frame by the application), so it is left out.

// compressSizes are the message sizes of the compression benchmarks.
var compressSizes = []struct {
	name string
	n    int
}{
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"64KiB", 64 << 10},
	{"1MiB", 1 << 20},
}

// compressMsgCount is the number of distinct messages of a stream.
func compressMsgCount(size int) int {
	return max(16, (256<<10)/size)
}

// compressOffer is what the client offers: permessage-deflate with its
// defaults, leaving context takeover to the server's choice.
const compressOffer = "permessage-deflate; client_max_window_bits"

// compressMode is one library in one compression configuration.
type compressMode struct {
	lib      string
	mode     string // "notakeover" or "takeover"
	takeover bool
	open     func(b testing.TB, conn net.Conn) compressConn
}

// compressConn is the server side of a compressed connection.
type compressConn interface {
	// read returns the next message; nil for libraries that only read
	// through a loop of their own (gws).
	read() ([]byte, error)
	write(p []byte) error
	close()
}

var compressModes = []compressMode{
	{"ours", "notakeover", false, openOurs(ours.CompressionNoContextTakeover)},
	{"ours", "takeover", true, openOurs(ours.CompressionContextTakeover)},
	{"ours", "takeover-turns", true, openOursTurns},
	{"gorilla", "notakeover", false, openGorilla},
	{"coder", "notakeover", false, openCoder(coder.CompressionNoContextTakeover)},
	{"coder", "takeover", true, openCoder(coder.CompressionContextTakeover)},
	{"gws", "notakeover", false, openGws(false)},
	{"gws", "takeover", true, openGws(true)},
}

// writesOnly reports whether m measures writes alone: its connections
// never read.
func (m compressMode) writesOnly() bool { return m.mode == "takeover-turns" }

// rotatedCompressModes returns compressModes with the libraries in the
// order of rotatedLibs.
func rotatedCompressModes() []compressMode {
	var out []compressMode
	for _, lib := range rotatedLibs() {
		for _, m := range compressModes {
			if m.lib == lib {
				out = append(out, m)
			}
		}
	}
	return out
}

var compressRequest = memconn.UpgradeRequest("127.0.0.1:8080", compressOffer)

// --- messages and streams ---

var jsonWords = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
	"order", "payment", "shipped", "pending", "refund", "invoice", "account",
	"session", "device", "region", "europe", "america", "asia", "mobile",
}

// jsonMessage returns the JSON document number seq of exactly n bytes: an
// object holding an array of records like those an API returns, with
// deterministic pseudo-random values.
func jsonMessage(n, seq int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(seq)))
	word := func() string { return jsonWords[rng.IntN(len(jsonWords))] }
	b := []byte(`{"seq":` + strconv.Itoa(seq) + `,"items":[`)
	const tail = `],"pad":""}`
	var rec []byte
	for i := 0; ; i++ {
		rec = rec[:0]
		rec = append(rec, `{"id":`...)
		rec = strconv.AppendInt(rec, int64(seq*1000+i), 10)
		rec = append(rec, `,"user":"`...)
		rec = append(rec, word()...)
		rec = append(rec, '_')
		rec = strconv.AppendInt(rec, int64(rng.IntN(100000)), 10)
		rec = append(rec, `","email":"`...)
		rec = append(rec, word()...)
		rec = append(rec, '.')
		rec = append(rec, word()...)
		rec = append(rec, `@example.com","active":`...)
		rec = strconv.AppendBool(rec, rng.IntN(2) == 0)
		rec = append(rec, `,"score":`...)
		rec = strconv.AppendFloat(rec, float64(rng.IntN(1000000))/100, 'f', 2, 64)
		rec = append(rec, `,"created":"2026-`...)
		rec = fmt.Appendf(rec, "%02d-%02dT%02d:%02d:%02dZ", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))
		rec = append(rec, `","tags":["`...)
		rec = append(rec, word()...)
		rec = append(rec, `","`...)
		rec = append(rec, word()...)
		rec = append(rec, `"],"note":"`...)
		for k := range 3 + rng.IntN(6) {
			if k > 0 {
				rec = append(rec, ' ')
			}
			rec = append(rec, word()...)
		}
		rec = append(rec, `"}`...)
		sep := 0
		if i > 0 {
			sep = 1
		}
		if len(b)+sep+len(rec)+len(tail) > n {
			break
		}
		if sep == 1 {
			b = append(b, ',')
		}
		b = append(b, rec...)
	}
	b = append(b, `],"pad":"`...)
	for len(b) < n-2 {
		w := word()
		if len(b)+len(w)+1 > n-2 {
			w = "zzzzzzzz"[:n-2-len(b)]
		}
		b = append(b, w...)
		if len(b) < n-2 {
			b = append(b, ' ')
		}
	}
	return append(b, `"}`...)
}

// compressedStream is a pre-encoded stream of compressed client frames.
type compressedStream struct {
	msgs [][]byte // the uncompressed messages
	data []byte   // the frames, back to back
	ends []int    // the offset in data after each frame
	raw  int      // total uncompressed bytes
}

// buildCompressedStream compresses msgs as a client would: each message on
// its own, or with the context carried from one to the next (takeover).
func buildCompressedStream(msgs [][]byte, takeover bool) *compressedStream {
	s := &compressedStream{msgs: msgs}
	var z bytes.Buffer
	fw, err := flate.NewWriter(&z, flate.DefaultCompression)
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		z.Reset()
		if !takeover {
			fw.Reset(&z)
		}
		fw.Write(m)
		fw.Flush()
		p := z.Bytes()
		if !bytes.HasSuffix(p, []byte{0, 0, 0xff, 0xff}) {
			panic("flush did not end with an empty stored block")
		}
		p = p[:len(p)-4]
		start := len(s.data)
		s.data = wsframe.AppendFrame(s.data, wsframe.OpText, p, true, clientKey)
		s.data[start] |= 0x40 // RSV1: the message is compressed
		s.ends = append(s.ends, len(s.data))
		s.raw += len(m)
	}
	return s
}

// bytesFor returns the number of stream bytes holding the first k
// messages of a stream replayed from its start without end.
func (s *compressedStream) bytesFor(k int) int64 {
	n := len(s.ends)
	b := int64(k/n) * int64(len(s.data))
	if r := k % n; r > 0 {
		b += int64(s.ends[r-1])
	}
	return b
}

var (
	streamsMu sync.Mutex
	streams   = map[string]*compressedStream{}
)

// compressedStreamFor returns the stream of messages of size n, built once.
func compressedStreamFor(n int, takeover bool) *compressedStream {
	key := fmt.Sprint(n, takeover)
	streamsMu.Lock()
	defer streamsMu.Unlock()
	if s, ok := streams[key]; ok {
		return s
	}
	msgs := make([][]byte, compressMsgCount(n))
	for i := range msgs {
		msgs[i] = jsonMessage(n, i)
	}
	s := buildCompressedStream(msgs, takeover)
	streams[key] = s
	return s
}

// --- the libraries ---

type oursCompress struct {
	c   *ours.Conn
	buf []byte
}

func openOurs(mode ours.CompressionMode) func(testing.TB, net.Conn) compressConn {
	return func(tb testing.TB, conn net.Conn) compressConn {
		opts := &ours.AcceptOptions{}
		opts.Compression = ours.CompressionOptions{Mode: mode, Threshold: -1}
		c, err := ours.Accept(memconn.NewResponseWriter(conn), compressRequest, opts)
		if err != nil {
			tb.Fatal(err)
		}
		return &oursCompress{c: c}
	}
}

// turnConns is the number of connections of the takeover-turns rows.
const turnConns = 8

// oursTurns writes each message through the next of turnConns connections
// with context takeover, so that no message finds the pooled compressor
// holding its connection's stream: each loads its history again, as with
// many connections sending at once.
type oursTurns struct {
	conns []compressConn
	next  int
}

// openOursTurns opens turnConns connections writing to conn (the write
// benchmark only: they never read).
func openOursTurns(tb testing.TB, conn net.Conn) compressConn {
	t := &oursTurns{}
	for range turnConns {
		t.conns = append(t.conns, openOurs(ours.CompressionContextTakeover)(tb, conn))
	}
	return t
}

func (t *oursTurns) read() ([]byte, error) { return nil, errors.New("takeover-turns only writes") }

func (t *oursTurns) write(p []byte) error {
	t.next = (t.next + 1) % len(t.conns)
	return t.conns[t.next].write(p)
}

func (t *oursTurns) close() {
	for _, c := range t.conns {
		c.close()
	}
}

func (o *oursCompress) read() ([]byte, error) {
	var err error
	_, o.buf, err = o.c.ReadAppend(context.Background(), o.buf[:0])
	return o.buf, err
}

func (o *oursCompress) write(p []byte) error {
	return o.c.Write(context.Background(), ours.MessageText, p)
}

func (o *oursCompress) close() { o.c.CloseNow() }

type gorillaCompress struct{ c *gorilla.Conn }

func openGorilla(tb testing.TB, conn net.Conn) compressConn {
	u := gorilla.Upgrader{EnableCompression: true}
	c, err := u.Upgrade(memconn.NewResponseWriter(conn), compressRequest, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return gorillaCompress{c}
}

func (g gorillaCompress) read() ([]byte, error) {
	_, p, err := g.c.ReadMessage()
	return p, err
}

func (g gorillaCompress) write(p []byte) error { return g.c.WriteMessage(gorilla.TextMessage, p) }

func (g gorillaCompress) close() { g.c.Close() }

type coderCompress struct{ c *coder.Conn }

func openCoder(mode coder.CompressionMode) func(testing.TB, net.Conn) compressConn {
	return func(tb testing.TB, conn net.Conn) compressConn {
		c, err := coder.Accept(memconn.NewResponseWriter(conn), compressRequest, &coder.AcceptOptions{
			CompressionMode:      mode,
			CompressionThreshold: 1,
		})
		if err != nil {
			tb.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		return coderCompress{c}
	}
}

func (c coderCompress) read() ([]byte, error) {
	_, p, err := c.c.Read(context.Background())
	return p, err
}

func (c coderCompress) write(p []byte) error {
	return c.c.Write(context.Background(), coder.MessageText, p)
}

func (c coderCompress) close() { c.c.CloseNow() }

// gwsCompress is a gws connection; it reads only through ReadLoop, which
// hands messages to the callback set with onMessage.
type gwsCompress struct {
	c *gws.Conn
}

// gwsOnMessageKey is the session key of a connection's message callback.
const gwsOnMessageKey = "onMessage"

// onMessage sets the function ReadLoop calls with each message.
func (g *gwsCompress) onMessage(f func(p []byte)) { g.c.Session().Store(gwsOnMessageKey, f) }

// gwsCompressHandler passes each message to its connection's callback.
type gwsCompressHandler struct{ gws.BuiltinEventHandler }

func (gwsCompressHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	if f, ok := c.Session().Load(gwsOnMessageKey); ok {
		f.(func([]byte))(m.Bytes())
	}
	m.Close()
}

// gwsCompressOption is the server configuration: PermessageDeflate with its
// defaults (no context takeover), or with context takeover in both
// directions. gws limits the window to 12 bits under takeover unless told
// otherwise; 15 bits is set so that it keeps the same window as the others.
func gwsCompressOption(takeover bool) *gws.ServerOption {
	opt := &gws.ServerOption{ReadMaxPayloadSize: 1 << 20}
	opt.PermessageDeflate.Enabled = true
	opt.PermessageDeflate.Threshold = 1
	if takeover {
		opt.PermessageDeflate.ServerContextTakeover = true
		opt.PermessageDeflate.ClientContextTakeover = true
		opt.PermessageDeflate.ServerMaxWindowBits = 15
		opt.PermessageDeflate.ClientMaxWindowBits = 15
	}
	return opt
}

// gwsUpgraders are the two upgraders, shared by all connections as in a
// server: gws keeps its pool of compressors in the upgrader.
var gwsUpgraders = sync.OnceValue(func() [2]*gws.Upgrader {
	return [2]*gws.Upgrader{
		gws.NewUpgrader(gwsCompressHandler{}, gwsCompressOption(false)),
		gws.NewUpgrader(gwsCompressHandler{}, gwsCompressOption(true)),
	}
})

func openGws(takeover bool) func(testing.TB, net.Conn) compressConn {
	i := 0
	if takeover {
		i = 1
	}
	return func(tb testing.TB, conn net.Conn) compressConn {
		c, err := gwsUpgraders()[i].Upgrade(memconn.NewResponseWriter(conn), compressRequest)
		if err != nil {
			tb.Fatal(err)
		}
		return &gwsCompress{c: c}
	}
}

func (g *gwsCompress) read() ([]byte, error) { return nil, nil }

func (g *gwsCompress) write(p []byte) error { return g.c.WriteMessage(gws.OpcodeText, p) }

func (g *gwsCompress) close() { g.c.NetConn().Close() }

// --- benchmarks ---

// BenchmarkCompress measures compressed message reads and writes; the
// "ratio" metric is compressed bytes ÷ uncompressed bytes (frame headers
// included).
//
// Compress/Window/... measures the writes of the window-bits table:
// takeover with the peer's server_max_window_bits at 9, 10, 12 and 15
// bits on three corpora (see compressWindows).
func BenchmarkCompress(b *testing.B) {
	defer compressWindows(b)
	for _, op := range []string{"Read", "Write"} {
		for _, size := range compressSizes {
			for _, m := range rotatedCompressModes() {
				if op == "Read" && m.writesOnly() {
					continue
				}
				b.Run(op+"/"+size.name+"/"+m.lib+"/"+m.mode, func(b *testing.B) {
					b.SetBytes(int64(size.n))
					b.ReportAllocs()
					s := compressedStreamFor(size.n, m.takeover)
					switch {
					case op == "Write":
						compressWrite(b, m, s)
					case m.lib == "gws":
						compressReadGws(b, m, s)
					default:
						compressRead(b, m, s)
					}
				})
			}
		}
	}
}

func compressRead(b *testing.B, m compressMode, s *compressedStream) {
	k := len(s.msgs)
	c := m.open(b, memconn.NewReplay(s.data))
	defer func() { c.close() }()
	// The first pass checks every message of the stream.
	for i := range k {
		p, err := c.read()
		if err != nil {
			b.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(p, s.msgs[i]) {
			b.Fatalf("message %d: read %d bytes, not the %d sent", i, len(p), len(s.msgs[i]))
		}
	}
	if m.takeover {
		c.close()
		c = m.open(b, memconn.NewReplay(s.data))
	}
	b.ResetTimer()
	for i := range b.N {
		if m.takeover && i > 0 && i%k == 0 {
			b.StopTimer()
			c.close()
			c = m.open(b, memconn.NewReplay(s.data))
			b.StartTimer()
		}
		p, err := c.read()
		if err != nil || len(p) != len(s.msgs[i%k]) {
			b.Fatal(len(p), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(s.data))/float64(s.raw), "ratio")
}

// compressReadGws reads through gws' ReadLoop, which returns when the
// replay ends after the given number of messages.
func compressReadGws(b *testing.B, m compressMode, s *compressedStream) {
	k := len(s.msgs)
	// readN opens a connection with the timer stopped and reads n
	// messages.
	readN := func(n int, onMessage func(p []byte)) {
		b.StopTimer()
		conn := memconn.NewReplay(s.data)
		conn.SetLimit(s.bytesFor(n))
		c := m.open(b, conn).(*gwsCompress)
		c.onMessage(onMessage)
		b.StartTimer()
		c.c.ReadLoop()
	}
	i := 0
	readN(k, func(p []byte) {
		if !bytes.Equal(p, s.msgs[i]) {
			b.Errorf("message %d: read %d bytes, not the %d sent", i, len(p), len(s.msgs[i]))
		}
		i++
	})
	if i != k {
		b.Fatalf("read %d messages, want %d", i, k)
	}
	count := 0
	onMessage := func(p []byte) {
		count++
		if len(p) == 0 {
			b.Error("empty message")
		}
	}
	b.ResetTimer()
	for left := b.N; left > 0; {
		n := left
		if m.takeover {
			n = min(n, k)
		}
		readN(n, onMessage)
		left -= n
	}
	b.StopTimer()
	if count != b.N {
		b.Fatalf("read %d messages, want %d", count, b.N)
	}
	b.ReportMetric(float64(len(s.data))/float64(s.raw), "ratio")
}

func compressWrite(b *testing.B, m compressMode, s *compressedStream) {
	k := len(s.msgs)
	conn := memconn.NewReplay([]byte{0})
	c := m.open(b, conn)
	defer c.close()
	for i := range k {
		if err := c.write(s.msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	before := conn.Written()
	b.ResetTimer()
	for i := range b.N {
		if err := c.write(s.msgs[i%k]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(conn.Written()-before)/float64(b.N*len(s.msgs[0])), "ratio")
}

// --- memory per connection ---

// compressMemConns is the number of connections of BenchmarkCompressMemory.
const compressMemConns = 1000

// onceConn is a net.Conn whose reads return data once and then block until
// it is closed, like an idle peer after one message; writes are discarded.
type onceConn struct {
	data   []byte
	closed chan struct{}
	once   sync.Once
}

func newOnceConn(data []byte) *onceConn {
	return &onceConn{data: data, closed: make(chan struct{})}
}

func (c *onceConn) Read(p []byte) (int, error) {
	if len(c.data) > 0 {
		n := copy(p, c.data)
		c.data = c.data[n:]
		return n, nil
	}
	<-c.closed
	return 0, net.ErrClosed
}

func (c *onceConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
		return len(p), nil
	}
}

func (c *onceConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *onceConn) LocalAddr() net.Addr                { return memconn.Addr }
func (c *onceConn) RemoteAddr() net.Addr               { return memconn.Addr }
func (c *onceConn) SetDeadline(t time.Time) error      { return nil }
func (c *onceConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *onceConn) SetWriteDeadline(t time.Time) error { return nil }

// BenchmarkCompressMemory measures the heap each connection keeps once it
// has received and sent one 1 KiB compressed message: the HeapInuse
// difference, after garbage collection, made by 1,000 such connections,
// per connection ("heapB/conn"). gws reads in a goroutine per connection
// (ReadLoop), whose stack is not counted here.
func BenchmarkCompressMemory(b *testing.B) {
	const size = 1 << 10
	for _, m := range append(rotatedCompressModes(), compressMemoryExtra...) {
		if m.writesOnly() {
			continue
		}
		b.Run(m.lib+"/"+m.mode, func(b *testing.B) {
			s := compressedStreamFor(size, m.takeover)
			first := s.data[:s.ends[0]]
			var total float64
			for range b.N {
				total += compressMemoryOnce(b, m, first, s.msgs[0])
			}
			b.ReportMetric(total/float64(b.N), "heapB/conn")
		})
	}
}

func compressMemoryOnce(b *testing.B, m compressMode, frame, msg []byte) float64 {
	conns := make([]compressConn, 0, compressMemConns)
	raw := make([]*onceConn, 0, compressMemConns)
	var wg sync.WaitGroup
	var ms runtime.MemStats
	// Two collections empty the sync.Pools (and their victim caches), so
	// that pooled compressors shared by all connections are not counted.
	gc2 := func() {
		runtime.GC()
		runtime.GC()
	}
	gc2()
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	for range compressMemConns {
		nc := newOnceConn(frame)
		c := m.open(b, nc)
		if g, ok := c.(*gwsCompress); ok {
			got := make(chan []byte, 1)
			g.onMessage(func(p []byte) { got <- bytes.Clone(p) })
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.c.ReadLoop()
			}()
			if p := <-got; !bytes.Equal(p, msg) {
				b.Fatalf("read %d bytes, not the %d sent", len(p), len(msg))
			}
		} else if p, err := c.read(); err != nil || !bytes.Equal(p, msg) {
			b.Fatalf("read %d bytes (%v), not the %d sent", len(p), err, len(msg))
		}
		if err := c.write(msg); err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		raw = append(raw, nc)
	}
	gc2()
	runtime.ReadMemStats(&ms)
	after := ms.HeapInuse
	for i, c := range conns {
		c.close()
		raw[i].Close()
	}
	wg.Wait()
	runtime.KeepAlive(conns)
	return (float64(after) - float64(before)) / compressMemConns
}

// compressMemoryExtra are memory-only rows: ours under takeover with the
// window limited to 10 bits both ways.
var compressMemoryExtra = []compressMode{
	{"ours", "takeover-w10", true, openOursWindow(10)},
}

// --- window bits ---

// The window-bits benchmarks write messages of three corpora under context
// takeover to a connection that discards them, with the client having
// limited the server's window (server_max_window_bits). Next to the
// libraries: compress/flate used directly, as the previous path of this
// library did it (Huffman-only coding whenever the window was below 15
// bits, since compress/flate always uses 32 KiB; a dedicated BestSpeed
// writer at 15 bits). Their ratio counts the frame header too.

// windowBits are the window sizes of the window-bits table.
var windowBits = []int{9, 10, 12, 15}

// windowCorpora are the corpora of the window-bits table, each at its
// natural message size.
var windowCorpora = []struct {
	name string
	n    int
	gen  func(n, seq int) []byte
}{
	{"chat", 1 << 10, chatMessage},
	{"logs", 4 << 10, logMessage},
	{"html", 16 << 10, htmlMessage},
}

// chatMessage returns chat event number seq, JSON, of n bytes or so: a
// batch of chat messages as a chat server pushes them.
func chatMessage(n, seq int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(seq)+100))
	word := func() string { return jsonWords[rng.IntN(len(jsonWords))] }
	b := []byte(`{"type":"messages","room":"` + word() + `","items":[`)
	for i := 0; len(b) < n-200; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":%d,"from":{"id":%d,"name":"%s_%d","avatar":"https://cdn.example.com/u/%x.png"},"ts":"2026-12-04T10:%02d:%02d.%03dZ","text":"`,
			seq*100+i, rng.IntN(5000), word(), rng.IntN(100), rng.Uint32(), rng.IntN(60), rng.IntN(60), rng.IntN(1000))
		for k := range 3 + rng.IntN(10) {
			if k > 0 {
				b = append(b, ' ')
			}
			b = append(b, word()...)
		}
		b = append(b, `","reactions":[]}`...)
	}
	return append(b, "]}"...)
}

// logMessage returns a batch of log lines of n bytes or so.
func logMessage(n, seq int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(seq)+200))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	var b []byte
	for len(b) < n-160 {
		b = fmt.Appendf(b, "2026-12-04T10:%02d:%02d.%06dZ %-5s [%s] method=GET path=/api/v1/%s/%d status=%d bytes=%d dur=%dms req=%016x\n",
			rng.IntN(60), rng.IntN(60), rng.IntN(1e6), levels[rng.IntN(len(levels))], jsonWords[rng.IntN(len(jsonWords))],
			jsonWords[rng.IntN(len(jsonWords))], rng.IntN(100000), 200+100*rng.IntN(4), rng.IntN(50000), rng.IntN(900), rng.Uint64())
	}
	return b
}

// htmlMessage returns an HTML fragment of n bytes or so: a table of
// orders, as a server-rendered page update.
func htmlMessage(n, seq int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(seq)+300))
	word := func() string { return jsonWords[rng.IntN(len(jsonWords))] }
	b := []byte(`<section class="orders" data-page="` + strconv.Itoa(seq) + `"><table class="table table-striped"><thead><tr><th>Order</th><th>Customer</th><th>Status</th><th>Amount</th></tr></thead><tbody>` + "\n")
	for len(b) < n-250 {
		b = fmt.Appendf(b, `<tr class="order-row" id="order-%d"><td><a href="/orders/%d">#%d</a></td><td><span class="customer">%s %s</span></td><td><span class="badge badge-%s">%s</span></td><td class="amount">%d.%02d&nbsp;EUR</td></tr>`+"\n",
			rng.IntN(1e6), rng.IntN(1e6), rng.IntN(1e6), word(), word(), word(), word(), rng.IntN(1000), rng.IntN(100))
	}
	return append(b, "</tbody></table></section>"...)
}

// windowMsgCount is the number of distinct messages written in turn.
const windowMsgCount = 64

// windowLibs are the rows of the window-bits table; all15 marks those
// measured only at 15 bits (the previous path's BestSpeed writer, and the
// peers that cannot limit their window).
var windowLibs = []struct {
	name  string
	all15 bool
}{
	{"ours", false},
	{"gws", false},
	{"flate-huffman", false},
	{"flate-1", true},
	{"coder", true},
	{"gorilla", true},
}

// compressWindows runs Compress/Window/<corpus>/<bits>/<lib>.
func compressWindows(b *testing.B) {
	for _, corpus := range windowCorpora {
		msgs := make([][]byte, windowMsgCount)
		for i := range msgs {
			msgs[i] = corpus.gen(corpus.n, i)
		}
		for _, bits := range windowBits {
			for _, lib := range windowLibs {
				if lib.all15 && bits != 15 {
					continue
				}
				b.Run(fmt.Sprintf("Window/%s/%dbits/%s", corpus.name, bits, lib.name), func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(corpus.n))
					switch lib.name {
					case "flate-huffman":
						windowFlate(b, msgs, flate.HuffmanOnly)
					case "flate-1":
						windowFlate(b, msgs, flate.BestSpeed)
					default:
						windowWrite(b, msgs, openWindow(lib.name, bits))
					}
				})
			}
		}
	}
}

// openWindow returns the opener of a server connection of lib under
// takeover whose client asked for server_max_window_bits=bits.
func openWindow(lib string, bits int) func(testing.TB, net.Conn) compressConn {
	switch lib {
	case "ours":
		return openOursWindow(bits)
	case "gws":
		return openGwsWindow(bits)
	case "coder":
		return openCoder(coder.CompressionContextTakeover)
	}
	return openGorilla
}

// windowOffer is the client's offer limiting the server's window.
func windowOffer(bits int) string {
	return "permessage-deflate; client_max_window_bits=" + strconv.Itoa(bits) + "; server_max_window_bits=" + strconv.Itoa(bits)
}

func openOursWindow(bits int) func(testing.TB, net.Conn) compressConn {
	req := memconn.UpgradeRequest("127.0.0.1:8080", windowOffer(bits))
	return func(tb testing.TB, conn net.Conn) compressConn {
		opts := &ours.AcceptOptions{}
		opts.Compression = ours.CompressionOptions{Mode: ours.CompressionContextTakeover, Threshold: -1, MaxWindowBits: bits}
		c, err := ours.Accept(memconn.NewResponseWriter(conn), req, opts)
		if err != nil {
			tb.Fatal(err)
		}
		return &oursCompress{c: c}
	}
}

var gwsWindowUpgraders sync.Map // bits -> *gws.Upgrader

func openGwsWindow(bits int) func(testing.TB, net.Conn) compressConn {
	req := memconn.UpgradeRequest("127.0.0.1:8080", windowOffer(bits))
	return func(tb testing.TB, conn net.Conn) compressConn {
		u, ok := gwsWindowUpgraders.Load(bits)
		if !ok {
			opt := gwsCompressOption(true)
			opt.PermessageDeflate.ServerMaxWindowBits = bits
			opt.PermessageDeflate.ClientMaxWindowBits = bits
			u, _ = gwsWindowUpgraders.LoadOrStore(bits, gws.NewUpgrader(gwsCompressHandler{}, opt))
		}
		c, err := u.(*gws.Upgrader).Upgrade(memconn.NewResponseWriter(conn), req)
		if err != nil {
			tb.Fatal(err)
		}
		return &gwsCompress{c: c}
	}
}

// windowWrite writes msgs in turn through a connection and reports the
// ratio of bytes written to message bytes.
func windowWrite(b *testing.B, msgs [][]byte, open func(testing.TB, net.Conn) compressConn) {
	conn := memconn.NewReplay([]byte{0})
	c := open(b, conn)
	defer c.close()
	for _, m := range msgs {
		if err := c.write(m); err != nil {
			b.Fatal(err)
		}
	}
	before := conn.Written()
	raw := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		if err := c.write(m); err != nil {
			b.Fatal(err)
		}
		raw += len(m)
	}
	b.StopTimer()
	b.ReportMetric(float64(conn.Written()-before)/float64(raw), "ratio")
}

// windowFlate compresses msgs in turn with compress/flate as this
// library's previous path did: a dedicated writer kept across messages
// (takeover), Write and Flush per message, the tail dropped.
func windowFlate(b *testing.B, msgs [][]byte, level int) {
	var out bytes.Buffer
	fw, err := flate.NewWriter(&out, level)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range msgs {
		fw.Write(m)
		fw.Flush()
	}
	wire, raw := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		out.Reset()
		fw.Write(m)
		fw.Flush()
		n := out.Len() - 4
		wire += n + serverHeaderSize(n)
		raw += len(m)
	}
	b.StopTimer()
	b.ReportMetric(float64(wire)/float64(raw), "ratio")
}

// serverHeaderSize is the size of an unmasked frame header for n bytes.
func serverHeaderSize(n int) int {
	switch {
	case n < 126:
		return 2
	case n < 1<<16:
		return 4
	}
	return 10
}

// TestJSONMessage checks that the generated messages have the size asked
// for, are valid JSON text and differ from one another.
func TestJSONMessage(t *testing.T) {
	for _, n := range []int{1 << 10, 64 << 10} {
		a, b := jsonMessage(n, 0), jsonMessage(n, 1)
		if len(a) != n || len(b) != n {
			t.Fatalf("sizes %d and %d, want %d", len(a), len(b), n)
		}
		if bytes.Equal(a, b) {
			t.Fatal("messages 0 and 1 are equal")
		}
		if !bytes.Equal(a, jsonMessage(n, 0)) {
			t.Fatal("message 0 is not deterministic")
		}
		if !json.Valid(a) || !json.Valid(b) {
			t.Fatalf("%d bytes: not valid JSON", n)
		}
	}
}

// TestCompressedStream checks that the stream decompresses back to the
// messages, with and without a context carried between messages.
func TestCompressedStream(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		msgs := [][]byte{jsonMessage(1<<10, 0), jsonMessage(1<<10, 1), jsonMessage(1<<10, 2)}
		s := buildCompressedStream(msgs, takeover)
		var dict []byte
		pos := 0
		for i, end := range s.ends {
			frame := s.data[pos:end]
			pos = end
			if frame[0] != 0xC1 {
				t.Fatalf("frame %d: first byte %#x, want FIN, RSV1 and text", i, frame[0])
			}
			_, _, n, hlen := wsframe.ParseHeader(frame)
			p := bytes.Clone(frame[hlen:])
			if int64(len(p)) != n {
				t.Fatalf("frame %d: length %d, header says %d", i, len(p), n)
			}
			wsframe.Mask(p, clientKey)
			p = append(p, 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
			var r io.ReadCloser
			if takeover {
				r = flate.NewReaderDict(bytes.NewReader(p), dict)
			} else {
				r = flate.NewReader(bytes.NewReader(p))
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("takeover %v, frame %d: %v", takeover, i, err)
			}
			if !bytes.Equal(got, msgs[i]) {
				t.Fatalf("takeover %v, frame %d: wrong message", takeover, i)
			}
			dict = append(dict, got...)
		}
	}
}
