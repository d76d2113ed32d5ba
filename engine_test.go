package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// Regression tests for the read side rebuilt on internal/wsproto: read
// limits near MaxInt64, a Read that gets the peer's close, and pings read
// while the write side is busy.

// dialRawServer dials a Conn to a hand-driven server and returns the
// server's end of the TCP connection, past the handshake, with a reader of
// what follows it.
func dialRawServer(t *testing.T, opts *DialOptions) (c *Conn, nc net.Conn, br *bufio.Reader) {
	t.Helper()
	wstest.CheckLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		nc net.Conn
		br *bufio.Reader
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- accepted{}
			return
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			nc.Close()
			ch <- accepted{}
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+acceptKey(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		ch <- accepted{nc, br}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err = Dial(ctx, "ws://"+ln.Addr().String(), opts)
	a := await(t, ch, "the accepted Conn")
	if a.nc != nil {
		t.Cleanup(func() { a.nc.Close() })
	}
	if err != nil || a.nc == nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, a.nc, a.br
}

// maxKeptWirePayload bounds the payloads readWire returns; longer ones are
// skipped, so that megabytes need not be unmasked byte by byte.
const maxKeptWirePayload = 64 << 10

// readWire reads one frame sent by either role and returns its payload,
// unmasked, or nil with its length when it is longer than
// maxKeptWirePayload.
func readWire(br *bufio.Reader) (op opcode, payload []byte, length int64, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return 0, nil, 0, err
	}
	op = opcode(h[0] & 0x0f)
	length = int64(h[1] & 0x7f)
	switch length {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return op, nil, 0, err
		}
		length = int64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return op, nil, 0, err
		}
		length = int64(binary.BigEndian.Uint64(b[:]))
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(br, key[:]); err != nil {
			return op, nil, length, err
		}
	}
	if length > maxKeptWirePayload {
		_, err = io.CopyN(io.Discard, br, length)
		return op, nil, length, err
	}
	payload = make([]byte, length)
	if _, err = io.ReadFull(br, payload); err != nil {
		return op, nil, length, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, length, nil
}

// TestCompressedReadLimitNearMaxInt64: a read limit at or next to
// math.MaxInt64 means "no practical limit" for compressed messages too.
// The limit arithmetic used to overflow: lim-msgLen+1 turned negative and
// inflating panicked with a slice bound out of range.
func TestCompressedReadLimitNearMaxInt64(t *testing.T) {
	limits := []struct {
		name  string
		limit int64
	}{
		{
			name:  "MaxInt64",
			limit: math.MaxInt64,
		},
		{
			name:  "MaxInt64-1",
			limit: math.MaxInt64 - 1,
		},
	}
	apis := []struct {
		name string
		read func(ctx context.Context, c *Conn) (MessageType, []byte, error)
	}{
		{
			name: "Read",
			read: func(ctx context.Context, c *Conn) (MessageType, []byte, error) { return c.Read(ctx) },
		},
		{
			name: "Reader",
			read: func(ctx context.Context, c *Conn) (MessageType, []byte, error) {
				typ, r, err := c.Reader(ctx)
				if err != nil {
					return 0, nil, err
				}
				b, err := io.ReadAll(r)
				return typ, b, err
			},
		},
	}
	for _, lim := range limits {
		for _, api := range apis {
			for _, role := range []string{"client", "server"} {
				t.Run(lim.name+"/"+api.name+"/"+role, func(t *testing.T) {
					comp := CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}
					aopts := &AcceptOptions{ConnOptions: ConnOptions{Compression: comp}}
					dopts := &DialOptions{ConnOptions: ConnOptions{Compression: comp}}
					if role == "client" {
						dopts.ReadLimit = lim.limit
					} else {
						aopts.ReadLimit = lim.limit
					}
					client, server := pair(t, aopts, dopts)
					if client.deflate == nil || server.deflate == nil {
						t.Fatal("compression was not negotiated")
					}
					reader, writer := client, server
					if role == "server" {
						reader, writer = server, client
					}
					ctx := testCtx(t)
					// Two messages: the second one inflates after the first
					// counted against the limit.
					msgs := [][]byte{compressible(100_000, 1), compressible(3000, 2)}
					errc := make(chan error, 1)
					go func() {
						for _, m := range msgs {
							if err := writer.Write(ctx, MessageText, m); err != nil {
								errc <- err
								return
							}
						}
						errc <- nil
					}()
					for i, want := range msgs {
						typ, got, err := readRecovering(ctx, reader, api.read)
						if err != nil || typ != MessageText || !bytes.Equal(got, want) {
							t.Fatalf("message %d: %v, %d bytes (want %d), %v", i, typ, len(got), len(want), err)
						}
					}
					if err := <-errc; err != nil {
						t.Fatalf("write: %v", err)
					}
				})
			}
		}
	}
}

