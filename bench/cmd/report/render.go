package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// render turns the results into BENCHMARKS.md and the charts it links to.
func render(res *Results, analysis string) (string, map[string]string) {
	v := &view{res: res, charts: map[string]string{}}
	v.header()
	v.targets()
	if a := strings.TrimSpace(analysis); a != "" {
		v.p("%s", a)
		v.p("")
	}
	v.masking()
	v.readWrite()
	v.compression()
	v.handshakes()
	v.echo()
	v.echoDeflate()
	v.loops()
	v.tail()
	v.paced()
	v.idle()
	v.idleDeflate()
	v.scale()
	v.h2mux()
	v.method()
	v.notes()
	return v.b.String(), v.charts
}

type view struct {
	res    *Results
	b      strings.Builder
	charts map[string]string
}

func (v *view) p(format string, args ...any) { fmt.Fprintf(&v.b, format+"\n", args...) }

var (
	peers    = []string{"gorilla", "coder", "gobwas", "gws"}
	inSizes  = []sizeSpec{{"16B", "16 B", 16}, {"1KiB", "1 KiB", 1 << 10}, {"64KiB", "64 KiB", 64 << 10}, {"1MiB", "1 MiB", 1 << 20}}
	mskSizes = []sizeSpec{{"15B", "15 B", 15}, {"125B", "125 B", 125}, {"1KiB", "1 KiB", 1 << 10}, {"16KiB", "16 KiB", 16 << 10}, {"1MiB", "1 MiB", 1 << 20}}
)

// serverPeers are the peers of the echo and idle parts: the
// goroutine-per-connection peers and nbio, an event-driven peer that
// serves its connections from epoll loops, as ours (poller) does.
var serverPeers = append(slices.Clip(peers), "nbio")

type sizeSpec struct {
	key, label string
	n          int
}

// rwRows are the rows of the read and write tables: library and API.
var rwRows = []struct{ lib, api string }{
	{"ours", "whole"}, {"ours", "stream"},
	{"gorilla", "whole"}, {"gorilla", "stream"},
	{"coder", "whole"}, {"coder", "stream"},
	{"gobwas", "frame"}, {"gobwas", "stream"},
	{"gws", "whole"},
}

func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// bench returns the median of field over the samples of benchmark name.
func (v *view) bench(name string, field func(Sample) float64) (float64, bool) {
	var xs []float64
	for _, s := range v.res.Bench[name] {
		xs = append(xs, field(s))
	}
	return median(xs)
}

// benchRatio returns the median over rounds of a's field ÷ b's field,
// pairing the samples of the same round: libraries run back to back within
// a round, so a round's ratio is steadier than a ratio of medians on a
// machine whose speed drifts.
func (v *view) benchRatio(a, b string, field func(Sample) float64) (float64, bool) {
	byRound := map[int]float64{}
	for _, s := range v.res.Bench[b] {
		byRound[s.Round] = field(s)
	}
	var xs []float64
	for _, s := range v.res.Bench[a] {
		if d, ok := byRound[s.Round]; ok && d != 0 {
			xs = append(xs, field(s)/d)
		}
	}
	return median(xs)
}

func nsOp(s Sample) float64     { return s.NsOp }
func allocsOp(s Sample) float64 { return s.AllocsOp }
func bytesOp(s Sample) float64  { return s.BOp }

func fmtNs(ns float64) string {
	switch {
	case ns < 1000:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	case ns < 999.5e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	default:
		return fmt.Sprintf("%.3g s", ns/1e9)
	}
}

func fmtUs(us float64) string { return fmtNs(us * 1e3) }

func fmtInt(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtBytes(b float64) string {
	switch {
	case math.Abs(b) < 1000:
		return fmt.Sprintf("%.0f B", b)
	case math.Abs(b) < 1e6:
		return fmt.Sprintf("%.1f KB", b/1e3)
	default:
		return fmt.Sprintf("%.2f MB", b/1e6)
	}
}

func fmtRatio(x float64) string { return fmt.Sprintf("%.2f×", x) }

func (v *view) header() {
	r := v.res
	m := r.Machine
	date := r.Started
	if t, err := time.Parse(time.RFC3339, r.Started); err == nil {
		date = t.Format("2006-01-02 15:04 UTC")
	}
	v.p("# Benchmarks")
	v.p("")
	v.p("Our library (`ours`) side by side with gorilla/websocket v1.5.3, coder/websocket v1.8.15, gobwas/ws v1.5.0 and lxzan/gws v1.8.9; in the echo and idle parts also lesismal/nbio v1.6.8, an event-driven peer (epoll loops, no goroutine per connection), and our Poller mode (`ours (poller)`), which is ours and never counts as a peer. Everything on this page, tables and charts, is written by one command from the `bench` module:")
	v.p("")
	v.p("```")
	v.p("cd bench && go run ./cmd/report          # full run")
	v.p("cd bench && go run ./cmd/report -quick   # short run")
	v.p("```")
	v.p("")
	mode := "full"
	if r.Config.Quick {
		mode = "quick (`-quick`)"
	}
	v.p("| | |")
	v.p("|---|---|")
	v.p("| Date | %s |", date)
	v.p("| Run | %s: %d round(s), libraries interleaved and their order rotated every round; medians across rounds; took %s |", mode, r.Config.Rounds, r.Elapsed)
	v.p("| CPU | %s, %d cores |", m.CPU, m.Cores)
	v.p("| Memory | %d GiB |", m.MemoryGiB)
	v.p("| OS | %s |", m.Kernel)
	v.p("| Go | %s |", m.GoVersion)
	v.p("| Load average (1, 5, 15 min) | %s before, %s after |", m.LoadBefore, m.LoadAfter)
	v.p("")
	v.p("The machine is shared: other work runs beside the benchmarks, and absolute figures move from run to run. Compare ratios within one run, not figures across runs. Ratios are ours ÷ the best peer (the peer with the best median), taken round by round and then the median of those: below 1 is better for times, CPU and memory; above 1 is better for throughput.")
	v.p("")
}

// --- masking ---

var sizeToken = regexp.MustCompile(`^(\d+)(B|KiB|KB|K|k|MiB|MB|M)?$`)

// sizeOf finds the payload size in a benchmark name such as "Mask/1KiB",
// "Mask/size=1024" or "Mask/15".
func sizeOf(name string) (int, bool) {
	fields := strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '=' || r == '_' || r == '-' })
	for _, f := range fields[1:] {
		m := sizeToken.FindStringSubmatch(f)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		switch m[2] {
		case "KiB", "KB", "K", "k":
			n <<= 10
		case "MiB", "MB", "M":
			n <<= 20
		}
		return n, true
	}
	return 0, false
}

