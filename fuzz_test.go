package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
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

// onceConn serves one fixed byte stream, then EOF, and keeps what is
// written to it.
type onceConn struct {
	wstest.LoopConn
	r   *bytes.Reader
	mu  sync.Mutex // the written bytes may come from a timer's goroutine
	out bytes.Buffer
}

func (o *onceConn) Read(p []byte) (int, error) { return o.r.Read(p) }

func (o *onceConn) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out.Write(p)
}

// written returns a copy of what was written so far.
func (o *onceConn) written() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.out.Bytes())
}

// fuzzConn returns a connection reading data as the reference reader
// does (refRead): a client's if client is set, with a read limit of
// refLimit and, if compress is set, permessage-deflate with context
// takeover.
func fuzzConn(data []byte, client, compress bool) (*Conn, *onceConn) {
	var dp *deflateParams
	// CloseTimeout bounds how long a close frame handed to a goroutine
	// may take to go out: long enough for a loaded machine to write it.
	opts := &ConnOptions{ReadLimit: refLimit, CloseTimeout: 5 * time.Second}
	if compress {
		dp = &deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}
		opts.Compression.Mode = CompressionContextTakeover
	}
	nc := &onceConn{r: bytes.NewReader(data)}
	return newConn(nc, client, opts, "", nil, dp), nc
}

// FuzzReadPath reads arbitrary bytes with a connection in both roles,
// with and without compression, alternating Read and Reader, and compares
// what it delivers with the reference reader (refRead, written from RFC
// 6455 and RFC 7692):
//
//   - the messages delivered are the reference's, of the same type, each
//     payload the unmasked (and inflated) concatenation of its frames;
//   - reading ends as the reference says: the peer's close code, 1006
//     when the stream ends without a close frame, or our failure with the
//     code the RFC asks for (1002 for a broken frame rule, 1007 for
//     invalid UTF-8 or deflate data, 1009 past the read limit);
//   - what the connection writes meanwhile is frames it may send: masked
//     by a client only, pongs echoing pings received, and a close frame,
//     last, carrying the code of our failure, or answering the peer's;
//     the last ping before the peer's close or the stream's end is
//     answered.
//
// Nothing may panic or hang.
func FuzzReadPath(f *testing.F) {
	for _, s := range readPathSeeds(f) {
		f.Add(s.data, s.client)
	}
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		for _, compress := range []bool{false, true} {
			want := refRead(data, client, compress)
			got, written := readToEnd(t, data, client, compress)
			checkAgainstRef(t, fmt.Sprintf("compress=%v", compress), got, want)
			checkWritten(t, written, client, got, want)
		}
	})
}

// readSeed is a stream for the read path's fuzz targets, read by a client
// if client is set.
type readSeed struct {
	data   []byte
	client bool
}

