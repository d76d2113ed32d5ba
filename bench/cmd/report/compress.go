package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runCompress runs one round of the compression benchmarks: compressed
// message read and write, and heap per connection with compression active.
func (r *Run) runCompress(ctx context.Context, round int) {
	timeout := 8 * time.Minute
	if r.Config.Quick {
		timeout = 4 * time.Minute
	}
	log.Print("  compression")
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.benchBin,
		"-test.run", "^$",
		"-test.bench", "^(BenchmarkCompress|BenchmarkCompressMemory)$",
		"-test.benchmem",
		"-test.benchtime", r.Config.BenchTime,
		"-test.timeout", timeout.String())
	cmd.Dir = r.BenchDir
	cmd.Env = append(os.Environ(), "BENCH_ROTATE="+strconv.Itoa(round))
	out, err := cmd.CombinedOutput()
	failures := r.parseBench(string(out), "", round)
	if err != nil {
		r.note("round %d: compression benchmarks: %v %s", round+1, err, strings.Join(failures, "; "))
	}
}

// isCompressBench tells whether a benchmark name belongs to the compress
// part.
func isCompressBench(name string) bool {
	return strings.HasPrefix(name, "Compress/") || strings.HasPrefix(name, "CompressMemory/")
}

// mergeParts reruns the given parts with the configuration saved in the
// results file from, or with override if not nil, replaces their samples
// there, and writes the results and the page again to outs. The settings
// that belong only to a rerun part (benchmark time, echo and idle timing)
// are saved with the results; the rerun's rounds are told in a note.
func mergeParts(from string, parts map[string]bool, override *Config, modfile, rootDir, benchDir string, outs outputs) {
	raw, err := os.ReadFile(from)
	if err != nil {
		log.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(raw, &res); err != nil {
		log.Fatal(err)
	}
	if res.Bench == nil {
		res.Bench = map[string][]Sample{}
	}
	if res.Echo == nil || parts["echo"] {
		res.Echo = map[string][]EchoSample{}
	}
	if res.Idle == nil || parts["idle"] {
		res.Idle = map[string][]IdleSample{}
	}
	res.Config.fillNew()
	res.initNew()
	res.resetNew(parts)
	for name := range res.Bench {
		if c := isCompressBench(name); (c && parts["compress"]) || (!c && parts["inmem"]) {
			delete(res.Bench, name)
		}
	}
	cfg := res.Config
	how := ""
	if override != nil {
		cfg = *override
		if parts["inmem"] || parts["compress"] {
			res.Config.BenchTime = cfg.BenchTime
		}
		if parts["echo"] {
			res.Config.EchoWarmup, res.Config.EchoDuration = cfg.EchoWarmup, cfg.EchoDuration
		}
		if parts["idle"] {
			res.Config.IdleSettle = cfg.IdleSettle
		}
		if parts["paced"] {
			res.Config.PacedWarmup, res.Config.PacedDuration = cfg.PacedWarmup, cfg.PacedDuration
		}
		if parts["scale"] {
			res.Config.ScaleWarmup, res.Config.ScaleDuration, res.Config.ScaleMax = cfg.ScaleWarmup, cfg.ScaleDuration, cfg.ScaleMax
		}
		// The saved sizes and counts stay, so that the tables line up.
		cfg.EchoConns, cfg.EchoSizes, cfg.IdleConns = res.Config.EchoConns, res.Config.EchoSizes, res.Config.IdleConns
		cfg.keepCounts(res.Config)
		if cfg.Quick {
			how = ", short settings of -quick"
		}
	}
	r := &Run{Config: cfg, BenchDir: benchDir, RootDir: rootDir, Modfile: modfile, Results: res}
	tmp, err := os.MkdirTemp("", "wsbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	r.Tmp = tmp
	ctx := context.Background()
	start := time.Now()
	loadBefore := loadAverage()
	if parts["inmem"] || parts["echo"] || parts["idle"] || needsServers(parts) {
		err = r.build(ctx)
	} else {
		r.benchBin = filepath.Join(tmp, "bench.test")
		if b, e := r.benchGo(ctx, "test", "-c", "-o", r.benchBin, ".").CombinedOutput(); e != nil {
			err = fmt.Errorf("building the bench tests: %v\n%s", e, b)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	var names []string
	for _, p := range partNames {
		if parts[p] {
			names = append(names, p)
		}
	}
	r.Results.Notes = dropRerunNotes(r.Results.Notes, parts)
	r.note("%s rerun on %s (%d round(s)%s) and merged into the results of %s", strings.Join(names, ", "), start.UTC().Format("2006-01-02 15:04 UTC"), r.Config.Rounds, how, res.Started)
	// The page's load average is the saved run's; the rerun's own goes in
	// its note.
	rerunNote := len(r.Results.Notes) - 1
	for round := range r.Config.Rounds {
		log.Printf("round %d of %d", round+1, r.Config.Rounds)
		if parts["inmem"] {
			r.runInMemory(ctx, round)
		}
		if parts["compress"] {
			r.runCompress(ctx, round)
		}
		if parts["echo"] {
			r.runEcho(ctx, round)
		}
		if parts["idle"] {
			r.runIdle(ctx, round)
		}
		r.runNewParts(ctx, round, parts)
	}
	r.Results.Notes[rerunNote] += fmt.Sprintf("; load average (1, 5, 15 min) %s before, %s after", loadBefore, loadAverage())
	buf, _ := json.MarshalIndent(r.Results, "", "  ")
	if err := writeOutput(outs.results, append(buf, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	writeReport(&r.Results, benchDir, outs)
	fmt.Printf("took %s\n", time.Since(start).Round(time.Second))
}

// dropRerunNotes removes the notes of earlier reruns whose parts are all
// rerun now, since their samples are being replaced.
func dropRerunNotes(notes []string, parts map[string]bool) []string {
	return slices.DeleteFunc(notes, func(n string) bool {
		done, _, ok := strings.Cut(n, " rerun on ")
		if !ok {
			return false
		}
		for _, p := range strings.Split(done, ", ") {
			if !parts[p] {
				return false
			}
		}
		return true
	})
}

// --- rendering ---

// compressRows are the rows of the compression tables: library and mode.
var compressRows = []struct{ lib, mode string }{
	{"ours", "notakeover"}, {"ours", "takeover"}, {"ours", "takeover-turns"},
	{"gorilla", "notakeover"},
	{"coder", "notakeover"}, {"coder", "takeover"},
	{"gws", "notakeover"}, {"gws", "takeover"},
}

var compressSizes = []sizeSpec{{"1KiB", "1 KiB", 1 << 10}, {"16KiB", "16 KiB", 16 << 10}, {"64KiB", "64 KiB", 64 << 10}, {"1MiB", "1 MiB", 1 << 20}}

// compressRowsAt renders the rows of one size of the op table: each
// library and mode, then ours ÷ the fastest peer per mode.
func (v *view) compressRowsAt(op string, s sizeSpec) {
	for _, r := range compressRows {
		n := "Compress/" + op + "/" + s.key + "/" + r.lib + "/" + r.mode
		ns, ok := v.bench(n, nsOp)
		if !ok {
			continue
		}
		mbs, _ := v.bench(n, throughput(s.n))
		allocs, _ := v.bench(n, allocsOp)
		bop, _ := v.bench(n, bytesOp)
		ratio, _ := v.bench(n, ratioOf)
		v.p("| %s | %s | %s | %s | %.0f | %s (%s) | %.3f |", s.label, r.lib, compressModeLabel(r.mode), fmtNs(ns), mbs, fmtInt(allocs), fmtBytes(bop), ratio)
	}
	for _, mode := range []string{"notakeover", "takeover", "takeover-turns"} {
		peer, label, ok := v.bestPeerCompress(op, s, strings.TrimSuffix(mode, "-turns"))
		if !ok {
			continue
		}
		if x, ok := v.benchRatio("Compress/"+op+"/"+s.key+"/ours/"+mode, peer, nsOp); ok {
			v.p("| %s | **ours ÷ fastest peer, time** | %s | %s (%s) | | | |", s.label, compressModeLabel(mode), fmtRatio(x), label)
		}
	}
}

// compressVersusPeers returns, for op at each size, ours with context
// takeover (mode "takeover" or "takeover-turns") ÷ the fastest of gws and
// gorilla in any mode: the speed target of compression.
func (v *view) compressVersusPeers(op, mode string) (parts []string, oks []bool) {
	for _, s := range compressSizes {
		own := "Compress/" + op + "/" + s.key + "/ours/" + mode
		best, bestName := 0.0, ""
		for _, r := range compressRows {
			if r.lib != "gws" && r.lib != "gorilla" {
				continue
			}
			n := "Compress/" + op + "/" + s.key + "/" + r.lib + "/" + r.mode
			if x, ok := v.bench(n, nsOp); ok && (bestName == "" || x < best) {
				best, bestName = x, n
			}
		}
		if x, ok := v.benchRatio(own, bestName, nsOp); ok && bestName != "" {
			parts = append(parts, s.label+" "+fmtRatio(x))
			oks = append(oks, x < 1)
		}
	}
	return parts, oks
}

// compressAllocs returns the most allocations per message of ours, both
// modes, op at every size.
func (v *view) compressAllocs(op string) (float64, bool) {
	worst, found := 0.0, false
	for _, s := range compressSizes {
		for _, mode := range []string{"notakeover", "takeover", "takeover-turns"} {
			if a, ok := v.bench("Compress/"+op+"/"+s.key+"/ours/"+mode, allocsOp); ok {
				worst, found = max(worst, a), true
			}
		}
	}
	return worst, found
}

func compressModeLabel(mode string) string {
	switch mode {
	case "takeover":
		return "context takeover"
	case "takeover-turns":
		return "context takeover, 8 connections in turn"
	}
	return "no context takeover"
}

func ratioOf(s Sample) float64 { return s.Ratio }
func heapOf(s Sample) float64  { return s.HeapPerConn }

// bestPeerCompress returns the benchmark name of the fastest peer in mode
// for op at size s.
func (v *view) bestPeerCompress(op string, s sizeSpec, mode string) (string, string, bool) {
	best, name, label := 0.0, "", ""
	for _, r := range compressRows {
		if !isPeer(r.lib) || r.mode != mode {
			continue
		}
		n := "Compress/" + op + "/" + s.key + "/" + r.lib + "/" + r.mode
		if x, ok := v.bench(n, nsOp); ok && (name == "" || x < best) {
			best, name, label = x, n, r.lib
		}
	}
	return name, label, name != ""
}

func (v *view) compression() {
	v.p("## Compression")
	v.p("")
	has := false
	for name := range v.res.Bench {
		if isCompressBench(name) {
			has = true
			break
		}
	}
	if !has {
		v.p("Not measured in this run: `cd bench && go run ./cmd/report -from results.json -only compress` adds it.")
		v.p("")
		return
	}
	v.p("permessage-deflate (RFC 7692) negotiated on an in-memory server connection, text messages of distinct JSON documents (records of ids, names, e-mail addresses, numbers, dates and tags) of one size. Reads replay a stream of compressed, masked client frames made with `compress/flate` at its default level, each message compressed on its own for `no context takeover` rows, or with the context carried from message to message for `context takeover` rows (the connection is replaced, timer stopped, when that stream of 256 KiB or 16 messages, whichever is more, runs out). Writes compress at each library's default level to a connection that discards them. Our compressors are pooled and lent to one message at a time: in the `context takeover` rows one connection writes every message and gets back the compressor that ended its last one, which continues the stream in place, as a connection sending a burst does; in the `8 connections in turn` rows each message goes to the next of eight connections, so that every message loads its connection's history into a compressor again, as with many connections sending at once. Every message is compressed (thresholds off). MB/s counts uncompressed bytes; `ratio` is the bytes on the wire (frames) ÷ the uncompressed bytes, lower is smaller. gobwas/ws is left out: its `wsflate` is a toolkit the application drives frame by frame. gorilla has no context takeover. gws runs with `PermessageDeflate` at its defaults (no context takeover) and with context takeover in both directions (window bits raised to 15, its takeover default being 12), one `Upgrader` shared by all connections.")
	v.p("")
	for _, op := range []string{"Read", "Write"} {
		v.p("### Compressed %s", strings.ToLower(op))
		v.p("")
		v.p("| size | library | mode | time | MB/s | allocs (bytes) | ratio |")
		v.p("|---|---|---|---:|---:|---:|---:|")
		for _, s := range compressSizes {
			v.compressRowsAt(op, s)
		}
		v.p("")
	}
	v.p("### Heap per connection with compression active")
	v.p("")
	v.p("1,000 in-memory server connections per row, each having received and sent one 1 KiB compressed message and kept open: the growth of the Go heap in use ÷ 1,000, measured after two GCs, which empty the `sync.Pool`s, so compressors pooled for all connections are not counted. The hijacked net/http buffers (4 KiB each way) are included, as in a server. gws reads in a goroutine per connection (`ReadLoop`), whose stack is not counted.")
	v.p("")
	v.p("| library | mode | heap per connection |")
	v.p("|---|---|---:|")
	var bars []bar
	for _, r := range compressRows {
		x, ok := v.bench("CompressMemory/"+r.lib+"/"+r.mode, heapOf)
		cell := "n/a"
		if ok {
			cell = fmtBytes(x)
		}
		v.p("| %s | %s | %s |", r.lib, compressModeLabel(r.mode), cell)
		bars = append(bars, bar{r.lib + ", " + map[string]string{"notakeover": "no takeover", "takeover": "takeover"}[r.mode], x, ok})
	}
	if x, ok := v.bench("CompressMemory/ours/takeover-w10", heapOf); ok {
		v.p("| ours | context takeover, 10-bit windows | %s |", fmtBytes(x))
		bars = append(bars, bar{"ours, takeover, 10 bits", x, true})
	}
	v.p("")
	v.charts["compress-memory.svg"] = barChart("Heap per connection with compression active (1,000 connections)", "lower is better", []group{{name: "after one 1 KiB message each way", bars: bars}}, fmtBytes)
	v.p("![Heap per connection with compression active](bench/charts/compress-memory.svg)")
	v.p("")
	v.compressionWindows()
}

// windowBitsCols and windowLibRows lay out the window-bits tables
// (Compress/Window/<corpus>/<bits>bits/<lib>).
var (
	windowBitsCols = []string{"9", "10", "12", "15"}
	windowLibRows  = []struct{ lib, label string }{
		{"ours", "ours"},
		{"gws", "gws"},
		{"flate-huffman", "compress/flate Huffman-only (our previous path below 15 bits)"},
		{"flate-1", "compress/flate BestSpeed, dedicated writer (our previous path at 15 bits)"},
		{"coder", "coder (15 bits only)"},
		{"gorilla", "gorilla (no takeover, 15 bits only)"},
	}
	windowCorpora = []struct{ key, label string }{
		{"chat", "JSON chat, 1 KiB messages"},
		{"logs", "log lines, 4 KiB messages"},
		{"html", "HTML, 16 KiB messages"},
	}
)

// compressionWindows renders the window-bits tables, if measured.
func (v *view) compressionWindows() {
	has := false
	for name := range v.res.Bench {
		if strings.HasPrefix(name, "Compress/Window/") {
			has = true
			break
		}
	}
	if !has {
		return
	}
	v.p("### Window bits under context takeover")
	v.p("")
	v.p("Compressed writes to a connection that discards them, context takeover, the client having limited the server's window with `server_max_window_bits` (9, 10, 12 or 15) in its offer; 64 distinct messages of each corpus written in turn. The `compress/flate` rows are the codec alone, as this library used it before `internal/deflate`: Huffman-only coding whenever the window was below 15 bits (compress/flate cannot limit its window), a dedicated BestSpeed writer kept per connection at 15 bits; their ratio counts the frame header. coder ignores the window parameters and gorilla has no context takeover: they are measured at 15 bits only. Each cell: time per message, ratio (wire bytes ÷ message bytes, lower is smaller), allocations per message.")
	v.p("")
	for _, c := range windowCorpora {
		v.p("#### %s", c.label)
		v.p("")
		hdr, sep := "| library |", "|---|"
		for _, b := range windowBitsCols {
			hdr += " " + b + " bits |"
			sep += "---:|"
		}
		v.p("%s", hdr)
		v.p("%s", sep)
		for _, r := range windowLibRows {
			line := "| " + r.label + " |"
			for _, b := range windowBitsCols {
				n := "Compress/Window/" + c.key + "/" + b + "bits/" + r.lib
				ns, ok := v.bench(n, nsOp)
				if !ok {
					line += " – |"
					continue
				}
				ratio, _ := v.bench(n, ratioOf)
				allocs, _ := v.bench(n, allocsOp)
				line += fmt.Sprintf(" %s, %.3f, %s allocs |", fmtNs(ns), ratio, fmtInt(allocs))
			}
			v.p("%s", line)
		}
		v.p("")
	}
}
