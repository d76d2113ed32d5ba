package wsframe

import (
	"bytes"
	"testing"
)

func TestAppendFrameParseHeader(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name   string
		n      int
		masked bool
		hlen   int
	}{
		{
			name: "empty",
			n:    0,
			hlen: 2,
		},
		{
			name:   "7-bit length masked",
			n:      125,
			masked: true,
			hlen:   6,
		},
		{
			name: "16-bit length",
			n:    126,
			hlen: 4,
		},
		{
			name:   "16-bit length masked",
			n:      65535,
			masked: true,
			hlen:   8,
		},
		{
			name: "64-bit length",
			n:    65536,
			hlen: 10,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{'x'}, tc.n)
			f := AppendFrame(nil, OpBinary, payload, tc.masked, key)
			op, fin, length, hlen := ParseHeader(f)
			if op != OpBinary || !fin || length != int64(tc.n) || hlen != tc.hlen {
				t.Fatalf("ParseHeader = %d, %v, %d, %d; want %d, true, %d, %d", op, fin, length, hlen, OpBinary, tc.n, tc.hlen)
			}
			if got := f[hlen:]; tc.masked {
				Mask(got, key)
				if !bytes.Equal(got, payload) {
					t.Fatal("unmasked payload differs")
				}
			} else if !bytes.Equal(got, payload) {
				t.Fatal("payload differs")
			}
			if _, _, _, h := ParseHeader(f[:tc.hlen-1]); h != 0 {
				t.Fatalf("short header parsed as %d bytes", h)
			}
		})
	}
}

func TestAppendAccept(t *testing.T) {
	// The example of RFC 6455, section 1.3.
	got := string(AppendAccept(nil, []byte("dGhlIHNhbXBsZSBub25jZQ==")))
	if want := "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("AppendAccept = %q, want %q", got, want)
	}
}
