package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The h2mux part: BenchmarkH2Mux (bench/h2mux_test.go), 100 WebSockets
// multiplexed on one HTTP/2 connection against 100 over HTTP/1.1, one TCP
// connection each, our client and server in one process. Its samples live
// in Results.H2Mux, apart from the other benchmarks, so that rerunning one
// part never drops the other's.

// H2MuxSample is one BenchmarkH2Mux result line.
type H2MuxSample struct {
	Round int     `json:"round"`
	NsOp  float64 `json:"ns_op"`
	// echo rows
	MsgsPerSec float64 `json:"msgs_per_sec,omitempty"`
	P50us      float64 `json:"p50_us,omitempty"`
	P99us      float64 `json:"p99_us,omitempty"`
	BOp        float64 `json:"b_op,omitempty"`
	AllocsOp   float64 `json:"allocs_op,omitempty"`
	// idle rows, per WebSocket, client and server together
	HeapPerWS  float64 `json:"heap_per_ws,omitempty"`
	StackPerWS float64 `json:"stack_per_ws,omitempty"`
	RSSPerWS   float64 `json:"rss_per_ws,omitempty"`
	GoroPerWS  float64 `json:"goroutines_per_ws,omitempty"`
}

// runH2Mux runs one round of BenchmarkH2Mux.
func (r *Run) runH2Mux(ctx context.Context, round int) {
	timeout := 4 * time.Minute
	log.Print("  WebSockets over HTTP/2 against HTTP/1.1")
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.benchBin,
		"-test.run", "^$",
		"-test.bench", "^BenchmarkH2Mux$",
		"-test.benchmem",
		"-test.benchtime", r.Config.BenchTime,
		"-test.timeout", timeout.String())
	cmd.Dir = r.BenchDir
	cmd.Env = append(os.Environ(), "BENCH_ROTATE="+strconv.Itoa(round))
	out, err := cmd.CombinedOutput()
	failures := r.parseH2Mux(string(out), round)
	if err != nil {
		r.note("round %d: HTTP/2 multiplexing benchmarks: %v %s", round+1, err, strings.Join(failures, "; "))
	}
}

// parseH2Mux adds the BenchmarkH2Mux lines of out to the results.
func (r *Run) parseH2Mux(out string, round int) (failures []string) {
	if r.Results.H2Mux == nil {
		r.Results.H2Mux = map[string][]H2MuxSample{}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--- FAIL:") {
			failures = append(failures, strings.TrimSpace(line))
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkH2Mux/") {
			continue
		}
		name := strings.TrimPrefix(f[0], "BenchmarkH2Mux/")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		s := H2MuxSample{Round: round}
		ok := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.NsOp, ok = v, true
			case "msgs/s":
				s.MsgsPerSec = v
			case "p50-us":
				s.P50us = v
			case "p99-us":
				s.P99us = v
			case "B/op":
				s.BOp = v
			case "allocs/op":
				s.AllocsOp = v
			case "heapB/ws":
				s.HeapPerWS = v
			case "stackB/ws":
				s.StackPerWS = v
			case "rssB/ws":
				s.RSSPerWS = v
			case "goroutines/ws":
				s.GoroPerWS = v
			}
		}
		if ok {
			r.Results.H2Mux[name] = append(r.Results.H2Mux[name], s)
		}
	}
	return failures
}

