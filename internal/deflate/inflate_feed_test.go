package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"testing"
)

// maxRest bounds what Rest can hold: the longest unit decoded at once, a
// dynamic block's header (3 + 14 + 19*3 bits, then at most 316 code
// lengths of at most 7 bits each: 286 bytes), plus the byte it starts in.
const maxRest = 290

// inflatePieces decodes src fed in pieces that end at cuts (ascending
// offsets into src), reading with p of size n, as a connection does with
// a message arriving in frames or reads: each Feed gets Rest and the
// next piece. It returns the output and the history AppendHistory leaves,
// and fails t if Rest ever holds more than maxRest bytes.
func inflatePieces(t *testing.T, z *Inflater, src, dict []byte, cuts []int, n int) ([]byte, []byte, error) {
	t.Helper()
	var out []byte
	p := make([]byte, n)
	return feedPieces(t, z, src, dict, cuts, func() ([]byte, []byte, error) {
		k, err := z.Read(p)
		out = append(out, p[:k]...)
		return out, p[:k], err
	})
}

// inflatePiecesInPlace is inflatePieces reading with ReadAppend into
// storage that grows by grow bytes whenever it is full, moving to new
// storage each time, as a connection's ReadAppend does; once keepAt bytes
// are out, it gives them to Keep and goes on with Read into p of size
// grow.
func inflatePiecesInPlace(t *testing.T, z *Inflater, src, dict []byte, cuts []int, grow, keepAt int) ([]byte, []byte, error) {
	t.Helper()
	var msg []byte
	p := make([]byte, grow)
	inPlace := true
	return feedPieces(t, z, src, dict, cuts, func() ([]byte, []byte, error) {
		if inPlace && len(msg) >= keepAt {
			z.Keep(msg)
			inPlace = false
		}
		if !inPlace {
			k, err := z.Read(p)
			msg = append(msg, p[:k]...)
			return msg, p[:k], err
		}
		if len(msg) == cap(msg) {
			msg = append(make([]byte, 0, cap(msg)+grow), msg...)
		}
		var err error
		msg, err = z.ReadAppend(msg)
		return msg, msg, err
	})
}

// feedPieces feeds src to z in pieces that end at cuts, z primed with
// dict, and after each Feed calls read until it fails. read returns all
// the output so far, what AppendHistory takes at the message's end, and
// the error of its read. feedPieces returns the output and the history,
// and fails t if Rest ever holds more than maxRest bytes.
func feedPieces(t *testing.T, z *Inflater, src, dict []byte, cuts []int, read func() (all, last []byte, err error)) ([]byte, []byte, error) {
	t.Helper()
	var h History
	h.SetSize(winSize)
	h.Append(dict)
	z.ResetStream(h.Bytes())
	var in []byte
	from := 0
	for i := 0; i <= len(cuts); i++ {
		to := len(src)
		if i < len(cuts) {
			to = cuts[i]
		}
		in = append(in[:copy(in, z.Rest())], src[from:to]...)
		from = to
		z.Feed(in, i < len(cuts))
		for {
			all, last, err := read()
			switch {
			case err == io.EOF:
				z.AppendHistory(&h, last)
				return all, h.Bytes(), nil
			case err == ErrNeedInput && i < len(cuts):
				if r := len(z.Rest()); r > maxRest {
					t.Fatalf("Rest holds %d bytes", r)
				}
			case err != nil:
				return all, nil, err
			}
			if err != nil {
				break
			}
		}
	}
	t.Fatal("ErrNeedInput after the last piece")
	return nil, nil, nil
}

// checkPieces decodes src whole and in pieces ending at cuts, with p of
// size n, and fails t unless both give the same output, error and history.
func checkPieces(t *testing.T, z *Inflater, src, dict []byte, cuts []int, n int) {
	t.Helper()
	checkPiecesWith(t, z, src, dict, n, func() ([]byte, []byte, error) {
		return inflatePieces(t, z, src, dict, cuts, n)
	})
}

// checkPiecesWith decodes src whole, with p of size n, and with pieces,
// and fails t unless both give the same output, error and history.
func checkPiecesWith(t *testing.T, z *Inflater, src, dict []byte, n int, pieces func() ([]byte, []byte, error)) {
	t.Helper()
	var h History
	h.SetSize(winSize)
	h.Append(dict)
	z.Reset(src, h.Bytes())
	want, werr := inflateLast(z, n, &h)
	got, hist, err := pieces()
	if err != werr {
		t.Fatalf("p of %d: %v, whole: %v", n, err, werr)
	}
	if werr != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("p of %d: %d bytes, whole %d", n, len(got), len(want))
	}
	if !bytes.Equal(hist, h.Bytes()) {
		t.Fatalf("p of %d: the history differs from the whole message's", n)
	}
}

