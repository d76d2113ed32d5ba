package wsproto

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Config is what a Decoder needs to know of its connection.
type Config struct {
	// Client is set on the client's end: frames must arrive unmasked.
	// A server requires every frame to be masked.
	Client bool
	// Compression is set when permessage-deflate was negotiated: RSV1 may
	// then mark a message's first frame as compressed.
	Compression bool
	// SkipUTF8 turns off the UTF-8 checks of text and close reasons.
	SkipUTF8 bool
}

// Kind is the kind of an Event.
type Kind uint8

// Kinds of Event.
const (
	None  Kind = iota // nothing to report: see Decoder.Decode
	Data              // payload of a data message
	Ping              // a ping frame
	Pong              // a pong frame
	Close             // a close frame
)

// Event is what a Decoder found in its input.
type Event struct {
	Kind Kind
	// Op is the message's opcode (OpText or OpBinary) for Data.
	Op Opcode
	// First marks the first Data event of a message, Last the event that
	// ends it. One event may be both; either may come with no payload.
	First, Last bool
	// Compressed marks Data whose payload is deflate data (RFC 7692): the
	// driver inflates it and reports the output through Inflated.
	Compressed bool
	// Code is the close code of a Close event (CloseNoStatus for none).
	Code uint16
	// Payload is, for Data, Ping and Pong, the frame's payload bytes found
	// in this input, unmasked in place; for Close, the reason. It aliases
	// the input passed to Decode.
	Payload []byte
}

// Decoder turns the bytes of a connection into events. The zero value is
// not usable: start from NewDecoder. A Decoder is owned by one goroutine
// at a time.
type Decoder struct {
	// Limit is the largest message, in bytes after decompression, that
	// the next message may have; negative means no limit. The driver may
	// change it at any time; a message in progress keeps the limit it
	// started with.
	Limit int64

	left  int64  // payload bytes of the current frame not yet decoded
	limit int64  // the message's Limit
	wire  int64  // bytes of the message on the wire so far: payload, and the headers of its empty frames
	size  int64  // bytes of the message after decompression so far
	err   *Error // sticky
	key   uint32 // masking key of the current frame, rotated to the next byte
	cfg   Config

	inFrame    bool // a data frame's payload is being read
	fin        bool // the current frame is final
	inMessage  bool // a data message has started and not ended
	first      bool // no Data event of the message reported yet
	op         Opcode
	compressed bool
	checkText  bool
	closed     bool // a close frame was decoded: nothing may follow
	utf8       UTF8Validator
}

// NewDecoder returns a Decoder for a connection configured by cfg, with
// no read limit until Limit is set.
func NewDecoder(cfg Config) Decoder {
	return Decoder{cfg: cfg, Limit: -1, limit: -1}
}

// Decode decodes the start of b and returns how many bytes it consumed
// and the event they make, if any. Masked payload is unmasked in place.
//
// Kind None with n == 0 means b holds no complete unit: the driver must
// append more bytes (a control frame is only decoded whole, a data frame's
// payload as it comes). Kind None with n > 0 means something was consumed
// that has nothing to report (an empty fragment): call again.
//
// An error fails the connection with the Error's code; it is sticky.
func (d *Decoder) Decode(b []byte) (n int, ev Event, err error) {
	n, err = d.DecodeInto(b, &ev)
	return n, ev, err
}

// DecodeInto is Decode writing the event to *ev, which spares a hot loop
// the copying of the event through every return.
func (d *Decoder) DecodeInto(b []byte, ev *Event) (int, error) {
	*ev = Event{}
	if d.err != nil {
		return 0, d.err
	}
	if d.inFrame {
		return d.payload(b, 0, ev)
	}
	if !d.inMessage && !d.closed {
		if op, p, n, err := d.whole(b); n > 0 || err != nil {
			if err == nil {
				*ev = Event{Kind: Data, Op: op, First: true, Last: true, Payload: p}
			}
			return n, err
		}
	}
	if d.closed {
		if len(b) == 0 {
			return 0, nil
		}
		return 0, d.fail(protocolError("data after the close frame"))
	}
	return d.header(b, ev)
}

