package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fullduplex/websocket/internal/wstest"
)

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x05})
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00})
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0x89, 0x80, 1, 2, 3, 4})
	f.Add([]byte{0x02, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 || len(b) < headerLen(b[1]) {
			return
		}
		h, n, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, errLengthOverflow) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n != headerLen(b[1]) || h.Length < 0 {
			t.Fatalf("n=%d length=%d", n, h.Length)
		}
		// Re-encoding gives the same header (lengths in their shortest form).
		var out [maxHeaderSize]byte
		m := putHeader(out[:], h)
		h2, m2, err := parseHeader(out[:m])
		if err != nil || h2 != h || m2 != m {
			t.Fatalf("round trip: %+v -> %+v (%v)", h, h2, err)
		}
	})
}

func FuzzParseClosePayload(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03})
	f.Add([]byte{0x03, 0xe8})
	f.Add([]byte{0x03, 0xe8, 'o', 'k'})
	f.Add([]byte{0x03, 0xed})
	f.Add([]byte{0x0f, 0xa0, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		ce, perr := parseClosePayload(p, true)
		if perr != nil {
			if perr.Code != StatusProtocolError && perr.Code != StatusInvalidFramePayloadData {
				t.Fatalf("code %v", perr.Code)
			}
			return
		}
		if len(p) == 0 {
			if ce.Code != StatusNoStatusRcvd {
				t.Fatalf("empty payload gave %v", ce.Code)
			}
			return
		}
		if !ce.Code.validOnWire() || !utf8.ValidString(ce.Reason) || ce.Code != StatusCode(binary.BigEndian.Uint16(p)) {
			t.Fatalf("accepted %v %q", ce.Code, ce.Reason)
		}
		if ce.Reason != string(p[2:]) {
			t.Fatalf("reason %q, want %q", ce.Reason, p[2:])
		}
	})
}

// FuzzParseClosePayloadAccepts is FuzzParseClosePayload the other way
// round: a payload is accepted exactly when RFC 6455 says it is valid,
// by a table of the codes written from section 7.4 and the IANA registry,
// apart from the parser's own (CodeValidOnWire).
func FuzzParseClosePayloadAccepts(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03, 0xe8, 'o', 'k'})
	f.Add([]byte{0x03, 0xf6})       // 1014
	f.Add([]byte{0x03, 0xf7})       // 1015
	f.Add([]byte{0x0b, 0xb8, 0xc3}) // 3000, a cut character
	f.Fuzz(func(t *testing.T, p []byte) {
		_, perr := parseClosePayload(p, true)
		want := len(p) == 0 || len(p) >= 2 && sendableCode(binary.BigEndian.Uint16(p)) && utf8.Valid(p[2:])
		if got := perr == nil; got != want {
			t.Fatalf("payload % x: accepted %v (%v), want %v", p, got, perr, want)
		}
	})
}

// sendableCode is RFC 6455's rule for the codes a close frame may carry:
// 1000-1003 and 1007-1011 (section 7.4.1), 1012-1014 (IANA's registry),
// 3000-4999 (section 7.4.2); never 1004-1006 or 1015, nor anything else
// below 3000.
func sendableCode(code uint16) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// onceConn serves one fixed byte stream, then EOF; writes are discarded.
type onceConn struct {
	wstest.LoopConn
	r *bytes.Reader
}

func (o *onceConn) Read(p []byte) (int, error) { return o.r.Read(p) }

// FuzzReadPath feeds arbitrary bytes to a connection in both roles, with
// and without compression, and reads until it fails. Nothing may panic or
// hang, and an invalid stream must end in a protocol error or EOF.
func FuzzReadPath(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1}, false)
	f.Add(frame(false, 0, opText, true, []byte("He")), false)
	f.Add(append(frame(false, 0, opText, false, []byte("He")), frame(true, 0, opContinuation, false, []byte("llo"))...), true)
	f.Add(frame(true, 0, opClose, true, closePayload(1000, "bye")), false)
	f.Add(frame(true, bitRsv1, opBinary, true, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), false)
	f.Add(frame(true, 0, opPing, false, []byte("p")), true)
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		for _, compress := range []bool{false, true} {
			var dp *deflateParams
			opts := &ConnOptions{ReadLimit: 1 << 16, CloseTimeout: 10 * time.Millisecond}
			if compress {
				dp = &deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}
				opts.Compression.Mode = CompressionContextTakeover
			}
			c := newConn(&onceConn{r: bytes.NewReader(data)}, client, opts, "", nil, dp)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for i := 0; ; i++ {
				var err error
				if i%2 == 0 {
					_, _, err = c.Read(ctx)
				} else {
					var r io.Reader
					if _, r, err = c.Reader(ctx); err == nil {
						_, err = io.Copy(io.Discard, r)
					}
				}
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						t.Fatal("read hung")
					}
					break
				}
			}
			cancel()
			c.CloseNow()
		}
	})
}