// ownMask returns the median throughput (MB/s) of our kernel at size n
// from the root package's BenchmarkMask results recorded under prefix.
// When the benchmark has several variants per size (kernels, offsets),
// the "auto" variant — the kernel the package picks at run time — is
// taken, or else the one with the shortest name.
func (v *view) ownMask(prefix string, n int) (float64, string, bool) {
	var best string
	rank := func(name string) (int, int, string) {
		auto := 1
		if slices.Contains(strings.Split(name, "/"), "auto") {
			auto = 0
		}
		return auto, len(name), name
	}
	for name := range v.res.Bench {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || !strings.HasPrefix(rest, "Mask/") {
			continue
		}
		if size, ok := sizeOf(rest); !ok || size != n {
			continue
		}
		if best == "" {
			best = name
			continue
		}
		a1, l1, n1 := rank(name)
		a2, l2, n2 := rank(best)
		if a1 < a2 || (a1 == a2 && (l1 < l2 || (l1 == l2 && n1 < n2))) {
			best = name
		}
	}
	if best == "" {
		return 0, "", false
	}
	mbs, ok := v.bench(best, throughput(n))
	return mbs, best, ok
}

func (v *view) peerMask(impl string, n int, key string) (float64, bool) {
	return v.bench(peerMaskName(impl, key), throughput(n))
}

func peerMaskName(impl, key string) string { return "MaskPeers/" + key + "/" + impl }

// throughput returns a sample's MB/s for a payload of n bytes.
func throughput(n int) func(Sample) float64 {
	return func(s Sample) float64 {
		if s.MBs > 0 {
			return s.MBs
		}
		return float64(n) / s.NsOp * 1e3
	}
}

func fmtGBs(mbs float64) string { return fmt.Sprintf("%.2f GB/s", mbs/1e3) }

func (v *view) masking() {
	v.p("## Masking")
	v.p("")
	v.p("XOR with the masking key, in place, throughput in GB/s (higher is better). All rows but the last two run in one test binary, size by size, back to back, the order rotating every round. `ours` is `maskBytes`, the kernel the package uses (assembly where the CPU allows); `ours (pure Go)` is `maskGo`, the portable kernel a `purego` build uses. Only gobwas exports its kernel (`ws.Cipher`); ours, gorilla's `maskBytes`, coder's `mask` and gws' `internal.MaskXOR` are called through `go:linkname`, exactly as the libraries call them. `copy` copies one buffer to another and `subtle.XORBytes` XORs with a precomputed key stream: the machine's reference rows (`copy` touches two buffers, so at 1 MiB it leaves the cache sooner than an in-place kernel). The last two rows (`root bench`) are the root package's own `BenchmarkMask` (its `auto` rows, default and `-tags purego` builds), run in a separate process as a check; they take no part in the ratios.")
	v.p("")
	type row struct {
		label string
		get   func(s sizeSpec) (float64, bool)
	}
	var rows []row
	for _, p := range []string{"ours", "ours-go", "gorilla", "coder", "gobwas", "gws", "copy", "xorbytes"} {
		label := map[string]string{"ours-go": "ours (pure Go)", "xorbytes": "subtle.XORBytes"}[p]
		if label == "" {
			label = p
		}
		rows = append(rows, row{label, func(s sizeSpec) (float64, bool) { return v.peerMask(p, s.n, s.key) }})
	}
	rows = append(rows,
		row{"ours, root bench", func(s sizeSpec) (float64, bool) { x, _, ok := v.ownMask("Root", s.n); return x, ok }},
		row{"ours purego, root bench", func(s sizeSpec) (float64, bool) { x, _, ok := v.ownMask("RootPurego", s.n); return x, ok }},
	)
	hdr := "| kernel |"
	sep := "|---|"
	for _, s := range mskSizes {
		hdr += " " + s.label + " |"
		sep += "---:|"
	}
	v.p("%s", hdr)
	v.p("%s", sep)
	for _, r := range rows {
		line := "| " + r.label + " |"
		for _, s := range mskSizes {
			if x, ok := r.get(s); ok {
				line += " " + fmtGBs(x) + " |"
			} else {
				line += " n/a |"
			}
		}
		v.p("%s", line)
	}
	for _, cmp := range []struct{ label, impl string }{
		{"ours ÷ best peer", ""},
		{"ours ÷ copy", "copy"},
		{"ours (pure Go) ÷ gorilla", "gorilla"},
	} {
		line := "| **" + cmp.label + "** |"
		for _, s := range mskSizes {
			own := "ours"
			if strings.HasPrefix(cmp.label, "ours (pure Go)") {
				own = "ours-go"
			}
			if x, ok := v.maskRatio(s, own, cmp.impl); ok {
				line += " " + fmtRatio(x) + " |"
			} else {
				line += " n/a |"
			}
		}
		v.p("%s", line)
	}
	v.p("")
	if _, name, ok := v.ownMask("Root", 1<<10); ok {
		v.p("The root package's rows come from `%s` and its siblings at the other sizes.", "Benchmark"+strings.TrimPrefix(name, "Root"))
		v.p("")
	}

	var groups []group
	for _, s := range mskSizes {
		g := group{name: s.label}
		for _, r := range rows {
			x, ok := r.get(s)
			g.bars = append(g.bars, bar{r.label, x, ok})
		}
		groups = append(groups, g)
	}
	v.charts["mask.svg"] = barChart("Masking throughput, in place", "GB/s, higher is better; each size drawn to its own scale", groups, fmtGBs)
	v.p("![Masking throughput](bench/charts/mask.svg)")
	v.p("")
}

