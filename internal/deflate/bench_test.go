package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"
)

// benchMsgs returns k distinct chat messages of n bytes.
func benchMsgs(n, k int) [][]byte {
	msgs := make([][]byte, k)
	for i := range msgs {
		msgs[i] = chat(n, uint64(i))
	}
	return msgs
}

var benchSizes = []int{1 << 10, 16 << 10, 1 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// BenchmarkCompress compresses a stream of similar messages under context
// takeover: this package with a History at 15 and 10 window bits, and a
// dedicated compress/flate BestSpeed writer, the previous path.
func BenchmarkCompress(b *testing.B) {
	for _, n := range benchSizes {
		msgs := benchMsgs(n, max(16, (256<<10)/n))
		for _, bits := range []int{15, 10} {
			b.Run(fmt.Sprintf("%s/ours-%d", sizeName(n), bits), func(b *testing.B) {
				c := NewCompressor()
				var h History
				h.SetSize(1 << bits)
				dst := make([]byte, 0, 2*n)
				in, out := 0, 0
				b.SetBytes(int64(n))
				b.ReportAllocs()
				defer cpuMeter(b)()
				for i := 0; b.Loop(); i++ {
					m := msgs[i%len(msgs)]
					c.Reset(nil, bits, h.Bytes(), len(m))
					dst = c.Append(dst[:0], m)
					h.Append(m)
					in += len(m)
					out += len(dst) - 4
				}
				b.ReportMetric(float64(out)/float64(in), "ratio")
			})
		}
		b.Run(sizeName(n)+"/flate-1", func(b *testing.B) {
			var buf bytes.Buffer
			buf.Grow(2 * n)
			fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
			in, out := 0, 0
			b.SetBytes(int64(n))
			b.ReportAllocs()
			defer cpuMeter(b)()
			for i := 0; b.Loop(); i++ {
				m := msgs[i%len(msgs)]
				buf.Reset()
				fw.Write(m)
				fw.Flush()
				in += len(m)
				out += buf.Len() - 4
			}
			b.ReportMetric(float64(out)/float64(in), "ratio")
		})
	}
}