// readPathSeeds returns streams that reach each of the reference's ends:
// messages, then the peer's close, the stream's end, or a failure for
// each rule.
func readPathSeeds(tb testing.TB) []readSeed {
	m := func(fin bool, rsv byte, op opcode, p []byte) []byte { return frame(fin, rsv, op, true, p) }  // a client's frame
	u := func(fin bool, rsv byte, op opcode, p []byte) []byte { return frame(fin, rsv, op, false, p) } // a server's
	seeds := []readSeed{
		{data: []byte{0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1}},
		{data: m(false, 0, opText, []byte("He"))},
		{data: cat(u(false, 0, opText, []byte("He")), u(true, 0, opContinuation, []byte("llo"))), client: true},
		{data: cat(m(true, 0, opText, []byte("a")), m(true, 0, opClose, closePayload(1000, "bye")), m(true, 0, opText, []byte("after")))},
		{data: u(true, 0, opPing, []byte("p")), client: true},
		{data: cat(m(true, 0, opPing, []byte("1")), m(true, 0, opPing, []byte("2")), m(true, 0, opClose, nil))},
		{data: cat(u(false, 0, opText, []byte("\xc3")), u(true, 0, opPing, nil), u(true, 0, opContinuation, []byte("\xa9"))), client: true},
		{data: m(true, 0, opText, []byte("\xf0\x9f"))},                                        // cut inside a character: 1006
		{data: m(true, 0, opText, []byte("a\xff"))[:8]},                                       // invalid before the cut: 1007
		{data: m(true, 0, opText, []byte("\xed\xa0\x80"))},                                    // a surrogate
		{data: cat(m(false, 0, opText, []byte("\xe2\x82")), m(true, 0, opContinuation, nil))}, // ends inside a character
		{data: m(true, 0, opBinary, make([]byte, refLimit+1))[:20]},                           // 1009 from the header
		{data: cat(m(false, 0, opBinary, make([]byte, refLimit)), m(true, 0, opContinuation, []byte{1}))},
		{data: m(true, 0, opcode(3), nil)},
		{data: m(true, 0x20, opBinary, nil)},
		{data: u(true, 0, opBinary, []byte("x"))},                         // unmasked to a server
		{data: m(true, 0, opBinary, []byte("x")), client: true},           // masked to a client
		{data: m(false, 0, opPing, nil)},                                  // fragmented control frame
		{data: m(true, 0, opPing, make([]byte, 126))},                     // control frame too long
		{data: m(true, 0, opContinuation, []byte("x"))},                   // nothing to continue
		{data: cat(m(false, 0, opText, nil), m(true, 0, opText, nil))},    // a message inside a message
		{data: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}}, // 64-bit length with its top bit
		{data: m(true, 0, opClose, []byte{3})},                            // one-byte close payload
		{data: m(true, 0, opClose, closePayload(1005, ""))},
		{data: m(true, 0, opClose, closePayload(4999, "\xc3("))},
		{data: m(true, 0, opClose, closePayload(1000, "bye"))[:6]},
	}
	return append(seeds, compressedSeeds(tb)...)
}

// compressedSeeds returns streams of compressed messages, valid and not.
func compressedSeeds(tb testing.TB) []readSeed {
	m := func(fin bool, rsv byte, op opcode, p []byte) []byte { return frame(fin, rsv, op, true, p) }
	hello := compressedFragments(tb, []byte("Hello"))[0]
	parts := compressedFragments(tb, []byte("héllo "), []byte("wörld"))
	again := compressedFragments(tb, []byte("Hello"), []byte("Hello"))
	bomb := compressedFragments(tb, make([]byte, refLimit+1))[0]
	return []readSeed{
		{data: m(true, bitRsv1, opBinary, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})},
		{data: frame(true, bitRsv1, opText, false, hello), client: true},
		{data: cat(m(false, bitRsv1, opText, parts[0]), m(true, 0, opPing, []byte("p")), m(true, 0, opContinuation, parts[1]))},
		{data: cat(m(true, bitRsv1, opText, again[0]), m(true, bitRsv1, opText, again[1]))}, // the second refers to the first
		{data: cat(m(true, bitRsv1, opText, hello), m(true, 0, opText, []byte("plain")))},
		{data: m(true, bitRsv1, opText, compressedFragments(tb, []byte("a\xffb"))[0])},
		{data: m(true, bitRsv1, opBinary, []byte{0xff, 0xff})},                                 // block type 3
		{data: m(true, bitRsv1, opBinary, append(bytes.Clone(hello), 1, 0, 0, 0xff, 0xff, 0))}, // data after the final block
		{data: m(true, bitRsv1, opBinary, bomb)},
		{data: m(false, bitRsv1, opBinary, hello)[:10]},
		{data: cat(m(false, bitRsv1, opBinary, hello), m(true, bitRsv1, opContinuation, nil))}, // RSV1 on a continuation
	}
}

// cat joins frames into a stream.
func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// readOutcome is what a connection made of a stream.
type readOutcome struct {
	msgs  []refMsg
	end   refEnd
	ended bool // false: reading goes on (a Poller's loop waits for more)
}

