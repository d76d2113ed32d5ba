package websocket

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// rawPeer is a hand-driven endpoint that speaks bytes, to send what a
// correct implementation never would.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// rawClient performs a handshake with an echo server built on Accept and
// returns the raw connection plus a channel with the server's read error.
func rawClient(t *testing.T, opts *AcceptOptions) (*rawPeer, <-chan error) {
	t.Helper()
	return rawClientExt(t, opts, "")
}

// rawClientExt is rawClient offering the given Sec-WebSocket-Extensions.
func rawClientExt(t *testing.T, opts *AcceptOptions, extensions string) (*rawPeer, <-chan error) {
	t.Helper()
	wstest.CheckLeaks(t)
	errc := make(chan error, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			errc <- err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				errc <- err
				c.CloseNow()
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				errc <- err
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	ext := ""
	if extensions != "" {
		ext = "Sec-WebSocket-Extensions: " + extensions + "\r\n"
	}
	nc, br := rawHandshake(t, ts.URL, ext)
	return &rawPeer{t: t, nc: nc, br: br}, errc
}

// rawHandshake connects to the HTTP server at url, sends an upgrade
// request with the extra header lines given, and returns the connection
// past the 101 and a reader of what follows it.
func rawHandshake(t *testing.T, url, extra string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+extra+"\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return nc, br
}

// frame encodes a frame; masked frames use a fixed non-zero key.
func frame(fin bool, rsv byte, op opcode, masked bool, payload []byte) []byte {
	h := header{Fin: fin, Rsv: rsv, Op: op, Masked: masked, Length: int64(len(payload))}
	if masked {
		h.Key = 0x12345678
	}
	b := make([]byte, maxHeaderSize+len(payload))
	n := putHeader(b, h)
	copy(b[n:], payload)
	if masked {
		maskBytes(b[n:n+len(payload)], h.Key)
	}
	return b[:n+len(payload)]
}

func closePayload(code StatusCode, reason string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(b, reason...)
}

// readFrame reads one unmasked frame from the server.
func (p *rawPeer) readFrame() (header, []byte, error) {
	return readWireFrame(p.br)
}

// readWireFrame reads one frame, unmasking its payload if it is masked; a
// stream that ends inside a frame is an error that says so.
func readWireFrame(br *bufio.Reader) (header, []byte, error) {
	var hb [maxHeaderSize]byte
	if _, err := io.ReadFull(br, hb[:2]); err != nil {
		return header{}, nil, err
	}
	n := headerLen(hb[1])
	if _, err := io.ReadFull(br, hb[2:n]); err != nil {
		return header{}, nil, err
	}
	h, _, err := parseHeader(hb[:n])
	if err != nil {
		return h, nil, err
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(br, payload); err != nil {
		return h, nil, fmt.Errorf("inside a frame: %w", err)
	}
	if h.Masked {
		maskBytes(payload, h.Key)
	}
	return h, payload, nil
}

// expectClose reads frames until a close frame and checks its code; then
// the server must close the TCP connection.
func (p *rawPeer) expectClose(want StatusCode) {
	p.t.Helper()
	for {
		h, payload, err := p.readFrame()
		if err != nil {
			p.t.Fatalf("want close %d, got error %v", want, err)
		}
		if h.Op != opClose {
			continue
		}
		got := StatusCode(-1)
		if len(payload) >= 2 {
			got = StatusCode(binary.BigEndian.Uint16(payload))
		}
		if got != want {
			p.t.Fatalf("close code %v, want %v (reason %q)", got, want, payload[min(2, len(payload)):])
		}
		break
	}
	// Answer the close, then the server must end the TCP connection.
	p.nc.Write(frame(true, 0, opClose, true, nil))
	if _, err := io.Copy(io.Discard, p.br); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		p.t.Fatalf("after close: %v", err)
	}
	p.nc.Close()
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func TestServerRejectsBadFrames(t *testing.T) {
	long := make([]byte, 126)
	tests := []struct {
		name   string
		frames [][]byte
		code   StatusCode
	}{
		{
			name:   "unmasked frame",
			frames: [][]byte{frame(true, 0, opText, false, []byte("hi"))},
			code:   StatusProtocolError,
		},
		{
			name:   "rsv1 without extension",
			frames: [][]byte{frame(true, bitRsv1, opText, true, []byte("hi"))},
			code:   StatusProtocolError,
		},
		{
			name:   "rsv2",
			frames: [][]byte{frame(true, bitRsv2, opBinary, true, nil)},
			code:   StatusProtocolError,
		},
		{
			name:   "rsv3 on ping",
			frames: [][]byte{frame(true, bitRsv3, opPing, true, nil)},
			code:   StatusProtocolError,
		},
		{
			name:   "reserved data opcode",
			frames: [][]byte{frame(true, 0, 3, true, nil)},
			code:   StatusProtocolError,
		},
		{
			name:   "reserved control opcode",
			frames: [][]byte{frame(true, 0, 0xB, true, nil)},
			code:   StatusProtocolError,
		},
		{
			name:   "control frame over 125 bytes",
			frames: [][]byte{frame(true, 0, opPing, true, long)},
			code:   StatusProtocolError,
		},
		{
			name:   "fragmented control frame",
			frames: [][]byte{frame(false, 0, opPing, true, nil)},
			code:   StatusProtocolError,
		},
		{
			name:   "continuation without start",
			frames: [][]byte{frame(true, 0, opContinuation, true, []byte("x"))},
			code:   StatusProtocolError,
		},
		{
			name:   "new message inside fragmented one",
			frames: [][]byte{frame(false, 0, opText, true, []byte("a")), frame(true, 0, opText, true, []byte("b"))},
			code:   StatusProtocolError,
		},
		{
			name:   "64-bit length with top bit",
			frames: [][]byte{{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}},
			code:   StatusProtocolError,
		},
		{
			name:   "invalid utf-8",
			frames: [][]byte{frame(true, 0, opText, true, []byte{'a', 0xff})},
			code:   StatusInvalidFramePayloadData,
		},
		{
			name:   "invalid utf-8 in first fragment fails fast",
			frames: [][]byte{frame(false, 0, opText, true, []byte{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80})},
			code:   StatusInvalidFramePayloadData,
		},
		{
			name:   "truncated utf-8 at message end",
			frames: [][]byte{frame(true, 0, opText, true, []byte{0xe2, 0x82})},
			code:   StatusInvalidFramePayloadData,
		},
		{
			name:   "one-byte close payload",
			frames: [][]byte{frame(true, 0, opClose, true, []byte{3})},
			code:   StatusProtocolError,
		},
		{
			name:   "close code 1005 on the wire",
			frames: [][]byte{frame(true, 0, opClose, true, closePayload(1005, ""))},
			code:   StatusProtocolError,
		},
		{
			name:   "close code 999",
			frames: [][]byte{frame(true, 0, opClose, true, closePayload(999, ""))},
			code:   StatusProtocolError,
		},
		{
			name:   "close code 2000",
			frames: [][]byte{frame(true, 0, opClose, true, closePayload(2000, ""))},
			code:   StatusProtocolError,
		},
		{
			name:   "close reason invalid utf-8",
			frames: [][]byte{frame(true, 0, opClose, true, append(closePayload(1000, ""), 0xff))},
			code:   StatusInvalidFramePayloadData,
		},
		{
			name:   "declared length over read limit",
			frames: [][]byte{{0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}},
			code:   StatusMessageTooBig,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, errc := rawClient(t, nil)
			for _, f := range tc.frames {
				p.nc.Write(f)
			}
			p.expectClose(tc.code)
			err := await(t, errc, "the server's read error")
			var perr *ProtocolError
			if !errors.As(err, &perr) || perr.Code != tc.code {
				t.Fatalf("server error %v, want ProtocolError %v", err, tc.code)
			}
		})
	}
}

func TestServerEchoesValidClose(t *testing.T) {
	for _, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		p, errc := rawClient(t, nil)
		p.nc.Write(frame(true, 0, opClose, true, closePayload(code, "why")))
		h, payload, err := p.readFrame()
		if err != nil || h.Op != opClose || StatusCode(binary.BigEndian.Uint16(payload)) != code {
			t.Fatalf("code %d: echo %v %v %v", code, h, payload, err)
		}
		if _, err := io.Copy(io.Discard, p.br); err != nil && !isReset(err) {
			t.Fatalf("server did not close TCP: %v", err)
		}
		if got := CloseStatus(<-errc); got != code {
			t.Fatalf("server saw %v, want %v", got, code)
		}
	}
}