func FuzzAcceptRequest(f *testing.F) {
	f.Add("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: http://a\r\nSec-WebSocket-Protocol: a, b\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Version: 8\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewBufferString(raw)))
		if err != nil {
			return
		}
		opts := &AcceptOptions{
			Subprotocols: []string{"a"},
			ConnOptions:  ConnOptions{Compression: CompressionOptions{Mode: CompressionContextTakeover}},
		}
		w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder()}
		c, err := Accept(w, req, opts)
		if err == nil {
			c.CloseNow()
			resp, rerr := http.ReadResponse(bufio.NewReader(&w.out), req)
			if rerr != nil || resp.StatusCode != 101 {
				t.Fatalf("accepted, but answered %v %v", resp, rerr)
			}
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(req.Header.Get("Sec-WebSocket-Key")) {
				t.Fatalf("accept %q", got)
			}
			return
		}
		var herr *HandshakeError
		if !errors.As(err, &herr) || w.Code != herr.Status || w.Code < 400 {
			t.Fatalf("refused with %v, status %d", err, w.Code)
		}
	})
}

// hijackRecorder is a ResponseRecorder that can be hijacked; what is
// written after the hijack lands in out.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	out bytes.Buffer
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc := &recordConn{out: &h.out}
	return nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), nil
}

type recordConn struct {
	wstest.LoopConn
	out *bytes.Buffer
}

func (r *recordConn) Write(p []byte) (int, error) { return r.out.Write(p) }
func (r *recordConn) Read([]byte) (int, error)    { return 0, io.EOF }

func FuzzClientResponse(f *testing.F) {
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\nSec-WebSocket-Protocol: b\r\n\r\n")
	f.Add("HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad")
	f.Fuzz(func(t *testing.T, raw string) {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewBufferString(raw)), nil)
		if err != nil {
			return
		}
		opts := &DialOptions{
			Subprotocols: []string{"a", "b"},
			ConnOptions:  ConnOptions{Compression: CompressionOptions{Mode: CompressionContextTakeover}},
		}
		proto, dp, herr := checkServerResponse(resp, "dGhlIHNhbXBsZSBub25jZQ==", opts)
		if herr != nil {
			return
		}
		if resp.StatusCode != 101 || (proto != "" && proto != "a" && proto != "b") {
			t.Fatalf("accepted status %d proto %q", resp.StatusCode, proto)
		}
		// RFC 6455, section 4.1: the accept key of this request's key,
		// the two tokens, and the subprotocol the server named.
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
			t.Fatalf("accepted the accept key %q", got)
		}
		if !headerHasToken(resp.Header, "Upgrade", "websocket") || !headerHasToken(resp.Header, "Connection", "upgrade") {
			t.Fatalf("accepted Upgrade %q, Connection %q", resp.Header["Upgrade"], resp.Header["Connection"])
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != proto {
			t.Fatalf("subprotocol %q from the header %q", proto, got)
		}
		if dp != nil && (dp.serverMaxWindowBits < 8 || dp.serverMaxWindowBits > 15 || dp.clientMaxWindowBits < 8 || dp.clientMaxWindowBits > 15) {
			t.Fatalf("window bits out of range: %+v", dp)
		}
	})
}

// headerHasToken reports whether a comma-separated list in the header
// field name has token, case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// FuzzSwitchingResponse checks the in-place parser of 101 responses
// against net/http: whatever it accepts, http.ReadResponse reads the same.
func FuzzSwitchingResponse(f *testing.F) {
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nupgrade:websocket\r\nX-A: 1\r\nX-A: 2\r\nSet-Cookie: a=b\r\n\r\n")
	f.Add("HTTP/1.1 101\r\nUpgrade: websocket\r\n folded\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		if !strings.HasSuffix(head, "\r\n\r\n") || strings.Count(head, "\r\n\r\n") != 1 {
			return
		}
		resp := parseSwitchingResponse([]byte(head), nil)
		if resp == nil {
			return
		}
		want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head)), nil)
		if err != nil {
			t.Fatalf("accepted a head net/http refuses: %v", err)
		}
		if want.StatusCode != resp.StatusCode || !reflect.DeepEqual(want.Header, resp.Header) {
			t.Fatalf("parsed %d %v, net/http %d %v", resp.StatusCode, resp.Header, want.StatusCode, want.Header)
		}
	})
}
