// Command report runs every benchmark of the bench module — in-memory
// message read and write, masking, upgrade and dial cost, loopback TCP
// echo and idle memory per connection, plain and with compression in use,
// the Poller's loop count, paced compressed traffic, and the largest
// connection count the open-file limit allows — for our library and its peers,
// interleaved and repeated, and writes BENCHMARKS.md at the repository root
// with tables, SVG charts (bench/charts) and the raw results
// (bench/results.json). The echo and idle parts also run our Poller mode
// (ours-poller), which is ours, not a peer: it never counts as the best
// peer, and lesismal/nbio, an event-driven peer that does. If
// bench/analysis.md exists, it is copied in after the targets table: the
// place for the hand-written why.
//
// Run it from the bench directory:
//
//	go run ./cmd/report          # full run: 3 rounds, about 26 minutes on 2 cores
//	go run ./cmd/report -quick   # one short round, about 6 minutes
//	go run ./cmd/report -from results.json   # redo the page from saved results
//	go run ./cmd/report -from results.json -only compress   # rerun one part, merge
//	go run ./cmd/report -from results.json -only h2mux      # HTTP/2 multiplexing alone, about a minute a round
//	go run ./cmd/report -from results.json -only echo-deflate,loops,paced   # compressed echo, loop counts, paced
//	go run ./cmd/report -from results.json -only idle-deflate,scale         # memory with compression; scale
//
// The parts: inmem, compress, echo, idle, echo-deflate, loops, paced,
// idle-deflate, scale and h2mux (parts.go and scale.go say what the added
// ones measure). idle-deflate and scale, a minute or two each, run in the
// first round only; -scale-max caps the connections of scale, which the
// hard limit on open files bounds too.
//
// -out, -results and -charts send the page, the raw results and the charts
// elsewhere, for a trial run that leaves the committed files alone:
//
//	go run ./cmd/report -quick -from results.json -only echo,idle \
//		-out /tmp/b/BENCHMARKS.md -results /tmp/b/results.json -charts /tmp/b/charts
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config holds the knobs of a run.
type Config struct {
	Quick        bool          `json:"quick"`
	Rounds       int           `json:"rounds"`
	BenchTime    string        `json:"bench_time"`
	EchoWarmup   time.Duration `json:"echo_warmup"`
	EchoDuration time.Duration `json:"echo_duration"`
	EchoConns    []int         `json:"echo_conns"`
	EchoSizes    []int         `json:"echo_sizes"`
	IdleConns    int           `json:"idle_conns"`
	IdleSettle   time.Duration `json:"idle_settle"`

	// Part echo-deflate: the echo cells with compressed JSON messages;
	// warm-up and measurement as the echo part's.
	DeflateEchoConns []int `json:"deflate_echo_conns,omitempty"`
	DeflateEchoSizes []int `json:"deflate_echo_sizes,omitempty"`

	// Part loops: the Poller's echo with each number of event loops in
	// Loops, and LoopsPeers' for reference, LoopsConns connections,
	// LoopsSize-byte messages; warm-up and measurement as the echo part's.
	Loops      []int    `json:"loops,omitempty"`
	LoopsPeers []string `json:"loops_peers,omitempty"`
	LoopsConns int      `json:"loops_conns,omitempty"`
	LoopsSize  int      `json:"loops_size,omitempty"`

	// Part tail: the echo at TailConns connections and each of TailSizes,
	// every server, with the load generator on each number of threads in
	// TailProcs (its GOMAXPROCS; 0 is all cores, as in the echo part;
	// tailPinned: server and load generator each on cores of its own).
	TailConns int   `json:"tail_conns,omitempty"`
	TailSizes []int `json:"tail_sizes,omitempty"`
	TailProcs []int `json:"tail_procs,omitempty"`

	// Part paced: PacedConns connections, each echoing PacedRate
	// compressed JSON messages of PacedSize bytes a second.
	PacedConns    int           `json:"paced_conns,omitempty"`
	PacedRate     float64       `json:"paced_rate,omitempty"`
	PacedSize     int           `json:"paced_size,omitempty"`
	PacedWarmup   time.Duration `json:"paced_warmup,omitempty"`
	PacedDuration time.Duration `json:"paced_duration,omitempty"`

	// Part idle-deflate: IdleDeflateConns idle connections, each having
	// echoed one JSON message of IdleDeflateSize bytes (at most
	// IdleDeflateCoderConns for coder with context takeover, which keeps
	// about 1.2 MB of heap per connection); the window-full rows
	// IdleDeflateFillConns connections (coder at most
	// IdleDeflateCoderConns), each having echoed
	// IdleDeflateFillMsgs distinct messages. It runs in the first
	// IdleDeflateRounds rounds only.
	IdleDeflateConns      int `json:"idle_deflate_conns,omitempty"`
	IdleDeflateCoderConns int `json:"idle_deflate_coder_conns,omitempty"`
	IdleDeflateSize       int `json:"idle_deflate_size,omitempty"`
	IdleDeflateFillConns  int `json:"idle_deflate_fill_conns,omitempty"`
	IdleDeflateFillMsgs   int `json:"idle_deflate_fill_msgs,omitempty"`
	IdleDeflateRounds     int `json:"idle_deflate_rounds,omitempty"`

	// Part scale: ScaleLibs at as many connections as the open-file limit
	// allows less headroom, at most ScaleMax, idle and echoing
	// ScaleSize-byte messages. It runs in the first ScaleRounds rounds
	// only.
	ScaleMax      int           `json:"scale_max,omitempty"`
	ScaleLibs     []string      `json:"scale_libs,omitempty"`
	ScaleSize     int           `json:"scale_size,omitempty"`
	ScaleWarmup   time.Duration `json:"scale_warmup,omitempty"`
	ScaleDuration time.Duration `json:"scale_duration,omitempty"`
	ScaleRounds   int           `json:"scale_rounds,omitempty"`
}

