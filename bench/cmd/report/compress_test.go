package main

import (
	"strings"
	"testing"
)

func TestParseBenchCompress(t *testing.T) {
	out := strings.Join([]string{
		"BenchmarkCompress/Read/1KiB/ours/notakeover-2  7198  8299 ns/op  123.39 MB/s  0.4504 ratio  12 B/op  1 allocs/op",
		"BenchmarkCompressMemory/coder/takeover-2  1  3035520187 ns/op  1254367 heapB/conn  296 B/op  4 allocs/op",
	}, "\n")
	r := &Run{Results: Results{Bench: map[string][]Sample{}}}
	r.parseBench(out, "", 1)
	tests := []struct {
		name  string
		field func(Sample) float64
		want  float64
	}{
		{
			name:  "Compress/Read/1KiB/ours/notakeover",
			field: ratioOf,
			want:  0.4504,
		},
		{
			name:  "Compress/Read/1KiB/ours/notakeover",
			field: allocsOp,
			want:  1,
		},
		{
			name:  "CompressMemory/coder/takeover",
			field: heapOf,
			want:  1254367,
		},
	}
	for _, tc := range tests {
		s := r.Results.Bench[tc.name]
		if len(s) != 1 {
			t.Fatalf("%s: %d samples, want 1", tc.name, len(s))
		}
		if got := tc.field(s[0]); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRenderCompression(t *testing.T) {
	res := &Results{Bench: map[string][]Sample{
		"Compress/Write/1KiB/ours/takeover":  {{NsOp: 1000, MBs: 1024, Ratio: 0.25}},
		"Compress/Write/1KiB/coder/takeover": {{NsOp: 2000, MBs: 512, Ratio: 0.25}},
		"Compress/Write/1MiB/ours/takeover":  {{NsOp: 3e6, MBs: 350, Ratio: 0.2}},
		"Compress/Write/1MiB/gws/notakeover": {{NsOp: 4e6, MBs: 262, Ratio: 0.21}},
		"Compress/Write/1MiB/gws/takeover":   {{NsOp: 2e6, MBs: 524, Ratio: 0.2}},
		"CompressMemory/ours/notakeover":     {{NsOp: 1, HeapPerConn: 6000}},
		"Compress/Window/chat/9bits/ours":    {{NsOp: 2000, Ratio: 0.3}},
	}}
	md, charts := render(res, "")
	rw := strings.Index(md, "## In-memory message read and write")
	c := strings.Index(md, "## Compression")
	next := strings.Index(md, "## Upgrade and dial")
	if rw < 0 || c < rw || next < c {
		t.Fatalf("sections out of order: read/write at %d, compression at %d, upgrade at %d", rw, c, next)
	}
	section := md[c:next]
	for _, want := range []string{
		"| 1 KiB | ours | context takeover | 1 µs | 1024 | 0 (0 B) | 0.250 |",
		"| 1 KiB | **ours ÷ fastest peer, time** | context takeover | 0.50× (coder) | | | |",
		"| ours | no context takeover | 6.0 KB |",
		"| ours | 2 µs, 0.300, 0 allocs | – | – | – |",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("missing %q in\n%s", want, section)
		}
	}
	for _, want := range []string{
		"| 1 MiB | **ours ÷ fastest peer, time** | context takeover | 1.50× (gws) | | | |",
		"| Compressing whole messages with context takeover faster than gws and gorilla | ours ÷ the fastest of them: 1 MiB 1.50× | **no** |",
		"| Zero allocations per compressed message | most allocs per message: write 0 | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q", want)
		}
	}
	if _, ok := charts["compress-memory.svg"]; !ok {
		t.Error("no compress-memory.svg chart")
	}
}
