// Command echoserver serves WebSocket echo with one of the measured
// libraries, for the loopback echo and idle-memory benchmarks. It listens
// on 127.0.0.1, prints "LISTEN host:port" on stdout, and answers each
// "stats" line read from stdin with one line of JSON (see Stats). A line
// "heapprofile FILE" writes a heap profile (go tool pprof) to FILE and
// answers "OK"; "memstats [nogc]" answers one line of JSON with the
// runtime's memory classes (see memStats). It exits when stdin is closed.
//
//	echoserver -lib ours|ours-poller|gorilla|coder|gobwas|gws|nbio [-compress] [-takeover [-windowbits N]] [-loops N] [-nobatch] [-cpuprofile FILE]
//
// -compress negotiates permessage-deflate with no context takeover;
// -takeover negotiates it with context takeover both ways and 15-bit
// windows, for the libraries that can (ours, ours-poller, coder, gws; the
// others refuse to start with it); with -windowbits N, ours and
// ours-poller ask the client for N-bit windows and use N bits themselves
// (MaxWindowBits and SendWindowBits). -loops sets the number of event loops
// of ours-poller's Poller (default: the Poller's own, GOMAXPROCS/2 + 1).
// -nobatch turns off its batching (PollerOptions.NoBatching), for
// comparisons by hand.
// The server raises its soft limit on open files to the hard limit.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Stats describes the server process, after a garbage collection that
// returned free memory to the OS.
type Stats struct {
	RSS        int64  `json:"rss"`         // VmRSS, bytes
	HeapInuse  uint64 `json:"heap_inuse"`  // runtime.MemStats.HeapInuse
	HeapAlloc  uint64 `json:"heap_alloc"`  // runtime.MemStats.HeapAlloc
	StackInuse uint64 `json:"stack_inuse"` // runtime.MemStats.StackInuse
	Sys        uint64 `json:"sys"`         // runtime.MemStats.Sys
	Goroutines int    `json:"goroutines"`
}

// options are the settings every server is started with.
type options struct {
	// compress negotiates permessage-deflate when the client offers it:
	// with no context takeover, or, with takeover, with context takeover
	// in both directions.
	compress, takeover bool
	// windowBits, with takeover, is the window of both directions for ours
	// and ours-poller; 0 leaves 15.
	windowBits int
	// loops is the number of event loops of ours-poller's Poller; 0 leaves
	// the Poller's default.
	loops int
	// noBatching sets ours-poller's PollerOptions.NoBatching: one system
	// call per read and per write.
	noBatching bool
}

// servers start an echo server on ln.
var servers = map[string]func(ln net.Listener, o options){
	"ours":        serveOurs,
	"ours-poller": serveOursPoller,
	"gorilla":     serveGorilla,
	"coder":       serveCoder,
	"gobwas":      serveGobwas,
	"gws":         serveGws,
	"nbio":        serveNbio,
}

// takeoverLibs are the libraries whose server negotiates context takeover:
// gorilla and nbio have none, and gobwas' echo server does not compress
// (wsflate is a toolkit the application drives frame by frame).
var takeoverLibs = []string{"ours", "ours-poller", "coder", "gws"}

func main() {
	lib := flag.String("lib", "", "library: ours, ours-poller, gorilla, coder, gobwas, gws or nbio")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate when offered, no context takeover")
	takeover := flag.Bool("takeover", false, "negotiate permessage-deflate when offered, context takeover both ways (ours, ours-poller, coder, gws)")
	windowBits := flag.Int("windowbits", 0, "with -takeover, ours and ours-poller: the window of both directions, 8 to 15 (0: 15)")
	loops := flag.Int("loops", 0, "ours-poller: event loops (0: the Poller's default, GOMAXPROCS/2 + 1)")
	noBatch := flag.Bool("nobatch", false, "ours-poller: PollerOptions.NoBatching, one system call per read and per write")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	serve, ok := servers[*lib]
	if !ok {
		log.Fatalf("echoserver: unknown -lib %q", *lib)
	}
	if *windowBits != 0 && (!*takeover || !strings.HasPrefix(*lib, "ours") || *windowBits < 8 || *windowBits > 15) {
		log.Fatalf("echoserver: -windowbits takes 8 to 15, with -takeover and -lib ours or ours-poller")
	}
	if *takeover && !slices.Contains(takeoverLibs, *lib) {
		log.Fatalf("echoserver: -lib %s cannot negotiate context takeover", *lib)
	}
	if (*loops != 0 || *noBatch) && *lib != "ours-poller" {
		log.Fatalf("echoserver: -loops and -nobatch are for -lib ours-poller")
	}
	raiseFileLimit()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	go serve(ln, options{compress: *compress || *takeover, takeover: *takeover, windowBits: *windowBits, loops: *loops, noBatching: *noBatch})
	fmt.Printf("LISTEN %s\n", ln.Addr())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(in.Text()), " ")
		switch cmd {
		case "stats":
			b, _ := json.Marshal(stats())
			fmt.Printf("%s\n", b)
		case "memstats":
			fmt.Printf("%s\n", memStats(arg))
		case "heapprofile":
			if err := writeHeapProfile(arg); err != nil {
				fmt.Printf("ERROR %v\n", err)
			} else {
				fmt.Printf("OK\n")
			}
		}
	}
}

func stats() Stats {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Stats{
		RSS:        vmRSS(),
		HeapInuse:  ms.HeapInuse,
		HeapAlloc:  ms.HeapAlloc,
		StackInuse: ms.StackInuse,
		Sys:        ms.Sys,
		Goroutines: runtime.NumGoroutine(),
	}
}

func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return -1
}

func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
