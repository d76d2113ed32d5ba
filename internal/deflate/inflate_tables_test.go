package deflate

import (
	"math/rand/v2"
	"testing"
)

// TestBuildTable builds the tables of random complete codes, up to 15 bits
// long, and looks up every code followed by random bits: each must give
// its symbol's entry, with the code's length.
func TestBuildTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var b huffBuilder
	var h huffCode
	var lit litTable
	var dist distTable
	var cl [1 << clRootBits]uint32
	alphabets := []struct {
		name     string
		n        int
		maxBits  int
		template []uint32
		build    func(lens []uint8, count *lengthCounts) bool
		lookup   func(b uint64) (uint32, uint)
	}{
		{
			name:     "literal/length",
			n:        numLitLen,
			maxBits:  maxLitBits,
			template: litTemplate[:],
			build: func(lens []uint8, count *lengthCounts) bool {
				return buildTable(lit[:], lens, count, litRootBits, litTemplate[:], entBad, entLink)
			},
			lookup: func(b uint64) (uint32, uint) { return litLookup(&lit, b) },
		},
		{
			name:     "distance",
			n:        numDist,
			maxBits:  maxLitBits,
			template: distTemplate[:],
			build: func(lens []uint8, count *lengthCounts) bool {
				return buildTable(dist[:], lens, count, distRootBits, distTemplate[:], distBad, distLink)
			},
			lookup: func(b uint64) (uint32, uint) { return distLookup(&dist, b) },
		},
		{
			name:     "code length",
			n:        numCodeLen,
			maxBits:  maxCLBits,
			template: clTemplate[:],
			build: func(lens []uint8, count *lengthCounts) bool {
				return buildTable(cl[:], lens, count, clRootBits, clTemplate[:], entBad, entLink)
			},
			lookup: func(b uint64) (uint32, uint) { return cl[b&(1<<clRootBits-1)], 0 },
		},
	}
	for _, a := range alphabets {
		longest := 0
		for range 300 {
			freq := make([]uint32, a.n)
			skew := 1 + rng.Float64()*3
			for i := range freq {
				if rng.IntN(4) > 0 {
					freq[i] = 1 + uint32(rng.ExpFloat64()*skew*float64(uint32(1)<<rng.IntN(20)))%(1<<18)
				}
			}
			b.build(&h, freq, a.maxBits)
			h.assign(a.n)
			lens := h.len[:a.n]
			count := countLengths(lens)
			if !a.build(lens, &count) {
				t.Fatalf("%s: lengths %v rejected", a.name, lens)
			}
			for s, l := range lens {
				if l == 0 {
					continue
				}
				longest = max(longest, int(l))
				bits := uint64(h.code[s]) | rng.Uint64()<<l
				e, skip := a.lookup(bits)
				n := uint32(l) - uint32(skip)
				if skip+uint(e>>8&15) != uint(l) || e-n*0x101 != a.template[s] {
					t.Fatalf("%s: symbol %d, %d bits: entry %#x after %d bits", a.name, s, l, e, skip)
				}
			}
		}
		if longest != a.maxBits {
			t.Errorf("%s: the longest code has %d bits, want some of %d", a.name, longest, a.maxBits)
		}
	}
}

// TestBuildTableRejects checks which codes are refused, as by compress/flate.
func TestBuildTableRejects(t *testing.T) {
	cases := []struct {
		name string
		lens []uint8
		ok   bool
	}{
		{
			name: "no code",
			lens: []uint8{0, 0, 0},
			ok:   true,
		},
		{
			name: "one one-bit code",
			lens: []uint8{0, 1, 0},
			ok:   true,
		},
		{
			name: "one two-bit code",
			lens: []uint8{0, 2, 0},
			ok:   false,
		},
		{
			name: "incomplete",
			lens: []uint8{1, 2, 0},
			ok:   false,
		},
		{
			name: "oversubscribed",
			lens: []uint8{1, 1, 1},
			ok:   false,
		},
		{
			name: "complete",
			lens: []uint8{1, 2, 2},
			ok:   true,
		},
	}
	var tab distTable
	for _, tc := range cases {
		count := countLengths(tc.lens)
		if ok := buildTable(tab[:], tc.lens, &count, distRootBits, distTemplate[:], distBad, distLink); ok != tc.ok {
			t.Errorf("%s: %v, want %v", tc.name, ok, tc.ok)
		}
	}
}
