package suite

import (
	"encoding/binary"
	"math/rand/v2"
)

// Opcodes of RFC 6455, section 5.2. The suite deliberately also sends the
// reserved ones, so they are plain numbers rather than a closed type.
const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
	opPing         = 9
	opPong         = 10
)

// frameHeader is a decoded frame header.
type frameHeader struct {
	opcode int
	fin    bool
	rsv    int
	length uint64
	masked bool
	mask   [4]byte
}

// appendHeader appends the wire form of a frame header. A nil mask leaves
// the frame unmasked. The length is always encoded minimally.
func appendHeader(b []byte, opcode int, fin bool, rsv int, length uint64, mask []byte) []byte {
	b0 := byte(opcode % 128)
	if fin {
		b0 |= 0x80
	}
	b0 |= byte(rsv%8) << 4
	var b1 byte
	if mask != nil {
		b1 = 0x80
	}
	switch {
	case length <= 125:
		b = append(b, b0, b1|byte(length))
	case length <= 0xFFFF:
		b = append(b, b0, b1|126)
		b = binary.BigEndian.AppendUint16(b, uint16(length))
	default:
		b = append(b, b0, b1|127)
		b = binary.BigEndian.AppendUint64(b, length)
	}
	if mask != nil {
		b = append(b, mask[:4]...)
	}
	return b
}

// buildFrame returns the complete wire form of one frame. The payload is
// masked in the copy, never in place.
func buildFrame(opcode int, fin bool, rsv int, payload []byte, mask []byte) []byte {
	b := make([]byte, 0, 14+len(payload))
	b = appendHeader(b, opcode, fin, rsv, uint64(len(payload)), mask)
	start := len(b)
	b = append(b, payload...)
	if mask != nil {
		maskBytes(b[start:], [4]byte(mask[:4]), 0)
	}
	return b
}

// repeatPayload returns n bytes made by repeating p, as Autobahn does for
// frames sent with an explicit payload length.
func repeatPayload(p []byte, n int) []byte {
	out := make([]byte, n)
	if len(p) == 0 {
		return out
	}
	for i := 0; i < n; i += len(p) {
		copy(out[i:], p)
	}
	return out
}

// newMask returns a random masking key.
func newMask() []byte {
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], rand.Uint32())
	return m[:]
}

// maskBytes XORs b with the key, starting at key offset pos, and returns the
// key offset after b.
func maskBytes(b []byte, key [4]byte, pos int) int {
	pos &= 3
	for len(b) > 0 && pos != 0 {
		b[0] ^= key[pos]
		b = b[1:]
		pos = (pos + 1) & 3
	}
	k32 := uint32(key[0]) | uint32(key[1])<<8 | uint32(key[2])<<16 | uint32(key[3])<<24
	k64 := uint64(k32) | uint64(k32)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
	return (pos + len(b)) & 3
}
