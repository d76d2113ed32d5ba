package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	lz "github.com/fullduplex/websocket/internal/deflate"
	"github.com/fullduplex/websocket/internal/wstest"
)

// compressionModes runs f once per compression setup, both ends alike.
// inflateTrailer is what a receiver inflating with compress/flate appends
// to a message: the tail, then an empty final stored block, so that the
// reader reports io.EOF exactly at the end of the message. The library's
// inflater needs none; the tests use it to check what we send against
// compress/flate.
var inflateTrailer = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

func compressionModes(t *testing.T, f func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions)) {
	modes := []struct {
		name string
		opts CompressionOptions
	}{
		{
			name: "off",
		},
		{
			name: "no-takeover",
			opts: CompressionOptions{Mode: CompressionNoContextTakeover, Threshold: -1},
		},
		{
			name: "takeover",
			opts: CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1},
		},
		{
			name: "takeover-window-9",
			opts: CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1, MaxWindowBits: 9},
		},
		{
			name: "takeover-send-window-10",
			opts: CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1, SendWindowBits: 10},
		},
		{
			name: "takeover-level-9-window-11",
			opts: CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1, Level: 9, MaxWindowBits: 11},
		},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: m.opts}},
				&DialOptions{ConnOptions: ConnOptions{Compression: m.opts}})
		})
	}
}

// compressible returns n bytes of text that deflate shrinks, different for each seed.
func compressible(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := []string{"alpha ", "beta ", "gamma ", "delta ", "epsilon ", `{"id":`, "42,", "\n"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func TestCompressedEcho(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		if (aopts.Compression.Mode != CompressionDisabled) != (client.deflate != nil && server.deflate != nil) {
			t.Fatalf("compression negotiated: client %v server %v", client.deflate != nil, server.deflate != nil)
		}
		ctx := testCtx(t)
		done := make(chan error, 1)
		go func() {
			for {
				typ, r, err := server.Reader(ctx)
				if err != nil {
					done <- err
					return
				}
				w, err := server.Writer(ctx, typ)
				if err != nil {
					done <- err
					return
				}
				if _, err := io.Copy(w, r); err != nil {
					done <- err
					return
				}
				if err := w.Close(); err != nil {
					done <- err
					return
				}
			}
		}()
		for i, size := range []int{0, 1, 100, 500, 4096, 5000, 70000, 200000} {
			msg := compressible(size, uint64(i))
			if err := client.Write(ctx, MessageText, msg); err != nil {
				t.Fatal(err)
			}
			_, got, err := client.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("size %d: echo differs (%d bytes back)", size, len(got))
			}
			// The same message again exercises the context.
			w, err := client.Writer(ctx, MessageBinary)
			if err != nil {
				t.Fatal(err)
			}
			for chunk := msg; len(chunk) > 0; {
				n := min(len(chunk), 777)
				w.Write(chunk[:n])
				chunk = chunk[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			typ, got, err := client.Read(ctx)
			if err != nil || typ != MessageBinary || !bytes.Equal(got, msg) {
				t.Fatalf("size %d streamed: %v %v equal=%v", size, typ, err, bytes.Equal(got, msg))
			}
		}
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		if err := <-done; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("server: %v", err)
		}
	})
}

func TestDecompressionBomb(t *testing.T) {
	opts := CompressionOptions{Mode: CompressionNoContextTakeover, Threshold: -1}
	client, server := pair(t,
		&AcceptOptions{ConnOptions: ConnOptions{Compression: opts, ReadLimit: 64 << 10}},
		&DialOptions{ConnOptions: ConnOptions{Compression: opts}})
	ctx := testCtx(t)
	// 8 MiB of zeros deflates to about 8 KiB.
	go client.Write(ctx, MessageBinary, make([]byte, 8<<20))
	_, _, err := server.Read(ctx)
	var perr *ProtocolError
	if !errors.As(err, &perr) || perr.Code != StatusMessageTooBig {
		t.Fatalf("got %v", err)
	}
	if n := server.rd.dec.InflatedSize(); n > 64<<10+1 {
		t.Fatalf("inflated %d bytes past a limit of %d", n, 64<<10)
	}
	_, _, err = client.Read(ctx)
	if CloseStatus(err) != StatusMessageTooBig {
		t.Fatalf("client saw %v", err)
	}
}