// bestPeerMask returns the peer kernel with the highest median throughput
// at size s.
func (v *view) bestPeerMask(s sizeSpec) (string, bool) {
	best, name := 0.0, ""
	for _, p := range peers {
		if x, ok := v.peerMask(p, s.n, s.key); ok && x > best {
			best, name = x, p
		}
	}
	return name, name != ""
}

// maskRatio returns the throughput of our kernel own ("ours" or
// "ours-go") ÷ that of impl ("" for the best peer) at size s, round by
// round.
func (v *view) maskRatio(s sizeSpec, own, impl string) (float64, bool) {
	if impl == "" {
		var ok bool
		if impl, ok = v.bestPeerMask(s); !ok {
			return 0, false
		}
	}
	return v.benchRatio(peerMaskName(own, s.key), peerMaskName(impl, s.key), throughput(s.n))
}

// --- read and write ---

func (v *view) rwName(op string, s sizeSpec, lib, api string) string {
	return op + "/" + s.key + "/" + lib + "/" + api
}

// bestPeerRW returns the benchmark name and label of the fastest peer row
// (any API) for op at size s, among the libraries in only if given.
func (v *view) bestPeerRW(op string, s sizeSpec, only ...string) (string, string, bool) {
	best, name, label := 0.0, "", ""
	for _, r := range rwRows {
		if !isPeer(r.lib) || (len(only) > 0 && !slices.Contains(only, r.lib)) {
			continue
		}
		n := v.rwName(op, s, r.lib, r.api)
		if x, ok := v.bench(n, nsOp); ok && (name == "" || x < best) {
			best, name, label = x, n, r.lib+" "+r.api
		}
	}
	return name, label, name != ""
}

func (v *view) readWrite() {
	v.p("## In-memory message read and write")
	v.p("")
	v.p("Binary messages, no network: reads replay a pre-encoded stream of masked client frames from memory, as a server sees them, and writes go to a connection that discards them. Time per message (lower is better), with allocations and bytes allocated per message. `whole` hands over a message in one piece (ours: `ReadAppend` into a reused buffer, `Write`); `stream` goes through an `io.Reader` read into a reused 32 KiB buffer, or an `io.WriteCloser` (ours: `Reader`, `Writer`). gobwas `frame` is its low-level frame API, which leaves fragmentation, control frames and limits to the application. See [Method](#method) for each library.")
	v.p("")
	for _, op := range []string{"Read", "Write"} {
		v.p("### %s", op)
		v.p("")
		hdr := "| library, API |"
		sep := "|---|"
		for _, s := range inSizes {
			hdr += " " + s.label + " |"
			sep += "---:|"
		}
		v.p("%s", hdr)
		v.p("%s", sep)
		for _, r := range rwRows {
			line := "| " + r.lib + " " + r.api + " |"
			for _, s := range inSizes {
				name := v.rwName(op, s, r.lib, r.api)
				ns, ok := v.bench(name, nsOp)
				if !ok {
					line += " n/a |"
					continue
				}
				a, _ := v.bench(name, allocsOp)
				b, _ := v.bench(name, bytesOp)
				line += fmt.Sprintf(" %s · %s allocs · %s |", fmtNs(ns), fmtInt(a), fmtBytes(b))
			}
			v.p("%s", line)
		}
		for _, cmp := range []struct {
			label string
			only  []string
		}{
			{"best peer", nil},
			{"gobwas frame", []string{"gobwas"}},
			{"best of gorilla, coder, gws", []string{"gorilla", "coder", "gws"}},
		} {
			line := "| **ours whole ÷ " + cmp.label + "** |"
			for _, s := range inSizes {
				name, label, ok := v.bestPeerRW(op, s, cmp.only...)
				var x float64
				if ok {
					x, ok = v.benchRatio(v.rwName(op, s, "ours", "whole"), name, nsOp)
				}
				if ok {
					line += fmt.Sprintf(" %s (%s) |", fmtRatio(x), label)
				} else {
					line += " n/a |"
				}
			}
			v.p("%s", line)
		}
		v.p("")
		var groups []group
		for _, s := range inSizes {
			g := group{name: s.label}
			for _, r := range rwRows {
				x, ok := v.bench(v.rwName(op, s, r.lib, r.api), nsOp)
				g.bars = append(g.bars, bar{r.lib + " " + r.api, x, ok})
			}
			groups = append(groups, g)
		}
		file := strings.ToLower(op) + ".svg"
		v.charts[file] = barChart("In-memory "+strings.ToLower(op)+", time per binary message", "lower is better; each size drawn to its own scale", groups, fmtNs)
		v.p("![%s](bench/charts/%s)", op, file)
		v.p("")
	}
}

