package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
)

// --- corpora ---

var words = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"order", "payment", "shipped", "pending", "refund", "invoice", "account",
	"session", "device", "region", "europe", "america", "asia", "mobile",
}

// chat returns n bytes of JSON chat messages, one corpus per seed.
func chat(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = append(b, `{"type":"message","room":"`...)
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, `","id":`...)
		b = strconv.AppendInt(b, int64(rng.IntN(1e9)), 10)
		b = append(b, `,"user":{"name":"`...)
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, `","avatar":"https://cdn.example.com/a/`...)
		b = strconv.AppendInt(b, int64(rng.IntN(1e6)), 16)
		b = append(b, `.png"},"text":"`...)
		for k := range 4 + rng.IntN(12) {
			if k > 0 {
				b = append(b, ' ')
			}
			b = append(b, words[rng.IntN(len(words))]...)
		}
		b = append(b, `"}`...)
	}
	return b[:n]
}

// logs returns n bytes of log lines.
func logs(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	levels := []string{"INFO", "WARN", "DEBUG", "ERROR"}
	var b []byte
	for len(b) < n {
		b = fmt.Appendf(b, "2026-12-04T10:%02d:%02d.%06dZ %s [%s] request id=%08x path=/api/v1/%s/%d status=%d dur=%dms\n",
			rng.IntN(60), rng.IntN(60), rng.IntN(1e6), levels[rng.IntN(4)], words[rng.IntN(len(words))],
			rng.Uint32(), words[rng.IntN(len(words))], rng.IntN(1000), 200+rng.IntN(4)*100, rng.IntN(900))
	}
	return b[:n]
}

// html returns n bytes of an HTML page.
func html(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 4))
	b := []byte("<!DOCTYPE html><html><head><title>Orders</title></head><body><table class=\"orders\">\n")
	for len(b) < n {
		b = fmt.Appendf(b, "<tr class=\"row\"><td class=\"id\">%d</td><td class=\"name\"><a href=\"/users/%s\">%s %s</a></td><td class=\"amount\">%d.%02d EUR</td></tr>\n",
			rng.IntN(1e6), words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1000), rng.IntN(100))
	}
	return b[:n]
}

func random(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 5))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func zeros(n int, _ uint64) []byte { return make([]byte, n) }

// corpora are the kinds of data tested, each a function of size and seed.
var corpora = []struct {
	name string
	gen  func(n int, seed uint64) []byte
}{
	{"chat", chat},
	{"logs", logs},
	{"html", html},
	{"random", random},
	{"zeros", zeros},
}

// --- helpers ---

// compressStream compresses msgs as the messages of one stream, under
// context takeover when takeover is set, and returns the payloads with
// the 00 00 ff ff tail stripped.
func compressStream(t testing.TB, c *Compressor, bits int, msgs [][]byte, takeover bool) [][]byte {
	t.Helper()
	var h History
	h.SetSize(1 << bits)
	var out [][]byte
	for _, m := range msgs {
		c.Reset(nil, bits, h.Bytes(), len(m))
		p := c.Append(nil, m)
		if !bytes.HasSuffix(p, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("output does not end with a sync flush: % x", p[max(0, len(p)-8):])
		}
		out = append(out, p[:len(p)-4])
		if takeover {
			h.Append(m)
		}
	}
	return out
}

