package deflate

import (
	"encoding/binary"
	"io"
	"math/bits"
)

const (
	tableBits = 15
	tableSize = 1 << tableBits

	// blockSize is the input of one DEFLATE block: its tokens are
	// buffered, then coded with the best of three block types.
	blockSize = 64 << 10

	// skipShift sets how fast the matcher skips ahead through data that
	// does not match: one more byte per step every 1<<skipShift bytes
	// since the last match.
	skipShift = 5

	// minBlockMatch is the shortest input searched for matches at all.
	minBlockMatch = 8
)

// Priming: Reset hashes the end of the dictionary so that the message can
// refer back to it. For a message of known size n it hashes the last
// max(primeMin, primeFactor*n) bytes of the window, every primeStride-th
// position; without a size (sizeHint -1), the whole window at every
// position. Bytes before that are still in the peer's window but are not
// searched.
//
// Hashing is what a history costs: a whole 32 KiB window hashed at every
// position costs about five times the compression of a 1 KiB message.
// Measured on 1 KiB JSON chat messages under takeover at 15 bits
// (BenchmarkPrime, CPU time per message, ratio = compressed/plain):
//
//	hashed        stride 1       stride 2       stride 4
//	1 KiB      9.9 µs 0.229   9.4 µs 0.234   9.0 µs 0.242
//	2 KiB     11.0 µs 0.220   9.7 µs 0.226   9.2 µs 0.233
//	4 KiB     13.9 µs 0.215  10.6 µs 0.223   9.8 µs 0.230
//	32 KiB    53.5 µs 0.207  30.1 µs 0.213  18.7 µs 0.221
//
// compress/flate's BestSpeed with a dedicated writer: 15 µs, 0.282. Every
// other position loses little: a repeat that starts at an odd position is
// found one byte later and extended backwards. Hashing more than the
// message's size (primeFactor) gains little for its cost
// (BenchmarkPrimeCorpora): on 4 KiB log batches, 16 KiB hashed instead of
// 4 KiB costs 36 µs instead of 25 µs for 0.261 instead of 0.264
// (compress/flate: 39 µs, 0.317); on 16 KiB HTML, 32 KiB instead of
// 16 KiB costs 58 µs instead of 44 µs for 0.110 instead of 0.111
// (compress/flate: 58 µs, 0.128). primeMin is 2 KiB: for 1 KiB messages,
// 4 KiB would make the output 1.5% smaller for 10% more time, and
// compress/flate's path, which keeps its hash tables, is about as fast.
var (
	primeMin    = 2 << 10
	primeFactor = 1
	primeStride = 2
)

// A Compressor writes raw DEFLATE, one message at a time. It is not safe
// for concurrent use. The zero value is not usable: call NewCompressor.
type Compressor struct {
	w       io.Writer
	maxDist int

	// buf holds the window (dictionary and the input already coded) and
	// the input not yet coded, from pos on. Matches start no earlier than
	// low.
	buf []byte
	pos int
	low int

	// table maps the hash of 5 bytes to the last position they were seen
	// at, plus base: positions from an earlier message or below the slid
	// window come out negative. long does the same for 8 bytes and is
	// tried first, so that a long repeat wins over a recent short one.
	table [tableSize]uint32
	long  [tableSize]uint32 // the same for 8 bytes, tried first
	base  int

	// seqs are the block's matches, each with the run of literals before
	// it, which are read back from buf when the block is written (see
	// seqLitShift); the literals after the last match end the block.
	seqs     []uint64
	litFreq  [numLitLen]uint32
	distFreq [numDist]uint32

	lit, dist, cl huffCode
	hb            huffBuilder
	clSeq         []uint16 // the code lengths run-length coded: symbol | extra<<5
	clFreq        [numCodeLen]uint32

	out   []byte // output not yet given to w (or the caller's slice in Append)
	bits  uint64
	nbits uint
	err   error
}

// NewCompressor returns a Compressor with a window of 2^15 bytes.
func NewCompressor() *Compressor {
	c := &Compressor{
		buf:   make([]byte, 0, maxDistance+blockSize),
		seqs:  make([]uint64, 0, blockSize/minMatch+1),
		clSeq: make([]uint16, 0, numLitLen+numDist),
	}
	c.Reset(nil, 15, nil, -1)
	return c
}

