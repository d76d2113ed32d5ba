package deflate

// Block headers (RFC 1951, sections 3.2.3 to 3.2.7) and stored blocks.

// syncTail is the end of an empty stored block, which RFC 7692 strips
// from every message.
const syncTail = "\x00\x00\xff\xff"

// header reads a block header, and a dynamic block's codes.
// Input fed in pieces that ends inside a header is decoded again from the
// header's start once more has come.
func (f *Inflater) header() {
	mark := f.bitPos()
	f.fill()
	if f.nb < 3 {
		// The input ends between blocks, with at most the rest of a byte.
		// That rest is padding, zero: other bits would start, with the
		// tail appended (RFC 7692, section 7.2.2), a block the tail's
		// zeros cannot make valid.
		if !f.more && f.bits&(1<<f.nb-1) != 0 {
			f.err = errEndBits
			return
		}
		f.endMessage(mark)
		return
	}
	f.final = f.bits&1 != 0
	typ := f.bits >> 1 & 3
	f.drop(3)
	switch typ {
	case 0:
		f.storedHeader(mark)
	case 1:
		f.lit, f.dist = &fixedLitTable, &fixedDistTable
		f.state = inHuffman
	case 2:
		err := f.dynamicHeader()
		switch err {
		case nil:
			f.lit, f.dist = &f.litTab, &f.distTab
			f.state = inHuffman
		case errTruncated:
			f.truncated(mark)
		default:
			f.err = err
		}
	default:
		f.err = errBlockType
	}
}

// storedHeader reads a stored block's lengths, after its header bits, which
// start at mark. A message may end right there: that is the empty block
// ending a sync flush, whose lengths (syncTail) RFC 7692 strips and the
// receiver appends again. It may not end inside the lengths: the tail
// appended behind one to three bytes of them makes lengths that do not
// match (RFC 7692, section 7.2.2; zlib refuses them too).
func (f *Inflater) storedHeader(mark int) {
	// Skip to the byte boundary; whole bytes in bits go back to src.
	f.pos -= int(f.nb >> 3)
	f.bits, f.nb = 0, 0
	rest := f.src[f.pos:]
	if len(rest) < 4 {
		if len(rest) == 0 {
			f.endMessage(mark)
		} else {
			f.truncated(mark)
		}
		return
	}
	n := uint16(rest[0]) | uint16(rest[1])<<8
	if n != ^(uint16(rest[2]) | uint16(rest[3])<<8) {
		f.err = errStoredLength
		return
	}
	f.pos += 4
	f.storedLeft = int(n)
	f.state = inStored
}

// stored copies a stored block's data into p[o:], as much as fits.
func (f *Inflater) stored(p []byte, o int) int {
	n := min(f.storedLeft, len(p)-o)
	k := copy(p[o:o+n], f.src[f.pos:])
	f.pos += k
	f.storedLeft -= k
	if k < n {
		f.truncated(f.pos << 3) // stored data is whole bytes: nothing to decode again
	} else if f.storedLeft == 0 {
		f.endBlock()
	}
	return o + k
}

// dynamicHeader reads the codes of a dynamic block and builds its tables.
func (f *Inflater) dynamicHeader() error {
	counts, ok := f.take(14)
	if !ok {
		return errTruncated
	}
	nlit := int(counts&31) + 257
	ndist := int(counts>>5&31) + 1
	nclen := int(counts>>10) + 4
	if nlit > numLitLen || ndist > numDist {
		return errCodeCounts
	}
	var clLens [numCodeLen]uint8
	for _, s := range codeLenOrder[:nclen] {
		l, ok := f.take(3)
		if !ok {
			return errTruncated
		}
		clLens[s] = uint8(l)
	}
	clCount := countLengths(clLens[:])
	if !buildTable(f.clTab[:], clLens[:], &clCount, clRootBits, clTemplate[:], entBad, entLink) {
		return errCodeLengths
	}
	lens := f.lens[:nlit+ndist]
	var count [2]lengthCounts // literal/length, distance
	if err := f.codeLengths(lens, nlit, &count); err != nil {
		return err
	}
	if !buildTable(f.litTab[:], lens[:nlit], &count[0], litRootBits, litTemplate[:], entBad, entLink) {
		return errLitCode
	}
	if !buildTable(f.distTab[:], lens[nlit:], &count[1], distRootBits, distTemplate[:], distBad, distLink) {
		return errDistCode
	}
	return nil
}

// codeLengths reads the code lengths of a dynamic block's literal/length
// and distance codes into lens, with the code length code in clTab, and
// counts them, the first nlit in count[0], the rest in count[1].
func (f *Inflater) codeLengths(lens []uint8, nlit int, count *[2]lengthCounts) error {
	for i := 0; i < len(lens); {
		if f.nb < clRootBits+7 {
			f.fill()
		}
		e := f.clTab[f.bits&(1<<clRootBits-1)]
		n := uint(e & entDrop)
		switch {
		case e&entBad != 0:
			return errCodeLengths
		case n > f.nb:
			return errTruncated
		}
		f.drop(n)
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			if i < nlit {
				count[0][sym]++
			} else {
				count[1][sym]++
			}
			i++
			continue
		}
		// 16: the previous length 3-6 times; 17: 3-10 zeros; 18: 11-138.
		rep, extra, v := uint32(3), uint(2), uint8(0)
		switch sym {
		case 16:
			if i == 0 {
				return errCodeLengths
			}
			v = lens[i-1]
		case 17:
			extra = 3
		default:
			rep, extra = 11, 7
		}
		x, ok := f.take(extra)
		if !ok {
			return errTruncated
		}
		end := i + int(rep+x)
		if end > len(lens) {
			return errCodeLengths
		}
		if i < nlit {
			count[0][v] += uint16(min(end, nlit) - i)
		}
		if end > nlit {
			count[1][v] += uint16(end - max(i, nlit))
		}
		for ; i < end; i++ {
			lens[i] = v
		}
	}
	return nil
}