// TestInflateReadAppend decodes valid and corrupted payloads in random
// pieces with ReadAppend, into storage of several growth steps, going on
// with Read after Keep at several points: the output, error and history
// are those of the whole message.
func TestInflateReadAppend(t *testing.T) {
	z := NewInflater()
	srcs, dicts := feedPayloads(t)
	big := chat(150<<10, 9)
	for _, level := range []int{flate.BestSpeed, flate.BestCompression} {
		srcs = append(srcs, flatePayloads(t, level, fuzzDict, [][]byte{big}, 1)[0])
		dicts = append(dicts, fuzzDict)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i, src := range srcs {
		for _, grow := range []int{7, 512, 40 << 10} {
			if grow < 512 && len(src) > 10<<10 {
				continue // the storage would move quadratically often
			}
			for _, keepAt := range []int{0, 1000, 1 << 30} {
				cuts := randomCuts(rng, len(src))
				checkPiecesWith(t, z, src, dicts[i], 4096, func() ([]byte, []byte, error) {
					return inflatePiecesInPlace(t, z, src, dicts[i], cuts, grow, keepAt)
				})
				b := bytes.Clone(src)
				b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
				checkPiecesWith(t, z, b, dicts[i], 4096, func() ([]byte, []byte, error) {
					return inflatePiecesInPlace(t, z, b, dicts[i], cuts, grow, keepAt)
				})
			}
		}
	}
}

// feedPayloads returns valid payloads of every block type, with and
// without a dictionary, and the dictionaries.
func feedPayloads(t *testing.T) (srcs, dicts [][]byte) {
	text := chat(2500, 5)
	dict := fuzzDict[:6<<10]
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.BestCompression} {
		for _, d := range [][]byte{nil, dict} {
			srcs = append(srcs, flatePayloads(t, level, d, [][]byte{text}, 3)[0])
			dicts = append(dicts, d)
		}
	}
	var w tokenWriter // a final block, fixed codes, matches into itself
	w.header(true, 1)
	w.literals([]byte("abc"))
	w.match(258, 3)
	w.match(10, 1)
	w.eob()
	return append(srcs, w.bytes()), append(dicts, nil)
}

// TestInflateFeedEveryCut splits valid payloads in two at every offset,
// and feeds them a byte at a time.
func TestInflateFeedEveryCut(t *testing.T) {
	z := NewInflater()
	srcs, dicts := feedPayloads(t)
	for i, src := range srcs {
		for cut := range len(src) + 1 {
			checkPieces(t, z, src, dicts[i], []int{cut}, 4096)
		}
		bytewise := make([]int, len(src))
		for k := range bytewise {
			bytewise[k] = k
		}
		for _, n := range []int{1, 7, 300, 1 << 16} {
			checkPieces(t, z, src, dicts[i], bytewise, n)
		}
	}
}

// TestInflateFeedBroken feeds truncated and corrupted payloads in pieces:
// the same error as whole, and never one before the input that holds it.
func TestInflateFeedBroken(t *testing.T) {
	z := NewInflater()
	srcs, dicts := feedPayloads(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i, src := range srcs {
		for cut := range len(src) {
			checkPieces(t, z, src[:cut], dicts[i], randomCuts(rng, cut), 64)
		}
		for bit := range 8 * min(len(src), 150) {
			b := bytes.Clone(src)
			b[bit/8] ^= 1 << (bit % 8)
			checkPieces(t, z, b, dicts[i], randomCuts(rng, len(b)), 4096)
		}
	}
}

// TestInflateFeedAfterFinal: input after a final block fails, whichever
// piece brings it, and a final block fed in pieces ends the message only
// with the last one.
func TestInflateFeedAfterFinal(t *testing.T) {
	var w tokenWriter
	w.header(true, 1)
	w.literals([]byte("final"))
	w.eob()
	src := w.bytes()
	z := NewInflater()
	for _, tc := range []struct {
		name string
		src  []byte
		cuts []int
	}{
		{
			name: "extra byte in a later piece",
			src:  append(bytes.Clone(src), 0),
			cuts: []int{len(src)},
		},
		{
			name: "extra byte in the same piece",
			src:  append(bytes.Clone(src), 0),
			cuts: []int{len(src) + 1},
		},
		{
			name: "empty pieces after the end",
			src:  src,
			cuts: []int{len(src), len(src), len(src)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkPieces(t, z, tc.src, nil, tc.cuts, 100)
		})
	}
}

// randomCuts returns ascending offsets into a payload of n bytes, with
// repeats (empty pieces) and pieces of every size up to about 64 bytes.
func randomCuts(rng *rand.Rand, n int) []int {
	var cuts []int
	for at := rng.IntN(8); at <= n; at += rng.IntN(64) {
		cuts = append(cuts, at)
	}
	return cuts
}

// FuzzInflateFeed compares decoding any input fed in pieces, with Read and
// in place with ReadAppend, with decoding it whole, which FuzzInflate
// compares with compress/flate.
func FuzzInflateFeed(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.src, s.dict, s.p, uint64(1))
	}
	z := NewInflater()
	f.Fuzz(func(t *testing.T, src []byte, dictLen, p uint16, seed uint64) {
		dict := fuzzDict[:int(dictLen)%(len(fuzzDict)+1)]
		if len(src) > 1<<14 {
			return // a bomb's output would take long to compare
		}
		n := 1 + int(p)%(1<<16)
		if !fuzzWorkBounded(z, src, dict, n) {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 0))
		cuts := randomCuts(rng, len(src))
		checkPieces(t, z, src, dict, cuts, n)
		// The same pieces decoded in place, switching to Read at a random
		// point.
		keepAt := rng.IntN(1 << 16)
		checkPiecesWith(t, z, src, dict, n, func() ([]byte, []byte, error) {
			return inflatePiecesInPlace(t, z, src, dict, cuts, max(n, 64), keepAt)
		})
	})
}

// fuzzWorkBounded reports whether src's output is small enough to compare
// at read size n within milliseconds. A 16 KiB input can inflate to 16
// MiB: read a byte at a time, or gathered in place with storage that grows
// by n (inflatePiecesInPlace copies it at each step), one such input would
// take minutes and stall the fuzzer.
func fuzzWorkBounded(z *Inflater, src, dict []byte, n int) bool {
	const maxOut = 4 << 20
	var h History
	h.SetSize(winSize)
	h.Append(dict)
	z.Reset(src, h.Bytes())
	p := make([]byte, 64<<10)
	out := 0
	for out <= maxOut {
		k, err := z.Read(p)
		out += k
		if err != nil {
			break
		}
	}
	grow := max(n, 64)
	return out <= maxOut && out/n <= 1<<16 && (out/grow)*out <= 1<<28
}