// readRecovering turns a panic of read into an error, so that a broken
// reader fails its test instead of the whole run.
func readRecovering(ctx context.Context, c *Conn, read func(context.Context, *Conn) (MessageType, []byte, error)) (typ MessageType, b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("read panicked: %v", p)
			c.CloseNow()
		}
	}()
	return read(ctx, c)
}

// TestReadAfterPeerCloseHonoursCtx: a Read that gets the peer's close frame
// returns within its ctx, whatever the rest of the closing handshake does:
// the peer may keep the TCP connection open, or our answer may wait behind
// a write that the peer does not read. It used to wait for CloseTimeout
// (3s here) regardless of ctx.
func TestReadAfterPeerCloseHonoursCtx(t *testing.T) {
	const (
		closeTimeout = 3 * time.Second
		readTimeout  = 200 * time.Millisecond
	)
	cases := []struct {
		name        string
		client      bool
		stuckWriter bool // a Write the peer does not read holds the write side
	}{
		{
			name:   "client, server keeps the connection open",
			client: true,
		},
		{
			name:        "client, write side stuck",
			client:      true,
			stuckWriter: true,
		},
		{
			name:        "server, write side stuck",
			stuckWriter: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := net.Pipe()
				c := newConn(a, tc.client, &ConnOptions{CloseTimeout: closeTimeout}, "", nil, nil)
				defer b.Close()
				defer c.CloseNow()
				wrote := make(chan error, 1)
				if tc.stuckWriter {
					go func() { wrote <- c.Write(context.Background(), MessageBinary, make([]byte, 1<<16)) }()
					synctest.Wait() // the Write is blocked: nobody reads the pipe
				}
				// The peer sends its close frame; without a stuck writer it
				// also reads our answer, and then keeps the connection open.
				peerDone := make(chan error, 1)
				go func() {
					if _, err := b.Write(frame(true, 0, opClose, !tc.client, closePayload(4000, "bye"))); err != nil {
						peerDone <- err
						return
					}
					if tc.stuckWriter {
						peerDone <- nil
						return
					}
					op, payload, _, err := readWire(bufio.NewReader(b))
					if err == nil && (op != opClose || len(payload) < 2 || binary.BigEndian.Uint16(payload) != 4000) {
						err = fmt.Errorf("answer to the close: %v %q", op, payload)
					}
					peerDone <- err
				}()
				ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
				defer cancel()
				start := time.Now()
				_, _, err := c.Read(ctx)
				elapsed := time.Since(start)
				if CloseStatus(err) != 4000 {
					t.Errorf("Read: %v, want the peer's close 4000", err)
				}
				if elapsed > readTimeout {
					t.Errorf("Read returned after %v, its ctx ended after %v", elapsed, readTimeout)
				}
				if err := <-peerDone; err != nil {
					t.Errorf("peer: %v", err)
				}
				c.CloseNow()
				if tc.stuckWriter {
					<-wrote
				}
			})
		})
	}
	// The same over TCP, with real time: the server sends its close, reads
	// the answer and never closes the connection.
	t.Run("tcp, server keeps the connection open", func(t *testing.T) {
		c, nc, br := dialRawServer(t, &DialOptions{ConnOptions: ConnOptions{CloseTimeout: closeTimeout}})
		if _, err := nc.Write(frame(true, 0, opClose, false, closePayload(4000, "bye"))); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		start := time.Now()
		_, _, err := c.Read(ctx)
		elapsed := time.Since(start)
		if CloseStatus(err) != 4000 {
			t.Errorf("Read: %v, want the peer's close 4000", err)
		}
		// Well within CloseTimeout, with room for a slow machine.
		if elapsed > readTimeout+time.Second {
			t.Errorf("Read returned after %v, its ctx ended after %v", elapsed, readTimeout)
		}
		op, payload, _, err := readWire(br)
		if err != nil || op != opClose || len(payload) < 2 || binary.BigEndian.Uint16(payload) != 4000 {
			t.Errorf("answer to the close: %v %q %v", op, payload, err)
		}
	})
}

