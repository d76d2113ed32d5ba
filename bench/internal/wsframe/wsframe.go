// Package wsframe encodes WebSocket frames (RFC 6455, section 5.2) for the
// benchmarks: pre-encoded input streams and the load generator's requests.
package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
)

// Opcodes used by the benchmarks.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// MaxHeaderSize is the largest frame header: 2 bytes, an 8-byte length and
// a 4-byte masking key.
const MaxHeaderSize = 14

// AppendHeader appends a final frame's header for a payload of n bytes.
// When masked is true, key is written as the masking key.
func AppendHeader(dst []byte, op byte, n int, masked bool, key [4]byte) []byte {
	dst = append(dst, 0x80|op)
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		dst = append(dst, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if masked {
		dst = append(dst, key[:]...)
	}
	return dst
}

// AppendFrame appends one final frame carrying payload, masked with key when
// masked is true (as a client sends it).
func AppendFrame(dst []byte, op byte, payload []byte, masked bool, key [4]byte) []byte {
	dst = AppendHeader(dst, op, len(payload), masked, key)
	start := len(dst)
	dst = append(dst, payload...)
	if masked {
		Mask(dst[start:], key)
	}
	return dst
}

// Mask XORs p in place with key, starting at key[0]. It is a plain byte
// loop: the benchmarks use it only to prepare inputs.
func Mask(p []byte, key [4]byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// ParseHeader decodes the header at the start of b. It returns the header's
// length, or 0 when b does not hold a whole header yet.
func ParseHeader(b []byte) (op byte, fin bool, length int64, hlen int) {
	if len(b) < 2 {
		return 0, false, 0, 0
	}
	op = b[0] & 0x0F
	fin = b[0]&0x80 != 0
	masked := b[1]&0x80 != 0
	hlen = 2
	switch l := b[1] & 0x7F; l {
	case 126:
		hlen += 2
	case 127:
		hlen += 8
	default:
		length = int64(l)
	}
	if masked {
		hlen += 4
	}
	if len(b) < hlen {
		return 0, false, 0, 0
	}
	switch b[1] & 0x7F {
	case 126:
		length = int64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		length = int64(binary.BigEndian.Uint64(b[2:10]))
	}
	return op, fin, length, hlen
}

// acceptGUID is the GUID of RFC 6455, section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AppendAccept appends the Sec-WebSocket-Accept value for key, without
// allocating.
func AppendAccept(dst []byte, key []byte) []byte {
	var in [128]byte
	n := copy(in[:], key)
	n += copy(in[n:], acceptGUID)
	sum := sha1.Sum(in[:n])
	var enc [28]byte
	base64.StdEncoding.Encode(enc[:], sum[:])
	return append(dst, enc[:]...)
}
