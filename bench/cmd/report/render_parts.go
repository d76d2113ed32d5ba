package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Rendering of the added parts (parts.go): each section is written only
// when its part has results, so that pages of older results stay as they
// were.

// sampleMedian returns the median of f over samples.
func sampleMedian[S any](samples []S, f func(S) float64) (float64, bool) {
	var xs []float64
	for _, s := range samples {
		xs = append(xs, f(s))
	}
	return median(xs)
}

// pairedRatio returns the median over rounds of a's f ÷ b's f, pairing the
// samples of the same round, as every ratio of the page is taken.
func pairedRatio[S any](a, b []S, round func(S) int, f func(S) float64) (float64, bool) {
	byRound := map[int]float64{}
	for _, s := range b {
		byRound[round(s)] = f(s)
	}
	var xs []float64
	for _, s := range a {
		if d, ok := byRound[round(s)]; ok && d != 0 {
			xs = append(xs, f(s)/d)
		}
	}
	return median(xs)
}

func echoRound(s EchoSample) int { return s.Round }

// bestPeerIn returns the peer of libs with the best median of f over the
// samples get gives, and that median.
func bestPeerIn[S any](libs []string, get func(lib string) []S, f func(S) float64, higher bool) (string, float64, bool) {
	best, name := 0.0, ""
	for _, lib := range libs {
		if !isPeer(lib) {
			continue
		}
		x, ok := sampleMedian(get(lib), f)
		if !ok {
			continue
		}
		if name == "" || (higher && x > best) || (!higher && x < best) {
			best, name = x, lib
		}
	}
	return name, best, name != ""
}

// ratioCell formats own ÷ peer, "x.xx× (peer)", or "" when not measured.
func ratioCell(x float64, ok bool, peer string) string {
	if !ok {
		return ""
	}
	return fmtRatio(x) + " (" + peer + ")"
}

// --- echo-deflate ---

