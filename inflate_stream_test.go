package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	lz "github.com/fullduplex/websocket/internal/deflate"
)

// A Poller inflates compressed messages that arrive in pieces as the
// pieces come: fragments of every size, frames cut anywhere by the
// writes, pings between fragments, under context takeover with messages
// that arrived whole in between, so that every message's dictionary is
// the output of earlier ones, inflated either way. Every echo must be the
// message sent.
func TestPollerInflatesPiecesUnderTakeover(t *testing.T) {
	copts := CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}
	srv := newPollerServer(t, "tcp", &AcceptOptions{ConnOptions: ConnOptions{Compression: copts}}, nil)
	c := srv.dial(t, &DialOptions{ConnOptions: ConnOptions{Compression: copts}})
	if d := c.deflate; d == nil || !d.recvTakeover || !d.sendTakeover {
		t.Fatal("context takeover not negotiated both ways")
	}

	rng := rand.New(rand.NewPCG(7, 7))
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed) // the client's context, message to message
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		msg := pieceMessage(rng, i)
		var payloads [][]byte
		nfrag := 1 + rng.IntN(6)
		if i%4 == 0 {
			nfrag = 1 // whole, and written at once below: inflated in one go
		}
		for k := range nfrag {
			buf.Reset()
			w.Write(msg[len(msg)*k/nfrag : len(msg)*(k+1)/nfrag])
			w.Flush()
			payloads = append(payloads, bytes.Clone(buf.Bytes()))
		}
		last := payloads[len(payloads)-1]
		payloads[len(payloads)-1] = bytes.TrimSuffix(last, deflateTail)

		var stream []byte
		for k, f := range fragmentFrames(payloads) {
			if k > 0 && rng.IntN(3) == 0 {
				stream = append(stream, frame(true, 0, opPing, true, []byte("between"))...)
			}
			stream = append(stream, f...)
		}
		writeInPieces(t, c, stream, rng, i%4 == 0)
		_, got, err := c.Read(testCtx(t))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d: echo of %d bytes differs from the %d sent", i, len(got), len(msg))
		}
	}
}

// pieceMessage returns the i-th message of the test: text that repeats
// within itself and across messages, of sizes from bytes to 200 KiB, with
// multi-byte UTF-8 that the pieces cut anywhere.
func pieceMessage(rng *rand.Rand, i int) []byte {
	words := []string{"héllo", "wörld", "ünïcode ✓", "room", "lobby", `{"id":`, "42}", "\n"}
	n := []int{10, 1000, 40 << 10, 200 << 10}[i%4] + rng.IntN(100)
	var b []byte
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
		if rng.IntN(50) == 0 {
			b = append(b, byte('a'+rng.IntN(26)))
		}
	}
	return b
}

// writeInPieces writes stream to c's socket in writes of random sizes, or
// at once.
func writeInPieces(t *testing.T, c *Conn, stream []byte, rng *rand.Rand, atOnce bool) {
	t.Helper()
	for len(stream) > 0 {
		n := len(stream)
		if !atOnce {
			n = min(n, 1+rng.IntN(3000))
		}
		if _, err := c.nc.Write(stream[:n]); err != nil {
			t.Fatal(err)
		}
		stream = stream[n:]
	}
}

// A peer that sends a compressed message a byte at a time makes the
// inflater run out of input inside each block header. The header is
// decoded again only once the bytes kept since have doubled, not at every
// byte, and the message still inflates whole.
func TestInflaterWaitsForLongRest(t *testing.T) {
	// Many small dynamic blocks of skewed bytes over the whole byte range,
	// each repeated: long headers, a good part of each block.
	rng := rand.New(rand.NewPCG(3, 3))
	var msg []byte
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	for range 30 {
		block := make([]byte, 1000)
		for i := range block {
			block[i] = byte(rng.IntN(1 + rng.IntN(256)))
		}
		block = bytes.Repeat(block, 2) // compressible: not stored
		msg = append(msg, block...)
		w.Write(block)
		w.Flush()
	}
	payload := bytes.TrimSuffix(buf.Bytes(), deflateTail)

	inf := (&deflate{}).startStream(nil)
	defer (&deflate{}).endInflate(inf)
	inf.pushed = true
	var out []byte
	p := make([]byte, 64<<10)
	fed, most := 0, 0 // bytes handed to the decoder, the rests again included
	for i := range payload {
		inf.left = payload[i : i+1]
		for {
			before := inf.restN
			inf.give(i < len(payload)-1)
			if !inf.kept {
				fed += before + 1
				most = max(most, before)
			}
			n, err := inf.z.Read(p)
			out = append(out, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != lz.ErrNeedInput {
				t.Fatalf("byte %d: %v", i, err)
			}
			if err := inf.keepRest(); err != nil {
				t.Fatal(err)
			}
			if len(inf.left) == 0 {
				break
			}
		}
	}
	if !bytes.Equal(out, msg) {
		t.Fatalf("inflated %d bytes, want the %d sent", len(out), len(msg))
	}
	if limit := 3 * len(payload); fed > limit {
		t.Errorf("%d bytes decoded for a payload of %d fed a byte at a time, want at most %d", fed, len(payload), limit)
	}
	t.Logf("%d bytes decoded for a payload of %d; longest rest %d", fed, len(payload), most)
}

// takeoverFrames compresses msgs as one stream under context takeover,
// each message in the given number of fragments, and returns each
// message's masked frames.
func takeoverFrames(t *testing.T, fragments int, msgs ...[]byte) [][][]byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	var out [][][]byte
	for _, m := range msgs {
		var payloads [][]byte
		for i := range fragments {
			buf.Reset()
			w.Write(m[i*len(m)/fragments : (i+1)*len(m)/fragments])
			w.Flush()
			payloads = append(payloads, bytes.Clone(buf.Bytes()))
		}
		last := payloads[len(payloads)-1]
		payloads[len(payloads)-1] = last[:len(last)-len(deflateTail)]
		out = append(out, fragmentFrames(payloads))
	}
	return out
}

