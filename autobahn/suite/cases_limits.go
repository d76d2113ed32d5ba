package suite

import (
	"fmt"
	"time"
)

// Families 9 (limits and performance) and 10 (auto-fragmentation).

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d octets", n)
}

// bigMessage is a case of 9.1 to 9.6: one large message, echoed.
type bigMessage struct {
	id       string
	binary   bool
	size     int    // message size, before scaling
	pattern  []byte // repeated to fill the message (frame cases)
	fragment int    // fragment size; 0 sends one frame
	chop     int    // write chop size
	wait     float64
}

func (b bigMessage) kind() string {
	if b.binary {
		return "binary"
	}
	return "text"
}

func (b bigMessage) define() *Case {
	desc := fmt.Sprintf("Send a %s message of %s", b.kind(), sizeName(b.size))
	switch {
	case b.fragment > 0:
		desc += fmt.Sprintf(" in fragments of %s.", sizeName(b.fragment))
	case b.chop > 0:
		desc += fmt.Sprintf(" in one frame, written in pieces of %d octets.", b.chop)
	default:
		desc += " in one frame."
	}
	c := &Case{
		ID:          b.id,
		Description: desc,
		Expectation: fmt.Sprintf("The %s message comes back with the same length.", b.kind()),
		limit:       seconds(b.wait),
		scaled:      true,
	}
	c.build = func(s *session) hooks {
		s.reportTime = true
		size := s.opts.scaled(b.size)
		opcode := opText
		if b.binary {
			opcode = opBinary
		}
		return hooks{
			onOpen: func() {
				s.createWirelog = false
				s.behavior = Failed
				s.expectNormalClose()
				s.result = fmt.Sprintf("Did not receive message within %d seconds.", int(b.wait))
				if b.fragment > 0 {
					s.sendMessage(repeatPayload(b.pattern, size), b.binary, b.fragment)
				} else {
					s.sendFrame(frame{opcode: opcode, payload: b.pattern, repeat: size, repeatSet: true, chop: b.chop})
				}
				s.closeAfter(seconds(b.wait))
			},
			onMessage: func(p []byte, binary bool) {
				switch {
				case binary != b.binary && b.binary:
					s.result = "Expected binary message with payload, but got text."
				case binary != b.binary:
					s.result = "Expected text message with payload, but got binary."
				case len(p) != size:
					s.result = fmt.Sprintf("Expected %s message with payload of length %d, but got %d.", b.kind(), size, len(p))
				default:
					s.behavior = OK
					s.result = fmt.Sprintf("Received %s message of length %d.", b.kind(), len(p))
				}
				s.createWirelog = true
				s.sendClose(closeNormal, nil)
			},
		}
	}
	return c
}

// roundTrips is a case of 9.7 and 9.8: many small messages, one at a time.
func roundTrips(id string, binary bool, size, count int, wait float64) *Case {
	kind := "text"
	if binary {
		kind = "binary"
	}
	c := &Case{
		ID:          id,
		Description: fmt.Sprintf("Send %d %s messages of %d octets, each after the echo of the one before, to measure the round trip time.", count, kind, size),
		Expectation: fmt.Sprintf("Every %s message comes back with the payload as sent, within %d seconds.", kind, int(wait)),
		limit:       seconds(wait),
		scaled:      true,
	}
	c.build = func(s *session) hooks {
		s.reportTime = true
		n := s.opts.scaled(count)
		sent := 0
		sendOne := func() {
			if binary {
				s.sendFrame(frame{opcode: opBinary, payload: []byte{0xfe}, repeat: size, repeatSet: true})
			} else {
				s.sendFrame(frame{opcode: opText, payload: []byte("*"), repeat: size, repeatSet: true})
			}
			sent++
		}
		return hooks{
			onOpen: func() {
				s.enableWirelog(false)
				s.behavior = Failed
				s.expectNormalClose()
				s.result = fmt.Sprintf("Case did not finish within %d seconds.", int(wait))
				s.closeAfter(seconds(wait))
				sendOne()
			},
			onMessage: func(p []byte, bin bool) {
				switch {
				case bin != binary || len(p) != size:
					s.behavior = Failed
					s.result = fmt.Sprintf("Echo'ed message type or length differs from what I sent (got binary = %v, payload length = %d).", bin, len(p))
					s.enableWirelog(true)
					s.sendClose(closeNormal, nil)
				case sent < n:
					sendOne()
				default:
					s.behavior = OK
					s.result = "Ok, received all echo'ed messages in time."
					s.enableWirelog(true)
					s.sendClose(closeNormal, nil)
				}
			},
		}
	}
	return c
}

