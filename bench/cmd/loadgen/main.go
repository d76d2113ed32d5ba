// Command loadgen is the load generator shared by every echo server in the
// loopback benchmarks. It speaks just enough WebSocket to stay out of the
// way: a hand-written handshake, and pre-masked frames, made once, that it
// sends over and over.
//
// In echo mode it keeps one message in flight per connection (closed loop)
// and, after a warm-up, measures for a fixed time: messages echoed per
// second, round-trip latency percentiles and, when -serverpid is given,
// the server's CPU time (utime+stime from /proc) per message. Paced mode
// (-mode paced) measures the same, but each connection sends -rate
// messages a second, at an offset of its own, as many quiet clients do:
// the server's cost per message when its connections are mostly idle. In
// idle mode it opens the connections, echoes -msgs messages on each,
// reports, and holds them open until stdin is closed.
//
// Every connection echoes -msgs messages while connecting, and checks
// that each comes back as sent (inflating it when the server compressed
// it). With -compress the handshake offers permessage-deflate; with
// -compressed as well, the messages go compressed once the server agrees
// (without it they go uncompressed, which RFC 7692 allows). -payload json
// sends JSON text messages, which compress as an API's do; the default,
// bytes, is a binary message of the letters a to z.
//
// The result is one line of JSON on stdout.
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/bench/internal/wsframe"
)

// Result is what loadgen prints.
type Result struct {
	Mode       string `json:"mode"`
	Conns      int    `json:"conns"`
	Size       int    `json:"size"`
	Payload    string `json:"payload"`
	Connected  int    `json:"connected"`
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	Extensions string `json:"extensions"` // Sec-WebSocket-Extensions of the first response
	// SentCompressed tells whether the connections sent their messages
	// compressed (-compressed, and the server agreed).
	SentCompressed bool `json:"sent_compressed"`
	// SentRatio is the compressed size of the first message ÷ its size
	// (-compressed).
	SentRatio float64 `json:"sent_ratio,omitempty"`
	// RepliesCompressed counts the connections whose first echo came back
	// compressed.
	RepliesCompressed int     `json:"replies_compressed"`
	Msgs              int64   `json:"msgs"`
	Seconds           float64 `json:"seconds"`
	MsgsPerSec        float64 `json:"msgs_per_sec"`
	P50us             float64 `json:"p50_us"`
	P99us             float64 `json:"p99_us"`
	ServerCPU         float64 `json:"server_cpu_s"`   // server utime+stime during the measurement
	CPUPerMsg         float64 `json:"cpu_per_msg_us"` // ServerCPU per message, µs
	// SysPerMsg is the part of CPUPerMsg spent in the kernel (stime), µs.
	SysPerMsg float64 `json:"sys_per_msg_us"`
	// Rate is the messages a second each connection sends (paced mode);
	// Late counts the sends that fell behind their schedule by a whole
	// period, so were skipped.
	Rate float64 `json:"rate,omitempty"`
	Late int64   `json:"late,omitempty"`
	// ServerRSSBefore is the server's VmRSS before connecting; ServerRSS
	// its VmRSS once connected (idle mode) or its mean over the
	// measurement (-memsample), with no forced GC. Bytes; 0 without
	// -serverpid.
	ServerRSSBefore int64 `json:"server_rss_before,omitempty"`
	ServerRSS       int64 `json:"server_rss,omitempty"`
	// KernelTCPMem and KernelSlab are what the connections added to the
	// kernel's TCP buffer pages (/proc/net/sockstat) and to its socket
	// slab caches (/proc/slabinfo, root only), machine wide, so both
	// ends of every connection, measured as ServerRSS is. Absent when
	// unreadable.
	KernelTCPMem *int64 `json:"kernel_tcp_mem,omitempty"`
	KernelSlab   *int64 `json:"kernel_slab,omitempty"`
	// NoFile is the limit on open files in force; SourceIPs the local
	// addresses the connections were spread over.
	NoFile    uint64 `json:"nofile"`
	SourceIPs int    `json:"source_ips"`
}

