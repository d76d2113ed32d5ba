package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"
)

// BenchmarkPrimeCorpora measures primeFactor on the three corpora at their
// natural sizes, next to compress/flate's BestSpeed with a dedicated
// writer, under takeover at 15 bits.
func BenchmarkPrimeCorpora(b *testing.B) {
	defer func(f int) { primeFactor = f }(primeFactor)
	for _, cp := range []struct {
		name string
		n    int
		gen  func(int, uint64) []byte
	}{{"chat", 1 << 10, chat}, {"logs", 4 << 10, logs}, {"html", 16 << 10, html}} {
		msgs := make([][]byte, 64)
		for i := range msgs {
			msgs[i] = cp.gen(cp.n, uint64(i))
		}
		for _, f := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/factor-%d", cp.name, f), func(b *testing.B) {
				primeFactor = f
				c := NewCompressor()
				var h History
				h.SetSize(1 << 15)
				dst := make([]byte, 0, 2*cp.n)
				in, out := 0, 0
				defer cpuMeter(b)()
				for i := 0; b.Loop(); i++ {
					m := msgs[i%len(msgs)]
					c.Reset(nil, 15, h.Bytes(), len(m))
					dst = c.Append(dst[:0], m)
					h.Append(m)
					in += len(m)
					out += len(dst) - 4
				}
				b.ReportMetric(float64(out)/float64(in), "ratio")
			})
		}
		b.Run(cp.name+"/flate-1", func(b *testing.B) {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, 1)
			in, out := 0, 0
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
