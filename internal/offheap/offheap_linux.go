package offheap

import (
	"os"
	"syscall"
)

const available = true

var pageSize = os.Getpagesize()

// mapChunk maps n bytes of anonymous memory, which the kernel backs with
// pages only as they are touched. Huge pages are refused for it: one
// touched byte would make 2 MiB resident.
func mapChunk(n int) ([]byte, error) {
	m, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, err
	}
	_ = syscall.Madvise(m, syscall.MADV_NOHUGEPAGE) // advice only: kernels without THP refuse it
	return m, nil
}

// release gives b's pages back to the OS; they read as zeros when next
// touched.
func release(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED) // cannot fail on a mapping of ours
}
