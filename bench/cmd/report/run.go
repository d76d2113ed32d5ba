package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Results is everything a run measured; results.json holds it verbatim.
type Results struct {
	Config  Config  `json:"config"`
	Machine Machine `json:"machine"`
	Started string  `json:"started"`
	Elapsed string  `json:"elapsed"`
	// Bench holds go test benchmark samples, one per round, by name:
	// "Read/1KiB/ours/whole", "MaskPeers/16KiB/gobwas", "RootMask/...".
	Bench map[string][]Sample `json:"bench"`
	// Echo holds loadgen results by "lib/conns/size".
	Echo map[string][]EchoSample `json:"echo"`
	// Idle holds idle-memory samples by "lib/plain" or "lib/deflate".
	Idle map[string][]IdleSample `json:"idle"`
	// H2Mux holds BenchmarkH2Mux samples by "echo/h1", "idle/h2"...
	// (h2mux.go).
	H2Mux map[string][]H2MuxSample `json:"h2mux,omitempty"`
	// EchoDeflate holds the compressed echo samples by "lib/conns/size"
	// (part echo-deflate); Loops the Poller's echo by its number of event
	// loops, "2" (part loops); Paced the paced samples by lib (part
	// paced); IdleDeflate idle samples with compression in use by
	// "lib/plain", "lib/deflate", "lib/takeover", "lib/takeover-full" or
	// "lib/takeover-full-10"
	// (part idle-deflate); Scale the samples at the largest connection
	// count by "lib/idle" and "lib/echo", and ScaleEnv the limits they
	// ran under (part scale). See parts.go.
	EchoDeflate map[string][]EchoSample  `json:"echo_deflate,omitempty"`
	Loops       map[string][]EchoSample  `json:"loops,omitempty"`
	Tail        map[string][]EchoSample  `json:"tail,omitempty"`
	Paced       map[string][]PacedSample `json:"paced,omitempty"`
	IdleDeflate map[string][]IdleSample  `json:"idle_deflate,omitempty"`
	Scale       map[string][]ScaleSample `json:"scale,omitempty"`
	ScaleEnv    *ScaleEnv                `json:"scale_env,omitempty"`
	Notes       []string                 `json:"notes"`
}

// Sample is one benchmark result line.
type Sample struct {
	Round    int     `json:"round"`
	NsOp     float64 `json:"ns_op"`
	MBs      float64 `json:"mb_s,omitempty"`
	BOp      float64 `json:"b_op"`
	AllocsOp float64 `json:"allocs_op"`
	// Ratio is compressed ÷ uncompressed bytes (compression benchmarks).
	Ratio float64 `json:"ratio,omitempty"`
	// HeapPerConn is heap bytes kept per connection (BenchmarkCompressMemory).
	HeapPerConn float64 `json:"heap_per_conn,omitempty"`
}

