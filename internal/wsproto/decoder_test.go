package wsproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// First-byte bits of test frames.
const (
	fin    = BitFin
	rsv1   = BitRsv1
	rsv2   = BitRsv2
	rsv3   = BitRsv3
	oCont  = byte(OpContinuation)
	oText  = byte(OpText)
	oBin   = byte(OpBinary)
	oClose = byte(OpClose)
	oPing  = byte(OpPing)
	oPong  = byte(OpPong)
)

// testKey is the masking key of every masked test frame, in wire order
// (the example key of RFC 6455, section 5.7).
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame is a test frame before it is encoded for a decoder's role.
type frame struct {
	b0      byte   // FIN, RSV and opcode bits
	length  uint64 // the declared payload length
	payload string // the payload bytes that follow the header
	mask    int8   // 0: masked when the decoder is a server; 1: masked; -1: unmasked
	raw     []byte // when set, bytes written as they are instead of a frame
}

// fr is a frame with payload p.
func fr(b0 byte, p string) frame { return frame{b0: b0, length: uint64(len(p)), payload: p} }

// hdr is the header of a frame of n payload bytes, with no payload after it.
func hdr(b0 byte, n uint64) frame { return frame{b0: b0, length: n} }

// part is a frame of n payload bytes of which only p follows the header.
func part(b0 byte, n uint64, p string) frame { return frame{b0: b0, length: n, payload: p} }

// raw is bytes that are not a frame.
func raw(b ...byte) frame { return frame{raw: b} }

// closeFr is a close frame with code and reason.
func closeFr(code uint16, reason string) frame {
	return fr(fin|oClose, string(binary.BigEndian.AppendUint16(nil, code))+reason)
}

// masked returns f masked (m) or unmasked whatever the decoder's role.
func (f frame) masked(m bool) frame {
	f.mask = -1
	if m {
		f.mask = 1
	}
	return f
}

// encode writes frames as the peer of a decoder sends them: masked with
// testKey when the decoder is a server (client false). It is written
// apart from PutHeader and Mask so that the tests do not trust them.
func encode(client bool, frames ...frame) []byte {
	var b []byte
	for _, f := range frames {
		if f.raw != nil {
			b = append(b, f.raw...)
			continue
		}
		masked := !client
		if f.mask != 0 {
			masked = f.mask > 0
		}
		var m byte
		if masked {
			m = 0x80
		}
		b = append(b, f.b0)
		switch n := f.length; {
		case n <= 125:
			b = append(b, m|byte(n))
		case n <= 0xffff:
			b = append(b, m|126)
			b = binary.BigEndian.AppendUint16(b, uint16(n))
		default:
			b = append(b, m|127)
			b = binary.BigEndian.AppendUint64(b, n)
		}
		p := []byte(f.payload)
		if masked {
			b = append(b, testKey[:]...)
			for i := range p {
				p[i] ^= testKey[i%4]
			}
		}
		b = append(b, p...)
	}
	return b
}

// outcome is what feeding an input to a Decoder gave.
type outcome struct {
	events  []Event // payloads copied
	err     error
	offered int    // how much of the input had been offered when err came
	state   string // the decoder's observable state at the end
}

// decodeInput runs a new Decoder for cfg, with read limit limit, over in
// the way a driver does: it offers in up to each cut in turn, offering
// more only when Decode asks for it (Kind None with n == 0), and calling
// again otherwise. It stops at an error, or when all of in was offered
// and Decode asks for more. cuts are non-decreasing offsets into in;
// len(in) is implied at the end.
//
// Along the way it checks the driver contract: Decode never consumes more
// than it was given; it asks for more only when the bytes offered hold no
// complete unit (decoding the whole rest of in at that point either
// consumes past them, fails, or also asks for more); an error is sticky.
func decodeInput(t testing.TB, cfg Config, limit int64, in []byte, cuts []int) outcome {
	t.Helper()
	in = bytes.Clone(in) // Decode unmasks in place
	d := NewDecoder(cfg)
	d.Limit = limit
	var o outcome
	pos, avail := 0, 0
	cuts = append(slices.Clip(cuts), len(in))
	for calls := 0; ; calls++ {
		if calls > 4*len(in)+len(cuts)+8 {
			t.Fatalf("%d calls to Decode for %d bytes", calls, len(in))
		}
		chunk := in[pos:avail]
		n, ev, err := d.Decode(chunk)
		if n < 0 || n > len(chunk) {
			t.Fatalf("Decode of %d bytes at offset %d consumed %d", len(chunk), pos, n)
		}
		if err != nil {
			o.err, o.offered = err, avail
			checkSticky(t, &d, in[pos:], err)
			break
		}
		pos += n
		if ev.Kind == None && n == 0 {
			if len(cuts) == 0 {
				break
			}
			checkNeedsMore(t, d, in[pos:], len(chunk))
			avail, cuts = cuts[0], cuts[1:]
			continue
		}
		if ev.Kind != None {
			ev.Payload = bytes.Clone(ev.Payload)
			o.events = append(o.events, ev)
		}
	}
	o.state = decoderState(d)
	return o
}

// checkNeedsMore checks that a Decoder that asked for more bytes after
// being offered the first offered bytes of rest (the whole rest of the
// input) could not have done anything with them: decoding all of rest
// fails, consumes more than offered, or also asks for more. No unit the
// Decoder waits for is longer than MaxControlFrame, so that much more
// than was offered stands for all of rest.
func checkNeedsMore(t testing.TB, d Decoder, rest []byte, offered int) {
	t.Helper()
	rest = rest[:min(len(rest), offered+MaxControlFrame)]
	n, ev, err := d.Decode(bytes.Clone(rest))
	if err == nil && n <= offered && !(n == 0 && ev.Kind == None) {
		t.Fatalf("Decode asked for more bytes after %d, but given %d it consumed %d with event %s", offered, len(rest), n, token(ev))
	}
}

// checkSticky checks that a failed Decoder keeps failing with err.
func checkSticky(t testing.TB, d *Decoder, rest []byte, err error) {
	t.Helper()
	for _, b := range [][]byte{nil, bytes.Clone(rest), {0x81, 0x00}} {
		n, ev, err2 := d.Decode(b)
		if n != 0 || ev.Kind != None || err2 != err {
			t.Fatalf("Decode after %v = %d, %s, %v; want 0, none, the same error", err, n, token(ev), err2)
		}
	}
	if d.Err() != err {
		t.Fatalf("Err() = %v after %v", d.Err(), err)
	}
	if err2 := d.Inflated([]byte("x")); err2 != err {
		t.Fatalf("Inflated after %v = %v", err, err2)
	}
}

// decoderState describes what can be seen of d from outside, without
// changing it: whether a message is in progress, the payload left, and
// what it makes of one more zero byte (which tells a closed Decoder and
// a pending UTF-8 sequence apart).
func decoderState(d Decoder) string {
	inMessage, left := d.InMessage(), d.PayloadLeft()
	n, ev, err := d.Decode([]byte{0})
	return fmt.Sprintf("inMessage=%v payloadLeft=%d next zero byte: n=%d %s err=%v", inMessage, left, n, token(ev), err)
}