// readToEnd reads data with a connection (fuzzConn) until a read fails,
// with Read and Reader in turn, and returns what it read and wrote.
func readToEnd(t *testing.T, data []byte, client, compress bool) (readOutcome, []byte) {
	c, nc := fuzzConn(data, client, compress)
	// Past CloseTimeout, which ends every wait of a closing connection.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got readOutcome
	for i := 0; !got.ended; i++ {
		var typ MessageType
		var msg []byte
		var err error
		if i%2 == 0 {
			typ, msg, err = c.Read(ctx)
		} else {
			var r io.Reader
			if typ, r, err = c.Reader(ctx); err == nil {
				msg, err = io.ReadAll(r)
			}
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatal("read hung")
		case err != nil:
			got.end, got.ended = readEndOf(t, err), true
		default:
			got.msgs = append(got.msgs, refMsg{typ: typ, payload: msg})
		}
	}
	// The end of reading ends the connection once our close frame, if
	// any, is out: written by a goroutine, as this net.Conn has no
	// non-blocking write. Wait for it, so that it is in what was written.
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the connection did not end after reading did")
	}
	return got, nc.written()
}

// readEndOf classifies the error that ended reading.
func readEndOf(t *testing.T, err error) refEnd {
	var perr *ProtocolError
	if errors.As(err, &perr) {
		return refEnd{failed: true, code: perr.Code}
	}
	code := CloseStatus(err)
	if code < 0 {
		t.Fatalf("reading ended with %v, neither a close status nor a protocol error", err)
	}
	return refEnd{code: code}
}

// checkAgainstRef compares what a connection made of a stream with the
// reference's expectations.
func checkAgainstRef(t *testing.T, who string, got readOutcome, want refResult) {
	t.Helper()
	for i, m := range got.msgs {
		if i >= len(want.msgs) {
			t.Fatalf("%s: message %d delivered (%d bytes); the reference delivers %d, then ends with one of %v", who, i, len(m.payload), len(want.msgs), want.ends)
		}
		if w := want.msgs[i]; m.typ != w.typ || !bytes.Equal(m.payload, w.payload) {
			t.Fatalf("%s: message %d is %v %q, the reference's %v %q", who, i, m.typ, m.payload, w.typ, w.payload)
		}
	}
	refused := refEnd{failed: true, code: StatusInvalidFramePayloadData}
	ends := want.ends
	if n := len(got.msgs); n < len(want.msgs) {
		// Only a message whose deflate data no sender makes may be
		// missing, refused by the inflater.
		if !want.msgs[n].orFail {
			t.Fatalf("%s: %d messages delivered, the reference delivers %d", who, n, len(want.msgs))
		}
		ends = []refEnd{refused}
	}
	switch {
	case !got.ended && !slices.Contains(ends, refAbnormal):
		t.Fatalf("%s: still reading, but the stream ends with one of %v", who, ends)
	case !got.ended || slices.Contains(ends, got.end):
	case len(got.msgs) == len(want.msgs) && want.mayAlso != nil && slices.Contains(want.mayAlso(), got.end):
	default:
		t.Fatalf("%s: %v, the reference ends with one of %v", who, got.end, ends)
	}
}

// checkWritten checks the frames a connection wrote while it read a
// stream (RFC 6455: masking 5.1, pongs 5.5.3, the close frame 5.5.1 and
// 7.1.7).
func checkWritten(t *testing.T, out []byte, client bool, got readOutcome, want refResult) {
	t.Helper()
	var pongs [][]byte
	var closing []byte
	for len(out) > 0 {
		f, ok := refNextFrame(out)
		switch {
		case !ok || uint64(len(f.payload)) != f.length:
			t.Fatalf("wrote a cut frame: % x", out)
		case f.masked != client || !f.fin || f.rsv != 0:
			t.Fatalf("wrote a frame with masked=%v fin=%v rsv=%#x", f.masked, f.fin, f.rsv)
		case closing != nil:
			t.Fatalf("wrote opcode %#x after the close frame", f.op)
		case f.op == 0xa:
			pongs = append(pongs, f.payload)
		case f.op == 0x8:
			closing = f.payload
		default:
			t.Fatalf("wrote opcode %#x while reading", f.op)
		}
		out = out[f.hlen+len(f.payload):]
	}
	if !isSubsequence(pongs, want.pings) {
		t.Fatalf("pongs %q do not answer the pings %q", pongs, want.pings)
	}
	checkCloseWritten(t, closing, got)
	if got.ended && !got.end.failed && len(want.pings) > 0 && len(got.msgs) == len(want.msgs) {
		if len(pongs) == 0 || !bytes.Equal(pongs[len(pongs)-1], want.pings[len(want.pings)-1]) {
			t.Fatalf("the last ping, %q, is not answered (pongs %q)", want.pings[len(want.pings)-1], pongs)
		}
	}
}

