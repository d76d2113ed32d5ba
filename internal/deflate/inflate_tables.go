package deflate

import "math/bits"

// The Inflater's decoding tables. A table is indexed by the next root bits
// of input (the first bit of a code is the lowest bit of the index) and
// gives the symbol those bits start with, so a code is decoded with one
// lookup, or two for a code longer than root bits: the first entry then
// links to a subtable indexed by the bits that follow.
//
// An entry is a uint32 that holds everything the decoder needs:
//
//	bits 0-5    bits to drop: the code's length, plus the extra bits of a
//	            length or distance (a link: root bits)
//	bits 8-11   the code's length alone, where the extra bits start
//	            (a link: the subtable's index bits)
//	lit/len     bits 16-27 the literal, the base length or the subtable's
//	            offset; bit 31 literal, 30 link, 29 end of block, 28 invalid
//	distance    bits 16-31 the base distance or the subtable's offset;
//	            bit 15 link, bit 14 invalid
//
// A length or distance is the base plus the extra bits, which follow the
// code: (bits & (1<<dropped - 1)) >> codeLength.

const (
	litRootBits  = 10
	distRootBits = 8
	clRootBits   = 7 // code length codes are at most 7 bits: no subtables

	// The table sizes bound the subtables of any code the builder accepts.
	// Codes are canonical: those under one root prefix are consecutive
	// and sorted by length, so a prefix whose codes all have one length
	// needs exactly one entry per code, and at most one prefix per change
	// of length among the long codes (15-root-1 of them) mixes lengths,
	// needing at most 1<<(15-root) entries. Literal/length: 1024 + 288 +
	// 4*32 = 1440; distance: 256 + 32 + 6*128 = 1056. buildTable checks
	// anyway.
	litTableSize  = 1<<litRootBits + 512
	distTableSize = 1<<distRootBits + 1024

	entLit  = 1 << 31
	entLink = 1 << 30
	entEOB  = 1 << 29
	entBad  = 1 << 28

	distLink = 1 << 15
	distBad  = 1 << 14

	entDrop    = 63 // mask of the bits to drop
	litMask    = 1<<litRootBits - 1
	distMask   = 1<<distRootBits - 1
	fixedLitN  = 288 // the fixed code has codes for 286 and 287, which are invalid
	fixedDistN = 32  // and for distances 30 and 31
)

type (
	litTable  [litTableSize]uint32
	distTable [distTableSize]uint32
)

// The entries of each symbol without its code's length, which buildTable
// adds (to both fields, hence the 0x101).
var (
	litTemplate  [fixedLitN]uint32
	distTemplate [fixedDistN]uint32
	clTemplate   [numCodeLen]uint32

	fixedLitTable  litTable
	fixedDistTable distTable
)

func init() {
	for s := range 256 {
		litTemplate[s] = entLit | uint32(s)<<16
	}
	litTemplate[endOfBlock] = entEOB
	for c := range lengthBase {
		litTemplate[257+c] = uint32(lengthBase[c]+3)<<16 | uint32(lengthExtra[c])
	}
	litTemplate[286], litTemplate[287] = entBad, entBad
	for c := range distBase {
		distTemplate[c] = uint32(distBase[c]+1)<<16 | uint32(distExtra[c])
	}
	distTemplate[30], distTemplate[31] = distBad, distBad
	for s := range clTemplate {
		clTemplate[s] = uint32(s) << 16
	}

	// The fixed code (RFC 1951, section 3.2.6). Not fixedLit: init
	// functions run in file order, and tables.go's comes later.
	var lens [fixedLitN]uint8
	for s := range lens {
		switch {
		case s < 144:
			lens[s] = 8
		case s < 256:
			lens[s] = 9
		case s < 280:
			lens[s] = 7
		default:
			lens[s] = 8
		}
	}
	count := countLengths(lens[:])
	buildTable(fixedLitTable[:], lens[:], &count, litRootBits, litTemplate[:], entBad, entLink)
	for s := range lens[:fixedDistN] {
		lens[s] = 5
	}
	count = countLengths(lens[:fixedDistN])
	buildTable(fixedDistTable[:], lens[:fixedDistN], &count, distRootBits, distTemplate[:], distBad, distLink)
}

// lengthCounts counts the codes of each length, 0 (no code) included.
type lengthCounts [maxLitBits + 1]uint16

func countLengths(lens []uint8) lengthCounts {
	var c lengthCounts
	for _, l := range lens {
		c[l&15]++
	}
	return c
}