// --- upgrade and dial ---

func (v *view) handshakes() {
	v.p("## Upgrade and dial")
	v.p("")
	v.p("One server handshake: an `http.Handler` upgrading a request handed over by an in-memory `ResponseWriter` and `Hijacker` (request and hijacked buffers reused, as net/http pools them), up to a connection ready for messages, then closed at once. One client dial: against an in-memory connection that answers with a canned 101. What is allocated is the library's own cost, the connection object included. gobwas returns no connection object: its upgrade leaves the `net.Conn` to the application.")
	v.p("")
	v.p("| library | accept time | accept allocs | accept bytes | dial time | dial allocs | dial bytes |")
	v.p("|---|---:|---:|---:|---:|---:|---:|")
	for _, lib := range libs {
		line := "| " + lib + " |"
		for _, op := range []string{"Accept", "Dial"} {
			name := op + "/" + lib
			ns, ok := v.bench(name, nsOp)
			if !ok {
				line += " n/a | n/a | n/a |"
				continue
			}
			a, _ := v.bench(name, allocsOp)
			b, _ := v.bench(name, bytesOp)
			line += fmt.Sprintf(" %s | %s | %s |", fmtNs(ns), fmtInt(a), fmtBytes(b))
		}
		v.p("%s", line)
	}
	line := "| **ours ÷ best peer** |"
	for _, op := range []string{"Accept", "Dial"} {
		for _, f := range []func(Sample) float64{nsOp, allocsOp, bytesOp} {
			best, bestName := 0.0, ""
			for _, p := range peers {
				if x, ok := v.bench(op+"/"+p, f); ok && (bestName == "" || x < best) {
					best, bestName = x, op+"/"+p
				}
			}
			x, ok := 0.0, false
			if bestName != "" && best > 0 {
				x, ok = v.benchRatio(op+"/ours", bestName, f)
			}
			if ok {
				line += " " + fmtRatio(x) + " |"
			} else {
				line += " n/a |"
			}
		}
	}
	v.p("%s", line)
	v.p("")
	var groups []group
	for _, m := range []struct {
		name string
		op   string
		f    func(Sample) float64
	}{
		{"server accept, allocations", "Accept", allocsOp},
		{"server accept, bytes", "Accept", bytesOp},
		{"client dial, allocations", "Dial", allocsOp},
		{"client dial, bytes", "Dial", bytesOp},
	} {
		g := group{name: m.name}
		for _, lib := range libs {
			x, ok := v.bench(m.op+"/"+lib, m.f)
			g.bars = append(g.bars, bar{lib, x, ok})
		}
		groups = append(groups, g)
	}
	v.charts["handshake.svg"] = barChart("Handshake cost", "per handshake, lower is better", groups, func(x float64) string { return fmtInt(x) })
	v.p("![Handshake cost](bench/charts/handshake.svg)")
	v.p("")
}

// --- echo ---

// pollerMode says what the ours (poller) rows are; pollerText says it in
// a sentence of its own.
const (
	pollerMode = "our Poller mode: connections served by epoll event loops (the default, GOMAXPROCS/2 + 1 loops) instead of a goroutine each; `OnMessage` echoes from the loop."
	pollerText = "`ours (poller)` is " + pollerMode + " " + nbioText
	nbioText   = "`nbio` is lesismal/nbio, the event-driven peer the Poller is compared with: its own HTTP server and epoll pollers (`nbhttp.Engine`, `IOModNonBlocking`), no goroutine per connection; the other peers run a goroutine per connection."
)

func (v *view) echoMedian(lib string, conns, size int, f func(EchoSample) float64) (float64, bool) {
	var xs []float64
	for _, s := range v.res.Echo[fmt.Sprintf("%s/%d/%d", lib, conns, size)] {
		xs = append(xs, f(s))
	}
	return median(xs)
}

func echoMsgs(s EchoSample) float64 { return s.MsgsPerSec }
func echoP50(s EchoSample) float64  { return s.P50us }
func echoP99(s EchoSample) float64  { return s.P99us }
func echoCPU(s EchoSample) float64  { return s.CPUPerMsg }
func echoSys(s EchoSample) float64  { return s.SysPerMsg }

func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// bestPeerEcho returns the peer with the best median of f in a cell, and
// that median.
func (v *view) bestPeerEcho(conns, size int, f func(EchoSample) float64, higher bool) (string, float64, bool) {
	best, name := 0.0, ""
	for _, p := range serverPeers {
		x, ok := v.echoMedian(p, conns, size, f)
		if !ok {
			continue
		}
		if name == "" || (higher && x > best) || (!higher && x < best) {
			best, name = x, p
		}
	}
	return name, best, name != ""
}

// echoRatio returns own ÷ peer for f in a cell, round by round.
func (v *view) echoRatio(own, peer string, conns, size int, f func(EchoSample) float64) (float64, bool) {
	byRound := map[int]float64{}
	for _, s := range v.res.Echo[fmt.Sprintf("%s/%d/%d", peer, conns, size)] {
		byRound[s.Round] = f(s)
	}
	var xs []float64
	for _, s := range v.res.Echo[fmt.Sprintf("%s/%d/%d", own, conns, size)] {
		if d, ok := byRound[s.Round]; ok && d != 0 {
			xs = append(xs, f(s)/d)
		}
	}
	return median(xs)
}