// checkCloseWritten checks the close frame written, payload p (nil if
// none), against how reading ended.
func checkCloseWritten(t *testing.T, p []byte, got readOutcome) {
	t.Helper()
	switch {
	case !got.ended || got.end == refAbnormal:
		return // no close frame is owed
	case p == nil:
		t.Fatalf("%v, but no close frame was written", got.end)
	case len(p) == 1 || len(p) >= 2 && (!sendableCode(binary.BigEndian.Uint16(p)) || !utf8.Valid(p[2:])):
		t.Fatalf("wrote the close payload % x", p)
	case got.end.failed && (len(p) < 2 || StatusCode(binary.BigEndian.Uint16(p)) != got.end.code):
		t.Fatalf("failed with %d, but the close frame says % x", int(got.end.code), p)
	}
}

// isSubsequence reports whether sub is s with some elements left out.
func isSubsequence(sub, s [][]byte) bool {
	for _, x := range sub {
		i := slices.IndexFunc(s, func(y []byte) bool { return bytes.Equal(x, y) })
		if i < 0 {
			return false
		}
		s = s[i+1:]
	}
	return true
}

// FuzzAcceptRequest hands Accept any request net/http reads, for a server
// that speaks the subprotocols "b" and "a", in that order, and offers
// compression, and checks the answer against RFC 6455, section 4, and
// Accept's godoc:
//
//   - a request taken has none of the faults acceptFaults finds (4.2.1:
//     GET, HTTP/1.1 or higher, the Upgrade and Connection tokens, one
//     Sec-WebSocket-Key of 16 bytes in base64, one Sec-WebSocket-Version
//     of 13; and Accept's own rules: no body, which would pass for
//     frames, and, by its godoc, no cross-origin Origin and a
//     subprotocol offer of tokens);
//   - it is answered 101 with Upgrade: websocket, Connection: Upgrade and
//     the Sec-WebSocket-Accept of its key (computed here, 4.2.2), the
//     subprotocol the godoc chooses, which is the Conn's, and an
//     extension only if it was offered, which the Conn then uses;
//   - a request with faults is refused, with the status of one of them
//     (400, 403, 405 with Allow: GET, 426 with Sec-WebSocket-Version: 13,
//     as 4.4 asks), which the HandshakeError carries;
//   - a request without faults is taken, unless it offers extensions:
//     their negotiation, which may refuse a malformed offer with 400, is
//     FuzzNegotiate's.
func FuzzAcceptRequest(f *testing.F) {
	for _, raw := range acceptRequestSeeds() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		opts := &AcceptOptions{
			Subprotocols: []string{"b", "a"},
			ConnOptions:  ConnOptions{Compression: CompressionOptions{Mode: CompressionContextTakeover}},
		}
		w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder()}
		c, err := Accept(w, req, opts)
		faults := acceptFaults(req)
		_, offersExtensions := req.Header["Sec-Websocket-Extensions"]
		if err != nil {
			checkRefusal(t, w, err, faults, offersExtensions)
			return
		}
		defer c.CloseNow()
		if len(faults) > 0 {
			t.Fatalf("accepted a request with faults %v", faults)
		}
		checkSwitching(t, &w.out, req, c)
	})
}