// merge joins the Data events of a message that follow each other into
// one, so that how an input was split does not show.
func merge(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if k := len(out) - 1; ev.Kind == Data && !ev.First && k >= 0 && out[k].Kind == Data && !out[k].Last {
			out[k].Payload = append(out[k].Payload, ev.Payload...)
			out[k].Last = ev.Last
			continue
		}
		ev.Payload = bytes.Clone(ev.Payload)
		out = append(out, ev)
	}
	return out
}

// token describes an event, e.g. `text first last "hi"` or `close 1000 ""`.
func token(ev Event) string {
	switch ev.Kind {
	case None:
		return "none"
	case Data:
		var flags strings.Builder
		for _, f := range []struct {
			set  bool
			name string
		}{{ev.First, "first"}, {ev.Last, "last"}, {ev.Compressed, "compressed"}} {
			if f.set {
				flags.WriteString(" " + f.name)
			}
		}
		return fmt.Sprintf("%v%s %q", ev.Op, flags.String(), ev.Payload)
	case Ping:
		return fmt.Sprintf("ping %q", ev.Payload)
	case Pong:
		return fmt.Sprintf("pong %q", ev.Payload)
	case Close:
		return fmt.Sprintf("close %d %q", ev.Code, ev.Payload)
	}
	return fmt.Sprintf("kind %d", ev.Kind)
}

// tokens describes events, one token each.
func tokens(evs []Event) []string {
	s := []string{}
	for _, ev := range evs {
		s = append(s, token(ev))
	}
	return s
}

// checkStructure checks that every message has exactly one First event,
// at its start, and one Last event, at its end, with the same Op and
// Compressed throughout, and that events are of a known kind.
func checkStructure(evs []Event) error {
	inMessage := false
	var first Event
	for i, ev := range evs {
		switch ev.Kind {
		case Data:
			switch {
			case ev.First == inMessage:
				return fmt.Errorf("event %d (%s): First is %v inside a message: %v", i, token(ev), ev.First, inMessage)
			case ev.First && ev.Op != OpText && ev.Op != OpBinary:
				return fmt.Errorf("event %d (%s): message opcode %v", i, token(ev), ev.Op)
			case ev.First:
				first = ev
			case ev.Op != first.Op || ev.Compressed != first.Compressed:
				return fmt.Errorf("event %d (%s) in a message that began with %s", i, token(ev), token(first))
			}
			inMessage = !ev.Last
		case Ping, Pong, Close:
		default:
			return fmt.Errorf("event %d: unknown kind %d", i, ev.Kind)
		}
	}
	return nil
}

// errCode returns the close code and cause of an *Error, or 0 and 0.
func errCode(err error) (uint16, Cause) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Cause
	}
	return 0, 0
}

// sameOutcome compares an outcome of feeding an input whole with the
// outcome of feeding it in pieces. They must report the same events, the
// same error and, without an error, end in the same state. When an error
// cuts a message short, the pieces may have brought out more of its
// payload than the whole input did (payload before the bad byte of the
// same frame), so that payload only has to extend the whole's.
func sameOutcome(whole, pieces outcome) error {
	if err := checkStructure(pieces.events); err != nil {
		return err
	}
	if (whole.err == nil) != (pieces.err == nil) {
		return fmt.Errorf("error %v, want %v", pieces.err, whole.err)
	}
	if whole.err != nil {
		var ew, ep *Error
		if !errors.As(whole.err, &ew) || !errors.As(pieces.err, &ep) {
			return fmt.Errorf("errors %v and %v are not both *Error", whole.err, pieces.err)
		}
		if ew.Code != ep.Code || ew.Cause != ep.Cause {
			return fmt.Errorf("error %v (cause %d), want %v (cause %d)", ep, ep.Cause, ew, ew.Cause)
		}
	}
	mw, mp := merge(whole.events), merge(pieces.events)
	if whole.err != nil {
		var tw, tp []byte
		mw, tw = cutOpen(mw)
		mp, tp = cutOpen(mp)
		if !bytes.HasPrefix(tp, tw) {
			return fmt.Errorf("payload %q of the message the error cut short does not extend %q", tp, tw)
		}
	}
	if tw, tp := tokens(mw), tokens(mp); !slices.Equal(tw, tp) {
		return fmt.Errorf("events\n\t%s\nwant\n\t%s", strings.Join(tp, "\n\t"), strings.Join(tw, "\n\t"))
	}
	if whole.err == nil && whole.state != pieces.state {
		return fmt.Errorf("end state %s, want %s", pieces.state, whole.state)
	}
	return nil
}

// cutOpen removes a last merged event that is data of an unfinished
// message and returns its payload.
func cutOpen(evs []Event) ([]Event, []byte) {
	if k := len(evs) - 1; k >= 0 && evs[k].Kind == Data && !evs[k].Last {
		return evs[:k], evs[k].Payload
	}
	return evs, nil
}

// byteCuts returns the cuts that offer in one byte at a time.
func byteCuts(n int) []int {
	cuts := make([]int, n)
	for i := range cuts {
		cuts[i] = i + 1
	}
	return cuts
}

// roles says which end a test case decodes as.
type roles uint8

const (
	bothRoles roles = iota
	serverOnly
	clientOnly
)

func (r roles) each(f func(client bool, name string)) {
	if r != clientOnly {
		f(false, "server")
	}
	if r != serverOnly {
		f(true, "client")
	}
}

type decodeCase struct {
	name  string
	roles roles
	cfg   Config // Compression and SkipUTF8; the role sets Client
	limit int64  // the read limit; 0 means none
	in    []frame
	want  []string // tokens of the merged events
	code  uint16   // the close code of the error; 0 for none
	cause Cause
}

