package suite

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Parsing what the peer sends. A protocol violation fails the connection
// with a close frame, and parsing goes on so that the peer's answer to that
// close is still seen.

func (s *session) processData() bool {
	if s.cur == nil {
		if len(s.data) < 2 {
			return false
		}
		b0, b1 := s.data[0], s.data[1]
		fin := b0&0x80 != 0
		rsv := int(b0&0x70) >> 4
		opcode := int(b0 & 0x0f)
		masked := b1&0x80 != 0
		len1 := int(b1 & 0x7f)

		if rsv != 0 && !(s.pmce != nil && rsv == 4) {
			s.protocolViolation(fmt.Sprintf("RSV = %d and no extension negotiated", rsv))
		}
		if s.isServer && !masked {
			s.protocolViolation("unmasked client-to-server frame")
		}
		if !s.isServer && masked {
			s.protocolViolation("masked server-to-client frame")
		}
		if opcode > 7 {
			if !fin {
				s.protocolViolation("fragmented control frame")
			}
			if len1 > 125 {
				s.protocolViolation("control frame with payload length > 125 octets")
			}
			if opcode != opClose && opcode != opPing && opcode != opPong {
				s.protocolViolation(fmt.Sprintf("control frame using reserved opcode %d", opcode))
			}
			if opcode == opClose && len1 == 1 {
				s.protocolViolation("received close control frame with payload len 1")
			}
			if s.pmce != nil && rsv == 4 {
				s.protocolViolation("received compressed control frame [permessage-deflate]")
			}
		} else {
			if opcode > 2 {
				s.protocolViolation(fmt.Sprintf("data frame using reserved opcode %d", opcode))
			}
			if !s.insideMessage && opcode == opContinuation {
				s.protocolViolation("received continuation data frame outside fragmented message")
			}
			if s.insideMessage && opcode != opContinuation {
				s.protocolViolation("received non-continuation data frame while inside fragmented message")
			}
			if s.pmce != nil && rsv == 4 && s.insideMessage {
				s.protocolViolation("received continuation data frame with compress bit set [permessage-deflate]")
			}
		}
		hlen := 2
		if masked {
			hlen += 4
		}
		switch len1 {
		case 126:
			hlen += 2
		case 127:
			hlen += 8
		}
		if len(s.data) < hlen {
			return false
		}
		i := 2
		length := uint64(len1)
		switch len1 {
		case 126:
			length = uint64(binary.BigEndian.Uint16(s.data[2:]))
			if length < 126 {
				s.protocolViolation("invalid data frame length (not using minimal length encoding)")
			}
			i += 2
		case 127:
			length = binary.BigEndian.Uint64(s.data[2:])
			if length > 1<<63-1 {
				s.protocolViolation("invalid data frame length (>2^63)")
			}
			if length < 65536 {
				s.protocolViolation("invalid data frame length (not using minimal length encoding)")
			}
			i += 8
		}
		h := &frameHeader{opcode: opcode, fin: fin, rsv: rsv, length: length, masked: masked}
		if masked {
			copy(h.mask[:], s.data[i:i+4])
			i += 4
		}
		s.data = s.data[i:]
		s.cur = h
		s.curPos = 0
		s.maskPos = 0
		s.onFrameBegin()
		return length == 0 || len(s.data) > 0
	}

	rest := s.cur.length - s.curPos
	var chunk []byte
	if uint64(len(s.data)) >= rest {
		chunk = s.data[:rest:rest]
		s.data = s.data[rest:]
	} else {
		chunk = s.data
		s.data = nil
	}
	// The buffer is the session's own, so the payload is unmasked in
	// place; whoever keeps it copies it.
	if s.cur.masked && len(chunk) > 0 {
		s.maskPos = maskBytes(chunk, s.cur.mask, s.maskPos)
	}
	s.curPos += uint64(len(chunk))
	s.onFrameData(chunk)
	if s.curPos == s.cur.length {
		s.onFrameEnd()
	}
	return len(s.data) > 0
}

func (s *session) onFrameBegin() {
	if s.cur.opcode > 7 {
		s.controlData = s.controlData[:0]
		return
	}
	if !s.insideMessage {
		s.insideMessage = true
		s.msgCompressed = s.pmce != nil && s.cur.rsv == 4
		s.utf8Check = s.cur.opcode == opText
		s.utf8.reset()
		s.msgBinary = s.cur.opcode == opBinary
		s.msgData = nil
	}
	s.frameStart = len(s.msgData)
	// Make room for the frame, within reason: the peer declares the length.
	if n := min(s.cur.length, 16<<20); !s.failedByMe && uint64(cap(s.msgData)-len(s.msgData)) < n {
		s.msgData = slices.Grow(s.msgData, int(n))
	}
}

func (s *session) onFrameData(p []byte) {
	if s.cur.opcode > 7 {
		s.controlData = append(s.controlData, p...)
		return
	}
	if s.msgCompressed {
		if s.state == stateOpen {
			s.traffic.IncomingOctetsWebSocketLevel += len(p)
		}
		if !s.failedByMe {
			s.msgData = append(s.msgData, p...)
		}
		return
	}
	if s.state == stateOpen {
		s.traffic.IncomingOctetsWebSocketLevel += len(p)
		s.traffic.IncomingOctetsAppLevel += len(p)
	}
	if s.utf8Check && !s.utf8.write(p) {
		s.invalidPayload("encountered invalid UTF-8 while processing text message")
	}
	if !s.failedByMe {
		s.msgData = append(s.msgData, p...)
	}
}

func (s *session) onFrameEnd() {
	h := s.cur
	if h.opcode > 7 {
		s.logRxFrame(h, s.controlData)
		s.processControlFrame()
		s.cur = nil
		return
	}
	if s.state == stateOpen {
		s.traffic.IncomingWebSocketFrames++
	}
	if s.frameStart <= len(s.msgData) {
		s.logRxFrame(h, s.msgData[s.frameStart:])
	} else {
		s.logRxFrame(h, nil)
	}
	if s.failedByMe {
		s.msgData = nil
	}
	if h.fin {
		payload := s.msgData
		s.msgData = nil
		if s.msgCompressed && !s.failedByMe {
			out, err := s.pmce.decompress(payload)
			if err != nil {
				s.protocolViolation("invalid compressed message: " + err.Error())
			}
			if s.state == stateOpen {
				s.traffic.IncomingOctetsAppLevel += len(out)
			}
			payload = out
			if s.utf8Check && !s.utf8.write(payload) {
				s.invalidPayload("encountered invalid UTF-8 while processing text message")
			}
		}
		if s.utf8Check && !s.utf8.complete() {
			s.invalidPayload("UTF-8 text message payload ended within Unicode code point")
		}
		if s.state == stateOpen {
			s.traffic.IncomingWebSocketMessages++
		}
		s.insideMessage = false
		if !s.failedByMe {
			if payload == nil {
				payload = []byte{}
			}
			s.onMessage(payload, s.msgBinary)
		}
	}
	s.cur = nil
}

func (s *session) processControlFrame() {
	payload := append([]byte(nil), s.controlData...)
	switch s.cur.opcode {
	case opClose:
		code := noCode
		var reason []byte
		if len(payload) > 1 {
			code = int(binary.BigEndian.Uint16(payload))
			if len(payload) > 2 {
				reason = payload[2:]
			}
		}
		s.onCloseFrame(code, reason)
	case opPing:
		if s.state == stateOpen {
			s.sendFrame(frame{opcode: opPong, payload: payload})
		}
	case opPong:
		s.onPong(payload)
	}
}