func (v *view) echo() {
	c := v.res.Config
	v.p("## Loopback echo")
	v.p("")
	v.p("Each server runs in its own process (`bench/cmd/echoserver -lib NAME`); one load generator (`bench/cmd/loadgen`, a minimal hand-written client that sends a pre-masked frame) drives them all over 127.0.0.1 with one message in flight per connection. Every cell: %s of warm-up, then %s measured. Messages per second and round-trip latency depend on the load generator, which shares the two cores with the server; the server's CPU time per message (utime+stime from /proc, divided by the messages echoed) depends on it least. %s", c.EchoWarmup, c.EchoDuration, pollerText)
	v.p("")
	for _, conns := range c.EchoConns {
		v.p("### %d connection(s)", conns)
		v.p("")
		v.p("| size | library | msgs/s | p50 | p99 | server CPU per msg | ours ÷ best peer, CPU |")
		v.p("|---|---|---:|---:|---:|---:|---:|")
		for _, size := range c.EchoSizes {
			bestPeer, _, bok := v.bestPeerEcho(conns, size, echoCPU, false)
			for _, lib := range serverLibs {
				m, ok := v.echoMedian(lib, conns, size, echoMsgs)
				if !ok {
					v.p("| %s | %s | n/a | n/a | n/a | n/a | |", sizeLabel(size), libLabel(lib))
					continue
				}
				p50, _ := v.echoMedian(lib, conns, size, echoP50)
				p99, _ := v.echoMedian(lib, conns, size, echoP99)
				cpu, _ := v.echoMedian(lib, conns, size, echoCPU)
				ratio := ""
				if bok && !isPeer(lib) {
					if x, ok := v.echoRatio(lib, bestPeer, conns, size, echoCPU); ok {
						ratio = fmtRatio(x) + " (" + bestPeer + ")"
					}
				}
				v.p("| %s | %s | %s | %s | %s | %s | %s |", sizeLabel(size), libLabel(lib), fmtInt(m), fmtUs(p50), fmtUs(p99), fmtUs(cpu), ratio)
			}
		}
		v.p("")
	}
	var cpuGroups, tputGroups []group
	for _, conns := range c.EchoConns {
		for _, size := range c.EchoSizes {
			name := fmt.Sprintf("%d conn, %s", conns, sizeLabel(size))
			gc := group{name: name}
			gt := group{name: name}
			for _, lib := range serverLibs {
				x, ok := v.echoMedian(lib, conns, size, echoCPU)
				gc.bars = append(gc.bars, bar{libLabel(lib), x, ok})
				y, ok := v.echoMedian(lib, conns, size, echoMsgs)
				gt.bars = append(gt.bars, bar{libLabel(lib), y, ok})
			}
			cpuGroups = append(cpuGroups, gc)
			tputGroups = append(tputGroups, gt)
		}
	}
	v.charts["echo-cpu.svg"] = barChart("Loopback echo: server CPU time per message", "lower is better; each cell drawn to its own scale", cpuGroups, fmtUs)
	v.charts["echo-throughput.svg"] = barChart("Loopback echo: messages per second", "higher is better; each cell drawn to its own scale", tputGroups, fmtInt)
	v.p("![Echo: server CPU per message](bench/charts/echo-cpu.svg)")
	v.p("")
	v.p("![Echo: messages per second](bench/charts/echo-throughput.svg)")
	v.p("")
}

// --- idle memory ---

func (v *view) idleMedian(key string, f func(IdleSample) float64) (float64, bool) {
	var xs []float64
	for _, s := range v.res.Idle[key] {
		xs = append(xs, f(s))
	}
	return median(xs)
}

func idleRSS(s IdleSample) float64   { return s.RSSPerConn }
func idleHeap(s IdleSample) float64  { return s.HeapPerConn }
func idleStack(s IdleSample) float64 { return s.StackPerCon }
func idleGoro(s IdleSample) float64  { return s.GoroPerConn }

func (v *view) idle() {
	c := v.res.Config
	v.p("## Memory per idle connection")
	v.p("")
	v.p("%s connections to one server process, each having echoed one 16-byte message, then idle. Per connection: the growth of the server's resident memory (VmRSS), Go heap in use and goroutine stacks, measured after a GC that returns free memory to the OS, and goroutines. The load generator offers `permessage-deflate; client_max_window_bits` in the `deflate` rows; the last column shows what the server agreed to (empty: it did not negotiate). %s", fmtInt(float64(c.IdleConns)), pollerText)
	v.p("")
	v.p("| library | compression | RSS per conn | heap per conn | stack per conn | goroutines per conn | negotiated |")
	v.p("|---|---|---:|---:|---:|---:|---|")
	for _, mode := range []string{"plain", "deflate"} {
		for _, lib := range serverLibs {
			key := lib + "/" + mode
			rss, ok := v.idleMedian(key, idleRSS)
			if !ok {
				v.p("| %s | %s | n/a | n/a | n/a | n/a | |", libLabel(lib), mode)
				continue
			}
			heap, _ := v.idleMedian(key, idleHeap)
			stack, _ := v.idleMedian(key, idleStack)
			goro, _ := v.idleMedian(key, idleGoro)
			ext := ""
			if s := v.res.Idle[key]; len(s) > 0 && mode == "deflate" {
				ext = "`" + s[0].Extensions + "`"
				if s[0].Extensions == "" {
					ext = "no"
				}
			}
			v.p("| %s | %s | %s | %s | %s | %.2f | %s |", libLabel(lib), mode, fmtBytes(rss), fmtBytes(heap), fmtBytes(stack), goro, ext)
		}
	}
	v.p("")
	var groups []group
	for _, mode := range []string{"plain", "deflate"} {
		g := group{name: "compression " + map[string]string{"plain": "not offered", "deflate": "offered"}[mode]}
		for _, lib := range serverLibs {
			x, ok := v.idleMedian(lib+"/"+mode, idleRSS)
			g.bars = append(g.bars, bar{libLabel(lib), x, ok})
		}
		groups = append(groups, g)
	}
	v.charts["idle.svg"] = barChart(fmt.Sprintf("Resident memory per idle connection (%s connections)", fmtInt(float64(c.IdleConns))), "lower is better", groups, fmtBytes)
	v.p("![Memory per idle connection](bench/charts/idle.svg)")
	v.p("")
}