func (v *view) echoDeflate() {
	if len(v.res.EchoDeflate) == 0 {
		return
	}
	c := v.res.Config
	// The ratio depends on the size only; the first library that has one
	// gives it, in a fixed order so that a rerender says the same.
	var ratios []string
	for _, size := range c.DeflateEchoSizes {
		for _, lib := range deflateLibs {
			samples := v.res.EchoDeflate[fmt.Sprintf("%s/64/%d", lib, size)]
			if len(samples) > 0 && samples[0].SentRatio > 0 {
				ratios = append(ratios, fmt.Sprintf("%s messages to about %.2f of their size", sizeLabel(size), samples[0].SentRatio))
				break
			}
		}
	}
	ratio := ""
	if len(ratios) > 0 {
		ratio = ", which compress/flate at its default level takes: " + strings.Join(ratios, ", ")
	}
	v.p("## Compressed echo")
	v.p("")
	v.p("The loopback echo with permessage-deflate negotiated and used both ways. The servers run with `echoserver -compress` (no context takeover, each library's default level and threshold; see [Method](#method)); loadgen offers `permessage-deflate; client_max_window_bits`, sends every message compressed (deflated once, each on its own) and, while connecting, checks that the echo comes back compressed and inflates to what it sent. The messages are JSON text messages (chat messages of ids, names, times and words)%s. Warm-up, measurement and columns as in the loopback echo; every ratio is taken against the best peer of the column. gobwas is left out: its echo server does not inflate (wsflate is a toolkit the application drives frame by frame) and would send a compressed frame back as it came. Rerun with `go run ./cmd/report -from results.json -only echo-deflate`.", ratio)
	v.p("")
	get := func(conns, size int) func(string) []EchoSample {
		return func(lib string) []EchoSample { return v.res.EchoDeflate[fmt.Sprintf("%s/%d/%d", lib, conns, size)] }
	}
	for _, conns := range c.DeflateEchoConns {
		v.p("### %d connection(s), compressed", conns)
		v.p("")
		v.p("| size | library | msgs/s | p50 | p99 | server CPU per msg | ours ÷ best peer, CPU | ours ÷ best peer, msgs/s | ours ÷ best peer, p99 |")
		v.p("|---|---|---:|---:|---:|---:|---:|---:|---:|")
		for _, size := range c.DeflateEchoSizes {
			g := get(conns, size)
			cPeer, _, _ := bestPeerIn(deflateLibs, g, echoCPU, false)
			mPeer, _, _ := bestPeerIn(deflateLibs, g, echoMsgs, true)
			pPeer, _, _ := bestPeerIn(deflateLibs, g, echoP99, false)
			for _, lib := range deflateLibs {
				samples := g(lib)
				m, ok := sampleMedian(samples, echoMsgs)
				if !ok {
					v.p("| %s | %s | n/a | n/a | n/a | n/a | | | |", sizeLabel(size), libLabel(lib))
					continue
				}
				p50, _ := sampleMedian(samples, echoP50)
				p99, _ := sampleMedian(samples, echoP99)
				cpu, _ := sampleMedian(samples, echoCPU)
				var rc, rm, rp string
				if !isPeer(lib) {
					if cPeer != "" {
						x, ok := pairedRatio(samples, g(cPeer), echoRound, echoCPU)
						rc = ratioCell(x, ok, cPeer)
					}
					if mPeer != "" {
						x, ok := pairedRatio(samples, g(mPeer), echoRound, echoMsgs)
						rm = ratioCell(x, ok, mPeer)
					}
					if pPeer != "" {
						x, ok := pairedRatio(samples, g(pPeer), echoRound, echoP99)
						rp = ratioCell(x, ok, pPeer)
					}
				}
				mark := ""
				if !samples[0].Compressed {
					mark = " (not compressed both ways)"
				}
				v.p("| %s | %s%s | %s | %s | %s | %s | %s | %s | %s |", sizeLabel(size), libLabel(lib), mark, fmtInt(m), fmtUs(p50), fmtUs(p99), fmtUs(cpu), rc, rm, rp)
			}
		}
		v.p("")
	}
	var groups []group
	for _, conns := range c.DeflateEchoConns {
		for _, size := range c.DeflateEchoSizes {
			gr := group{name: fmt.Sprintf("%d conn, %s, compressed", conns, sizeLabel(size))}
			for _, lib := range deflateLibs {
				x, ok := sampleMedian(get(conns, size)(lib), echoCPU)
				gr.bars = append(gr.bars, bar{libLabel(lib), x, ok})
			}
			groups = append(groups, gr)
		}
	}
	v.charts["echo-deflate-cpu.svg"] = barChart("Compressed echo: server CPU time per message", "lower is better; each cell drawn to its own scale", groups, fmtUs)
	v.p("![Compressed echo: server CPU per message](bench/charts/echo-deflate-cpu.svg)")
	v.p("")
}

// --- loops ---

// defaultLoops is the Poller's default number of event loops on a machine
// of cores cores (GOMAXPROCS being the number of cores).
func defaultLoops(cores int) int { return cores/2 + 1 }