func main() {
	addr := flag.String("addr", "", "server address, host:port on 127.0.0.1")
	mode := flag.String("mode", "echo", "echo, paced or idle")
	conns := flag.Int("conns", 64, "connections")
	size := flag.Int("size", 16, "message size in bytes")
	payload := flag.String("payload", "bytes", "message payload: bytes (binary, the letters a to z) or json (text, JSON documents)")
	nmsgs := flag.Int("msgs", 1, "distinct messages each connection echoes while connecting, then sends in turn")
	warm := flag.Duration("warmup", 500*time.Millisecond, "echo, paced: time before measuring")
	dur := flag.Duration("duration", 2*time.Second, "echo, paced: measurement time")
	rate := flag.Float64("rate", 1, "paced: messages a second per connection")
	pid := flag.Int("serverpid", 0, "server process whose CPU time and memory are measured")
	memSample := flag.Duration("memsample", 0, "echo, paced: sample the server's VmRSS and the kernel's socket memory this often during the measurement (0: not at all)")
	compress := flag.Bool("compress", false, "offer permessage-deflate")
	compressed := flag.Bool("compressed", false, "with -compress: send the messages compressed once the server agrees")
	dialConc := flag.Int("dialconc", 32, "concurrent handshakes while connecting")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*addr); err != nil || host != "127.0.0.1" {
		log.Fatalf("loadgen: -addr must be 127.0.0.1:port, got %q", *addr)
	}
	if *compressed && !*compress {
		log.Fatal("loadgen: -compressed needs -compress")
	}
	if *nmsgs < 1 {
		log.Fatal("loadgen: -msgs must be at least 1")
	}
	switch *mode {
	case "echo", "paced", "idle":
	default:
		log.Fatalf("loadgen: unknown -mode %q", *mode)
	}
	if *mode == "paced" && *rate <= 0 {
		log.Fatal("loadgen: -rate must be above 0")
	}
	res := Result{Mode: *mode, Conns: *conns, Size: *size, Payload: *payload}
	res.NoFile = raiseFileLimit()
	clockTicks()
	msgs, err := messages(*payload, *size, *nmsgs, *compressed)
	if err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	if m := msgs[0]; m.compressed != nil && len(m.payload) > 0 {
		res.SentRatio = float64(m.deflated) / float64(len(m.payload))
	}

	kBefore := readKernelMem()
	res.ServerRSSBefore = max(vmRSS(*pid), 0)
	d := &dialer{addr: *addr, msgs: msgs, compress: *compress, ips: sourceIPs(*conns)}
	res.SourceIPs = len(d.ips)
	clients, errs := d.connectAll(*conns, *dialConc)
	res.Connected = len(clients)
	res.Errors = len(errs)
	if len(errs) > 0 {
		res.FirstError = errs[0].Error()
	}
	if len(clients) > 0 {
		res.Extensions = clients[0].ext
		res.SentCompressed = clients[0].sendCompressed
	}
	for _, c := range clients {
		if c.firstCompressed {
			res.RepliesCompressed++
		}
	}
	switch *mode {
	case "echo", "paced":
		var s *sampler
		if *memSample > 0 {
			s = &sampler{pid: *pid, every: *memSample, before: kBefore}
		}
		if *mode == "echo" {
			runEcho(clients, &res, *warm, *dur, *pid, s)
		} else {
			res.Rate = *rate
			runPaced(clients, &res, *rate, *warm, *dur, *pid, s)
		}
		closeAll(clients)
		emit(res)
	case "idle":
		if *pid > 0 {
			res.ServerRSS = vmRSS(*pid)
		}
		res.KernelTCPMem, res.KernelSlab = kernelDelta(kBefore, []kernelMem{readKernelMem()})
		emit(res)
		io.Copy(io.Discard, os.Stdin)
		closeAll(clients)
	}
}

func emit(res Result) {
	b, _ := json.Marshal(res)
	fmt.Printf("%s\n", b)
}

// sourceIPs returns the local addresses to spread n connections over:
// none (the kernel picks 127.0.0.1) while one address has ports enough
// with a tenth to spare, else as many of 127.0.0.1, 127.0.0.2, ... as
// needed, each with its own ephemeral ports.
func sourceIPs(n int) []net.IP {
	per := localPorts() * 9 / 10
	if n <= per {
		return nil
	}
	k := (n + per - 1) / per
	ips := make([]net.IP, k)
	for i := range ips {
		ips[i] = net.IPv4(127, 0, byte((i+1)>>8), byte((i+1)&0xff))
	}
	return ips
}

