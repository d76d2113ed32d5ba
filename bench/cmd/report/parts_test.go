package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// section returns the part of md from the heading title to the next
// heading of the same level or higher.
func section(t *testing.T, md, title string) string {
	t.Helper()
	i := strings.Index(md, title+"\n")
	if i < 0 {
		t.Fatalf("page lacks %q", title)
	}
	rest := md[i+len(title):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return title + rest
}

func wantLines(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in\n%s", w, text)
		}
	}
}

// newResults returns results whose configuration is the full run's.
func newResults() *Results {
	res := &Results{Config: defaultConfig(false), Machine: Machine{Cores: 2}}
	res.initNew()
	return res
}

func TestRenderEchoDeflate(t *testing.T) {
	res := newResults()
	cpu := map[string]float64{"ours": 20, "ours-poller": 15, "gorilla": 40, "coder": 35, "gws": 30, "nbio": 45}
	for lib, x := range cpu {
		for _, size := range res.Config.DeflateEchoSizes {
			res.EchoDeflate[fmt.Sprintf("%s/64/%d", lib, size)] = []EchoSample{{
				MsgsPerSec: 1e6 / x,
				P50us:      x * 10,
				P99us:      x * 100,
				CPUPerMsg:  x,
				Compressed: lib != "gorilla",
				SentRatio:  0.38,
			}}
		}
	}
	md, charts := render(res, "")
	s := section(t, md, "## Compressed echo")
	wantLines(t, s,
		"takes: 1 KiB messages to about 0.38 of their size, 16 KiB messages to about 0.38 of their size",
		"### 64 connection(s), compressed",
		"| 1 KiB | ours | 50,000 | 200 µs | 2 ms | 20 µs | 0.67× (gws) | 1.50× (gws) | 0.67× (gws) |",
		"| 16 KiB | ours (poller) | 66,667 | 150 µs | 1.5 ms | 15 µs | 0.50× (gws) | 2.00× (gws) | 0.50× (gws) |",
		"| 1 KiB | gorilla (not compressed both ways) | 25,000 |",
		"| 1 KiB | gws | 33,333 | 300 µs | 3 ms | 30 µs |  |  |  |",
	)
	if strings.Contains(s, "| 1 KiB | gobwas |") {
		t.Error("gobwas has a compressed echo row")
	}
	if _, ok := charts["echo-deflate-cpu.svg"]; !ok {
		t.Error("no echo-deflate-cpu.svg chart")
	}
	echo := strings.Index(md, "## Loopback echo")
	deflate := strings.Index(md, "## Compressed echo")
	idle := strings.Index(md, "## Memory per idle connection")
	if !(echo < deflate && deflate < idle) {
		t.Errorf("compressed echo at %d, not between the echo (%d) and idle (%d) sections", deflate, echo, idle)
	}
}

func TestRenderLoops(t *testing.T) {
	res := newResults()
	for round := range 3 {
		// 1 loop at 10 µs, the default (2 loops on 2 cores) at 8, 4 at
		// 12; gobwas 9, nbio 20.
		for key, cpu := range map[string]float64{"1": 10, "2": 8, "4": 12, "gobwas": 9, "nbio": 20} {
			res.Loops[key] = append(res.Loops[key], EchoSample{Round: round, MsgsPerSec: 40000, P50us: 1000, P99us: 100 * cpu, CPUPerMsg: cpu})
		}
	}
	md, _ := render(res, "")
	s := section(t, md, "## Poller event loops")
	wantLines(t, s,
		"2 on this machine's 2 cores",
		"gobwas and nbio in the same cell",
		"| 1 | 40,000 | 1 ms | 1 ms | 10 µs | 1.00× | 1.25× | 1.25× | 1.11× (gobwas) |",
		"| 2 (default) | 40,000 | 1 ms | 800 µs | 8 µs |  |  |  | 0.89× (gobwas) |",
		"| 4 | 40,000 | 1 ms | 1.2 ms | 12 µs | 1.00× | 1.50× | 1.50× | 1.33× (gobwas) |",
		"| nbio (peer) | 40,000 | 1 ms | 2 ms | 20 µs |  |  |  |  |",
	)
}

