package deflate

import (
	"fmt"
	"testing"
)

// BenchmarkPrime measures the trade-off behind primeMin and primeStride:
// how much of a 32 KiB history is hashed before a message, against the
// time and ratio of 1 KiB and 16 KiB messages under takeover at 15 bits
// (primeFactor off).
func BenchmarkPrime(b *testing.B) {
	defer func(m, f, s int) { primeMin, primeFactor, primeStride = m, f, s }(primeMin, primeFactor, primeStride)
	for _, n := range []int{1 << 10, 16 << 10} {
		msgs := benchMsgs(n, max(16, (256<<10)/n))
		for _, pm := range []int{1 << 10, 2 << 10, 4 << 10, 32 << 10} {
			for _, st := range []int{1, 2, 4} {
				b.Run(fmt.Sprintf("%s/prime-%dKiB/stride-%d", sizeName(n), pm>>10, st), func(b *testing.B) {
					primeMin, primeFactor, primeStride = pm, 0, st
					c := NewCompressor()
					var h History
					h.SetSize(1 << 15)
					dst := make([]byte, 0, 2*n)
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
		}
	}
}
