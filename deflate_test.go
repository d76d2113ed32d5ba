package websocket

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// compressionModes runs f once per compression setup, both ends alike.
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