// decodeCases are the rules of RFC 6455, section 5 (and the framing of
// RFC 7692). An input that breaks a rule ends with the first byte that
// breaks it, so the error must come exactly when that byte arrives.
func decodeCases() []decodeCase {
	cases := []decodeCase{
		{
			name:  "server accepts masked frames",
			roles: serverOnly,
			in:    []frame{fr(fin|oText, "hello"), fr(fin|oPing, "p")},
			want:  []string{`text first last "hello"`, `ping "p"`},
		},
		{
			name:  "server rejects unmasked data",
			roles: serverOnly,
			in:    []frame{hdr(fin|oText, 2).masked(false)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "server rejects unmasked control",
			roles: serverOnly,
			in:    []frame{fr(fin|oPing, "").masked(false)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "server rejects unmasked continuation",
			roles: serverOnly,
			in:    []frame{fr(oBin, "a"), hdr(fin|oCont, 1).masked(false)},
			want:  []string{`binary first "a"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "client accepts unmasked frames",
			roles: clientOnly,
			in:    []frame{fr(fin|oText, "hello"), fr(fin|oPong, "p")},
			want:  []string{`text first last "hello"`, `pong "p"`},
		},
		{
			name:  "client rejects masked data",
			roles: clientOnly,
			in:    []frame{hdr(fin|oBin, 3).masked(true)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "client rejects masked control",
			roles: clientOnly,
			in:    []frame{hdr(fin|oClose, 0).masked(true)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV1 without compression",
			in:    []frame{hdr(fin|rsv1|oText, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV2 without compression",
			in:    []frame{hdr(fin|rsv2|oBin, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV3 without compression",
			in:    []frame{hdr(fin|rsv3|oBin, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV1 on control without compression",
			in:    []frame{hdr(fin|rsv1|oPing, 0)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name: "RSV1 with compression marks the message compressed",
			cfg:  Config{Compression: true},
			in:   []frame{fr(fin|rsv1|oText, "\xff\x00"), fr(fin|oBin, "plain")},
			want: []string{`text first last compressed "\xff\x00"`, `binary first last "plain"`},
		},
		{
			name: "compressed message keeps Compressed across fragments",
			cfg:  Config{Compression: true},
			in:   []frame{fr(rsv1|oBin, "ab"), fr(fin|oPing, ""), fr(oCont, "c"), fr(fin|oCont, "")},
			want: []string{`binary first compressed "ab"`, `ping ""`, `binary last compressed "c"`},
		},
		{
			name:  "RSV1 on continuation with compression",
			cfg:   Config{Compression: true},
			in:    []frame{fr(rsv1|oText, "a"), hdr(fin|rsv1|oCont, 1)},
			want:  []string{`text first compressed "a"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV1 on continuation of uncompressed message with compression",
			cfg:   Config{Compression: true},
			in:    []frame{fr(oText, "a"), hdr(fin|rsv1|oCont, 1)},
			want:  []string{`text first "a"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV1 on ping with compression",
			cfg:   Config{Compression: true},
			in:    []frame{hdr(fin|rsv1|oPing, 0)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV1 on close with compression",
			cfg:   Config{Compression: true},
			in:    []frame{hdr(fin|rsv1|oClose, 2)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV2 with compression",
			cfg:   Config{Compression: true},
			in:    []frame{hdr(fin|rsv2|oText, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV3 with compression",
			cfg:   Config{Compression: true},
			in:    []frame{hdr(fin|rsv3|oText, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "RSV1 and RSV2 with compression",
			cfg:   Config{Compression: true},
			in:    []frame{hdr(fin|rsv1|rsv2|oText, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "fragmented ping",
			in:    []frame{hdr(oPing, 0)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "fragmented pong",
			in:    []frame{hdr(oPong, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "fragmented close",
			in:    []frame{hdr(oClose, 2)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name: "ping of 125 bytes",
			in:   []frame{fr(fin|oPing, strings.Repeat("p", 125))},
			want: []string{fmt.Sprintf("ping %q", strings.Repeat("p", 125))},
		},
		{
			name:  "ping of 126 bytes",
			in:    []frame{hdr(fin|oPing, 126)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "close of 126 bytes",
			in:    []frame{hdr(fin|oClose, 126)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "pong with a 64-bit length",
			in:    []frame{hdr(fin|oPong, 1<<16)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			// RFC 6455 5.2 asks the sender for the fewest length bytes and
			// names nothing for a receiver; the value is unambiguous.
			name:  "lengths in more bytes than they need",
			roles: clientOnly,
			in: []frame{
				raw(0x82, 126, 0, 3, 'a', 'b', 'c'),
				raw(0x89, 126, 0, 1, 'p'),
				raw(0x81, 127, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'),
				raw(0x8a, 127, 0, 0, 0, 0, 0, 0, 0, 0),
			},
			want: []string{`binary first last "abc"`, `ping "p"`, `text first last "hi"`, `pong ""`},
		},
		{
			name:  "a control frame's 125 bytes in a 16-bit length",
			roles: clientOnly,
			in:    []frame{raw(append([]byte{0x89, 126, 0, 125}, make([]byte, 125)...)...)},
			want:  []string{`ping "` + strings.Repeat(`\x00`, 125) + `"`},
		},
		{
			name: "control frames inside a fragmented message",
			in:   []frame{fr(oText, "a"), fr(fin|oPing, "1"), fr(oCont, "b"), fr(fin|oPong, "2"), fr(fin|oCont, "c")},
			want: []string{`text first "a"`, `ping "1"`, `text "b"`, `pong "2"`, `text last "c"`},
		},
		{
			name: "close inside a fragmented message",
			in:   []frame{fr(oBin, "a"), closeFr(1000, "")},
			want: []string{`binary first "a"`, `close 1000 ""`},
		},
		{
			name:  "continuation without a message",
			in:    []frame{hdr(fin|oCont, 1)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "continuation after a finished message",
			in:    []frame{fr(oText, "a"), fr(fin|oCont, "b"), hdr(oCont, 0)},
			want:  []string{`text first last "ab"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "text inside a fragmented text message",
			in:    []frame{fr(oText, "a"), hdr(fin|oText, 1)},
			want:  []string{`text first "a"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "binary inside a fragmented text message",
			in:    []frame{fr(oText, "a"), fr(fin|oPing, ""), hdr(oBin, 0)},
			want:  []string{`text first "a"`, `ping ""`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "compressed text inside a fragmented message",
			cfg:   Config{Compression: true},
			in:    []frame{fr(oBin, "a"), hdr(fin|rsv1|oText, 1)},
			want:  []string{`binary first "a"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "64-bit length with the top bit set",
			in:    []frame{hdr(fin|oBin, 1<<63)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "64-bit length of all ones",
			in:    []frame{hdr(fin|oBin, math.MaxUint64)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name: "largest 64-bit length without a limit",
			in:   []frame{hdr(fin|oBin, math.MaxInt64)},
			want: []string{`binary first ""`},
		},
		{
			name:  "largest 64-bit length at a limit of MaxInt64",
			limit: math.MaxInt64,
			in:    []frame{hdr(fin|oBin, math.MaxInt64)},
			want:  []string{`binary first ""`},
		},
		{
			name:  "largest 64-bit length over a limit of MaxInt64-1",
			limit: math.MaxInt64 - 1,
			in:    []frame{hdr(fin|oBin, math.MaxInt64)},
			code:  CloseMessageTooBig,
			cause: CauseTooBig,
		},
		{
			name: "16-bit length",
			in:   []frame{fr(fin|oBin, strings.Repeat("x", 300))},
			want: []string{fmt.Sprintf("binary first last %q", strings.Repeat("x", 300))},
		},
		{
			name: "close without payload",
			in:   []frame{fr(fin|oClose, "")},
			want: []string{`close 1005 ""`},
		},
		{
			name: "close with code and reason",
			in:   []frame{closeFr(1001, "going away, ünïcode")},
			want: []string{`close 1001 "going away, ünïcode"`},
		},
		{
			name: "close with a reason of 123 bytes",
			in:   []frame{closeFr(4000, strings.Repeat("r", MaxCloseReason))},
			want: []string{fmt.Sprintf("close 4000 %q", strings.Repeat("r", MaxCloseReason))},
		},
		{
			name:  "close payload of one byte",
			in:    []frame{fr(fin|oClose, "\x03")},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "close reason not UTF-8",
			in:    []frame{closeFr(1000, "ok\xff")},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name:  "close reason ending inside a UTF-8 sequence",
			in:    []frame{closeFr(1000, "\xe2\x82")},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name: "close reason not UTF-8 with SkipUTF8",
			cfg:  Config{SkipUTF8: true},
			in:   []frame{closeFr(1000, "ok\xff")},
			want: []string{`close 1000 "ok\xff"`},
		},
		{
			name:  "data after close",
			in:    []frame{closeFr(1000, "bye"), raw(fin | oText)},
			want:  []string{`close 1000 "bye"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "ping after close",
			in:    []frame{fr(fin|oClose, ""), raw(fin | oPing)},
			want:  []string{`close 1005 ""`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		},
		{
			name:  "text not UTF-8 fails on a first fragment",
			in:    []frame{fr(oText, "\xff")},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name:  "text not UTF-8 fails on a middle fragment",
			in:    []frame{fr(oText, "ok"), fr(fin|oPing, ""), fr(oCont, "fine\xc0")},
			want:  []string{`text first "ok"`, `ping ""`},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name:  "text not UTF-8 fails before the frame ends",
			in:    []frame{part(fin|oText, 10, "ab\xff")},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name:  "text surrogate fails before the sequence ends",
			in:    []frame{part(fin|oText, 10, "\xed\xa0")},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name:  "text sequence broken across fragments",
			in:    []frame{fr(oText, "\xe2\x82"), fr(fin|oCont, "x")},
			want:  []string{`text first "\xe2\x82"`},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name: "text sequence split across fragments",
			in:   []frame{fr(oText, "\xe2"), fr(oCont, "\x82"), fr(fin|oPing, ""), fr(fin|oCont, "\xac")},
			want: []string{`text first "\xe2\x82"`, `ping ""`, `text last "\xac"`},
		},
		{
			name:  "text ending inside a UTF-8 sequence",
			in:    []frame{fr(fin|oText, "ok\xe2\x82")},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name:  "text ending inside a UTF-8 sequence on an empty final frame",
			in:    []frame{fr(oText, "\xf0\x9f\x8e"), hdr(fin|oCont, 0)},
			want:  []string{`text first "\xf0\x9f\x8e"`},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name: "text not UTF-8 with SkipUTF8",
			cfg:  Config{SkipUTF8: true},
			in:   []frame{fr(fin|oText, "\xff\xe2")},
			want: []string{`text first last "\xff\xe2"`},
		},
		{
			name: "binary not UTF-8",
			in:   []frame{fr(fin|oBin, "\xff\xe2")},
			want: []string{`binary first last "\xff\xe2"`},
		},
		{
			name: "compressed text is not checked on the wire",
			cfg:  Config{Compression: true},
			in:   []frame{fr(fin|rsv1|oText, "\xff\xe2")},
			want: []string{`text first last compressed "\xff\xe2"`},
		},
		{
			name:  "UTF-8 state does not carry into the next message",
			in:    []frame{fr(fin|oBin, "\xe2"), fr(fin|oText, "\x82")},
			want:  []string{`binary first last "\xe2"`},
			code:  CloseInvalidPayload,
			cause: CauseUTF8,
		},
		{
			name:  "message at the limit",
			limit: 5,
			in:    []frame{fr(oText, "abc"), fr(fin|oCont, "de"), fr(fin|oBin, "12345")},
			want:  []string{`text first last "abcde"`, `binary first last "12345"`},
		},
		{
			name:  "frame over the limit fails at its header",
			limit: 5,
			in:    []frame{hdr(fin|oText, 6)},
			code:  CloseMessageTooBig,
			cause: CauseTooBig,
		},
		{
			name:  "fragments over the limit fail at the header that passes it",
			limit: 5,
			in:    []frame{fr(oBin, "abc"), fr(oCont, ""), fr(fin|oPing, "ping"), hdr(fin|oCont, 3)},
			want:  []string{`binary first "abc"`, `ping "ping"`},
			code:  CloseMessageTooBig,
			cause: CauseTooBig,
		},
		{
			name:  "control frames do not count toward the limit",
			limit: 1,
			in:    []frame{fr(oBin, "a"), fr(fin|oPing, "long ping payload"), fr(fin|oCont, ""), closeFr(1000, "a long reason")},
			want:  []string{`binary first "a"`, `ping "long ping payload"`, `binary last ""`, `close 1000 "a long reason"`},
		},
		{
			name:  "compressed message over the limit on the wire is not too big",
			limit: 10,
			cfg:   Config{Compression: true},
			in:    []frame{fr(fin|rsv1|oBin, strings.Repeat("z", 100))},
			want:  []string{fmt.Sprintf("binary first last compressed %q", strings.Repeat("z", 100))},
		},
		{
			name:  "compressed message 7 times the limit on the wire, as a flush after every byte makes it, is not too big",
			limit: 1000,
			cfg:   Config{Compression: true},
			in:    []frame{fr(rsv1|oBin, strings.Repeat("f", 3500)), fr(fin|oCont, strings.Repeat("f", 3500))},
			want:  []string{fmt.Sprintf("binary first last compressed %q", strings.Repeat("f", 7000))},
		},
		{
			name:  "compressed frame too big for any inflation fails at its header",
			limit: 10,
			cfg:   Config{Compression: true},
			in:    []frame{hdr(fin|rsv1|oBin, 1<<40)},
			code:  CloseMessageTooBig,
			cause: CauseTooBig,
		},
		{
			name:  "compressed frame at a limit of MaxInt64",
			limit: math.MaxInt64,
			cfg:   Config{Compression: true},
			in:    []frame{fr(fin|rsv1|oText, strings.Repeat("c", 100))},
			want:  []string{fmt.Sprintf("text first last compressed %q", strings.Repeat("c", 100))},
		},
		{
			name:  "compressed frame at a limit of MaxInt64-1",
			limit: math.MaxInt64 - 1,
			cfg:   Config{Compression: true},
			in:    []frame{fr(fin|rsv1|oText, strings.Repeat("c", 100)), hdr(fin|rsv1|oBin, math.MaxInt64)},
			want:  []string{fmt.Sprintf("text first last compressed %q", strings.Repeat("c", 100)), `binary first compressed ""`},
		},
		{
			name: "empty frames and messages",
			in:   []frame{fr(fin|oText, ""), fr(oBin, ""), fr(oCont, ""), fr(oCont, "x"), fr(oCont, ""), fr(fin|oCont, "")},
			want: []string{`text first last ""`, `binary first last "x"`},
		},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		cases = append(cases, decodeCase{
			name:  fmt.Sprintf("reserved opcode %#x", op),
			in:    []frame{hdr(fin|op, 0)},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		}, decodeCase{
			name:  fmt.Sprintf("reserved opcode %#x inside a message", op),
			in:    []frame{fr(oText, "a"), hdr(fin|op, 1)},
			want:  []string{`text first "a"`},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, decodeCase{
			name:  fmt.Sprintf("close code %d", code),
			in:    []frame{closeFr(code, "why")},
			code:  CloseProtocolError,
			cause: CauseProtocol,
		})
	}
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, decodeCase{
			name: fmt.Sprintf("close code %d", code),
			in:   []frame{closeFr(code, "why")},
			want: []string{fmt.Sprintf(`close %d "why"`, code)},
		})
	}
	return cases
}

func TestDecoderRules(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			tc.roles.each(func(client bool, role string) {
				t.Run(role, func(t *testing.T) {
					cfg := tc.cfg
					cfg.Client = client
					limit := tc.limit
					if limit == 0 {
						limit = -1
					}
					in := encode(client, tc.in...)
					whole := decodeInput(t, cfg, limit, in, nil)
					if err := checkStructure(whole.events); err != nil {
						t.Fatal(err)
					}
					if got := tokens(merge(whole.events)); !slices.Equal(got, tc.want) {
						t.Errorf("events\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
					}
					code, cause := errCode(whole.err)
					if whole.err != nil && code == 0 {
						t.Fatalf("error %v is not an *Error", whole.err)
					}
					if code != tc.code || cause != tc.cause {
						t.Fatalf("error %v: code %d cause %d, want code %d cause %d", whole.err, code, cause, tc.code, tc.cause)
					}

					// Offered a byte at a time, the input gives the same
					// events, and an error comes with its last byte.
					bytewise := decodeInput(t, cfg, limit, in, byteCuts(len(in)))
					if err := sameOutcome(whole, bytewise); err != nil {
						t.Fatalf("a byte at a time: %v", err)
					}
					if bytewise.err != nil && bytewise.offered != len(in) {
						t.Fatalf("a byte at a time: error %v after %d of %d bytes", bytewise.err, bytewise.offered, len(in))
					}

					// A driver's fast path, DecodeWhole tried before every
					// Decode, changes nothing either.
					if err := sameOutcome(whole, decodeWholeFirst(t, cfg, limit, in)); err != nil {
						t.Fatalf("DecodeWhole first: %v", err)
					}
				})
			})
		})
	}
}

// TestDecodeWholeDeclines lists what DecodeWhole must leave to Decode,
// each after a prefix that Decode consumes first.
func TestDecodeWholeDeclines(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		limit  int64
		prefix []frame
		in     frame
	}{
		{
			name:   "a message after the close frame",
			prefix: []frame{closeFr(1000, "bye")},
			in:     fr(fin|oText, "hi"),
		},
		{
			name:   "a message inside a fragmented one",
			prefix: []frame{fr(oText, "a")},
			in:     fr(fin|oCont, "b"),
		},
		{
			name: "a first fragment",
			in:   fr(oBin, "ab"),
		},
		{
			name: "a ping",
			in:   fr(fin|oPing, "p"),
		},
		{
			name: "a compressed message",
			cfg:  Config{Compression: true},
			in:   fr(fin|rsv1|oBin, "ab"),
		},
		{
			name:  "a message over the limit",
			limit: 3,
			in:    fr(fin|oBin, "abcd"),
		},
		{
			name: "a message with a 64-bit length",
			in:   fr(fin|oBin, strings.Repeat("x", 1<<16)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bothRoles.each(func(client bool, role string) {
				cfg := tt.cfg
				cfg.Client = client
				d := NewDecoder(cfg)
				d.Limit = -1
				if tt.limit != 0 {
					d.Limit = tt.limit
				}
				prefix := encode(client, tt.prefix...)
				for len(prefix) > 0 {
					n, _, err := d.Decode(prefix)
					if err != nil || n == 0 {
						t.Fatalf("%s: prefix: %d, %v", role, n, err)
					}
					prefix = prefix[n:]
				}
				in := encode(client, tt.in)
				before := decoderState(d)
				if _, _, n, err := d.DecodeWhole(in); n != 0 || err != nil {
					t.Fatalf("%s: DecodeWhole = %d, %v; want 0, nil", role, n, err)
				}
				if got := decoderState(d); got != before {
					t.Fatalf("%s: DecodeWhole declined but changed the state from %s to %s", role, before, got)
				}
			})
		})
	}
}

// decodeWholeFirst decodes in, all of it offered at once, calling
// DecodeWhole before each Decode, as a driver's fast path does.
func decodeWholeFirst(t *testing.T, cfg Config, limit int64, in []byte) outcome {
	in = bytes.Clone(in)
	d := NewDecoder(cfg)
	d.Limit = limit
	var o outcome
	for pos := 0; ; {
		before := decoderState(d)
		op, p, n, err := d.DecodeWhole(in[pos:])
		switch {
		case err != nil:
			o.err, o.offered = err, len(in)
			checkSticky(t, &d, in[pos:], err)
			o.state = decoderState(d)
			return o
		case n > 0:
			pos += n
			o.events = append(o.events, Event{Kind: Data, Op: op, First: true, Last: true, Payload: bytes.Clone(p)})
			continue
		case decoderState(d) != before:
			t.Fatalf("DecodeWhole declined but changed the state from %s to %s", before, decoderState(d))
		}
		n, ev, err := d.Decode(in[pos:])
		if err != nil {
			o.err, o.offered = err, len(in)
			break
		}
		pos += n
		if ev.Kind == None && n == 0 {
			break
		}
		if ev.Kind != None {
			ev.Payload = bytes.Clone(ev.Payload)
			o.events = append(o.events, ev)
		}
	}
	o.state = decoderState(d)
	return o
}

// TestDecoderLimitChange checks that a message keeps the limit it started
// with while the next one gets the new one.
func TestDecoderLimitChange(t *testing.T) {
	bothRoles.each(func(client bool, role string) {
		t.Run(role, func(t *testing.T) {
			t.Run("raised", func(t *testing.T) {
				d := NewDecoder(Config{Client: client})
				d.Limit = 5
				mustEvent(t, &d, encode(client, fr(oText, "abc")), `text first "abc"`)
				d.Limit = 100
				in := encode(client, hdr(fin|oCont, 3))
				if _, _, err := d.Decode(in); !isCode(err, CloseMessageTooBig, CauseTooBig) {
					t.Fatalf("continuation past the old limit: error %v, want 1009", err)
				}
			})
			t.Run("lowered", func(t *testing.T) {
				d := NewDecoder(Config{Client: client})
				d.Limit = 5
				mustEvent(t, &d, encode(client, fr(oText, "abc")), `text first "abc"`)
				d.Limit = 1
				mustEvent(t, &d, encode(client, fr(fin|oCont, "de")), `text last "de"`)
				mustEvent(t, &d, encode(client, fr(fin|oBin, "x")), `binary first last "x"`)
				in := encode(client, hdr(fin|oBin, 2))
				if _, _, err := d.Decode(in); !isCode(err, CloseMessageTooBig, CauseTooBig) {
					t.Fatalf("next message past the new limit: error %v, want 1009", err)
				}
			})
			t.Run("mid-frame", func(t *testing.T) {
				d := NewDecoder(Config{Client: client})
				d.Limit = 4
				in := encode(client, fr(oBin, "abcd"), fr(fin|oCont, ""))
				cut := len(in) - len(encode(client, fr(fin|oCont, ""))) - 2
				mustEvent(t, &d, in[:cut], `binary first "ab"`)
				d.Limit = 0
				mustEvent(t, &d, in[cut:cut+2], `binary "cd"`)
				mustEvent(t, &d, in[cut+2:], `binary last ""`)
			})
		})
	})
}

// mustEvent decodes all of in with d and wants exactly one event.
func mustEvent(t *testing.T, d *Decoder, in []byte, want string) {
	t.Helper()
	n, ev, err := d.Decode(in)
	if err != nil || n != len(in) || token(ev) != want {
		t.Fatalf("Decode(% x) = %d, %s, %v; want %d, %s, nil", in, n, token(ev), err, len(in), want)
	}
}

func isCode(err error, code uint16, cause Cause) bool {
	c, k := errCode(err)
	return c == code && k == cause
}

// splitStreams are inputs whose events must not depend on how they are
// split. The long one is only split once; the others at every pair of
// points.
var splitStreams = []struct {
	name string
	cfg  Config
	in   []frame
}{
	{
		name: "fragments with control frames between",
		in: []frame{
			fr(oText, "Hel"), fr(fin|oPing, "p1"), fr(oCont, "lo, w\xc3"), fr(fin|oPong, ""),
			fr(fin|oCont, "\xb6rld"), fr(fin|oBin, "\x00\xff"), closeFr(1000, "bye"),
		},
	},
	{
		name: "empty frames and messages",
		in: []frame{
			fr(fin|oText, ""), fr(oBin, ""), fr(oCont, ""), fr(fin|oPing, ""), fr(oCont, "x"),
			fr(fin|oCont, ""), fr(oText, ""), fr(fin|oCont, ""), fr(fin|oClose, ""),
		},
	},
	{
		name: "compressed",
		cfg:  Config{Compression: true},
		in: []frame{
			fr(rsv1|oText, "\xf2\x48\xcd"), fr(fin|oPing, ""), fr(fin|oCont, "\xc9\xc9\x07\x00"),
			fr(fin|rsv1|oBin, ""), fr(fin|oText, "plain"), closeFr(1001, ""),
		},
	},
	{
		name: "unfinished",
		in:   []frame{fr(oText, "ab"), fr(fin|oPing, "x"), part(fin|oCont, 10, "cd\xe2")},
	},
	{
		name: "extended lengths",
		in: []frame{
			fr(fin|oBin, strings.Repeat("\x00\x01\x02", 50)), fr(oText, strings.Repeat("é", 70)),
			fr(fin|oPing, strings.Repeat("p", 125)), fr(fin|oCont, strings.Repeat("€", 30)),
			closeFr(4999, strings.Repeat("ü", 61)),
		},
	},
}

// TestDecoderSplit checks that every event stream is independent of how
// its input is split: at any two points, and a byte at a time.
func TestDecoderSplit(t *testing.T) {
	for _, s := range splitStreams {
		t.Run(s.name, func(t *testing.T) {
			bothRoles.each(func(client bool, role string) {
				t.Run(role, func(t *testing.T) {
					cfg := s.cfg
					cfg.Client = client
					in := encode(client, s.in...)
					whole := decodeInput(t, cfg, -1, in, nil)
					if whole.err != nil {
						t.Fatalf("whole: %v", whole.err)
					}
					if err := checkStructure(whole.events); err != nil {
						t.Fatalf("whole: %v", err)
					}
					check := func(desc string, cuts []int) {
						t.Helper()
						if err := sameOutcome(whole, decodeInput(t, cfg, -1, in, cuts)); err != nil {
							t.Fatalf("%s: %v", desc, err)
						}
					}
					check("a byte at a time", byteCuts(len(in)))
					pairs := len(in) <= 128
					for i := 0; i <= len(in); i++ {
						if !pairs {
							check(fmt.Sprintf("split at %d", i), []int{i})
							continue
						}
						for j := i; j <= len(in); j++ {
							check(fmt.Sprintf("split at %d and %d", i, j), []int{i, j})
						}
					}
				})
			})
		})
	}
}

// TestDecoderPayloadLeft checks that a driver can read the rest of a data
// frame's payload elsewhere and pass exactly those bytes to Decode.
func TestDecoderPayloadLeft(t *testing.T) {
	tests := []struct {
		name  string
		frame frame
		given int // payload bytes in the first input
		want  string
		rest  string
	}{
		{
			name:  "final frame",
			frame: fr(fin|oText, "hello, world"),
			given: 5,
			want:  `text first "hello"`,
			rest:  `text last ", world"`,
		},
		{
			name:  "first fragment",
			frame: fr(oBin, "0123456789"),
			given: 3,
			want:  `binary first "012"`,
			rest:  `binary "3456789"`,
		},
		{
			name:  "header alone",
			frame: fr(fin|oBin, "abc"),
			given: 0,
			want:  `binary first ""`,
			rest:  `binary last "abc"`,
		},
		{
			name:  "16-bit length",
			frame: fr(fin|oText, strings.Repeat("ab", 500)),
			given: 1,
			want:  `text first "a"`,
			rest:  fmt.Sprintf("text last %q", strings.Repeat("ba", 499)+"b"),
		},
		{
			name:  "64-bit length",
			frame: fr(fin|oBin, strings.Repeat("z", 70000)),
			given: 9,
			want:  `binary first "zzzzzzzzz"`,
			rest:  fmt.Sprintf("binary last %q", strings.Repeat("z", 70000-9)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bothRoles.each(func(client bool, role string) {
				t.Run(role, func(t *testing.T) {
					d := NewDecoder(Config{Client: client})
					if got := d.PayloadLeft(); got != 0 {
						t.Fatalf("PayloadLeft of a new decoder = %d", got)
					}
					in := encode(client, tc.frame)
					hlen := len(in) - len(tc.frame.payload)
					mustEvent(t, &d, in[:hlen+tc.given], tc.want)
					left := d.PayloadLeft()
					if want := int64(len(tc.frame.payload) - tc.given); left != want {
						t.Fatalf("PayloadLeft = %d, want %d", left, want)
					}
					// The rest, read into a buffer of its own.
					rest := bytes.Clone(in[hlen+tc.given:])
					mustEvent(t, &d, rest, tc.rest)
					if got := d.PayloadLeft(); got != 0 {
						t.Fatalf("PayloadLeft after the frame = %d", got)
					}
					if got, want := d.InMessage(), tc.frame.b0&fin == 0; got != want {
						t.Fatalf("InMessage after the frame = %v, want %v", got, want)
					}
				})
			})
		})
	}

	bothRoles.each(func(client bool, role string) {
		t.Run("in pieces/"+role, func(t *testing.T) {
			// A driver reading PayloadLeft-bounded pieces, each into its
			// own buffer, with a ping queued behind the frame.
			payload := strings.Repeat("0123456789", 30)
			in := encode(client, fr(oBin, payload), fr(fin|oPing, "p"))
			d := NewDecoder(Config{Client: client})
			hlen := len(in) - len(payload) - len(encode(client, fr(fin|oPing, "p")))
			mustEvent(t, &d, in[:hlen], `binary first ""`)
			var got []byte
			pos := hlen
			for step := 1; d.PayloadLeft() > 100; step++ {
				k := min(int(d.PayloadLeft()), step)
				piece := bytes.Clone(in[pos : pos+k])
				n, ev, err := d.Decode(piece)
				if err != nil || n != k || ev.Kind != Data || ev.First || ev.Last {
					t.Fatalf("piece of %d at %d: %d, %s, %v", k, pos, n, token(ev), err)
				}
				got = append(got, ev.Payload...)
				pos += k
			}
			// Given more than PayloadLeft, Decode stops at the frame's end.
			left := int(d.PayloadLeft())
			n, ev, err := d.Decode(in[pos:])
			if err != nil || n != left || ev.Kind != Data || ev.First || ev.Last {
				t.Fatalf("rest of %d at %d: %d, %s, %v", left, pos, n, token(ev), err)
			}
			got = append(got, ev.Payload...)
			pos += n
			if string(got) != payload {
				t.Fatalf("payload %q, want %q", got, payload)
			}
			mustEvent(t, &d, in[pos:], `ping "p"`)
			if !d.InMessage() {
				t.Fatal("InMessage after the first fragment = false")
			}
		})
	})
}

// wantRoom is what InflateRoom must return for a message with the limit
// limit that has inflated to size bytes: one past the limit, saturated.
func wantRoom(limit, size int64) int64 {
	if limit < 0 || limit-size == math.MaxInt64 {
		return math.MaxInt64
	}
	return limit - size + 1
}

// TestDecoderInflate checks the limit and UTF-8 checks of a compressed
// message's inflated output.
func TestDecoderInflate(t *testing.T) {
	tests := []struct {
		name   string
		limit  int64
		b0     byte   // first byte of the message's one compressed frame
		cfg    Config // SkipUTF8
		out    []string
		code   uint16 // the close code of the error; 0 for none
		cause  Cause
		failAt int // the piece of out that fails; len(out) for InflatedEnd
	}{
		{
			name:  "no limit",
			limit: -1,
			b0:    fin | rsv1 | oBin,
			out:   []string{strings.Repeat("a", 1000), strings.Repeat("b", 1<<16)},
		},
		{
			name:  "limit of MaxInt64",
			limit: math.MaxInt64,
			b0:    fin | rsv1 | oBin,
			out:   []string{strings.Repeat("a", 1000), "b"},
		},
		{
			name:  "limit of MaxInt64-1",
			limit: math.MaxInt64 - 1,
			b0:    fin | rsv1 | oText,
			out:   []string{"", strings.Repeat("a", 1000), "b"},
		},
		{
			name:  "limit of 0 and no output",
			limit: 0,
			b0:    fin | rsv1 | oText,
			out:   []string{""},
		},
		{
			name:   "limit of 0 and a byte",
			limit:  0,
			b0:     fin | rsv1 | oBin,
			out:    []string{"x"},
			code:   CloseMessageTooBig,
			cause:  CauseTooBig,
			failAt: 0,
		},
		{
			name:  "output at the limit",
			limit: 10,
			b0:    fin | rsv1 | oBin,
			out:   []string{"0123", "", "456789"},
		},
		{
			name:   "limit+1 in pieces",
			limit:  10,
			b0:     fin | rsv1 | oBin,
			out:    []string{"0123", "456789", "!"},
			code:   CloseMessageTooBig,
			cause:  CauseTooBig,
			failAt: 2,
		},
		{
			name:   "limit+1 at once",
			limit:  10,
			b0:     fin | rsv1 | oText,
			out:    []string{"0123456789!"},
			code:   CloseMessageTooBig,
			cause:  CauseTooBig,
			failAt: 0,
		},
		{
			name:  "text split inside a sequence",
			limit: -1,
			b0:    fin | rsv1 | oText,
			out:   []string{"price: \xe2", "\x82", "\xac 5"},
		},
		{
			name:   "text not UTF-8 fails on the piece",
			limit:  -1,
			b0:     fin | rsv1 | oText,
			out:    []string{"ok", "fine\xff", "more"},
			code:   CloseInvalidPayload,
			cause:  CauseUTF8,
			failAt: 1,
		},
		{
			name:   "text sequence broken across pieces",
			limit:  -1,
			b0:     fin | rsv1 | oText,
			out:    []string{"\xf0\x9f", "a"},
			code:   CloseInvalidPayload,
			cause:  CauseUTF8,
			failAt: 1,
		},
		{
			name:   "text ending inside a sequence",
			limit:  -1,
			b0:     fin | rsv1 | oText,
			out:    []string{"ok", "\xe2\x82"},
			code:   CloseInvalidPayload,
			cause:  CauseUTF8,
			failAt: 2,
		},
		{
			name:  "text not UTF-8 with SkipUTF8",
			limit: -1,
			b0:    fin | rsv1 | oText,
			cfg:   Config{SkipUTF8: true},
			out:   []string{"\xff", "\xe2\x82"},
		},
		{
			name:  "binary not UTF-8",
			limit: 100,
			b0:    fin | rsv1 | oBin,
			out:   []string{"\xff", "\xe2\x82"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bothRoles.each(func(client bool, role string) {
				t.Run(role, func(t *testing.T) {
					cfg := tc.cfg
					cfg.Client, cfg.Compression = client, true
					d := NewDecoder(cfg)
					d.Limit = tc.limit
					deflated := strings.Repeat("\x00", 100)
					op := Opcode(tc.b0 & 0xf)
					mustEvent(t, &d, encode(client, fr(tc.b0, deflated)), fmt.Sprintf("%v first last compressed %q", op, deflated))
					var size int64
					var err error
					for i, p := range tc.out {
						if got, want := d.InflateRoom(), wantRoom(tc.limit, size); got != want || got <= 0 {
							t.Fatalf("InflateRoom after %d bytes = %d, want %d", size, got, want)
						}
						size += int64(len(p))
						if err = d.Inflated([]byte(p)); err != nil {
							if tc.code == 0 || i != tc.failAt {
								t.Fatalf("Inflated(%q), piece %d: %v", p, i, err)
							}
							break
						}
					}
					if got := d.InflatedSize(); got != size {
						t.Fatalf("InflatedSize = %d, want %d", got, size)
					}
					if err == nil {
						if got, want := d.InflateRoom(), wantRoom(tc.limit, size); got != want || got <= 0 {
							t.Fatalf("InflateRoom after %d bytes = %d, want %d", size, got, want)
						}
						if err = d.InflatedEnd(); err != nil && (tc.code == 0 || tc.failAt != len(tc.out)) {
							t.Fatalf("InflatedEnd: %v", err)
						}
					}
					if !isCode(err, tc.code, tc.cause) {
						t.Fatalf("error %v, want code %d cause %d", err, tc.code, tc.cause)
					}
					if err != nil {
						checkSticky(t, &d, encode(client, fr(fin|oBin, "")), err)
						return
					}
					mustEvent(t, &d, encode(client, fr(fin|oPong, "")), `pong ""`)
				})
			})
		})
	}
}

// TestDecoderInflateFragments checks that the output of every fragment of
// a compressed message counts toward one limit, the one the message
// started with.
func TestDecoderInflateFragments(t *testing.T) {
	bothRoles.each(func(client bool, role string) {
		t.Run(role, func(t *testing.T) {
			d := NewDecoder(Config{Client: client, Compression: true})
			d.Limit = 10
			mustEvent(t, &d, encode(client, fr(rsv1|oText, "\x01\x02")), `text first compressed "\x01\x02"`)
			d.Limit = -1
			if err := d.Inflated([]byte("012345")); err != nil {
				t.Fatal(err)
			}
			if got := d.InflateRoom(); got != 5 {
				t.Fatalf("InflateRoom = %d, want 5", got)
			}
			mustEvent(t, &d, encode(client, fr(fin|oPing, "")), `ping ""`)
			mustEvent(t, &d, encode(client, fr(fin|oCont, "\x03")), `text last compressed "\x03"`)
			if err := d.Inflated([]byte("6789")); err != nil {
				t.Fatal(err)
			}
			if err := d.Inflated([]byte("!")); !isCode(err, CloseMessageTooBig, CauseTooBig) {
				t.Fatalf("Inflated past the limit: %v, want 1009", err)
			}
		})
	})
}

// TestDecoderInflateRoomNoLimit checks that a message started without a
// limit may inflate without bound.
func TestDecoderInflateRoomNoLimit(t *testing.T) {
	for _, limit := range []int64{-1, -2, math.MinInt64} {
		d := NewDecoder(Config{Compression: true})
		d.Limit = limit
		mustEvent(t, &d, encode(false, fr(fin|rsv1|oBin, "\x00")), `binary first last compressed "\x00"`)
		if got := d.InflateRoom(); got != math.MaxInt64 {
			t.Fatalf("Limit %d: InflateRoom = %d, want MaxInt64", limit, got)
		}
		if err := d.Inflated(make([]byte, 1<<20)); err != nil {
			t.Fatalf("Limit %d: %v", limit, err)
		}
		if got := d.InflateRoom(); got != math.MaxInt64 {
			t.Fatalf("Limit %d: InflateRoom after inflating = %d, want MaxInt64", limit, got)
		}
	}
}

// TestDecoderFailInflate checks that invalid compressed data fails the
// connection with 1007, for good.
func TestDecoderFailInflate(t *testing.T) {
	d := NewDecoder(Config{Client: true, Compression: true})
	mustEvent(t, &d, encode(true, fr(rsv1|oBin, "\xff")), `binary first compressed "\xff"`)
	err := d.FailInflate("bad block type")
	if !isCode(err, CloseInvalidPayload, CauseProtocol) {
		t.Fatalf("FailInflate = %v, want code 1007", err)
	}
	checkSticky(t, &d, encode(true, fr(fin|oCont, "")), err)
	if err2 := d.InflatedEnd(); err2 != err {
		t.Fatalf("InflatedEnd after FailInflate = %v", err2)
	}
}

// TestDecoderRSVReasons: a reserved bit refused with compression
// negotiated says which rule it broke, not that nothing was negotiated.
func TestDecoderRSVReasons(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		in   []frame
		want string
	}{
		{
			name: "RSV1 without compression",
			cfg:  Config{},
			in:   []frame{hdr(fin|rsv1|oText, 1)},
			want: "reserved bits 0x4 set without a negotiated extension",
		},
		{
			name: "RSV2 with compression",
			cfg:  Config{Compression: true},
			in:   []frame{hdr(fin|rsv2|oText, 1)},
			want: "reserved bits 0x2 set without a negotiated extension",
		},
		{
			name: "RSV1 on ping with compression",
			cfg:  Config{Compression: true},
			in:   []frame{hdr(fin|rsv1|oPing, 0)},
			want: "RSV1 set on a ping frame, which is never compressed",
		},
		{
			name: "RSV1 on continuation with compression",
			cfg:  Config{Compression: true},
			in:   []frame{fr(rsv1|oText, "a"), hdr(fin|rsv1|oCont, 1)},
			want: "RSV1 set on a continuation frame; only a message's first frame may carry it",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := decodeInput(t, tc.cfg, -1, encode(false, tc.in...), nil)
			var werr *Error
			if !errors.As(out.err, &werr) || werr.Reason != tc.want {
				t.Fatalf("error %v, want reason %q", out.err, tc.want)
			}
		})
	}
}

// TestDecoderCompressedEmptyFramesEnd: a compressed message of empty
// continuation frames reaches the bound on its wire size like any other
// that inflates to nothing. Only payload bytes were counted, so such a
// message went on forever, holding its inflater (an outside probe: 64 MiB
// of empty frames at a 1 MiB limit).
func TestDecoderCompressedEmptyFramesEnd(t *testing.T) {
	const limit = 1
	frames := []frame{fr(rsv1|oBin, "")}
	// 2 bytes a frame from a server, 6 from a client: enough for both to
	// pass the bound, 8 times the limit plus 64 KiB.
	for range (8*limit+wireSlack)/2 + 1 {
		frames = append(frames, fr(oCont, ""))
	}
	bothRoles.each(func(client bool, role string) {
		t.Run(role, func(t *testing.T) {
			in := encode(client, frames...)
			o := decodeInput(t, Config{Client: client, Compression: true}, limit, in, nil)
			if code, cause := errCode(o.err); code != CloseMessageTooBig || cause != CauseTooBig {
				t.Fatalf("after %d bytes of empty frames: %v, want 1009", len(in), o.err)
			}
		})
	})
}

// TestDecoderEmptyFramesEnd: an uncompressed message of empty frames ends
// once their headers pass wireSlack, with 1009, as a compressed one does
// at its bound. Without a limit it goes on. And empty frames after a
// payload at the limit are still taken: only their headers count, and
// against wireSlack, not the limit. Before, an uncompressed message of
// empty frames went on forever at any limit.
func TestDecoderEmptyFramesEnd(t *testing.T) {
	const limit = 1 << 10
	endless := []frame{fr(oText, "")}
	for range wireSlack/2 + 1 { // 2 bytes a frame from a server, 6 from a client
		endless = append(endless, fr(oCont, ""))
	}
	atLimit := []frame{fr(oBin, strings.Repeat("a", limit))}
	for range 100 {
		atLimit = append(atLimit, fr(oCont, ""))
	}
	atLimit = append(atLimit, fr(fin|oCont, ""))
	tests := []struct {
		name   string
		frames []frame
		limit  int64
		want   uint16 // close code; 0: no error
	}{
		{
			name:   "endless empty frames",
			frames: endless,
			limit:  limit,
			want:   CloseMessageTooBig,
		},
		{
			name:   "endless empty frames without a limit",
			frames: endless,
			limit:  -1,
		},
		{
			name:   "empty frames after a payload at the limit",
			frames: atLimit,
			limit:  limit,
		},
	}
	for _, tt := range tests {
		bothRoles.each(func(client bool, role string) {
			t.Run(tt.name+"/"+role, func(t *testing.T) {
				o := decodeInput(t, Config{Client: client}, tt.limit, encode(client, tt.frames...), nil)
				code, cause := errCode(o.err)
				switch {
				case tt.want == 0 && o.err != nil:
					t.Fatalf("%v, want no error", o.err)
				case tt.want != 0 && (code != tt.want || cause != CauseTooBig):
					t.Fatalf("%v, want %d", o.err, tt.want)
				}
			})
		})
	}
}

// TestDecoderCompressedFlushEveryByte: a compressed message at the read
// limit whose sender flushed after every byte, a frame a flush (7 bytes of
// deflate each), fits its bound on the wire: only empty frames count
// their headers. Counting every header refused it (a review: 13 bytes on
// the wire a byte of message from a client).
func TestDecoderCompressedFlushEveryByte(t *testing.T) {
	const limit = 16 << 10
	piece := strings.Repeat("\x02", 7)
	frames := []frame{fr(rsv1|oBin, piece)}
	for range limit - 2 {
		frames = append(frames, fr(oCont, piece))
	}
	frames = append(frames, fr(fin|oCont, piece))
	bothRoles.each(func(client bool, role string) {
		t.Run(role, func(t *testing.T) {
			o := decodeInput(t, Config{Client: client, Compression: true}, limit, encode(client, frames...), nil)
			if o.err != nil {
				t.Fatalf("%d frames of %d bytes at a limit of %d: %v", limit, len(piece), limit, o.err)
			}
		})
	})
}