func TestCompressionThreshold(t *testing.T) {
	opts := CompressionOptions{Mode: CompressionNoContextTakeover, Threshold: 1000}
	p, _ := rawClientExt(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: opts}}, "permessage-deflate")
	p.nc.Write(frame(true, 0, opText, true, []byte("short")))
	h, payload, err := p.readFrame()
	if err != nil || h.Rsv != 0 || string(payload) != "short" {
		t.Fatalf("short message: %+v %q %v", h, payload, err)
	}
	long := bytes.Repeat([]byte("x"), 2000)
	p.nc.Write(frame(true, 0, opText, true, long))
	h, payload, err = p.readFrame()
	if err != nil || h.Rsv != bitRsv1 || len(payload) >= 2000 {
		t.Fatalf("long message: %+v %d bytes %v", h, len(payload), err)
	}
}

func TestPreparedMessage(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		ctx := testCtx(t)
		msg := compressible(3000, 7)
		pm, err := NewPreparedMessage(MessageText, msg)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			client, server := pair(t, aopts, dopts)
			// Both directions, twice each, to reuse the cached encodings.
			for _, dir := range [][2]*Conn{{server, client}, {client, server}, {server, client}} {
				if err := dir[0].WritePrepared(ctx, pm); err != nil {
					t.Fatal(err)
				}
				typ, got, err := dir[1].Read(ctx)
				if err != nil || typ != MessageText || !bytes.Equal(got, msg) {
					t.Fatalf("%v %v equal=%v", typ, err, bytes.Equal(got, msg))
				}
			}
			// A regular message after a prepared one still decodes, with
			// context takeover in force.
			if err := server.Write(ctx, MessageText, msg); err != nil {
				t.Fatal(err)
			}
			if _, got, err := client.Read(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("after prepared: %v", err)
			}
		}
	})
}

// TestCompressedAllocs checks that compressed messages cost no allocation
// in steady state, with context takeover in both directions: the pooled
// compressor and inflater, and the histories, are reused.
func TestCompressedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ctx := context.Background()
	for _, bits := range []int{9, 15} {
		for _, size := range []int{1 << 10, 16 << 10, 1 << 20} {
			msg := compressible(size, uint64(size))
			// A message compressed without history is valid under takeover
			// too, so the peer can send the same frame forever.
			var z deflate
			z.sendWindowBits = int8(bits)
			var body []byte
			z.appendCompressed(&body, msg)
			f := frame(true, bitRsv1, opText, true, body)
			dp := &deflateParams{serverMaxWindowBits: bits, clientMaxWindowBits: bits}
			opts := &ConnOptions{ReadLimit: 2 << 20}
			opts.Compression = CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}
			c := newConn(&wstest.LoopConn{Data: f}, false, opts, "", nil, dp)
			buf := make([]byte, 0, 2*size) // room for the inflater's last read, which finds the end
			for range 3 {
				c.Write(ctx, MessageText, msg)
				_, buf, _ = c.ReadAppend(ctx, buf[:0])
			}
			if !bytes.Equal(buf, msg) {
				t.Fatalf("read %d bytes back, want %d", len(buf), len(msg))
			}
			if n := testing.AllocsPerRun(10, func() {
				if err := c.Write(ctx, MessageText, msg); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%d bits, %d bytes: Write: %v allocations", bits, size, n)
			}
			n := testing.AllocsPerRun(10, func() {
				if _, buf, _ = c.ReadAppend(ctx, buf[:0]); len(buf) != size {
					t.Fatalf("read %d bytes", len(buf))
				}
			})
			// Larger messages cost allocations outside this path:
			// compress/flate's decoder allocates a table for each code
			// longer than 9 bits in every dynamic block, and a message
			// longer than the read buffer is collected in storage that
			// grows (reader.collect).
			if size <= 1<<10 && n != 0 {
				t.Errorf("%d bits, %d bytes: ReadAppend: %v allocations", bits, size, n)
			}
			c.CloseNow()
		}
	}
}