// PayloadLeft returns how many payload bytes of the current data frame
// remain to be decoded, 0 when the next bytes are a header. A driver may
// read up to that many bytes elsewhere (straight into a message buffer)
// and pass exactly them to Decode, which consumes them all.
func (d *Decoder) PayloadLeft() int64 {
	if !d.inFrame {
		return 0
	}
	return d.left
}

// InMessage reports whether a data message has started and not ended.
func (d *Decoder) InMessage() bool { return d.inMessage }

// AtRest reports whether the decoder stands between messages and frames
// with nothing carried over: a new Decoder of the same Config would
// decode what follows the same way.
func (d *Decoder) AtRest() bool {
	return !d.inFrame && !d.inMessage && d.left == 0 && d.err == nil && !d.closed
}

// Err returns the error that failed the decoder, or nil.
func (d *Decoder) Err() error {
	if d.err == nil {
		return nil
	}
	return d.err
}

func (d *Decoder) fail(e *Error) error {
	d.err = e
	return e
}

// header decodes a frame header and, for a control frame, its payload.
func (d *Decoder) header(b []byte, ev *Event) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	hlen := HeaderLen(b[1])
	if len(b) < hlen {
		return 0, nil
	}
	h, _, err := ParseHeader(b)
	if err != nil {
		return 0, d.fail(protocolError(err.Error()))
	}
	if why := d.violation(&h); why != "" {
		return 0, d.fail(protocolError(why))
	}
	if h.Op.IsControl() {
		return d.control(b, hlen, &h, ev)
	}
	if h.Op != OpContinuation {
		d.startMessage(&h)
	}
	if h.Length == 0 {
		// An empty frame counts on the wire by its header, so that a
		// message of empty frames cannot go on forever. Frames with
		// payload count by it alone: a sender that flushes after every
		// byte, a frame a flush, must still fit.
		d.wire += int64(hlen)
	}
	if lim := d.wireLimit(); lim >= 0 && h.Length > lim-d.wire {
		return 0, d.tooBigOnWire(lim)
	}
	if !d.compressed && d.limit >= 0 && d.wire-d.size > wireSlack {
		return 0, d.fail(&Error{Code: CloseMessageTooBig, Reason: fmt.Sprintf("message has more than %d bytes of empty frames", wireSlack), Cause: CauseTooBig})
	}
	d.inFrame = true
	d.fin = h.Fin
	d.key = h.Key
	d.left = h.Length
	return d.payload(b[hlen:], hlen, ev)
}

// DecodeWhole is the fast path of DecodeInto for the most common unit: a
// data message of up to 64 KiB in a single final frame, all of it at the
// start of b, with no extension bits, between messages. It returns the
// message's opcode and payload (unmasked in place, aliasing b) and the
// bytes consumed. For anything else it returns n == 0 and a nil error,
// having changed nothing: the driver goes on with DecodeInto. A non-nil
// error has failed the decoder, as it would have in DecodeInto.
func (d *Decoder) DecodeWhole(b []byte) (op Opcode, payload []byte, n int, err error) {
	if d.err != nil || d.inFrame || d.inMessage || d.closed {
		return 0, nil, 0, nil
	}
	return d.whole(b)
}

// whole is DecodeWhole past the state checks.
func (d *Decoder) whole(b []byte) (Opcode, []byte, int, error) {
	if len(b) < 2 {
		return 0, nil, 0, nil
	}
	op := Opcode(b[0] & 0x0f)
	masked := b[1]&BitMask != 0
	if b[0]&0xf0 != BitFin || op != OpText && op != OpBinary || masked == d.cfg.Client {
		return 0, nil, 0, nil
	}
	l, hl := int(b[1]&0x7f), 2
	switch {
	case l == 126 && len(b) >= 4:
		l, hl = int(binary.BigEndian.Uint16(b[2:4])), 4
	case l > MaxControlPayload:
		return 0, nil, 0, nil
	}
	key := hl
	if masked {
		hl += 4
	}
	if len(b) < hl+l || d.Limit >= 0 && int64(l) > d.Limit {
		return 0, nil, 0, nil
	}
	p := b[hl : hl+l]
	if masked {
		Mask(p, binary.LittleEndian.Uint32(b[key:]))
	}
	d.limit, d.wire, d.size = d.Limit, int64(l), int64(l)
	if op == OpText && !d.cfg.SkipUTF8 && !ValidUTF8(p) {
		return 0, nil, 0, d.invalidUTF8("invalid UTF-8 in text message")
	}
	return op, p, hl + l, nil
}

