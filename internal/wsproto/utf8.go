package wsproto

import (
	"encoding/binary"
	"math/bits"
)

// UTF-8 validation for text messages and close reasons.
//
// RFC 6455 section 8.1 requires an endpoint to fail the connection when a
// text message is not valid UTF-8, and fragments may split a character
// anywhere. Strict conformance (the Autobahn test suite's cases 6.3 and 6.4)
// further expects the failure at the first frame that makes the message
// invalid, not at the end of the message. The validator below is therefore
// incremental: it keeps the state of a partial character between calls, and
// it rejects a byte the moment that byte makes the stream invalid, whatever
// might follow.
//
// The work is split in two. utf8Scan walks complete characters quickly:
// ASCII a word at a time, and multi-byte characters with a single 32-bit
// load and a few mask tests each. It stops at the first character it cannot
// vouch for, either because the character is invalid or because it runs
// into the end of the buffer. A small deterministic automaton then takes
// over from that point. The automaton is exact: each of its states other
// than the rejecting one can still be completed to valid UTF-8, so it
// rejects at the earliest byte possible. It runs over at most a few bytes
// per call.

// The automaton is a shift DFA: utf8Trans[b] packs, for every state s, the
// state reached on byte b from s, as 6 bits at bit offset s. A state is
// therefore its own bit offset, and a step is one load and one shift. The
// accepting state is 0 so that the zero UTF8Validator is ready to use.
const (
	utf8Accept  = 0 * 6 // at a character boundary
	utf8Reject  = 1 * 6 // invalid, for good
	utf8Need1   = 2 * 6 // one continuation byte (80..BF) to go
	utf8Need2   = 3 * 6 // two continuation bytes to go
	utf8Need3   = 4 * 6 // three continuation bytes to go
	utf8AfterE0 = 5 * 6 // E0 seen: A0..BF next (shorter forms are overlong)
	utf8AfterED = 6 * 6 // ED seen: 80..9F next (A0..BF would be a surrogate)
	utf8AfterF0 = 7 * 6 // F0 seen: 90..BF next (shorter forms are overlong)
	utf8AfterF4 = 8 * 6 // F4 seen: 80..8F next (above would exceed U+10FFFF)
)

var utf8Trans = buildUTF8Trans()

func buildUTF8Trans() (t [256]uint64) {
	set := func(from uint64, lo, hi int, to uint64) {
		for b := lo; b <= hi; b++ {
			t[b] = t[b]&^(63<<from) | to<<from
		}
	}
	// Everything not listed below goes to utf8Reject.
	for _, s := range []uint64{utf8Accept, utf8Reject, utf8Need1, utf8Need2, utf8Need3, utf8AfterE0, utf8AfterED, utf8AfterF0, utf8AfterF4} {
		set(s, 0x00, 0xFF, utf8Reject)
	}
	set(utf8Accept, 0x00, 0x7F, utf8Accept)
	set(utf8Accept, 0xC2, 0xDF, utf8Need1)
	set(utf8Accept, 0xE0, 0xE0, utf8AfterE0)
	set(utf8Accept, 0xE1, 0xEC, utf8Need2)
	set(utf8Accept, 0xED, 0xED, utf8AfterED)
	set(utf8Accept, 0xEE, 0xEF, utf8Need2)
	set(utf8Accept, 0xF0, 0xF0, utf8AfterF0)
	set(utf8Accept, 0xF1, 0xF3, utf8Need3)
	set(utf8Accept, 0xF4, 0xF4, utf8AfterF4)
	set(utf8Need1, 0x80, 0xBF, utf8Accept)
	set(utf8Need2, 0x80, 0xBF, utf8Need1)
	set(utf8Need3, 0x80, 0xBF, utf8Need2)
	set(utf8AfterE0, 0xA0, 0xBF, utf8Need1)
	set(utf8AfterED, 0x80, 0x9F, utf8Need1)
	set(utf8AfterF0, 0x90, 0xBF, utf8Need2)
	set(utf8AfterF4, 0x80, 0x8F, utf8Need2)
	return t
}

// utf8Step runs the automaton from state s over p. It stops early once the
// state is utf8Reject, which is final.
func utf8Step(s uint64, p []byte) uint64 {
	for _, b := range p {
		s = utf8Trans[b] >> (s & 63) & 63
		if s == utf8Reject {
			break
		}
	}
	return s
}

// UTF8Validator checks a byte stream for valid UTF-8 incrementally, so a text
// message can be checked frame by frame and chunk by chunk as it arrives.
// The zero value is ready to use and is at a character boundary.
type UTF8Validator struct {
	state uint8 // an automaton state: utf8Accept, utf8Reject, utf8Need1...
}

// Feed validates p as the continuation of everything fed before. It reports
// false as soon as the stream can no longer be valid UTF-8 whatever follows
// (fail-fast): an invalid byte, an overlong form (C0, C1, E0 80..9F, F0
// 80..8F), a surrogate (ED A0..BF), a code point above U+10FFFF (F4 90..,
// F5..FF), or a continuation byte where a lead byte is expected. A sequence
// that is merely incomplete at the end of p is not an error: its state is
// kept for the next feed. Once feed has reported false the validator stays
// invalid until reset.
func (v *UTF8Validator) Feed(p []byte) bool {
	s := uint64(v.state)
	if s != utf8Accept {
		// Finish the character left pending by the previous feed.
		for len(p) > 0 && s != utf8Accept && s != utf8Reject {
			s = utf8Trans[p[0]] >> (s & 63) & 63
			p = p[1:]
		}
		if s != utf8Accept {
			v.state = uint8(s)
			return s != utf8Reject
		}
	}
	s = utf8Step(utf8Accept, p[utf8Scan(p):])
	v.state = uint8(s)
	return s != utf8Reject
}

