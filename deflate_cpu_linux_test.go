package websocket

import (
	"runtime"
	"syscall"
	"testing"
)

// threadCPU returns the CPU time used by the calling thread, in ns.
func threadCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// cpuPerOp reports the benchmark's CPU time per operation as "cpu-ns/op":
// with the goroutine locked to its thread, it measures the benchmark's own
// work on a busy machine better than the wall clock.
func cpuPerOp(b *testing.B) func() {
	runtime.LockOSThread()
	start := threadCPU()
	return func() {
		b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
		runtime.UnlockOSThread()
	}
}