// acceptRequestSeeds returns requests that reach each check of Accept.
func acceptRequestSeeds() []string {
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	const ok = "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "Sec-WebSocket-Version: 13\r\n"
	return []string{
		"GET /ws HTTP/1.1\r\n" + ok + "\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" + key + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: http://a\r\nSec-WebSocket-Protocol: a, b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Version: 8\r\n\r\n",
		// Once accepted: strings.TrimSpace took U+00A0 for white space.
		"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "Sec-WebSocket-Version: 13\u00a0\r\n\r\n",
		"GET / HTTP/1.2\r\nhost: a\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n" + key + "sec-websocket-version:  13 \r\nSec-WebSocket-Protocol: x,,a\r\nSec-WebSocket-Protocol: y\r\n\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Origin: https://A:443\r\n\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Origin: https://evil\r\n\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Origin: http://a\r\nOrigin: http://a\r\n\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Origin: null\r\n\r\n",
		"POST / HTTP/1.1\r\n" + ok + "\r\n",
		"GET / HTTP/1.0\r\n" + ok + "\r\n",
		"GET / HTTP/1.1\r\n" + strings.Replace(ok, "websocket", "h2c", 1) + "\r\n",
		"GET / HTTP/1.1\r\n" + strings.Replace(ok, "Connection: Upgrade", "Connection: keep-alive", 1) + "\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Content-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\n" + ok + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\n" + strings.Replace(ok, ": 13", ": 8", 1) + "\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Sec-WebSocket-Version: 13\r\n\r\n",
		"GET / HTTP/1.1\r\n" + strings.Replace(ok, "Sec-WebSocket-Version: 13\r\n", "", 1) + "\r\n",
		"GET / HTTP/1.1\r\n" + strings.Replace(ok, "bm9uY2U=", "bm9uY2", 1) + "\r\n",
		"GET / HTTP/1.1\r\n" + ok + key + "\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Sec-WebSocket-Protocol: a b\r\n\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Sec-WebSocket-Extensions: permessage-deflate; x=\"\r\n\r\n",
		"GET / HTTP/1.1\r\n" + ok + "Sec-WebSocket-Extensions: foo, permessage-deflate; server_no_context_takeover\r\n\r\n",
	}
}

// acceptFault is a reason to refuse a request, and the status it calls for.
type acceptFault struct {
	status int
	why    string
}

// acceptFaults returns what is wrong with an HTTP/1 opening handshake, by
// RFC 6455, section 4.2.1, and Accept's rules. It leaves out the Host
// field, which net/http's server requires before any handler runs, and
// the extensions offered, whose negotiation FuzzNegotiate checks.
func acceptFaults(r *http.Request) []acceptFault {
	var faults []acceptFault
	add := func(status int, why string) { faults = append(faults, acceptFault{status, why}) }
	h := r.Header
	if r.Method != http.MethodGet {
		add(http.StatusMethodNotAllowed, "not GET")
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		add(http.StatusBadRequest, "not HTTP/1.1")
	}
	if !rfcListHas(h["Upgrade"], "websocket") || !rfcListHas(h["Connection"], "upgrade") {
		add(http.StatusBadRequest, "no Upgrade: websocket or Connection: upgrade")
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		add(http.StatusBadRequest, "a body") // Accept's rule: what follows the head would pass for frames
	}
	switch v := h["Sec-Websocket-Version"]; {
	case len(v) != 1:
		add(http.StatusBadRequest, "not one Sec-WebSocket-Version")
	case v[0] != "13":
		add(http.StatusUpgradeRequired, "version not 13")
	}
	if k := h["Sec-Websocket-Key"]; len(k) != 1 || !rfcKey(k[0]) {
		add(http.StatusBadRequest, "not one key of 16 bytes")
	}
	for _, p := range rfcList(h["Sec-Websocket-Protocol"]) {
		if !rfcToken(p) {
			add(http.StatusBadRequest, "a subprotocol that is not a token")
		}
	}
	if o := h["Origin"]; len(o) > 0 && !sameOrigin(o, r.Host) {
		add(http.StatusForbidden, "a cross-origin Origin")
	}
	return faults
}

