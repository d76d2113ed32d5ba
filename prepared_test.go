package websocket

import (
	"bytes"
	"testing"
)

// roles runs f with the server sending and the client receiving, then the
// other way round.
func roles(t *testing.T, client, server *Conn, f func(t *testing.T, from, to *Conn)) {
	t.Run("server", func(t *testing.T) { f(t, server, client) })
	t.Run("client", func(t *testing.T) { f(t, client, server) })
}

// TestWritePreparedKeepsCompressionContext: under send-side context
// takeover a prepared message sits in the peer's inflate window like any
// other compressed message, so the message after it must be compressed
// against the same history. Write(A), WritePrepared(P), Write(A) used to
// deliver a garbled third message without any error.
func TestWritePreparedKeepsCompressionContext(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			// Large enough to compress, and A repeats, so the third message
			// back-references the first.
			a := compressible(4000, 1)
			p := compressible(4000, 2)
			pm, err := NewPreparedMessage(MessageText, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := from.Write(ctx, MessageText, a); err != nil {
				t.Fatal(err)
			}
			if err := from.WritePrepared(ctx, pm); err != nil {
				t.Fatal(err)
			}
			if err := from.Write(ctx, MessageText, a); err != nil {
				t.Fatal(err)
			}
			for i, want := range [][]byte{a, p, a} {
				typ, got, err := to.Read(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if typ != MessageText || !bytes.Equal(got, want) {
					t.Fatalf("message %d: type %v, %d bytes, equal=%v", i, typ, len(got), bytes.Equal(got, want))
				}
			}
			// Without send-side takeover the encoded frame is shared.
			if from == server && (server.deflate == nil || !server.deflate.sendTakeover) {
				pm.mu.Lock()
				n := len(pm.frames)
				pm.mu.Unlock()
				if n != 1 {
					t.Fatalf("%d cached server frames, want 1", n)
				}
			}
		})
	})
}

// TestNewPreparedMessageCopies: the caller may reuse its buffer (a Poller's
// OnMessage does) as soon as NewPreparedMessage returns.
func TestNewPreparedMessageCopies(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			src := compressible(3000, 3)
			want := bytes.Clone(src)
			pm, err := NewPreparedMessage(MessageText, src)
			if err != nil {
				t.Fatal(err)
			}
			for i := range src {
				src[i] = 'x'
			}
			if err := from.WritePrepared(ctx, pm); err != nil {
				t.Fatal(err)
			}
			if _, got, err := to.Read(ctx); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, equal=%v, err %v", len(got), bytes.Equal(got, want), err)
			}
		})
	})
}
