// Command loadgen is the load generator shared by every echo server in the
// loopback benchmarks. It speaks just enough WebSocket to stay out of the
// way: a hand-written handshake, and one pre-masked frame per connection
// that it sends over and over.
//
// In echo mode it keeps one message in flight per connection (closed loop)
// and, after a warm-up, measures for a fixed time: messages echoed per
// second, round-trip latency percentiles and, when -serverpid is given,
// the server's CPU time (utime+stime from /proc) per message. In idle mode
// it opens the connections, echoes one message on each, reports, and holds
// them open until stdin is closed.
//
// The result is one line of JSON on stdout.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fullduplex/websocket/bench/internal/wsframe"
)

// Result is what loadgen prints.
type Result struct {
	Mode       string  `json:"mode"`
	Conns      int     `json:"conns"`
	Size       int     `json:"size"`
	Connected  int     `json:"connected"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Extensions string  `json:"extensions"` // Sec-WebSocket-Extensions of the first response
	Msgs       int64   `json:"msgs"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	ServerCPU  float64 `json:"server_cpu_s"`   // server utime+stime during the measurement
	CPUPerMsg  float64 `json:"cpu_per_msg_us"` // ServerCPU per message, µs
}

func main() {
	addr := flag.String("addr", "", "server address, host:port on 127.0.0.1")
	mode := flag.String("mode", "echo", "echo or idle")
	conns := flag.Int("conns", 64, "connections")
	size := flag.Int("size", 16, "message size in bytes")
	warm := flag.Duration("warmup", 500*time.Millisecond, "echo: time before measuring")
	dur := flag.Duration("duration", 2*time.Second, "echo: measurement time")
	pid := flag.Int("serverpid", 0, "server process whose CPU time is measured")
	compress := flag.Bool("compress", false, "offer permessage-deflate")
	dialConc := flag.Int("dialconc", 32, "concurrent handshakes while connecting")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*addr); err != nil || host != "127.0.0.1" {
		log.Fatalf("loadgen: -addr must be 127.0.0.1:port, got %q", *addr)
	}
	raiseFileLimit()
	clockTicks()

	res := Result{Mode: *mode, Conns: *conns, Size: *size}
	clients, errs := connectAll(*addr, *conns, *size, *compress, *dialConc)
	res.Connected = len(clients)
	res.Errors = len(errs)
	if len(errs) > 0 {
		res.FirstError = errs[0].Error()
	}
	if len(clients) > 0 {
		res.Extensions = clients[0].ext
	}
	switch *mode {
	case "echo":
		runEcho(clients, &res, *warm, *dur, *pid)
		closeAll(clients)
		emit(res)
	case "idle":
		emit(res)
		io.Copy(io.Discard, os.Stdin)
		closeAll(clients)
	default:
		log.Fatalf("loadgen: unknown -mode %q", *mode)
	}
}

func emit(res Result) {
	b, _ := json.Marshal(res)
	fmt.Printf("%s\n", b)
}

type client struct {
	nc    net.Conn
	br    *bufio.Reader
	frame []byte // the masked message this client sends
	size  int
	ext   string
	lat   []time.Duration
}

// connectAll opens n connections, echoing one message on each.
func connectAll(addr string, n, size int, compress bool, conc int) ([]*client, []error) {
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
			c, err := dial(addr, size, compress)
			if err == nil {
				err = c.roundTrip()
				if err != nil {
					c.nc.Close()
				}
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

func dial(addr string, size int, compress bool) (*client, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
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
	req.WriteString("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	req.WriteString("Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n")
	if compress {
		req.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, err
	}
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
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	var mask [4]byte
	rand.Read(mask[:])
	return &client{
		nc:    nc,
		br:    br,
		frame: wsframe.AppendFrame(nil, wsframe.OpBinary, payload, true, mask),
		size:  size,
		ext:   resp.Header.Get("Sec-WebSocket-Extensions"),
	}, nil
}

// roundTrip sends the client's message and reads the echo.
func (c *client) roundTrip() error {
	if _, err := c.nc.Write(c.frame); err != nil {
		return err
	}
	got := 0
	for {
		b, err := c.br.Peek(2)
		if err != nil {
			return err
		}
		if b, err = c.br.Peek(hlenOf(b)); err != nil {
			return err
		}
		op, fin, length, hlen := wsframe.ParseHeader(b)
		compressed := b[0]&0x40 != 0
		c.br.Discard(hlen)
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

func runEcho(clients []*client, res *Result, warm, dur time.Duration, pid int) {
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
	time.Sleep(warm)
	cpu0 := cpuTicks(pid)
	start := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(dur)
	phase.Store(phaseDone)
	elapsed := time.Since(start)
	cpu1 := cpuTicks(pid)
	n := msgs.Load()

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
	res.Errors += int(errCount.Load())
	if s, ok := firstErr.Load().(string); ok && res.FirstError == "" {
		res.FirstError = s
	}
	if pid > 0 && cpu0 >= 0 && cpu1 >= 0 {
		res.ServerCPU = float64(cpu1-cpu0) / clockTicks()
		if n > 0 {
			res.CPUPerMsg = res.ServerCPU / float64(n) * 1e6
		}
	}
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

// cpuTicks returns utime+stime of process pid, in clock ticks, or -1.
func cpuTicks(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return ut + st
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

func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
