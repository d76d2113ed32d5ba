package websocket

import (
	"encoding/binary"
	"math/bits"
)

// This file holds the portable masking kernel. RFC 6455 section 5.3 masks a
// payload by XORing byte i with byte i%4 of a 4-byte key. The key travels
// through the package as a uint32 in little-endian order, so its low byte is
// the one applied first. A kernel that stops at a length that is not a
// multiple of four returns the key rotated so that the next call picks up the
// stream at the right key byte.

// maskGo is the portable masking kernel: it masks b in place, eight bytes at
// a time, and returns the key for the byte after b.
//
// The bytes after the last 8-byte word are masked with one access per set
// bit of their count (4, 2, 1) rather than with one more 8-byte access that
// overlaps the last word: a later load of the same bytes could not be
// forwarded from two partly overlapping stores.
func maskGo(b []byte, key uint32) uint32 {
	if len(b) >= 8 {
		k := uint64(key)<<32 | uint64(key)
		for len(b) >= 64 {
			v := b[:64:64]
			binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k)
			binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k)
			binary.LittleEndian.PutUint64(v[16:24], binary.LittleEndian.Uint64(v[16:24])^k)
			binary.LittleEndian.PutUint64(v[24:32], binary.LittleEndian.Uint64(v[24:32])^k)
			binary.LittleEndian.PutUint64(v[32:40], binary.LittleEndian.Uint64(v[32:40])^k)
			binary.LittleEndian.PutUint64(v[40:48], binary.LittleEndian.Uint64(v[40:48])^k)
			binary.LittleEndian.PutUint64(v[48:56], binary.LittleEndian.Uint64(v[48:56])^k)
			binary.LittleEndian.PutUint64(v[56:64], binary.LittleEndian.Uint64(v[56:64])^k)
			b = b[64:]
		}
		if len(b) >= 32 {
			v := b[:32:32]
			binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k)
			binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k)
			binary.LittleEndian.PutUint64(v[16:24], binary.LittleEndian.Uint64(v[16:24])^k)
			binary.LittleEndian.PutUint64(v[24:32], binary.LittleEndian.Uint64(v[24:32])^k)
			b = b[32:]
		}
		if len(b) >= 16 {
			v := b[:16:16]
			binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k)
			binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k)
			b = b[16:]
		}
		if len(b) >= 8 {
			v := b[:8:8]
			binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(v)^k)
			b = b[8:]
		}
	}
	// Every access so far covered a multiple of four bytes, so key still
	// applies from b[0].
	if len(b) == 0 {
		return key
	}
	if len(b) >= 4 {
		v := b[:4:4]
		binary.LittleEndian.PutUint32(v, binary.LittleEndian.Uint32(v)^key)
		b = b[4:]
	}
	next := bits.RotateLeft32(key, -8*len(b))
	if len(b) >= 2 {
		v := b[:2:2]
		binary.LittleEndian.PutUint16(v, binary.LittleEndian.Uint16(v)^uint16(key))
		key >>= 16
		b = b[2:]
	}
	if len(b) >= 1 {
		b[0] ^= byte(key)
	}
	return next
}

// maskKernel names one implementation of the masking stream, so that tests
// and benchmarks can run every implementation the machine supports.
type maskKernel struct {
	name string
	fn   func(b []byte, key uint32) uint32
}
