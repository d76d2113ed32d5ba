package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// Every prefix of a valid payload inflates to a prefix of the message and
// ends in io.EOF or a truncation, never in another error: cut where a
// block may end, a message ends, and cut inside one, it is truncated,
// not corrupt. Stored, fixed and dynamic blocks,
// with and without a dictionary, cut at every byte.
func TestInflatePrefixes(t *testing.T) {
	dict := []byte(`{"user":"ada","text":"hello, world","room":"lobby"}`)
	for _, tc := range []struct {
		name  string
		level int
		msg   []byte
		dict  []byte
	}{
		{
			name:  "stored",
			level: flate.NoCompression,
			msg:   random(3000, 1),
		},
		{
			name:  "fixed and dynamic, text",
			level: flate.BestSpeed,
			msg:   bytes.Repeat([]byte(`{"user":"grace","text":"héllo wörld ✓"} `), 40),
		},
		{
			name:  "dynamic, long codes",
			level: flate.BestCompression,
			msg:   skewed(4000, 2),
		},
		{
			name:  "dictionary",
			level: flate.DefaultCompression,
			msg:   bytes.Repeat(dict, 20),
			dict:  dict,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := flatePayloads(t, tc.level, tc.dict, [][]byte{tc.msg}, 3)[0]
			z := NewInflater()
			for cut := 0; cut <= len(payload); cut++ {
				z.Reset(payload[:cut], tc.dict)
				out, err := readToEnd(z)
				if err != nil && err != errTruncated {
					t.Fatalf("cut at %d of %d: %v", cut, len(payload), err)
				}
				if !bytes.HasPrefix(tc.msg, out) {
					t.Fatalf("cut at %d of %d: %d bytes out that are not the message's start", cut, len(payload), len(out))
				}
				if cut == len(payload) && (err != nil || len(out) != len(tc.msg)) {
					t.Fatalf("whole payload: %d of %d bytes, %v", len(out), len(tc.msg), err)
				}
			}
		})
	}
}

// readToEnd reads z until io.EOF, which it returns as nil, or another
// error.
func readToEnd(z *Inflater) ([]byte, error) {
	var out []byte
	p := make([]byte, 700)
	for {
		n, err := z.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
