package suite

import "encoding/binary"

// utf8Validator checks UTF-8 incrementally, byte by byte, so that it fails
// on the first byte that cannot start or continue a valid sequence (no
// surrogates, no overlong forms, nothing above U+10FFFF).
type utf8Validator struct {
	need   int  // continuation bytes still expected
	lo, hi byte // allowed range of the next continuation byte
	bad    bool // an invalid byte was seen; the input stays invalid
}

// write validates p and reports whether everything so far is valid.
func (v *utf8Validator) write(p []byte) bool {
	if v.bad {
		return false
	}
	if v.need == 0 {
		// ASCII fast path, eight octets at a time.
		for len(p) >= 8 && binary.LittleEndian.Uint64(p)&0x8080808080808080 == 0 {
			p = p[8:]
		}
	}
	for _, b := range p {
		if v.need == 0 {
			if b < 0x80 {
				continue
			}
			v.lo, v.hi = 0x80, 0xBF
			switch {
			case b >= 0xC2 && b <= 0xDF:
				v.need = 1
			case b == 0xE0:
				v.need, v.lo = 2, 0xA0
			case b == 0xED:
				v.need, v.hi = 2, 0x9F
			case b >= 0xE1 && b <= 0xEF:
				v.need = 2
			case b == 0xF0:
				v.need, v.lo = 3, 0x90
			case b >= 0xF1 && b <= 0xF3:
				v.need = 3
			case b == 0xF4:
				v.need, v.hi = 3, 0x8F
			default:
				v.bad = true
				return false
			}
			continue
		}
		if b < v.lo || b > v.hi {
			v.bad = true
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xBF
	}
	return true
}

// complete reports whether the input so far ended on a code point boundary.
func (v *utf8Validator) complete() bool { return !v.bad && v.need == 0 }

// reset forgets all input.
func (v *utf8Validator) reset() { *v = utf8Validator{} }