// Complete reports whether the stream seen so far ends on a character
// boundary (no partial sequence pending) and has not failed.
func (v *UTF8Validator) Complete() bool {
	return v.state == utf8Accept
}

// Reset returns the validator to its zero state.
func (v *UTF8Validator) Reset() {
	v.state = utf8Accept
}

// ValidUTF8 reports whether p is entirely valid UTF-8. It gives the same
// answer as utf8.Valid.
func ValidUTF8(p []byte) bool {
	return utf8Step(utf8Accept, p[utf8Scan(p):]) == utf8Accept
}

const hiBits64 = 0x8080808080808080

// utf8Scan returns the length of the longest prefix of p that it can confirm
// to be a sequence of complete, valid characters. It stops at a character
// that is invalid or not entirely inside p, and may also stop up to four
// bytes before the end of p; the caller checks the rest with the automaton.
//
// Each step loads the next four bytes as a little-endian word w, so the
// first byte is w&0xFF, the second (w>>8)&0xFF, and so on. The loops test
// len(q) > k rather than >= so that q[k:] is never empty, which spares the
// compiler's fix-up for slices that would point past the end.
func utf8Scan(p []byte) int {
	q := p
	for len(q) > 4 {
		w := binary.LittleEndian.Uint32(q)
		if w&0x80808080 == 0 {
			// Four ASCII bytes; there are probably more. Skip them 32 bytes
			// at a time, then 64 once a long run shows, then 8 at a time
			// up to the first non-ASCII byte.
			q = q[4:]
			for len(q) > 32 && ((binary.LittleEndian.Uint64(q)|binary.LittleEndian.Uint64(q[8:]))|
				(binary.LittleEndian.Uint64(q[16:])|binary.LittleEndian.Uint64(q[24:])))&hiBits64 == 0 {
				q = q[32:]
				for len(q) > 64 {
					a := (binary.LittleEndian.Uint64(q) | binary.LittleEndian.Uint64(q[8:])) |
						(binary.LittleEndian.Uint64(q[16:]) | binary.LittleEndian.Uint64(q[24:]))
					b := (binary.LittleEndian.Uint64(q[32:]) | binary.LittleEndian.Uint64(q[40:])) |
						(binary.LittleEndian.Uint64(q[48:]) | binary.LittleEndian.Uint64(q[56:]))
					if (a|b)&hiBits64 != 0 {
						break
					}
					q = q[64:]
				}
			}
			for len(q) > 8 {
				if m := binary.LittleEndian.Uint64(q) & hiBits64; m != 0 {
					q = q[bits.TrailingZeros64(m)>>3:]
					break
				}
				q = q[8:]
			}
			continue
		}
		// Characters of the same length tend to come in runs (Cyrillic,
		// CJK, emoji), so each case below loops for as long as the next
		// lead byte announces the same length.
		switch {
		case w&0x80 == 0:
			// A few ASCII bytes before a non-ASCII one.
			q = q[bits.TrailingZeros32(w&0x80808080)>>3:]
		case w&0xE0 == 0xC0:
			// 110xxxxx 10xxxxxx; C0 and C1 would be overlong.
			for len(q) > 4 {
				w = binary.LittleEndian.Uint32(q)
				if w&0xE0 != 0xC0 {
					break
				}
				if w&0xC000 != 0x8000 || w&0x1E == 0 {
					return len(p) - len(q)
				}
				q = q[2:]
			}
		case w&0xF0 == 0xE0:
			// 1110xxxx 10xxxxxx 10xxxxxx. The code point is at least
			// U+0800 iff the lead's low nibble or bit 5 of the first
			// continuation byte is set, and a surrogate iff the lead is
			// ED and that bit 5 is set.
			for len(q) > 4 {
				w = binary.LittleEndian.Uint32(q)
				if w&0xF0 != 0xE0 {
					break
				}
				if w&0xC0C000 != 0x808000 || w&0x200F == 0 || w&0x20FF == 0x20ED {
					return len(p) - len(q)
				}
				q = q[3:]
			}
		default:
			// 11110xxx 10xxxxxx 10xxxxxx 10xxxxxx, or an invalid byte.
			// Bits 16..20 of the code point, made of the lead's low three
			// bits and bits 4..5 of the first continuation byte, must be
			// 1..16 for U+10000..U+10FFFF.
			if w&0xF8 != 0xF0 {
				return len(p) - len(q) // 80..BF or F8..FF
			}
			for len(q) > 4 {
				w = binary.LittleEndian.Uint32(q)
				if w&0xF8 != 0xF0 {
					break
				}
				if w&0xC0C0C000 != 0x80808000 || (w&7<<2|w>>12&3)-1 >= 16 {
					return len(p) - len(q)
				}
				q = q[4:]
			}
		}
	}
	return len(p) - len(q)
}