// --- targets ---

type verdict struct {
	target, measured string
	met              int // 1 met, 0 not met, -1 not measured
}

func (v *view) targets() {
	var out []verdict
	add := func(target, measured string, met int) { out = append(out, verdict{target, measured, met}) }
	allOK := func(xs []bool) int {
		if len(xs) == 0 {
			return -1
		}
		for _, x := range xs {
			if !x {
				return 0
			}
		}
		return 1
	}

	// Masking.
	var parts []string
	var oks []bool
	for _, s := range mskSizes {
		if x, ok := v.maskRatio(s, "ours", ""); ok {
			parts = append(parts, s.label+" "+fmtRatio(x))
			oks = append(oks, x > 1)
		}
	}
	add("Masking ahead of the best peer at every size", "ours ÷ best peer: "+strings.Join(parts, ", "), allOK(oks))
	if x, ok := v.maskRatio(mskSizes[3], "ours", "copy"); ok {
		add("Masking at least 0.8× `copy` at 16 KiB", fmtRatio(x), allOK([]bool{x >= 0.8}))
	} else {
		add("Masking at least 0.8× `copy` at 16 KiB", "not measured", -1)
	}
	parts, oks = nil, nil
	for _, s := range mskSizes {
		if x, ok := v.maskRatio(s, "ours-go", "gorilla"); ok {
			parts = append(parts, s.label+" "+fmtRatio(x))
			oks = append(oks, x >= 1)
		}
	}
	add("Pure-Go (purego) kernel at least as fast as gorilla's", "ours (pure Go) ÷ gorilla: "+strings.Join(parts, ", "), allOK(oks))

	// In-memory read and write.
	for _, op := range []string{"Read", "Write"} {
		parts, oks = nil, nil
		var parts2 []string
		var oks2 []bool
		for _, s := range inSizes {
			own := v.rwName(op, s, "ours", "whole")
			if x, ok := v.benchRatio(own, v.rwName(op, s, "gobwas", "frame"), nsOp); ok {
				parts = append(parts, s.label+" "+fmtRatio(x))
				oks = append(oks, x <= 1.2)
			}
			if other, _, ok := v.bestPeerRW(op, s, "gorilla", "coder", "gws"); ok {
				if x, ok := v.benchRatio(own, other, nsOp); ok {
					parts2 = append(parts2, s.label+" "+fmtRatio(x))
					oks2 = append(oks2, x <= 0.5)
				}
			}
		}
		add(op+" (whole message) at most 1.2× gobwas' frame API", "ours ÷ gobwas frame: "+strings.Join(parts, ", "), allOK(oks))
		add(op+" (whole message) at least 2× faster than gorilla, coder and gws", "ours ÷ best of them: "+strings.Join(parts2, ", "), allOK(oks2))
	}
	parts, oks = nil, nil
	for _, op := range []string{"Read", "Write"} {
		for _, api := range []string{"whole", "stream"} {
			worst := 0.0
			found := false
			for _, s := range inSizes {
				if a, ok := v.bench(v.rwName(op, s, "ours", api), allocsOp); ok {
					worst = max(worst, a)
					found = true
				}
			}
			if found {
				parts = append(parts, fmt.Sprintf("%s %s %s", strings.ToLower(op), api, fmtInt(worst)))
				oks = append(oks, worst == 0)
			}
		}
	}
	add("Zero allocations per message, both APIs, read and write", "most allocs per message: "+strings.Join(parts, ", "), allOK(oks))

	// Compression: whole messages with context takeover against the
	// fastest of gws and gorilla, and no allocation per message.
	for _, op := range []string{"Write", "Read"} {
		verb := map[string]string{"Write": "Compressing", "Read": "Inflating"}[op]
		target := verb + " whole messages with context takeover faster than gws and gorilla"
		if parts, oks := v.compressVersusPeers(op, "takeover"); len(parts) > 0 {
			add(target, "ours ÷ the fastest of them: "+strings.Join(parts, ", "), allOK(oks))
		} else {
			add(target, "not measured", -1)
		}
		if parts, oks := v.compressVersusPeers(op, "takeover-turns"); len(parts) > 0 {
			add(target+" — 8 connections in turn", "ours ÷ the fastest of them: "+strings.Join(parts, ", "), allOK(oks))
		}
	}
	parts, oks = nil, nil
	for _, op := range []string{"Write", "Read"} {
		if worst, ok := v.compressAllocs(op); ok {
			parts = append(parts, fmt.Sprintf("%s %s", strings.ToLower(op), fmtInt(worst)))
			oks = append(oks, worst == 0)
		}
	}
	add("Zero allocations per compressed message", "most allocs per message: "+strings.Join(parts, ", "), allOK(oks))

	// Echo and idle memory, for both of our server modes: each row for
	// ours, then the same for ours (poller), against the same best peer.
	owns := []string{"ours", "ours-poller"}
	ownSuffix := func(own string) string {
		if own == "ours" {
			return ""
		}
		return " — " + libLabel(own)
	}
	for _, size := range []int{16, 1 << 10} {
		target := fmt.Sprintf("Echo, 64 conns, %s: server CPU per message at most 0.85× the best peer", sizeLabel(size))
		peer, best, bok := v.bestPeerEcho(64, size, echoCPU, false)
		for _, own := range owns {
			cpu, ok := v.echoMedian(own, 64, size, echoCPU)
			x, rok := v.echoRatio(own, peer, 64, size, echoCPU)
			if !ok || !bok || !rok {
				add(target+ownSuffix(own), "not measured", -1)
				continue
			}
			add(target+ownSuffix(own), fmt.Sprintf("%s vs %s (%s): %s", fmtUs(cpu), fmtUs(best), peer, fmtRatio(x)), allOK([]bool{x <= 0.85}))
		}
		target = fmt.Sprintf("Echo, 64 conns, %s: msgs/s and p99 no worse than the best peer", sizeLabel(size))
		mPeer, _, mok := v.bestPeerEcho(64, size, echoMsgs, true)
		pPeer, _, pok := v.bestPeerEcho(64, size, echoP99, false)
		for _, own := range owns {
			xm, okm := v.echoRatio(own, mPeer, 64, size, echoMsgs)
			xp, okp := v.echoRatio(own, pPeer, 64, size, echoP99)
			if !mok || !pok || !okm || !okp {
				add(target+ownSuffix(own), "not measured", -1)
				continue
			}
			add(target+ownSuffix(own), fmt.Sprintf("msgs/s %s of %s; p99 %s of %s", fmtRatio(xm), mPeer, fmtRatio(xp), pPeer), allOK([]bool{xm >= 1, xp <= 1}))
		}
	}
	for _, mode := range []string{"plain", "deflate"} {
		target := "At most 6 KB RSS per idle connection, " + map[string]string{"plain": "without", "deflate": "with"}[mode] + " compression"
		for _, own := range owns {
			rss, ok := v.idleMedian(own+"/"+mode, idleRSS)
			if !ok {
				add(target+ownSuffix(own), "not measured", -1)
				continue
			}
			neg := ""
			if s := v.res.Idle[own+"/"+mode]; mode == "deflate" && len(s) > 0 && s[0].Extensions == "" {
				neg = " (compression was not negotiated)"
			}
			add(target+ownSuffix(own), fmtBytes(rss)+neg, allOK([]bool{rss <= 6000}))
		}
	}

	v.pollerTargets(add, allOK)
	v.idleDeflateTargets(add, allOK)

	// Handshakes.
	if a, ok := v.bench("Accept/ours", allocsOp); ok {
		b, _ := v.bench("Accept/ours", bytesOp)
		add("Server handshake: at most 3 allocations and 1 KiB, the Conn included", fmt.Sprintf("%s allocs, %s", fmtInt(a), fmtBytes(b)), allOK([]bool{a <= 3, b <= 1024}))
	}
	if a, ok := v.bench("Dial/ours", allocsOp); ok {
		add("Dial: at most 15 allocations", fmtInt(a)+" allocs", allOK([]bool{a <= 15}))
	}

	v.p("## Targets")
	v.p("")
	v.p("The targets of the performance issue, checked against this run.")
	v.p("")
	v.p("| target | measured | met |")
	v.p("|---|---|:---:|")
	for _, x := range out {
		mark := map[int]string{1: "yes", 0: "**no**", -1: "n/a"}[x.met]
		v.p("| %s | %s | %s |", x.target, x.measured, mark)
	}
	v.p("")
}

