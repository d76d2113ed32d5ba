package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The scale part: idle and echo at as many connections as the open-file
// limit allows, and what 1,000,000 connections per process would take.

// ScaleEnv is what bounds the part on this machine, read when it runs.
type ScaleEnv struct {
	NoFileSoft uint64  `json:"nofile_soft"` // RLIMIT_NOFILE of the report, as started
	NoFileHard uint64  `json:"nofile_hard"`
	Headroom   int     `json:"headroom"` // descriptors left for everything but connections
	Conns      int     `json:"conns"`    // the connections asked for
	Max        int     `json:"max"`      // the -scale-max cap in force
	NrOpen     int64   `json:"nr_open"`  // fs.nr_open: the highest RLIMIT_NOFILE
	FileMax    int64   `json:"file_max"` // fs.file-max: open files, machine wide
	PortLow    int     `json:"port_low"` // net.ipv4.ip_local_port_range
	PortHigh   int     `json:"port_high"`
	TCPMem     []int64 `json:"tcp_mem"` // net.ipv4.tcp_mem, pages: low, pressure, high
	PageSize   int     `json:"page_size"`
	MemTotal   int64   `json:"mem_total"` // bytes
	// SlabReadable tells whether /proc/slabinfo could be read (root
	// only), so whether socket objects were measured.
	SlabReadable bool `json:"slab_readable"`
}

// ScaleSample is one run of the scale part, idle or echo.
type ScaleSample struct {
	Round     int `json:"round"`
	Conns     int `json:"conns"` // connected
	Errors    int `json:"errors"`
	SourceIPs int `json:"source_ips,omitempty"`
	// RSSBase is the server's VmRSS before the connections; RSSPerConn
	// the growth per connection: after a GC for idle, the mean over the
	// measurement with no forced GC for echo. HeapPerConn: idle only.
	RSSBase     float64 `json:"rss_base"`
	RSSPerConn  float64 `json:"rss_per_conn"`
	HeapPerConn float64 `json:"heap_per_conn,omitempty"`
	// KernelTCPMem and KernelSlab are the machine-wide growth of the TCP
	// buffer pages and of the socket slab caches, per connection, both
	// ends together; absent when unreadable.
	KernelTCPMem *float64 `json:"kernel_tcp_mem_per_conn,omitempty"`
	KernelSlab   *float64 `json:"kernel_slab_per_conn,omitempty"`
	// echo only
	MsgsPerSec float64 `json:"msgs_per_sec,omitempty"`
	P50us      float64 `json:"p50_us,omitempty"`
	P99us      float64 `json:"p99_us,omitempty"`
	CPUPerMsg  float64 `json:"cpu_per_msg_us,omitempty"`
}

// scaleHeadroom is the descriptors left out of the open-file limit for
// what is not a connection (listener, epoll instances, pipes, the
// runtime's own), and against a limit met mid-handshake.
func scaleHeadroom(hard uint64) int {
	return max(256, int(hard/20))
}

// scaleConns returns the connections the part runs at: as many as the
// hard limit on open files allows less headroom, at most max.
func scaleConns(hard uint64, maxConns int) int {
	n := int(min(hard, math.MaxInt32)) - scaleHeadroom(hard)
	return max(0, min(n, maxConns))
}

func readScaleEnv(maxConns int) *ScaleEnv {
	e := &ScaleEnv{PageSize: os.Getpagesize(), Max: maxConns}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		e.NoFileSoft, e.NoFileHard = rl.Cur, rl.Max
	}
	e.Headroom = scaleHeadroom(e.NoFileHard)
	e.Conns = scaleConns(e.NoFileHard, maxConns)
	e.NrOpen = readInt("/proc/sys/fs/nr_open")
	e.FileMax = readInt("/proc/sys/fs/file-max")
	if f := readFields("/proc/sys/net/ipv4/ip_local_port_range"); len(f) == 2 {
		e.PortLow, _ = strconv.Atoi(f[0])
		e.PortHigh, _ = strconv.Atoi(f[1])
	}
	for _, x := range readFields("/proc/sys/net/ipv4/tcp_mem") {
		v, _ := strconv.ParseInt(x, 10, 64)
		e.TCPMem = append(e.TCPMem, v)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					e.MemTotal = kb << 10
				}
			}
		}
	}
	_, err := os.ReadFile("/proc/slabinfo")
	e.SlabReadable = err == nil
	return e
}

func readFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func readInt(path string) int64 {
	f := readFields(path)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseInt(f[0], 10, 64)
	return v
}

func perConn(x *int64, conns int) *float64 {
	if x == nil || conns == 0 {
		return nil
	}
	v := float64(*x) / float64(conns)
	return &v
}

// runScale runs the scale part once: each of ScaleLibs idle, then echoing,
// at the connection count the open-file limit allows.
func (r *Run) runScale(ctx context.Context, round int) {
	c := r.Config
	env := readScaleEnv(c.ScaleMax)
	r.Results.ScaleEnv = env
	n := env.Conns
	if n < 1000 {
		r.note("scale: skipped: the open-file limit (hard %d) leaves %d connections", env.NoFileHard, n)
		return
	}
	for _, lib := range rotated(c.ScaleLibs, round) {
		log.Printf("  scale: %s, %d connections idle", lib, n)
		s, res, err := r.idleRun(ctx, lib, nil, n, "-size", strconv.Itoa(c.ScaleSize))
		if err != nil {
			r.note("round %d: scale %s idle: %v", round+1, lib, err)
		} else {
			r.checkLoad(round, "scale "+lib+" idle", res, n, false)
			key := lib + "/idle"
			r.Results.Scale[key] = append(r.Results.Scale[key], ScaleSample{
				Round:        round,
				Conns:        res.Connected,
				Errors:       res.Errors,
				SourceIPs:    res.SourceIPs,
				RSSBase:      s.RSSBase,
				RSSPerConn:   s.RSSPerConn,
				HeapPerConn:  s.HeapPerConn,
				KernelTCPMem: perConn(res.KernelTCPMem, res.Connected),
				KernelSlab:   perConn(res.KernelSlab, res.Connected),
			})
		}

		log.Printf("  scale: %s, %d connections echoing", lib, n)
		er, err := r.loadRun(ctx, lib, nil, c.ScaleWarmup+c.ScaleDuration+5*time.Minute,
			"-mode", "echo",
			"-conns", strconv.Itoa(n),
			"-size", strconv.Itoa(c.ScaleSize),
			"-warmup", c.ScaleWarmup.String(),
			"-duration", c.ScaleDuration.String(),
			"-memsample", "250ms",
			"-dialconc", "128")
		if err != nil {
			r.note("round %d: scale %s echo: %v", round+1, lib, err)
			continue
		}
		r.checkLoad(round, "scale "+lib+" echo", er, n, false)
		s2 := ScaleSample{
			Round:        round,
			Conns:        er.Connected,
			Errors:       er.Errors,
			SourceIPs:    er.SourceIPs,
			RSSBase:      er.ServerRSSBefore,
			MsgsPerSec:   er.MsgsPerSec,
			P50us:        er.P50us,
			P99us:        er.P99us,
			CPUPerMsg:    er.CPUPerMsg,
			KernelTCPMem: perConn(er.KernelTCPMem, er.Connected),
			KernelSlab:   perConn(er.KernelSlab, er.Connected),
		}
		if er.Connected > 0 && er.ServerRSS > 0 {
			s2.RSSPerConn = (er.ServerRSS - er.ServerRSSBefore) / float64(er.Connected)
		}
		key := lib + "/echo"
		r.Results.Scale[key] = append(r.Results.Scale[key], s2)
	}
}

// --- rendering ---

// projected is the connection count the projection is made for.
const projected = 1_000_000

func (v *view) scaleMedian(key string, f func(ScaleSample) (float64, bool)) (float64, bool) {
	var xs []float64
	for _, s := range v.res.Scale[key] {
		if x, ok := f(s); ok {
			xs = append(xs, x)
		}
	}
	return median(xs)
}

