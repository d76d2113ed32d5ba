package suite

import (
	"fmt"
	"strings"
)

// Family 7: close handling.

// closeCase is a case of family 7: the close behaviour decides, and a wrong
// close code fails the case.
func closeCase(id, desc, expect string, suppress bool, onOpen func(s *session)) *Case {
	c := define(id, desc, expect, onOpen)
	c.build = func(s *session) hooks {
		s.suppressClose = suppress
		return hooks{
			onOpen:           func() { onOpen(s) },
			onConnectionLost: s.wrongCodeFails,
		}
	}
	return c
}

// informational makes a case report INFORMATIONAL whatever happens.
func informational(c *Case, explain func(s *session)) *Case {
	build := c.build
	c.build = func(s *session) hooks {
		h := build(s)
		h.onConnectionLost = func() {
			if explain != nil {
				explain(s)
			}
			s.behavior = Informational
			s.behaviorClose = Informational
		}
		return h
	}
	return c
}

func closeCases() []*Case {
	hello := []byte("Hello World!")
	clean := "A clean close with 1000."
	cs := []*Case{
		closeCase("7.1.1", "Send a text message, then close once it is echoed.", "The message comes back, then a clean close with 1000.", false, func(s *session) {
			s.expect(OK, msgEvent(hello, false))
			s.expectNormalClose()
			s.sendFrame(frame{opcode: opText, payload: hello})
			s.killAfter(seconds(1))
		}),
		closeCase("7.1.2", "Send two close frames.", "A clean close with 1000; the second close frame is ignored.", true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendClose(closeNormal, nil)
			s.sendFrame(frame{opcode: opClose})
			s.killAfter(seconds(1))
		}),
		closeCase("7.1.3", "Send a close frame, then a ping.", "A clean close with 1000 and no pong.", true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendClose(closeNormal, nil)
			s.sendFrame(frame{opcode: opPing})
			s.killAfter(seconds(1))
		}),
		closeCase("7.1.4", "Send a close frame, then a text message.", "A clean close with 1000; the message is ignored.", true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendClose(closeNormal, nil)
			s.sendFrame(frame{opcode: opText, payload: hello})
			s.killAfter(seconds(1))
		}),
		closeCase("7.1.5", "Send the first fragment of a text message, a close frame, then the last fragment.", clean, true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendFrame(frame{opcode: opText, more: true, payload: []byte("fragment1")})
			s.sendClose(closeNormal, nil)
			s.sendFrame(frame{opcode: opContinuation, payload: []byte("fragment2")})
			s.killAfter(seconds(1))
		}),
		informational(closeCase("7.1.6", "Send a text message of 256 KiB, a short text message, a close frame and a ping, back to back.",
			"Left to the implementation: the messages may or may not come back before the close.", true, func(s *session) {
				s.expect(OK, msgEvent(hello, false))
				s.expect(NonStrict)
				s.expectNormalClose()
				s.sendFrame(frame{opcode: opText, payload: []byte("BAsd7&jh23"), repeat: 256 << 10, repeatSet: true})
				s.sendFrame(frame{opcode: opText, payload: hello})
				s.sendClose(closeNormal, nil)
				s.sendFrame(frame{opcode: opPing})
				s.killAfter(seconds(1))
			}), func(s *session) {
			switch s.behavior {
			case OK:
				s.result = "Text message was processed before close."
			case NonStrict:
				s.result = "Close was processed before text message could be returned."
			}
		}),
		closeCase("7.3.1", "Send a close frame without payload (no code, no reason).", clean, true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendCloseFrame(noCode, nil, false)
			s.killAfter(seconds(1))
		}),
		closeCase("7.3.2", "Send a close frame with a payload of one octet.", "A close with 1002, or the TCP connection dropped.", true, func(s *session) {
			s.expect(OK)
			s.expectedClose = ExpectedClose{ClosedByMe: true, CloseCode: []int{closeProtocolError}}
			s.sendCloseFrame(noCode, []byte("a"), false)
			s.killAfter(seconds(1))
		}),
		closeCase("7.3.3", "Send a close frame with a code and no reason.", clean, true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendClose(closeNormal, nil)
			s.killAfter(seconds(1))
		}),
		closeCase("7.3.4", "Send a close frame with a code and a reason.", clean, true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendClose(closeNormal, []byte("Hello World!"))
			s.killAfter(seconds(1))
		}),
		closeCase("7.3.5", "Send a close frame with a code and a reason of 123 octets, the longest allowed.", clean, true, func(s *session) {
			s.expect(OK)
			s.expectNormalClose()
			s.sendClose(closeNormal, []byte(strings.Repeat("*", 123)))
			s.killAfter(seconds(1))
		}),
		closeCase("7.3.6", "Send a close frame with a code and a reason of 124 octets: a control frame payload of 126 octets.", "A close with 1002, or the TCP connection dropped.", true, func(s *session) {
			s.expect(OK)
			s.expectedClose = ExpectedClose{ClosedByMe: true, CloseCode: []int{closeProtocolError}}
			s.sendCloseFrame(closeNormal, []byte(strings.Repeat("*", 124)), false)
			s.killAfter(seconds(1))
		}),
	}
	bad := append(append(append([]byte{}, kosme...), 0xed, 0xa0, 0x80), []byte("edited")...)
	c := closeCase("7.5.1", "Send a close frame whose reason is not valid UTF-8.", "A close with 1002 or 1007, or the TCP connection dropped.", true, func(s *session) {
		s.expect(OK)
		s.expectedClose = ExpectedClose{ClosedByMe: true, CloseCode: []int{closeProtocolError, closeInvalidPayload}}
		s.sendCloseFrame(closeNormal, bad, false)
		s.killAfter(seconds(1))
	})
	c.hexCloseReason = true
	cs = append(cs, c)

	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, closeCase(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send a close frame with the valid close code %d.", code),
			"A clean close with 1000 or the same code.", false, func(s *session) {
				s.expect(OK)
				s.expectedClose = ExpectedClose{ClosedByMe: true, CloseCode: []int{closeNormal, code}, RequireClean: true}
				s.sendCloseFrame(code, nil, false)
				s.killAfter(seconds(1))
			}))
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, closeCase(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Send a close frame with the invalid close code %d.", code),
			"A close with 1002, or the TCP connection dropped.", false, func(s *session) {
				s.expect(OK)
				s.expectedClose = ExpectedClose{ClosedByMe: true, CloseCode: []int{closeProtocolError}}
				s.sendCloseFrame(code, nil, false)
				s.killAfter(seconds(1))
			}))
	}
	for i, code := range []int{5000, 65535} {
		c := define(fmt.Sprintf("7.13.%d", i+1), fmt.Sprintf("Send a close frame with the close code %d, outside the registered ranges.", code),
			"Undefined by the RFC; reported for information.", func(s *session) {
				s.expect(OK)
				s.expectedClose = ExpectedClose{ClosedByMe: true, CloseCode: []int{closeNormal, code, closeProtocolError}}
				s.sendCloseFrame(code, nil, false)
				s.killAfter(seconds(1))
			})
		base := c.build
		c.build = func(s *session) hooks {
			s.suppressClose = true
			return base(s)
		}
		cs = append(cs, informational(c, func(s *session) {
			s.result = "Actual events are undefined by the spec."
		}))
	}
	return cs
}
