package websocket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestReadAfterAbandonedReader reads part of a message through Reader and
// then goes on with ReadAppend and Reader: the rest of the first message
// is dropped, and each later call returns the next message whole, whatever
// path (one frame or fragments, compressed or not) the messages took.
// ReadAppend's fast path for a message whole in one frame must not skip
// the dropping.
func TestReadAfterAbandonedReader(t *testing.T) {
	tests := []struct {
		name       string
		compress   bool
		fragmented bool
	}{
		{
			name: "one frame",
		},
		{
			name:       "fragments",
			fragmented: true,
		},
		{
			name:     "one frame, compressed",
			compress: true,
		},
		{
			name:       "fragments, compressed",
			compress:   true,
			fragmented: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A Writer sends a fragment each time its 256-byte buffer
			// fills; messages under the 64-byte threshold go uncompressed,
			// so that one compressed message left in part is followed by
			// one that takes ReadAppend's fast path.
			aopts := &AcceptOptions{ConnOptions: ConnOptions{WriteBufferSize: 256}}
			dopts := &DialOptions{}
			if tt.compress {
				aopts.Compression = CompressionOptions{Mode: CompressionContextTakeover, Threshold: 64}
				dopts.Compression = aopts.Compression
			}
			client, server := pair(t, aopts, dopts)
			ctx := testCtx(t)
			large := 200
			if tt.fragmented {
				large = 3000 // compressed too, it takes several fragments
			}
			words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike")
			rng := rand.New(rand.NewPCG(1, 2))
			msgs := make([][]byte, 4)
			for i := range msgs {
				size := large
				if i%2 == 1 {
					size = 40
				}
				var b []byte
				for len(b) < size {
					b = append(b, words[rng.IntN(len(words))]...)
					b = append(b, ' ')
				}
				msgs[i] = b[:size]
			}
			go func() {
				for _, m := range msgs {
					if err := writeMaybeFragmented(ctx, server, m, tt.fragmented); err != nil {
						t.Errorf("write: %v", err)
						return
					}
				}
			}()

			_, r, err := client.Reader(ctx)
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			if _, err := io.ReadFull(r, make([]byte, 3)); err != nil {
				t.Fatalf("reading the first message's start: %v", err)
			}
			_, got, err := client.ReadAppend(ctx, nil)
			if err != nil || !bytes.Equal(got, msgs[1]) {
				t.Fatalf("ReadAppend after an abandoned Reader: %q, %v; want %q", got, err, msgs[1])
			}
			abandoned := r
			_, r, err = client.Reader(ctx)
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			// The abandoned reader must not reach the message now read.
			if n, err := abandoned.Read(make([]byte, 8)); n != 0 || !errors.Is(err, errReaderStale) {
				t.Fatalf("abandoned reader read %d, %v; want errReaderStale", n, err)
			}
			got, err = io.ReadAll(r)
			if err != nil || !bytes.Equal(got, msgs[2]) {
				t.Fatalf("Reader: %q, %v; want %q", got, err, msgs[2])
			}
			_, got, err = client.ReadAppend(ctx, got[:0])
			if err != nil || !bytes.Equal(got, msgs[3]) {
				t.Fatalf("ReadAppend: %q, %v; want %q", got, err, msgs[3])
			}
			// A reader of a message read to its end stays at its end.
			if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Fatalf("reader of a message read whole, read again: %d, %v; want io.EOF", n, err)
			}
		})
	}
}

// writeMaybeFragmented sends p as a text message, with Write (one frame)
// or through a Writer (a fragment per buffer).
func writeMaybeFragmented(ctx context.Context, c *Conn, p []byte, fragmented bool) error {
	if !fragmented {
		return c.Write(ctx, MessageText, p)
	}
	return writeThroughWriter(ctx, c, MessageText, p)
}

// writeThroughWriter sends p as one message through a Writer, with one
// Write and Close.
func writeThroughWriter(ctx context.Context, c *Conn, typ MessageType, p []byte) error {
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	if _, err := w.Write(p); err != nil {
		return err
	}
	return w.Close()
}