// TestWindowBitsMatches checks that the messages we send find matches in
// every window size, including back into the history under takeover, and
// that the peer (compress/flate, with the same window of history) decodes
// them. The distances themselves are checked against the window by
// internal/deflate's tests.
func TestWindowBitsMatches(t *testing.T) {
	for bits := 8; bits <= 15; bits++ {
		d := newDeflate(deflateParams{serverMaxWindowBits: bits, clientMaxWindowBits: bits}, false,
			&CompressionOptions{Mode: CompressionContextTakeover})
		var dict []byte
		for i, msg := range [][]byte{
			compressible(4<<bits, 1),        // longer than the window: matches within it
			compressible(1<<(bits-1), 2),    // a new message
			compressible(1<<(bits-1), 2),    // the same again: all of it in the history
			bytes.Repeat([]byte{'a'}, 5000), // long runs
		} {
			var body []byte
			if err := d.appendCompressed(&body, msg); err != nil {
				t.Fatal(err)
			}
			src := append(body, inflateTrailer...)
			got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(src), dict))
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%d bits, message %d: %v, equal=%v", bits, i, err, bytes.Equal(got, msg))
			}
			// Huffman coding alone gets about 0.6 on this text; matches do
			// much better.
			limit := 0.45
			if i == 2 {
				limit = 0.1 // the whole message is in the history
			}
			if r := float64(len(body)) / float64(len(msg)); r > limit {
				t.Errorf("%d bits, message %d: ratio %.3f, want at most %.2f", bits, i, r, limit)
			}
			dict = append(dict, msg...)
			dict = dict[max(0, len(dict)-1<<bits):]
		}
	}
}

// TestCompressorsSharedByStreams lends two compressors at random to the
// messages of three connections under context takeover, whole and
// streamed, so that a compressor sometimes continues the stream it ended
// and sometimes serves another. Some messages fail and are abandoned: the
// peer never sees them, and nothing after may refer to them. Each
// connection's messages are decoded by compress/flate with its history.
func TestCompressorsSharedByStreams(t *testing.T) {
	type stream struct {
		d    *deflate
		dict []byte
	}
	var streams []*stream
	for _, bits := range []int{9, 12, 15} {
		d := newDeflate(deflateParams{serverMaxWindowBits: bits, clientMaxWindowBits: bits}, false,
			&CompressionOptions{Mode: CompressionContextTakeover})
		streams = append(streams, &stream{d: d})
	}
	lent := []*compressor{{z: lz.NewCompressor()}, {z: lz.NewCompressor()}}
	rng := rand.New(rand.NewPCG(7, 7))
	continued := 0
	for i := range 300 {
		s := streams[rng.IntN(len(streams))]
		c := lent[rng.IntN(len(lent))]
		msg := compressible(rng.IntN(3000), uint64(i))
		if s.d.sendToken != 0 && c.token == s.d.sendToken {
			continued++
		}
		var body bytes.Buffer
		s.d.start(c, -1, &body)
		if i%3 == 0 {
			body.Write(c.z.Append(nil, msg))
			s.d.sendHist.Append(msg)
		} else {
			c.Write(msg)
			c.Flush()
		}
		c.done()
		if i%10 == 9 {
			s.d.abandonSend()
			continue
		}
		src := append(body.Bytes()[:body.Len()-len(deflateTail)], inflateTrailer...)
		got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(src), s.dict))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bits): %v, equal=%v", i, s.d.sendWindowBits, err, bytes.Equal(got, msg))
		}
		s.dict = append(s.dict, msg...)
		s.dict = s.dict[max(0, len(s.dict)-1<<s.d.sendWindowBits):]
	}
	if continued < 30 {
		t.Fatalf("only %d of 300 messages continued a stream in place", continued)
	}
}