// buildTable fills t with the decoding table of the prefix code whose code
// lengths are lens, one per symbol (0: no code), as counted by count,
// with root index bits. template gives each symbol's entry, bad the entry
// of bit patterns that start no code and link the flag of links. It
// reports false if the lengths are not a code: oversubscribed, or
// incomplete, which is accepted, as by zlib and compress/flate, only when
// no symbol or a single one-bit code is used.
func buildTable(t []uint32, lens []uint8, count *lengthCounts, root uint, template []uint32, bad, link uint32) bool {
	var offset lengthCounts
	used := len(lens) - int(count[0])
	left := 1
	for l := 1; l <= maxLitBits; l++ {
		left = left<<1 - int(count[l])
		if left < 0 {
			return false
		}
	}
	if left > 0 {
		if used > 1 || used == 1 && count[1] != 1 {
			return false
		}
		for i := range 1 << root {
			t[i] = bad
		}
	}
	// Sort the symbols by code length, then by value: canonical order.
	for l := 1; l < maxLitBits; l++ {
		offset[l+1] = offset[l] + count[l]
	}
	var sorted [fixedLitN]uint16
	for s, l := range lens {
		if l&15 != 0 {
			sorted[offset[l&15]] = uint16(s)
			offset[l&15]++
		}
	}
	return fillTable(t, sorted[:used], count, root, template, link)
}

// fillTable writes the entries of the symbols, in canonical order, codes of
// up to root bits first.
func fillTable(t []uint32, sorted []uint16, count *lengthCounts, root uint, template []uint32, link uint32) bool {
	// The entries of the codes of up to l bits fill t[:1<<l], each at its
	// index mod 1<<l; doubling that part makes room for the next length,
	// and the codes of root bits fill the rest: each entry written once,
	// then copied in bulk.
	code := 0 // the next code of the current length, first bit highest
	i := 0
	l := uint(1)
	for ; l <= root; l++ {
		if l > 1 {
			copy(t[1<<(l-1):1<<l], t[:1<<(l-1)])
		}
		for range count[l] {
			t[reverse(code, l)] = template[sorted[i]] + uint32(l)*0x101
			i++
			code++
		}
		code <<= 1
	}
	// Longer codes: a subtable per root prefix, sized for the longest code
	// under it.
	next := 1 << root // where the next subtable goes
	prefix, sub, subBits := -1, 0, uint(0)
	remaining := *count
	for ; l <= maxLitBits; l++ {
		for range count[l] {
			if p := code >> (l - root); p != prefix {
				prefix, sub = p, next
				subBits = subtableBits(&remaining, l, root)
				next += 1 << subBits
				if next > len(t) {
					return false
				}
				t[reverse(p, root)] = link | uint32(sub)<<16 | uint32(subBits)<<8 | uint32(root)
			}
			s := sorted[i]
			i++
			remaining[l]--
			n := l - root
			e := template[s] + uint32(n)*0x101
			for j := reverse(code&(1<<n-1), n); j < 1<<subBits; j += 1 << n {
				t[sub+j] = e
			}
			code++
		}
		code <<= 1
	}
	return true
}

// subtableBits returns the index bits of the subtable of a root prefix
// whose first code has length l: enough for the codes that fill the
// prefix, of which remaining counts those not yet placed, by length.
func subtableBits(remaining *lengthCounts, l, root uint) uint {
	n := l - root
	left := 1<<n - int(remaining[l])
	for left > 0 && root+n < maxLitBits {
		n++
		left = left<<1 - int(remaining[root+n])
	}
	return n
}

// reverse returns the n-bit code c bit-reversed: its table index.
func reverse(c int, n uint) int {
	return int(bits.Reverse16(uint16(c)) >> (16 - n))
}

// litLookup returns the entry of the literal/length code at the start of
// b, and how many bits before it a link took (0 or litRootBits).
func litLookup(t *litTable, b uint64) (e uint32, skip uint) {
	e = t[b&litMask]
	if e&entLink != 0 {
		skip = litRootBits
		e = t[e>>16&0xfff+uint32(b>>litRootBits)&(1<<(e>>8&15)-1)]
	}
	return e, skip
}

// distLookup is litLookup for distance codes.
func distLookup(t *distTable, b uint64) (e uint32, skip uint) {
	e = t[b&distMask]
	if e&distLink != 0 {
		skip = distRootBits
		e = t[e>>16+uint32(b>>distRootBits)&(1<<(e>>8&15)-1)]
	}
	return e, skip
}

// entryValue returns the length or distance of entry e, whose code starts
// b: base plus extra bits.
func entryValue(base, e uint32, b uint64) int {
	return int(base) + int(b&(1<<(e&entDrop)-1)>>(e>>8&15))
}