// TestReaderCutByClose: a Reader between two reads of its message while
// Close reads on to the peer's close frame. Close discards the rest of the
// message, as nobody is reading, and the Reader must then report that,
// rather than io.EOF, which would make the part it read pass for the whole
// message.
func TestReaderCutByClose(t *testing.T) {
	pong := make(chan struct{}, 1)
	aopts := &AcceptOptions{ConnOptions: ConnOptions{OnPong: func([]byte) { pong <- struct{}{} }}}
	cc, server := pair(t, aopts, nil)
	peer := &rawPeer{t: t, nc: cc.nc, br: bufio.NewReader(cc.nc)} // the client, by hand
	ctx := testCtx(t)
	if _, err := peer.nc.Write(frame(false, 0, opBinary, true, bytes.Repeat([]byte("A"), 100))); err != nil {
		t.Fatal(err)
	}
	_, r, err := server.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- server.Close(StatusNormalClosure, "") }()
	if h, _, err := peer.readFrame(); err != nil || h.Op != opClose {
		t.Fatalf("want the close frame: %v %v", h.Op, err)
	}
	// The rest of the message, then a pong: once OnPong ran, Close's read
	// has consumed the continuation.
	peer.nc.Write(frame(true, 0, opContinuation, true, []byte("BBBB")))
	peer.nc.Write(frame(true, 0, opPong, true, nil))
	await(t, pong, "the pong")
	// The Reader reads again; Close, still reading, lets it have the
	// connection once the next message starts.
	type result struct {
		rest []byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		rest, err := io.ReadAll(r)
		res <- result{rest, err}
	}()
	for !server.readMu.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	peer.nc.Write(frame(true, 0, opBinary, true, []byte("next")))
	peer.nc.Write(frame(true, 0, opClose, true, closePayload(StatusNormalClosure, "")))
	if got := <-res; !errors.Is(got.err, ErrClosed) {
		t.Errorf("Reader after Close discarded the rest of its message: %q, %v; want an error wrapping ErrClosed", got.rest, got.err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestCloseAfterReadAppendCutOff: a ReadAppend whose ctx ended in the
// middle of a message keeps what it read for the next ReadAppend. A Close
// with nothing reading must read on by itself, dropping that message, and
// finish as soon as the peer answers; it used to leave the message for a
// reader that never came and wait out CloseTimeout.
func TestCloseAfterReadAppendCutOff(t *testing.T) {
	cc, server := pair(t, &AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: 3 * time.Second}}, nil)
	peer := &rawPeer{t: t, nc: cc.nc, br: bufio.NewReader(cc.nc)}
	peer.nc.Write(frame(false, 0, opBinary, true, []byte("part")))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, _, err := server.ReadAppend(ctx, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadAppend: %v, want its ctx's deadline", err)
	}
	go func() { // the peer finishes the message and answers the close at once
		peer.nc.Write(frame(true, 0, opContinuation, true, []byte("rest")))
		for {
			h, _, err := peer.readFrame()
			if err != nil {
				return
			}
			if h.Op == opClose {
				peer.nc.Write(frame(true, 0, opClose, true, closePayload(StatusNormalClosure, "")))
				return
			}
		}
	}()
	start := time.Now()
	if err := server.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
}

// readAllSmall reads r to its end through a buffer of n bytes, so that a
// message takes many calls.
func readAllSmall(r io.Reader, n int) ([]byte, error) {
	var out []byte
	buf := make([]byte, n)
	for {
		k, err := r.Read(buf)
		out = append(out, buf[:k]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// TestReaderAfterReadCutOff: a ReadAppend whose ctx ends in the middle of
// a message keeps what arrived, and a Reader that follows returns the
// whole message, the kept part first, read in pieces smaller and larger
// than it. The Reader used to drop the message, so a read loop that
// switched APIs lost a message without a word.
func TestReaderAfterReadCutOff(t *testing.T) {
	for _, bufSize := range []int{
		0, // the Reader is abandoned after a few bytes of what was kept
		7,
		4096,
		1 << 20,
	} {
		t.Run(strconv.Itoa(bufSize), func(t *testing.T) {
			client, server := pair(t, nil, nil)
			ctx := testCtx(t)
			part := bytes.Repeat([]byte("0123456789"), 3000)
			rest := bytes.Repeat([]byte("abcdefghij"), 2000)
			if _, err := client.nc.Write(frame(false, 0, opBinary, true, part)); err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, _, err := server.ReadAppend(short, nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read of half a message: %v", err)
			}
			msg := append(frame(true, 0, opContinuation, true, rest), frame(true, 0, opText, true, []byte("next"))...)
			if _, err := client.nc.Write(msg); err != nil {
				t.Fatal(err)
			}
			typ, r, err := server.Reader(ctx)
			if err != nil || typ != MessageBinary {
				t.Fatalf("Reader: %v %v", typ, err)
			}
			if bufSize == 0 {
				head := make([]byte, 5)
				if n, err := r.Read(head); err != nil || !bytes.Equal(head[:n], part[:n]) {
					t.Fatalf("Reader: %q %v; want the start of the kept part", head[:n], err)
				}
			} else {
				got, err := readAllSmall(r, bufSize)
				if err != nil || !bytes.Equal(got, append(part, rest...)) {
					t.Fatalf("Reader returned %d bytes, %v; want the whole message, %d bytes", len(got), err, len(part)+len(rest))
				}
			}
			if typ, got, err := server.Read(ctx); err != nil || typ != MessageText || string(got) != "next" {
				t.Fatalf("next message: %v %q %v", typ, got, err)
			}
		})
	}
}

// TestReaderReplayZeroLengthRead: a zero-length Read (io.Reader allows
// one) on a Reader still returning what a cut ReadAppend kept returns 0
// and nil. It used to read on, and where the rest of the message was an
// empty final frame, end the message and lose the kept part.
func TestReaderReplayZeroLengthRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := newConn(a, false, nil, "", nil, nil)
		defer c.CloseNow()
		go b.Write(frame(false, 0, opBinary, true, []byte("kept")))
		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, _, err := c.ReadAppend(short, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ReadAppend: %v, want its ctx's deadline", err)
		}
		go b.Write(frame(true, 0, opContinuation, true, nil))
		_, r, err := c.Reader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n, err := r.Read(nil); n != 0 || err != nil {
			t.Fatalf("Read(nil): %d, %v; want 0, nil", n, err)
		}
		if got, err := io.ReadAll(r); err != nil || string(got) != "kept" {
			t.Errorf("Reader: %q, %v; want \"kept\"", got, err)
		}
	})
}