// TestIdleCompressedMemory checks what a connection keeps between
// messages under context takeover in both directions: its two histories,
// each no larger than its window, and the deflate state holding them. It
// runs with each side limiting the peer (MaxWindowBits on both), and with
// the server choosing both windows (MaxWindowBits and SendWindowBits on
// the server, nothing on the client). The README's table "Compression
// memory and ratio" quotes the bytes it logs.
func TestIdleCompressedMemory(t *testing.T) {
	for _, tc := range []struct {
		name         string
		bits         int
		sopts, copts CompressionOptions
	}{
		{name: "both-limit-8", bits: 8},
		{name: "both-limit-10", bits: 10},
		{name: "both-limit-15", bits: 15},
		{name: "server-chooses-8", bits: 8},
		{name: "server-chooses-9", bits: 9},
		{name: "server-chooses-10", bits: 10},
		{name: "server-chooses-12", bits: 12},
		{name: "server-chooses-15", bits: 15},
	} {
		bits := tc.bits
		takeover := CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}
		sopts, copts := takeover, takeover
		if strings.HasPrefix(tc.name, "both-limit") {
			sopts.MaxWindowBits, copts.MaxWindowBits = bits, bits
		} else {
			sopts.MaxWindowBits, sopts.SendWindowBits = bits, bits
		}
		client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: sopts}},
			&DialOptions{ConnOptions: ConnOptions{Compression: copts}})
		ctx := testCtx(t)
		msg := compressible(100<<10, 3)
		for _, dir := range [][2]*Conn{{client, server}, {server, client}} {
			if err := dir[0].Write(ctx, MessageText, msg); err != nil {
				t.Fatal(err)
			}
			if _, got, err := dir[1].Read(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%d bits: %v", bits, err)
			}
		}
		for _, c := range []*Conn{client, server} {
			d := c.deflate
			if !d.sendTakeover || !d.recvTakeover {
				t.Fatalf("%d bits: takeover not negotiated both ways", bits)
			}
			// A window limit of 8 is announced as 9, which the peer
			// then uses: only a server that chose 8 for itself uses 8.
			sendBits := max(bits, 9)
			if c == server && strings.HasPrefix(tc.name, "server-chooses") {
				sendBits = bits
			}
			if int(d.sendWindowBits) != sendBits {
				t.Errorf("%s: compresses with %d bits, want %d", tc.name, d.sendWindowBits, sendBits)
			}
			if n := cap(d.sendHist.Bytes()); n != 1<<sendBits {
				t.Errorf("%s: send history holds %d bytes, want %d", tc.name, n, 1<<sendBits)
			}
			if n := cap(d.recvHist.Bytes()); n != 1<<max(bits, 9) {
				t.Errorf("%d bits: receive history holds %d bytes", bits, n)
			}
			if c.rd.inf != nil {
				t.Errorf("%d bits: an inflater is kept between messages", bits)
			}
			if c == server {
				kept := cap(d.sendHist.Bytes()) + cap(d.recvHist.Bytes()) + int(unsafe.Sizeof(*d))
				t.Logf("%s: the server keeps %d bytes for compression (%d-byte state)", tc.name, kept, unsafe.Sizeof(*d))
			}
		}
	}
}