// pollerTargets adds the targets of the event-driven mode: against the
// best peer of each echo cell, nbio included (CPU, throughput and p99,
// with 5% allowed for noise on p99), against our goroutine mode for large
// messages, and against nbio for idle memory.
func (v *view) pollerTargets(add func(string, string, int), allOK func([]bool) int) {
	cells := []struct{ conns, size int }{{64, 16}, {64, 1 << 10}, {64, 64 << 10}, {1000, 16}, {1000, 1 << 10}}
	for _, cell := range cells {
		target := fmt.Sprintf("Poller echo, %d conns, %s: CPU per message at most 0.85× the best peer, msgs/s and p99 no worse", cell.conns, sizeLabel(cell.size))
		cPeer, _, cok := v.bestPeerEcho(cell.conns, cell.size, echoCPU, false)
		mPeer, _, mok := v.bestPeerEcho(cell.conns, cell.size, echoMsgs, true)
		pPeer, _, pok := v.bestPeerEcho(cell.conns, cell.size, echoP99, false)
		xc, okc := v.echoRatio("ours-poller", cPeer, cell.conns, cell.size, echoCPU)
		xm, okm := v.echoRatio("ours-poller", mPeer, cell.conns, cell.size, echoMsgs)
		xp, okp := v.echoRatio("ours-poller", pPeer, cell.conns, cell.size, echoP99)
		if !cok || !mok || !pok || !okc || !okm || !okp {
			add(target, "not measured", -1)
			continue
		}
		add(target, fmt.Sprintf("CPU %s of %s; msgs/s %s of %s; p99 %s of %s", fmtRatio(xc), cPeer, fmtRatio(xm), mPeer, fmtRatio(xp), pPeer),
			allOK([]bool{xc <= 0.85, xm >= 1, xp <= 1.05}))
	}
	target := "Poller echo, 64 conns, 64 KiB: CPU per message at most 1.1× our goroutine mode's"
	if x, ok := v.echoRatio("ours-poller", "ours", 64, 64<<10, echoCPU); ok {
		add(target, fmtRatio(x), allOK([]bool{x <= 1.1}))
	} else {
		add(target, "not measured", -1)
	}
	for _, mode := range []string{"plain", "deflate"} {
		target := "Poller RSS per idle connection below nbio's, " + map[string]string{"plain": "without", "deflate": "with"}[mode] + " compression"
		own, ok1 := v.idleMedian("ours-poller/"+mode, idleRSS)
		peer, ok2 := v.idleMedian("nbio/"+mode, idleRSS)
		if !ok1 || !ok2 {
			add(target, "not measured", -1)
			continue
		}
		add(target, fmt.Sprintf("%s vs %s: %s", fmtBytes(own), fmtBytes(peer), fmtRatio(own/peer)), allOK([]bool{own < peer}))
	}
}