// TestReaderHandedToAnotherGoroutine: a message's reader read on another
// goroutine while the next Reader call starts. Each call races for the
// read lock, so either may get ErrConcurrentRead, but the old reader never
// returns a byte of the next message and the race detector stays quiet
// (the reader's ctx was once a field every Reader call rewrote).
func TestReaderHandedToAnotherGoroutine(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	const rounds = 50
	go func() {
		for i := range rounds {
			if err := server.Write(ctx, MessageText, []byte(fmt.Sprintf("first %d", i))); err != nil {
				return
			}
			if err := server.Write(ctx, MessageText, []byte(fmt.Sprintf("second %d", i))); err != nil {
				return
			}
		}
	}()
	for i := 0; i < rounds; i++ {
		_, r1, err := client.Reader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got1 := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(r1)
			got1 <- b
		}()
		var r2 io.Reader
		for r2 == nil {
			_, r2, err = client.Reader(ctx)
			if err != nil && !errors.Is(err, ErrConcurrentRead) {
				t.Fatal(err)
			}
		}
		b1 := <-got1
		if want := fmt.Sprintf("first %d", i); !strings.HasPrefix(want, string(b1)) {
			t.Fatalf("round %d: the first message's reader returned %q", i, b1)
		}
		b2, err := io.ReadAll(r2)
		if want := fmt.Sprintf("second %d", i); err != nil || string(b2) != want {
			t.Fatalf("round %d: second reader: %q, %v; want %q", i, b2, err, want)
		}
	}
}

// TestRetiredReaderAfterLastByte: a Reader whose every byte was returned,
// all but the io.EOF, says io.EOF once the next Read or Reader took the
// connection on, as Reader's godoc says of a message read to its end;
// one with bytes left says they were discarded. The first used to say
// the rest was discarded too, of a message with nothing left, and still
// did when the rest was an empty final frame not read yet.
func TestRetiredReaderAfterLastByte(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames [][]byte // the first message
		read   int      // of its 4 bytes, before the next Reader
		want   error
	}{
		{
			name:   "one-frame",
			frames: [][]byte{frame(true, 0, opText, true, []byte("abcd"))},
			read:   4,
			want:   io.EOF,
		},
		{
			name: "fragments",
			frames: [][]byte{
				frame(false, 0, opText, true, []byte("ab")),
				frame(true, 0, opContinuation, true, []byte("cd")),
			},
			read: 4,
			want: io.EOF,
		},
		{
			// The empty final frame, as our Writer's Close sends it
			// after a full buffer: nothing is discarded.
			name: "fragments-empty-last-unread",
			frames: [][]byte{
				frame(false, 0, opText, true, []byte("abcd")),
				frame(true, 0, opContinuation, true, nil),
			},
			read: 4,
			want: io.EOF,
		},
		{
			name: "fragments-bytes-in-last",
			frames: [][]byte{
				frame(false, 0, opText, true, []byte("abcd")),
				frame(true, 0, opContinuation, true, []byte("e")),
			},
			read: 4,
			want: errReaderStale,
		},
		{
			name: "fragments-empty-then-bytes",
			frames: [][]byte{
				frame(false, 0, opText, true, []byte("abcd")),
				frame(false, 0, opContinuation, true, nil),
				frame(true, 0, opContinuation, true, []byte("e")),
			},
			read: 4,
			want: errReaderStale,
		},
		{
			name:   "bytes-left",
			frames: [][]byte{frame(true, 0, opText, true, []byte("abcd"))},
			read:   3,
			want:   errReaderStale,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := net.Pipe()
				defer b.Close()
				c := newConn(a, false, nil, "", nil, nil)
				defer c.CloseNow()
				go func() {
					for _, f := range tc.frames {
						b.Write(f)
					}
					b.Write(frame(true, 0, opText, true, []byte("next")))
				}()
				ctx := context.Background()
				_, r1, err := c.Reader(ctx)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, tc.read)
				if _, err := io.ReadFull(r1, buf); err != nil || string(buf) != "abcd"[:tc.read] {
					t.Fatalf("%q %v", buf, err)
				}
				if _, r2, err := c.Reader(ctx); err != nil {
					t.Fatal(err)
				} else if got, err := io.ReadAll(r2); err != nil || string(got) != "next" {
					t.Fatalf("the next message: %q %v", got, err)
				}
				if n, err := r1.Read(make([]byte, 4)); n != 0 || !errors.Is(err, tc.want) {
					t.Errorf("the retired reader: %d, %v; want %v", n, err, tc.want)
				}
			})
		})
	}
}