func (v *view) loops() {
	if len(v.res.Loops) == 0 {
		return
	}
	c := v.res.Config
	def := defaultLoops(v.res.Machine.Cores)
	defKey := strconv.Itoa(def)
	get := func(key string) []EchoSample { return v.res.Loops[key] }
	bestPeer, _, bok := bestPeerIn(c.LoopsPeers, get, echoCPU, false)
	v.p("## Poller event loops")
	v.p("")
	v.p("`ours (poller)` echoing %s binary messages on %s connections (`echoserver -lib ours-poller -loops N`), with each number of event loops, and %s in the same cell for reference, all in turn in every round. The Poller's default is GOMAXPROCS/2 + 1 loops: %d on this machine's %d cores, the row marked *default*. Warm-up, measurement and columns as in the loopback echo; ratios are taken round by round against the default and against the peer of this table with the least CPU per message. Rerun with `go run ./cmd/report -from results.json -only loops`.",
		sizeLabel(c.LoopsSize), fmtInt(float64(c.LoopsConns)), strings.Join(c.LoopsPeers, " and "), def, v.res.Machine.Cores)
	v.p("")
	v.p("| loops | msgs/s | p50 | p99 | server CPU per msg | ÷ default, msgs/s | ÷ default, p99 | ÷ default, CPU | ÷ best peer, CPU |")
	v.p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	row := func(key, label string, own bool) {
		samples := get(key)
		m, ok := sampleMedian(samples, echoMsgs)
		if !ok {
			v.p("| %s | n/a | n/a | n/a | n/a | | | | |", label)
			return
		}
		p50, _ := sampleMedian(samples, echoP50)
		p99, _ := sampleMedian(samples, echoP99)
		cpu, _ := sampleMedian(samples, echoCPU)
		var dm, dp, dc, bp string
		if own && key != defKey {
			if x, ok := pairedRatio(samples, get(defKey), echoRound, echoMsgs); ok {
				dm = fmtRatio(x)
			}
			if x, ok := pairedRatio(samples, get(defKey), echoRound, echoP99); ok {
				dp = fmtRatio(x)
			}
			if x, ok := pairedRatio(samples, get(defKey), echoRound, echoCPU); ok {
				dc = fmtRatio(x)
			}
		}
		if own && bok {
			x, ok := pairedRatio(samples, get(bestPeer), echoRound, echoCPU)
			bp = ratioCell(x, ok, bestPeer)
		}
		v.p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |", label, fmtInt(m), fmtUs(p50), fmtUs(p99), fmtUs(cpu), dm, dp, dc, bp)
	}
	for _, n := range c.Loops {
		key := strconv.Itoa(n)
		label := key
		if key == defKey {
			label += " (default)"
		}
		row(key, label, true)
	}
	for _, p := range c.LoopsPeers {
		row(p, p+" (peer)", false)
	}
	v.p("")
}

// --- paced ---

func pacedRound(s PacedSample) int     { return s.Round }
func pacedCPU(s PacedSample) float64   { return s.CPUPerMsg }
func pacedRSS(s PacedSample) float64   { return s.RSSPerConn }
func pacedP99(s PacedSample) float64   { return s.P99us }
func pacedMsgs(s PacedSample) float64  { return s.MsgsPerSec }
func pacedP50(s PacedSample) float64   { return s.P50us }
func pacedConns(s PacedSample) float64 { return float64(s.Conns) }
func pacedLate(s PacedSample) float64  { return float64(s.Late) }

func (v *view) pacedMedian(lib string, f func(PacedSample) float64) (float64, bool) {
	return sampleMedian(v.res.Paced[lib], f)
}

func (v *view) paced() {
	if len(v.res.Paced) == 0 {
		return
	}
	c := v.res.Config
	v.p("## Busy compressed connections")
	v.p("")
	v.p("%s connections to one server, each sending one compressed %s JSON message every %s and waiting for its echo (`loadgen -mode paced -rate %g`; each connection starts at an offset of its own, so the messages arrive spread evenly): %s messages a second in all, most connections idle at any moment, as a server of many quiet clients sees them. Compression as in the compressed echo (`echoserver -compress`, no context takeover), then with context takeover. %s of warm-up, then %s measured: the server's CPU per message, and its resident memory per connection while busy, the mean of samples taken every 250 ms less the server's before the connections, with no forced GC (GOGC headroom and garbage included). `late` counts the sends that fell a whole period behind. Rerun with `go run ./cmd/report -from results.json -only paced`.",
		fmtInt(float64(c.PacedConns)), sizeLabel(c.PacedSize), fmtPeriod(c.PacedRate), c.PacedRate, fmtInt(float64(c.PacedConns)*c.PacedRate), c.PacedWarmup, c.PacedDuration)
	v.p("")
	v.pacedTable(deflateLibs, "")
	if v.pacedMeasured(takeoverLibs, "/takeover") {
		v.p("With context takeover (`echoserver -takeover`, both ways, 15-bit windows; each connection's histories grow to the 1 KiB of its messages' text, and gorilla and nbio have no takeover):")
		v.p("")
		v.pacedTable(takeoverLibs, "/takeover")
	}
}

