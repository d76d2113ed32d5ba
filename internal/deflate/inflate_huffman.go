package deflate

import "encoding/binary"

// The data of a Huffman-coded block: a fast loop while at least 8 bytes
// of input remain, then a symbol at a time.

// huffman decodes a Huffman block into out[o:] until out is full or the
// block ends, and returns the new end of the output.
func (f *Inflater) huffman(out []byte, o int) int {
	if f.copyLen > 0 {
		n := min(f.copyLen, len(out)-o)
		o = f.copyMatch(out, o, f.copyDist, n)
		f.copyLen -= n
		if f.copyLen > 0 {
			return o
		}
	}
	o = f.fast(out, o)
	if f.state == inHuffman && f.err == nil && f.copyLen == 0 {
		o = f.slow(out, o)
	}
	return o
}

// fast is the decoding loop. Each round loads 8 bytes of input at once,
// which leaves at least 56 bits: enough for a length and a distance with
// their extra bits (at most 48). Matches are copied 8 bytes at a time,
// except from the history or where out has no room for the bytes written
// past the match.
func (f *Inflater) fast(out []byte, o int) int {
	src, pos, bits, nb := f.src, f.pos, f.bits, f.nb
	lt, dt := f.lit, f.dist
	hist := f.histLen()
	dict, onlyDict := f.dict, f.ringLen == 0 // the history is dict alone
	for pos <= len(src)-8 && o < len(out) {
		bits |= binary.LittleEndian.Uint64(src[pos:]) << (nb & 63)
		pos += int(63-nb) >> 3
		nb |= 56

		e := lt[bits&litMask]
		if e&entLink != 0 {
			bits >>= litRootBits
			nb -= litRootBits
			e = lt[e>>16&0xfff+uint32(bits)&(1<<(e>>8&15)-1)]
		}
		if e&entLit != 0 {
			// Up to three literals per load: each takes at most 15 bits.
			out[o] = byte(e >> 16)
			o++
			bits >>= e & entDrop
			nb -= uint(e & entDrop)
			if e = lt[bits&litMask]; e&entLit == 0 || o == len(out) {
				continue
			}
			out[o] = byte(e >> 16)
			o++
			bits >>= e & entDrop
			nb -= uint(e & entDrop)
			if e = lt[bits&litMask]; e&entLit == 0 || o == len(out) {
				continue
			}
			out[o] = byte(e >> 16)
			o++
			bits >>= e & entDrop
			nb -= uint(e & entDrop)
			continue
		}
		if e&(entEOB|entBad) != 0 {
			bits >>= e & entDrop
			nb -= uint(e & entDrop)
			f.pos, f.bits, f.nb = pos, bits, nb
			if e&entBad != 0 {
				f.err = errSymbol
			} else {
				f.endBlock()
			}
			return o
		}
		length := entryValue(e>>16&0xfff, e, bits)
		bits >>= e & entDrop
		nb -= uint(e & entDrop)

		d := dt[bits&distMask]
		if d&distLink != 0 {
			bits >>= distRootBits
			nb -= distRootBits
			d = dt[d>>16+uint32(bits)&(1<<(d>>8&15)-1)]
		}
		if d&distBad != 0 {
			f.err = errDistSymbol
			break
		}
		dist := entryValue(d>>16, d, bits)
		bits >>= d & entDrop
		nb -= uint(d & entDrop)

		room := len(out) - o - 8 // for the 8-byte stores past a match
		if dist > o {
			back := dist - o
			if back > hist {
				f.err = errDistance
				break
			}
			if onlyDict && back-length >= 8 && length <= room {
				// All of it in the dictionary, 8 bytes at a time.
				end := o + length
				for from := len(dict) - back; o < end; from += 8 {
					binary.LittleEndian.PutUint64(out[o:], binary.LittleEndian.Uint64(dict[from:]))
					o += 8
				}
				o = end
				continue
			}
		} else if length <= room {
			// From out itself, 8 bytes at a time.
			end := o + length
			from := o - dist
			switch {
			case length >= 32 && dist >= length:
				copy(out[o:end], out[from:from+length])
			case dist >= 8:
				for o < end {
					binary.LittleEndian.PutUint64(out[o:], binary.LittleEndian.Uint64(out[from:]))
					o += 8
					from += 8
				}
			case dist == 1:
				v := uint64(out[from]) * 0x0101010101010101
				for o < end {
					binary.LittleEndian.PutUint64(out[o:], v)
					o += 8
				}
			default:
				for ; o < end; o++ {
					out[o] = out[o-dist]
				}
			}
			o = end
			continue
		}
		// Across the history and out, or near the end of out.
		k := min(length, len(out)-o)
		o = f.copyMatch(out, o, dist, k)
		if k < length {
			f.copyLen, f.copyDist = length-k, dist
			break
		}
	}
	f.pos, f.bits, f.nb = pos, bits, nb
	return o
}

// slow decodes a symbol at a time, checking for the end of input and of
// out. When out is full it still takes an end of block, so that a Read
// that fills p exactly at the end of the message returns io.EOF.
//
// Input fed in pieces that ends inside a symbol, or between a length and
// its distance, is decoded again from the symbol's (the length's) start
// once more has come.
func (f *Inflater) slow(out []byte, o int) int {
	for {
		mark := f.bitPos()
		f.fill()
		e, skip := litLookup(f.lit, f.bits)
		n := skip + uint(e&entDrop)
		switch {
		case e&entBad != 0:
			f.err = errSymbol
			return o
		case n > f.nb:
			f.truncated(mark)
			return o
		case e&entEOB != 0:
			f.drop(n)
			f.endBlock()
			return o
		case o == len(out):
			return o
		case e&entLit != 0:
			out[o] = byte(e >> 16)
			o++
			f.drop(n)
			continue
		}
		length := entryValue(e>>16&0xfff, e, f.bits>>skip)
		f.drop(n)
		d, skip := distLookup(f.dist, f.bits)
		n = skip + uint(d&entDrop)
		switch {
		case d&distBad != 0:
			f.err = errDistSymbol
			return o
		case n > f.nb:
			f.truncated(mark)
			return o
		}
		dist := entryValue(d>>16, d, f.bits>>skip)
		f.drop(n)
		if dist > o && dist-o > f.histLen() {
			f.err = errDistance
			return o
		}
		k := min(length, len(out)-o)
		o = f.copyMatch(out, o, dist, k)
		if k < length {
			f.copyLen, f.copyDist = length-k, dist
			return o
		}
	}
}
