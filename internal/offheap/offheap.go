// Package offheap lends blocks of memory outside the Go heap, for the
// compression histories a connection keeps while idle under context
// takeover.
//
// A history of 32 KiB on the Go heap costs more than its bytes: its span's
// metadata, the spans its growth left behind, and GC metadata that grows
// with the heap, about 1.5 KB a connection in all. A block here is carved
// from a large anonymous mapping and costs exactly the pages its owner has
// touched; freeing it gives those pages back to the OS at once
// (MADV_DONTNEED), so an unused block, or the untouched end of one, is not
// resident. Blocks smaller than a page are powers of two that tile it.
//
// The price is manual lifetime: nothing may read or write a block after
// Free. Free checks the generation a block was lent with, so a late or
// repeated Free of a block lent again since is ignored, which makes it
// safe for a GC cleanup to back up an explicit Free.
//
// Blocks are available on Linux only; elsewhere Alloc reports false and
// callers keep their memory on the heap.
package offheap

import "sync"

// chunkBytes is the size of each mapping blocks are carved from: large
// enough that a server of many connections needs few mappings (a
// process's count is limited, vm.max_map_count), small enough that the
// first block costs no more than a little address space.
const chunkBytes = 2 << 20

// An ID names one loan of a block: its size class and slot, and the
// generation of the slot when it was lent.
type ID uint64

func makeID(class, slot int, gen uint32) ID {
	return ID(uint64(class)<<56 | uint64(slot)<<32 | uint64(gen))
}

func (id ID) parts() (class, slot int, gen uint32) {
	return int(id >> 56), int(id >> 32 & 0xffffff), uint32(id)
}

// A class lends the blocks of one size.
type class struct {
	size     int
	perChunk int
	chunks   [][]byte
	gens     []uint32 // per slot, incremented by each Free
	free     []int32  // slots freed, lent again first
	carved   int      // slots lent at least once
}

var (
	mu      sync.Mutex
	classes []*class // by index, fixed once created
	inUse   int      // bytes lent
)

// classOf returns the class of blocks of size bytes, creating it; nil when
// an ID could not name another class.
func classOf(size int) (int, *class) {
	for i, c := range classes {
		if c.size == size {
			return i, c
		}
	}
	if len(classes) == maxClasses {
		return 0, nil
	}
	c := &class{size: size, perChunk: max(1, chunkBytes/size)}
	classes = append(classes, c)
	return len(classes) - 1, c
}

// The limits of what an ID can name.
const (
	maxClasses = 1 << 8
	maxSlots   = 1 << 24
)

// Alloc lends a zeroed block of at least n bytes and the ID that frees
// it: whole pages, or below a page the next power of two, so that blocks
// tile their pages. It reports false where blocks are not available, for
// a size over a chunk, or when the OS refuses memory.
func Alloc(n int) ([]byte, ID, bool) {
	if !available || n <= 0 || n > chunkBytes {
		return nil, 0, false
	}
	size := blockSize(n)
	mu.Lock()
	defer mu.Unlock()
	ci, c := classOf(size)
	if c == nil {
		return nil, 0, false
	}
	var slot int
	if k := len(c.free); k > 0 {
		slot = int(c.free[k-1])
		c.free = c.free[:k-1]
	} else {
		if c.carved == maxSlots {
			return nil, 0, false
		}
		if c.carved == len(c.chunks)*c.perChunk {
			m, err := mapChunk(c.perChunk * size)
			if err != nil {
				return nil, 0, false
			}
			c.chunks = append(c.chunks, m)
		}
		slot = c.carved
		c.carved++
		c.gens = append(c.gens, 1) // from 1, so that no ID is 0
	}
	inUse += size
	return c.block(slot), makeID(ci, slot, c.gens[slot]), true
}

// minBlock is the smallest block lent.
const minBlock = 256

// blockSize returns the size of the blocks that hold n bytes.
func blockSize(n int) int {
	if n >= pageSize {
		return (n + pageSize - 1) &^ (pageSize - 1)
	}
	size := minBlock
	for size < n {
		size *= 2
	}
	return size
}

// block returns the memory of slot.
func (c *class) block(slot int) []byte {
	m := c.chunks[slot/c.perChunk]
	off := slot % c.perChunk * c.size
	return m[off : off+c.size : off+c.size]
}

// Free ends the loan id names: the block's pages go back to the OS, and
// the block may be lent again. A Free of a loan already ended does
// nothing. Nothing may touch the block afterwards.
func Free(id ID) {
	ci, slot, gen := id.parts()
	mu.Lock()
	if ci >= len(classes) {
		mu.Unlock()
		return
	}
	c := classes[ci]
	if slot >= c.carved || c.gens[slot] != gen {
		mu.Unlock()
		return // ended before, and perhaps lent again since
	}
	if c.gens[slot]++; c.gens[slot] == 0 {
		c.gens[slot] = 1 // no ID is 0
	}
	inUse -= c.size
	b := c.block(slot)
	mu.Unlock()
	// Off the free list until its pages are given back, the block is
	// nobody's: the system call need not hold up other loans. A block
	// smaller than a page shares it with others: it is cleared instead.
	if len(b) < pageSize {
		clear(b)
	} else {
		release(b)
	}
	mu.Lock()
	c.free = append(c.free, int32(slot))
	mu.Unlock()
}

// InUse returns the bytes lent and not yet freed.
func InUse() int {
	mu.Lock()
	defer mu.Unlock()
	return inUse
}

// Available reports whether Alloc can lend blocks on this platform.
func Available() bool { return available }

// Bytes returns the block of a loan that has not ended.
func Bytes(id ID) []byte {
	ci, slot, _ := id.parts()
	mu.Lock()
	defer mu.Unlock()
	return classes[ci].block(slot)
}

// Lent reports whether the loan id names has not ended.
func Lent(id ID) bool {
	ci, slot, gen := id.parts()
	mu.Lock()
	defer mu.Unlock()
	return id != 0 && ci < len(classes) && slot < classes[ci].carved && classes[ci].gens[slot] == gen
}
