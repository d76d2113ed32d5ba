package wsproto

import (
	"encoding/binary"
	"fmt"
)

// Opcode is the 4-bit frame type of RFC 6455, section 5.2.
type Opcode byte

// Opcodes of RFC 6455.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control frame's opcode.
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// IsReserved reports whether op is one RFC 6455 leaves undefined.
func (op Opcode) IsReserved() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("reserved opcode %#x", byte(op))
}

const (
	// MaxHeaderSize is the longest frame header: 2 fixed bytes, an 8-byte
	// extended length and a 4-byte masking key.
	MaxHeaderSize = 14
	// MaxControlPayload is the largest payload a control frame may carry.
	MaxControlPayload = 125
	// MaxControlFrame is the largest control frame on the wire.
	MaxControlFrame = MaxHeaderSize + MaxControlPayload
)

// Bits of the first two header bytes.
const (
	BitFin  = 0x80
	BitRsv1 = 0x40
	BitRsv2 = 0x20
	BitRsv3 = 0x10
	BitMask = 0x80
)

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Rsv    byte // the RSV1-3 bits as they sit in the first byte (BitRsv1|BitRsv2|BitRsv3)
	Op     Opcode
	Masked bool
	Key    uint32 // masking key, first wire byte in the low byte
	Length int64  // payload length
}

// HeaderLen returns how many bytes a header occupies, judged from its
// second byte alone.
func HeaderLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&BitMask != 0 {
		n += 4
	}
	return n
}

// ErrLengthOverflow reports a 64-bit payload length with its top bit set,
// which RFC 6455 forbids.
var ErrLengthOverflow = fmt.Errorf("64-bit payload length has its most significant bit set")

// ParseHeader decodes a frame header from b, which must hold at least
// HeaderLen(b[1]) bytes. It checks only what the wire format itself
// forbids; the rules that depend on the connection are the Decoder's. A
// length written in more bytes than it needs is taken at its value: RFC
// 6455 5.2 asks the sender for the fewest bytes but gives a receiver no
// action, and the value is unambiguous.
func ParseHeader(b []byte) (h Header, n int, err error) {
	b0, b1 := b[0], b[1]
	h.Fin = b0&BitFin != 0
	h.Rsv = b0 & (BitRsv1 | BitRsv2 | BitRsv3)
	h.Op = Opcode(b0 & 0x0f)
	h.Masked = b1&BitMask != 0
	n = 2
	switch l := b1 & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return h, 0, ErrLengthOverflow
		}
		h.Length = int64(u)
		n = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		h.Key = binary.LittleEndian.Uint32(b[n : n+4])
		n += 4
	}
	return h, n, nil
}

// PutHeader encodes h into b, which must have room for MaxHeaderSize
// bytes, and returns the encoded length.
func PutHeader(b []byte, h Header) int {
	n := PutUnmaskedHeader(b, h.Fin, h.Op, h.Rsv, h.Length)
	if h.Masked {
		b[1] |= BitMask
		binary.LittleEndian.PutUint32(b[n:n+4], h.Key)
		n += 4
	}
	return n
}

// PutUnmaskedHeader encodes the header of an unmasked frame, as a server
// sends, into b, which must have room for 10 bytes, and returns its
// length. It takes the fields one by one: the hot write path of a server
// then copies no Header.
func PutUnmaskedHeader(b []byte, fin bool, op Opcode, rsv byte, length int64) int {
	b0 := rsv | byte(op)
	if fin {
		b0 |= BitFin
	}
	b[0] = b0
	switch {
	case length <= 125:
		b[1] = byte(length)
		return 2
	case length <= 0xffff:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:4], uint16(length))
		return 4
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:10], uint64(length))
		return 10
	}
}

// Mask XORs b in place with the masking key stream starting at key, and
// returns the key for the byte after b. The websocket package installs its
// assembly kernels here; the default is a portable byte loop, so this
// package stands alone in its tests.
var Mask = func(b []byte, key uint32) uint32 {
	for i := range b {
		b[i] ^= byte(key)
		key = key>>8 | key<<24
	}
	return key
}
