// Command report runs every benchmark of the bench module — in-memory
// message read and write, masking, upgrade and dial cost, loopback TCP
// echo and idle memory per connection — for our library and its peers,
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
//	go run ./cmd/report          # full run: 3 rounds, about 13 minutes on 2 cores
//	go run ./cmd/report -quick   # one short round, about 3 minutes
//	go run ./cmd/report -from results.json   # redo the page from saved results
//	go run ./cmd/report -from results.json -only compress   # rerun one part, merge
//	go run ./cmd/report -from results.json -only h2mux      # HTTP/2 multiplexing alone, about a minute a round
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
	only := flag.String("only", "", "run only these parts, comma separated: inmem,compress,echo,idle,h2mux; with -from, rerun them and merge into the saved results (h2mux alone)")
	out := flag.String("out", "", "markdown file to write (default ../BENCHMARKS.md)")
	resultsOut := flag.String("results", "", "raw results file to write (default results.json)")
	chartsOut := flag.String("charts", "", "directory to write the SVG charts to (default charts)")
	modfile := flag.String("modfile", "", "build the bench module with this go.mod instead of its own")
	rootDir := flag.String("root", "", "directory of the library whose masking benchmark is run (default ..)")
	from := flag.String("from", "", "render the markdown and charts from this results.json instead of running")
	flag.Parse()

	cfg := Config{
		Rounds:       3,
		BenchTime:    "200ms",
		EchoWarmup:   400 * time.Millisecond,
		EchoDuration: 1500 * time.Millisecond,
		EchoConns:    []int{1, 64, 1000},
		EchoSizes:    []int{16, 1 << 10, 64 << 10},
		IdleConns:    10000,
		IdleSettle:   time.Second,
	}
	if *quick {
		cfg.Quick = true
		cfg.Rounds = 1
		cfg.BenchTime = "30ms"
		cfg.EchoWarmup = 200 * time.Millisecond
		cfg.EchoDuration = 600 * time.Millisecond
		cfg.IdleSettle = 500 * time.Millisecond
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
		if *quick || *rounds > 0 {
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
		if parts["h2mux"] {
			r.runH2Mux(ctx, round)
		}
	}
	r.Results.Machine.LoadAfter = loadAverage()
	r.Results.Elapsed = time.Since(start).Round(time.Second).String()

	raw, _ := json.MarshalIndent(r.Results, "", "  ")
	if err := os.WriteFile(outs.results, append(raw, '\n'), 0o644); err != nil {
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
	if err := os.WriteFile(outs.md, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s, %d charts in %s\n", outs.md, len(charts), chartDir)
}

func parseParts(s string) map[string]bool {
	all := map[string]bool{"inmem": true, "compress": true, "echo": true, "idle": true, "h2mux": true}
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
func rotated(list []string, round int) []string {
	out := make([]string, len(list))
	for i := range list {
		out[i] = list[(i+round)%len(list)]
	}
	return out
}
