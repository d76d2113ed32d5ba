package websocket

import (
	"encoding/binary"
	"fmt"
)

// opcode is the 4-bit frame type of RFC 6455, section 5.2.
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

func (op opcode) isControl() bool { return op&0x8 != 0 }

func (op opcode) isReserved() bool {
	switch op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
		return false
	}
	return true
}

func (op opcode) String() string {
	switch op {
	case opContinuation:
		return "continuation"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return fmt.Sprintf("reserved opcode %#x", byte(op))
}

const (
	// maxHeaderSize is the longest frame header: 2 fixed bytes, an 8-byte
	// extended length and a 4-byte masking key.
	maxHeaderSize = 14
	// maxControlPayload is the largest payload a control frame may carry.
	maxControlPayload = 125
	// maxControlFrame is the largest control frame on the wire.
	maxControlFrame = maxHeaderSize + maxControlPayload
)

// Bits of the first two header bytes.
const (
	bitFin  = 0x80
	bitRsv1 = 0x40
	bitRsv2 = 0x20
	bitRsv3 = 0x10
	bitMask = 0x80
)

// header is a decoded frame header.
type header struct {
	fin    bool
	rsv    byte // the RSV1-3 bits as they sit in the first byte (bitRsv1|bitRsv2|bitRsv3)
	op     opcode
	masked bool
	key    uint32 // masking key, first wire byte in the low byte
	length int64  // payload length
}

// headerLen returns how many bytes the header starting with b0 b1 occupies,
// judged from its second byte alone.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&bitMask != 0 {
		n += 4
	}
	return n
}

// errLengthOverflow reports a 64-bit payload length with its top bit set,
// which RFC 6455 forbids.
var errLengthOverflow = fmt.Errorf("64-bit payload length has its most significant bit set")

// parseHeader decodes a frame header from b, which must hold at least
// headerLen(b[1]) bytes. It checks only what the wire format itself forbids;
// protocol rules that depend on the connection are checked by the reader.
func parseHeader(b []byte) (h header, n int, err error) {
	b0, b1 := b[0], b[1]
	h.fin = b0&bitFin != 0
	h.rsv = b0 & (bitRsv1 | bitRsv2 | bitRsv3)
	h.op = opcode(b0 & 0x0f)
	h.masked = b1&bitMask != 0
	n = 2
	switch l := b1 & 0x7f; l {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return h, 0, errLengthOverflow
		}
		h.length = int64(u)
		n = 10
	default:
		h.length = int64(l)
	}
	if h.masked {
		h.key = binary.LittleEndian.Uint32(b[n : n+4])
		n += 4
	}
	return h, n, nil
}

// appendHeader encodes h into b, which must have room for maxHeaderSize
// bytes, and returns the encoded length.
func putHeader(b []byte, h header) int {
	b0 := h.rsv | byte(h.op)
	if h.fin {
		b0 |= bitFin
	}
	b[0] = b0
	var b1 byte
	if h.masked {
		b1 = bitMask
	}
	n := 2
	switch {
	case h.length <= 125:
		b[1] = b1 | byte(h.length)
	case h.length <= 0xffff:
		b[1] = b1 | 126
		binary.BigEndian.PutUint16(b[2:4], uint16(h.length))
		n = 4
	default:
		b[1] = b1 | 127
		binary.BigEndian.PutUint64(b[2:10], uint64(h.length))
		n = 10
	}
	if h.masked {
		binary.LittleEndian.PutUint32(b[n:n+4], h.key)
		n += 4
	}
	return n
}
