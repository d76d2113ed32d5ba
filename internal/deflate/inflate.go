package deflate

import (
	"encoding/binary"
	"errors"
	"io"
)

// The errors of corrupt input. The end of a message's input is the
// sync-flush tail RFC 7692 strips, so input that ends where a block may
// end is the end of the message, and input that ends inside a block is
// errTruncated.
var (
	errTruncated    = errors.New("unexpected end of compressed data")
	errAfterFinal   = errors.New("data after the final deflate block")
	errBlockType    = errors.New("invalid block type")
	errStoredLength = errors.New("stored block length does not match its complement")
	errCodeCounts   = errors.New("too many literal/length or distance codes")
	errCodeLengths  = errors.New("invalid code lengths")
	errLitCode      = errors.New("invalid literal/length code")
	errDistCode     = errors.New("invalid distance code")
	errSymbol       = errors.New("invalid literal/length symbol")
	errDistSymbol   = errors.New("invalid distance symbol")
	errDistance     = errors.New("distance reaches before the start of the history")
	errEndBits      = errors.New("non-zero bits after the last block")
)

// ErrNeedInput is what Read returns when a message fed in pieces (Feed)
// needs the next piece to go on: not an error of the input.
var ErrNeedInput = errors.New("deflate: more input needed")

// The decoder's place in the stream.
const (
	atHeader  = iota // before a block header
	inStored         // in a stored block: storedLeft bytes to go
	inHuffman        // in a block of fixed or dynamic codes
	atEnd            // the message ended: err is set
)

// winSize is the farthest a DEFLATE back-reference reaches.
const winSize = maxDistance

// An Inflater decodes raw DEFLATE (RFC 1951): the payload of one
// permessage-deflate message (RFC 7692) at a time, whole in memory or fed
// in pieces. It never allocates and never produces more than asked, so a caller that
// bounds what it reads bounds what a decompression bomb costs.
//
// It is large (about 45 KB: the decoding tables of a block, and 32 KiB of
// the message's output for back-references that reach behind the current
// Read) and meant to be pooled, taken only while a message is read.
// Output goes straight into the caller's buffer; a dictionary is read
// where it is, not copied.
//
// An Inflater must not be copied after Reset: it points into itself.
type Inflater struct {
	src  []byte
	pos  int    // src[pos:] is not yet in bits
	bits uint64 // the next nb bits of input, first bit lowest; above them, input or zeros
	nb   uint

	state      int
	final      bool // the block in progress is the last one
	more       bool // src is not the end of the message's input (Feed)
	skip       uint // bits of Rest's first byte already consumed
	storedLeft int
	copyLen    int // a match that did not fit in the last Read: bytes to go
	copyDist   int
	err        error

	lit  *litTable
	dist *distTable

	// What back-references reach before the output of the current Read:
	// dict, then the message's earlier output, whose last ringLen bytes
	// (up to winSize) ring holds, ending before wpos.
	dict    []byte
	ring    [winSize]byte
	wpos    int
	ringLen int

	litTab  litTable
	distTab distTable
	clTab   [1 << clRootBits]uint32
	lens    [numLitLen + numDist]uint8 // a dynamic block's code lengths
}

// NewInflater returns an Inflater with no input: Reset gives it a message.
func NewInflater() *Inflater { return new(Inflater) }

// Reset starts a message whose compressed payload is src, without the
// sync-flush tail, and whose back-references may reach into dict, the
// output of the messages before it (context takeover) oldest byte first,
// of which the last 32 KiB count. Neither is copied: both must stay
// unchanged until the message ends (see AppendHistory).
func (f *Inflater) Reset(src, dict []byte) {
	if len(dict) > winSize {
		dict = dict[len(dict)-winSize:]
	}
	f.src, f.pos, f.bits, f.nb, f.more, f.skip = src, 0, 0, 0, false, 0
	f.state, f.final, f.storedLeft, f.copyLen, f.copyDist, f.err = atHeader, false, 0, 0, 0, nil
	f.dict, f.wpos, f.ringLen = dict, 0, 0
}

// ResetStream starts a message whose compressed payload comes in pieces,
// each given to Feed as it arrives, so that it is decoded without being
// gathered first. dict is as for Reset.
func (f *Inflater) ResetStream(dict []byte) {
	f.Reset(nil, dict)
	f.more = true
}

// Feed gives a message started with ResetStream its next input: src is
// Rest, the input the last Read left, followed by the bytes that arrived
// since; more reports whether the payload goes on after src (its last
// byte is then the message's end, tail stripped, as for Reset). src is
// read in place until the next Feed.
//
// A piece may end anywhere, inside a symbol or a block header: Read
// decodes up to the last whole symbol and returns ErrNeedInput, leaving
// the rest (at most a dynamic block's header: under 300 bytes) to be given
// again.
func (f *Inflater) Feed(src []byte, more bool) {
	f.src, f.pos, f.bits, f.nb, f.more = src, 0, 0, 0, more
	if f.err != ErrNeedInput {
		return
	}
	f.err = nil
	if f.skip > 0 {
		f.fill()
		if f.nb < f.skip {
			f.err = errTruncated // Rest was not given again
			return
		}
		f.drop(f.skip)
		f.skip = 0
	}
}

