package deflate

import (
	"math/bits"
	"slices"
)

// huffCode is a prefix code: for each symbol its length in bits (0: not
// used) and its code, bit-reversed, ready to be written LSB first; enc
// holds both for the writer's one load: code | length<<16.
type huffCode struct {
	len  [288]uint8
	code [288]uint16
	enc  [288]uint32
}

// assign gives the first n symbols their canonical codes from their
// lengths (RFC 1951, section 3.2.2).
func (h *huffCode) assign(n int) {
	var count [maxLitBits + 1]uint16
	for _, l := range h.len[:n] {
		count[l]++
	}
	count[0] = 0
	var next [maxLitBits + 1]uint16
	code := uint16(0)
	for b := 1; b <= maxLitBits; b++ {
		code = (code + count[b-1]) << 1
		next[b] = code
	}
	for i, l := range h.len[:n] {
		if l == 0 {
			h.code[i], h.enc[i] = 0, 0
			continue
		}
		h.code[i] = bits.Reverse16(next[l]) >> (16 - l)
		h.enc[i] = uint32(h.code[i]) | uint32(l)<<16
		next[l]++
	}
}

// huffBuilder computes length-limited code lengths. Its scratch space
// makes the computation allocation-free.
type huffBuilder struct {
	keys  [288]uint32 // frequency<<9 | symbol, of the symbols in use
	nodes [288]uint32
}

// build sets h's lengths for the first n symbols from their frequencies,
// with no code longer than maxBits; assign gives the codes. The code is
// always complete: when fewer than two symbols occur, two get 1-bit codes,
// which every inflater accepts. The frequencies must add up to less than
// 2^24, which bounds the depth of the unlimited code to 34.
func (b *huffBuilder) build(h *huffCode, freq []uint32, maxBits int) {
	n := len(freq)
	clear(h.len[:n])
	keys := b.keys[:0]
	for i, f := range freq {
		if f != 0 {
			keys = append(keys, f<<9|uint32(i))
		}
	}
	if len(keys) < 2 {
		used := 0
		if len(keys) == 1 {
			used = int(keys[0] & 511)
		}
		other := 0
		if used == 0 {
			other = 1
		}
		h.len[used], h.len[other] = 1, 1
		return
	}
	slices.Sort(keys)
	a := b.nodes[:len(keys)]
	for i, k := range keys {
		a[i] = k >> 9
	}
	depths(a)
	// a now holds the depth of each leaf, in the order of keys (rarest
	// first). Count the leaves per depth, then limit the depth.
	var count [48]uint32
	deepest := 0
	for _, d := range a {
		count[d]++
		deepest = max(deepest, int(d))
	}
	for i := deepest; i > maxBits; i-- {
		// Two leaves at depth i leave it: one takes their parent's place,
		// the other becomes, with a leaf taken from the deepest level j
		// above i-1 that has one, a pair of leaves at depth j+1. The
		// Kraft sum stays exactly 1.
		for count[i] > 0 {
			j := i - 2
			for count[j] == 0 {
				j--
			}
			count[i] -= 2
			count[i-1]++
			count[j+1] += 2
			count[j]--
		}
	}
	// The rarest symbols get the longest codes.
	k := 0
	for l := min(deepest, maxBits); l >= 1; l-- {
		for c := count[l]; c > 0; c-- {
			h.len[keys[k]&511] = uint8(l)
			k++
		}
	}
}

// depths replaces the ascending weights in a (at least two) by the depths
// of the leaves of a minimum-redundancy (Huffman) code for them, in place:
// the method of Moffat and Katajainen. The first pass pairs nodes and
// leaves, leaving parent indexes behind; the second turns them into the
// depths of internal nodes; the third counts leaves per depth.
func depths(a []uint32) {
	n := len(a)
	a[0] += a[1]
	root, leaf := 0, 2
	for next := 1; next < n-1; next++ {
		if leaf >= n || a[root] < a[leaf] {
			a[next] = a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] = a[leaf]
			leaf++
		}
		if leaf >= n || (root < next && a[root] < a[leaf]) {
			a[next] += a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] += a[leaf]
			leaf++
		}
	}
	a[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		a[next] = a[a[next]] + 1
	}
	avail, used, depth := 1, 0, uint32(0)
	root, next := n-2, n-1
	for avail > 0 {
		for root >= 0 && a[root] == depth {
			used++
			root--
		}
		for avail > used {
			a[next] = depth
			next--
			avail--
		}
		avail, used = 2*used, 0
		depth++
	}
}