// TestSendWindowBits runs our client against our server with
// SendWindowBits on either side, both or neither, with and without
// MaxWindowBits: each side compresses with the smaller of its
// SendWindowBits and the window the peer allows, its history of sent
// bytes never holds more than that window, and messages of every size,
// some larger than any window, arrive intact both ways.
func TestSendWindowBits(t *testing.T) {
	type side struct{ send, max int }
	clients := []side{{0, 0}, {9, 0}, {12, 0}, {8, 10}, {15, 11}}
	servers := []side{{0, 0}, {8, 0}, {10, 0}, {10, 10}, {12, 9}}
	bitsOf := func(n int) int {
		if n == 0 {
			return 15
		}
		return n
	}
	for _, mode := range []CompressionMode{CompressionContextTakeover, CompressionNoContextTakeover} {
		for _, cs := range clients {
			for _, ss := range servers {
				name := fmt.Sprintf("%v/client-send-%d-max-%d/server-send-%d-max-%d", mode, cs.send, cs.max, ss.send, ss.max)
				t.Run(name, func(t *testing.T) {
					copts := CompressionOptions{Mode: mode, Threshold: -1, SendWindowBits: cs.send, MaxWindowBits: cs.max}
					sopts := CompressionOptions{Mode: mode, Threshold: -1, SendWindowBits: ss.send, MaxWindowBits: ss.max}
					client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: sopts}},
						&DialOptions{ConnOptions: ConnOptions{Compression: copts}})
					if client.deflate == nil || server.deflate == nil {
						t.Fatal("compression not negotiated")
					}
					want := map[*Conn]int{
						client: min(bitsOf(cs.send), bitsOf(ss.max)),
						server: min(bitsOf(ss.send), bitsOf(cs.max)),
					}
					for c, bits := range want {
						if got := c.deflate.sendWindowBits; int(got) != bits {
							t.Fatalf("client=%v compresses with %d bits, want %d", c == client, got, bits)
						}
					}
					ctx := testCtx(t)
					for i, size := range []int{200, 300, 1000, 5000, 40000, 100 << 10, 700} {
						msg := compressible(size, uint64(i))
						for _, dir := range [][2]*Conn{{client, server}, {server, client}} {
							if err := dir[0].Write(ctx, MessageText, msg); err != nil {
								t.Fatal(err)
							}
							if _, got, err := dir[1].Read(ctx); err != nil || !bytes.Equal(got, msg) {
								t.Fatalf("size %d: %v, equal=%v", size, err, bytes.Equal(got, msg))
							}
							d := dir[0].deflate
							if !d.sendTakeover {
								continue
							}
							if n, limit := cap(d.sendHist.Bytes()), 1<<want[dir[0]]; n > limit {
								t.Fatalf("size %d: history of %d bytes for a %d-byte window", size, n, limit)
							}
						}
					}
					if mode == CompressionContextTakeover {
						// 100 KiB went each way: every window is full.
						for c, bits := range want {
							if n := len(c.deflate.sendHist.Bytes()); n != 1<<bits {
								t.Errorf("client=%v: %d bytes of sent history, want %d", c == client, n, 1<<bits)
							}
						}
					}
				})
			}
		}
	}
}

// BenchmarkCompressedMessage writes and reads whole compressed messages
// under context takeover at 15 bits, through a connection in memory: the
// cost of the compression path per message. Writes cycle through 16
// distinct messages; reads replay one message compressed by compress/flate
// without history, valid under takeover too, so the history is still
// loaded and updated.
func BenchmarkCompressedMessage(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{1 << 10, 16 << 10, 1 << 20} {
		name := strconv.Itoa(size>>10) + "KiB"
		msgs := make([][]byte, 16)
		for i := range msgs {
			msgs[i] = compressible(size, uint64(i))
		}
		newConnT := func(data []byte) *Conn {
			dp := &deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}
			opts := &ConnOptions{ReadLimit: 2 << 20}
			opts.Compression = CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}
			return newConn(&wstest.LoopConn{Data: data}, false, opts, "", nil, dp)
		}
		b.Run("Write/"+name, func(b *testing.B) {
			c := newConnT(nil)
			defer c.CloseNow()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for i := 0; b.Loop(); i++ {
				if err := c.Write(ctx, MessageText, msgs[i%len(msgs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Read/"+name, func(b *testing.B) {
			// What a browser sends: zlib, here compress/flate, level 1.
			var z bytes.Buffer
			fw, _ := flate.NewWriter(&z, flate.BestSpeed)
			fw.Write(msgs[0])
			fw.Flush()
			body := z.Bytes()[:z.Len()-len(deflateTail)]
			c := newConnT(frame(true, bitRsv1, opText, true, body))
			defer c.CloseNow()
			buf := make([]byte, 0, 2*size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				var err error
				if _, buf, err = c.ReadAppend(ctx, buf[:0]); err != nil || len(buf) != size {
					b.Fatal(len(buf), err)
				}
			}
		})
	}
}

// TestCorruptCompressedMessage: a compressed message the inflater cannot
// decode fails the connection with 1007 (invalid payload data) and a
// reason that says why, never a panic or a hang.
func TestCorruptCompressedMessage(t *testing.T) {
	var valid bytes.Buffer
	fw, _ := flate.NewWriter(&valid, flate.BestSpeed)
	fw.Write([]byte("hello, hello, hello"))
	fw.Close() // ends with a final block
	tests := []struct {
		name    string
		payload []byte
		reason  string
	}{
		{
			name:    "reserved block type",
			payload: []byte{0x07, 0x00},
			reason:  "invalid compressed data",
		},
		{
			name:    "payload ends inside a block",
			payload: valid.Bytes()[:3],
			reason:  "invalid compressed data",
		},
		{
			name:    "data after the final block",
			payload: append(bytes.Clone(valid.Bytes()), 0x00),
			reason:  "data after the final deflate block",
		},
		{
			name:    "stored block length not matching its complement",
			payload: []byte{0x00, 0x05, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'},
			reason:  "invalid compressed data",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Mode: CompressionNoContextTakeover}}}
			p, errc := rawClientExt(t, opts, "permessage-deflate; client_no_context_takeover")
			p.nc.Write(frame(true, bitRsv1, opText, true, tt.payload))
			p.expectClose(StatusInvalidFramePayloadData)
			err := await(t, errc, "the server's read error")
			if CloseStatus(err) != -1 || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("server's Read: %v; want a failure that says %q", err, tt.reason)
			}
		})
	}
}