// TestCompressedReadInterrupted: a ReadAppend whose ctx ends in the middle
// of a compressed message keeps what it inflated in place. The next Read
// or Reader returns the message whole: a Reader returns what was kept,
// then inflates the rest through its ring, whose back-references reach
// what the interrupted read left. Either way the later messages, under
// context takeover, read right.
func TestCompressedReadInterrupted(t *testing.T) {
	msgs := [][]byte{
		compressible(30000, 1),
		compressible(20000, 2),
		compressible(20000, 3),
	}
	msgs[1] = append(msgs[1], msgs[0][5000:15000]...) // back-references into the first
	for _, api := range []string{"Read", "Reader"} {
		t.Run(api, func(t *testing.T) {
			copts := CompressionOptions{Mode: CompressionContextTakeover}
			client, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: copts}},
				&DialOptions{ConnOptions: ConnOptions{Compression: copts}})
			frames := takeoverFrames(t, 2, msgs...)
			ctx := testCtx(t)
			if _, err := client.nc.Write(frames[0][0]); err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if _, _, err := server.Read(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read of half a message: %v", err)
			}
			rest := bytes.Join(append(frames[0][1:], append(frames[1], frames[2]...)...), nil)
			if _, err := client.nc.Write(rest); err != nil {
				t.Fatal(err)
			}
			var (
				got []byte
				err error
			)
			if api == "Read" {
				_, got, err = server.Read(ctx)
			} else {
				var r io.Reader
				if _, r, err = server.Reader(ctx); err == nil {
					got, err = readAllSmall(r, 1000)
				}
			}
			if err != nil || !bytes.Equal(got, msgs[0]) {
				t.Fatalf("resumed message: %d bytes, %v", len(got), err)
			}
			for i, m := range msgs[1:] {
				if _, got, err := server.Read(ctx); err != nil || !bytes.Equal(got, m) {
					t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
				}
			}
		})
	}
}

// TestPollerIdleConnRests: once a Poller's connection has delivered its
// messages, plain, compressed whole and compressed in fragments, and
// nothing more arrives, it holds no read state: no decoder, buffer,
// partial message or inflater.
func TestPollerIdleConnRests(t *testing.T) {
	// A goroutine serving a connection (no loops here) stays in its Read,
	// holding readMu and the read state, until something arrives.
	skipWithoutLoops(t)
	served := make(chan *Conn, 1)
	popts := &PollerOptions{Loops: 1, OnMessage: func(c *Conn, typ MessageType, msg []byte) {
		select {
		case served <- c:
		default:
		}
		if err := c.Write(testCtx(t), typ, msg); err != nil {
			t.Errorf("echo: %v", err)
		}
	}}
	copts := CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}
	srv := newPollerServer(t, "tcp", &AcceptOptions{ConnOptions: ConnOptions{Compression: copts}}, popts)
	client := srv.dial(t, &DialOptions{ConnOptions: ConnOptions{Compression: copts}})
	ctx := testCtx(t)
	big := compressible(200000, 4)
	for i, send := range []func() error{
		func() error { return client.WriteUncompressed(ctx, MessageText, []byte("plain")) },
		func() error { return client.Write(ctx, MessageText, []byte("compressed whole")) },
		func() error {
			w, err := client.Writer(ctx, MessageBinary)
			if err != nil {
				return err
			}
			for p := big; len(p) > 0; p = p[min(len(p), 3000):] {
				w.Write(p[:min(len(p), 3000)])
			}
			return w.Close()
		},
	} {
		if err := send(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := client.Read(ctx); err != nil {
			t.Fatal(err)
		}
		c := await(t, served, "the served Conn")
		served <- c
		// The echo was written from OnMessage, so the loop held readMu
		// then; taking it now waits for the loop to let go.
		if err := c.readMu.lockOrClosed(ctx, c); err != nil {
			t.Fatal(err)
		}
		rested := c.rd.readState == nil
		c.readMu.Unlock()
		if !rested {
			t.Fatalf("message %d: the idle connection still holds its read state", i)
		}
	}
}
