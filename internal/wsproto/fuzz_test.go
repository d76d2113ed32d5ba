package wsproto

import (
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzDecoder decodes an input whole and in random pieces and checks that
// the two give the same events and the same error, that Decode keeps the
// driver contract (decodeInput checks it) and that no payload comes from
// nowhere.
func FuzzDecoder(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzDecoder.
	for _, tc := range decodeCases() {
		client := tc.roles == clientOnly
		limit := int16(-1)
		if tc.limit > 0 && tc.limit <= math.MaxInt16 {
			limit = int16(tc.limit)
		}
		f.Add(encode(client, tc.in...), client, tc.cfg.Compression, limit, uint64(len(tc.name)))
	}
	f.Fuzz(func(t *testing.T, data []byte, client, compression bool, limit int16, seed uint64) {
		// Longer inputs only add payload bytes, which are all alike.
		data = data[:min(len(data), 16<<10)]
		cfg := Config{Client: client, Compression: compression}
		whole := decodeInput(t, cfg, int64(limit), data, nil)
		if err := checkStructure(whole.events); err != nil {
			t.Fatalf("whole: %v", err)
		}
		if _, ok := whole.err.(*Error); whole.err != nil && !ok {
			t.Fatalf("error %v is not an *Error", whole.err)
		}
		pieces := decodeInput(t, cfg, int64(limit), data, randomCuts(len(data), seed))
		if err := sameOutcome(whole, pieces); err != nil {
			t.Fatalf("in pieces: %v", err)
		}
		for _, o := range []outcome{whole, pieces} {
			total := 0
			for _, ev := range o.events {
				total += len(ev.Payload)
			}
			if total > len(data) {
				t.Fatalf("%d payload bytes from %d bytes of input", total, len(data))
			}
		}
	})
}

// randomCuts returns the cuts of n bytes into pieces of random sizes,
// mostly small, some empty, some large.
func randomCuts(n int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var cuts []int
	for at := 0; at < n; {
		switch r.IntN(8) {
		case 0:
			// An empty piece: the same bytes offered again.
		case 1:
			at += 1 + r.IntN(256)
		default:
			at += 1 + r.IntN(8)
		}
		cuts = append(cuts, min(at, n))
	}
	return cuts
}
