package suite

import "fmt"

// Families 1 to 5: framing, pings and pongs, reserved bits, opcodes and
// fragmentation.

func framingCases() []*Case {
	var cs []*Case
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536, 65536}
	for bin := 0; bin < 2; bin++ {
		for i, n := range sizes {
			kind, opcode, fill := "text", opText, byte('*')
			if bin == 1 {
				kind, opcode, fill = "binary", opBinary, 0xfe
			}
			chop, kill := 0, 1.0
			if i == 7 {
				chop = 997
			}
			if n > 128 {
				kill = 10
			}
			desc := fmt.Sprintf("Send a %s message with a payload of %d octets in a single frame.", kind, n)
			if chop > 0 {
				desc = fmt.Sprintf("Send a %s message with a payload of %d octets, written to the socket in pieces of %d octets.", kind, n, chop)
			}
			payload := repeatByte(fill, n)
			isBin := bin == 1
			cs = append(cs, define(fmt.Sprintf("1.%d.%d", bin+1, i+1), desc,
				"The message comes back unchanged, then the connection closes cleanly with 1000.",
				func(s *session) {
					s.expect(OK, msgEvent(payload, isBin))
					s.expectNormalClose()
					s.sendFrame(frame{opcode: opcode, payload: payload, chop: chop})
					s.killAfter(seconds(kill))
				}))
		}
	}
	return cs
}

func pingCases() []*Case {
	pong := "A pong with the ping's payload comes back; then a clean close with 1000."
	ping := func(id, desc string, payload []byte, chop int, wait float64) *Case {
		return define(id, desc, pong, func(s *session) {
			s.expect(OK, pongEvent(payload))
			s.expectNormalClose()
			s.sendFrame(frame{opcode: opPing, payload: payload, chop: chop})
			s.closeAfter(seconds(wait))
		})
	}
	cs := []*Case{
		ping("2.1", "Send a ping without payload.", []byte{}, 0, 1),
		ping("2.2", "Send a ping with a short text payload.", []byte("Hello, world!"), 0, 1),
		ping("2.3", "Send a ping with a short binary payload that is not UTF-8.", []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}, 0, 1),
		ping("2.4", "Send a ping with a binary payload of 125 octets, the largest a control frame may carry.", repeatByte(0xfe, 125), 0, 1),
		define("2.5", "Send a ping with a binary payload of 126 octets, one more than a control frame may carry.",
			"The peer fails the connection at once with 1002 (protocol error).",
			func(s *session) {
				s.expect(OK)
				s.expectFailedBy(closeProtocolError)
				s.sendFrame(frame{opcode: opPing, payload: repeatByte(0xfe, 126)})
				s.killAfter(seconds(1))
			}),
		ping("2.6", "Send a ping with a binary payload of 125 octets, written one octet at a time.", repeatByte(0xfe, 125), 1, 2),
		define("2.7", "Send an unsolicited pong without payload, then close.",
			"Nothing comes back for the pong; the connection closes cleanly with 1000.",
			func(s *session) {
				s.expect(OK)
				s.expectNormalClose()
				s.sendFrame(frame{opcode: opPong})
				s.sendClose(closeNormal, nil)
				s.closeAfter(seconds(1))
			}),
		define("2.8", "Send an unsolicited pong with payload, then close.",
			"Nothing comes back for the pong; the connection closes cleanly with 1000.",
			func(s *session) {
				s.expect(OK)
				s.expectNormalClose()
				s.sendFrame(frame{opcode: opPong, payload: []byte("unsolicited pong payload")})
				s.sendClose(closeNormal, nil)
				s.closeAfter(seconds(1))
			}),
		define("2.9", "Send an unsolicited pong with payload, then a ping with payload.",
			"Only the pong for the ping comes back; then a clean close with 1000.",
			func(s *session) {
				s.expect(OK, pongEvent([]byte("ping payload")))
				s.expectNormalClose()
				s.sendFrame(frame{opcode: opPong, payload: []byte("unsolicited pong payload")})
				s.sendFrame(frame{opcode: opPing, payload: []byte("ping payload")})
				s.closeAfter(seconds(1))
			}),
	}
	for i, chop := range []int{0, 1} {
		desc := "Send ten pings with distinct payloads."
		if chop == 1 {
			desc = "Send ten pings with distinct payloads, written one octet at a time."
		}
		cs = append(cs, define(fmt.Sprintf("2.%d", 10+i), desc,
			"A pong for every ping, in order (the RFC allows skipping some; this case does not); then a clean close with 1000.",
			func(s *session) {
				var evs []event
				for j := range 10 {
					p := []byte(fmt.Sprintf("payload-%d", j))
					evs = append(evs, pongEvent(p))
					s.sendFrame(frame{opcode: opPing, payload: p, chop: chop})
				}
				s.expect(OK, evs...)
				s.expectNormalClose()
				s.closeAfter(seconds(3))
			}))
	}
	return cs
}