// rfcList returns the elements of a comma-separated list field (RFC
// 9110, section 5.6.1): split at commas, trimmed of spaces and tabs, the
// empty ones left out.
func rfcList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if e = strings.Trim(e, " \t"); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// rfcListHas reports whether the list holds token, compared ASCII
// case-insensitively, as RFC 6455 compares its tokens.
func rfcListHas(values []string, token string) bool {
	return slices.ContainsFunc(rfcList(values), func(e string) bool { return asciiEqualFold(e, token) })
}

func asciiEqualFold(a, b string) bool {
	lower := func(c byte) byte {
		if 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// rfcToken reports whether s is a token of RFC 9110, section 5.6.2.
func rfcToken(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// rfcKey reports whether a Sec-WebSocket-Key is 16 bytes in base64.
func rfcKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16 && !strings.ContainsAny(k, "\r\n")
}

// sameOrigin reports whether an Origin passes with no pattern and no
// CheckOrigin, by the godoc: one absolute URL with a host, an http or
// https page on the request's own host, the scheme's default port
// written out or not on either side.
func sameOrigin(origins []string, host string) bool {
	if len(origins) != 1 {
		return false
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	port := map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
	return strings.EqualFold(strings.TrimSuffix(u.Host, port), strings.TrimSuffix(host, port))
}

// checkRefusal checks a refused handshake's answer.
func checkRefusal(t *testing.T, w *hijackRecorder, err error, faults []acceptFault, offersExtensions bool) {
	t.Helper()
	var herr *HandshakeError
	if !errors.As(err, &herr) || herr.Status != w.Code {
		t.Fatalf("refused with %v, answered %d", err, w.Code)
	}
	ok := slices.ContainsFunc(faults, func(f acceptFault) bool { return f.status == w.Code })
	if !ok && !(offersExtensions && w.Code == http.StatusBadRequest) {
		t.Fatalf("refused with %d (%v); the request's faults are %v", w.Code, err, faults)
	}
	switch {
	case w.out.Len() > 0:
		t.Fatalf("refused, but wrote %q after a hijack", w.out.Bytes())
	case w.Code == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodGet:
		t.Fatalf("405 with Allow %q", w.Header().Get("Allow"))
	case w.Code == http.StatusUpgradeRequired && w.Header().Get("Sec-WebSocket-Version") != "13":
		t.Fatalf("426 with Sec-WebSocket-Version %q", w.Header().Get("Sec-WebSocket-Version"))
	}
}

// checkSwitching checks the 101 written for an accepted request, and the
// connection made (RFC 6455, section 4.2.2).
func checkSwitching(t *testing.T, out io.Reader, req *http.Request, c *Conn) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(out), req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("accepted, but answered %v (%v)", resp, err)
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	h := resp.Header
	switch {
	case len(h["Upgrade"]) != 1 || !asciiEqualFold(h.Get("Upgrade"), "websocket"):
		t.Fatalf("Upgrade %q", h["Upgrade"])
	case !rfcListHas(h["Connection"], "upgrade"):
		t.Fatalf("Connection %q", h["Connection"])
	case h.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		t.Fatalf("Sec-WebSocket-Accept %q for the key %q", h.Get("Sec-WebSocket-Accept"), req.Header.Get("Sec-WebSocket-Key"))
	}
	// The godoc: the first of the server's subprotocols the client offers.
	offered := rfcList(req.Header["Sec-Websocket-Protocol"])
	want := ""
	if i := slices.IndexFunc([]string{"b", "a"}, func(p string) bool { return slices.Contains(offered, p) }); i >= 0 {
		want = []string{"b", "a"}[i]
	}
	if got := h.Get("Sec-WebSocket-Protocol"); got != want || c.Subprotocol() != want || len(h["Sec-Websocket-Protocol"]) > 1 {
		t.Fatalf("subprotocol %q (Conn %q), the client offered %q", h["Sec-Websocket-Protocol"], c.Subprotocol(), offered)
	}
	// RFC 7692, section 5: only an extension offered, used if answered.
	ext := h.Get("Sec-WebSocket-Extensions")
	name, _, _ := strings.Cut(ext, ";")
	switch {
	case ext != "" && (strings.TrimSpace(name) != "permessage-deflate" || !offersDeflate(req.Header)):
		t.Fatalf("answered the extensions %q to the offer %q", ext, req.Header["Sec-Websocket-Extensions"])
	case (ext != "") != (c.deflate != nil):
		t.Fatalf("answered the extensions %q, but the Conn compresses: %v", ext, c.deflate != nil)
	}
}

// offersDeflate reports whether a request offers permessage-deflate.
func offersDeflate(h http.Header) bool {
	return slices.ContainsFunc(rfcList(h["Sec-Websocket-Extensions"]), func(e string) bool {
		name, _, _ := strings.Cut(e, ";")
		return asciiEqualFold(strings.Trim(name, " \t"), "permessage-deflate")
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
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websoc\u212aet\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
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
// field name has token, in any ASCII case, with only spaces and tabs
// around it (RFC 9110, section 5.6): not Unicode's folding or spaces.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.Trim(t, " \t"); !strings.ContainsFunc(t, nonASCII) && strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}

func nonASCII(r rune) bool { return r >= utf8.RuneSelf }

// FuzzSwitchingResponse reads a server's answer to the opening handshake
// as Dial does (readResponse: the in-place parser for a plain 101,
// net/http for anything else), with the bytes coming a few at a time, and
// checks it against net/http reading the same bytes, and the client's
// verdict against RFC 6455, section 4.1:
//
//   - readResponse reads what net/http reads: status, protocol, header;
//   - it loses nothing after the head: for a 101 the bytes that follow
//     (frames the server sent right behind it) are rest and what is still
//     unread, exactly; for another status they are the body;
//   - a response the client takes (checkServerResponse) is a 101 over
//     HTTP/1.1 with one Upgrade field of "websocket" and a Connection
//     token "upgrade", both ASCII case-insensitive, the Sec-WebSocket-Accept
//     of the key sent (computed here), a subprotocol the client offered
//     and an extension it offered, if any.
func FuzzSwitchingResponse(f *testing.F) {
	for _, raw := range switchingResponseSeeds() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "ws", Host: "a", Path: "/"}}
		sr := strings.NewReader(raw)
		br := bufio.NewReader(sr)
		want, werr := http.ReadResponse(br, req)
		if werr == nil && want.StatusCode/100 == 1 && want.StatusCode != http.StatusSwitchingProtocols {
			return // an interim response: TestDialSkipsInterimResponses
		}
		nc := &chunkConn{chunkReader: chunkReader{s: raw, n: 1 + len(raw)%13}}
		resp, rest, err := readResponse(nc, req, make([]byte, 64), 1<<20)
		switch {
		case err != nil && werr == nil:
			t.Fatalf("readResponse: %v; net/http reads %d %v", err, want.StatusCode, want.Header)
		case err != nil:
			return
		case werr != nil:
			t.Fatalf("read %d %v, a head net/http refuses: %v", resp.StatusCode, resp.Header, werr)
		}
		// The in-place parser trims the reason phrase, which means nothing
		// (RFC 9112, section 4: a client should ignore it).
		if resp.StatusCode != want.StatusCode || strings.TrimSpace(resp.Status) != strings.TrimSpace(want.Status) || resp.Proto != want.Proto ||
			resp.ProtoMajor != want.ProtoMajor || resp.ProtoMinor != want.ProtoMinor || !reflect.DeepEqual(resp.Header, want.Header) {
			t.Fatalf("read %q %q %v, net/http %q %q %v", resp.Proto, resp.Status, resp.Header, want.Proto, want.Status, want.Header)
		}
		checkAfterHead(t, resp, rest, nc, want, raw[len(raw)-sr.Len()-br.Buffered():])
		checkClientVerdict(t, resp)
	})
}

// switchingResponseSeeds returns answers that take the in-place parser's
// path and net/http's, with and without bytes after the head.
func switchingResponseSeeds() []string {
	const ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	return []string{
		ok + "\r\n",
		ok + "\r\n\x81\x05hello\x88\x00",
		// Once taken for "websocket": Unicode case folding and trimming.
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websoc\u212aet\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\u00a0\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nupgrade:websocket\r\nX-A: 1\r\nX-A: 2\r\nSet-Cookie: a=b\r\n\r\n",
		"HTTP/1.1 101\r\nUpgrade: websocket\r\n folded\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n\n\x81\x00",
		ok + "Sec-WebSocket-Protocol: b\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n\r\n",
		ok + "Sec-WebSocket-Protocol: c\r\n\r\n",
		ok + "Sec-WebSocket-Extensions: x-foo\r\n\r\n",
		strings.Replace(ok, "Upgrade: websocket", "Upgrade: WebSocket, h2c", 1) + "\r\n",
		strings.Replace(ok, "Connection: Upgrade", "Connection: keep-alive, upgrade", 1) + "\r\n",
		strings.Replace(ok, "xOo=", "xOo", 1) + "\r\n",
		ok + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		strings.Replace(ok, "HTTP/1.1", "HTTP/1.0", 1) + "\r\n",
		"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
		"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nno!\r\n0\r\n\r\n",
		"HTTP/1.1 101 \xe2\xa3\x90\xb6\r\n\r\n",
	}
}

// chunkConn is a net.Conn whose reads return a string a few bytes at a
// time.
type chunkConn struct {
	wstest.LoopConn
	chunkReader
}

func (c *chunkConn) Read(p []byte) (int, error) { return c.chunkReader.Read(p) }

// checkAfterHead checks that what follows the head of resp, read from nc
// by readResponse, is after, what net/http leaves of the same bytes: a
// 101's rest and the bytes still unread, another status's body.
func checkAfterHead(t *testing.T, resp *http.Response, rest []byte, nc *chunkConn, want *http.Response, after string) {
	t.Helper()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if got := string(rest) + nc.s; got != after {
			t.Fatalf("after the 101's head: %q, net/http leaves %q", got, after)
		}
		return
	}
	body, err := io.ReadAll(resp.Body)
	wbody, werr := io.ReadAll(want.Body)
	if !bytes.Equal(body, wbody) || (err == nil) != (werr == nil) {
		t.Fatalf("body %q (%v), net/http %q (%v)", body, err, wbody, werr)
	}
}