// A refused decompression bomb costs about the read limit in storage, not
// a multiple of it: the message's buffer grows no further than the limit
// (growInflated, below), and finding the byte past it takes no buffer of
// its own. The blocking reader and the Poller's loop gather compressed
// messages through the same appendInflated.
func TestDecompressionBombStorage(t *testing.T) {
	const limit = 32 << 20
	for _, tc := range []struct {
		name string
		size int // inflated size of the message sent
		ok   bool
	}{
		{
			name: "bomb",
			size: 40 << 20,
		},
		{
			name: "exactly the limit",
			size: limit,
			ok:   true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var z bytes.Buffer
			fw, _ := flate.NewWriter(&z, flate.BestSpeed)
			fw.Write(make([]byte, tc.size))
			fw.Flush()
			body := z.Bytes()[:z.Len()-len(deflateTail)]
			opts := &ConnOptions{ReadLimit: limit}
			opts.Compression = CompressionOptions{Mode: CompressionNoContextTakeover}
			nc := &onceConn{r: bytes.NewReader(frame(true, bitRsv1, opBinary, true, body))}
			c := newConn(nc, false, opts, "", nil, &deflateParams{})
			defer c.CloseNow()
			_, msg, err := c.Read(context.Background())
			if !tc.ok {
				if !errors.Is(err, ErrMessageTooBig) {
					t.Fatalf("Read: %v, want ErrMessageTooBig", err)
				}
				return
			}
			if err != nil || len(msg) != tc.size {
				t.Fatalf("Read: %d bytes, %v", len(msg), err)
			}
			// Large allocations are rounded up to whole pages.
			if cap(msg) > limit+8192 {
				t.Errorf("a message of the limit's size took a buffer of %d bytes", cap(msg))
			}
		})
	}
}

// growInflated never grows past the most that may come, and what all the
// buffers of one message add up to stays under twice that: growForRead's
// unbounded doubling reached 65 MB for a 32 MiB limit, 3.3 times the
// limit in all.
func TestGrowInflated(t *testing.T) {
	for _, limit := range []int64{1, 511, 512, 4 << 10, 100_000, 1 << 20, 32 << 20, 32<<20 + 7} {
		var dst []byte
		var total int64
		for int64(cap(dst)) < limit {
			dst = growInflated(dst[:cap(dst)], limit-int64(cap(dst)))
			total += int64(cap(dst))
		}
		// Capacities are rounded up to a size class or whole pages.
		if c := int64(cap(dst)); c > limit+limit/8+8192 {
			t.Errorf("limit %d: grew to %d", limit, c)
		}
		if total > 2*limit+2048 {
			t.Errorf("limit %d: allocated %d in all, over twice the limit", limit, total)
		}
	}
	// No limit: plain doubling, no overflow.
	if got := cap(growInflated(make([]byte, 0, 4096), math.MaxInt64)); got < 8192 || got > 16384 {
		t.Errorf("unlimited growth from 4096 gave %d", got)
	}
}
