package main

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"testing"
)

func TestJSONMessage(t *testing.T) {
	for _, n := range []int{100, 1 << 10, 16 << 10, 64 << 10} {
		a, b := jsonMessage(n, 0), jsonMessage(n, 1)
		if len(a) != n || len(b) != n {
			t.Fatalf("jsonMessage(%d): %d and %d bytes", n, len(a), len(b))
		}
		if !json.Valid(a) {
			t.Errorf("jsonMessage(%d) is not JSON: %q", n, a)
		}
		if bytes.Equal(a, b) {
			t.Errorf("jsonMessage(%d) is the same for two seqs", n)
		}
	}
}

func TestMessagesInflate(t *testing.T) {
	msgs, err := messages("json", 1<<10, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		// The frame: FIN, RSV1, text; masked, 16-bit length; the key.
		if m.compressed[0] != 0xC1 {
			t.Fatalf("message %d: first byte %#x, want 0xc1", i, m.compressed[0])
		}
		hlen := 2 + 4
		if m.compressed[1]&0x7F == 126 {
			hlen += 2
		}
		if len(m.compressed)-hlen != m.deflated {
			t.Fatalf("message %d: frame of %d bytes for %d deflated", i, len(m.compressed), m.deflated)
		}
		key := m.compressed[hlen-4 : hlen]
		z := bytes.Clone(m.compressed[hlen:])
		for j := range z {
			z[j] ^= key[j&3]
		}
		// A peer keeping its window (context takeover) inflates it too.
		r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(z), bytes.NewReader([]byte{0, 0, 0xff, 0xff})), []byte("earlier messages"))
		got := make([]byte, len(m.payload))
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, m.payload) {
			t.Fatalf("message %d does not inflate to its payload: %v", i, err)
		}
	}
}

func TestExtParam(t *testing.T) {
	tests := []struct {
		name string
		ext  string
		want int
		ok   bool
	}{
		{
			name: "value",
			ext:  "permessage-deflate; client_max_window_bits=10",
			want: 10,
			ok:   true,
		},
		{
			name: "no value",
			ext:  "permessage-deflate; client_max_window_bits",
			ok:   false,
		},
		{
			name: "absent",
			ext:  "permessage-deflate; server_max_window_bits=9",
			ok:   false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := extParam(tc.ext, "client_max_window_bits")
			if got != tc.want || ok != tc.ok {
				t.Fatalf("extParam = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
