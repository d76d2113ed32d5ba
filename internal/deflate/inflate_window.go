package deflate

// The Inflater writes straight into the caller's buffer. A back-reference
// that reaches before the start of the current Read's output reads from
// the history: the dictionary, then the message's earlier output, of which
// keep saves the last 32 KiB in the ring at the end of each Read that does
// not end the message.

// keep saves out, the output of a Read, for the back-references of the
// next ones.
func (f *Inflater) keep(out []byte) {
	if len(out) >= winSize {
		copy(f.ring[:], out[len(out)-winSize:])
		f.wpos, f.ringLen = 0, winSize
		return
	}
	k := copy(f.ring[f.wpos:], out)
	copy(f.ring[:], out[k:])
	f.wpos = (f.wpos + len(out)) & (winSize - 1)
	f.ringLen = min(f.ringLen+len(out), winSize)
}

// histLen returns how far back-references reach before the output of the
// current Read (at least 32 KiB once the ring is full, whatever dict).
func (f *Inflater) histLen() int { return len(f.dict) + f.ringLen }

// copyMatch writes n bytes of a match at distance dist to out[o:], and
// returns the new end of the output. The distance has been checked
// against histLen.
func (f *Inflater) copyMatch(out []byte, o, dist, n int) int {
	if dist > o {
		k := f.copyHistory(out[o:o+n], dist-o)
		o += k
		n -= k
	}
	// The rest repeats this Read's output; a distance shorter than the
	// match repeats bytes it writes.
	start := o - dist
	for end := o + n; o < end; {
		o += copy(out[o:end], out[start:o])
	}
	return o
}

// copyHistory fills dst from the history, starting back bytes before its
// end, as far as the history goes, and returns the bytes written.
func (f *Inflater) copyHistory(dst []byte, back int) int {
	if back <= f.ringLen {
		return f.copyRing(dst, back)
	}
	// The start is in dict; the ring has not wrapped.
	k := copy(dst, f.dict[len(f.dict)-(back-f.ringLen):])
	if k < len(dst) && f.ringLen > 0 {
		k += f.copyRing(dst[k:], f.ringLen)
	}
	return k
}

// copyRing fills dst from the ring, starting back bytes before its end, as
// far as the ring goes.
func (f *Inflater) copyRing(dst []byte, back int) int {
	dst = dst[:min(len(dst), back)]
	start := (f.wpos - back) & (winSize - 1)
	k := copy(dst, f.ring[start:])
	if k < len(dst) {
		k += copy(dst[k:], f.ring[:])
	}
	return k
}

// AppendHistory appends the message's output to h, once the message has
// ended: the output of its earlier Reads, which the Inflater kept, then
// last, the output of the Read that returned io.EOF (after ReadAppend,
// all the output it decoded in place: the slice it returned). Under context
// takeover, h is the next message's dictionary; the message's own
// dictionary (h's earlier content, given to Reset) is read until then,
// so h must not change before.
func (f *Inflater) AppendHistory(h *History, last []byte) {
	a, b := f.historyTail(h, last)
	h.Append(a)
	h.Append(b)
	h.Append(last)
}

// HistoryGrowth returns how many bytes AppendHistory(h, last) would add
// to h, so that its storage may be placed first.
func (f *Inflater) HistoryGrowth(h *History, last []byte) int {
	a, b := f.historyTail(h, last)
	return len(a) + len(b) + len(last)
}

// historyTail returns what of the output the Inflater kept goes into h
// before last, in at most two pieces of the ring.
func (f *Inflater) historyTail(h *History, last []byte) (a, b []byte) {
	need := min(int(h.size)-len(last), f.ringLen)
	if need <= 0 {
		return nil, nil
	}
	start := (f.wpos - need) & (winSize - 1)
	if start < f.wpos {
		return f.ring[start:f.wpos], nil
	}
	return f.ring[start:], f.ring[:f.wpos]
}
