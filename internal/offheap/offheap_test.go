package offheap

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func TestAllocFree(t *testing.T) {
	if !Available() {
		if _, _, ok := Alloc(4096); ok {
			t.Fatal("Alloc lent a block where blocks are not available")
		}
		t.Skip("no blocks on this platform")
	}
	base := InUse()
	tests := []struct {
		name string
		n    int
		size int
	}{
		{
			name: "under the smallest block",
			n:    100,
			size: minBlock,
		},
		{
			name: "below a page: a power of two",
			n:    1500,
			size: min(2048, pageSize),
		},
		{
			name: "one page",
			n:    pageSize,
			size: pageSize,
		},
		{
			name: "rounded up to a page",
			n:    pageSize + 1,
			size: 2 * pageSize,
		},
		{
			name: "two windows of 32 KiB",
			n:    64 << 10,
			size: (64<<10 + pageSize - 1) &^ (pageSize - 1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, id, ok := Alloc(tt.n)
			if !ok {
				t.Fatal("Alloc refused")
			}
			if len(b) != tt.size || cap(b) != tt.size {
				t.Fatalf("len %d cap %d, want %d", len(b), cap(b), tt.size)
			}
			if align := uintptr(min(tt.size, pageSize)); addr(b)%align != 0 {
				t.Fatalf("block of %d bytes at %#x is not aligned to %d", tt.size, addr(b), align)
			}
			if !bytes.Equal(b, make([]byte, len(b))) {
				t.Fatal("a new block is not zeroed")
			}
			if got := InUse() - base; got != tt.size {
				t.Fatalf("InUse grew by %d, want %d", got, tt.size)
			}
			for i := range b {
				b[i] = 0xa5
			}
			Free(id)
			if got := InUse(); got != base {
				t.Fatalf("InUse %d after Free, want %d", got, base)
			}
			// The slot is lent again, its pages given back: zeros.
			b2, id2, ok := Alloc(tt.n)
			if !ok {
				t.Fatal("Alloc refused")
			}
			defer Free(id2)
			if addr(b2) != addr(b) {
				t.Fatalf("a freed block was not lent again first")
			}
			if !bytes.Equal(b2, make([]byte, len(b2))) {
				t.Fatal("a block lent again still holds what its last owner wrote")
			}
		})
	}
}

func TestStaleFreeIgnored(t *testing.T) {
	if !Available() {
		t.Skip("no blocks on this platform")
	}
	base := InUse()
	b, id, _ := Alloc(8192)
	Free(id)
	b2, id2, _ := Alloc(8192)
	if addr(b2) != addr(b) {
		t.Fatal("the freed slot was not lent again")
	}
	b2[0] = 1
	Free(id) // the first loan's ID, ended already
	if InUse()-base != len(b2) {
		t.Fatal("a stale Free ended the block's new loan")
	}
	b3, id3, _ := Alloc(8192)
	if addr(b3) == addr(b2) {
		t.Fatal("a stale Free put a lent block back on the free list")
	}
	if b2[0] != 1 {
		t.Fatal("a stale Free gave the pages of a lent block back")
	}
	Free(id2)
	Free(id2)
	Free(id3)
	if InUse() != base {
		t.Fatalf("InUse %d, want %d", InUse(), base)
	}
}

func TestAllocRefusesWhatItCannotLend(t *testing.T) {
	for _, n := range []int{0, -1, chunkBytes + 1} {
		if _, _, ok := Alloc(n); ok {
			t.Errorf("Alloc(%d) lent a block", n)
		}
	}
}

// TestFreeReleasesPages checks, on Linux, that freed blocks leave the
// process's resident memory.
func TestFreeReleasesPages(t *testing.T) {
	if !Available() {
		t.Skip("no blocks on this platform")
	}
	const n = 64
	ids := make([]ID, n)
	before := rssAnon(t)
	for i := range ids {
		b, id, ok := Alloc(32 << 10)
		if !ok {
			t.Fatal("Alloc refused")
		}
		for j := range b {
			b[j] = byte(j)
		}
		ids[i] = id
	}
	touched := rssAnon(t)
	for _, id := range ids {
		Free(id)
	}
	after := rssAnon(t)
	// 2 MiB were touched; other activity moves RSS by far less.
	if touched-before < n*32<<10/2 {
		t.Fatalf("touching %d blocks grew RSS by %d bytes only", n, touched-before)
	}
	if touched-after < n*32<<10/2 {
		t.Fatalf("freeing %d touched blocks shrank RSS by %d bytes only", n, touched-after)
	}
}

func rssAnon(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}

// TestConcurrent lends and frees blocks from several goroutines, each
// checking that its blocks keep what it wrote: no block is lent twice.
func TestConcurrent(t *testing.T) {
	if !Available() {
		t.Skip("no blocks on this platform")
	}
	base := InUse()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held [][]byte
			var ids []ID
			for i := range 200 {
				b, id, ok := Alloc(4096 << (i % 3))
				if !ok {
					t.Error("Alloc refused")
					return
				}
				b[0], b[len(b)-1] = byte(g), byte(g)
				held, ids = append(held, b), append(ids, id)
				if i%3 == 2 {
					for k, b := range held {
						if b[0] != byte(g) || b[len(b)-1] != byte(g) {
							t.Errorf("goroutine %d: a block it holds was changed", g)
						}
						Free(ids[k])
					}
					held, ids = held[:0], ids[:0]
				}
			}
			for _, id := range ids {
				Free(id)
			}
		}()
	}
	wg.Wait()
	if InUse() != base {
		t.Fatalf("InUse %d after every block was freed, want %d", InUse(), base)
	}
}
