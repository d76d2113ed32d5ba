package websocket

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
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
			_, r, err = client.Reader(ctx)
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			got, err = io.ReadAll(r)
			if err != nil || !bytes.Equal(got, msgs[2]) {
				t.Fatalf("Reader: %q, %v; want %q", got, err, msgs[2])
			}
			_, got, err = client.ReadAppend(ctx, got[:0])
			if err != nil || !bytes.Equal(got, msgs[3]) {
				t.Fatalf("ReadAppend: %q, %v; want %q", got, err, msgs[3])
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
	w, err := c.Writer(ctx, MessageText)
	if err != nil {
		return err
	}
	if _, err := w.Write(p); err != nil {
		return err
	}
	return w.Close()
}