func reservedBitCases() []*Case {
	hello := []byte("Hello, world!")
	fail := "The peer fails the connection with 1002 as soon as it sees a reserved bit, since no extension gives it a meaning."
	echoThenFail := "The first message comes back; the peer then fails the connection with 1002 on the reserved bit, before answering the ping."
	rsvAfterEcho := func(id, desc string, rsv int, sync bool, chop int) *Case {
		return define(id, desc, echoThenFail, func(s *session) {
			s.expect(OK, msgEvent(hello, false))
			s.expect(NonStrict)
			s.expectFailedBy(closeProtocolError)
			s.sendFrame(frame{opcode: opText, payload: hello, sync: sync, chop: chop})
			s.sendFrame(frame{opcode: opText, payload: hello, rsv: rsv, sync: sync, chop: chop})
			s.sendFrame(frame{opcode: opPing, sync: sync, chop: chop})
			s.killAfter(seconds(1))
		})
	}
	single := func(id, desc string, f frame) *Case {
		return define(id, desc, fail, func(s *session) {
			s.expect(OK)
			s.expectFailedBy(closeProtocolError)
			s.sendFrame(f)
			s.killAfter(seconds(1))
		})
	}
	return []*Case{
		single("3.1", "Send a short text message with RSV = 1.", frame{opcode: opText, payload: hello, rsv: 1}),
		rsvAfterEcho("3.2", "Send a text message, the same message again with RSV = 2, then a ping.", 2, false, 0),
		rsvAfterEcho("3.3", "Send a text message, the same message again with RSV = 3, then a ping; every frame in a write of its own.", 3, true, 0),
		rsvAfterEcho("3.4", "Send a text message, the same message again with RSV = 4, then a ping; everything written one octet at a time.", 4, false, 1),
		single("3.5", "Send a short binary message with RSV = 5.", frame{opcode: opBinary, payload: []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}, rsv: 5}),
		// Autobahn's 3.6 sends a binary frame (opcode 2), not a ping.
		single("3.6", "Send a short binary frame with RSV = 6.", frame{opcode: opBinary, payload: hello, rsv: 6}),
		single("3.7", "Send a close frame with RSV = 7.", frame{opcode: opClose, rsv: 7}),
	}
}

func opcodeCases() []*Case {
	hello := []byte("Hello, world!")
	fail := "The peer fails the connection with 1002 on the reserved opcode."
	echoThenFail := "The first message comes back; the peer then fails the connection with 1002 on the reserved opcode, before answering the ping."
	single := func(id string, opcode int, payload []byte) *Case {
		desc := fmt.Sprintf("Send a frame with the reserved opcode %d.", opcode)
		if payload != nil {
			desc = fmt.Sprintf("Send a frame with the reserved opcode %d and a payload.", opcode)
		}
		return define(id, desc, fail, func(s *session) {
			s.expect(OK)
			s.expectFailedBy(closeProtocolError)
			s.sendFrame(frame{opcode: opcode, payload: payload})
			s.killAfter(seconds(1))
		})
	}
	afterEcho := func(id string, opcode int, payload []byte, chop int) *Case {
		desc := fmt.Sprintf("Send a text message, then a frame with the reserved opcode %d, then a ping.", opcode)
		if chop > 0 {
			desc = fmt.Sprintf("Send a text message, then a frame with the reserved opcode %d, then a ping; everything written one octet at a time.", opcode)
		}
		return define(id, desc, echoThenFail, func(s *session) {
			s.expect(OK, msgEvent(hello, false))
			s.expect(NonStrict)
			s.expectFailedBy(closeProtocolError)
			s.sendFrame(frame{opcode: opText, payload: hello, chop: chop})
			s.sendFrame(frame{opcode: opcode, payload: payload, chop: chop})
			s.sendFrame(frame{opcode: opPing, chop: chop})
			s.killAfter(seconds(1))
		})
	}
	reserved := []byte("reserved opcode payload")
	return []*Case{
		single("4.1.1", 3, nil),
		single("4.1.2", 4, reserved),
		afterEcho("4.1.3", 5, nil, 0),
		afterEcho("4.1.4", 6, hello, 0),
		afterEcho("4.1.5", 7, hello, 1),
		single("4.2.1", 11, nil),
		single("4.2.2", 12, reserved),
		afterEcho("4.2.3", 13, nil, 0),
		afterEcho("4.2.4", 14, hello, 0),
		afterEcho("4.2.5", 15, hello, 1),
	}
}

