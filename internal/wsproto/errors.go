package wsproto

import (
	"encoding/binary"
	"strconv"
)

// Close codes a Decoder reports failures with (RFC 6455, section 7.4.1).
const (
	CloseNormal         = 1000
	CloseProtocolError  = 1002
	CloseNoStatus       = 1005
	CloseInvalidPayload = 1007
	CloseMessageTooBig  = 1009
	// MaxCloseReason is the longest reason a close frame can carry.
	MaxCloseReason = MaxControlPayload - 2
)

// Cause tells apart the failures a caller may want to branch on.
type Cause uint8

// Causes of an Error.
const (
	CauseProtocol Cause = iota // a rule of RFC 6455 or RFC 7692 was broken
	CauseUTF8                  // text or a close reason is not valid UTF-8
	CauseTooBig                // a message exceeds the read limit
)

// Error is a failure of the peer: the connection must be failed with Code.
type Error struct {
	Code   uint16
	Reason string
	Cause  Cause
}

func (e *Error) Error() string { return e.Reason + " (close code " + strconv.Itoa(int(e.Code)) + ")" }

func protocolError(reason string) *Error {
	return &Error{Code: CloseProtocolError, Reason: reason, Cause: CauseProtocol}
}

// CodeValidOnWire reports whether code may appear in a close frame:
// 1000-1003, 1007-1014 and the application range 3000-4999.
func CodeValidOnWire(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ParseClose decodes a close frame's payload. An empty payload means no
// code (1005). A one-byte payload, a code that may not be sent, or a
// reason that is not UTF-8 (when checked) is an error.
func ParseClose(p []byte, checkUTF8 bool) (code uint16, reason []byte, err *Error) {
	switch len(p) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, protocolError("close frame payload of one byte")
	}
	code = binary.BigEndian.Uint16(p)
	if !CodeValidOnWire(code) {
		return 0, nil, protocolError("invalid close code " + strconv.Itoa(int(code)))
	}
	reason = p[2:]
	if checkUTF8 && !ValidUTF8(reason) {
		return 0, nil, &Error{Code: CloseInvalidPayload, Reason: "close reason is not valid UTF-8", Cause: CauseUTF8}
	}
	return code, reason, nil
}

// AppendClose appends a close frame's payload: nothing for 1005, else the
// code and the reason, which the caller keeps within MaxCloseReason bytes.
func AppendClose(b []byte, code uint16, reason string) []byte {
	if code == CloseNoStatus {
		return b
	}
	b = binary.BigEndian.AppendUint16(b, code)
	return append(b, reason...)
}