type client struct {
	nc   net.Conn
	br   *bufio.Reader
	msgs []*message // what this client sends, in turn
	next int        // the next message to send
	size int
	ext  string
	lat  []time.Duration

	sendCompressed  bool // the messages go compressed
	firstCompressed bool // the first echo came back compressed
	// window holds the last 32 KiB of the compressed echoes' contents:
	// under server context takeover, what the server's next compressed
	// echo may refer back to.
	window []byte
}

// frame returns the frame of m this client sends.
func (c *client) frame(m *message) []byte {
	if c.sendCompressed {
		return m.compressed
	}
	return m.plain
}

// dialer opens the connections.
type dialer struct {
	addr     string
	msgs     []*message
	compress bool
	ips      []net.IP // local addresses, used in turn; none: any
	n        atomic.Int64
}

// connectAll opens n connections, echoing each of d.msgs on each, and
// checking the echoes.
func (d *dialer) connectAll(n, conc int) ([]*client, []error) {
	var mu sync.Mutex
	var clients []*client
	var errs []error
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := d.dial()
			if err == nil {
				for i, m := range c.msgs {
					if err = c.checkedTrip(m, i == 0); err != nil {
						c.nc.Close()
						break
					}
				}
				c.window = nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			clients = append(clients, c)
		}()
	}
	wg.Wait()
	return clients, errs
}