// defaultConfig returns the settings of a full run, or of a -quick one.
func defaultConfig(quick bool) Config {
	cfg := Config{
		Rounds:       3,
		BenchTime:    "200ms",
		EchoWarmup:   400 * time.Millisecond,
		EchoDuration: 1500 * time.Millisecond,
		EchoConns:    []int{1, 64, 1000},
		EchoSizes:    []int{16, 1 << 10, 64 << 10},
		IdleConns:    10000,
		IdleSettle:   time.Second,

		DeflateEchoConns: []int{64},
		DeflateEchoSizes: []int{1 << 10, 16 << 10},

		Loops:      []int{1, 2, 4},
		LoopsPeers: []string{"gobwas", "nbio"},
		LoopsConns: 1000,
		LoopsSize:  1 << 10,

		TailConns: 64,
		TailSizes: []int{16, 1 << 10},
		TailProcs: []int{0, 1, tailPinned},

		PacedConns:    1000,
		PacedRate:     1,
		PacedSize:     1 << 10,
		PacedWarmup:   1500 * time.Millisecond,
		PacedDuration: 3 * time.Second,

		IdleDeflateConns:      10000,
		IdleDeflateCoderConns: 2000,
		IdleDeflateSize:       1 << 10,
		IdleDeflateFillConns:  10000,
		IdleDeflateFillMsgs:   40,
		IdleDeflateRounds:     1,

		ScaleMax:      100000,
		ScaleLibs:     []string{"ours", "ours-poller", "nbio"},
		ScaleSize:     1 << 10,
		ScaleWarmup:   time.Second,
		ScaleDuration: 3 * time.Second,
		ScaleRounds:   1,
	}
	if quick {
		cfg.Quick = true
		cfg.Rounds = 1
		cfg.BenchTime = "30ms"
		cfg.EchoWarmup = 200 * time.Millisecond
		cfg.EchoDuration = 600 * time.Millisecond
		cfg.IdleSettle = 500 * time.Millisecond
		cfg.PacedWarmup = 1100 * time.Millisecond
		cfg.PacedDuration = 2 * time.Second
		cfg.ScaleWarmup = 500 * time.Millisecond
		cfg.ScaleDuration = 1500 * time.Millisecond
	}
	return cfg
}

