package main

import (
	"strings"
	"testing"
)

func TestSizeOf(t *testing.T) {
	tests := []struct {
		name string
		want int
		ok   bool
	}{
		{
			name: "Mask/15",
			want: 15,
			ok:   true,
		},
		{
			name: "Mask/1KiB",
			want: 1024,
			ok:   true,
		},
		{
			name: "Mask/size=16KiB/aligned",
			want: 16 << 10,
			ok:   true,
		},
		{
			name: "Mask/1MiB",
			want: 1 << 20,
			ok:   true,
		},
		{
			name: "Mask/offset1x/125B",
			want: 125,
			ok:   true,
		},
		{
			name: "Mask",
			ok:   false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := sizeOf(tc.name)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("sizeOf(%q) = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseBench(t *testing.T) {
	out := strings.Join([]string{
		"goos: linux",
		"BenchmarkRead/1KiB/ours/whole-2   \t   58998\t      4336 ns/op\t 236.15 MB/s\t       0 B/op\t       0 allocs/op",
		"BenchmarkAccept/gorilla-2  122626  2739 ns/op  600 B/op  8 allocs/op",
		"--- FAIL: BenchmarkRead/16B/coder/whole",
		"PASS",
	}, "\n")
	r := &Run{Results: Results{Bench: map[string][]Sample{}}}
	failures := r.parseBench(out, "X", 2)
	if len(failures) != 1 {
		t.Fatalf("failures = %q", failures)
	}
	got := r.Results.Bench["XRead/1KiB/ours/whole"]
	if len(got) != 1 || got[0] != (Sample{Round: 2, NsOp: 4336, MBs: 236.15}) {
		t.Fatalf("Read sample = %+v", got)
	}
	got = r.Results.Bench["XAccept/gorilla"]
	if len(got) != 1 || got[0] != (Sample{Round: 2, NsOp: 2739, BOp: 600, AllocsOp: 8}) {
		t.Fatalf("Accept sample = %+v", got)
	}
}

func TestMedian(t *testing.T) {
	if m, ok := median(nil); ok || m != 0 {
		t.Fatal("median of nothing")
	}
	if m, _ := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median = %v", m)
	}
	if m, _ := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Fatalf("median = %v", m)
	}
}

func TestBarChartIsWellFormed(t *testing.T) {
	svg := barChart("a <title>", "note & more", []group{{name: "g", bars: []bar{{"ours", 2, true}, {"gws", 0, false}}}}, fmtNs)
	for _, want := range []string{"<svg", "</svg>", "a &lt;title&gt;", "note &amp; more", "n/a", "2 ns"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}