// TestPingAnsweredAfterReadCtxEnds: a ping read by a Read whose ctx ends
// while the write side is busy is still answered once the write side is
// free. The pong used to be written by the Read itself, under the Read's
// ctx: when that ended first, the ping had been consumed and was never
// answered.
func TestPingAnsweredAfterReadCtxEnds(t *testing.T) {
	cases := []struct {
		name  string
		write func(ctx context.Context, c *Conn, p []byte) error
	}{
		{
			name: "Write",
			write: func(ctx context.Context, c *Conn, p []byte) error {
				return c.Write(ctx, MessageBinary, p)
			},
		},
		{
			name: "Writer",
			write: func(ctx context.Context, c *Conn, p []byte) error {
				// One large write goes out as one fragment, which holds the
				// write side until the peer reads it.
				return writeThroughWriter(ctx, c, MessageBinary, p)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, nc, br := dialRawServer(t, nil)
			// Small socket buffers: the large write is stuck until the
			// server reads.
			c.nc.(*net.TCPConn).SetWriteBuffer(4096)
			nc.(*net.TCPConn).SetReadBuffer(4096)
			ctx := testCtx(t)
			const size = 8 << 20
			wrote := make(chan error, 1)
			go func() {
				err := tc.write(ctx, c, make([]byte, size))
				if err == nil {
					err = c.Write(ctx, MessageText, []byte("after"))
				}
				wrote <- err
			}()
			for !c.frameMu.Held() {
				runtime.Gosched()
			}
			if _, err := nc.Write(frame(true, 0, opPing, false, []byte("are you there"))); err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, _, err := c.Read(short)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Read: %v, want its ctx's deadline", err)
			}
			// Now the server reads, with buffers that let the megabytes
			// through quickly: the large message, the pong, then the message
			// written after the large one.
			c.nc.(*net.TCPConn).SetWriteBuffer(4 << 20)
			nc.(*net.TCPConn).SetReadBuffer(4 << 20)
			var got int64
			pong := false
			for {
				op, payload, n, err := readWire(br)
				if err != nil {
					t.Fatalf("server read after %d bytes, pong %v: %v", got, pong, err)
				}
				switch op {
				case opBinary, opContinuation:
					got += n
				case opPong:
					if string(payload) != "are you there" {
						t.Fatalf("pong %q", payload)
					}
					pong = true
				case opText:
					if string(payload) != "after" || got != size {
						t.Fatalf("text %q after %d bytes of the large message", payload, got)
					}
					if !pong {
						t.Fatal("the ping read by the Read whose ctx ended was never answered")
					}
					if err := <-wrote; err != nil {
						t.Fatalf("write: %v", err)
					}
					return
				default:
					t.Fatalf("unexpected %v frame", op)
				}
			}
		})
	}
}

// TestCloseAnswerOutlivesReadCtx: a Read whose ctx ends while our answer
// to the peer's close frame waits behind a write must not close the
// connection: the answer goes out once the write does, and the connection
// ends when the peer closes it, or at CloseTimeout. The client used to
// close at once, so the server read the end of the stream instead of the
// answer, and its Close reported an abnormal closure.
func TestCloseAnswerOutlivesReadCtx(t *testing.T) {
	for _, client := range []bool{true, false} {
		t.Run(fmt.Sprintf("client=%v", client), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const closeTimeout = 3 * time.Second
				a, b := net.Pipe()
				c := newConn(a, client, &ConnOptions{CloseTimeout: closeTimeout}, "", nil, nil)
				defer c.CloseNow()
				wrote := make(chan error, 1)
				go func() { wrote <- c.Write(context.Background(), MessageBinary, make([]byte, 1<<16)) }()
				synctest.Wait() // the Write is blocked: nobody reads the pipe
				go b.Write(frame(true, 0, opClose, !client, closePayload(4000, "bye")))
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				if _, _, err := c.Read(ctx); CloseStatus(err) != 4000 {
					t.Fatalf("Read: %v, want the peer's close 4000", err)
				}
				synctest.Wait()
				if c.isClosed() {
					t.Fatal("the Read's ctx ended and closed the connection before the answer went out")
				}
				// The peer reads what was written, then the answer.
				br := bufio.NewReader(b)
				if op, _, n, err := readWire(br); err != nil || op != opBinary || n != 1<<16 {
					t.Fatalf("the message written before: %v %d %v", op, n, err)
				}
				op, payload, _, err := readWire(br)
				if err != nil || op != opClose || len(payload) < 2 || binary.BigEndian.Uint16(payload) != 4000 {
					t.Fatalf("answer to the close: %v %q %v", op, payload, err)
				}
				if err := <-wrote; err != nil {
					t.Errorf("Write: %v", err)
				}
				// A server closes once both close frames crossed; a client
				// waits for the server to, then closes at CloseTimeout.
				start := time.Now()
				<-c.Done()
				want := time.Duration(0)
				if client {
					want = closeTimeout
				}
				if waited := time.Since(start); waited > want {
					t.Errorf("closed after %v, want at most %v", waited, want)
				}
				b.Close()
			})
		})
	}
}
