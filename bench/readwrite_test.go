package bench

import (
	"bufio"
	"context"
	"io"
	"testing"

	coder "github.com/coder/websocket"
	ours "github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/bench/internal/memconn"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// The read benchmarks play the server: they read masked binary messages of
// one size, replayed from memory, through each library's public API. The
// write benchmarks send unmasked binary messages to a connection that
// discards them. Each library is driven through its fastest documented
// path; "whole" rows hand over a message in one piece and "stream" rows
// go through an io.Reader or io.Writer.

// streamBufSize is the buffer the streaming read rows read into.
const streamBufSize = 32 << 10

type rwCase struct {
	api string
	fn  func(b *testing.B, size int)
}

var readCases = map[string][]rwCase{
	"ours": {
		{"whole", readOursWhole},
		{"stream", readOursStream},
	},
	"gorilla": {
		{"whole", readGorillaWhole},
		{"stream", readGorillaStream},
	},
	"coder": {
		{"whole", readCoderWhole},
		{"stream", readCoderStream},
	},
	"gobwas": {
		{"frame", readGobwasFrame},
		{"stream", readGobwasStream},
	},
	"gws": {
		{"whole", readGws},
	},
}

var writeCases = map[string][]rwCase{
	"ours": {
		{"whole", writeOursWhole},
		{"stream", writeOursStream},
	},
	"gorilla": {
		{"whole", writeGorillaWhole},
		{"stream", writeGorillaStream},
	},
	"coder": {
		{"whole", writeCoderWhole},
		{"stream", writeCoderStream},
	},
	"gobwas": {
		{"frame", writeGobwasFrame},
		{"stream", writeGobwasStream},
	},
	"gws": {
		{"whole", writeGws},
	},
}

func BenchmarkRead(b *testing.B)  { runRW(b, readCases) }
func BenchmarkWrite(b *testing.B) { runRW(b, writeCases) }

func runRW(b *testing.B, cases map[string][]rwCase) {
	for _, size := range sizes {
		b.Run(size.name, func(b *testing.B) {
			for _, lib := range rotatedLibs() {
				for _, c := range cases[lib] {
					b.Run(lib+"/"+c.api, func(b *testing.B) {
						b.SetBytes(int64(size.n))
						b.ReportAllocs()
						c.fn(b, size.n)
					})
				}
			}
		})
	}
}

// upgradeRequest is the request every server-side connection is made from.
var upgradeRequest = memconn.UpgradeRequest("127.0.0.1:8080", "")

// readAll reads r to its end through buf and returns the byte count.
func readAll(r io.Reader, buf []byte) (int, error) {
	total := 0
	for {
		n, err := r.Read(buf)
		total += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// --- ours ---

func acceptOurs(b *testing.B, conn *memconn.Replay) *ours.Conn {
	b.Helper()
	rw := memconn.NewResponseWriter(conn)
	c, err := ours.Accept(rw, upgradeRequest, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func readOursWhole(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	c := acceptOurs(b, memconn.NewReplay(stream))
	defer c.CloseNow()
	ctx := context.Background()
	var buf []byte
	var err error
	for range warmup {
		if _, buf, err = c.ReadAppend(ctx, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	checkPayload(b, buf, size)
	b.ResetTimer()
	for range b.N {
		_, buf, err = c.ReadAppend(ctx, buf[:0])
		if err != nil || len(buf) != size {
			b.Fatal(len(buf), err)
		}
	}
}

func readOursStream(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	c := acceptOurs(b, memconn.NewReplay(stream))
	defer c.CloseNow()
	ctx := context.Background()
	buf := make([]byte, streamBufSize)
	read := func() int {
		_, r, err := c.Reader(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n, err := readAll(r, buf)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	for range warmup {
		read()
	}
	b.ResetTimer()
	for range b.N {
		if n := read(); n != size {
			b.Fatal(n)
		}
	}
}

func writeOursWhole(b *testing.B, size int) {
	payload := testPayload(size)
	c := acceptOurs(b, memconn.NewReplay([]byte{0}))
	defer c.CloseNow()
	ctx := context.Background()
	for range warmup {
		if err := c.Write(ctx, ours.MessageBinary, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if err := c.Write(ctx, ours.MessageBinary, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func writeOursStream(b *testing.B, size int) {
	payload := testPayload(size)
	c := acceptOurs(b, memconn.NewReplay([]byte{0}))
	defer c.CloseNow()
	ctx := context.Background()
	write := func() {
		w, err := c.Writer(ctx, ours.MessageBinary)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	for range warmup {
		write()
	}
	b.ResetTimer()
	for range b.N {
		write()
	}
}

// --- gorilla/websocket: Upgrader with its defaults, which reuse the
// hijacked net/http buffers (4 KiB each) for the connection. ---

func acceptGorilla(b *testing.B, conn *memconn.Replay) *gorilla.Conn {
	b.Helper()
	u := gorilla.Upgrader{}
	c, err := u.Upgrade(memconn.NewResponseWriter(conn), upgradeRequest, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func readGorillaWhole(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	c := acceptGorilla(b, memconn.NewReplay(stream))
	defer c.Close()
	var p []byte
	var err error
	for range warmup {
		if _, p, err = c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	checkPayload(b, p, size)
	b.ResetTimer()
	for range b.N {
		_, p, err = c.ReadMessage()
		if err != nil || len(p) != size {
			b.Fatal(len(p), err)
		}
	}
}

func readGorillaStream(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	c := acceptGorilla(b, memconn.NewReplay(stream))
	defer c.Close()
	buf := make([]byte, streamBufSize)
	read := func() int {
		_, r, err := c.NextReader()
		if err != nil {
			b.Fatal(err)
		}
		n, err := readAll(r, buf)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	for range warmup {
		read()
	}
	b.ResetTimer()
	for range b.N {
		if n := read(); n != size {
			b.Fatal(n)
		}
	}
}

func writeGorillaWhole(b *testing.B, size int) {
	payload := testPayload(size)
	c := acceptGorilla(b, memconn.NewReplay([]byte{0}))
	defer c.Close()
	for range warmup {
		if err := c.WriteMessage(gorilla.BinaryMessage, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if err := c.WriteMessage(gorilla.BinaryMessage, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func writeGorillaStream(b *testing.B, size int) {
	payload := testPayload(size)
	c := acceptGorilla(b, memconn.NewReplay([]byte{0}))
	defer c.Close()
	write := func() {
		w, err := c.NextWriter(gorilla.BinaryMessage)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	for range warmup {
		write()
	}
	b.ResetTimer()
	for range b.N {
		write()
	}
}

// --- coder/websocket: Accept with compression off (its default). ---

func acceptCoder(b *testing.B, conn *memconn.Replay, size int) *coder.Conn {
	b.Helper()
	c, err := coder.Accept(memconn.NewResponseWriter(conn), upgradeRequest, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(int64(size) + 1)
	return c
}

func readCoderWhole(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	c := acceptCoder(b, memconn.NewReplay(stream), size)
	defer c.CloseNow()
	ctx := context.Background()
	var p []byte
	var err error
	for range warmup {
		if _, p, err = c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	checkPayload(b, p, size)
	b.ResetTimer()
	for range b.N {
		_, p, err = c.Read(ctx)
		if err != nil || len(p) != size {
			b.Fatal(len(p), err)
		}
	}
}

func readCoderStream(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	c := acceptCoder(b, memconn.NewReplay(stream), size)
	defer c.CloseNow()
	ctx := context.Background()
	buf := make([]byte, streamBufSize)
	read := func() int {
		_, r, err := c.Reader(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n, err := readAll(r, buf)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	for range warmup {
		read()
	}
	b.ResetTimer()
	for range b.N {
		if n := read(); n != size {
			b.Fatal(n)
		}
	}
}

func writeCoderWhole(b *testing.B, size int) {
	payload := testPayload(size)
	c := acceptCoder(b, memconn.NewReplay([]byte{0}), size)
	defer c.CloseNow()
	ctx := context.Background()
	for range warmup {
		if err := c.Write(ctx, coder.MessageBinary, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if err := c.Write(ctx, coder.MessageBinary, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func writeCoderStream(b *testing.B, size int) {
	payload := testPayload(size)
	c := acceptCoder(b, memconn.NewReplay([]byte{0}), size)
	defer c.CloseNow()
	ctx := context.Background()
	write := func() {
		w, err := c.Writer(ctx, coder.MessageBinary)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	for range warmup {
		write()
	}
	b.ResetTimer()
	for range b.N {
		write()
	}
}

// --- gobwas/ws: "frame" is its low-level API (ws.ReadHeaderBuffer,
// io.ReadFull into a reused buffer, ws.Cipher; ws.WriteHeaderBuffer and the
// payload written straight to the connection), with no message semantics
// (fragments, control frames and limits are the application's job).
// "stream" is wsutil.Reader and wsutil.Writer. ---

func upgradeGobwas(b *testing.B, conn *memconn.Replay) (*bufio.ReadWriter, *memconn.Replay) {
	b.Helper()
	nc, brw, _, err := ws.UpgradeHTTP(upgradeRequest, memconn.NewResponseWriter(conn))
	if err != nil {
		b.Fatal(err)
	}
	return brw, nc.(*memconn.Replay)
}

func readGobwasFrame(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	brw, conn := upgradeGobwas(b, memconn.NewReplay(stream))
	defer conn.Close()
	br := brw.Reader
	hb := make([]byte, ws.MaxHeaderSize)
	buf := make([]byte, size)
	read := func() []byte {
		h, err := ws.ReadHeaderBuffer(br, hb)
		if err != nil {
			b.Fatal(err)
		}
		if h.Length > int64(len(buf)) {
			b.Fatal("frame too big")
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(br, p); err != nil {
			b.Fatal(err)
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		return p
	}
	var p []byte
	for range warmup {
		p = read()
	}
	checkPayload(b, p, size)
	b.ResetTimer()
	for range b.N {
		if p := read(); len(p) != size {
			b.Fatal(len(p))
		}
	}
}

func readGobwasStream(b *testing.B, size int) {
	payload := testPayload(size)
	stream, _ := clientStream(payload)
	brw, conn := upgradeGobwas(b, memconn.NewReplay(stream))
	defer conn.Close()
	r := wsutil.NewReader(brw.Reader, ws.StateServerSide)
	buf := make([]byte, streamBufSize)
	read := func() int {
		if _, err := r.NextFrame(); err != nil {
			b.Fatal(err)
		}
		n, err := readAll(r, buf)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	for range warmup {
		read()
	}
	b.ResetTimer()
	for range b.N {
		if n := read(); n != size {
			b.Fatal(n)
		}
	}
}

func writeGobwasFrame(b *testing.B, size int) {
	payload := testPayload(size)
	_, conn := upgradeGobwas(b, memconn.NewReplay([]byte{0}))
	defer conn.Close()
	hb := make([]byte, ws.MaxHeaderSize)
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(size)}
	write := func() {
		if err := ws.WriteHeaderBuffer(conn, h, hb); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Write(payload); err != nil {
			b.Fatal(err)
		}
	}
	for range warmup {
		write()
	}
	b.ResetTimer()
	for range b.N {
		write()
	}
}

func writeGobwasStream(b *testing.B, size int) {
	payload := testPayload(size)
	_, conn := upgradeGobwas(b, memconn.NewReplay([]byte{0}))
	defer conn.Close()
	w := wsutil.NewWriter(conn, ws.StateServerSide, ws.OpBinary)
	write := func() {
		if _, err := w.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	for range warmup {
		write()
	}
	b.ResetTimer()
	for range b.N {
		write()
	}
}

// --- lxzan/gws: Upgrader with its defaults; messages arrive in OnMessage
// on the ReadLoop goroutine and are given back with Message.Close. ---

type gwsReadHandler struct {
	gws.BuiltinEventHandler
	b     *testing.B
	size  int
	count int
}

func (h *gwsReadHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	if m.Data.Len() != h.size {
		h.b.Fatal(m.Data.Len())
	}
	if h.count < warmup {
		checkPayload(h.b, m.Bytes(), h.size)
	}
	h.count++
	if h.count == warmup {
		h.b.ResetTimer()
	}
	m.Close()
}

func readGws(b *testing.B, size int) {
	payload := testPayload(size)
	stream, frameLen := clientStream(payload)
	conn := memconn.NewReplay(stream)
	h := &gwsReadHandler{b: b, size: size}
	u := gws.NewUpgrader(h, &gws.ServerOption{ReadMaxPayloadSize: size + 1})
	c, err := u.Upgrade(memconn.NewResponseWriter(conn), upgradeRequest)
	if err != nil {
		b.Fatal(err)
	}
	// The read loop runs until the replay ends, after warmup+b.N messages.
	conn.SetLimit(int64(warmup+b.N) * int64(frameLen))
	c.ReadLoop()
	b.StopTimer()
	if h.count != warmup+b.N {
		b.Fatalf("read %d messages, want %d", h.count, warmup+b.N)
	}
}

func writeGws(b *testing.B, size int) {
	payload := testPayload(size)
	conn := memconn.NewReplay([]byte{0})
	u := gws.NewUpgrader(&gws.BuiltinEventHandler{}, nil)
	c, err := u.Upgrade(memconn.NewResponseWriter(conn), upgradeRequest)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for range warmup {
		if err := c.WriteMessage(gws.OpcodeBinary, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if err := c.WriteMessage(gws.OpcodeBinary, payload); err != nil {
			b.Fatal(err)
		}
	}
}