func fragmentationCases() []*Case {
	fail := "The peer fails the connection with 1002."
	failing := func(id, desc string, send func(s *session)) *Case {
		return define(id, desc, fail, func(s *session) {
			s.expect(OK)
			s.expectFailedBy(closeProtocolError)
			send(s)
			s.killAfter(seconds(1))
		})
	}
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	f12 := []byte("fragment1fragment2")
	nonCont := []byte("non-continuation payload")
	hello := []byte("Hello, world!")
	echoed := func(id, desc string, sync bool, chop int) *Case {
		return define(id, desc, "The message comes back in one piece; then a clean close with 1000.", func(s *session) {
			s.expect(OK, msgEvent(f12, false))
			s.expectNormalClose()
			s.sendFrame(frame{opcode: opText, more: true, payload: f1, sync: sync, chop: chop})
			s.sendFrame(frame{opcode: opContinuation, payload: f2, sync: sync, chop: chop})
			s.closeAfter(seconds(1))
		})
	}
	withPing := func(id, desc string, sync bool, chop int) *Case {
		return define(id, desc, "The pong comes back first, then the whole message; then a clean close with 1000.", func(s *session) {
			ping := []byte("ping payload")
			s.expect(OK, pongEvent(ping), msgEvent(f12, false))
			s.expectNormalClose()
			s.sendFrame(frame{opcode: opText, more: true, payload: f1, sync: sync, chop: chop})
			s.sendFrame(frame{opcode: opPing, payload: ping, sync: sync, chop: chop})
			s.sendFrame(frame{opcode: opContinuation, payload: f2, sync: sync, chop: chop})
			s.closeAfter(seconds(1))
		})
	}
	contFirst := func(id, desc string, fin bool, sync bool, chop int) *Case {
		return failing(id, desc, func(s *session) {
			s.sendFrame(frame{opcode: opContinuation, more: !fin, payload: nonCont, sync: sync, chop: chop})
			s.sendFrame(frame{opcode: opText, payload: hello, sync: sync, chop: chop})
		})
	}
	interleaved := func(id string, sync bool) *Case {
		desc := "Send a text message in five fragments with a ping after the second and another before the last; wait one second in the middle. Everything is legal."
		if sync {
			desc = "As 5.19, with every frame in a write of its own."
		}
		return define(id, desc, "Both pongs arrive as soon as the pings are sent, the whole message once its last fragment arrives; then a clean close with 1000.",
			func(s *session) {
				frags := [][]byte{[]byte("fragment1"), []byte("fragment2"), []byte("fragment3"), []byte("fragment4"), []byte("fragment5")}
				pings := [][]byte{[]byte("pongme 1!"), []byte("pongme 2!")}
				var all []byte
				for _, f := range frags {
					all = append(all, f...)
				}
				s.expect(OK, pongEvent(pings[0]), pongEvent(pings[1]), msgEvent(all, false))
				s.expectNormalClose()
				s.sendFrame(frame{opcode: opText, more: true, payload: frags[0], sync: sync})
				s.sendFrame(frame{opcode: opContinuation, more: true, payload: frags[1], sync: sync})
				s.sendFrame(frame{opcode: opPing, payload: pings[0], sync: sync})
				s.continueLater(seconds(1), "", func() {
					s.sendFrame(frame{opcode: opContinuation, more: true, payload: frags[2], sync: sync})
					s.sendFrame(frame{opcode: opContinuation, more: true, payload: frags[3], sync: sync})
					s.sendFrame(frame{opcode: opPing, payload: pings[1], sync: sync})
					s.sendFrame(frame{opcode: opContinuation, payload: frags[4], sync: sync})
					s.closeAfter(seconds(1))
				})
			})
	}
	cs := []*Case{
		failing("5.1", "Send a ping in two fragments.", func(s *session) {
			s.sendFrame(frame{opcode: opPing, more: true, payload: f1})
			s.sendFrame(frame{opcode: opContinuation, payload: f2})
		}),
		failing("5.2", "Send a pong in two fragments.", func(s *session) {
			s.sendFrame(frame{opcode: opPong, more: true, payload: f1})
			s.sendFrame(frame{opcode: opContinuation, payload: f2})
		}),
		echoed("5.3", "Send a text message in two fragments.", false, 0),
		echoed("5.4", "Send a text message in two fragments, each in a write of its own.", true, 0),
		echoed("5.5", "Send a text message in two fragments, written one octet at a time.", false, 1),
		withPing("5.6", "Send a text message in two fragments with a ping between them.", false, 0),
		withPing("5.7", "Send a text message in two fragments with a ping between them, each frame in a write of its own.", true, 0),
		withPing("5.8", "Send a text message in two fragments with a ping between them, written one octet at a time.", false, 1),
		contFirst("5.9", "Send a final continuation frame with no message to continue, then a text message.", true, false, 0),
		contFirst("5.10", "As 5.9, each frame in a write of its own.", true, true, 0),
		contFirst("5.11", "As 5.9, written one octet at a time.", true, false, 1),
		contFirst("5.12", "Send a non-final continuation frame with no message to continue, then a text message.", false, false, 0),
		contFirst("5.13", "As 5.12, each frame in a write of its own.", false, true, 0),
		contFirst("5.14", "As 5.12, written one octet at a time.", false, false, 1),
		define("5.15", "Send a text message in two fragments, then a continuation frame with nothing to continue, then a final text frame.",
			"The first message comes back; the peer then fails the connection with 1002.",
			func(s *session) {
				s.expect(OK, msgEvent(f12, false))
				s.expect(NonStrict)
				s.expectFailedBy(closeProtocolError)
				s.sendFrame(frame{opcode: opText, more: true, payload: f1})
				s.sendFrame(frame{opcode: opContinuation, payload: f2})
				s.sendFrame(frame{opcode: opContinuation, more: true, payload: []byte("fragment3")})
				s.sendFrame(frame{opcode: opText, payload: []byte("fragment4")})
				s.killAfter(seconds(1))
			}),
		failing("5.16", "Twice: a non-final continuation frame with nothing to continue, a non-final text frame and a final continuation frame.", func(s *session) {
			for range 2 {
				s.sendFrame(frame{opcode: opContinuation, more: true, payload: f1})
				s.sendFrame(frame{opcode: opText, more: true, payload: f2})
				s.sendFrame(frame{opcode: opContinuation, payload: []byte("fragment3")})
			}
		}),
		failing("5.17", "Twice: a final continuation frame with nothing to continue, a non-final text frame and a final continuation frame.", func(s *session) {
			for range 2 {
				s.sendFrame(frame{opcode: opContinuation, payload: f1})
				s.sendFrame(frame{opcode: opText, more: true, payload: f2})
				s.sendFrame(frame{opcode: opContinuation, payload: []byte("fragment3")})
			}
		}),
		failing("5.18", "Send a text message in two fragments, both with the text opcode.", func(s *session) {
			s.sendFrame(frame{opcode: opText, more: true, payload: f1})
			s.sendFrame(frame{opcode: opText, payload: f2})
		}),
		interleaved("5.19", false),
		interleaved("5.20", true),
	}
	for _, c := range cs {
		if c.ID == "5.19" || c.ID == "5.20" {
			c.limit = seconds(15)
		}
	}
	return cs
}