// pacedMeasured reports whether any of libs has samples under suffix.
func (v *view) pacedMeasured(libs []string, suffix string) bool {
	for _, lib := range libs {
		if len(v.res.Paced[lib+suffix]) > 0 {
			return true
		}
	}
	return false
}

// pacedTable renders the paced rows of libs, their samples under
// lib+suffix, and our ratios to the best of them.
func (v *view) pacedTable(libs []string, suffix string) {
	v.p("| library | connections | msgs/s | p50 | p99 | server CPU per msg | RSS per conn, busy | late |")
	v.p("|---|---:|---:|---:|---:|---:|---:|---:|")
	get := func(lib string) []PacedSample { return v.res.Paced[lib+suffix] }
	for _, lib := range libs {
		samples := get(lib)
		if len(samples) == 0 {
			v.p("| %s | n/a | n/a | n/a | n/a | n/a | n/a | |", libLabel(lib))
			continue
		}
		conns, _ := sampleMedian(samples, pacedConns)
		m, _ := sampleMedian(samples, pacedMsgs)
		p50, _ := sampleMedian(samples, pacedP50)
		p99, _ := sampleMedian(samples, pacedP99)
		cpu, _ := sampleMedian(samples, pacedCPU)
		rss, _ := sampleMedian(samples, pacedRSS)
		late, _ := sampleMedian(samples, pacedLate)
		mark := ""
		if !samples[0].Compressed {
			mark = " (not compressed both ways)"
		}
		v.p("| %s%s | %s | %s | %s | %s | %s | %s | %s |", libLabel(lib), mark, fmtInt(conns), fmtInt(m), fmtUs(p50), fmtUs(p99), fmtUs(cpu), fmtBytes(rss), fmtInt(late))
	}
	cPeer, _, cok := bestPeerIn(libs, get, pacedCPU, false)
	rPeer, _, rok := bestPeerIn(libs, get, pacedRSS, false)
	pPeer, _, pok := bestPeerIn(libs, get, pacedP99, false)
	for _, own := range []string{"ours", "ours-poller"} {
		if len(get(own)) == 0 {
			continue
		}
		var rc, rr, rp string
		if cok {
			x, ok := pairedRatio(get(own), get(cPeer), pacedRound, pacedCPU)
			rc = ratioCell(x, ok, cPeer)
		}
		if rok {
			x, ok := pairedRatio(get(own), get(rPeer), pacedRound, pacedRSS)
			rr = ratioCell(x, ok, rPeer)
		}
		if pok {
			x, ok := pairedRatio(get(own), get(pPeer), pacedRound, pacedP99)
			rp = ratioCell(x, ok, pPeer)
		}
		v.p("| **%s ÷ best peer** | | | | %s | %s | %s | |", libLabel(own), rp, rc, rr)
	}
	v.p("")
}

// fmtPeriod formats the period of rate events a second.
func fmtPeriod(rate float64) string {
	if rate == 1 {
		return "second"
	}
	return fmtNs(1e9 / rate)
}

// --- idle-deflate ---

func idleRound(s IdleSample) int { return s.Round }

// idleDeflateLabel is the column of a mode.
func (c Config) idleDeflateLabel(mode string) string {
	switch mode {
	case "plain":
		return "not compressed"
	case "deflate":
		return "compressed, no context takeover"
	case "takeover":
		return "compressed, context takeover"
	case "takeover-full-10":
		return fmt.Sprintf("context takeover, 10-bit windows full (%d messages)", c.IdleDeflateFillMsgs)
	}
	return fmt.Sprintf("context takeover, window full (%d messages)", c.IdleDeflateFillMsgs)
}

// windowBits returns the LZ77 window bits of each direction that ext (a
// Sec-WebSocket-Extensions response) allows: server_max_window_bits for
// the server's messages, client_max_window_bits for the client's, 15 when
// absent.
func windowBits(ext string) (server, client int) {
	server, client = 15, 15
	for _, p := range strings.Split(ext, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "server_max_window_bits":
			server = n
		case "client_max_window_bits":
			client = n
		}
	}
	return server, client
}