// violation says which rule of RFC 6455, section 5, h breaks, or "".
func (d *Decoder) violation(h *Header) string {
	if rsv := h.Rsv; rsv != 0 {
		// RSV1 marks a compressed message, only on its first frame and
		// only when permessage-deflate was negotiated.
		switch {
		case rsv != BitRsv1 || !d.cfg.Compression:
			return fmt.Sprintf("reserved bits %#x set without a negotiated extension", rsv>>4)
		case h.Op.IsControl():
			return fmt.Sprintf("RSV1 set on a %v frame, which is never compressed", h.Op)
		case h.Op == OpContinuation:
			return "RSV1 set on a continuation frame; only a message's first frame may carry it"
		}
	}
	switch {
	case h.Op.IsReserved():
		return h.Op.String()
	case h.Masked && d.cfg.Client:
		return "masked frame from the server"
	case !h.Masked && !d.cfg.Client:
		return "unmasked frame from the client"
	case h.Op.IsControl() && !h.Fin:
		return fmt.Sprintf("fragmented %v frame", h.Op)
	case h.Op.IsControl() && h.Length > MaxControlPayload:
		return fmt.Sprintf("%v frame payload of %d bytes exceeds 125", h.Op, h.Length)
	case h.Op.IsControl():
		return ""
	case h.Op == OpContinuation && !d.inMessage:
		return "continuation frame without a message in progress"
	case h.Op != OpContinuation && d.inMessage:
		return fmt.Sprintf("new %v message before the previous one finished", h.Op)
	}
	return ""
}

// control decodes a whole control frame, or nothing until it is all in b.
func (d *Decoder) control(b []byte, hlen int, h *Header, ev *Event) (int, error) {
	total := hlen + int(h.Length)
	if len(b) < total {
		return 0, nil
	}
	p := b[hlen:total]
	if h.Masked {
		Mask(p, h.Key)
	}
	switch h.Op {
	case OpPing:
		*ev = Event{Kind: Ping, Payload: p}
		return total, nil
	case OpPong:
		*ev = Event{Kind: Pong, Payload: p}
		return total, nil
	}
	code, reason, cerr := ParseClose(p, !d.cfg.SkipUTF8)
	if cerr != nil {
		return 0, d.fail(cerr)
	}
	d.closed = true
	*ev = Event{Kind: Close, Code: code, Payload: reason}
	return total, nil
}

func (d *Decoder) startMessage(h *Header) {
	d.inMessage = true
	d.first = true
	d.op = h.Op
	d.compressed = h.Rsv&BitRsv1 != 0
	d.checkText = h.Op == OpText && !d.cfg.SkipUTF8
	d.limit = d.Limit
	d.wire, d.size = 0, 0
	d.utf8.Reset()
}

// payload decodes up to the rest of the current frame's payload from b;
// off is how much of the input the header took.
func (d *Decoder) payload(b []byte, off int, ev *Event) (int, error) {
	if int64(len(b)) > d.left {
		b = b[:d.left]
	}
	k := len(b)
	// A server reads the client's frames, which violation made sure are
	// all masked; a client reads unmasked ones.
	if !d.cfg.Client && k > 0 {
		d.key = Mask(b, d.key)
	}
	d.left -= int64(k)
	d.wire += int64(k)
	*ev = Event{Kind: Data, Op: d.op, First: d.first, Compressed: d.compressed, Payload: b}
	if !d.compressed {
		d.size += int64(k)
		if d.checkText && !d.utf8.Feed(b) {
			return 0, d.invalidUTF8("invalid UTF-8 in text message")
		}
	}
	if d.left == 0 {
		d.inFrame = false
		if d.fin {
			ev.Last = true
			d.inMessage = false
			if d.checkText && !d.compressed && !d.utf8.Complete() {
				return 0, d.invalidUTF8("text message ends inside a UTF-8 sequence")
			}
		}
	}
	if k == 0 && !ev.First && !ev.Last {
		*ev = Event{}
		return off, nil
	}
	d.first = false
	return off + k, nil
}

