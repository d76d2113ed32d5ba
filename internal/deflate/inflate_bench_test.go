package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// BenchmarkInflate reads JSON chat messages of 1 KiB, 16 KiB and 1 MiB,
// compressed by compress/flate at level 6 (zlib's default; level 1
// ignores a dictionary), with and without a 32 KiB dictionary (context
// takeover), into a buffer of the message's size: the Inflater against
// compress/flate's reader, reset for each message, with the tail a
// receiver appends for it.
func BenchmarkInflate(b *testing.B) {
	dict := chat(32<<10, 99)
	for _, n := range benchSizes {
		for _, d := range [][]byte{nil, dict} {
			name := sizeName(n)
			if d != nil {
				name += "/dict"
			}
			msgs := benchMsgs(n, max(4, (256<<10)/n))
			src := make([][]byte, len(msgs))
			for i, m := range msgs {
				src[i] = flatePayloads(b, 6, d, [][]byte{m}, 1)[0]
			}
			p := make([]byte, n)
			b.Run(name+"/ours", func(b *testing.B) {
				z := NewInflater()
				benchInflate(b, n, func(i int) (io.Reader, int) {
					z.Reset(src[i%len(src)], d)
					return z, len(msgs[i%len(msgs)])
				}, p)
			})
			b.Run(name+"/flate", func(b *testing.B) {
				trailed := make([][]byte, len(src))
				for i, s := range src {
					trailed[i] = append(bytes.Clone(s), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
				}
				var br bytes.Reader
				fr := flate.NewReader(&br)
				benchInflate(b, n, func(i int) (io.Reader, int) {
					br.Reset(trailed[i%len(trailed)])
					fr.(flate.Resetter).Reset(&br, d)
					return fr, len(msgs[i%len(msgs)])
				}, p)
			})
		}
	}
}

// benchInflate reads message i from the reader start(i) returns into p,
// checking its size.
func benchInflate(b *testing.B, n int, start func(i int) (io.Reader, int), p []byte) {
	b.SetBytes(int64(n))
	b.ReportAllocs()
	defer cpuMeter(b)()
	for i := 0; b.Loop(); i++ {
		r, want := start(i)
		got := 0
		for {
			k, err := r.Read(p[got:])
			got += k
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if got != want {
			b.Fatalf("read %d bytes, want %d", got, want)
		}
	}
}
