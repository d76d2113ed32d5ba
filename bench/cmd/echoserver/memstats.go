package main

import (
	"encoding/json"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// memStats answers the stdin command "memstats [nogc]": one line of JSON
// with where the process's memory is, for the analysis of memory per idle
// connection. Without nogc it first collects garbage and returns free
// memory to the OS, as the stats command does; with nogc it reads the
// process as it is, GC headroom included. The keys are the runtime/metrics
// names under /memory/classes/ (they partition everything the runtime
// mapped), the GC's own figures under /gc/, and, from /proc/self/status,
// VmRSS, RssAnon and RssFile in bytes.
func memStats(arg string) []byte {
	if arg != "nogc" {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || strings.HasPrefix(d.Name, "/gc/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	out := map[string]float64{}
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			out[s.Name] = float64(s.Value.Uint64())
		case metrics.KindFloat64:
			out[s.Name] = s.Value.Float64()
		}
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "VmRSS" && k != "RssAnon" && k != "RssFile") {
				continue
			}
			if f := strings.Fields(v); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				out[k] = kb * 1024
			}
		}
	}
	b, _ := json.Marshal(out)
	return b
}
