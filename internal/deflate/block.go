package deflate

import (
	"encoding/binary"
	"slices"
)

// putBits writes the low nb bits of v (nb at most 32), LSB first.
func (c *Compressor) putBits(v uint32, nb uint) {
	c.bits |= uint64(v) << c.nbits
	c.nbits += nb
	if c.nbits >= 32 {
		b := c.bits
		c.out = append(c.out, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
		c.bits >>= 32
		c.nbits -= 32
	}
}

// alignByte pads the output with zero bits to a byte boundary and writes
// out every pending bit.
func (c *Compressor) alignByte() {
	for c.nbits > 0 {
		c.out = append(c.out, byte(c.bits))
		c.bits >>= 8
		c.nbits = c.nbits - min(c.nbits, 8)
	}
	c.bits = 0
}

// Block types (BTYPE).
const (
	typeStored  = 0
	typeFixed   = 1
	typeDynamic = 2
)

// writeBlock codes the tokens of raw, whichever of a dynamic, fixed or
// stored block is smallest.
func (c *Compressor) writeBlock(raw []byte) {
	c.litFreq[endOfBlock] = 1
	c.hb.build(&c.lit, c.litFreq[:], maxLitBits)
	c.hb.build(&c.dist, c.distFreq[:], maxLitBits)
	nlit := numLitLen
	for nlit > 257 && c.lit.len[nlit-1] == 0 {
		nlit--
	}
	ndist := numDist
	for ndist > 1 && c.dist.len[ndist-1] == 0 {
		ndist--
	}
	ncl := c.codeLengths(nlit, ndist)

	extra := 0 // the extra bits of lengths and distances, whatever the code
	for i, f := range c.litFreq[257:] {
		extra += int(f) * int(lengthExtra[i])
	}
	for i, f := range c.distFreq {
		extra += int(f) * int(distExtra[i])
	}
	dynamic := 3 + 5 + 5 + 4 + 3*ncl + extra +
		c.codeLengthBits() + dataBits(c.litFreq[:], c.distFreq[:], &c.lit, &c.dist)
	fixed := 3 + extra + dataBits(c.litFreq[:], c.distFreq[:], &fixedLit, &fixedDist)
	// A stored block: its header, at most 7 bits of padding, LEN and NLEN,
	// per 65535 bytes.
	stored := (len(raw)/65535+1)*(3+7+32) + 8*len(raw)

	c.reserve(min(dynamic, fixed, stored))
	switch {
	case stored <= dynamic && stored <= fixed:
		c.writeStored(raw)
	case fixed <= dynamic:
		c.putBits(typeFixed<<1, 3)
		c.writeTokens(raw, &fixedLit, &fixedDist)
	default:
		c.lit.assign(nlit)
		c.dist.assign(ndist)
		c.cl.assign(numCodeLen)
		c.putBits(typeDynamic<<1, 3)
		c.putBits(uint32(nlit-257), 5)
		c.putBits(uint32(ndist-1), 5)
		c.putBits(uint32(ncl-4), 4)
		for _, s := range codeLenOrder[:ncl] {
			c.putBits(uint32(c.cl.len[s]), 3)
		}
		for _, e := range c.clSeq {
			s := e & 31
			c.putBits(uint32(c.cl.code[s]), uint(c.cl.len[s]))
			switch s {
			case 16:
				c.putBits(uint32(e>>5), 2)
			case 17:
				c.putBits(uint32(e>>5), 3)
			case 18:
				c.putBits(uint32(e>>5), 7)
			}
		}
		c.writeTokens(raw, &c.lit, &c.dist)
	}
}

// reserve makes room in the output for a block of size bits, the bits
// pending before it and the 8 bytes writeTokens stores at a time, so that
// the output grows at most once per block.
func (c *Compressor) reserve(size int) {
	if cap(c.out)-len(c.out) < size/8+16 {
		c.out = slices.Grow(c.out, size/8+16)
	}
}

// dataBits is the size in bits of the symbols of a block under the codes
// lit and dist, extra bits left out.
func dataBits(litFreq, distFreq []uint32, lit, dist *huffCode) int {
	n := 0
	for i, f := range litFreq {
		n += int(f) * int(lit.len[i])
	}
	for i, f := range distFreq {
		n += int(f) * int(dist.len[i])
	}
	return n
}

// codeLengths run-length codes the lengths of the literal/length and
// distance codes into clSeq (RFC 1951, section 3.2.7), builds the code
// length code and returns how many of its lengths are sent.
func (c *Compressor) codeLengths(nlit, ndist int) int {
	seq := c.clSeq[:0]
	clear(c.clFreq[:])
	var lens [numLitLen + numDist]uint8
	copy(lens[:], c.lit.len[:nlit])
	copy(lens[nlit:], c.dist.len[:ndist])
	all := lens[:nlit+ndist]
	for i := 0; i < len(all); {
		l := all[i]
		run := 1
		for i+run < len(all) && all[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for run >= 11 {
				r := min(run, 138)
				seq = append(seq, 18|uint16(r-11)<<5)
				c.clFreq[18]++
				run -= r
			}
			if run >= 3 {
				seq = append(seq, 17|uint16(run-3)<<5)
				c.clFreq[17]++
				run = 0
			}
		} else {
			seq = append(seq, uint16(l))
			c.clFreq[l]++
			run--
			for run >= 3 {
				r := min(run, 6)
				seq = append(seq, 16|uint16(r-3)<<5)
				c.clFreq[16]++
				run -= r
			}
		}
		for ; run > 0; run-- {
			seq = append(seq, uint16(l))
			c.clFreq[l]++
		}
	}
	c.clSeq = seq
	c.hb.build(&c.cl, c.clFreq[:], maxCLBits)
	ncl := numCodeLen
	for ncl > 4 && c.cl.len[codeLenOrder[ncl-1]] == 0 {
		ncl--
	}
	return ncl
}

// codeLengthBits is the size in bits of clSeq under the code length code.
func (c *Compressor) codeLengthBits() int {
	n := 0
	for s, f := range c.clFreq {
		n += int(f) * int(c.cl.len[s])
	}
	return n + 2*int(c.clFreq[16]) + 3*int(c.clFreq[17]) + 7*int(c.clFreq[18])
}

// writeTokens writes the block's symbols and its end, after its header:
// the literals of raw and the matches of seqs. The output must have room
// for them and 8 bytes more (see writeBlock): the bits go out 8 bytes at
// a time, of which the whole ones are kept.
func (c *Compressor) writeTokens(raw []byte, lit, dist *huffCode) {
	out := c.out[:cap(c.out)]
	n := len(c.out)
	bits, nbits := c.bits, c.nbits
	n, bits, nbits = flushBits(out, n, bits, nbits)
	pos := 0
	// Shifts are masked to 63, which they never exceed, so that the
	// compiler does not guard them.
	for _, q := range c.seqs {
		k := int(q >> seqLitShift)
		n, bits, nbits = writeLiterals(out, n, bits, nbits, raw[pos:pos+k], lit)
		l := uint32(q>>seqLenShift) & 0xff
		pos += k + int(l) + 3
		// A match is at most 48 bits: 15 of code and 5 extra for the
		// length, 15 and 13 for the distance.
		li := lengthInfo[l]
		e := lit.enc[257+li&31]
		bits |= (uint64(e&0xffff) | uint64(li>>16)<<(e>>16&63)) << (nbits & 63)
		nbits += uint(e>>16 + li>>8&15)
		d := uint32(q) & 0x7fff
		dc := uint32(q>>seqDistCodeShift) & 31
		e = dist.enc[dc]
		bits |= (uint64(e&0xffff) | uint64(d-uint32(distBase[dc]))<<(e>>16&63)) << (nbits & 63)
		nbits += uint(e>>16) + uint(distExtra[dc])
		n, bits, nbits = flushBits(out, n, bits, nbits)
	}
	n, bits, nbits = writeLiterals(out, n, bits, nbits, raw[pos:], lit)
	e := lit.enc[endOfBlock]
	bits |= uint64(e&0xffff) << (nbits & 63)
	nbits += uint(e >> 16)
	c.out = out[:n]
	c.bits, c.nbits = bits, nbits
}

// writeLiterals writes the literals of p with the code h.
func writeLiterals(out []byte, n int, bits uint64, nbits uint, p []byte, h *huffCode) (int, uint64, uint) {
	for _, b := range p {
		e := h.enc[b]
		bits |= uint64(e&0xffff) << (nbits & 63)
		nbits += uint(e >> 16)
		n, bits, nbits = flushBits(out, n, bits, nbits)
	}
	return n, bits, nbits
}

// flushBits writes the whole bytes of bits (nbits of them) to out at n,
// storing 8 bytes, and returns what is left: fewer than 8 bits. It does
// not branch on how many there were, which the data decides.
func flushBits(out []byte, n int, bits uint64, nbits uint) (int, uint64, uint) {
	binary.LittleEndian.PutUint64(out[n:n+8], bits)
	k := nbits >> 3
	return n + int(k), bits >> (k << 3 & 63), nbits & 7
}

// writeStored writes raw as stored blocks.
func (c *Compressor) writeStored(raw []byte) {
	for {
		n := min(len(raw), 65535)
		c.putBits(typeStored<<1, 3)
		c.alignByte()
		c.out = append(c.out, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		c.out = append(c.out, raw[:n]...)
		raw = raw[n:]
		if len(raw) == 0 {
			return
		}
	}
}
