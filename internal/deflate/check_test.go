package deflate

import (
	"errors"
	"fmt"
)

// walk decodes a raw DEFLATE stream the slow way, with dict as the
// history before it, and reports what it met: a checker of the
// compressor's output that does not trust compress/flate alone.
type walk struct {
	out     []byte // dict, then the output
	maxDist int
	matches int
	blocks  [3]int // by type
}

type bitReader struct {
	p    []byte
	bit  int
	errs error
}

func (r *bitReader) bits(n int) int {
	v := 0
	for i := range n {
		if r.bit>>3 >= len(r.p) {
			r.errs = errors.New("unexpected end of stream")
			return 0
		}
		b := int(r.p[r.bit>>3]>>(r.bit&7)) & 1
		v |= b << i
		r.bit++
	}
	return v
}

// decoder is a canonical code read one bit at a time.
type decoder struct {
	count  [16]int
	symbol []int
}

func newDecoder(lens []int) (*decoder, error) {
	d := &decoder{}
	for _, l := range lens {
		d.count[l]++
	}
	d.count[0] = 0
	left := 1
	used := 0
	for l := 1; l < 16; l++ {
		left <<= 1
		left -= d.count[l]
		if left < 0 {
			return nil, errors.New("over-subscribed code")
		}
		used += d.count[l]
	}
	if left > 0 && used > 1 {
		return nil, errors.New("incomplete code")
	}
	offs := [16]int{}
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + d.count[l]
	}
	d.symbol = make([]int, len(lens))
	for s, l := range lens {
		if l != 0 {
			d.symbol[offs[l]] = s
			offs[l]++
		}
	}
	return d, nil
}

func (d *decoder) decode(r *bitReader) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		code |= r.bits(1)
		count := d.count[l]
		if code-count < first {
			return d.symbol[index+(code-first)], r.errs
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, errors.New("bad code")
}

// run decodes until the input ends after a sync flush.
func (w *walk) run(p []byte) error {
	r := &bitReader{p: p}
	for r.bit>>3 < len(r.p) {
		final := r.bits(1)
		typ := r.bits(2)
		if r.errs != nil {
			return r.errs
		}
		if typ == 3 {
			return errors.New("block type 3")
		}
		w.blocks[typ]++
		var err error
		switch typ {
		case 0:
			r.bit = (r.bit + 7) &^ 7
			i := r.bit >> 3
			if i+4 > len(p) {
				return errors.New("short stored header")
			}
			n := int(p[i]) | int(p[i+1])<<8
			if nn := int(p[i+2]) | int(p[i+3])<<8; nn != n^0xffff {
				return errors.New("bad NLEN")
			}
			if i+4+n > len(p) {
				return errors.New("short stored block")
			}
			w.out = append(w.out, p[i+4:i+4+n]...)
			r.bit = (i + 4 + n) * 8
		case 1:
			lit := make([]int, 288)
			for i := range lit {
				lit[i] = int(fixedLit.len[i])
			}
			dist := make([]int, 32)
			for i := range dist {
				dist[i] = 5
			}
			err = w.codes(r, lit, dist)
		case 2:
			err = w.dynamic(r)
		}
		if err != nil {
			return err
		}
		if final == 1 {
			return errors.New("final block")
		}
	}
	return nil
}

func (w *walk) dynamic(r *bitReader) error {
	nlit := r.bits(5) + 257
	ndist := r.bits(5) + 1
	ncl := r.bits(4) + 4
	cl := make([]int, 19)
	for _, s := range codeLenOrder[:ncl] {
		cl[s] = r.bits(3)
	}
	cd, err := newDecoder(cl)
	if err != nil {
		return fmt.Errorf("code length code: %v", err)
	}
	for _, l := range cl {
		if l > 7 {
			return errors.New("code length code over 7 bits")
		}
	}
	lens := make([]int, 0, nlit+ndist)
	for len(lens) < nlit+ndist {
		s, err := cd.decode(r)
		if err != nil {
			return err
		}
		switch {
		case s < 16:
			lens = append(lens, s)
		case s == 16:
			if len(lens) == 0 {
				return errors.New("repeat with no length")
			}
			prev := lens[len(lens)-1]
			for range 3 + r.bits(2) {
				lens = append(lens, prev)
			}
		case s == 17:
			for range 3 + r.bits(3) {
				lens = append(lens, 0)
			}
		default:
			for range 11 + r.bits(7) {
				lens = append(lens, 0)
			}
		}
	}
	if len(lens) != nlit+ndist {
		return errors.New("code lengths overrun")
	}
	return w.codes(r, lens[:nlit], lens[nlit:])
}

func (w *walk) codes(r *bitReader, litLens, distLens []int) error {
	ld, err := newDecoder(litLens)
	if err != nil {
		return fmt.Errorf("literal/length code: %v", err)
	}
	dd, err := newDecoder(distLens)
	if err != nil {
		return fmt.Errorf("distance code: %v", err)
	}
	for {
		s, err := ld.decode(r)
		if err != nil {
			return err
		}
		switch {
		case s < 256:
			w.out = append(w.out, byte(s))
			continue
		case s == 256:
			return nil
		case s > 285:
			return errors.New("bad length symbol")
		}
		lc := s - 257
		n := int(lengthBase[lc]) + 3 + r.bits(int(lengthExtra[lc]))
		dc, err := dd.decode(r)
		if err != nil {
			return err
		}
		if dc >= 30 {
			return errors.New("bad distance symbol")
		}
		d := int(distBase[dc]) + 1 + r.bits(int(distExtra[dc]))
		if d > len(w.out) {
			return fmt.Errorf("distance %d before the start", d)
		}
		w.maxDist = max(w.maxDist, d)
		w.matches++
		for range n {
			w.out = append(w.out, w.out[len(w.out)-d])
		}
	}
}