func scaleField(f func(ScaleSample) float64) func(ScaleSample) (float64, bool) {
	return func(s ScaleSample) (float64, bool) { return f(s), true }
}

func scaleOpt(f func(ScaleSample) *float64) func(ScaleSample) (float64, bool) {
	return func(s ScaleSample) (float64, bool) {
		if p := f(s); p != nil {
			return *p, true
		}
		return 0, false
	}
}

// scaleKernel returns the kernel memory of one end of a connection in
// the runs of key: half the machine-wide growth of the socket slab caches
// and of the TCP buffer pages, both ends of each loopback connection
// being on this machine.
func (v *view) scaleKernel(key string) (slab, tcp float64, ok bool) {
	slab, ok1 := v.scaleMedian(key, scaleOpt(func(s ScaleSample) *float64 { return s.KernelSlab }))
	tcp, ok2 := v.scaleMedian(key, scaleOpt(func(s ScaleSample) *float64 { return s.KernelTCPMem }))
	return max(slab, 0) / 2, max(tcp, 0) / 2, ok1 || ok2
}

func (v *view) scale() {
	if len(v.res.Scale) == 0 {
		return
	}
	c := v.res.Config
	env := v.res.ScaleEnv
	if env == nil {
		env = &ScaleEnv{}
	}
	var libs []string
	for _, lib := range c.ScaleLibs {
		if len(v.res.Scale[lib+"/idle"])+len(v.res.Scale[lib+"/echo"]) > 0 {
			libs = append(libs, lib)
		}
	}
	v.p("## Scale, and a projection to %s connections", fmtInt(projected))
	v.p("")
	v.p("Both processes raise their soft limit on open files to the hard limit (`ulimit -Hn`: %s here; soft %s), and the part runs at as many connections as that allows, less %s descriptors of headroom, and at most `-scale-max` (%s): %s connections per process. Idle: each connection echoed one %s binary message, then the server's growth in resident memory is measured after a GC, as in the idle part. Echo: %s of warm-up, then %s of the closed-loop echo of %s binary messages at that count, the server's resident memory sampled every 250 ms with no forced GC (busy, GOGC headroom included). Kernel memory is not in any process's RSS: per connection, half the machine-wide growth (both ends of each loopback connection are on this machine) of the socket slab caches (`TCP`, `sock_inode_cache`, `filp`, `dentry`, `eventpoll_epi`, `eventpoll_pwq` in /proc/slabinfo: the socket, its inode, file and dentry, its epoll entries) and of the TCP buffer pages (`mem` of /proc/net/sockstat). The part runs in the first %d round(s) of a report; rerun it with `go run ./cmd/report -from results.json -only scale` (about a minute at 19,000 connections on 2 cores), and raise the hard limit first (`ulimit -Hn`, as root) to go further.",
		fmtInt(float64(env.NoFileHard)), fmtInt(float64(env.NoFileSoft)), fmtInt(float64(env.Headroom)), fmtInt(float64(env.Max)), fmtInt(float64(env.Conns)),
		sizeLabel(c.ScaleSize), c.ScaleWarmup, c.ScaleDuration, sizeLabel(c.ScaleSize), max(c.ScaleRounds, 1))
	v.p("")
	v.p("| library | connections | idle: RSS per conn | idle: heap per conn | echo: msgs/s | echo: p99 | echo: server CPU per msg | echo: RSS per conn | kernel per conn: socket objects | kernel per conn: TCP buffers, idle | kernel per conn: TCP buffers, echo |")
	v.p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	num := func(key string, f func(ScaleSample) float64, format func(float64) string) string {
		if x, ok := v.scaleMedian(key, scaleField(f)); ok {
			return format(x)
		}
		return "n/a"
	}
	for _, lib := range libs {
		idle, echo := lib+"/idle", lib+"/echo"
		conns := num(idle, func(s ScaleSample) float64 { return float64(s.Conns) }, fmtInt)
		if conns == "n/a" {
			conns = num(echo, func(s ScaleSample) float64 { return float64(s.Conns) }, fmtInt)
		}
		slab, tcpIdle, okIdle := v.scaleKernel(idle)
		_, tcpEcho, okEcho := v.scaleKernel(echo)
		kernel := func(x float64, ok bool) string {
			if !ok {
				return "n/a"
			}
			return fmtBytes(x)
		}
		v.p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", libLabel(lib), conns,
			num(idle, func(s ScaleSample) float64 { return s.RSSPerConn }, fmtBytes),
			num(idle, func(s ScaleSample) float64 { return s.HeapPerConn }, fmtBytes),
			num(echo, func(s ScaleSample) float64 { return s.MsgsPerSec }, fmtInt),
			num(echo, func(s ScaleSample) float64 { return s.P99us }, fmtUs),
			num(echo, func(s ScaleSample) float64 { return s.CPUPerMsg }, fmtUs),
			num(echo, func(s ScaleSample) float64 { return s.RSSPerConn }, fmtBytes),
			kernel(slab, okIdle && env.SlabReadable), kernel(tcpIdle, okIdle), kernel(tcpEcho, okEcho))
	}
	// Ours ÷ the best peer measured here, on the two memory figures and
	// the CPU.
	var peer string
	best := 0.0
	for _, lib := range libs {
		if x, ok := v.scaleMedian(lib+"/idle", scaleField(func(s ScaleSample) float64 { return s.RSSPerConn })); ok && isPeer(lib) && (peer == "" || x < best) {
			peer, best = lib, x
		}
	}
	if peer != "" {
		for _, own := range []string{"ours", "ours-poller"} {
			if !slices.Contains(libs, own) {
				continue
			}
			ratio := func(key string, f func(ScaleSample) float64) string {
				a, ok1 := v.scaleMedian(own+"/"+key, scaleField(f))
				b, ok2 := v.scaleMedian(peer+"/"+key, scaleField(f))
				if !ok1 || !ok2 || b == 0 {
					return ""
				}
				return fmtRatio(a / b)
			}
			v.p("| **%s ÷ %s** | | %s | %s | %s | %s | %s | %s | | | |", libLabel(own), peer,
				ratio("idle", func(s ScaleSample) float64 { return s.RSSPerConn }),
				ratio("idle", func(s ScaleSample) float64 { return s.HeapPerConn }),
				ratio("echo", func(s ScaleSample) float64 { return s.MsgsPerSec }),
				ratio("echo", func(s ScaleSample) float64 { return s.P99us }),
				ratio("echo", func(s ScaleSample) float64 { return s.CPUPerMsg }),
				ratio("echo", func(s ScaleSample) float64 { return s.RSSPerConn }))
		}
	}
	v.p("")

	v.p("**Projection to %s connections in one server process**: the process's resident memory before the connections, plus %s times the growth per connection measured above; plus the kernel's memory for one end of each connection (socket objects, and TCP buffers as measured idle or echoing).", fmtInt(projected), fmtInt(projected))
	v.p("")
	v.p("| library | process, idle | process, echoing | kernel, idle | kernel, echoing | total, idle | total, echoing |")
	v.p("|---|---:|---:|---:|---:|---:|---:|")
	for _, lib := range libs {
		idle, echo := lib+"/idle", lib+"/echo"
		base, okb := v.scaleMedian(idle, scaleField(func(s ScaleSample) float64 { return s.RSSBase }))
		if !okb {
			base, okb = v.scaleMedian(echo, scaleField(func(s ScaleSample) float64 { return s.RSSBase }))
		}
		ri, oki := v.scaleMedian(idle, scaleField(func(s ScaleSample) float64 { return s.RSSPerConn }))
		re, oke := v.scaleMedian(echo, scaleField(func(s ScaleSample) float64 { return s.RSSPerConn }))
		slab, tcpIdle, okKi := v.scaleKernel(idle)
		_, tcpEcho, okKe := v.scaleKernel(echo)
		cell := func(x float64, ok bool) string {
			if !ok {
				return "n/a"
			}
			return fmtGiB(x)
		}
		pIdle, pEcho := base+projected*ri, base+projected*re
		kIdle, kEcho := projected*(slab+tcpIdle), projected*(slab+tcpEcho)
		v.p("| %s | %s | %s | %s | %s | %s | %s |", libLabel(lib),
			cell(pIdle, okb && oki), cell(pEcho, okb && oke),
			cell(kIdle, okKi), cell(kEcho, okKi && okKe),
			cell(pIdle+kIdle, okb && oki && okKi), cell(pEcho+kEcho, okb && oke && okKi && okKe))
	}
	v.p("")
	v.p("Assumptions and limits:")
	v.p("")
	v.p("- **Linear**: what one connection adds at %s connections, each added again, up to %s. The process's base memory counts once. Idle figures are after a GC that returns free memory to the OS; a server at GOGC=100 holds up to its live heap again as headroom, which the echoing figures include.", fmtInt(float64(env.Conns)), fmtInt(projected))
	v.p("- **Kernel memory is estimated, not in RSS**: from machine-wide counters, halved for the two ends of each connection. The Poller registers each socket in two epoll sets (the runtime's and its loop's), the client in one, so its second 128-byte entry is counted half; other work on the machine moves the counters too. TCP buffers depend on the traffic: idle sockets hold none; a socket with a message queued holds at least a page.")
	if len(env.TCPMem) == 3 && env.PageSize > 0 {
		high := float64(env.TCPMem[2]) * float64(env.PageSize)
		v.p("- **TCP buffer limit**: `net.ipv4.tcp_mem` is %s %s %s pages: past %s (pressure) the kernel trims socket buffers, past %s it refuses to grow them, machine wide. Shared by %s sockets that is %s each; %s connections with data in flight in both directions need it raised.",
			fmtInt(float64(env.TCPMem[0])), fmtInt(float64(env.TCPMem[1])), fmtInt(float64(env.TCPMem[2])),
			fmtGiB(float64(env.TCPMem[1])*float64(env.PageSize)), fmtGiB(high), fmtInt(projected), fmtBytes(high/projected), fmtInt(projected))
	}
	v.p("- **File descriptors**: one per connection. The hard limit here is %s; %s connections need `ulimit -n` above %s, which `fs.nr_open` (%s here) caps, and `fs.file-max` (%s here) bounds machine wide: a load generator on the same machine needs as many again.",
		fmtInt(float64(env.NoFileHard)), fmtInt(projected), fmtInt(projected), fmtInt(float64(env.NrOpen)), fmtInt(float64(env.FileMax)))
	if ports := env.PortHigh - env.PortLow + 1; env.PortHigh > 0 && ports > 0 {
		v.p("- **Ports**: `net.ipv4.ip_local_port_range` is %d–%d, %s ephemeral ports: one client address reaches one server address and port at most %s times. %s connections need at least %d client addresses (or as many server addresses or ports); loadgen spreads its connections over 127.0.0.1, 127.0.0.2, ... when one address does not have ports enough.",
			env.PortLow, env.PortHigh, fmtInt(float64(ports)), fmtInt(float64(ports)), fmtInt(projected), (projected+ports-1)/ports)
	}
	if cpu, ok := v.pacedMedian("ours-poller", pacedCPU); ok {
		v.p("- **CPU does not project from two cores**: at one compressed %s message a second per connection, the paced part's CPU per message (ours (poller): %s) puts %s connections at %.0f cores of server CPU; uncompressed echo costs less (the echo tables).", sizeLabel(c.PacedSize), fmtUs(cpu), fmtInt(projected), cpu*projected/1e6)
	}
	if env.MemTotal > 0 {
		v.p("- **This machine** has %s of memory; the processes under test and the load generator share it with other work.", fmtGiB(float64(env.MemTotal)))
	}
	v.p("")
}

// fmtGiB formats bytes in GiB, or MiB below one GiB.
func fmtGiB(b float64) string {
	if math.Abs(b) < 1<<30 {
		return fmt.Sprintf("%.0f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", b/(1<<30))
}
