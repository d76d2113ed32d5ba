package websocket

import (
	"runtime"

	lz "github.com/fullduplex/websocket/internal/deflate"
	"github.com/fullduplex/websocket/internal/offheap"
)

// Under context takeover a connection keeps, per direction, the last
// 2^window_bits bytes of plaintext. A history grows on the Go heap while
// it is small; once it outgrows heapHistory (or half its window), it
// moves to the connection's block outside the heap (internal/offheap),
// which holds both histories: a full window there costs its bytes and
// nothing else (on the heap the runtime's own bookkeeping adds about
// 1.5 KB to two full 32 KiB windows, and about 150 B to two of 1 KiB).
//
// A block's lifetime is manual, so every touch of a history's bytes is
// bracketed by hold and unhold, and the connection's end calls retire:
// the block is freed by whichever comes last, retire or the last unhold,
// and no hold succeeds after retire. A connection that is dropped without
// being closed, which only a goroutine-mode connection can be, frees its
// block through a GC cleanup instead.

// heapHistory is the most a history holds on the heap, or half its
// window if that is less: 2 KiB, so that a connection that exchanged a
// few short messages keeps a few hundred bytes, not a page; a smaller
// window moves once it is half full, as it is then likely to fill.
const heapHistory = 2048

// The bits of deflate.users above the count of holds.
const (
	retired = 1 << 30 // set by retire
	polled  = 1 << 29 // set when a Poller serves the connection
)

// hold reports whether the histories may be touched, until unhold: false
// once the connection has ended.
func (d *deflate) hold() bool {
	for {
		n := d.users.Load()
		if n&retired != 0 {
			return false
		}
		if d.users.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// setPolled records that a Poller serves the connection: its loop keeps
// it until it ends, which retires it, so no GC cleanup needs to back that
// up.
func (d *deflate) setPolled() { d.users.Or(polled) }

// isPolled reports whether setPolled was called.
func (d *deflate) isPolled() bool { return d.users.Load()&polled != 0 }

// unhold ends a hold; the last one after retire frees the block.
func (d *deflate) unhold() {
	if d.users.Add(-1)&^polled == retired {
		d.freeBlock()
	}
}

// retire is called once, when the connection ends: the block is freed
// now, or by the unhold of a read or write still touching it.
func (d *deflate) retire() {
	if !d.sendTakeover && !d.recvTakeover {
		return // a shared state, which holds no history
	}
	if d.users.Add(retired)&^polled == retired {
		d.freeBlock()
	}
}

func (d *deflate) freeBlock() {
	if id := offheap.ID(d.block.Load()); id != 0 {
		offheap.Free(id)
	}
}

// sent appends p, compressed under takeover, to the send history.
func (d *deflate) sent(p []byte) {
	if d.hold() {
		d.makeRoom(&d.sendHist, len(p))
		d.sendHist.Append(p)
		d.unhold()
	}
}

// makeRoom prepares h, held, to take n more bytes: a history that would
// outgrow heapHistory moves into the connection's block.
func (d *deflate) makeRoom(h *lz.History, n int) {
	if h.Placed() || h.Need(n) <= min(heapHistory, h.Size()/2) {
		return
	}
	block := d.blockMemory()
	if block == nil {
		return // no blocks here: the history stays on the heap
	}
	off := 0
	if h == &d.recvHist {
		off = d.sendHist.Size()
	}
	h.Place(block[off:])
}

// blockMemory returns the connection's block, lending it if it has none:
// room for both histories, of which only the pages used become resident.
// A writer and a reader may race here; one block wins.
func (d *deflate) blockMemory() []byte {
	if id := offheap.ID(d.block.Load()); id != 0 {
		return offheap.Bytes(id)
	}
	b, id, ok := offheap.Alloc(d.sendHist.Size() + d.recvHist.Size())
	if !ok {
		return nil
	}
	if !d.block.CompareAndSwap(0, uint64(id)) {
		offheap.Free(id)
		return offheap.Bytes(offheap.ID(d.block.Load()))
	}
	if !d.isPolled() {
		// A Poller's loop keeps its connections until they end, which
		// retires them; a goroutine's may be dropped unclosed.
		runtime.AddCleanup(d, offheap.Free, id)
	}
	return b
}