// Rest returns the input that the Read that returned ErrNeedInput did not
// consume, to be given again at the start of the next Feed: it aliases
// the last Feed's src.
func (f *Inflater) Rest() []byte { return f.src[f.pos:] }

// bitPos returns the position in src of the next bit to decode.
func (f *Inflater) bitPos() int { return f.pos<<3 - int(f.nb) }

// needInput stops at mark, a bitPos of a symbol's or block header's
// start, for the next piece of input: the bits from mark on are decoded
// again once it is there.
func (f *Inflater) needInput(mark int) {
	f.pos, f.skip = mark>>3, uint(mark&7)
	f.bits, f.nb = 0, 0
	f.err = ErrNeedInput
}

// Read decodes up to len(p) bytes of the message into p. It returns io.EOF
// at the end of the message, possibly along with the last bytes, and an
// error describing the input if the input is not valid DEFLATE; errors
// are final. p's bytes past the count returned may be overwritten.
func (f *Inflater) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	o := 0
	for more := true; more && f.err == nil; {
		o, more = f.step(p, o)
	}
	if f.err != nil && f.err != ErrNeedInput {
		return o, f.err
	}
	f.keep(p[:o])
	return o, f.err
}

// ReadAppend decodes the message's next bytes into the spare capacity of
// msg and returns msg extended; its results are otherwise those of Read.
// Unlike Read's, its back-references read the message's earlier output in
// place, and it keeps none of it: msg must hold, oldest byte first, all
// of the message's output since it began, or since the last Read or Keep.
// A Read that follows must be preceded by Keep of that output.
func (f *Inflater) ReadAppend(msg []byte) ([]byte, error) {
	if f.err != nil {
		return msg, f.err
	}
	p, o := msg[:cap(msg)], len(msg)
	if o == len(p) {
		return msg, nil
	}
	for more := true; more && f.err == nil; {
		o, more = f.step(p, o)
	}
	return p[:o], f.err
}

// Keep adds out, the message's output that ReadAppend decoded in place,
// to the history that later Reads' back-references reach, as Read does
// with its own output.
func (f *Inflater) Keep(out []byte) { f.keep(out) }

// step decodes from the current state into p[o:]: a block header, a
// block's data until p is full or the block ends, or the end. It reports
// false when p is full.
func (f *Inflater) step(p []byte, o int) (int, bool) {
	switch f.state {
	case atHeader:
		f.header()
	case inStored:
		if f.storedLeft == 0 {
			f.endBlock()
			break
		}
		if o == len(p) {
			return o, false
		}
		o = f.stored(p, o)
	case inHuffman:
		o = f.huffman(p, o)
		return o, f.state != inHuffman
	default:
		f.endFinal()
	}
	return o, true
}

// endBlock moves on after the end of a block.
func (f *Inflater) endBlock() {
	if !f.final {
		f.state = atHeader
		return
	}
	f.state = atEnd
	f.endFinal()
}

// endFinal ends the message after its final block: no input may follow,
// in this piece or, fed in pieces, in those to come.
func (f *Inflater) endFinal() {
	switch {
	case len(f.src)-f.pos+int(f.nb>>3) > 0:
		f.err = errAfterFinal
	case f.more:
		f.needInput(f.bitPos())
	default:
		f.err = io.EOF
	}
}

// endMessage ends the message where its input ends, between blocks, or
// waits at mark for more input if there is more.
func (f *Inflater) endMessage(mark int) {
	if f.more {
		f.needInput(mark)
		return
	}
	f.state = atEnd
	f.err = io.EOF
}

// truncated fails the message for input that ends inside a block, or
// waits at mark for more input if there is more.
func (f *Inflater) truncated(mark int) {
	if f.more {
		f.needInput(mark)
		return
	}
	f.err = errTruncated
}

// fill loads input into bits until they hold at least 56 bits, or all the
// input left.
func (f *Inflater) fill() {
	if f.pos <= len(f.src)-8 {
		f.bits |= binary.LittleEndian.Uint64(f.src[f.pos:]) << (f.nb & 63)
		f.pos += int(63-f.nb) >> 3
		f.nb |= 56
		return
	}
	for f.nb < 56 && f.pos < len(f.src) {
		f.bits |= uint64(f.src[f.pos]) << f.nb
		f.pos++
		f.nb += 8
	}
}

// drop consumes n bits, which bits holds.
func (f *Inflater) drop(n uint) {
	f.bits >>= n & 63
	f.nb -= n
}

// take consumes and returns the next n bits (n at most 32), and reports
// false if the input ends first.
func (f *Inflater) take(n uint) (uint32, bool) {
	if f.nb < n {
		f.fill()
		if f.nb < n {
			return 0, false
		}
	}
	v := uint32(f.bits & (1<<n - 1))
	f.drop(n)
	return v, true
}
