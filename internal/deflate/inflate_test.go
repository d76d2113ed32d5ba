package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// readSizes are the sizes of p the tests read with: tiny ones go through
// the symbol-at-a-time path and split matches, large ones the fast loop.
var readSizes = []int{1, 2, 3, 7, 8, 13, 64, 257, 266, 300, 4096, 1 << 20}

// inflateAll reads a message from z with p of size n, checking the io.Reader
// contract on the way. It stops at 16 MiB of output.
func inflateAll(z *Inflater, n int) ([]byte, error) {
	var out []byte
	p := make([]byte, n)
	for len(out) < 16<<20 {
		k, err := z.Read(p)
		if k < 0 || k > len(p) {
			return out, fmt.Errorf("Read returned %d for %d bytes", k, len(p))
		}
		out = append(out, p[:k]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if k == 0 {
			return out, errors.New("Read returned 0, nil")
		}
	}
	return out, errors.New("more than 16 MiB of output")
}

// flatePayloads compresses msgs as one stream with compress/flate, each
// message ended by a sync flush (split by extra flushes into pieces), and
// returns the payloads without their tails, as RFC 7692 sends them.
func flatePayloads(t testing.TB, level int, dict []byte, msgs [][]byte, pieces int) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriterDict(&buf, level, dict)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		buf.Reset()
		for i := range pieces {
			w.Write(m[len(m)*i/pieces : len(m)*(i+1)/pieces])
			w.Flush()
		}
		p := buf.Bytes()
		if !bytes.HasSuffix(p, []byte(syncTail)) {
			t.Fatalf("flush does not end with the tail: % x", p[max(0, len(p)-8):])
		}
		out = append(out, bytes.Clone(p[:len(p)-len(syncTail)]))
	}
	return out
}

// skewed returns n bytes whose frequencies halve from one value to the
// next, so that Huffman codes get as long as 15 bits.
func skewed(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 6))
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(bits.TrailingZeros64(rng.Uint64()|1<<40))
	}
	return b
}

// periodic returns n bytes repeating a random pattern of period bytes:
// matches at that distance, overlapping.
func periodic(n, period int) []byte {
	pat := random(period, uint64(period))
	b := make([]byte, n)
	for i := range b {
		b[i] = pat[i%period]
	}
	return b
}

func TestInflateRoundTrip(t *testing.T) {
	dict := chat(32<<10, 9)
	cases := []struct {
		name   string
		data   []byte
		dict   []byte
		pieces int
	}{
		{
			name:   "chat",
			data:   chat(40<<10, 1),
			pieces: 1,
		},
		{
			name:   "chat with dict",
			data:   chat(3<<10, 2),
			dict:   dict,
			pieces: 1,
		},
		{
			name:   "chat with flushes",
			data:   chat(20<<10, 3),
			dict:   dict[:1000],
			pieces: 7,
		},
		{
			name:   "logs",
			data:   logs(20<<10, 4),
			pieces: 1,
		},
		{
			name:   "random",
			data:   random(70<<10, 5),
			pieces: 2,
		},
		{
			name:   "zeros",
			data:   zeros(50<<10, 0),
			pieces: 1,
		},
		{
			name:   "skewed",
			data:   skewed(30<<10, 6),
			pieces: 1,
		},
		{
			name:   "period 3",
			data:   periodic(5000, 3),
			pieces: 1,
		},
		{
			name:   "period 7",
			data:   periodic(5000, 7),
			pieces: 1,
		},
		{
			name:   "period 9",
			data:   periodic(5000, 9),
			pieces: 1,
		},
		{
			name:   "one byte",
			data:   []byte{'x'},
			pieces: 1,
		},
		{
			name:   "empty",
			data:   nil,
			pieces: 1,
		},
		{
			name:   "empty with dict",
			data:   nil,
			dict:   dict,
			pieces: 1,
		},
	}
	levels := []int{flate.HuffmanOnly, flate.NoCompression, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	z := NewInflater()
	for _, tc := range cases {
		for _, level := range levels {
			t.Run(fmt.Sprintf("%s/level %d", tc.name, level), func(t *testing.T) {
				src := flatePayloads(t, level, tc.dict, [][]byte{tc.data}, tc.pieces)[0]
				for _, n := range readSizes {
					z.Reset(src, tc.dict)
					got, err := inflateAll(z, n)
					if err != nil || !bytes.Equal(got, tc.data) {
						t.Fatalf("p of %d: %v; %d bytes, want %d, equal %v", n, err, len(got), len(tc.data), bytes.Equal(got, tc.data))
					}
				}
			})
		}
	}
}

// TestInflateTakeover reads a stream of messages under context takeover,
// each message's dictionary the history the one before left.
func TestInflateTakeover(t *testing.T) {
	var msgs [][]byte
	for i := range 40 {
		msgs = append(msgs, chat(50+i*i*40, uint64(i)))
	}
	msgs[7] = nil
	msgs[20] = random(40<<10, 20)
	for _, level := range []int{1, 6, 9} {
		for _, n := range []int{1, 7, 300, 1 << 20} {
			t.Run(fmt.Sprintf("level %d/p %d", level, n), func(t *testing.T) {
				src := flatePayloads(t, level, nil, msgs, 1)
				var h History
				h.SetSize(winSize)
				z := NewInflater()
				for i, m := range msgs {
					z.Reset(src[i], h.Bytes())
					got, err := inflateLast(z, n, &h)
					if err != nil || !bytes.Equal(got, m) {
						t.Fatalf("message %d: %v; %d bytes, want %d", i, err, len(got), len(m))
					}
				}
			})
		}
	}
}

// inflateLast reads a message with p of size n and appends it to h, as the
// connection does: the Inflater's kept output, then the last Read.
func inflateLast(z *Inflater, n int, h *History) ([]byte, error) {
	var out []byte
	p := make([]byte, n)
	for {
		k, err := z.Read(p)
		out = append(out, p[:k]...)
		if err == io.EOF {
			z.AppendHistory(h, p[:k])
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestInflateAppendHistory(t *testing.T) {
	dict := chat(5000, 1)
	msg := chat(100<<10, 2)
	for _, size := range []int{512, 9 << 10, winSize} {
		src := flatePayloads(t, 6, dict[max(0, len(dict)-size):], [][]byte{msg}, 1)[0]
		for _, n := range []int{1, 1000, 40 << 10, 200 << 10} {
			var h History
			h.SetSize(size)
			h.Append(dict)
			z := NewInflater()
			z.Reset(src, h.Bytes())
			if _, err := inflateLast(z, n, &h); err != nil {
				t.Fatal(err)
			}
			want := append(bytes.Clone(dict), msg...)
			want = want[len(want)-size:]
			if !bytes.Equal(h.Bytes(), want) {
				t.Errorf("history of %d, p of %d: %d bytes, not the end of the message", size, n, len(h.Bytes()))
			}
		}
	}
}

func TestInflateAllocs(t *testing.T) {
	dict := chat(32<<10, 1)
	var src [][]byte
	for i, n := range []int{1 << 10, 64 << 10} {
		src = append(src, flatePayloads(t, 6, dict, [][]byte{chat(n, uint64(i))}, 1)...)
	}
	z := NewInflater()
	p := make([]byte, 8<<10)
	allocs := testing.AllocsPerRun(20, func() {
		for i := range src {
			z.Reset(src[i], dict)
			for {
				_, err := z.Read(p)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message pair, want 0", allocs)
	}
}
