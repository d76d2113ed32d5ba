package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"math/rand/v2"
	"strconv"
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
				benchCompressor(b, msgs, bits, true)
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

// records returns the JSON document number seq of exactly n bytes, an
// array of API records: the messages of the bench module's
// BenchmarkCompress, so that its write path can be profiled here.
func records(n, seq int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(seq)))
	word := func() string { return recordWords[rng.IntN(len(recordWords))] }
	b := []byte(`{"seq":` + strconv.Itoa(seq) + `,"items":[`)
	const tail = `],"pad":""}`
	var rec []byte
	for i := 0; ; i++ {
		rec = rec[:0]
		rec = fmt.Appendf(rec, `{"id":%d,"user":"%s_%d","email":"%s.%s@example.com","active":%t,"score":%.2f,`,
			seq*1000+i, word(), rng.IntN(100000), word(), word(), rng.IntN(2) == 0, float64(rng.IntN(1000000))/100)
		rec = fmt.Appendf(rec, `"created":"2026-%02d-%02dT%02d:%02d:%02dZ","tags":["%s","%s"],"note":"`,
			1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), word(), word())
		for k := range 3 + rng.IntN(6) {
			if k > 0 {
				rec = append(rec, ' ')
			}
			rec = append(rec, word()...)
		}
		rec = append(rec, `"}`...)
		if len(b)+1+len(rec)+len(tail) > n {
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, rec...)
	}
	b = append(b, `],"pad":"`...)
	for len(b) < n-2 {
		b = append(b, word()...)
		b = append(b, ' ')
	}
	return append(b[:n-2], `"}`...)
}

var recordWords = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
	"order", "payment", "shipped", "pending", "refund", "invoice", "account",
	"session", "device", "region", "europe", "america", "asia", "mobile",
}

// BenchmarkCompressRecords compresses distinct JSON documents of 1 and
// 64 KiB as the write path does, each on its own or under context
// takeover, with a window of 15 bits.
func BenchmarkCompressRecords(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10} {
		msgs := make([][]byte, max(16, (256<<10)/n))
		for i := range msgs {
			msgs[i] = records(n, i)
		}
		for _, takeover := range []bool{false, true} {
			name := sizeName(n) + "/notakeover"
			if takeover {
				name = sizeName(n) + "/takeover"
			}
			b.Run(name, func(b *testing.B) {
				benchCompressor(b, msgs, 15, takeover)
			})
		}
	}
}

// benchCompressor compresses msgs in turn with a window of 2^bits bytes,
// each on its own or, under takeover, with the ones before it loaded as
// the dictionary for every message (the write path's cold case: its
// compressor may also continue a stream in place), and reports the
// compression ratio.
func benchCompressor(b *testing.B, msgs [][]byte, bits int, takeover bool) {
	n := len(msgs[0])
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
		if takeover {
			h.Append(m)
		}
		in += len(m)
		out += len(dst) - 4
	}
	b.ReportMetric(float64(out)/float64(in), "ratio")
}