func limitCases() []*Case {
	var cs []*Case
	textPat, binPat := []byte("BAsd7&jh23"), []byte{0x00, 0xfe, 0x23, 0xfa, 0xf0}
	sizes := []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20}
	textWait := []float64{10, 10, 100, 100, 100, 100}
	binWait := []float64{10, 10, 10, 10, 100, 100}
	for i, n := range sizes {
		cs = append(cs, bigMessage{id: fmt.Sprintf("9.1.%d", i+1), size: n, pattern: textPat, wait: textWait[i]}.define())
	}
	for i, n := range sizes {
		cs = append(cs, bigMessage{id: fmt.Sprintf("9.2.%d", i+1), binary: true, size: n, pattern: binPat, wait: binWait[i]}.define())
	}
	frags := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	for i, f := range frags {
		cs = append(cs, bigMessage{id: fmt.Sprintf("9.3.%d", i+1), size: 4 << 20, pattern: []byte("*"), fragment: f, wait: 100}.define())
	}
	for i, f := range frags {
		// Autobahn's 9.4.1 fills with 0xfe, the others with '*'.
		pat := []byte("*")
		if i == 0 {
			pat = []byte{0xfe}
		}
		cs = append(cs, bigMessage{id: fmt.Sprintf("9.4.%d", i+1), binary: true, size: 4 << 20, pattern: pat, fragment: f, wait: 100}.define())
	}
	chops := []int{64, 128, 256, 512, 1024, 2048}
	for i, ch := range chops {
		cs = append(cs, bigMessage{id: fmt.Sprintf("9.5.%d", i+1), size: 1 << 20, pattern: textPat, chop: ch, wait: 1000}.define())
	}
	for i, ch := range chops {
		cs = append(cs, bigMessage{id: fmt.Sprintf("9.6.%d", i+1), binary: true, size: 1 << 20, pattern: binPat, chop: ch, wait: 1000}.define())
	}
	rt := []struct {
		size int
		wait float64
	}{{0, 60}, {16, 60}, {64, 60}, {256, 120}, {1024, 240}, {4096, 480}}
	for b, fam := range []string{"9.7", "9.8"} {
		for i, t := range rt {
			cs = append(cs, roundTrips(fmt.Sprintf("%s.%d", fam, i+1), b == 1, t.size, 1000, t.wait))
		}
	}
	return cs
}

func autoFragmentCases() []*Case {
	payload := repeatByte('*', 65536)
	const frag = 1300
	c := define("10.1.1", "Send a text message of 65536 octets, fragmented automatically into frames of 1300 octets.",
		"The message comes back unchanged and the expected number of frames was sent; then a clean close with 1000.",
		func(s *session) {
			s.autoFragmentSize = frag
			s.expect(OK, msgEvent(payload, false))
			s.expectNormalClose()
			s.sendMessage(payload, false, 0)
			s.killAfter(10 * time.Second)
		})
	base := c.build
	c.build = func(s *session) hooks {
		h := base(s)
		h.onConnectionLost = func() {
			if !s.connectionWasOpen {
				s.behavior = Failed
				s.result = "WebSocket connection was never open"
				return
			}
			want0, want1 := len(payload)/frag, 0
			if len(payload)%frag > 0 {
				want1 = 1
			}
			if s.txFrameStats[0] != want0 || s.txFrameStats[1] != want1 {
				s.behavior = Failed
				s.result = fmt.Sprintf("Frames transmitted {0: %d, 1: %d} does not match what we expected {0: %d, 1: %d}.",
					s.txFrameStats[0], s.txFrameStats[1], want0, want1)
			}
		}
		return h
	}
	return []*Case{c}
}
