package suite

import (
	"encoding/binary"
	"fmt"
)

// The closing handshake and failing the connection, as Autobahn's engine
// does them.

func (s *session) dropConnection(abort bool) {
	if s.state == stateClosed {
		return
	}
	s.droppedByMe = true
	s.state = stateClosed
	if abort {
		s.w.stop()
		abortTransport(s.conn)
		return
	}
	s.w.push(writeItem{close: true})
}

func (s *session) failConnection(code int, reason string) {
	if s.state == stateClosed {
		return
	}
	s.failedByMe = true
	if s.state != stateClosing {
		r := []byte(reason)
		if len(r) > 123 {
			r = r[:123]
		}
		s.sendCloseFrame(code, r, false)
	} else {
		s.dropConnection(false)
	}
}

func (s *session) protocolViolation(reason string) {
	s.failConnection(closeProtocolError, reason)
}

func (s *session) invalidPayload(reason string) {
	s.failConnection(closeInvalidPayload, reason)
}

func (s *session) onCloseHandshakeTimeout() {
	s.closeHandshakeCall = nil
	if s.state != stateClosed {
		s.wasClean = false
		s.setNotClean("peer did not respond (in time) in closing handshake")
		s.wasCloseHandshakeTimeout = true
		s.dropConnection(true)
	}
}

func (s *session) onServerConnectionDropTimeout() {
	s.serverDropCall = nil
	if s.state != stateClosed {
		s.wasClean = false
		s.setNotClean("server did not drop TCP connection (in time)")
		s.wasServerConnectionDropTimeout = true
		s.dropConnection(true)
	}
}

func (s *session) onCloseFrame(code int, reason []byte) {
	if code != noCode {
		c := code
		s.remoteCloseCode = &c
		if code < 1000 || (code <= 2999 && !allowedCloseCodes[code]) || code >= 5000 {
			s.protocolViolation(fmt.Sprintf("invalid close code %d", code))
		}
	} else {
		s.remoteCloseCode = nil
	}
	if reason == nil {
		s.remoteCloseReason = nil
	} else {
		// Like Autobahn, a reason that merely ends inside a code point is
		// accepted.
		var v utf8Validator
		if !v.write(reason) {
			s.invalidPayload("invalid close reason (non-UTF-8 payload)")
		}
		r := string(reason)
		s.remoteCloseReason = &r
	}
	switch s.state {
	case stateClosing:
		// The peer's reply to our close.
		if s.closeHandshakeCall != nil {
			s.closeHandshakeCall.cancel()
			s.closeHandshakeCall = nil
		}
		s.wasClean = true
		if s.isServer {
			s.dropConnection(true)
		} else {
			s.serverDropCall = s.callLater(serverConnectionDropTimeout, s.onServerConnectionDropTimeout)
		}
	case stateOpen:
		// The peer starts the closing handshake; reply with a normal close.
		s.wasClean = true
		s.sendCloseFrame(closeNormal, nil, true)
		if s.isServer {
			s.dropConnection(false)
		}
	case stateClosed:
		s.wasClean = false
	}
}

func (s *session) sendCloseFrame(code int, reason []byte, isReply bool) {
	if s.state != stateOpen {
		return
	}
	var payload []byte
	if code != noCode {
		payload = binary.BigEndian.AppendUint16(payload, uint16(code))
	}
	payload = append(payload, reason...)
	s.sendFrame(frame{opcode: opClose, payload: payload})
	s.state = stateClosing
	s.closedByMe = !isReply
	if code != noCode {
		c := code
		s.localCloseCode = &c
	}
	if reason != nil {
		s.localCloseReason = reason
		s.localCloseReasonSet = true
	}
	if s.closedByMe {
		s.closeHandshakeCall = s.callLater(closeHandshakeTimeout, s.onCloseHandshakeTimeout)
	}
}

func (s *session) sendClose(code int, reason []byte) {
	s.sendCloseFrame(code, reason, false)
}
