package main

import (
	"fmt"
	"slices"
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

// echoResults returns echo and idle results for the 64-connection cells of
// the targets: every library's CPU per message is cpu[lib] µs.
func echoResults(cpu map[string]float64) *Results {
	res := &Results{
		Config: Config{EchoConns: []int{64}, EchoSizes: []int{16, 1 << 10}, IdleConns: 100},
		Echo:   map[string][]EchoSample{},
		Idle:   map[string][]IdleSample{},
	}
	for lib, x := range cpu {
		for _, size := range []int{16, 1 << 10} {
			res.Echo[fmt.Sprintf("%s/64/%d", lib, size)] = []EchoSample{{MsgsPerSec: 100 / x, P50us: x, P99us: 2 * x, CPUPerMsg: x}}
		}
		for _, mode := range []string{"plain", "deflate"} {
			res.Idle[lib+"/"+mode] = []IdleSample{{Conns: 100, RSSPerConn: 1000 * x}}
		}
	}
	return res
}

func TestRenderPollerIsNotAPeer(t *testing.T) {
	// ours-poller beats everyone, so it would be the best peer if it
	// counted as one; the best peer must stay gobwas.
	res := echoResults(map[string]float64{"ours": 4, "ours-poller": 1, "gorilla": 10, "coder": 12, "gobwas": 5, "gws": 8})
	md, charts := render(res, "")
	for _, want := range []string{
		"| Echo, 64 conns, 16 B: server CPU per message at most 0.85× the best peer | 4 µs vs 5 µs (gobwas): 0.80× | yes |",
		"| Echo, 64 conns, 16 B: server CPU per message at most 0.85× the best peer — ours (poller) | 1 µs vs 5 µs (gobwas): 0.20× | yes |",
		"| Echo, 64 conns, 1 KiB: msgs/s and p99 no worse than the best peer — ours (poller) | msgs/s 5.00× of gobwas; p99 0.20× of gobwas | yes |",
		"| At most 6 KB RSS per idle connection, with compression — ours (poller) | 1.0 KB (compression was not negotiated) | yes |",
		"| 16 B | ours (poller) | 100 | 1 µs | 2 µs | 1 µs | 0.20× (gobwas) |",
		"| 16 B | gobwas | 20 | 5 µs | 10 µs | 5 µs |  |",
		"| ours (poller) | plain | 1.0 KB |",
		"- **ours (poller)**",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Each poller target row comes right after the same row for ours.
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if strings.Contains(l, " — ours (poller) |") {
			prefix, _, _ := strings.Cut(l, " — ours (poller)")
			if i == 0 || !strings.HasPrefix(lines[i-1], prefix+" |") {
				t.Errorf("poller target %q does not follow its row for ours", l)
			}
		}
	}
	for _, name := range []string{"echo-cpu.svg", "echo-throughput.svg", "idle.svg"} {
		if !strings.Contains(charts[name], ">ours (poller)</text>") {
			t.Errorf("%s has no ours (poller) bar", name)
		}
	}
	if libColor("ours (poller)") != libColor("ours") {
		t.Error("ours (poller) is not drawn in our color")
	}
}

func TestRenderWithoutPoller(t *testing.T) {
	// Results saved before the poller rows existed.
	res := echoResults(map[string]float64{"ours": 4, "gorilla": 10, "coder": 12, "gobwas": 5, "gws": 8})
	md, _ := render(res, "")
	for _, want := range []string{
		"| Echo, 64 conns, 16 B: server CPU per message at most 0.85× the best peer | 4 µs vs 5 µs (gobwas): 0.80× | yes |",
		"| Echo, 64 conns, 16 B: server CPU per message at most 0.85× the best peer — ours (poller) | not measured | n/a |",
		"| Echo, 64 conns, 1 KiB: msgs/s and p99 no worse than the best peer — ours (poller) | not measured | n/a |",
		"| At most 6 KB RSS per idle connection, without compression — ours (poller) | not measured | n/a |",
		"| 16 B | ours (poller) | n/a | n/a | n/a | n/a | |",
		"| ours (poller) | deflate | n/a |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestRotatedServerLibs(t *testing.T) {
	for round := range len(serverLibs) {
		got := rotated(serverLibs, round)
		if got[0] != serverLibs[round] || !slices.Contains(got, "ours-poller") || len(got) != len(serverLibs) {
			t.Fatalf("rotated(serverLibs, %d) = %q", round, got)
		}
	}
}

func TestDropRerunNotes(t *testing.T) {
	notes := []string{
		"round 1: echo ours/1/16: timed out",
		"compress rerun on 2026-01-01 10:00 UTC (3 round(s)) and merged into the results of X",
		"idle rerun on 2026-01-01 11:00 UTC (3 round(s)) and merged into the results of X",
		"echo, idle rerun on 2026-01-01 12:00 UTC (1 round(s)) and merged into the results of X",
	}
	tests := []struct {
		name  string
		parts []string
		want  []string
	}{
		{
			name:  "echo and idle",
			parts: []string{"echo", "idle"},
			want:  []string{notes[0], notes[1]},
		},
		{
			name:  "idle only",
			parts: []string{"idle"},
			want:  []string{notes[0], notes[1], notes[3]},
		},
		{
			name:  "inmem",
			parts: []string{"inmem"},
			want:  notes,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts := map[string]bool{}
			for _, p := range tc.parts {
				parts[p] = true
			}
			got := dropRerunNotes(slices.Clone(notes), parts)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