func TestRenderPaced(t *testing.T) {
	res := newResults()
	for lib, x := range map[string]float64{"ours": 80, "ours-poller": 60, "gorilla": 110, "coder": 100, "gws": 90, "nbio": 140} {
		res.Paced[lib] = []PacedSample{{Conns: 1000, MsgsPerSec: 1000, P50us: x * 2, P99us: x * 10, CPUPerMsg: x, RSSPerConn: x * 100, Compressed: true}}
		if slices.Contains(takeoverLibs, lib) {
			res.Paced[lib+"/takeover"] = []PacedSample{{Conns: 1000, MsgsPerSec: 1000, P50us: x * 2, P99us: x * 10, CPUPerMsg: x * 2, RSSPerConn: x * 200, Compressed: true}}
		}
	}
	md, _ := render(res, "")
	s := section(t, md, "## Busy compressed connections")
	wantLines(t, s,
		"1,000 connections to one server, each sending one compressed 1 KiB JSON message every second",
		"| ours (poller) | 1,000 | 1,000 | 120 µs | 600 µs | 60 µs | 6.0 KB | 0 |",
		"| nbio | 1,000 | 1,000 | 280 µs | 1.4 ms | 140 µs | 14.0 KB | 0 |",
		"| **ours ÷ best peer** | | | | 0.89× (gws) | 0.89× (gws) | 0.89× (gws) | |",
		"| **ours (poller) ÷ best peer** | | | | 0.67× (gws) | 0.67× (gws) | 0.67× (gws) | |",
		"With context takeover (`echoserver -takeover`",
		"| ours (poller) | 1,000 | 1,000 | 120 µs | 600 µs | 120 µs | 12.0 KB | 0 |",
	)
	if strings.Contains(s[strings.Index(s, "With context takeover"):], "| nbio |") {
		t.Error("nbio has a row with context takeover")
	}
}

func TestRenderIdleDeflate(t *testing.T) {
	res := newResults()
	rss := map[string]float64{"ours": 6000, "ours-poller": 2000, "gorilla": 16000, "coder": 18000, "gobwas": 10000, "gws": 11000, "nbio": 1500}
	for _, mode := range idleDeflateModes {
		for _, lib := range idleDeflateLibs(mode) {
			x := rss[lib]
			ext := ""
			switch mode {
			case "takeover":
				x += 2000
				ext = "permessage-deflate"
			case "takeover-full":
				x += 64000
				ext = "permessage-deflate"
			case "takeover-full-10":
				x += 2000
				ext = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"
			}
			res.IdleDeflate[lib+"/"+mode] = []IdleSample{{Conns: 100, RSSPerConn: x, HeapPerConn: x / 2, Extensions: ext, Compressed: mode != "plain"}}
		}
	}
	md, charts := render(res, "")
	s := section(t, md, "## Memory per idle connection with compression in use")
	wantLines(t, s,
		"10,000 connections per server, 2,000 for coder with context takeover",
		"the window-full column: 10,000 connections (2,000 for coder), each having echoed 40 distinct messages (40 KiB each way",
		"| library | not compressed | compressed, no context takeover | compressed, context takeover | context takeover, window full (40 messages) | context takeover, 10-bit windows full (40 messages) | negotiated with takeover |",
		"| ours (poller) | 2.0 KB (1.0 KB) | 2.0 KB (1.0 KB) | 4.0 KB (2.0 KB) | 66.0 KB (33.0 KB) | 4.0 KB (2.0 KB) | `permessage-deflate` |",
		"| gorilla | 16.0 KB (8.0 KB) | 16.0 KB (8.0 KB) | — | — | — |  |",
		"| gobwas | 10.0 KB (5.0 KB) | — | — | — | — |  |",
		"| **ours (poller) ÷ best peer** | 1.33× (nbio) | 1.33× (nbio) | 0.31× (gws) | 0.88× (gws) | | |",
	)
	if _, ok := charts["idle-deflate.svg"]; !ok {
		t.Error("no idle-deflate.svg chart")
	}
	targets := section(t, md, "## Targets")
	wantLines(t, targets,
		"| Idle RSS per connection with context takeover, history full: at most 2^window_bits bytes per direction + 1 KiB (66.6 KB at 15 bits) | 70.0 KB against 66.6 KB (15/15 bits) | **no** |",
		"| Idle RSS that compression adds to a connection with context takeover, history full (the full column less the uncompressed one): at most 2^window_bits bytes per direction + 1 KiB (66.6 KB at 15 bits) — ours | 64.0 KB (70.0 KB less 6.0 KB) against 66.6 KB (15/15 bits) | yes |",
		"| Idle RSS per connection with context takeover, history full: at most 2^window_bits bytes per direction + 1 KiB (3.1 KB at 10 bits) — ours (poller) | 4.0 KB against 3.1 KB (10/10 bits) | **no** |",
		"| Idle RSS that compression adds to a connection with context takeover, history full (the full column less the uncompressed one): at most 2^window_bits bytes per direction + 1 KiB (3.1 KB at 10 bits) — ours | 2.0 KB (8.0 KB less 6.0 KB) against 3.1 KB (10/10 bits) | yes |",
		"| Idle RSS per connection with context takeover, history full: at most 2^window_bits bytes per direction + 1 KiB (66.6 KB at 15 bits) — ours (poller) | 66.0 KB against 66.6 KB (15/15 bits) | yes |",
		"| Poller RSS per idle connection below nbio's, compressed messages both ways (no context takeover) | 2.0 KB vs 1.5 KB: 1.33× | **no** |",
	)
}

