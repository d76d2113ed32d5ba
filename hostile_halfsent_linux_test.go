package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wsproto"
)

// TestPollerHalfSentCompressedFrames: peers that negotiate
// permessage-deflate, send the header and the first 16 KiB of a
// compressed frame declaring 1 MiB, and then go quiet cost a Poller no
// goroutine each, and no more memory than the output of what they sent,
// an inflater and the connection's own state. Such a frame used to be
// finished on a goroutine of its own that waited for the rest; a loop
// inflates what arrived and resumes at the next event. A healthy
// connection on the same loop still gets its echoes.
func TestPollerHalfSentCompressedFrames(t *testing.T) {
	const (
		n        = 300
		declared = 1 << 20  // the frame's length field
		sent     = 16 << 10 // of its payload, what each peer sends
		// inflated is the output of those bytes: stored blocks, whose
		// first header takes 5 of them.
		inflated = sent - 5
		// perConn bounds the heap each quiet peer costs, both ends
		// together: the output so far (in a buffer that may have grown
		// to twice it), a pooled inflater held while the message is in
		// progress (about 45 KiB) and the connections' state. Measured:
		// about 70 KiB on linux/amd64.
		perConn = 2*inflated + 48<<10 + 8<<10
		// slack covers the test's own allocations and the pools.
		slack = 1 << 20
	)
	comp := ConnOptions{Compression: CompressionOptions{Mode: CompressionNoContextTakeover, Threshold: -1}}
	srv := newHostileServer(t, PollerOptions{
		Loops:     1,
		OnMessage: echoServer(5 * time.Second),
	}, &AcceptOptions{ConnOptions: comp}, false)
	deadline := time.Now().Add(20 * time.Second)

	good, _, err := Dial(testCtx(t), srv.url, &DialOptions{ConnOptions: comp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { good.CloseNow() })
	await(t, srv.conns, "the served Conn")
	echoOnce(t, good, -1, time.Second)

	// Every peer's bytes are built before the measurement: the start of
	// a valid payload, incompressible data in stored blocks.
	h := header{Fin: true, Rsv: bitRsv1, Op: opBinary, Masked: true, Key: 0x12345678, Length: declared}
	half := make([]byte, maxHeaderSize+sent)
	half = half[:putHeader(half, h)]
	half = append(half, storedPayload(t, declared)[:sent]...)
	wsproto.Mask(half[len(half)-sent:], h.Key)

	goroutines := runtime.NumGoroutine()
	base := heapInUse()
	peers := make([]net.Conn, 0, n)
	served := make([]*Conn, 0, n)
	for i := range n {
		nc := dialDeflateRaw(t, srv.addr, deadline)
		peers = append(peers, nc)
		served = append(served, <-srv.conns)
		if _, err := nc.Write(half); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
	}
	// The loop drains each socket it is told of, in the order the data
	// arrived; the echo's request arrived last, so its answer means every
	// peer's bytes have been read.
	echoOnce(t, good, 0, 2*time.Second)
	for i, c := range served {
		// The loop holds readMu while it services c; taking it, the test
		// may look at the reader.
		if err := c.readMu.lockOrClosed(testCtx(t), c); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		got := 0
		if c.rd.readState != nil && c.rd.partial != nil {
			got = len(*c.rd.partial)
		}
		c.readMu.Unlock()
		if got != inflated {
			t.Fatalf("peer %d: the server holds %d bytes of the message, inflated, want %d", i, got, inflated)
		}
	}

	grewG := runtime.NumGoroutine() - goroutines
	grewH := heapInUse() - base
	t.Logf("%d quiet peers, %d KiB each: %d goroutines more, heap in use grew by %s (%.1f KiB a peer, bound %d KiB)",
		n, sent>>10, grewG, mib(grewH), float64(grewH)/n/1024, perConn>>10)
	if grewG > 5 {
		t.Errorf("%d goroutines more for %d half-sent frames", grewG, n)
	}
	if limit := int64(n)*perConn + slack; grewH > limit {
		t.Errorf("heap in use grew by %s for %d half-sent frames, bound %s", mib(grewH), n, mib(limit))
	}
	if got := srv.p.Len(); got != n+1 {
		t.Errorf("%d connections served, want %d", got, n+1)
	}
	echoOnce(t, good, 1, time.Second)

	for _, nc := range peers {
		nc.Close()
	}
	for range n {
		select {
		case cc := <-srv.closed:
			if cc.c == good {
				t.Errorf("the healthy connection closed: %v", cc.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the peers' connections were not all closed")
		}
	}
	echoOnce(t, good, 2, time.Second)
}

// dialDeflateRaw opens a raw connection to addr that negotiates
// permessage-deflate and returns it past the handshake. Every I/O on it
// fails after deadline; it is closed at the end of the test.
func dialDeflateRaw(t *testing.T, addr string, deadline time.Time) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(deadline)
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n")
	// The server sends nothing after its answer, so the reader, which is
	// not kept, holds nothing of the connection's.
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("compression not negotiated: %q", ext)
	}
	return nc
}

// storedPayload returns the permessage-deflate payload of n random bytes
// compressed without compression: stored blocks.
func storedPayload(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(randomBytes(rand.New(rand.NewPCG(1, 1)), n))
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), deflateTail)
}
