package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// This file is a reference reader for the fuzz targets of the read path
// (FuzzReadPath, FuzzPollerDeliver): what RFC 6455 and RFC 7692 say a
// connection makes of a byte stream, written from the RFCs rather than
// from internal/wsproto, so that the two can be compared. It is slow and
// simple: every frame is parsed whole, and a compressed message is
// inflated by compress/flate once, when it ends or is cut short.

// refLimit is the read limit the fuzz targets give their connections.
const refLimit = 1 << 16

// refSlack is what the library allows a message beyond its read limit on
// the wire (wsproto's wireSlack): the headers of an uncompressed message's
// empty frames, and for a compressed message 8 times the limit plus this.
// It bounds what a peer can make a message cost; it is not the RFC's, but
// a stream that reaches it fails with 1009 too.
const refSlack = 64 << 10

// refEnd is one way a read can end: with our failure of the connection
// (a *ProtocolError with the code we sent), or with a *CloseError: the
// peer's close frame, or 1006 when the stream ended without one.
type refEnd struct {
	failed bool
	code   StatusCode
}

func (e refEnd) String() string {
	if e.failed {
		return fmt.Sprintf("we failed with %d", int(e.code))
	}
	return fmt.Sprintf("closed with %d", int(e.code))
}

var refAbnormal = refEnd{code: StatusAbnormalClosure}

// refMsg is a message the reference expects to be delivered.
type refMsg struct {
	typ     MessageType
	payload []byte
	// orFail marks a compressed message whose deflate data no sender
	// makes (refInflateMessage): the library may deliver it or fail with
	// 1007.
	orFail bool
}

// refResult is what the reference expects of a stream: these messages,
// then one of ends. The RFCs leave a choice only around compressed data:
// a message whose data no sender makes may be refused or not, and one cut
// short may have failed on the data it had before what cut it (cutShort).
// Everything else has one outcome.
type refResult struct {
	msgs  []refMsg
	ends  []refEnd
	pings [][]byte // the payloads of the pings read, in order
	// mayAlso, if set, returns more ends the connection may meet: those of
	// a compressed message cut short, which an inflater may know from fewer
	// bytes than compress/flate (refReader.cutShort). It is slow: call it
	// only for an end that is not one of ends.
	mayAlso func() []refEnd
}

// refReader is the reference's state while it reads a stream.
type refReader struct {
	client, compress bool
	res              refResult
	inMsg            bool
	op               byte
	compressed       bool
	payload          []byte // the message's payload so far, deflate data if compressed
	checked          int    // how much of an uncompressed text payload is whole characters of UTF-8
	wire             int64  // what the message counts against refSlack
	hist             []byte // the output of the compressed messages so far (context takeover)
}

// refRead returns what a connection, a client's if client is set, with
// permessage-deflate negotiated with context takeover if compress is set,
// and a read limit of refLimit, makes of data, which ends the stream.
func refRead(data []byte, client, compress bool) refResult {
	rr := &refReader{client: client, compress: compress}
	for {
		f, ok := refNextFrame(data)
		if !ok {
			// The stream ends inside a header, or between frames.
			return rr.end(refAbnormal)
		}
		if end, done := rr.frame(&f); done {
			return rr.end(end)
		}
		data = data[f.hlen+len(f.payload):]
	}
}

// end ends the stream with e.
func (rr *refReader) end(e refEnd) refResult {
	if rr.inMsg && rr.compressed {
		rr.cutShort()
	}
	rr.addEnd(e)
	return rr.res
}

func (rr *refReader) addEnd(e refEnd) {
	if !slices.Contains(rr.res.ends, e) {
		rr.res.ends = append(rr.res.ends, e)
	}
}

// refFrame is a frame as the reference reads it.
type refFrame struct {
	fin     bool
	rsv     byte // RSV1-3 as they sit in the first byte
	op      byte
	masked  bool
	length  uint64 // as declared
	hlen    int
	payload []byte // unmasked; shorter than length when the stream ends inside it
}