func TestRenderScale(t *testing.T) {
	res := newResults()
	res.Config.ScaleLibs = []string{"ours-poller", "nbio"}
	res.Config.PacedSize = 1 << 10
	res.Paced["ours-poller"] = []PacedSample{{CPUPerMsg: 60, Conns: 1000, Compressed: true}}
	res.ScaleEnv = &ScaleEnv{
		NoFileSoft: 1024, NoFileHard: 20000, Headroom: 1000, Conns: 19000, Max: 100000,
		NrOpen: 1048576, FileMax: 2000000, PortLow: 32768, PortHigh: 60999,
		TCPMem: []int64{100000, 200000, 300000}, PageSize: 4096, MemTotal: 8 << 30, SlabReadable: true,
	}
	f := func(x float64) *float64 { return &x }
	for lib, x := range map[string]float64{"ours-poller": 2000, "nbio": 1000} {
		res.Scale[lib+"/idle"] = []ScaleSample{{Conns: 19000, RSSBase: 10 << 20, RSSPerConn: x, HeapPerConn: x / 2, KernelSlab: f(8000), KernelTCPMem: f(0)}}
		res.Scale[lib+"/echo"] = []ScaleSample{{Conns: 19000, RSSBase: 10 << 20, RSSPerConn: 2 * x, MsgsPerSec: 50000, P99us: 90000, CPUPerMsg: x / 100, KernelSlab: f(8000), KernelTCPMem: f(6000)}}
	}
	md, _ := render(res, "")
	s := section(t, md, "## Scale, and a projection to 1,000,000 connections")
	wantLines(t, s,
		"(`ulimit -Hn`: 20,000 here; soft 1,024)",
		"less 1,000 descriptors of headroom, and at most `-scale-max` (100,000): 19,000 connections per process",
		"| ours (poller) | 19,000 | 2.0 KB | 1.0 KB | 50,000 | 90 ms | 20 µs | 4.0 KB | 4.0 KB | 0 B | 3.0 KB |",
		"| **ours (poller) ÷ nbio** | | 2.00× | 2.00× | 1.00× | 1.00× | 2.00× | 2.00× | | | |",
		// 10 MiB + 10⁶ × 2000 B; kernel 10⁶ × (4000 + 0) and (4000 + 3000).
		"| ours (poller) | 1.9 GiB | 3.7 GiB | 3.7 GiB | 6.5 GiB | 5.6 GiB | 10.3 GiB |",
		"at least 36 client addresses",
		"`net.ipv4.tcp_mem` is 100,000 200,000 300,000 pages",
		"(ours (poller): 60 µs) puts 1,000,000 connections at 60 cores",
	)
	if strings.Contains(s, "**ours ÷ nbio**") {
		t.Error("a ratio row for ours, which was not measured")
	}
}

func TestRenderWithoutAddedParts(t *testing.T) {
	// Results saved before the added parts existed render as before.
	res := echoResults(map[string]float64{"ours": 4, "ours-poller": 1, "gorilla": 10, "coder": 12, "gobwas": 5, "gws": 8})
	md, charts := render(res, "")
	for _, title := range []string{"## Compressed echo", "## Poller event loops", "## Busy compressed connections", "## Memory per idle connection with compression in use", "## Scale"} {
		if strings.Contains(md, title) {
			t.Errorf("page has %q without its results", title)
		}
	}
	for _, name := range []string{"echo-deflate-cpu.svg", "idle-deflate.svg"} {
		if _, ok := charts[name]; ok {
			t.Errorf("chart %s without its results", name)
		}
	}
	wantLines(t, md, "| Poller RSS per idle connection below nbio's, compressed messages both ways (no context takeover) | not measured | n/a |")
}