// Reset starts a new stream written to w (nil for Append), whose matches
// reach back at most 2^windowBits bytes (8 to 15), primed with dict: the
// plaintext that came before in the stream, known to the peer, of which
// only the last 2^windowBits bytes count. sizeHint is the size of the
// message to come, which sets how much of dict is hashed (see primeMin),
// or -1 to hash all of the window at every position: the best ratio, for
// streams of unknown size or when CPU matters less.
func (c *Compressor) Reset(w io.Writer, windowBits int, dict []byte, sizeHint int) {
	windowBits = min(max(windowBits, 8), 15)
	c.w = w
	c.err = nil
	c.maxDist = 1 << windowBits
	c.out = c.out[:0]
	c.bits, c.nbits = 0, 0
	// Every position in the table now maps below 0.
	c.base += len(c.buf) + 1
	if c.base > maxBase {
		clear(c.table[:])
		clear(c.long[:])
		c.base = 1
	}
	n := min(len(dict), c.maxDist)
	stride := 1
	if sizeHint >= 0 {
		n = min(n, max(primeMin, primeFactor*sizeHint))
		stride = primeStride
	}
	c.buf = append(c.buf[:0], dict[len(dict)-n:]...)
	c.pos, c.low = n, 0
	c.hashUpTo(n, stride)
}

// hashUpTo enters every stride-th position of buf[:n] in the tables.
func (c *Compressor) hashUpTo(n, stride int) {
	for i := 0; i+8 <= n; i += stride {
		u := load64(c.buf, i)
		c.table[hashKey(u)] = uint32(i + c.base)
		c.long[hashLong(u)] = uint32(i + c.base)
	}
}

// Continue starts the next message of the stream whose last message this
// Compressor ended, written to w (nil for Append): the window and the
// hash tables are kept as they are, so nothing is copied or hashed again,
// and the whole window is searched. The last message must have ended with
// Flush or Append and its output reached the peer; the window size is the
// one given to Reset. Continue(nil) lets go of the writer and keeps the
// stream.
func (c *Compressor) Continue(w io.Writer) {
	c.w = w
	c.err = nil
	c.out = c.out[:0]
	c.bits, c.nbits = 0, 0
}

// Write compresses p. Output goes to the writer given to Reset as whole
// blocks are coded, and at Flush.
func (c *Compressor) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n := len(p)
	c.write(p)
	c.emit()
	return n, c.err
}

// Flush codes the input written so far and ends it with a sync flush: an
// empty stored block, whose last four bytes are 00 00 ff ff. The peer can
// then decode everything written.
func (c *Compressor) Flush() error {
	if c.err != nil {
		return c.err
	}
	c.flush()
	c.emit()
	return c.err
}

// Append compresses p as a whole message with a sync flush and appends
// the output to dst. The Compressor must have been Reset with a nil
// writer.
func (c *Compressor) Append(dst, p []byte) []byte {
	c.out = dst
	c.write(p)
	c.flush()
	dst = c.out
	c.out = nil
	return dst
}

// emit hands the output to w.
func (c *Compressor) emit() {
	if c.w == nil || len(c.out) == 0 {
		return
	}
	_, c.err = c.w.Write(c.out)
	c.out = c.out[:0]
}

func (c *Compressor) write(p []byte) {
	for len(p) > 0 {
		if len(c.buf) == cap(c.buf) {
			c.slide()
		}
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf = c.buf[:len(c.buf)+k]
		p = p[k:]
		if len(c.buf)-c.pos >= blockSize {
			c.block(c.pos + blockSize)
			if c.w != nil {
				c.emit()
				if c.err != nil {
					return
				}
			}
		}
	}
}

func (c *Compressor) flush() {
	if c.pos < len(c.buf) {
		c.block(len(c.buf))
	}
	// An empty stored block, not final.
	c.putBits(0, 3)
	c.alignByte()
	c.out = append(c.out, 0, 0, 0xff, 0xff)
}

// slide drops the input that no match can reach any more.
func (c *Compressor) slide() {
	keep := min(c.pos, c.maxDist)
	shift := c.pos - keep
	if shift == 0 {
		return
	}
	k := copy(c.buf, c.buf[shift:])
	c.buf = c.buf[:k]
	c.pos -= shift
	c.low = max(0, c.low-shift)
	c.base += shift
	if c.base > maxBase {
		c.rebase()
	}
}

// maxBase bounds base, which grows with every byte a stream slides past
// (Continue and a long message never Reset): the tables hold positions
// plus base as uint32, and an int holds base on 32-bit platforms too.
// Past about 4 GiB of one stream the stored positions wrapped and no
// match was found again; on 32-bit platforms, past 2 GiB, base went
// negative and a stale entry read far out of the buffer (a panic).
const maxBase = 1 << 30

