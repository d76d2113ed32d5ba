package deflate

import "unsafe"

// A History is the plaintext a connection keeps between messages under
// context takeover: the last Size bytes of its stream in one direction,
// the dictionary of the next message. Its storage grows with what was
// sent, doubling, up to the window and never past it: a connection that
// sent 1 KiB holds about 1 KiB.
//
// Its storage is kept as a pointer and two 32-bit lengths rather than a
// slice and an int: a connection with takeover has two, and the 16 bytes
// saved take its compression state down a size class.
type History struct {
	p          *byte // the storage's first byte, nil before any
	n, c, size int32 // its length and capacity, and the window
}

// buf returns the storage as a slice.
func (h *History) buf() []byte {
	if h.p == nil {
		return nil
	}
	return unsafe.Slice(h.p, h.c)[:h.n]
}

// set makes b the storage; cap(b) is at most the window.
func (h *History) set(b []byte) {
	h.p, h.n, h.c = unsafe.SliceData(b), int32(len(b)), int32(cap(b))
}

// SetSize sets the size of the window, 2^windowBits, and forgets what the
// history held.
func (h *History) SetSize(n int) {
	*h = History{size: int32(n)}
}

// Bytes returns the history, oldest byte first. It is valid until the next
// Append.
func (h *History) Bytes() []byte { return h.buf() }

// Append adds p to the end of the history, dropping what falls out of the
// window.
func (h *History) Append(p []byte) {
	size := int(h.size)
	if len(p) == 0 || size == 0 {
		return
	}
	if len(p) >= size {
		h.set(append(h.grow(size, 0)[:0], p[len(p)-size:]...))
		return
	}
	buf := h.buf()
	keep := min(len(buf), size-len(p))
	buf = h.grow(keep+len(p), keep)
	if drop := len(buf) - keep; drop > 0 {
		buf = buf[:copy(buf, buf[drop:])]
	}
	h.set(append(buf, p...))
}

// grow makes room for n bytes, keeping the last keep bytes held, and
// returns the storage.
func (h *History) grow(n, keep int) []byte {
	buf := h.buf()
	if n <= cap(buf) {
		return buf
	}
	c := min(int(h.size), max(n, 2*cap(buf), 512))
	b := make([]byte, keep, c)
	copy(b, buf[len(buf)-keep:])
	h.set(b)
	return b
}

// Reset empties the history: after a message that may not have reached
// the peer, nothing may refer to it. The storage is kept.
func (h *History) Reset() { h.n = 0 }

// Size returns the window: the most the history holds.
func (h *History) Size() int { return int(h.size) }

// Need returns the storage the history needs to take n more bytes.
func (h *History) Need(n int) int { return min(int(h.size), int(h.n)+n) }

// Placed reports whether the history's storage is as large as its
// window, so that it never grows again.
func (h *History) Placed() bool { return h.size > 0 && h.c >= h.size }

// Place moves the history into b, which must hold at least its window,
// to stay there: it is never moved again. The caller owns b's lifetime.
func (h *History) Place(b []byte) {
	b = b[:h.size:h.size]
	h.set(b[:copy(b, h.buf())])
}