// --- method and notes ---

func (v *view) method() {
	v.p("## Method")
	v.p("")
	v.p("Each library is driven the way its documentation recommends for speed:")
	v.p("")
	v.p("- **ours**: `Accept` with default options (UTF-8 validation on, 32 MiB read limit; the read benchmarks use binary messages). `ReadAppend` into a buffer reused across messages and `Write`; streaming rows use `Reader` and `Writer` (the writer sends a fragment per 4 KiB `WriteBufferSize`). Echo server: `ReadAppend` + `Write` on a goroutine per connection. With compression: `CompressionNoContextTakeover`.")
	v.p("- **ours (poller)**, echo and idle parts only: %s Echo server: `Accept` with the same options as `ours`, then `Poller.Serve` on one `Poller` for the whole process (default options); `OnMessage` writes the message back with `Write` and closes the connection with `CloseNow` if that fails. Not a peer: it never counts as the best peer.", pollerMode)
	v.p("- **lesismal/nbio**, echo and idle parts only, an event-driven peer: set up as its author's benchmark server does, `nbhttp.NewEngine` with `IOModNonBlocking` (its epoll pollers read the requests and the messages; `NumCPU/4` pollers, at least one), `ReleaseWebsocketPayload` and a `MaxLoad` above the idle count, on the same listener as the others; `websocket.NewUpgrader` with its keep-alive read deadline off, `OnMessage` echoing with `WriteMessage` (it runs on nbio's task pool, one job at a time per connection). nbio writes frames of at most 32 KiB (its default `MaxWebsocketFramePayloadSize`), so a 64 KiB echo goes back in two fragments. With compression: `EnableCompression(true)`. It counts as a peer.")
	v.p("- **gorilla/websocket**: the zero `Upgrader`, which reuses net/http's hijacked 4 KiB read and write buffers for the connection. `ReadMessage`/`WriteMessage` (whole) and `NextReader`/`NextWriter` (stream). Echo server: `NextReader` into a reused `bytes.Buffer`, then `WriteMessage`. With compression: `EnableCompression` (its only mode, no context takeover).")
	v.p("- **coder/websocket**: `Accept` with default options (compression off). `Read`/`Write` (whole) and `Reader`/`Writer` (stream); the read limit is raised to the message size. Echo server: `Reader` into a reused `bytes.Buffer`, then `Write`. With compression: `CompressionNoContextTakeover`.")
	v.p("- **gobwas/ws**: `ws.UpgradeHTTP` in memory; `frame` rows use its low-level API — `ws.ReadHeaderBuffer` from the hijacked 4 KiB `bufio.Reader`, `io.ReadFull` into a reused buffer and `ws.Cipher`; `ws.WriteHeaderBuffer` and the payload written straight to the connection — and `stream` rows use `wsutil.Reader` and `wsutil.Writer`. Echo server: the zero-copy `ws.Upgrader` on the raw TCP connection (no net/http), the low-level API with a 4 KiB `bufio.Reader`, and each reply (header and payload) written with one `Write`. With compression: `wsflate.Extension` negotiates it (replies stay uncompressed).")
	v.p("- **lxzan/gws**: `gws.NewUpgrader` with default options (UTF-8 check off, as gws defaults); messages arrive in `OnMessage` on `ReadLoop` and go back to its pool with `Message.Close`; `WriteMessage`. gws has no streaming API. Echo server: `gws.NewServer(...).RunListener` (its own HTTP parsing, no net/http), echo in `OnMessage`. With compression: `PermessageDeflate{Enabled: true}` (no context takeover by default).")
	v.p("")
	if len(v.res.EchoDeflate)+len(v.res.Paced)+len(v.res.IdleDeflate) > 0 {
		v.p("The compressed parts (compressed echo, busy compressed connections, memory with compression in use) send JSON text messages (`loadgen -payload json -compress -compressed`), each deflated once, on its own, with compress/flate at its default level: valid with or without client context takeover. While connecting, loadgen checks that each echo comes back compressed and inflates to what it sent (with the echoes before it as the window, for servers that keep theirs). With `echoserver -takeover` the servers negotiate context takeover in both directions: ours and ours (poller) with `CompressionContextTakeover` (15-bit windows both ways, its default), coder with `CompressionContextTakeover`, gws with `PermessageDeflate` and `ServerContextTakeover`, `ClientContextTakeover`, both window bits at 15 (its takeover default being 12). gorilla and nbio have no context takeover; gobwas' echo server negotiates compression but neither inflates nor compresses, so the compressed parts leave it out.")
		v.p("")
	}
	v.p("The in-memory connection fills every read completely, as a socket with data always waiting would; its writes are discarded. Allocation counts are per message in steady state, after a warm-up. The loopback echo and idle servers differ only in the library: same listener on 127.0.0.1, same load generator, a fresh process for each cell. The load generator closes its connections with a reset, so that ten thousand closed connections leave no TIME_WAIT behind.")
	v.p("")
	v.p("The raw results of this run, every round, are in `bench/results.json`.")
	v.p("")
}

func (v *view) notes() {
	if len(v.res.Notes) == 0 {
		return
	}
	v.p("## Run notes")
	v.p("")
	for _, n := range v.res.Notes {
		v.p("- %s", strings.ReplaceAll(n, "\n", " "))
	}
	v.p("")
}