func (d *dialer) dial() (*client, error) {
	nd := net.Dialer{Timeout: 10 * time.Second}
	if len(d.ips) > 0 {
		i := int(d.n.Add(1)-1) % len(d.ips)
		nd.LocalAddr = &net.TCPAddr{IP: d.ips[i]}
	}
	nc, err := nd.Dial("tcp", d.addr)
	if err != nil {
		return nil, err
	}
	// Close with a reset, so that thousands of closed connections leave no
	// TIME_WAIT behind to starve the next run of ports.
	nc.(*net.TCPConn).SetLinger(0)
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	defer nc.SetDeadline(time.Time{})

	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	var req strings.Builder
	req.WriteString("GET / HTTP/1.1\r\nHost: " + d.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	req.WriteString("Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n")
	if d.compress {
		req.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, err
	}
	size := len(d.msgs[0].payload)
	br := bufio.NewReaderSize(nc, max(4096, size+wsframe.MaxHeaderSize))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("handshake: status %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), string(wsframe.AppendAccept(nil, []byte(key))); got != want {
		nc.Close()
		return nil, fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	c := &client{
		nc:   nc,
		br:   br,
		msgs: d.msgs,
		size: size,
		ext:  resp.Header.Get("Sec-WebSocket-Extensions"),
	}
	if d.msgs[0].compressed != nil && strings.Contains(c.ext, "permessage-deflate") {
		// Each message is deflated on its own, with compress/flate's
		// 32 KiB window: a message no longer than the window the server
		// allows refers back no farther than it.
		if bits, ok := extParam(c.ext, "client_max_window_bits"); ok && bits < 15 && size > 1<<bits {
			nc.Close()
			return nil, fmt.Errorf("handshake: the server limits our window to %d bits, less than a %d-byte message", bits, size)
		}
		c.sendCompressed = true
	}
	return c, nil
}

// extParam returns the integer value of parameter name in a
// Sec-WebSocket-Extensions value.
func extParam(ext, name string) (int, bool) {
	for _, p := range strings.Split(ext, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || strings.TrimSpace(k) != name {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"`))
		return n, err == nil
	}
	return 0, false
}

// roundTrip sends the client's next message and reads the echo.
func (c *client) roundTrip() error {
	m := c.msgs[c.next]
	c.next = (c.next + 1) % len(c.msgs)
	if _, err := c.nc.Write(c.frame(m)); err != nil {
		return err
	}
	got := 0
	for {
		op, fin, length, compressed, err := c.nextHeader()
		if err != nil {
			return err
		}
		if _, err := c.br.Discard(int(length)); err != nil {
			return err
		}
		switch {
		case op == wsframe.OpClose:
			return errors.New("server closed the connection")
		case op >= wsframe.OpClose:
			continue // ping or pong
		}
		got += int(length)
		if fin {
			if !compressed && got != c.size {
				return fmt.Errorf("echo of %d bytes, want %d", got, c.size)
			}
			return nil
		}
	}
}

// checkedTrip sends m and reads the echo whole, checking that it carries
// m's payload: inflated, with the contents of the compressed echoes before
// it as the window, when the server compressed it.
func (c *client) checkedTrip(m *message, first bool) error {
	if _, err := c.nc.Write(c.frame(m)); err != nil {
		return err
	}
	var body []byte
	compressed := false
	for {
		op, fin, length, rsv1, err := c.nextHeader()
		if err != nil {
			return err
		}
		if op >= wsframe.OpClose {
			if _, err := c.br.Discard(int(length)); err != nil {
				return err
			}
			if op == wsframe.OpClose {
				return errors.New("server closed the connection")
			}
			continue
		}
		if op != wsframe.OpContinuation {
			compressed = rsv1
		}
		n := len(body)
		body = slices.Grow(body, int(length))[:n+int(length)]
		if _, err := io.ReadFull(c.br, body[n:]); err != nil {
			return err
		}
		if fin {
			break
		}
	}
	if first {
		c.firstCompressed = compressed
	}
	if compressed {
		r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(body), bytes.NewReader([]byte{0, 0, 0xff, 0xff})), c.window)
		out := make([]byte, len(m.payload)+1)
		n, _ := io.ReadFull(r, out)
		body = out[:n]
		c.window = append(c.window, body...)
		if len(c.window) > 32<<10 {
			c.window = c.window[len(c.window)-32<<10:]
		}
	}
	if !bytes.Equal(body, m.payload) {
		return fmt.Errorf("echo of %d bytes (compressed: %v) differs from the %d bytes sent", len(body), compressed, len(m.payload))
	}
	return nil
}

// nextHeader reads the next frame's header from the server and reports
// its opcode, FIN and RSV1 bits and payload length.
func (c *client) nextHeader() (op byte, fin bool, length int64, rsv1 bool, err error) {
	b, err := c.br.Peek(2)
	if err != nil {
		return 0, false, 0, false, err
	}
	if b, err = c.br.Peek(hlenOf(b)); err != nil {
		return 0, false, 0, false, err
	}
	op, fin, length, hlen := wsframe.ParseHeader(b)
	rsv1 = b[0]&0x40 != 0
	c.br.Discard(hlen)
	return op, fin, length, rsv1, nil
}

func hlenOf(b []byte) int {
	n := 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

func runEcho(clients []*client, res *Result, warm, dur time.Duration, pid int, s *sampler) {
	var phase atomic.Int32
	var msgs atomic.Int64
	var errCount atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for _, c := range clients {
		c.lat = make([]time.Duration, 0, 1024)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Load() != phaseDone {
				t0 := time.Now()
				if err := c.roundTrip(); err != nil {
					if phase.Load() != phaseDone {
						errCount.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					return
				}
				if phase.Load() == phaseMeasure {
					c.lat = append(c.lat, time.Since(t0))
					msgs.Add(1)
				}
			}
		}()
	}
	measure(clients, res, warm, dur, pid, s, &phase, &msgs, &wg, nil)
	res.Errors += int(errCount.Load())
	if e, ok := firstErr.Load().(string); ok && res.FirstError == "" {
		res.FirstError = e
	}
}

// runPaced has each connection send rate messages a second, one in
// flight at most, starting at an offset of its own within the first
// period, so that the load is spread evenly. A send that falls a whole
// period behind its schedule (the echo before it took that long) is
// skipped and counted in res.Late.
func runPaced(clients []*client, res *Result, rate float64, warm, dur time.Duration, pid int, s *sampler) {
	var phase atomic.Int32
	var msgs atomic.Int64
	var late atomic.Int64
	var errCount atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	period := time.Duration(float64(time.Second) / rate)
	quit := make(chan struct{})
	start := time.Now()
	for _, c := range clients {
		c.lat = make([]time.Duration, 0, 64)
		next := start.Add(time.Duration(mrand.Int64N(int64(period))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if d := time.Until(next); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-quit:
						t.Stop()
						return
					}
				}
				if phase.Load() == phaseDone {
					return
				}
				t0 := time.Now()
				measuring := phase.Load() == phaseMeasure
				if err := c.roundTrip(); err != nil {
					if phase.Load() != phaseDone {
						errCount.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					return
				}
				if measuring && phase.Load() == phaseMeasure {
					c.lat = append(c.lat, time.Since(t0))
					msgs.Add(1)
				}
				next = next.Add(period)
				if now := time.Now(); now.Sub(next) >= period {
					skipped := int64(now.Sub(next) / period)
					next = next.Add(time.Duration(skipped) * period)
					if measuring {
						late.Add(skipped)
					}
				}
			}
		}()
	}
	measure(clients, res, warm, dur, pid, s, &phase, &msgs, &wg, func() { close(quit) })
	res.Late = late.Load()
	res.Errors += int(errCount.Load())
	if e, ok := firstErr.Load().(string); ok && res.FirstError == "" {
		res.FirstError = e
	}
}

// measure runs the warm-up and the measurement of the echo and paced
// modes, whose connections count the messages they complete while phase
// is phaseMeasure, then waits for them to end (calling stop, if not nil,
// to wake those that wait) and fills res.
func measure(clients []*client, res *Result, warm, dur time.Duration, pid int, s *sampler, phase *atomic.Int32, msgs *atomic.Int64, wg *sync.WaitGroup, stop func()) {
	time.Sleep(warm)
	cpu0, sys0 := cpuTicks(pid)
	start := time.Now()
	phase.Store(phaseMeasure)
	if s != nil {
		s.start()
	}
	time.Sleep(dur)
	phase.Store(phaseDone)
	elapsed := time.Since(start)
	cpu1, sys1 := cpuTicks(pid)
	n := msgs.Load()
	if s != nil {
		s.stop(res)
	}
	if stop != nil {
		stop()
	}

	// Let the connections finish their round trip; a stuck one is cut off.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		closeAll(clients)
		<-done
	}

	var all []time.Duration
	for _, c := range clients {
		all = append(all, c.lat...)
	}
	slices.Sort(all)
	res.Msgs = n
	res.Seconds = elapsed.Seconds()
	res.MsgsPerSec = float64(n) / elapsed.Seconds()
	res.P50us = percentile(all, 0.50)
	res.P99us = percentile(all, 0.99)
	if pid > 0 && cpu0 >= 0 && cpu1 >= 0 {
		res.ServerCPU = float64(cpu1-cpu0) / clockTicks()
		if n > 0 {
			res.CPUPerMsg = res.ServerCPU / float64(n) * 1e6
			res.SysPerMsg = float64(sys1-sys0) / clockTicks() / float64(n) * 1e6
		}
	}
}