// takeoverBound is the target's bound on an idle connection's memory under
// context takeover: one window per direction and 1 KiB.
func takeoverBound(ext string) float64 {
	s, c := windowBits(ext)
	return float64(int(1)<<s + int(1)<<c + 1024)
}

func (v *view) idleDeflate() {
	if len(v.res.IdleDeflate) == 0 {
		return
	}
	c := v.res.Config
	v.p("## Memory per idle connection with compression in use")
	v.p("")
	v.p("As the idle part, but every connection first echoes %s JSON text message, compressed both ways where the columns say so, before going idle; per connection, the growth of the server's resident memory after a GC (Go heap in use in brackets). %s connections per server, %s for coder with context takeover (about 1.2 MB of heap per connection); the window-full column: %s connections (%s for coder), each having echoed %d distinct messages (%s each way, more than a 15-bit window), so that a history kept per connection is as large as it gets; the 10-bit column: the same with our two servers asking for 10-bit windows both ways (`echoserver -takeover -windowbits 10`: `MaxWindowBits` and `SendWindowBits`), which the other servers cannot be told to. Context takeover: `echoserver -takeover`, negotiated both ways with 15-bit windows by ours, coder and gws; gorilla and nbio have no context takeover (—), and gobwas' echo server does not compress. The last column is what the servers agreed to with takeover. The part runs in the first %d round(s) of a report; rerun it with `go run ./cmd/report -from results.json -only idle-deflate` (about five minutes, most of it connecting the window-full column).",
		"one "+sizeLabel(c.IdleDeflateSize), fmtInt(float64(c.IdleDeflateConns)), fmtInt(float64(min(c.IdleDeflateConns, c.IdleDeflateCoderConns))),
		fmtInt(float64(min(c.IdleDeflateConns, c.IdleDeflateFillConns))), fmtInt(float64(min(c.IdleDeflateConns, c.IdleDeflateCoderConns, c.IdleDeflateFillConns))), c.IdleDeflateFillMsgs, sizeLabel(c.IdleDeflateFillMsgs*c.IdleDeflateSize), max(c.IdleDeflateRounds, 1))
	v.p("")
	hdr := "| library |"
	sep := "|---|"
	for _, mode := range idleDeflateModes {
		hdr += " " + c.idleDeflateLabel(mode) + " |"
		sep += "---:|"
	}
	v.p("%s negotiated with takeover |", hdr)
	v.p("%s---|", sep)
	get := func(mode string) func(string) []IdleSample {
		return func(lib string) []IdleSample { return v.res.IdleDeflate[lib+"/"+mode] }
	}
	for _, lib := range serverLibs {
		line := "| " + libLabel(lib) + " |"
		for _, mode := range idleDeflateModes {
			samples := get(mode)(lib)
			rss, ok := sampleMedian(samples, idleRSS)
			switch {
			case ok:
				heap, _ := sampleMedian(samples, idleHeap)
				line += fmt.Sprintf(" %s (%s)", fmtBytes(rss), fmtBytes(heap))
				if mode != "plain" && !samples[0].Compressed {
					line += ", not compressed both ways"
				}
				line += " |"
			case slices.Contains(idleDeflateLibs(mode), lib):
				line += " n/a |"
			default:
				line += " — |"
			}
		}
		ext := ""
		if s := get("takeover")(lib); len(s) > 0 {
			ext = "`" + s[0].Extensions + "`"
		}
		v.p("%s %s |", line, ext)
	}
	for _, own := range []string{"ours", "ours-poller"} {
		measured := false
		for _, mode := range idleDeflateModes {
			measured = measured || len(get(mode)(own)) > 0
		}
		if !measured {
			continue
		}
		line := "| **" + libLabel(own) + " ÷ best peer** |"
		for _, mode := range idleDeflateModes {
			peer, _, ok := bestPeerIn(idleDeflateLibs(mode), get(mode), idleRSS, false)
			if !ok {
				line += " |"
				continue
			}
			x, ok := pairedRatio(get(mode)(own), get(mode)(peer), idleRound, idleRSS)
			line += " " + ratioCell(x, ok, peer) + " |"
		}
		v.p("%s |", line)
	}
	v.p("")
	var groups []group
	for _, mode := range idleDeflateModes {
		gr := group{name: c.idleDeflateLabel(mode)}
		for _, lib := range idleDeflateLibs(mode) {
			x, ok := sampleMedian(get(mode)(lib), idleRSS)
			gr.bars = append(gr.bars, bar{libLabel(lib), x, ok})
		}
		groups = append(groups, gr)
	}
	v.charts["idle-deflate.svg"] = barChart("Resident memory per idle connection, compression in use", "lower is better; each column drawn to its own scale", groups, fmtBytes)
	v.p("![Memory per idle connection with compression in use](bench/charts/idle-deflate.svg)")
	v.p("")
}