func TestWindowBits(t *testing.T) {
	tests := []struct {
		name           string
		ext            string
		server, client int
		bound          float64
	}{
		{
			name:   "defaults",
			ext:    "permessage-deflate",
			server: 15,
			client: 15,
			bound:  65536 + 1024,
		},
		{
			name:   "limited",
			ext:    "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
			server: 10,
			client: 12,
			bound:  1024 + 4096 + 1024,
		},
		{
			name:   "quoted, no spaces",
			ext:    `permessage-deflate;client_max_window_bits="9"`,
			server: 15,
			client: 9,
			bound:  32768 + 512 + 1024,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := windowBits(tc.ext)
			if s != tc.server || c != tc.client {
				t.Errorf("windowBits = %d, %d; want %d, %d", s, c, tc.server, tc.client)
			}
			if b := takeoverBound(tc.ext); b != tc.bound {
				t.Errorf("takeoverBound = %v, want %v", b, tc.bound)
			}
		})
	}
}

func TestScaleConns(t *testing.T) {
	tests := []struct {
		name string
		hard uint64
		max  int
		want int
	}{
		{
			name: "this machine",
			hard: 20000,
			max:  100000,
			want: 19000,
		},
		{
			name: "capped",
			hard: 1 << 20,
			max:  100000,
			want: 100000,
		},
		{
			name: "small limit keeps 256",
			hard: 1024,
			max:  100000,
			want: 768,
		},
		{
			name: "tiny limit",
			hard: 100,
			max:  100000,
			want: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scaleConns(tc.hard, tc.max); got != tc.want {
				t.Errorf("scaleConns(%d, %d) = %d, want %d", tc.hard, tc.max, got, tc.want)
			}
		})
	}
}

func TestFillNewKeepsSaved(t *testing.T) {
	// A configuration saved before the added parts gets their defaults;
	// what it has stays.
	c := Config{Quick: true, Rounds: 1, EchoConns: []int{1}, PacedConns: 50}
	c.fillNew()
	d := defaultConfig(true)
	if c.PacedConns != 50 || c.PacedDuration != d.PacedDuration || c.IdleDeflateConns != d.IdleDeflateConns ||
		!slices.Equal(c.Loops, d.Loops) || !slices.Equal(c.ScaleLibs, d.ScaleLibs) || c.ScaleWarmup != 500*time.Millisecond {
		t.Errorf("fillNew: %+v", c)
	}
	if !slices.Equal(c.EchoConns, []int{1}) {
		t.Errorf("fillNew changed EchoConns: %v", c.EchoConns)
	}
}

func TestParsePartsAdded(t *testing.T) {
	parts := parseParts("echo-deflate, scale")
	if len(parts) != 2 || !parts["echo-deflate"] || !parts["scale"] || !needsServers(parts) {
		t.Errorf("parseParts = %v", parts)
	}
	all := parseParts("")
	for _, p := range []string{"inmem", "echo", "loops", "paced", "idle-deflate", "h2mux"} {
		if !all[p] {
			t.Errorf("the full run lacks %s", p)
		}
	}
	if needsServers(map[string]bool{"inmem": true, "compress": true}) {
		t.Error("inmem and compress need no servers")
	}
	notes := []string{"echo-deflate, idle-deflate rerun on 2026-01-01 (1 round(s)) and merged into the results of X"}
	if got := dropRerunNotes(slices.Clone(notes), map[string]bool{"echo-deflate": true}); len(got) != 1 {
		t.Errorf("a rerun of echo-deflate alone dropped %q", notes)
	}
	if got := dropRerunNotes(slices.Clone(notes), map[string]bool{"echo-deflate": true, "idle-deflate": true}); len(got) != 0 {
		t.Errorf("a rerun of both kept %q", got)
	}
}

func TestFmtNs(t *testing.T) {
	tests := []struct {
		name string
		ns   float64
		want string
	}{
		{
			name: "nanoseconds",
			ns:   703,
			want: "703 ns",
		},
		{
			name: "milliseconds",
			ns:   920e6,
			want: "920 ms",
		},
		{
			name: "a second and more",
			ns:   1.03e9,
			want: "1.03 s",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmtNs(tc.ns); got != tc.want {
				t.Errorf("fmtNs(%v) = %q, want %q", tc.ns, got, tc.want)
			}
		})
	}
}
