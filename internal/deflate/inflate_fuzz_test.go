package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"
)

// checkInflate decodes src, with dict, reading with p of size n, and
// compares with compress/flate, the reference, reading src alone:
//
//   - compress/flate reaches a final block: we must return the same output
//     if that block ends in src's last byte, and fail otherwise (data
//     after the final block);
//   - compress/flate finds src corrupt: we must fail;
//   - compress/flate runs out of input: src is a message ended where a
//     block may end (the tail RFC 7692 strips), and we must return what
//     compress/flate decoded up to there, or src is cut inside a block, and
//     we must fail.
//
// On success it also checks the history AppendHistory leaves.
func checkInflate(t *testing.T, z *Inflater, src, dict []byte, n int) {
	t.Helper()
	br := bytes.NewReader(src)
	want, werr := io.ReadAll(io.LimitReader(flate.NewReaderDict(br, dict), 16<<20))
	if len(want) == 16<<20 {
		t.Skip("more than 16 MiB of output")
	}
	z.Reset(src, dict)
	var h History
	h.SetSize(winSize)
	h.Append(dict)
	got, err := inflateLast(z, n, &h)
	if err != nil {
		got = nil
	}
	switch {
	case werr == nil && br.Len() > 0:
		if err == nil {
			t.Fatalf("p of %d: no error with %d bytes after the final block", n, br.Len())
		}
	case werr == nil:
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("p of %d: %v; %d bytes, compress/flate %d", n, err, len(got), len(want))
		}
	case errors.Is(werr, io.ErrUnexpectedEOF):
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("p of %d: %d bytes, compress/flate %d before the end of input", n, len(got), len(want))
		}
	default:
		if err == nil {
			t.Fatalf("p of %d: no error, compress/flate: %v", n, werr)
		}
	}
	if err == nil {
		hist := append(bytes.Clone(dict), got...)
		if hist = hist[max(0, len(hist)-winSize):]; !bytes.Equal(h.Bytes(), hist) {
			t.Fatalf("p of %d: the history is not the end of dict and output", n)
		}
	}
}

// fuzzDict is where FuzzInflate's dictionaries come from.
var fuzzDict = chat(40<<10, 7)

// FuzzInflate compares the Inflater with compress/flate on any input,
// with a dictionary of up to 40 KiB and any size of p.
func FuzzInflate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.src, s.dict, s.p)
	}
	z := NewInflater()
	f.Fuzz(func(t *testing.T, src []byte, dictLen, p uint16) {
		dict := fuzzDict[:int(dictLen)%(len(fuzzDict)+1)]
		checkInflate(t, z, src, dict, 1+int(p)%(1<<16))
	})
}

type fuzzSeed struct {
	src     []byte
	dict, p uint16
}

// fuzzSeeds returns valid streams of every block type and a few broken ones.
func fuzzSeeds(t testing.TB) []fuzzSeed {
	text := chat(3000, 3)
	seeds := []fuzzSeed{
		{src: nil, p: 100},
		{src: []byte{0}, p: 100},
		{src: []byte{1, 0, 0, 0xff, 0xff}, p: 100},
		{src: []byte{3, 0}, p: 1},
		{src: []byte{0xff, 0xff}, p: 1},
	}
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, 1, 9} {
		for _, p := range []uint16{7, 4096} {
			src := flatePayloads(t, level, nil, [][]byte{text}, 2)[0]
			seeds = append(seeds, fuzzSeed{src: src, p: p})
			src = flatePayloads(t, level, fuzzDict[:4096], [][]byte{text}, 1)[0]
			seeds = append(seeds, fuzzSeed{src: src, dict: 4096, p: p})
		}
	}
	var w tokenWriter
	w.header(true, 1)
	w.literals([]byte("abc"))
	w.match(258, 3)
	w.match(10, 1)
	w.eob()
	seeds = append(seeds, fuzzSeed{src: w.bytes(), p: 5})
	return seeds
}

func TestInflateSeeds(t *testing.T) {
	z := NewInflater()
	for _, s := range fuzzSeeds(t) {
		dict := fuzzDict[:s.dict]
		for _, n := range readSizes {
			checkInflate(t, z, s.src, dict, n)
		}
	}
}

// TestInflateTruncated cuts streams at every length and flips bits in
// them: every result must agree with compress/flate.
func TestInflateTruncated(t *testing.T) {
	dict := fuzzDict[:8<<10]
	text := chat(1200, 4)
	z := NewInflater()
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, 1, 6} {
		for _, d := range [][]byte{nil, dict} {
			src := flatePayloads(t, level, d, [][]byte{text}, 3)[0]
			for cut := range len(src) + 1 {
				for _, n := range []int{3, 4096} {
					checkInflate(t, z, src[:cut], d, n)
				}
			}
			for bit := range 8 * min(len(src), 200) {
				b := bytes.Clone(src)
				b[bit/8] ^= 1 << (bit % 8)
				checkInflate(t, z, b, d, 4096)
			}
		}
	}
}
