package websocket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// TestPeerStopsReading: a writer blocked by a peer that reads nothing
// returns when its ctx ends, memory does not grow with the attempted
// writes, and a writer waiting behind a blocked one gives up with its own
// ctx.
func TestPeerStopsReading(t *testing.T) {
	// The client end never reads.
	_, server := pair(t, nil, nil)
	msg := make([]byte, 64<<10)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var err error
	for i := 0; i < 10000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err = server.Write(ctx, MessageBinary, msg)
		cancel()
		if err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write to a peer that does not read: %v", err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 8<<20 {
		t.Fatalf("heap grew by %d bytes while the peer was not reading", grown)
	}
	// Another writer, waiting behind one that a peer not reading blocks,
	// gives up with its own ctx.
	client, server := pair(t, nil, nil)
	blockedCtx, unblock := context.WithCancel(context.Background())
	defer unblock()
	blocked := make(chan error, 1)
	go func() { blocked <- server.Write(blockedCtx, MessageBinary, make([]byte, 16<<20)) }()
	if _, err := io.ReadFull(client.nc, make([]byte, 1)); err != nil { // the first writer has begun
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := server.Write(ctx, MessageText, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second writer: %v", err)
	}
	unblock()
	if err := <-blocked; !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked writer: %v, want its ctx's cancellation", err)
	}
}

// TestAbruptResets drops the TCP connection with a reset at each stage; the
// server must report an error, never panic or leak.
func TestAbruptResets(t *testing.T) {
	stages := []struct {
		name string
		send []byte
	}{
		{
			name: "before any frame",
		},
		{
			name: "mid header",
			send: []byte{0x82},
		},
		{
			name: "mid payload",
			send: frame(true, 0, opBinary, true, make([]byte, 1000))[:500],
		},
		{
			name: "mid fragmented message",
			send: frame(false, 0, opText, true, []byte("abc")),
		},
		{
			name: "after close frame",
			send: frame(true, 0, opClose, true, closePayload(1000, "")),
		},
	}
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			p, errc := rawClient(t, nil)
			p.nc.Write(st.send)
			p.nc.(*net.TCPConn).SetLinger(0)
			p.nc.Close()
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("no error")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server did not notice the reset")
			}
		})
	}
}

// TestHandshakeResetMidway: a client that resets during the handshake
// leaves nothing behind on the server.
func TestHandshakeResetMidway(t *testing.T) {
	wstest.CheckLeaks(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := Accept(w, r, nil); err == nil {
			c.Read(context.Background())
			c.CloseNow()
		}
	}))
	defer ts.Close()
	for _, cut := range []int{10, 60, 120} {
		nc, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		io.WriteString(nc, req[:cut])
		nc.(*net.TCPConn).SetLinger(0)
		nc.Close()
	}
}

// TestSlowHandshakeServer: Dial gives up when the server trickles its
// response, bounded by the ctx.
func TestSlowHandshakeServer(t *testing.T) {
	wstest.CheckLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		for i := 0; i < len(resp); i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := nc.Write([]byte{resp[i]}); err != nil {
				return
			}
		}
		<-stop
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial took %v", d)
	}
	close(stop)
	await(t, done, "the attacker's end")
}

// TestPingFlood: a peer sending pings without reading pongs cannot make the
// server buffer pongs; data still gets through between pings.
func TestPingFlood(t *testing.T) {
	p, errc := rawClient(t, nil)
	ping := frame(true, 0, opPing, true, make([]byte, 125))
	go func() {
		for i := 0; i < 20000; i++ {
			if _, err := p.nc.Write(ping); err != nil {
				return
			}
		}
		p.nc.Write(frame(true, 0, opText, true, []byte("data")))
	}()
	// Read everything back: pongs (a burst of pings read at once is
	// answered by one pong, as RFC 6455 section 5.5.3 allows), then the
	// echo.
	pongs := 0
	for {
		h, payload, err := p.readFrame()
		if err != nil {
			t.Fatalf("after %d pongs: %v", pongs, err)
		}
		if h.Op == opPong {
			pongs++
			continue
		}
		if h.Op != opText || string(payload) != "data" {
			t.Fatalf("got %v %q", h.Op, payload)
		}
		break
	}
	if pongs == 0 || pongs > 20000 {
		t.Fatalf("%d pongs for 20000 pings", pongs)
	}
	p.nc.Write(frame(true, 0, opClose, true, closePayload(1000, "")))
	if err := <-errc; CloseStatus(err) != 1000 {
		t.Fatalf("server: %v", err)
	}
}

// TestReadCtxKeepsConnection: a Read whose ctx ends while waiting, or in the
// middle of a message, leaves the connection usable and loses nothing.
func TestReadCtxKeepsConnection(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := server.Read(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle read: %v", err)
	}
	// Now half a message arrives, then the ctx ends, then the rest.
	w, err := client.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	part := strings.Repeat("a", DefaultWriteBufferSize)
	w.Write([]byte(part)) // fills the buffer: the first fragment goes out
	w.Write([]byte("b"))
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, _, err := server.Read(short2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("mid-message read: %v", err)
	}
	w.Close()
	_, got, err := server.Read(ctx)
	if err != nil || string(got) != part+"b" {
		t.Fatalf("resumed read: %d bytes, %v", len(got), err)
	}
}

// TestReadCtxMidFrame: a Read whose ctx ends while a single small frame is
// half received loses nothing; the next Read returns the whole message.
// The half frame arrives behind a whole one, so that it is already
// buffered when the Read starts, and splits fall inside the header and
// inside the payload.
func TestReadCtxMidFrame(t *testing.T) {
	for _, split := range []int{1, 3, 7, 40} {
		t.Run(strconv.Itoa(split), func(t *testing.T) {
			client, server := pair(t, nil, nil)
			ctx := testCtx(t)
			first := frame(true, 0, opBinary, true, []byte("first"))
			payload := []byte(strings.Repeat("half and half ", 5))
			raw := frame(true, 0, opText, true, payload)
			if _, err := client.nc.Write(append(first, raw[:split]...)); err != nil {
				t.Fatal(err)
			}
			if _, got, err := server.Read(ctx); err != nil || string(got) != "first" {
				t.Fatalf("first read: %q %v", got, err)
			}
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if _, _, err := server.Read(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read of a partial frame: %v", err)
			}
			if _, err := client.nc.Write(raw[split:]); err != nil {
				t.Fatal(err)
			}
			typ, got, err := server.Read(ctx)
			if err != nil || typ != MessageText || !bytes.Equal(got, payload) {
				t.Fatalf("resumed read: %v %q %v", typ, got, err)
			}
		})
	}
}
