package deflate

// A History is the plaintext a connection keeps between messages under
// context takeover: the last Size bytes of its stream in one direction,
// the dictionary of the next message. Its storage grows with what was
// sent, doubling, up to the window and never past it: a connection that
// sent 1 KiB holds about 1 KiB.
type History struct {
	buf  []byte
	size int
}

// SetSize sets the size of the window, 2^windowBits, and forgets what the
// history held.
func (h *History) SetSize(n int) {
	h.size = n
	h.buf = nil
}

// Bytes returns the history, oldest byte first. It is valid until the next
// Append.
func (h *History) Bytes() []byte { return h.buf }

// Append adds p to the end of the history, dropping what falls out of the
// window.
func (h *History) Append(p []byte) {
	if len(p) == 0 || h.size == 0 {
		return
	}
	if len(p) >= h.size {
		h.grow(h.size, 0)
		h.buf = append(h.buf[:0], p[len(p)-h.size:]...)
		return
	}
	keep := min(len(h.buf), h.size-len(p))
	h.grow(keep+len(p), keep)
	if drop := len(h.buf) - keep; drop > 0 {
		h.buf = h.buf[:copy(h.buf, h.buf[drop:])]
	}
	h.buf = append(h.buf, p...)
}

// grow makes room for n bytes, keeping the last keep bytes held.
func (h *History) grow(n, keep int) {
	if n <= cap(h.buf) {
		return
	}
	c := min(h.size, max(n, 2*cap(h.buf), 512))
	b := make([]byte, keep, c)
	copy(b, h.buf[len(h.buf)-keep:])
	h.buf = b
}

// Reset empties the history: after a message that may not have reached
// the peer, nothing may refer to it. The storage is kept.
func (h *History) Reset() { h.buf = h.buf[:0] }