// checkClientVerdict checks that a response the client takes, to a request
// with the key of RFC 6455's example offering the subprotocols "a" and "b"
// and compression, is one RFC 6455, section 4.1, lets it take.
func checkClientVerdict(t *testing.T, resp *http.Response) {
	t.Helper()
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	opts := &DialOptions{
		Subprotocols: []string{"a", "b"},
		ConnOptions:  ConnOptions{Compression: CompressionOptions{Mode: CompressionContextTakeover}},
	}
	proto, _, herr := checkServerResponse(resp, key, opts)
	if herr != nil {
		return
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	h := resp.Header
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols || resp.ProtoMajor != 1 || resp.ProtoMinor < 1:
		t.Fatalf("took %s %d", resp.Proto, resp.StatusCode)
	case len(h["Upgrade"]) != 1 || !asciiEqualFold(h["Upgrade"][0], "websocket"):
		t.Fatalf("took Upgrade %q", h["Upgrade"])
	case !rfcListHas(h["Connection"], "upgrade"):
		t.Fatalf("took Connection %q", h["Connection"])
	case len(h["Sec-Websocket-Accept"]) != 1 || h["Sec-Websocket-Accept"][0] != base64.StdEncoding.EncodeToString(sum[:]):
		t.Fatalf("took Sec-WebSocket-Accept %q", h["Sec-Websocket-Accept"])
	case len(h["Sec-Websocket-Protocol"]) > 1 || h.Get("Sec-WebSocket-Protocol") != proto || proto != "" && proto != "a" && proto != "b":
		t.Fatalf("took the subprotocol %q as %q", h["Sec-Websocket-Protocol"], proto)
	}
	for _, e := range rfcList(h["Sec-Websocket-Extensions"]) {
		if name, _, _ := strings.Cut(e, ";"); !asciiEqualFold(strings.Trim(name, " \t"), "permessage-deflate") {
			t.Fatalf("took the extension %q, which was not offered", e)
		}
	}
}