func TestMessageLimitAcrossFrames(t *testing.T) {
	opts := &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 1000}}
	p, errc := rawClient(t, opts)
	chunk := make([]byte, 300)
	for i := 0; i < 3; i++ {
		p.nc.Write(frame(false, 0, opBinaryOrCont(i), true, chunk))
	}
	p.nc.Write(frame(true, 0, opContinuation, true, chunk))
	p.expectClose(StatusMessageTooBig)
	if err := <-errc; !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("got %v", err)
	}
}

func opBinaryOrCont(i int) opcode {
	if i == 0 {
		return opBinary
	}
	return opContinuation
}

func TestControlFramesBetweenFragments(t *testing.T) {
	p, _ := rawClient(t, nil)
	p.nc.Write(frame(false, 0, opText, true, []byte("Hel")))
	p.nc.Write(frame(true, 0, opPing, true, []byte("ping!")))
	p.nc.Write(frame(false, 0, opContinuation, true, []byte("lo, ")))
	p.nc.Write(frame(true, 0, opPong, true, []byte("unsolicited")))
	p.nc.Write(frame(true, 0, opContinuation, true, []byte("world")))
	h, payload, err := p.readFrame()
	if err != nil || h.Op != opPong || string(payload) != "ping!" {
		t.Fatalf("want pong echoing the ping: %v %q %v", h, payload, err)
	}
	h, payload, err = p.readFrame()
	if err != nil || h.Op != opText || string(payload) != "Hello, world" {
		t.Fatalf("want echo: %v %q %v", h, payload, err)
	}
	p.nc.Write(frame(true, 0, opClose, true, closePayload(1000, "")))
}