// rebase starts base again at 1 and hashes the window once more (what
// matching has passed, buf[:pos]), as Reset would with the window as its
// dictionary: 32 KiB hashed once a GiB of stream.
func (c *Compressor) rebase() {
	clear(c.table[:])
	clear(c.long[:])
	c.base = 1
	c.hashUpTo(c.pos, 1)
}

// load32 and load64 slice b with its end given, so that one bounds check
// covers the load.
func load32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i : i+4]) }

func load64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i : i+8]) }

// hashKey hashes the first hashLen bytes of u.
func hashKey(u uint64) uint32 {
	return uint32(((u << (64 - 8*hashLen)) * 0xcf1bbcdcb7a56463) >> (64 - tableBits))
}

const hashLen = 5

// hashLong hashes all 8 bytes of u.
func hashLong(u uint64) uint32 { return uint32((u * 0x9e3779b97f4a7c15) >> (64 - tableBits)) }

// A seq packs a match and the literals before it: distance-1 in its low
// 15 bits, the distance code in the next 5, length-3 in the 8 above them,
// and from seqLitShift on the number of literals.
const (
	seqDistCodeShift = 15
	seqLenShift      = 20
	seqLitShift      = 32
)

// block finds the matches in buf[pos:end] and codes them as one block.
func (c *Compressor) block(end int) {
	c.seqs = c.seqs[:0]
	clear(c.litFreq[:])
	clear(c.distFreq[:])
	start := c.pos
	buf := c.buf[:end]
	lit := start
	if end-start >= minBlockMatch {
		lit = c.match(buf, start, end)
	}
	for _, b := range buf[lit:end] {
		c.litFreq[b]++
	}
	c.pos = end
	c.writeBlock(buf[start:end])
}

// match is the greedy matcher: it records the matches in buf[s:end] with
// the literals before each, counts the symbols, and returns where the
// trailing literals begin.
func (c *Compressor) match(buf []byte, s, end int) int {
	seqs := c.seqs
	base, low, maxDist := c.base, c.low, c.maxDist
	lit := s
	limit := end - 8
	for s <= limit {
		cur := load64(buf, s)
		hl, h := hashLong(cur), hashKey(cur)
		cand := int(c.long[hl&(tableSize-1)]) - base
		short := int(c.table[h&(tableSize-1)]) - base
		c.long[hl&(tableSize-1)] = uint32(s + base)
		c.table[h&(tableSize-1)] = uint32(s + base)
		// The one bound a candidate must meet: positions are stored in
		// increasing order, so every candidate lies before s.
		lo := max(low, s-maxDist)
		n := 8
		if cand < lo || load64(buf, cand) != cur {
			cand, n = short, minMatch
			if cand < lo || load32(buf, cand) != uint32(cur) {
				s += 1 + (s-lit)>>skipShift
				continue
			}
		}
		// Extend the match forwards, then backwards over pending literals.
		n += matchLen(buf[cand+n:], buf[s+n:min(end, s+maxMatch)])
		for s > lit && cand > low && n < maxMatch && buf[s-1] == buf[cand-1] {
			s--
			cand--
			n++
		}
		for _, b := range buf[lit:s] {
			c.litFreq[b]++
		}
		dist := s - cand
		d := uint64(dist - 1)
		dc := distCode(uint32(d))
		c.distFreq[dc]++
		d |= uint64(dc)<<seqDistCodeShift | uint64(s-lit)<<seqLitShift
		for {
			l := uint64(n - 3)
			seqs = append(seqs, d|l<<seqLenShift)
			c.litFreq[257+int(lengthCode[l])]++
			s += n
			// A repeat longer than one match goes on at the same distance.
			if s > limit || load32(buf, s) != load32(buf, s-dist) {
				break
			}
			n = minMatch + matchLen(buf[s-dist+minMatch:], buf[s+minMatch:min(end, s+maxMatch)])
			d &= 1<<seqLitShift - 1
			c.distFreq[dc]++
		}
		lit = s
		if s <= limit {
			// The position before s, so that the next match can start
			// near the end of this one (the one before that costs more
			// time than it gains).
			u1 := load64(buf, s-1)
			c.table[hashKey(u1)&(tableSize-1)] = uint32(s - 1 + base)
			c.long[hashLong(u1)&(tableSize-1)] = uint32(s - 1 + base)
		}
	}
	c.seqs = seqs
	return lit
}

// matchLen returns the length of the common prefix of a and b, where a is
// at least as long as b.
func matchLen(a, b []byte) int {
	n := 0
	for len(b)-n >= 8 {
		x := binary.LittleEndian.Uint64(a[n:n+8]) ^ binary.LittleEndian.Uint64(b[n:n+8])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
