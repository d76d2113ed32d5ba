package deflate

// A History is the plaintext a connection keeps between messages under
// context takeover: the last Size bytes of its stream in one direction,
// the dictionary of the next message. It holds no more than Size bytes,
// allocated on first use.
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
	if h.buf == nil {
		h.buf = make([]byte, 0, h.size)
	}
	if len(p) >= h.size {
		h.buf = append(h.buf[:0], p[len(p)-h.size:]...)
		return
	}
	if over := len(h.buf) + len(p) - h.size; over > 0 {
		h.buf = h.buf[:copy(h.buf, h.buf[over:])]
	}
	h.buf = append(h.buf, p...)
}

// Reset empties the history: after a message that may not have reached
// the peer, nothing may refer to it. The storage is kept.
func (h *History) Reset() { h.buf = h.buf[:0] }