// windowsFullTarget adds the target of own's idle connections with both
// windows full in mode, of bits bits: at most the windows and 1 KiB.
func (v *view) windowsFullTarget(add func(string, string, int), allOK func([]bool) int, own, mode string, bits int) {
	target := fmt.Sprintf("Idle RSS per connection with context takeover, history full: at most 2^window_bits bytes per direction + 1 KiB (%s at %d bits)", fmtBytes(float64(int(2)<<bits+1024)), bits)
	if own != "ours" {
		target += " — " + libLabel(own)
	}
	samples := v.res.IdleDeflate[own+"/"+mode]
	rss, ok := sampleMedian(samples, idleRSS)
	if !ok {
		add(target, "not measured", -1)
		return
	}
	ext := samples[0].Extensions
	bound := takeoverBound(ext)
	s, cb := windowBits(ext)
	neg := ""
	if !strings.Contains(ext, "permessage-deflate") || strings.Contains(ext, "no_context_takeover") {
		neg = " (context takeover was not negotiated both ways)"
	}
	add(target, fmt.Sprintf("%s against %s (%d/%d bits)%s", fmtBytes(rss), fmtBytes(bound), s, cb, neg), allOK([]bool{rss <= bound && neg == ""}))
	if own == "ours" {
		v.takeoverIncrementTarget(add, allOK, rss, bound, bits, s, cb, neg)
	}
}

// takeoverIncrementTarget adds, for the goroutine mode, what full windows
// add to the same connection without compression: its goroutine's stack
// and the rest of an idle connection are the idle part's to bound, not
// compression's.
func (v *view) takeoverIncrementTarget(add func(string, string, int), allOK func([]bool) int, full, bound float64, bits, s, cb int, neg string) {
	target := fmt.Sprintf("Idle RSS that compression adds to a connection with context takeover, history full (the full column less the uncompressed one): at most 2^window_bits bytes per direction + 1 KiB (%s at %d bits) — ours", fmtBytes(float64(int(2)<<bits+1024)), bits)
	plain, ok := sampleMedian(v.res.IdleDeflate["ours/plain"], idleRSS)
	if !ok {
		add(target, "not measured", -1)
		return
	}
	added := full - plain
	add(target, fmt.Sprintf("%s (%s less %s) against %s (%d/%d bits)%s", fmtBytes(added), fmtBytes(full), fmtBytes(plain), fmtBytes(bound), s, cb, neg), allOK([]bool{added <= bound && neg == ""}))
}

// idleDeflateTargets adds the targets of memory with compression in use:
// under context takeover with the history full, at most a window per
// direction and 1 KiB, for both of our modes; and the Poller below nbio
// once compressed messages went both ways (no context takeover, which is
// all nbio has).
func (v *view) idleDeflateTargets(add func(string, string, int), allOK func([]bool) int) {
	for _, full := range []struct {
		mode string
		bits int
	}{{"takeover-full", 15}, {"takeover-full-10", 10}} {
		for _, own := range []string{"ours", "ours-poller"} {
			v.windowsFullTarget(add, allOK, own, full.mode, full.bits)
		}
	}
	target := "Poller RSS per idle connection below nbio's, compressed messages both ways (no context takeover)"
	own, ok1 := sampleMedian(v.res.IdleDeflate["ours-poller/deflate"], idleRSS)
	peer, ok2 := sampleMedian(v.res.IdleDeflate["nbio/deflate"], idleRSS)
	if !ok1 || !ok2 || peer <= 0 || math.IsNaN(own) {
		add(target, "not measured", -1)
		return
	}
	add(target, fmt.Sprintf("%s vs %s: %s", fmtBytes(own), fmtBytes(peer), fmtRatio(own/peer)), allOK([]bool{own < peer}))
}

