package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// sendOptOut sends, from c: a, b through WriterUncompressed, c through an
// uncompressed prepared message, then b and c again with Write. Under
// context takeover the last two would back-reference the middle ones if
// those had entered the compression history.
func sendOptOut(ctx context.Context, from *Conn, a, b, c []byte) error {
	if err := from.Write(ctx, MessageText, a); err != nil {
		return err
	}
	w, err := from.WriterUncompressed(ctx, MessageBinary)
	if err != nil {
		return err
	}
	for p := b; len(p) > 0; p = p[min(len(p), 1000):] {
		if _, err := w.Write(p[:min(len(p), 1000)]); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	pm, err := NewPreparedMessageUncompressed(MessageText, c)
	if err != nil {
		return err
	}
	if err := from.WritePrepared(ctx, pm); err != nil {
		return err
	}
	for _, p := range [][]byte{b, c} {
		if err := from.Write(ctx, MessageText, p); err != nil {
			return err
		}
	}
	return nil
}

// TestUncompressedOptOutOnTheWire: the opted-out messages leave without
// RSV1 and as their plain bytes, and stay out of the sender's history: a
// peer that inflates only the compressed messages, each against the ones
// before, gets every message back.
func TestUncompressedOptOutOnTheWire(t *testing.T) {
	a, b, c := compressible(3000, 1), compressible(3000, 2), compressible(3000, 3)
	opts := &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}}}
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := Accept(w, r, opts)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.CloseNow()
		if err := sendOptOut(r.Context(), conn, a, b, c); err != nil {
			t.Errorf("send: %v", err)
		}
		<-done
	}))
	defer ts.Close()
	defer close(done)
	nc, br := rawHandshake(t, ts.URL, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
	p := &rawPeer{t: t, nc: nc, br: br}
	var history []byte
	for i, want := range []struct {
		data       []byte
		compressed bool
	}{
		{data: a, compressed: true},
		{data: b},
		{data: c},
		{data: b, compressed: true},
		{data: c, compressed: true},
	} {
		rsv, msg := readRawMessage(t, p)
		if compressed := rsv&bitRsv1 != 0; compressed != want.compressed {
			t.Fatalf("message %d: compressed %v, want %v", i, compressed, want.compressed)
		}
		if want.compressed {
			r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(msg), bytes.NewReader(inflateTrailer)), history)
			var err error
			if msg, err = io.ReadAll(r); err != nil {
				t.Fatalf("message %d: inflate: %v", i, err)
			}
			history = append(history, msg...)
		}
		if !bytes.Equal(msg, want.data) {
			t.Fatalf("message %d: %d bytes, not the %d sent", i, len(msg), len(want.data))
		}
	}
}

// readRawMessage reads a message's frames and returns its first frame's
// RSV bits and its payload.
func readRawMessage(t *testing.T, p *rawPeer) (byte, []byte) {
	t.Helper()
	var msg []byte
	var rsv byte
	for first := true; ; first = false {
		h, payload, err := p.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if first {
			rsv = h.Rsv
		}
		msg = append(msg, payload...)
		if h.Fin {
			return rsv, msg
		}
	}
}

// TestUncompressedOptOutBothEnds: the opt-outs in every compression mode,
// in both roles, with this library on both ends.
func TestUncompressedOptOutBothEnds(t *testing.T) {
	a, b, c := compressible(3000, 4), compressible(3000, 5), compressible(3000, 6)
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			sent := make(chan error, 1)
			go func() { sent <- sendOptOut(ctx, from, a, b, c) }()
			for i, want := range [][]byte{a, b, c, b, c} {
				_, got, err := to.Read(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("message %d: %d bytes, not the %d sent", i, len(got), len(want))
				}
			}
			if err := <-sent; err != nil {
				t.Fatalf("send: %v", err)
			}
		})
	})
}
