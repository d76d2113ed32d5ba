package websocket

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2ClientCloseReturnsFlowOnce: closing a client's HTTP/2 WebSocket
// with data unread gives the connection's flow control back that data
// once. The transport's body was closed twice, each close giving it back,
// so a connection that outlived many such closes (another WebSocket
// keeping it open) took in more than it meant to buffer and, past about
// 1 GiB given in excess, made x/net panic: its window went past 2^31-1.
func TestHTTP2ClientCloseReturnsFlowOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const unread = 256 << 10
	s := &flowServer{dataLen: unread, acked: make(chan struct{}), reset: make(chan struct{})}
	go s.serve(ln)
	opts := DialOptions{HTTP2: new(HTTP2Transport), HTTP2Only: true}
	ctx := testCtx(t)
	url := "ws://" + ln.Addr().String() + "/"
	c1, _, err := Dial(ctx, url, &opts)
	if err != nil {
		t.Fatal(err)
	}
	c2, _, err := Dial(ctx, url, &opts) // keeps the connection open
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	await(t, s.acked, "the PING sent behind the data to be answered")
	c1.CloseNow()
	await(t, c1.Done(), "the first WebSocket's end")
	await(t, s.reset, "the first stream's RST_STREAM")
	// A second giving back comes right after the first; wait a while for
	// one, as the test cannot tell when none will come.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) && s.creditedNow() <= unread {
		time.Sleep(10 * time.Millisecond)
	}
	// The frame header and what the pump read before the close may add a
	// few bytes; giving the data back twice doubles it.
	if got := s.creditedNow(); got > unread+1024 {
		t.Errorf("%d bytes of connection flow control given back for %d bytes unread", got, unread)
	}
}

// flowServer is an HTTP/2 server, written by hand, that accepts extended
// CONNECT. On the first stream it sends one binary message of dataLen
// bytes in all, then a PING; it adds up the connection-level
// WINDOW_UPDATE increments the client sends once the data is out.
type flowServer struct {
	dataLen  int
	mu       sync.Mutex
	credited int64
	acked    chan struct{} // closed when the client answered the PING
	reset    chan struct{} // closed when the client reset stream 1
}

func (s *flowServer) serve(ln net.Listener) {
	nc, err := ln.Accept()
	if err != nil {
		return
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	dataSent := false
	serveRawH2(nc, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}, func(fr *http2.Framer, f http2.Frame) {
		switch f := f.(type) {
		case *http2.HeadersFrame:
			hbuf.Reset()
			enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: hbuf.Bytes(), EndHeaders: true})
			if f.StreamID == 1 {
				s.sendData(fr)
				dataSent = true
			}
		case *http2.PingFrame:
			if f.IsAck() {
				close(s.acked)
			} else {
				fr.WritePing(true, f.Data)
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 && dataSent {
				s.mu.Lock()
				s.credited += int64(f.Increment)
				s.mu.Unlock()
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				close(s.reset)
			}
		}
	})
}

// sendData sends one binary message of dataLen bytes, its 10-byte header
// included, on stream 1 in DATA frames of 16 KiB, and a PING behind it.
func (s *flowServer) sendData(fr *http2.Framer) {
	msg := frame(false, 0, opBinary, true, make([]byte, s.dataLen-10))
	for len(msg) > 0 {
		n := min(len(msg), 16<<10)
		fr.WriteData(1, false, msg[:n])
		msg = msg[n:]
	}
	fr.WritePing(false, [8]byte{1})
}

func (s *flowServer) creditedNow() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.credited
}