// --- tail ---

// procsLabel names a load generator thread count of the tail part.
func procsLabel(procs, cores int) string {
	switch procs {
	case 0:
		return fmt.Sprintf("loadgen on all %d cores", cores)
	case tailPinned:
		pl := pinned(cores)
		return fmt.Sprintf("server on CPU %s, loadgen on CPU %s", pl.serverCPUs, pl.loadgenCPUs)
	}
	return fmt.Sprintf("loadgen GOMAXPROCS=%d", procs)
}

func (v *view) tail() {
	if len(v.res.Tail) == 0 {
		return
	}
	c := v.res.Config
	v.p("## Echo tail latency and the load generator")
	v.p("")
	v.p("The loopback echo at %s connections again, every server in turn in every round, with the load generator on all cores (as in the loopback echo above), on one thread (`GOMAXPROCS=1 loadgen …`), and with each process pinned to cores of its own by `taskset` (%s), which is how nbio's author runs his benchmarks (lesismal/go-websocket-benchmark, script/util.sh: the server on the first half of the cores less one, the client on the rest). Unpinned, server and load generator share this machine's %d cores, so the load generator's own threads being preempted shows in the round-trip times it records. The p99 ratio is ours ÷ the peer with the lowest median p99 under the same placement, round by round. The server's CPU per message comes with the share of it spent in the kernel (its stime, from /proc), where system calls and TCP's own work are counted. Rerun with `go run ./cmd/report -from results.json -only tail`.",
		fmtInt(float64(c.TailConns)), procsLabel(tailPinned, v.res.Machine.Cores), v.res.Machine.Cores)
	v.p("")
	for _, size := range c.TailSizes {
		v.tailTable(size)
	}
}

// tailTable writes the tail part's table for one message size.
func (v *view) tailTable(size int) {
	c := v.res.Config
	cores := v.res.Machine.Cores
	v.p("**%s messages**", sizeLabel(size))
	v.p("")
	head, rule := "| server |", "|---|"
	for _, procs := range c.TailProcs {
		l := procsLabel(procs, cores)
		head += fmt.Sprintf(" %s: msgs/s | p50 | p99 | p99 ÷ best peer | server CPU per msg |", l)
		rule += "---:|---:|---:|---:|---:|"
	}
	v.p("%s", head)
	v.p("%s", rule)
	for _, lib := range serverLibs {
		row := "| " + libLabel(lib) + " |"
		for _, procs := range c.TailProcs {
			get := func(l string) []EchoSample { return v.res.Tail[tailKey(l, size, procs)] }
			samples := get(lib)
			m, ok := sampleMedian(samples, echoMsgs)
			if !ok {
				row += " n/a | n/a | n/a | | n/a |"
				continue
			}
			p50, _ := sampleMedian(samples, echoP50)
			p99, _ := sampleMedian(samples, echoP99)
			cpu, _ := sampleMedian(samples, echoCPU)
			cell := ""
			if !isPeer(lib) {
				if best, _, ok := bestPeerIn(serverLibs, get, echoP99, false); ok {
					x, ok := pairedRatio(samples, get(best), echoRound, echoP99)
					cell = ratioCell(x, ok, best)
				}
			}
			cpuCell := fmtUs(cpu)
			if sys, ok := sampleMedian(samples, echoSys); ok && sys > 0 && cpu > 0 {
				cpuCell += fmt.Sprintf(" (%.0f%% kernel)", 100*sys/cpu)
			}
			row += fmt.Sprintf(" %s | %s | %s | %s | %s |", fmtInt(m), fmtUs(p50), fmtUs(p99), cell, cpuCell)
		}
		v.p("%s", row)
	}
	v.p("")
}