// sampler reads the server's VmRSS and the kernel's socket memory every
// so often during a measurement, and gives their means.
type sampler struct {
	pid    int
	every  time.Duration
	before kernelMem // read before connecting

	quit chan struct{}
	done chan struct{}
	rss  []int64
	kmem []kernelMem
}

func (s *sampler) start() {
	s.quit = make(chan struct{})
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				if r := vmRSS(s.pid); r > 0 {
					s.rss = append(s.rss, r)
				}
				s.kmem = append(s.kmem, readKernelMem())
			}
		}
	}()
}

func (s *sampler) stop(res *Result) {
	close(s.quit)
	<-s.done
	if len(s.rss) > 0 {
		var sum int64
		for _, r := range s.rss {
			sum += r
		}
		res.ServerRSS = sum / int64(len(s.rss))
	}
	res.KernelTCPMem, res.KernelSlab = kernelDelta(s.before, s.kmem)
}

// kernelDelta returns the mean growth of each kernel figure over the
// readings after, from before; nil where a figure was unreadable.
func kernelDelta(before kernelMem, after []kernelMem) (tcpMem, slab *int64) {
	mean := func(b int64, get func(kernelMem) int64) *int64 {
		if b < 0 || len(after) == 0 {
			return nil
		}
		var sum int64
		for _, k := range after {
			x := get(k)
			if x < 0 {
				return nil
			}
			sum += x - b
		}
		m := sum / int64(len(after))
		return &m
	}
	return mean(before.tcpMem, func(k kernelMem) int64 { return k.tcpMem }),
		mean(before.slab, func(k kernelMem) int64 { return k.slab })
}

func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Microsecond)
}

func closeAll(clients []*client) {
	for _, c := range clients {
		c.nc.Close()
	}
}

// cpuTicks returns utime+stime of process pid, and stime alone, in clock
// ticks, or -1 and -1.
func cpuTicks(pid int) (total, sys int64) {
	if pid <= 0 {
		return -1, -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1, -1
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1, -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1, -1
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1, -1
	}
	return ut + st, st
}

var clkTck float64

// clockTicks returns the kernel's clock ticks per second (USER_HZ).
func clockTicks() float64 {
	if clkTck == 0 {
		clkTck = 100
		if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
				clkTck = v
			}
		}
	}
	return clkTck
}