func (d *Decoder) invalidUTF8(reason string) error {
	return d.fail(&Error{Code: CloseInvalidPayload, Reason: reason, Cause: CauseUTF8})
}

func (d *Decoder) tooBig() error {
	return d.fail(&Error{Code: CloseMessageTooBig, Reason: fmt.Sprintf("message exceeds the read limit of %d bytes", d.limit), Cause: CauseTooBig})
}

// tooBigOnWire fails a message longer on the wire than wireLimit allows.
func (d *Decoder) tooBigOnWire(lim int64) error {
	if !d.compressed {
		return d.tooBig()
	}
	return d.fail(&Error{Code: CloseMessageTooBig, Reason: fmt.Sprintf("compressed message exceeds %d bytes on the wire (the read limit is %d bytes)", lim, d.limit), Cause: CauseTooBig})
}

// wireLimit bounds the bytes of a message on the wire. A compressed
// message is limited after inflation, and on the wire only so that it
// cannot go on forever while inflating to nothing: deflate expands
// nothing sensible by more than a few bytes in 16 KiB, but an encoder
// may flush after every few bytes of a message (4 or 5 bytes each time)
// and a stream may hold any number of empty blocks, so the bound is
// generous. It fails at a frame's header, before any of the frame is read.
func (d *Decoder) wireLimit() int64 {
	lim := d.limit
	if lim < 0 {
		return lim
	}
	if !d.compressed {
		// The payload alone counts against the limit; the headers of
		// empty frames have wireSlack of their own.
		return saturatingAdd(lim, d.wire-d.size)
	}
	wire := saturatingAdd(saturatingMul8(lim), wireSlack)
	if wire == math.MaxInt64 {
		return -1 // beyond any stream: no bound, as no limit is
	}
	return wire
}

// wireSlack is what a compressed message may take on the wire besides 8
// times the read limit: room for a small limit's framing. An uncompressed
// message may take as much in the headers of its empty frames, besides
// its payload.
const wireSlack = 64 << 10

func saturatingMul8(a int64) int64 {
	if a > math.MaxInt64/8 {
		return math.MaxInt64
	}
	return a * 8
}

func saturatingAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// InflateRoom returns how many more bytes the compressed message in
// progress may inflate to: one past its limit, so that inflating that much
// is enough to see it is too big, and never more (a decompression bomb
// costs nothing). It is math.MaxInt64 without a limit.
func (d *Decoder) InflateRoom() int64 {
	if d.limit < 0 {
		return math.MaxInt64
	}
	return saturatingAdd(d.limit-d.size, 1)
}

// Inflated checks p, the next output of inflating the compressed message
// in progress (or just ended), against the read limit and, for text, UTF-8.
func (d *Decoder) Inflated(p []byte) error {
	if d.err != nil {
		return d.err
	}
	d.size += int64(len(p))
	if d.limit >= 0 && d.size > d.limit {
		return d.tooBig()
	}
	if d.checkText && !d.utf8.Feed(p) {
		return d.invalidUTF8("invalid UTF-8 in text message")
	}
	return nil
}

// InflatedEnd checks the end of a compressed message's output.
func (d *Decoder) InflatedEnd() error {
	if d.err != nil {
		return d.err
	}
	if d.checkText && !d.utf8.Complete() {
		return d.invalidUTF8("text message ends inside a UTF-8 sequence")
	}
	return nil
}

// InflatedSize returns how many bytes the message in progress, or the last
// one, inflated to so far.
func (d *Decoder) InflatedSize() int64 { return d.size }

// FailInflate fails the connection because the compressed data of the
// message in progress is invalid.
func (d *Decoder) FailInflate(why string) error {
	return d.fail(&Error{Code: CloseInvalidPayload, Reason: "invalid compressed data: " + why, Cause: CauseProtocol})
}
