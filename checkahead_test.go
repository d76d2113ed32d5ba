package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"testing"
	"time"
)

// compressedFragments compresses parts as one permessage-deflate message,
// each part flushed into a payload of its own (the last without the sync
// flush tail), as a peer sends a message in fragments.
func compressedFragments(t testing.TB, parts ...[]byte) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, p := range parts {
		buf.Reset()
		w.Write(p)
		w.Flush()
		out = append(out, bytes.Clone(buf.Bytes()))
	}
	last := out[len(out)-1]
	out[len(out)-1] = last[:len(last)-len(deflateTail)]
	return out
}

// fragmentFrames returns payloads as the masked frames of one compressed
// text message: RSV1 on the first, FIN on the last.
func fragmentFrames(payloads [][]byte) [][]byte {
	var frames [][]byte
	for i, p := range payloads {
		op, rsv := opcode(opContinuation), byte(0)
		if i == 0 {
			op, rsv = opText, bitRsv1
		}
		frames = append(frames, frame(i == len(payloads)-1, rsv, op, true, p))
	}
	return frames
}

// A compressed text message with invalid UTF-8 fails with 1007 while it
// still arrives, in both I/O models: the peer stops sending before the
// message's end, and the close must come anyway.
func TestCompressedInvalidUTF8FailsEarly(t *testing.T) {
	valid := bytes.Repeat([]byte(`{"text":"héllo"} `), 200) // 3.6 KB
	invalid := []byte("ab\xff\xfecd")
	partOfFrame := func(t *testing.T) [][]byte {
		// One frame declaring the whole payload, of which only the part
		// holding the invalid bytes is sent.
		p := compressedFragments(t, invalid, bytes.Repeat(valid, 20))
		f := frame(true, bitRsv1, opText, true, append(p[0], p[1]...))
		return [][]byte{f[:len(f)-len(p[1])+10]}
	}
	for _, tc := range []struct {
		name   string
		frames func(t *testing.T) [][]byte
	}{
		{
			name: "first fragment",
			frames: func(t *testing.T) [][]byte {
				return fragmentFrames(compressedFragments(t, invalid, valid))[:1]
			},
		},
		{
			name:   "part of a frame",
			frames: partOfFrame,
		},
		{
			name: "after valid fragments",
			frames: func(t *testing.T) [][]byte {
				// The check runs each time the gathered payload doubles:
				// the fragments after the invalid one carry it past that.
				parts := [][]byte{valid, invalid}
				for range 8 {
					parts = append(parts, valid)
				}
				f := fragmentFrames(compressedFragments(t, append(parts, []byte("end"))...))
				return f[:len(f)-1]
			},
		},
		{
			name: "bomb in the first fragment",
			frames: func(t *testing.T) [][]byte {
				return fragmentFrames(compressedFragments(t, make([]byte, 2<<20), valid))[:1]
			},
		},
	} {
		for _, mode := range []string{"goroutine", "poller"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				want := StatusInvalidFramePayloadData
				if tc.name == "bomb in the first fragment" {
					want = StatusMessageTooBig
				}
				aopts := &AcceptOptions{ConnOptions: ConnOptions{
					ReadLimit:   1 << 20,
					Compression: CompressionOptions{Mode: CompressionContextTakeover},
				}}
				dopts := &DialOptions{ConnOptions: ConnOptions{
					Compression: CompressionOptions{Mode: CompressionContextTakeover},
				}}
				var c *Conn
				serverErr := make(chan error, 1)
				if mode == "poller" {
					srv := newPollerServer(t, "tcp", aopts, nil)
					c = srv.dial(t, dopts)
					defer func() { serverErr <- srv.nextClosed(t).err }()
				} else {
					var sc *Conn
					c, sc = pair(t, aopts, dopts)
					go func() {
						_, _, err := sc.Read(context.Background())
						serverErr <- err
					}()
				}
				for _, f := range tc.frames(t) {
					if _, err := c.nc.Write(f); err != nil {
						t.Fatal(err)
					}
				}
				// The peer sends nothing more: without the check ahead the
				// server waits for the rest of the message for good.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, _, err := c.Read(ctx)
				if got := CloseStatus(err); got != want {
					t.Fatalf("client Read: %v (code %d), want a close with %d", err, got, want)
				}
				if mode == "goroutine" {
					var perr *ProtocolError
					if err := <-serverErr; !errors.As(err, &perr) || perr.Code != want {
						t.Fatalf("server Read: %v, want a protocol error with %d", err, want)
					}
				}
			})
		}
	}
}

// A valid compressed text message in many small fragments, and one whose
// frames arrive a few bytes at a time, reads whole: the checks ahead find
// nothing wrong in any prefix of it.
func TestCompressedTextInPiecesReads(t *testing.T) {
	var parts [][]byte
	for i := range 40 {
		parts = append(parts, bytes.Repeat([]byte{'a' + byte(i%26), 0xc3, 0xa9}, 97+i)) // 'é' split nowhere invalid
	}
	want := bytes.Join(parts, nil)
	for _, mode := range []string{"goroutine", "poller"} {
		t.Run(mode, func(t *testing.T) {
			copts := CompressionOptions{Mode: CompressionContextTakeover}
			aopts := &AcceptOptions{ConnOptions: ConnOptions{Compression: copts}}
			dopts := &DialOptions{ConnOptions: ConnOptions{Compression: copts}}
			var c *Conn
			got := make(chan []byte, 1)
			if mode == "poller" {
				srv := newPollerServer(t, "tcp", aopts, nil)
				c = srv.dial(t, dopts)
			} else {
				var sc *Conn
				c, sc = pair(t, aopts, dopts)
				go func() {
					ctx := testCtx(t)
					_, msg, err := sc.Read(ctx)
					if err == nil {
						err = sc.Write(ctx, MessageText, msg)
					}
					if err != nil {
						t.Errorf("server: %v", err)
					}
				}()
			}
			go func() {
				_, msg, _ := c.Read(testCtx(t))
				got <- msg
			}()
			var stream []byte
			for _, f := range fragmentFrames(compressedFragments(t, parts...)) {
				stream = append(stream, f...)
			}
			for len(stream) > 0 {
				n := min(len(stream), 7)
				if _, err := c.nc.Write(stream[:n]); err != nil {
					t.Fatal(err)
				}
				stream = stream[n:]
			}
			if msg := <-got; !bytes.Equal(msg, want) {
				t.Fatalf("echo: %d bytes, want %d", len(msg), len(want))
			}
		})
	}
}