// refNextFrame reads the frame at the start of b (RFC 6455, section 5.2);
// ok is false when b does not hold its whole header.
func refNextFrame(b []byte) (f refFrame, ok bool) {
	if len(b) < 2 {
		return f, false
	}
	f.fin, f.rsv, f.op = b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0f
	f.masked = b[1]&0x80 != 0
	f.hlen = 2
	switch b[1] & 0x7f {
	case 126:
		f.hlen += 2
	case 127:
		f.hlen += 8
	}
	if f.masked {
		f.hlen += 4
	}
	if len(b) < f.hlen {
		return f, false
	}
	switch l := b[1] & 0x7f; l {
	case 126:
		f.length = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		f.length = binary.BigEndian.Uint64(b[2:])
	default:
		f.length = uint64(l)
	}
	f.payload = bytes.Clone(b[f.hlen:][:min(f.length, uint64(len(b)-f.hlen))])
	if f.masked {
		key := b[f.hlen-4 : f.hlen]
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, true
}

// frame reads one frame; done reports that the stream ends with end.
func (rr *refReader) frame(f *refFrame) (end refEnd, done bool) {
	if rr.broken(f) {
		return refEnd{failed: true, code: StatusProtocolError}, true
	}
	if f.op&0x8 != 0 {
		return rr.control(f)
	}
	if f.op != 0 {
		rr.inMsg, rr.op, rr.payload, rr.wire, rr.checked = true, f.op, nil, 0, 0
		rr.compressed = f.rsv != 0
	}
	if code := rr.tooBig(f); code != 0 {
		return refEnd{failed: true, code: code}, true
	}
	rr.payload = append(rr.payload, f.payload...)
	rr.wire += int64(len(f.payload))
	whole := uint64(len(f.payload)) == f.length
	switch {
	case rr.compressed && !whole:
		return refAbnormal, true
	case rr.compressed && f.fin:
		return rr.inflated()
	case rr.compressed:
		return refEnd{}, false
	}
	text := rr.op == 1
	switch {
	case text && !rr.textSoFar():
		// Section 8.1: invalid UTF-8 fails the connection; the library
		// says so at the first byte that cannot be completed.
		return refEnd{failed: true, code: StatusInvalidFramePayloadData}, true
	case !whole:
		return refAbnormal, true
	case !f.fin:
		return refEnd{}, false
	case text && !utf8.Valid(rr.payload):
		return refEnd{failed: true, code: StatusInvalidFramePayloadData}, true
	}
	rr.deliver(refMsg{typ: MessageType(rr.op), payload: rr.payload})
	return refEnd{}, false
}

// broken reports whether f breaks a rule of RFC 6455, section 5 (or RFC
// 7692's use of RSV1), which fails the connection with 1002.
func (rr *refReader) broken(f *refFrame) bool {
	control := f.op&0x8 != 0
	rsvOK := f.rsv == 0 || f.rsv == 0x40 && rr.compress && !control && f.op != 0
	switch {
	case f.length>>63 != 0: // 5.2: the most significant bit must be 0
		return true
	case !rsvOK:
		return true
	case f.op != 0 && f.op != 1 && f.op != 2 && f.op != 8 && f.op != 9 && f.op != 10:
		return true
	case f.masked == rr.client: // 5.1: clients mask, servers do not
		return true
	case control:
		return !f.fin || f.length > 125 // 5.5
	}
	// 5.4: a continuation continues a message, a new message waits for
	// the end of the one before.
	return (f.op == 0) != rr.inMsg
}

// control reads a control frame, once it is whole.
func (rr *refReader) control(f *refFrame) (refEnd, bool) {
	if uint64(len(f.payload)) < f.length {
		return refAbnormal, true
	}
	switch f.op {
	case 9:
		rr.res.pings = append(rr.res.pings, f.payload)
		return refEnd{}, false
	case 10:
		return refEnd{}, false
	}
	p := f.payload
	switch {
	case len(p) == 0:
		return refEnd{code: StatusNoStatusRcvd}, true
	case len(p) == 1 || !sendableCode(binary.BigEndian.Uint16(p)): // 5.5.1, 7.4
		return refEnd{failed: true, code: StatusProtocolError}, true
	case !utf8.Valid(p[2:]):
		return refEnd{failed: true, code: StatusInvalidFramePayloadData}, true
	}
	return refEnd{code: StatusCode(binary.BigEndian.Uint16(p))}, true
}

// tooBig checks the frame's header against the read limit: 1009 (RFC
// 6455, section 7.4.1) when the message cannot fit, or 0.
func (rr *refReader) tooBig(f *refFrame) StatusCode {
	if f.length == 0 {
		rr.wire += int64(f.hlen) // an empty frame counts by its header
	}
	switch {
	case rr.compressed && uint64(rr.wire)+f.length > 8*refLimit+refSlack:
	case !rr.compressed && uint64(len(rr.payload))+f.length > refLimit:
	case !rr.compressed && rr.wire-int64(len(rr.payload)) > refSlack:
	default:
		return 0
	}
	return StatusMessageTooBig
}

// textSoFar reports whether the uncompressed text message's payload so
// far is UTF-8 up to a character that more bytes could complete. It
// checks what came after the last whole character: a message of many
// frames costs linear time.
func (rr *refReader) textSoFar() bool {
	open := refUTF8Prefix(rr.payload[rr.checked:])
	if open < 0 {
		return false
	}
	rr.checked = len(rr.payload) - open
	return true
}

// deliver ends the message in progress with m.
func (rr *refReader) deliver(m refMsg) {
	rr.res.msgs = append(rr.res.msgs, m)
	rr.inMsg = false
}

// inflated ends a compressed message whose frames are all in: it is
// delivered, or fails the connection with one of the codes its output
// earns.
func (rr *refReader) inflated() (refEnd, bool) {
	out, verdict := refInflateMessage(rr.payload, rr.hist)
	codes := rr.badOutput(out, verdict, true)
	rr.inMsg = false
	if len(codes) > 0 {
		for _, code := range codes[1:] {
			rr.addEnd(refEnd{failed: true, code: code})
		}
		return refEnd{failed: true, code: codes[0]}, true
	}
	rr.deliver(refMsg{typ: MessageType(rr.op), payload: out, orFail: verdict == inflateEither})
	// Context takeover: the next message may refer to the last 32 KiB.
	rr.hist = append(rr.hist, out...)
	rr.hist = rr.hist[max(0, len(rr.hist)-32<<10):]
	return refEnd{}, false
}

// cutShort adds the ends that a compressed message cut short (by the
// stream's end, a broken rule, a close frame) may have met first: its
// inflater may have seen that the data so far was bad, or kept the piece
// that shows it for the next. The inflater may also see more than
// compress/flate, which waits for bits it does not need to decode the last
// symbol, or for the rest of a symbol that no bits can make valid: mayAlso
// finds those ends, if need be.
func (rr *refReader) cutShort() {
	out, state, rest := refFlate(rr.payload, rr.hist)
	if state == inflateDone && rest > 0 {
		state = inflateCorrupt // data after the final block
	}
	for _, code := range rr.badOutput(out, state, false) {
		rr.addEnd(refEnd{failed: true, code: code})
	}
	if state == inflateOpen {
		cut := *rr // the message as it is now
		rr.res.mayAlso = cut.nextByteEnds
	}
}

// nextByteEnds returns the codes the compressed message cut short fails
// with whatever byte comes next: none if some byte lets it go on.
func (rr *refReader) nextByteEnds() []refEnd {
	var ends []refEnd
	for b := range 256 {
		out, state, rest := refFlate(cat(rr.payload, []byte{byte(b)}), rr.hist)
		if state == inflateDone && rest > 0 {
			state = inflateCorrupt
		}
		codes := rr.badOutput(out, state, false)
		if len(codes) == 0 {
			return nil
		}
		for _, code := range codes {
			if e := (refEnd{failed: true, code: code}); !slices.Contains(ends, e) {
				ends = append(ends, e)
			}
		}
	}
	return ends
}

// badOutput returns the codes a compressed message fails with, given what
// inflating its data so far gave; none if it may go on (or, final, be
// delivered). RFC 7692 leaves the order of checks to the implementation:
// output past the read limit (1009) and invalid UTF-8 found in the same
// piece of output may be reported either way.
func (rr *refReader) badOutput(out []byte, verdict int, final bool) []StatusCode {
	text := rr.op == 1
	switch {
	case verdict == inflateBig && text && refUTF8Prefix(out[:refLimit]) < 0:
		return []StatusCode{StatusMessageTooBig, StatusInvalidFramePayloadData}
	case verdict == inflateBig:
		return []StatusCode{StatusMessageTooBig}
	case text && refUTF8Prefix(out) < 0, verdict == inflateCorrupt:
		return []StatusCode{StatusInvalidFramePayloadData}
	case final && text && !utf8.Valid(out):
		return []StatusCode{StatusInvalidFramePayloadData}
	}
	return nil
}

// What compress/flate makes of deflate data, and what the reference makes
// of a message's.
const (
	inflateDone    = iota // the data ends where the RFC has it end; for a message, it is delivered
	inflateOpen           // the data stops outside a final block: between blocks or inside one
	inflateCorrupt        // bad deflate data, or data after the final block
	inflateBig            // more than refLimit bytes of output (out stops one past it)
	inflateEither         // a message's data ends where no sender ends it: delivered or refused
)

// Deflate data the reference appends to a message's: the tail RFC 7692
// has the receiver append, a final empty stored block that ends the
// stream there, and a stored block of one byte in the tail's place.
var (
	refTail     = []byte{0x00, 0x00, 0xff, 0xff}
	refFinal    = []byte{0x01, 0x00, 0x00, 0xff, 0xff}
	refOneByteA = []byte{0x01, 0x00, 0xfe, 0xff, 'A'}
)

// refInflateMessage inflates a compressed message's payload as RFC 7692,
// section 7.2.2, has it: with the tail appended. A sender's payload ends
// with the header bits of an empty stored block whose lengths the tail
// supplies (section 7.2.1), or with a final block and nothing after it:
// such a message is delivered. Data after a final block is refused. Data
// that inflates only with the tail read as something else, or that ends
// inside a block once the tail is appended, no sender makes: an inflater
// may refuse it or deliver what the tail lets it decode.
func refInflateMessage(payload, dict []byte) ([]byte, int) {
	withTail := cat(payload, refTail)
	out, state, rest := refFlate(cat(withTail, refFinal), dict)
	switch {
	case state == inflateBig:
		return out, inflateBig
	case state == inflateDone && rest == 0:
		// Ended between blocks: the tail was the lengths of an empty
		// stored block if lengths of one byte there make a block of 'A'.
		one, st, rest := refFlate(cat(payload, refOneByteA, refFinal), dict)
		if st == inflateDone && rest == 0 && bytes.Equal(one, append(bytes.Clone(out), 'A')) {
			return out, inflateDone
		}
		return out, inflateEither
	case state == inflateDone && rest == len(refTail)+len(refFinal):
		return out, inflateDone // a final block ends the payload
	case state == inflateDone && rest > len(refTail)+len(refFinal):
		return out, inflateCorrupt
	case state == inflateCorrupt:
		if _, st, _ := refFlate(withTail, dict); st == inflateCorrupt {
			return out, inflateCorrupt // bad before the final block we appended
		}
	}
	return out, inflateEither
}

// refFlate inflates src with the output of earlier messages, dict, and
// returns the output, what it makes of src and how many bytes of src are
// left after a final block. compress/flate cannot tell data that stops
// between blocks from data cut inside one: both are inflateOpen, with out
// what it decoded up to the end.
func refFlate(src, dict []byte) (out []byte, state, rest int) {
	br := bytes.NewReader(src) // an io.ByteReader: flate reads no byte past its end
	out, err := io.ReadAll(io.LimitReader(flate.NewReaderDict(br, dict), refLimit+1))
	switch {
	case len(out) > refLimit:
		return out, inflateBig, br.Len()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return out, inflateOpen, 0
	case err != nil:
		return out, inflateCorrupt, br.Len()
	}
	return out, inflateDone, br.Len()
}

// refUTF8Prefix reports whether p is valid UTF-8 or the start of it, valid
// up to a last character that more bytes could complete: it returns how
// many bytes that incomplete character has so far (0 if none), or -1 if
// no bytes appended to p can make it valid.
func refUTF8Prefix(p []byte) int {
	if utf8.Valid(p) {
		return 0
	}
	// The last character, incomplete, starts at most 3 bytes from the end.
	for cut := 1; cut <= 3 && cut <= len(p); cut++ {
		if utf8.Valid(p[:len(p)-cut]) && refCompletable(p[len(p)-cut:]) {
			return cut
		}
	}
	return -1
}

// refCompletable reports whether some bytes appended to tail, the start
// of one character, make it a valid character.
func refCompletable(tail []byte) bool {
	n := 0
	switch b := tail[0]; {
	case b >= 0xc2 && b <= 0xdf:
		n = 2
	case b >= 0xe0 && b <= 0xef:
		n = 3
	case b >= 0xf0 && b <= 0xf4:
		n = 4
	}
	if n <= len(tail) {
		return false
	}
	// Only the byte after the lead has a range of its own (no overlong
	// forms, no surrogates, nothing past U+10FFFF): try all of them, and
	// 0x80 for any after it.
	for next := byte(0x80); next <= 0xbf; next++ {
		c := append(bytes.Clone(tail), next)
		c = append(c, bytes.Repeat([]byte{0x80}, n-len(c))...)
		if utf8.Valid(c) {
			return true
		}
	}
	return false
}