// mergeH2Mux reruns the h2mux part alone with the configuration saved in
// the results file from (or override), replaces its samples there, and
// writes the results and the page again to outs. It builds and runs only
// the bench tests: about a minute a round on 2 cores.
func mergeH2Mux(from string, override *Config, modfile, benchDir string, outs outputs) {
	raw, err := os.ReadFile(from)
	if err != nil {
		log.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(raw, &res); err != nil {
		log.Fatal(err)
	}
	cfg := res.Config
	how := ""
	if override != nil {
		cfg.Rounds, cfg.Quick = override.Rounds, override.Quick
		if override.Quick {
			how = ", short settings of -quick"
		}
	}
	res.H2Mux = map[string][]H2MuxSample{}
	r := &Run{Config: cfg, BenchDir: benchDir, Modfile: modfile, Results: res}
	tmp, err := os.MkdirTemp("", "wsbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	r.benchBin = filepath.Join(tmp, "bench.test")
	if b, err := r.benchGo(ctx, "test", "-c", "-o", r.benchBin, ".").CombinedOutput(); err != nil {
		log.Fatalf("building the bench tests: %v\n%s", err, b)
	}
	start := time.Now()
	loadBefore := loadAverage()
	r.Results.Notes = dropRerunNotes(r.Results.Notes, map[string]bool{"h2mux": true})
	r.note("h2mux rerun on %s (%d round(s)%s) and merged into the results of %s", start.UTC().Format("2006-01-02 15:04 UTC"), cfg.Rounds, how, res.Started)
	rerunNote := len(r.Results.Notes) - 1
	for round := range cfg.Rounds {
		log.Printf("round %d of %d", round+1, cfg.Rounds)
		r.runH2Mux(ctx, round)
	}
	r.Results.Notes[rerunNote] += fmt.Sprintf("; load average (1, 5, 15 min) %s before, %s after", loadBefore, loadAverage())
	buf, _ := json.MarshalIndent(r.Results, "", "  ")
	if err := writeOutput(outs.results, append(buf, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	writeReport(&r.Results, benchDir, outs)
	fmt.Printf("took %s\n", time.Since(start).Round(time.Second))
}

// --- rendering ---

func (v *view) h2muxMedian(name string, f func(H2MuxSample) float64) (float64, bool) {
	var xs []float64
	for _, s := range v.res.H2Mux[name] {
		xs = append(xs, f(s))
	}
	return median(xs)
}

// h2muxRatio is the median over rounds of h2 ÷ h1 within each round, as
// the other ratios of the page are taken.
func (v *view) h2muxRatio(kind string, f func(H2MuxSample) float64) (float64, bool) {
	h1 := map[int]float64{}
	for _, s := range v.res.H2Mux[kind+"/h1"] {
		h1[s.Round] = f(s)
	}
	var xs []float64
	for _, s := range v.res.H2Mux[kind+"/h2"] {
		if d, ok := h1[s.Round]; ok && d != 0 {
			xs = append(xs, f(s)/d)
		}
	}
	return median(xs)
}

func (v *view) h2mux() {
	if len(v.res.H2Mux) == 0 {
		return
	}
	v.p("## 100 WebSockets on one HTTP/2 connection")
	v.p("")
	v.p("Ours against ours: 100 WebSockets multiplexed as streams of one HTTP/2 connection (RFC 8441, h2c with prior knowledge; `DialOptions.HTTP2Only` with one `HTTP2Transport`), against 100 over HTTP/1.1, one TCP connection each. Client and server run in one process (`BenchmarkH2Mux`, bench/h2mux_test.go, on 127.0.0.1), so the two compete for the same two cores and memory is the two sides together. The server is the README's handler: `Accept`, then `ReadAppend` and `Write` on the handler's goroutine. Rerun this part alone with `go run ./cmd/report -from results.json -only h2mux`.")
	v.p("")
	v.p("**Echo**: every WebSocket sends a 1 KiB binary message and waits for the echo, all 100 at once, for the benchmark time; round trips as the client sees them.")
	v.p("")
	v.p("| transport | msgs/s | p50 | p99 | B/op | allocs/op |")
	v.p("|---|---:|---:|---:|---:|---:|")
	for _, proto := range []string{"h1", "h2"} {
		name := "echo/" + proto
		m, ok := v.h2muxMedian(name, func(s H2MuxSample) float64 { return s.MsgsPerSec })
		if !ok {
			v.p("| %s | n/a | n/a | n/a | n/a | n/a |", h2muxLabel(proto))
			continue
		}
		p50, _ := v.h2muxMedian(name, func(s H2MuxSample) float64 { return s.P50us })
		p99, _ := v.h2muxMedian(name, func(s H2MuxSample) float64 { return s.P99us })
		bop, _ := v.h2muxMedian(name, func(s H2MuxSample) float64 { return s.BOp })
		allocs, _ := v.h2muxMedian(name, func(s H2MuxSample) float64 { return s.AllocsOp })
		v.p("| %s | %s | %s | %s | %s | %s |", h2muxLabel(proto), fmtInt(m), fmtUs(p50), fmtUs(p99), fmtBytes(bop), fmtInt(allocs))
	}
	ratios := []string{}
	for _, x := range []struct {
		label string
		f     func(H2MuxSample) float64
	}{
		{"msgs/s", func(s H2MuxSample) float64 { return s.MsgsPerSec }},
		{"p50", func(s H2MuxSample) float64 { return s.P50us }},
		{"p99", func(s H2MuxSample) float64 { return s.P99us }},
		{"B/op", func(s H2MuxSample) float64 { return s.BOp }},
		{"allocs/op", func(s H2MuxSample) float64 { return s.AllocsOp }},
	} {
		if r, ok := v.h2muxRatio("echo", x.f); ok {
			ratios = append(ratios, fmtRatio(r))
		} else {
			ratios = append(ratios, "n/a")
		}
	}
	v.p("| **HTTP/2 ÷ HTTP/1.1** | %s |", strings.Join(ratios, " | "))
	v.p("")
	v.p("**Idle memory**: each iteration opens the 100 WebSockets (each echoes one message) and measures what they keep while idle, per WebSocket, client and server together: the Go heap after a collection, goroutine stacks, resident memory (VmRSS) after returning free memory to the OS, and goroutines. The heap counts memory allocated and not yet touched, which RSS does not.")
	v.p("")
	v.p("| transport | heap per WS | stack per WS | RSS per WS | goroutines per WS | time to open 100 |")
	v.p("|---|---:|---:|---:|---:|---:|")
	fields := []func(H2MuxSample) float64{
		func(s H2MuxSample) float64 { return s.HeapPerWS },
		func(s H2MuxSample) float64 { return s.StackPerWS },
		func(s H2MuxSample) float64 { return s.RSSPerWS },
		func(s H2MuxSample) float64 { return s.GoroPerWS },
		func(s H2MuxSample) float64 { return s.NsOp },
	}
	for _, proto := range []string{"h1", "h2"} {
		name := "idle/" + proto
		if _, ok := v.h2muxMedian(name, fields[0]); !ok {
			v.p("| %s | n/a | n/a | n/a | n/a | n/a |", h2muxLabel(proto))
			continue
		}
		var x [5]float64
		for i, f := range fields {
			x[i], _ = v.h2muxMedian(name, f)
		}
		v.p("| %s | %s | %s | %s | %.2f | %s |", h2muxLabel(proto), fmtBytes(x[0]), fmtBytes(x[1]), fmtBytes(x[2]), x[3], fmtNs(x[4]))
	}
	ratios = ratios[:0]
	for _, f := range fields {
		if r, ok := v.h2muxRatio("idle", f); ok {
			ratios = append(ratios, fmtRatio(r))
		} else {
			ratios = append(ratios, "n/a")
		}
	}
	v.p("| **HTTP/2 ÷ HTTP/1.1** | %s |", strings.Join(ratios, " | "))
	v.p("")
}

func h2muxLabel(proto string) string {
	if proto == "h2" {
		return "HTTP/2, 1 connection"
	}
	return "HTTP/1.1, 100 connections"
}