// fillNew gives the settings of the parts added after a results file was
// saved their defaults, so that those parts can be rerun into it.
func (c *Config) fillNew() {
	d := defaultConfig(c.Quick)
	fill := func(dst *int, v int) {
		if *dst == 0 {
			*dst = v
		}
	}
	fillD := func(dst *time.Duration, v time.Duration) {
		if *dst == 0 {
			*dst = v
		}
	}
	if len(c.DeflateEchoConns) == 0 {
		c.DeflateEchoConns = d.DeflateEchoConns
	}
	if len(c.DeflateEchoSizes) == 0 {
		c.DeflateEchoSizes = d.DeflateEchoSizes
	}
	if len(c.Loops) == 0 {
		c.Loops = d.Loops
	}
	if len(c.LoopsPeers) == 0 {
		c.LoopsPeers = d.LoopsPeers
	}
	fill(&c.LoopsConns, d.LoopsConns)
	fill(&c.LoopsSize, d.LoopsSize)
	fill(&c.TailConns, d.TailConns)
	if len(c.TailSizes) == 0 {
		c.TailSizes = d.TailSizes
	}
	if len(c.TailProcs) == 0 {
		c.TailProcs = d.TailProcs
	}
	fill(&c.PacedConns, d.PacedConns)
	if c.PacedRate == 0 {
		c.PacedRate = d.PacedRate
	}
	fill(&c.PacedSize, d.PacedSize)
	fillD(&c.PacedWarmup, d.PacedWarmup)
	fillD(&c.PacedDuration, d.PacedDuration)
	fill(&c.IdleDeflateConns, d.IdleDeflateConns)
	fill(&c.IdleDeflateCoderConns, d.IdleDeflateCoderConns)
	fill(&c.IdleDeflateSize, d.IdleDeflateSize)
	fill(&c.IdleDeflateFillConns, d.IdleDeflateFillConns)
	fill(&c.IdleDeflateFillMsgs, d.IdleDeflateFillMsgs)
	fill(&c.IdleDeflateRounds, d.IdleDeflateRounds)
	fill(&c.ScaleMax, d.ScaleMax)
	if len(c.ScaleLibs) == 0 {
		c.ScaleLibs = d.ScaleLibs
	}
	fill(&c.ScaleSize, d.ScaleSize)
	fillD(&c.ScaleWarmup, d.ScaleWarmup)
	fillD(&c.ScaleDuration, d.ScaleDuration)
	fill(&c.ScaleRounds, d.ScaleRounds)
}

// libs are the libraries of every part: ours first, then the peers.
var libs = []string{"ours", "gorilla", "coder", "gobwas", "gws"}

// serverLibs are the echoserver libraries of the echo and idle parts: libs,
// our Poller mode, ours-poller, and nbio, an event-driven peer that only
// these parts measure.
var serverLibs = []string{"ours", "ours-poller", "gorilla", "coder", "gobwas", "gws", "nbio"}

// isPeer tells whether lib is one of the peers, which the best peer is
// chosen from; ours and ours-poller are not.
func isPeer(lib string) bool { return slices.Contains(serverPeers, lib) }

// libLabel is how lib is named in tables and charts.
func libLabel(lib string) string {
	if lib == "ours-poller" {
		return "ours (poller)"
	}
	return lib
}

// outputs are the files a report writes.
type outputs struct {
	md      string // the markdown page
	results string // results.json
	charts  string // directory of the SVG charts
}