// inflate decodes one payload with compress/flate.
func inflate(p, dict []byte) ([]byte, error) {
	src := append(bytes.Clone(p), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
	return io.ReadAll(flate.NewReaderDict(bytes.NewReader(src), dict))
}

// checkStream decodes payloads with compress/flate and with walk, and
// checks the output and that no distance exceeds the window.
func checkStream(t testing.TB, bits int, msgs, payloads [][]byte, takeover bool) (matches int) {
	t.Helper()
	var dict []byte
	for i, p := range payloads {
		got, err := inflate(p, dict)
		if err != nil {
			t.Fatalf("message %d (%d bytes): compress/flate: %v", i, len(msgs[i]), err)
		}
		if !bytes.Equal(got, msgs[i]) {
			t.Fatalf("message %d: compress/flate decoded %d bytes, want %d", i, len(got), len(msgs[i]))
		}
		w := walk{out: bytes.Clone(dict)}
		if err := w.run(append(bytes.Clone(p), 0, 0, 0xff, 0xff)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(w.out[len(dict):], msgs[i]) {
			t.Fatalf("message %d: walk decoded differently", i)
		}
		if w.maxDist > 1<<bits {
			t.Fatalf("message %d: distance %d beyond a window of %d bits", i, w.maxDist, bits)
		}
		matches += w.matches
		if takeover {
			dict = append(dict, msgs[i]...)
			if len(dict) > 1<<bits {
				dict = dict[len(dict)-1<<bits:]
			}
		}
	}
	return matches
}

// --- tests ---

func TestRoundTrip(t *testing.T) {
	c := NewCompressor()
	for _, corpus := range corpora {
		for _, size := range []int{0, 1, 3, 7, 100, 1 << 10, 16 << 10, 100 << 10, 1 << 20} {
			for _, bits := range []int{8, 9, 10, 12, 15} {
				for _, takeover := range []bool{false, true} {
					name := fmt.Sprintf("%s/%d/%dbits/takeover=%v", corpus.name, size, bits, takeover)
					if size == 1<<20 && bits != 15 && bits != 8 {
						continue
					}
					t.Run(name, func(t *testing.T) {
						var msgs [][]byte
						for i := range 3 {
							msgs = append(msgs, corpus.gen(size, uint64(i)))
						}
						payloads := compressStream(t, c, bits, msgs, takeover)
						checkStream(t, bits, msgs, payloads, takeover)
					})
				}
			}
		}
	}
}

// TestWindowBits checks that every window size gives matches within it,
// and that repeated data finds them: one message that repeats at a
// distance just inside the window, and a stream under takeover whose
// second message repeats the first.
func TestWindowBits(t *testing.T) {
	c := NewCompressor()
	for bits := 8; bits <= 15; bits++ {
		w := 1 << bits
		t.Run(strconv.Itoa(bits), func(t *testing.T) {
			// Random data, then a message repeating it: the only matches
			// are at distance w exactly.
			unit := random(w, uint64(bits))
			msgs := [][]byte{unit, bytes.Clone(unit)}
			payloads := compressStream(t, c, bits, msgs, true)
			if n := checkStream(t, bits, msgs, payloads, true); n == 0 {
				t.Fatalf("no match at the window's size")
			}
			if len(payloads[1]) > w/16+16 {
				t.Fatalf("%d bytes repeated from the history compress to %d", w, len(payloads[1]))
			}
			// One byte more: the repeat is out of reach.
			unit = random(w+1, uint64(bits))
			msgs = [][]byte{unit, bytes.Clone(unit[:w/2])}
			payloads = compressStream(t, c, bits, msgs, true)
			checkStream(t, bits, msgs, payloads, true)

			// Takeover: the second message is the tail of the first.
			first := chat(3*w, uint64(bits))
			second := bytes.Clone(first[len(first)-w/2:])
			msgs = [][]byte{first, second}
			payloads = compressStream(t, c, bits, msgs, true)
			checkStream(t, bits, msgs, payloads, true)
			if len(payloads[1]) > len(second)/4+16 {
				t.Fatalf("a message repeating the history compressed to %d of %d bytes", len(payloads[1]), len(second))
			}
			for _, corpus := range corpora {
				msgs := [][]byte{corpus.gen(5000, 1), corpus.gen(5000, 2), corpus.gen(70000, 3)}
				payloads := compressStream(t, c, bits, msgs, true)
				n := checkStream(t, bits, msgs, payloads, true)
				if corpus.name != "random" && n == 0 {
					t.Fatalf("%s: no matches", corpus.name)
				}
			}
		})
	}
}

// TestStream writes a stream in pieces, with flushes between messages,
// as the streaming API does.
func TestStream(t *testing.T) {
	c := NewCompressor()
	for _, bits := range []int{8, 11, 15} {
		rng := rand.New(rand.NewPCG(uint64(bits), 9))
		var out bytes.Buffer
		var h History
		h.SetSize(1 << bits)
		var dict []byte
		for i := range 20 {
			msg := corpora[i%len(corpora)].gen(rng.IntN(200000), uint64(i))
			out.Reset()
			c.Reset(&out, bits, h.Bytes(), -1)
			for p := msg; len(p) > 0; {
				n := min(len(p), 1+rng.IntN(30000))
				if _, err := c.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			h.Append(msg)
			p := out.Bytes()
			got, err := inflate(p[:len(p)-4], dict)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("bits %d message %d: %v", bits, i, err)
			}
			w := walk{out: bytes.Clone(dict)}
			if err := w.run(p); err != nil || w.maxDist > 1<<bits {
				t.Fatalf("bits %d message %d: %v, distance %d", bits, i, err, w.maxDist)
			}
			dict = bytes.Clone(h.Bytes())
		}
	}
}

// TestContinue compresses streams whose messages after the first start
// with Continue, alternating whole messages (Append) with written ones
// (Write, Flush), and decodes them with the stream's history as the
// dictionary.
func TestContinue(t *testing.T) {
	c := NewCompressor()
	for _, bits := range []int{8, 10, 12, 15} {
		rng := rand.New(rand.NewPCG(uint64(bits), 11))
		var msgs, payloads [][]byte
		c.Reset(nil, bits, nil, -1)
		for i := range 40 {
			msg := corpora[i%len(corpora)].gen(rng.IntN(3<<bits), uint64(i))
			var p []byte
			if i%2 == 0 {
				c.Continue(nil)
				p = c.Append(nil, msg)
			} else {
				var out bytes.Buffer
				c.Continue(&out)
				for q := msg; len(q) > 0; {
					n := min(len(q), 1+rng.IntN(5000))
					if _, err := c.Write(q[:n]); err != nil {
						t.Fatal(err)
					}
					q = q[n:]
				}
				if err := c.Flush(); err != nil {
					t.Fatal(err)
				}
				p = out.Bytes()
			}
			msgs = append(msgs, msg)
			payloads = append(payloads, p[:len(p)-4])
		}
		if checkStream(t, bits, msgs, payloads, true) == 0 {
			t.Fatalf("bits %d: no matches", bits)
		}
	}
}

func TestHistory(t *testing.T) {
	for _, size := range []int{16, 4096} {
		var h History
		h.SetSize(size)
		var all []byte
		rng := rand.New(rand.NewPCG(1, uint64(size)))
		for i := range 300 {
			n := rng.IntN(size / 8)
			if i%50 == 49 {
				n = rng.IntN(3 * size)
			}
			p := random(n, rng.Uint64())
			h.Append(p)
			all = append(all, p...)
			want := all[max(0, len(all)-size):]
			if !bytes.Equal(h.Bytes(), want) || cap(h.Bytes()) > size {
				t.Fatalf("size %d: history of %d bytes (cap %d), want %d", size, len(h.Bytes()), cap(h.Bytes()), len(want))
			}
		}
	}
	// Storage follows what was sent.
	var h History
	h.SetSize(1 << 15)
	h.Append(make([]byte, 1000))
	if c := cap(h.Bytes()); c > 1024 {
		t.Fatalf("1000 bytes held in %d", c)
	}
}

// TestHuffmanLimit feeds the code builder frequencies that make an
// unlimited Huffman code deeper than the limit (Fibonacci weights).
func TestHuffmanLimit(t *testing.T) {
	var b huffBuilder
	var h huffCode
	for _, limit := range []int{7, 15} {
		for n := 2; n <= min(286, 1<<limit); n += 7 {
			freq := make([]uint32, n)
			x, y := uint32(1), uint32(1)
			for i := range freq {
				freq[i] = x
				x, y = y, min(x+y, 1<<12)
			}
			b.build(&h, freq, limit)
			h.assign(n)
			kraft := 0
			for i := range n {
				l := int(h.len[i])
				if l == 0 || l > limit {
					t.Fatalf("n %d limit %d: symbol %d has length %d", n, limit, i, l)
				}
				kraft += 1 << (limit - l)
			}
			if kraft != 1<<limit {
				t.Fatalf("n %d limit %d: Kraft sum %d/%d", n, limit, kraft, 1<<limit)
			}
		}
	}
}

func TestAllocs(t *testing.T) {
	c := NewCompressor()
	var h History
	h.SetSize(1 << 15)
	msgs := [][]byte{chat(1<<10, 1), chat(16<<10, 2), chat(1<<20, 3)}
	dst := make([]byte, 0, 2<<20)
	for _, m := range msgs {
		c.Reset(nil, 15, h.Bytes(), len(m))
		dst = c.Append(dst[:0], m)
		h.Append(m)
	}
	for _, m := range msgs {
		n := testing.AllocsPerRun(20, func() {
			c.Reset(nil, 15, h.Bytes(), len(m))
			dst = c.Append(dst[:0], m)
			h.Append(m)
		})
		if n != 0 {
			t.Errorf("%d bytes: %v allocations per message", len(m), n)
		}
	}
	var out bytes.Buffer
	out.Grow(4 << 20)
	n := testing.AllocsPerRun(20, func() {
		out.Reset()
		c.Reset(&out, 12, h.Bytes(), -1)
		c.Write(msgs[1])
		c.Flush()
	})
	if n != 0 {
		t.Errorf("stream: %v allocations per message", n)
	}
}

func FuzzCompress(f *testing.F) {
	f.Add([]byte("hello, hello, hello"), uint8(15), uint64(1), true)
	f.Add(chat(3000, 1), uint8(9), uint64(2), true)
	f.Add(make([]byte, 5000), uint8(8), uint64(3), false)
	c := NewCompressor()
	f.Fuzz(func(t *testing.T, data []byte, bits uint8, seed uint64, takeover bool) {
		wb := 8 + int(bits%8)
		rng := rand.New(rand.NewPCG(seed, 0))
		var msgs [][]byte
		for p := data; len(p) > 0; {
			n := min(len(p), rng.IntN(len(data)+1))
			msgs = append(msgs, p[:n])
			p = p[n:]
		}
		payloads := compressStream(t, c, wb, msgs, takeover)
		checkStream(t, wb, msgs, payloads, takeover)
	})
}

func TestDistCode(t *testing.T) {
	for c := range distBase {
		lo := uint32(distBase[c])
		for d := lo; d < lo+1<<distExtra[c]; d++ {
			if got := distCode(d); got != uint32(c) {
				t.Fatalf("distCode(%d) = %d, want %d", d, got, c)
			}
		}
	}
}

// TestBaseStaysBoundedOnALongStream: the tables' position offset (base),
// which grows with every byte a continued stream slides past, starts
// again before it can overflow, and the stream compresses as well after
// that as a fresh one. It grew without bound: past about 4 GiB of one
// stream the stored positions wrapped and no match was found again (a
// 1 MiB message came out 3.3 times larger), and on 32-bit platforms,
// past 2 GiB, base went negative and a stale table entry sent a match
// far out of the buffer, a panic (an outside review). Here base starts
// just short of its bound, as a long stream leaves it.
func TestBaseStaysBoundedOnALongStream(t *testing.T) {
	msg := chat(256<<10, 1)
	c := NewCompressor()
	c.Reset(nil, 15, nil, -1)
	fresh := len(c.Append(nil, msg))

	c.Reset(nil, 15, nil, -1)
	c.base = maxBase - 1000
	var stream []byte
	for i := range 4 {
		if i > 0 {
			c.Continue(nil)
		}
		out := c.Append(nil, msg)
		if c.base > maxBase {
			t.Fatalf("message %d: base %d, past its bound %d", i, c.base, maxBase)
		}
		if i > 0 && len(out) > fresh*11/10 {
			t.Errorf("message %d: %d bytes, where a fresh stream gives %d", i, len(out), fresh)
		}
		stream = append(stream, out...)
	}
	got, err := inflate(stream[:len(stream)-4], nil)
	if err != nil || !bytes.Equal(got, bytes.Repeat(msg, 4)) {
		t.Fatalf("the stream does not decode to its messages: %d bytes, %v", len(got), err)
	}
}
