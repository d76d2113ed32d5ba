package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStaleWriterWrite: a Writer kept past its Close must not write into
// the next Writer's message. The peer used to receive "second STALE" and
// the stale Write returned nil.
func TestStaleWriterWrite(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			w1, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w1, "first"); err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			w2, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w2, "second"); err != nil {
				t.Fatal(err)
			}
			if n, err := io.WriteString(w1, " STALE"); err == nil || n != 0 {
				t.Fatalf("stale Write: n=%d err=%v, want 0 and an error", n, err)
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
			if n, err := io.WriteString(w1, " STALE"); err == nil || n != 0 {
				t.Fatalf("stale Write after both closed: n=%d err=%v", n, err)
			}
			for _, want := range []string{"first", "second"} {
				if _, got, err := to.Read(ctx); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
		})
	})
}

// TestStaleWriterClose: a second Close of a Writer must neither finish nor
// unlock the message another goroutine is writing with a newer Writer.
func TestStaleWriterClose(t *testing.T) {
	compressionModes(t, func(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) {
		client, server := pair(t, aopts, dopts)
		roles(t, client, server, func(t *testing.T, from, to *Conn) {
			ctx := testCtx(t)
			w1, err := from.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			opened := make(chan error, 1)
			proceed := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				w2, err := from.Writer(ctx, MessageText)
				opened <- err
				if err != nil {
					return
				}
				<-proceed
				_, err = io.WriteString(w2, "second")
				if cerr := w2.Close(); err == nil {
					err = cerr
				}
				done <- err
			}()
			if err := <-opened; err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err == nil {
				t.Error("second Close of a Writer succeeded")
			}
			if !from.msgMu.Held() || !from.flags.has(flagStreaming) {
				t.Error("a stale Close released the message lock the new Writer holds")
			}
			close(proceed)
			if err := <-done; err != nil {
				t.Fatalf("new Writer: %v", err)
			}
			for _, want := range []string{"", "second"} {
				if _, got, err := to.Read(ctx); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
		})
	})
}

// TestWriteCtxOverTLSCloses: over TLS, a write that its ctx cuts off
// closes the connection, even when nothing was reported written:
// crypto/tls may have put part of a record on the wire, and it fails every
// write after a deadline. Reporting the connection usable, as over plain
// TCP, left a torn record for the peer and a connection whose next write
// failed.
func TestWriteCtxOverTLSCloses(t *testing.T) {
	srv := make(chan *Conn, 1)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		srv <- c
	}))
	defer ts.Close()
	client, _, err := Dial(testCtx(t), "wss"+strings.TrimPrefix(ts.URL, "https"), &DialOptions{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	server := <-srv
	defer server.CloseNow()
	msg := make([]byte, 64<<10)
	var werr error
	for i := 0; werr == nil && i < 10000; i++ { // the server does not read: the socket fills
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		werr = client.Write(ctx, MessageBinary, msg)
		cancel()
	}
	if !errors.Is(werr, context.DeadlineExceeded) {
		t.Fatalf("Write into a full socket: %v, want the ctx's deadline", werr)
	}
	select {
	case <-client.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection stayed open after a TLS write its ctx cut off")
	}
}

// TestWriterFirstFragmentCutOff: a Writer whose ctx ends before any byte
// of its first fragment went out leaves the connection usable, as Write
// does; its Close reports the ctx. Close used to treat the message as
// begun on the wire and close the connection.
func TestWriterFirstFragmentCutOff(t *testing.T) {
	cnc, snc := net.Pipe() // nothing goes out while the server does not read
	defer snc.Close()
	go func() { // answers the handshake, then never reads
		req, err := http.ReadRequest(bufio.NewReader(snc))
		if err != nil {
			return
		}
		io.WriteString(snc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			acceptKey(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
	}()
	client, _, err := Client(testCtx(t), cnc, "ws://x/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	w, err := client.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 100)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ { // enough to flush a first fragment
		_, werr = w.Write(chunk)
	}
	if !errors.Is(werr, context.DeadlineExceeded) {
		t.Fatalf("Writer.Write: %v, want its ctx's deadline", werr)
	}
	if err := w.Close(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Writer.Close: %v, want its ctx's deadline", err)
	}
	if client.isClosed() {
		t.Fatal("nothing of the message went out, yet its Writer closed the connection")
	}
}
