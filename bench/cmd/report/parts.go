package main

import (
	"context"
	"fmt"
	"log"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The parts added to the echo and idle ones, each run with echoserver and
// loadgen and kept in a map of its own in Results, so that one can be
// rerun without the others:
//
//   - echo-deflate: the echo of compressed JSON messages, permessage-deflate
//     negotiated and used both ways;
//   - loops: the Poller's echo at 1,000 connections with 1, 2 and 4 event
//     loops, against its default;
//   - tail: the echo at 64 connections with the load generator on all
//     cores and on one thread, for where the p99 comes from;
//   - paced: 1,000 connections each echoing one compressed message a
//     second, the server's CPU per message and memory while busy;
//   - idle-deflate: memory per idle connection once compressed messages
//     went both ways, without and with context takeover;
//   - scale: idle and echo at as many connections as the open-file limit
//     allows, and the memory 1,000,000 would take (scale.go).

// deflateLibs are the echoserver libraries measured with compression in
// use: those whose echo inflates what it reads and compresses what it
// writes. gobwas' echo server does neither (wsflate is a toolkit the
// application drives frame by frame; its echo sends a compressed frame
// back as it came).
var deflateLibs = []string{"ours", "ours-poller", "gorilla", "coder", "gws", "nbio"}

// takeoverLibs are those whose server negotiates context takeover
// (echoserver -takeover): gorilla and nbio have none.
var takeoverLibs = []string{"ours", "ours-poller", "coder", "gws"}

// initNew makes the maps of the added parts.
func (res *Results) initNew() {
	if res.EchoDeflate == nil {
		res.EchoDeflate = map[string][]EchoSample{}
	}
	if res.Loops == nil {
		res.Loops = map[string][]EchoSample{}
	}
	if res.Tail == nil {
		res.Tail = map[string][]EchoSample{}
	}
	if res.Paced == nil {
		res.Paced = map[string][]PacedSample{}
	}
	if res.IdleDeflate == nil {
		res.IdleDeflate = map[string][]IdleSample{}
	}
	if res.Scale == nil {
		res.Scale = map[string][]ScaleSample{}
	}
}

// resetNew drops the samples of the added parts about to be rerun.
func (res *Results) resetNew(parts map[string]bool) {
	if parts["echo-deflate"] {
		res.EchoDeflate = map[string][]EchoSample{}
	}
	if parts["loops"] {
		res.Loops = map[string][]EchoSample{}
	}
	if parts["tail"] {
		res.Tail = map[string][]EchoSample{}
	}
	if parts["paced"] {
		res.Paced = map[string][]PacedSample{}
	}
	if parts["idle-deflate"] {
		res.IdleDeflate = map[string][]IdleSample{}
	}
	if parts["scale"] {
		res.Scale = map[string][]ScaleSample{}
		res.ScaleEnv = nil
	}
}

// needsServers tells whether parts include an added part, all of which
// run echoserver and loadgen.
func needsServers(parts map[string]bool) bool {
	for _, p := range []string{"echo-deflate", "loops", "tail", "paced", "idle-deflate", "scale"} {
		if parts[p] {
			return true
		}
	}
	return false
}

// keepCounts takes the sizes and counts of the added parts from saved, so
// that a rerun with other timing lines up with the saved tables.
func (c *Config) keepCounts(saved Config) {
	c.DeflateEchoConns, c.DeflateEchoSizes = saved.DeflateEchoConns, saved.DeflateEchoSizes
	c.Loops, c.LoopsPeers, c.LoopsConns, c.LoopsSize = saved.Loops, saved.LoopsPeers, saved.LoopsConns, saved.LoopsSize
	c.TailConns, c.TailSizes, c.TailProcs = saved.TailConns, saved.TailSizes, saved.TailProcs
	c.PacedConns, c.PacedRate, c.PacedSize = saved.PacedConns, saved.PacedRate, saved.PacedSize
	c.IdleDeflateConns, c.IdleDeflateCoderConns, c.IdleDeflateSize = saved.IdleDeflateConns, saved.IdleDeflateCoderConns, saved.IdleDeflateSize
	c.IdleDeflateFillConns, c.IdleDeflateFillMsgs, c.IdleDeflateRounds = saved.IdleDeflateFillConns, saved.IdleDeflateFillMsgs, saved.IdleDeflateRounds
	c.ScaleLibs, c.ScaleSize, c.ScaleRounds = saved.ScaleLibs, saved.ScaleSize, saved.ScaleRounds
}

// runNewParts runs one round of the added parts among parts.
func (r *Run) runNewParts(ctx context.Context, round int, parts map[string]bool) {
	if parts["echo-deflate"] {
		r.runEchoDeflate(ctx, round)
	}
	if parts["loops"] {
		r.runLoops(ctx, round)
	}
	if parts["tail"] {
		r.runTail(ctx, round)
	}
	if parts["paced"] {
		r.runPaced(ctx, round)
	}
	if parts["idle-deflate"] && round < r.Config.IdleDeflateRounds {
		r.runIdleDeflate(ctx, round)
	}
	if parts["scale"] && round < r.Config.ScaleRounds {
		r.runScale(ctx, round)
	}
}

// checkLoad notes what went wrong in a loadgen run: connections missing,
// errors, and, when compressed is set, messages that did not go
// compressed both ways.
func (r *Run) checkLoad(round int, what string, res loadgenResult, conns int, compressed bool) {
	if res.Errors > 0 || res.Connected < conns {
		r.note("round %d: %s: %d of %d connected, %d errors (%s)", round+1, what, res.Connected, conns, res.Errors, res.FirstError)
	}
	if compressed && !res.compressed() {
		r.note("round %d: %s: messages not compressed both ways (sent compressed: %v; %d of %d first echoes compressed; extensions %q)",
			round+1, what, res.SentCompressed, res.RepliesCompressed, res.Connected, res.Extensions)
	}
}

// deflateLoadArgs are loadgen's flags for compressed JSON messages.
var deflateLoadArgs = []string{"-payload", "json", "-compress", "-compressed"}

// runEchoDeflate runs one round of the compressed echo cells.
func (r *Run) runEchoDeflate(ctx context.Context, round int) {
	c := r.Config
	for _, conns := range c.DeflateEchoConns {
		for _, size := range c.DeflateEchoSizes {
			log.Printf("  compressed echo: %d connections, %d B", conns, size)
			for _, lib := range rotated(deflateLibs, round) {
				key := fmt.Sprintf("%s/%d/%d", lib, conns, size)
				args := append([]string{
					"-mode", "echo",
					"-conns", strconv.Itoa(conns),
					"-size", strconv.Itoa(size),
					"-warmup", c.EchoWarmup.String(),
					"-duration", c.EchoDuration.String(),
				}, deflateLoadArgs...)
				res, err := r.loadRun(ctx, lib, []string{"-compress"}, c.EchoWarmup+c.EchoDuration+2*time.Minute, args...)
				if err != nil {
					r.note("round %d: compressed echo %s: %v", round+1, key, err)
					continue
				}
				r.checkLoad(round, "compressed echo "+key, res, conns, true)
				r.Results.EchoDeflate[key] = append(r.Results.EchoDeflate[key], echoSample(round, res))
			}
		}
	}
}

func echoSample(round int, res loadgenResult) EchoSample {
	return EchoSample{
		Round:      round,
		MsgsPerSec: res.MsgsPerSec,
		P50us:      res.P50us,
		P99us:      res.P99us,
		CPUPerMsg:  res.CPUPerMsg,
		SysPerMsg:  res.SysPerMsg,
		Errors:     res.Errors,
		Extensions: res.Extensions,
		Compressed: res.compressed(),
		SentRatio:  res.SentRatio,
	}
}

// runLoops runs one round of the Poller's echo with each loop count, and
// of the reference peers' in the same cell. Results.Loops holds the
// Poller's by loop count ("2") and the peers' by name.
func (r *Run) runLoops(ctx context.Context, round int) {
	c := r.Config
	log.Printf("  poller loops: %d connections, %d B, loops %v, peers %v", c.LoopsConns, c.LoopsSize, c.Loops, c.LoopsPeers)
	type cell struct{ key, lib, what string }
	var cells []cell
	for _, n := range c.Loops {
		key := strconv.Itoa(n)
		cells = append(cells, cell{key, "ours-poller", fmt.Sprintf("poller with %d loops", n)})
	}
	for _, p := range c.LoopsPeers {
		cells = append(cells, cell{p, p, "loops part, " + p})
	}
	for _, x := range rotated(cells, round) {
		var flags []string
		if x.lib == "ours-poller" {
			flags = []string{"-loops", x.key}
		}
		res, err := r.loadRun(ctx, x.lib, flags, c.EchoWarmup+c.EchoDuration+2*time.Minute,
			"-mode", "echo",
			"-conns", strconv.Itoa(c.LoopsConns),
			"-size", strconv.Itoa(c.LoopsSize),
			"-warmup", c.EchoWarmup.String(),
			"-duration", c.EchoDuration.String())
		if err != nil {
			r.note("round %d: %s: %v", round+1, x.what, err)
			continue
		}
		r.checkLoad(round, x.what, res, c.LoopsConns, false)
		r.Results.Loops[x.key] = append(r.Results.Loops[x.key], echoSample(round, res))
	}
}

// tailKey is the key of a tail sample: lib, message size, and loadgen's
// GOMAXPROCS (0: all cores; tailPinned: the two processes pinned).
func tailKey(lib string, size, procs int) string {
	return fmt.Sprintf("%s/%d/%d", lib, size, procs)
}

// tailPinned, among TailProcs, runs the server and the load generator
// pinned to cores of their own (pinned).
const tailPinned = -1

// runTail runs one round of the tail part: every server echoing at
// TailConns connections, the load generator on each thread count.
func (r *Run) runTail(ctx context.Context, round int) {
	c := r.Config
	for _, size := range c.TailSizes {
		for _, procs := range c.TailProcs {
			log.Printf("  tail: %d connections, %d B, loadgen GOMAXPROCS %d (0: all cores, %d: pinned)", c.TailConns, size, procs, tailPinned)
			var pl placement
			switch {
			case procs == tailPinned:
				pl = pinned(runtime.NumCPU())
			case procs > 0:
				pl.env = []string{"GOMAXPROCS=" + strconv.Itoa(procs)}
			}
			for _, lib := range rotated(serverLibs, round) {
				key := tailKey(lib, size, procs)
				res, err := r.loadRunPlaced(ctx, lib, nil, pl, c.EchoWarmup+c.EchoDuration+2*time.Minute,
					"-mode", "echo",
					"-conns", strconv.Itoa(c.TailConns),
					"-size", strconv.Itoa(size),
					"-warmup", c.EchoWarmup.String(),
					"-duration", c.EchoDuration.String())
				if err != nil {
					r.note("round %d: tail %s: %v", round+1, key, err)
					continue
				}
				r.checkLoad(round, "tail "+key, res, c.TailConns, false)
				r.Results.Tail[key] = append(r.Results.Tail[key], echoSample(round, res))
			}
		}
	}
}

// PacedSample is one paced run: PacedConns connections, each echoing
// PacedRate compressed messages a second.
type PacedSample struct {
	Round      int     `json:"round"`
	Conns      int     `json:"conns"` // connected
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	CPUPerMsg  float64 `json:"cpu_per_msg_us"`
	// RSSPerConn is the growth of the server's VmRSS from before the
	// connections to its mean over the measurement, per connection, with
	// no forced GC: what a busy server holds.
	RSSPerConn float64 `json:"rss_per_conn"`
	Late       int64   `json:"late"`
	Errors     int     `json:"errors"`
	Extensions string  `json:"extensions"`
	Compressed bool    `json:"compressed"`
}

// runPaced runs one round of the paced compressed echo.
func (r *Run) runPaced(ctx context.Context, round int) {
	c := r.Config
	for _, takeover := range []bool{false, true} {
		log.Printf("  paced compressed echo: %d connections, %g message(s) a second each, %d B, context takeover %v", c.PacedConns, c.PacedRate, c.PacedSize, takeover)
		libs, flag, suffix := deflateLibs, "-compress", ""
		if takeover {
			libs, flag, suffix = takeoverLibs, "-takeover", "/takeover"
		}
		for _, lib := range rotated(libs, round) {
			r.pacedRun(ctx, round, lib, flag, lib+suffix)
		}
	}
}

// pacedRun measures one round of lib's server started with flag, recorded
// under key.
func (r *Run) pacedRun(ctx context.Context, round int, lib, flag, key string) {
	c := r.Config
	args := append([]string{
		"-mode", "paced",
		"-rate", strconv.FormatFloat(c.PacedRate, 'g', -1, 64),
		"-conns", strconv.Itoa(c.PacedConns),
		"-size", strconv.Itoa(c.PacedSize),
		"-warmup", c.PacedWarmup.String(),
		"-duration", c.PacedDuration.String(),
		"-memsample", "250ms",
		"-dialconc", "128",
	}, deflateLoadArgs...)
	res, err := r.loadRun(ctx, lib, []string{flag}, c.PacedWarmup+c.PacedDuration+3*time.Minute, args...)
	if err != nil {
		r.note("round %d: paced %s: %v", round+1, key, err)
		return
	}
	r.checkLoad(round, "paced "+key, res, c.PacedConns, true)
	s := PacedSample{
		Round:      round,
		Conns:      res.Connected,
		MsgsPerSec: res.MsgsPerSec,
		P50us:      res.P50us,
		P99us:      res.P99us,
		CPUPerMsg:  res.CPUPerMsg,
		Late:       res.Late,
		Errors:     res.Errors,
		Extensions: res.Extensions,
		Compressed: res.compressed(),
	}
	if res.Connected > 0 && res.ServerRSS > 0 {
		s.RSSPerConn = (res.ServerRSS - res.ServerRSSBefore) / float64(res.Connected)
	}
	r.Results.Paced[key] = append(r.Results.Paced[key], s)
}

// idleDeflateModes are the rows of the idle-deflate part, in order.
// takeover-full-10 is takeover-full with 10-bit windows both ways, which
// only our servers are told to ask for (echoserver -windowbits).
var idleDeflateModes = []string{"plain", "deflate", "takeover", "takeover-full", "takeover-full-10"}

// idleDeflateLibs returns the libraries measured in mode.
func idleDeflateLibs(mode string) []string {
	switch mode {
	case "plain":
		return serverLibs
	case "deflate":
		return deflateLibs
	case "takeover-full-10":
		return []string{"ours", "ours-poller"}
	}
	return takeoverLibs
}

// windowFull reports whether mode fills the windows.
func windowFull(mode string) bool { return strings.HasPrefix(mode, "takeover-full") }

// idleDeflateRun returns the server's and loadgen's flags and the
// connection count of lib in mode.
func (c Config) idleDeflateRun(lib, mode string) (serverFlags, loadArgs []string, conns int) {
	conns = c.IdleDeflateConns
	loadArgs = []string{"-size", strconv.Itoa(c.IdleDeflateSize), "-payload", "json"}
	switch mode {
	case "deflate":
		serverFlags = []string{"-compress"}
		loadArgs = append(loadArgs, "-compress", "-compressed")
	case "takeover", "takeover-full", "takeover-full-10":
		serverFlags = []string{"-takeover"}
		if mode == "takeover-full-10" {
			serverFlags = append(serverFlags, "-windowbits", "10")
		}
		loadArgs = append(loadArgs, "-compress", "-compressed")
		if lib == "coder" {
			conns = min(conns, c.IdleDeflateCoderConns)
		}
	}
	if windowFull(mode) {
		conns = min(conns, c.IdleDeflateFillConns)
		loadArgs = append(loadArgs, "-msgs", strconv.Itoa(c.IdleDeflateFillMsgs))
	}
	return serverFlags, loadArgs, conns
}

// runIdleDeflate measures one round of memory per idle connection with
// compression in use.
func (r *Run) runIdleDeflate(ctx context.Context, round int) {
	for _, mode := range idleDeflateModes {
		log.Printf("  idle with compression in use: %s", mode)
		for _, lib := range rotated(idleDeflateLibs(mode), round) {
			key := lib + "/" + mode
			flags, args, conns := r.Config.idleDeflateRun(lib, mode)
			s, res, err := r.idleRun(ctx, lib, flags, conns, args...)
			if err != nil {
				r.note("round %d: idle-deflate %s: %v", round+1, key, err)
				continue
			}
			r.checkLoad(round, "idle-deflate "+key, res, conns, mode != "plain")
			s.Round = round
			s.Msgs = 1
			if windowFull(mode) {
				s.Msgs = r.Config.IdleDeflateFillMsgs
			}
			s.Compressed = res.compressed()
			r.Results.IdleDeflate[key] = append(r.Results.IdleDeflate[key], s)
		}
	}
}