// EchoSample is one loadgen echo result.
type EchoSample struct {
	Round      int     `json:"round"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	CPUPerMsg  float64 `json:"cpu_per_msg_us"`
	// SysPerMsg is the part of CPUPerMsg the server spent in the kernel
	// (stime); 0 in results saved before it was measured.
	SysPerMsg float64 `json:"sys_per_msg_us,omitempty"`
	Errors    int     `json:"errors"`
	// Extensions is what the server agreed to; Compressed tells whether
	// the messages went compressed and every first echo came back
	// compressed (the compressed parts).
	Extensions string `json:"extensions,omitempty"`
	Compressed bool   `json:"compressed,omitempty"`
	// SentRatio is the size of the client's compressed message ÷ its
	// size.
	SentRatio float64 `json:"sent_ratio,omitempty"`
}

// IdleSample is the difference in the server's stats made by the idle
// connections, per connection.
type IdleSample struct {
	Round       int     `json:"round"`
	Conns       int     `json:"conns"`
	RSSPerConn  float64 `json:"rss_per_conn"`
	HeapPerConn float64 `json:"heap_per_conn"`
	StackPerCon float64 `json:"stack_per_conn"`
	GoroPerConn float64 `json:"goroutines_per_conn"`
	Extensions  string  `json:"extensions"`
	// Msgs is the messages each connection echoed before going idle, and
	// Compressed whether they went compressed both ways (idle-deflate).
	Msgs       int  `json:"msgs,omitempty"`
	Compressed bool `json:"compressed,omitempty"`
	// RSSBase is the server's VmRSS before the connections (scale).
	RSSBase float64 `json:"rss_base,omitempty"`
}

// Run is the state of one report run.
type Run struct {
	Config   Config
	BenchDir string
	RootDir  string
	Modfile  string
	Tmp      string
	Results  Results

	benchBin, rootBin, rootPuregoBin, serverBin, loadgenBin string
}

func (r *Run) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	log.Print(s)
	r.Results.Notes = append(r.Results.Notes, s)
}

// build compiles the benchmark binaries once, so that every round runs the
// same code.
func (r *Run) build(ctx context.Context) error {
	log.Print("building")
	r.benchBin = filepath.Join(r.Tmp, "bench.test")
	if out, err := r.benchGo(ctx, "test", "-c", "-o", r.benchBin, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("building the bench tests: %v\n%s", err, out)
	}
	r.serverBin = filepath.Join(r.Tmp, "echoserver")
	r.loadgenBin = filepath.Join(r.Tmp, "loadgen")
	if out, err := r.benchGo(ctx, "build", "-o", r.Tmp, "./cmd/echoserver", "./cmd/loadgen").CombinedOutput(); err != nil {
		return fmt.Errorf("building echoserver and loadgen: %v\n%s", err, out)
	}
	// Our masking kernel is measured by the root package's own benchmark.
	r.rootBin = filepath.Join(r.Tmp, "root.test")
	if out, err := goCmd(ctx, r.RootDir, "test", "-c", "-o", r.rootBin, ".").CombinedOutput(); err != nil {
		r.note("our masking benchmark is missing: the root package's tests do not build: %s", firstLine(string(out)))
		r.rootBin = ""
	} else if _, err := os.Stat(r.rootBin); err != nil {
		r.note("our masking benchmark is missing: the root package has no tests")
		r.rootBin = ""
	}
	r.rootPuregoBin = filepath.Join(r.Tmp, "root-purego.test")
	if r.rootBin == "" {
		r.rootPuregoBin = ""
	} else if out, err := goCmd(ctx, r.RootDir, "test", "-tags", "purego", "-c", "-o", r.rootPuregoBin, ".").CombinedOutput(); err != nil {
		r.note("our purego masking benchmark is missing: %s", firstLine(string(out)))
		r.rootPuregoBin = ""
	}
	return nil
}

// benchGo runs the go command on the bench module.
func (r *Run) benchGo(ctx context.Context, args ...string) *exec.Cmd {
	if r.Modfile != "" {
		args = append([]string{args[0], "-modfile", r.Modfile}, args[1:]...)
	}
	return goCmd(ctx, r.BenchDir, args...)
}

func goCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	return cmd
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// runInMemory runs the go test benchmarks of one round.
func (r *Run) runInMemory(ctx context.Context, round int) {
	timeout := 8 * time.Minute
	if r.Config.Quick {
		timeout = 4 * time.Minute
	}
	bench := func(bin, dir, pattern, prefix string) {
		if bin == "" {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin,
			"-test.run", "^$",
			"-test.bench", pattern,
			"-test.benchmem",
			"-test.benchtime", r.Config.BenchTime,
			"-test.timeout", timeout.String())
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "BENCH_ROTATE="+strconv.Itoa(round))
		out, err := cmd.CombinedOutput()
		failures := r.parseBench(string(out), prefix, round)
		if err != nil {
			r.note("round %d: %s %s: %v %s", round+1, filepath.Base(bin), pattern, err, strings.Join(failures, "; "))
		}
	}
	log.Print("  masking")
	// Ours and the peers back to back, ours first in even rounds.
	peers := func() { bench(r.benchBin, r.BenchDir, "^BenchmarkMaskPeers$", "") }
	mine := func() {
		bench(r.rootBin, r.RootDir, "^BenchmarkMask", "Root")
		bench(r.rootPuregoBin, r.RootDir, "^BenchmarkMask", "RootPurego")
	}
	if round%2 == 0 {
		mine()
		peers()
	} else {
		peers()
		mine()
	}
	log.Print("  read, write, accept, dial")
	bench(r.benchBin, r.BenchDir, "^(BenchmarkRead|BenchmarkWrite|BenchmarkAccept|BenchmarkDial)$", "")
}

// parseBench records the benchmark lines of out under their names (without
// the Benchmark prefix and the GOMAXPROCS suffix), prefixed with prefix,
// and returns the names of failed benchmarks.
func (r *Run) parseBench(out, prefix string, round int) (failures []string) {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--- FAIL:") {
			failures = append(failures, strings.TrimSpace(line))
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		s := Sample{Round: round}
		ok := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.NsOp, ok = v, true
			case "MB/s":
				s.MBs = v
			case "B/op":
				s.BOp = v
			case "allocs/op":
				s.AllocsOp = v
			case "ratio":
				s.Ratio = v
			case "heapB/conn":
				s.HeapPerConn = v
			}
		}
		if ok {
			key := prefix + name
			r.Results.Bench[key] = append(r.Results.Bench[key], s)
		}
	}
	return failures
}

// server is a running echoserver.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	addr  string
}

// startServer starts echoserver -lib lib with flags (-compress,
// -takeover, -loops N).
func (r *Run) startServer(ctx context.Context, lib string, flags ...string) (*server, error) {
	return r.startServerOn(ctx, "", lib, flags...)
}

// startServerOn is startServer with the server confined to cpus (a
// taskset list; "" for all), from its start, so that its runtime sizes
// GOMAXPROCS to them.
func (r *Run) startServerOn(ctx context.Context, cpus, lib string, flags ...string) (*server, error) {
	args := append([]string{"-lib", lib}, flags...)
	cmd := exec.CommandContext(ctx, r.serverBin, args...)
	if cpus != "" {
		// taskset execs the server: its pid is the server's.
		cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", cpus, r.serverBin}, args...)...)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := s.readLine(10 * time.Second)
	if err != nil || !strings.HasPrefix(line, "LISTEN ") {
		s.stop()
		return nil, fmt.Errorf("echoserver %s did not start: %q %v", strings.Join(args, " "), line, err)
	}
	s.addr = strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))
	return s, nil
}

func (s *server) readLine(timeout time.Duration) (string, error) {
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := s.out.ReadString('\n')
		ch <- res{l, err}
	}()
	select {
	case x := <-ch:
		return x.line, x.err
	case <-time.After(timeout):
		return "", errors.New("timed out")
	}
}

// ServerStats mirrors echoserver's Stats.
type ServerStats struct {
	RSS        float64 `json:"rss"`
	HeapInuse  float64 `json:"heap_inuse"`
	StackInuse float64 `json:"stack_inuse"`
	Goroutines float64 `json:"goroutines"`
}

func (s *server) stats() (ServerStats, error) {
	var st ServerStats
	if _, err := io.WriteString(s.stdin, "stats\n"); err != nil {
		return st, err
	}
	line, err := s.readLine(60 * time.Second)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal([]byte(line), &st)
	return st, err
}

// stop ends the server: it exits when its stdin closes; a server that
// does not is killed.
func (s *server) stop() {
	s.stdin.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// loadgenResult mirrors loadgen's Result.
type loadgenResult struct {
	Connected         int     `json:"connected"`
	Errors            int     `json:"errors"`
	FirstError        string  `json:"first_error"`
	Extensions        string  `json:"extensions"`
	SentCompressed    bool    `json:"sent_compressed"`
	SentRatio         float64 `json:"sent_ratio"`
	RepliesCompressed int     `json:"replies_compressed"`
	Msgs              int64   `json:"msgs"`
	MsgsPerSec        float64 `json:"msgs_per_sec"`
	P50us             float64 `json:"p50_us"`
	P99us             float64 `json:"p99_us"`
	CPUPerMsg         float64 `json:"cpu_per_msg_us"`
	SysPerMsg         float64 `json:"sys_per_msg_us"`
	Late              int64   `json:"late"`
	ServerRSSBefore   float64 `json:"server_rss_before"`
	ServerRSS         float64 `json:"server_rss"`
	KernelTCPMem      *int64  `json:"kernel_tcp_mem"`
	KernelSlab        *int64  `json:"kernel_slab"`
	SourceIPs         int     `json:"source_ips"`
}

// compressed tells whether every connection sent its messages compressed
// and had its first echo back compressed.
func (l loadgenResult) compressed() bool {
	return l.SentCompressed && l.Connected > 0 && l.RepliesCompressed == l.Connected
}

// runEcho runs one round of the loopback echo cells, each library in turn
// in every cell, a fresh server process each time.
func (r *Run) runEcho(ctx context.Context, round int) {
	for _, conns := range r.Config.EchoConns {
		for _, size := range r.Config.EchoSizes {
			log.Printf("  echo: %d connections, %d B", conns, size)
			for _, lib := range rotated(serverLibs, round) {
				res, err := r.echoOnce(ctx, lib, conns, size)
				key := fmt.Sprintf("%s/%d/%d", lib, conns, size)
				if err != nil {
					r.note("round %d: echo %s: %v", round+1, key, err)
					continue
				}
				if res.Errors > 0 || res.Connected < conns {
					r.note("round %d: echo %s: %d of %d connected, %d errors (%s)", round+1, key, res.Connected, conns, res.Errors, res.FirstError)
				}
				r.Results.Echo[key] = append(r.Results.Echo[key], EchoSample{
					Round:      round,
					MsgsPerSec: res.MsgsPerSec,
					P50us:      res.P50us,
					P99us:      res.P99us,
					CPUPerMsg:  res.CPUPerMsg,
					Errors:     res.Errors,
				})
			}
		}
	}
}

func (r *Run) echoOnce(ctx context.Context, lib string, conns, size int) (loadgenResult, error) {
	return r.loadRun(ctx, lib, nil,
		r.Config.EchoWarmup+r.Config.EchoDuration+2*time.Minute,
		"-mode", "echo",
		"-conns", strconv.Itoa(conns),
		"-size", strconv.Itoa(size),
		"-warmup", r.Config.EchoWarmup.String(),
		"-duration", r.Config.EchoDuration.String())
}

// loadRun starts a fresh echoserver -lib lib with serverFlags, runs
// loadgen with args (its -addr and -serverpid added) within limit, and
// returns its result: for the echo and paced modes, which end by
// themselves.
func (r *Run) loadRun(ctx context.Context, lib string, serverFlags []string, limit time.Duration, args ...string) (loadgenResult, error) {
	return r.loadRunEnv(ctx, lib, serverFlags, nil, limit, args...)
}

// loadRunEnv is loadRun with env added to loadgen's environment.
func (r *Run) loadRunEnv(ctx context.Context, lib string, serverFlags, env []string, limit time.Duration, args ...string) (loadgenResult, error) {
	return r.loadRunPlaced(ctx, lib, serverFlags, placement{env: env}, limit, args...)
}

// placement says where a load run's two processes run: loadgen's added
// environment, and the CPUs (taskset lists, "" for all) of each.
type placement struct {
	env                     []string
	serverCPUs, loadgenCPUs string
}

// pinned is the placement of nbio's author's benchmarks
// (lesismal/go-websocket-benchmark, script/util.sh): the server on the
// first half of the cores less one (at least the first), the load
// generator on the rest, each process on cores of its own.
func pinned(cores int) placement {
	if cores < 2 {
		return placement{} // nothing to share out
	}
	last := max(cores/2-1, 0)
	if cores >= 16 {
		last = 7
	}
	return placement{
		serverCPUs:  cpuRange(0, last),
		loadgenCPUs: cpuRange(last+1, cores-1),
	}
}

// cpuRange is the taskset list of CPUs first to last.
func cpuRange(first, last int) string {
	if first == last {
		return strconv.Itoa(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// loadRunPlaced is loadRun with the processes placed as pl says.
func (r *Run) loadRunPlaced(ctx context.Context, lib string, serverFlags []string, pl placement, limit time.Duration, args ...string) (loadgenResult, error) {
	var res loadgenResult
	s, err := r.startServerOn(ctx, pl.serverCPUs, lib, serverFlags...)
	if err != nil {
		return res, err
	}
	defer s.stop()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	args = append([]string{"-addr", s.addr}, args...)
	args = append(args, "-serverpid", strconv.Itoa(s.cmd.Process.Pid))
	cmd := exec.CommandContext(ctx, r.loadgenBin, args...)
	if pl.loadgenCPUs != "" {
		cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", pl.loadgenCPUs, r.loadgenBin}, args...)...)
	}
	env := pl.env
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("loadgen: %v", err)
	}
	err = json.Unmarshal(out, &res)
	return res, err
}

// runIdle measures one round of idle memory per connection, without and
// with compression offered.
func (r *Run) runIdle(ctx context.Context, round int) {
	for _, compress := range []bool{false, true} {
		mode := "plain"
		if compress {
			mode = "deflate"
		}
		log.Printf("  idle: %d connections, %s", r.Config.IdleConns, mode)
		for _, lib := range rotated(serverLibs, round) {
			key := lib + "/" + mode
			s, err := r.idleOnce(ctx, lib, compress)
			if err != nil {
				r.note("round %d: idle %s: %v", round+1, key, err)
				continue
			}
			s.Round = round
			r.Results.Idle[key] = append(r.Results.Idle[key], s)
		}
	}
}

func (r *Run) idleOnce(ctx context.Context, lib string, compress bool) (IdleSample, error) {
	var flags, args []string
	if compress {
		flags = []string{"-compress"}
		args = []string{"-compress"}
	}
	args = append(args, "-size", "16")
	s, res, err := r.idleRun(ctx, lib, flags, r.Config.IdleConns, args...)
	if err != nil {
		return s, err
	}
	if res.Errors > 0 {
		r.note("idle %s: %d of %d connected (%s)", lib, res.Connected, r.Config.IdleConns, res.FirstError)
	}
	return s, nil
}

// idleRun starts a fresh echoserver -lib lib with serverFlags, opens conns
// connections with loadgen -mode idle and args, and measures what they
// add to the server, per connection, after a GC: IdleSample. The
// connections are closed when it returns.
func (r *Run) idleRun(ctx context.Context, lib string, serverFlags []string, conns int, args ...string) (IdleSample, loadgenResult, error) {
	var out IdleSample
	var res loadgenResult
	s, err := r.startServer(ctx, lib, serverFlags...)
	if err != nil {
		return out, res, err
	}
	defer s.stop()
	before, err := s.stats()
	if err != nil {
		return out, res, fmt.Errorf("stats: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	args = append([]string{"-addr", s.addr, "-mode", "idle", "-conns", strconv.Itoa(conns), "-dialconc", "128"}, args...)
	cmd := exec.CommandContext(ctx, r.loadgenBin, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return out, res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return out, res, err
	}
	if err := cmd.Start(); err != nil {
		return out, res, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return out, res, fmt.Errorf("loadgen: %v", err)
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return out, res, err
	}
	if res.Connected == 0 {
		return out, res, fmt.Errorf("no connection: %s", res.FirstError)
	}
	time.Sleep(r.Config.IdleSettle)
	after, err := s.stats()
	if err != nil {
		return out, res, fmt.Errorf("stats: %v", err)
	}
	n := float64(res.Connected)
	return IdleSample{
		Conns:       res.Connected,
		RSSPerConn:  (after.RSS - before.RSS) / n,
		HeapPerConn: (after.HeapInuse - before.HeapInuse) / n,
		StackPerCon: (after.StackInuse - before.StackInuse) / n,
		GoroPerConn: (after.Goroutines - before.Goroutines) / n,
		Extensions:  res.Extensions,
		RSSBase:     before.RSS,
	}, res, nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
