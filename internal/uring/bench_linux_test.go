package uring

import (
	"syscall"
	"testing"
)

// The server half of an echo over pairs connections, one small message
// each: with a read and a write system call per connection, or with two
// batches. The clients' half is the same in both.
const benchPairs = 16

func benchEcho(b *testing.B, server func(srv []int, bufs [][]byte)) {
	cli, srv := make([]int, benchPairs), make([]int, benchPairs)
	bufs := make([][]byte, benchPairs)
	for i := range cli {
		cli[i], srv[i] = socketPair(b)
		bufs[i] = make([]byte, 4096)
	}
	msg := make([]byte, 18)
	rb := make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		for _, fd := range cli {
			syscall.Write(fd, msg)
		}
		server(srv, bufs)
		for _, fd := range cli {
			syscall.Read(fd, rb)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchPairs), "ns/msg")
}

func BenchmarkEchoSyscalls(b *testing.B) {
	benchEcho(b, func(srv []int, bufs [][]byte) {
		for i, fd := range srv {
			n, _ := syscall.Read(fd, bufs[i])
			syscall.Write(fd, bufs[i][:n])
		}
	})
}

func BenchmarkEchoBatched(b *testing.B) {
	r := newRing(b, 64)
	n := make([]int32, benchPairs)
	done := func(tag uint64, res int32) { n[tag] = res }
	benchEcho(b, func(srv []int, bufs [][]byte) {
		for i, fd := range srv {
			r.Recv(fd, bufs[i], uint64(i))
		}
		r.Run(done)
		for i, fd := range srv {
			r.Send(fd, bufs[i][:max(n[i], 0)], uint64(i))
		}
		r.Run(done)
	})
}

// BenchmarkSyscall is the cost of entering and leaving the kernel, which
// batching saves: getpid does no work of its own.
func BenchmarkSyscall(b *testing.B) {
	for range b.N {
		syscall.Getpid()
	}
}