func main() {
	quick := flag.Bool("quick", false, "one short round instead of the full run")
	rounds := flag.Int("rounds", 0, "rounds (default 3, or 1 with -quick)")
	only := flag.String("only", "", "run only these parts, comma separated: "+strings.Join(partNames, ",")+"; with -from, rerun them and merge into the saved results (h2mux alone)")
	scaleMax := flag.Int("scale-max", 0, "part scale: at most this many connections (default 100000; the open-file limit less headroom bounds it too)")
	out := flag.String("out", "", "markdown file to write (default ../BENCHMARKS.md)")
	resultsOut := flag.String("results", "", "raw results file to write (default results.json)")
	chartsOut := flag.String("charts", "", "directory to write the SVG charts to (default charts)")
	modfile := flag.String("modfile", "", "build the bench module with this go.mod instead of its own")
	rootDir := flag.String("root", "", "directory of the library whose masking benchmark is run (default ..)")
	from := flag.String("from", "", "render the markdown and charts from this results.json instead of running")
	flag.Parse()

	cfg := defaultConfig(*quick)
	if *scaleMax > 0 {
		cfg.ScaleMax = *scaleMax
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}

	benchDir, err := os.Getwd()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(benchDir, "cmd", "report")); err != nil {
		log.Fatal("report: run it from the bench directory (cd bench && go run ./cmd/report)")
	}
	repoDir := filepath.Dir(benchDir)
	if *rootDir == "" {
		*rootDir = repoDir
	}
	if *out == "" {
		*out = filepath.Join(repoDir, "BENCHMARKS.md")
	}
	outs := outputs{md: *out, results: *resultsOut, charts: *chartsOut}
	if outs.results == "" {
		outs.results = filepath.Join(benchDir, "results.json")
	}
	if outs.charts == "" {
		outs.charts = filepath.Join(benchDir, "charts")
	}
	parts := parseParts(*only)
	if *from != "" && *only != "" {
		// The rerun keeps the saved configuration unless -quick or
		// -rounds asks for another.
		var override *Config
		if *quick || *rounds > 0 || *scaleMax > 0 {
			override = &cfg
		}
		if parts["h2mux"] {
			if len(parts) > 1 {
				log.Fatal("report: with -from, rerun h2mux alone (-only h2mux)")
			}
			mergeH2Mux(*from, override, *modfile, benchDir, outs)
			return
		}
		mergeParts(*from, parts, override, *modfile, *rootDir, benchDir, outs)
		return
	}
	if *from != "" {
		raw, err := os.ReadFile(*from)
		if err != nil {
			log.Fatal(err)
		}
		var res Results
		if err := json.Unmarshal(raw, &res); err != nil {
			log.Fatal(err)
		}
		writeReport(&res, benchDir, outs)
		return
	}

	r := &Run{
		Config:   cfg,
		BenchDir: benchDir,
		RootDir:  *rootDir,
		Modfile:  *modfile,
		Results: Results{
			Config:  cfg,
			Machine: describeMachine(),
			Bench:   map[string][]Sample{},
			Echo:    map[string][]EchoSample{},
			Idle:    map[string][]IdleSample{},
			H2Mux:   map[string][]H2MuxSample{},
		},
	}
	r.Results.initNew()
	start := time.Now()
	r.Results.Started = start.UTC().Format(time.RFC3339)
	tmp, err := os.MkdirTemp("", "wsbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	r.Tmp = tmp

	ctx := context.Background()
	if err := r.build(ctx); err != nil {
		log.Fatal(err)
	}
	for round := range cfg.Rounds {
		log.Printf("round %d of %d", round+1, cfg.Rounds)
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
		if parts["h2mux"] {
			r.runH2Mux(ctx, round)
		}
	}
	r.Results.Machine.LoadAfter = loadAverage()
	r.Results.Elapsed = time.Since(start).Round(time.Second).String()

	raw, _ := json.MarshalIndent(r.Results, "", "  ")
	if err := writeOutput(outs.results, append(raw, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	writeReport(&r.Results, benchDir, outs)
	fmt.Printf("took %s\n", time.Since(start).Round(time.Second))
}

// writeReport writes the markdown page and the charts named by outs.
func writeReport(res *Results, benchDir string, outs outputs) {
	// A hand-written analysis (why a target is or is not met, what the
	// profiles show) is kept next to the data and copied in verbatim.
	analysis, _ := os.ReadFile(filepath.Join(benchDir, "analysis.md"))
	md, charts := render(res, string(analysis))
	chartDir := outs.charts
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		log.Fatal(err)
	}
	for name, svg := range charts {
		if err := os.WriteFile(filepath.Join(chartDir, name), []byte(svg), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if err := writeOutput(outs.md, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s, %d charts in %s\n", outs.md, len(charts), chartDir)
}

// partNames are the parts of a report, in the order they run.
var partNames = []string{"inmem", "compress", "echo", "idle", "echo-deflate", "loops", "tail", "paced", "idle-deflate", "scale", "h2mux"}

func parseParts(s string) map[string]bool {
	all := map[string]bool{}
	for _, p := range partNames {
		all[p] = true
	}
	if s == "" {
		return all
	}
	parts := map[string]bool{}
	for _, p := range splitComma(s) {
		if !all[p] {
			log.Fatalf("report: unknown part %q", p)
		}
		parts[p] = true
	}
	return parts
}

// rotated returns list starting at position round, so that no library
// always runs first.
func rotated[T any](list []T, round int) []T {
	out := make([]T, len(list))
	for i := range list {
		out[i] = list[(i+round)%len(list)]
	}
	return out
}

// writeOutput writes one of the report's files, making its directory
// first: -out and -results may name a directory that does not exist yet.
func writeOutput(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, perm)
}
