package suite

import (
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// Family 6: UTF-8 handling.

// utf8Group is one subcategory of cases 6.5 and up: a name and its byte
// sequences, each marked valid or not.
type utf8Group struct {
	name  string
	seqs  [][]byte
	valid []bool
}

func (g *utf8Group) add(valid bool, seq ...byte) {
	g.seqs = append(g.seqs, seq)
	g.valid = append(g.valid, valid)
}

func (g *utf8Group) addString(valid bool, s string) { g.add(valid, []byte(s)...) }

// kosme is "κόσμε", the sample word of Markus Kuhn's UTF-8 decoder test.
var kosme = []byte{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5}

// utf8Groups returns the sequences of cases 6.5.x to 6.23.x, in Autobahn's
// order (itself following Markus Kuhn's decoder test).
func utf8Groups() []*utf8Group {
	var gs []*utf8Group
	g := func(name string) *utf8Group {
		x := &utf8Group{name: name}
		gs = append(gs, x)
		return x
	}

	x := g("Some valid UTF-8 sequences")
	x.addString(true, "hello\x24world")
	x.addString(true, "hello\xc2\xa2world")
	x.addString(true, "hello\xe2\x82\xacworld")
	x.addString(true, "hello\xf0\xa4\xad\xa2world")
	x.add(true, kosme...)

	x = g("All prefixes of a valid UTF-8 string that contains multi-byte code points")
	for i := 1; i <= len(kosme); i++ {
		p := kosme[:i]
		x.add(utf8.Valid(p), p...)
	}

	x = g("First possible sequence of a certain length")
	x.add(true, 0x00)
	x.add(true, 0xc2, 0x80)
	x.add(true, 0xe0, 0xa0, 0x80)
	x.add(true, 0xf0, 0x90, 0x80, 0x80)

	x = g("First possible sequence length 5/6 (invalid codepoints)")
	x.add(false, 0xf8, 0x88, 0x80, 0x80, 0x80)
	x.add(false, 0xfc, 0x84, 0x80, 0x80, 0x80, 0x80)

	x = g("Last possible sequence of a certain length")
	x.add(true, 0x7f)
	x.add(true, 0xdf, 0xbf)
	x.add(true, 0xef, 0xbf, 0xbf)
	x.add(true, 0xf4, 0x8f, 0xbf, 0xbf)

	x = g("Last possible sequence length 4/5/6 (invalid codepoints)")
	x.add(false, 0xf7, 0xbf, 0xbf, 0xbf)
	x.add(false, 0xfb, 0xbf, 0xbf, 0xbf, 0xbf)
	x.add(false, 0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf)

	x = g("Other boundary conditions")
	x.add(true, 0xed, 0x9f, 0xbf)
	x.add(true, 0xee, 0x80, 0x80)
	x.add(true, 0xef, 0xbf, 0xbd)
	x.add(true, 0xf4, 0x8f, 0xbf, 0xbf)
	x.add(false, 0xf4, 0x90, 0x80, 0x80)

	x = g("Unexpected continuation bytes")
	x.add(false, 0x80)
	x.add(false, 0xbf)
	x.add(false, 0x80, 0xbf)
	x.add(false, 0x80, 0xbf, 0x80)
	x.add(false, 0x80, 0xbf, 0x80, 0xbf)
	x.add(false, 0x80, 0xbf, 0x80, 0xbf, 0x80)
	x.add(false, 0x80, 0xbf, 0x80, 0xbf, 0x80, 0xbf)
	var all []byte
	for b := 0x80; b < 0xbf; b++ {
		all = append(all, byte(b))
	}
	x.add(false, all...)

	x = g("Lonely start characters")
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for b := r[0]; b < r[1]; b++ {
			s = append(s, byte(b), 0x20)
		}
		x.add(false, s...)
	}

	x = g("Sequences with last continuation byte missing")
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	var concat string
	for _, m := range missing {
		x.addString(false, m)
		concat += m
	}

	x = g("Concatenation of incomplete sequences")
	x.addString(false, concat)

	x = g("Impossible bytes")
	x.add(false, 0xfe)
	x.add(false, 0xff)
	x.add(false, 0xfe, 0xfe, 0xff, 0xff)

	x = g("Examples of an overlong ASCII character")
	x.add(false, 0xc0, 0xaf)
	x.add(false, 0xe0, 0x80, 0xaf)
	x.add(false, 0xf0, 0x80, 0x80, 0xaf)
	x.add(false, 0xf8, 0x80, 0x80, 0x80, 0xaf)
	x.add(false, 0xfc, 0x80, 0x80, 0x80, 0x80, 0xaf)

	x = g("Maximum overlong sequences")
	x.add(false, 0xc1, 0xbf)
	x.add(false, 0xe0, 0x9f, 0xbf)
	x.add(false, 0xf0, 0x8f, 0xbf, 0xbf)
	x.add(false, 0xf8, 0x87, 0xbf, 0xbf, 0xbf)
	x.add(false, 0xfc, 0x83, 0xbf, 0xbf, 0xbf, 0xbf)

	x = g("Overlong representation of the NUL character")
	x.add(false, 0xc0, 0x80)
	x.add(false, 0xe0, 0x80, 0x80)
	x.add(false, 0xf0, 0x80, 0x80, 0x80)
	x.add(false, 0xf8, 0x80, 0x80, 0x80, 0x80)
	x.add(false, 0xfc, 0x80, 0x80, 0x80, 0x80, 0x80)

	x = g("Single UTF-16 surrogates")
	for _, s := range [][]byte{{0xed, 0xa0, 0x80}, {0xed, 0xad, 0xbf}, {0xed, 0xae, 0x80}, {0xed, 0xaf, 0xbf},
		{0xed, 0xb0, 0x80}, {0xed, 0xbe, 0x80}, {0xed, 0xbf, 0xbf}} {
		x.add(false, s...)
	}

	x = g("Paired UTF-16 surrogates")
	for _, hi := range []string{"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf"} {
		for _, lo := range []string{"\xed\xb0\x80", "\xed\xbf\xbf"} {
			x.addString(false, hi+lo)
		}
	}

	x = g("Non-character code points (valid UTF-8)")
	x.add(true, 0xef, 0xbf, 0xbe)
	x.add(true, 0xef, 0xbf, 0xbf)
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // above U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				if z1 == 0xf0 && z2 == 0x8f {
					continue // overlong
				}
				x.add(true, z1, z2, 0xbf, z3)
			}
		}
	}

	x = g("Unicode specials (i.e. replacement char)")
	for _, b := range []byte{0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf} {
		x.add(true, 0xef, 0xbf, b)
	}
	return gs
}

// utf8Subcategories names the subcategories 6.5 and up.
func utf8Subcategories() map[string]string {
	m := map[string]string{}
	for i, g := range utf8Groups() {
		m[fmt.Sprintf("6.%d", i+5)] = g.name
	}
	return m
}

func utf8Cases() []*Case {
	hello := []byte("Hello-µ@ßöäüàá-UTF-8!!")
	hello1, hello2 := []byte("Hello-µ@ßöä"), []byte("üàá-UTF-8!!")
	bad := append(append(append([]byte{}, kosme...), 0xed, 0xa0, 0x80), []byte("edited")...)
	echo := "The message comes back unchanged; then a clean close with 1000."
	failFast := "The peer fails the connection with 1007 (invalid payload) as soon as the invalid octet arrives."

	valid := func(id, desc string, send func(s *session), payload []byte) *Case {
		return define(id, desc, echo, func(s *session) {
			s.expect(OK, msgEvent(payload, false))
			s.expectNormalClose()
			send(s)
			s.closeAfter(seconds(1))
		})
	}
	invalidMsg := func(s *session) {
		s.expect(OK)
		s.expectedClose = ExpectedClose{ClosedByMe: false, CloseCode: []int{closeInvalidPayload}, ClosedByWrongEndpointIsFatal: true}
	}
	cs := []*Case{
		valid("6.1.1", "Send a text message of length 0.", func(s *session) {
			s.sendFrame(frame{opcode: opText})
		}, []byte{}),
		valid("6.1.2", "Send a text message in three empty fragments.", func(s *session) {
			s.sendFrame(frame{opcode: opText, more: true})
			s.sendFrame(frame{opcode: opContinuation, more: true})
			s.sendFrame(frame{opcode: opContinuation})
		}, []byte{}),
		valid("6.1.3", "Send a text message in three fragments, the first and last empty.", func(s *session) {
			s.sendFrame(frame{opcode: opText, more: true})
			s.sendFrame(frame{opcode: opContinuation, more: true, payload: []byte("middle frame payload")})
			s.sendFrame(frame{opcode: opContinuation})
		}, []byte("middle frame payload")),
		valid("6.2.1", "Send a valid UTF-8 text message in one frame: "+hex.EncodeToString(hello)+".", func(s *session) {
			s.sendMessage(hello, false, 0)
		}, hello),
		valid("6.2.2", "Send a valid UTF-8 text message in two fragments split on a code point boundary.", func(s *session) {
			s.sendFrame(frame{opcode: opText, more: true, payload: hello1})
			s.sendFrame(frame{opcode: opContinuation, payload: hello2})
		}, hello),
		valid("6.2.3", "Send a valid UTF-8 text message in fragments of one octet, so that fragments end inside code points.", func(s *session) {
			s.sendMessage(hello, false, 1)
		}, hello),
		valid("6.2.4", "Send the valid UTF-8 text "+hex.EncodeToString(kosme)+" in fragments of one octet.", func(s *session) {
			s.sendMessage(kosme, false, 1)
		}, kosme),
		define("6.3.1", "Send the invalid UTF-8 text "+hex.EncodeToString(bad)+" in one frame.", failFast, func(s *session) {
			invalidMsg(s)
			s.sendMessage(bad, false, 0)
			s.killAfter(seconds(1))
		}),
		define("6.3.2", "Send the invalid UTF-8 text "+hex.EncodeToString(bad)+" in fragments of one octet.", failFast, func(s *session) {
			invalidMsg(s)
			s.sendMessage(bad, false, 1)
			s.killAfter(seconds(1))
		}),
	}

	// 6.4: fail fast. The invalid part (a code point above U+10FFFF)
	// arrives a second after the valid start; a peer that fails at once is
	// OK, one that fails only when the message is complete is NON-STRICT.
	p1, p2, p3 := kosme, []byte{0xf4, 0x90, 0x80, 0x80}, []byte("edited")
	whole := append(append(append([]byte{}, p1...), p2...), p3...)
	ffExpect := "The first part is accepted (the first wait times out); the peer fails the connection with 1007 as soon as the second part arrives."
	staged := func(s *session) {
		s.expect(OK, timeoutEvent("A"))
		s.expect(NonStrict, timeoutEvent("A"), timeoutEvent("B"))
		s.expectedClose = ExpectedClose{ClosedByMe: false, CloseCode: []int{closeInvalidPayload}, ClosedByWrongEndpointIsFatal: true}
	}
	inFrames := func(id, desc string, a, b, c []byte) *Case {
		return define(id, desc, ffExpect, func(s *session) {
			staged(s)
			s.sendFrame(frame{opcode: opText, more: true, payload: a})
			s.continueLater(seconds(1), "A", func() {
				if s.state != stateOpen {
					return
				}
				s.received = append(s.received, timeoutEvent("A"))
				s.sendFrame(frame{opcode: opContinuation, more: true, payload: b})
				s.continueLater(seconds(1), "B", func() {
					if s.state != stateOpen {
						return
					}
					s.received = append(s.received, timeoutEvent("B"))
					s.sendFrame(frame{opcode: opContinuation, payload: c})
					s.killAfter(seconds(1))
				})
			})
		})
	}
	inChops := func(id, desc string, a, b, c []byte) *Case {
		return define(id, desc, ffExpect, func(s *session) {
			staged(s)
			s.beginMessage(false)
			s.beginMessageFrame(len(whole))
			s.sendMessageFrameData(a)
			s.continueLater(seconds(1), "A", func() {
				if s.state != stateOpen {
					return
				}
				s.received = append(s.received, timeoutEvent("A"))
				s.sendMessageFrameData(b)
				s.continueLater(seconds(1), "B", func() {
					if s.state != stateOpen {
						return
					}
					s.received = append(s.received, timeoutEvent("B"))
					s.sendMessageFrameData(c)
					s.endMessage()
					s.killAfter(seconds(1))
				})
			})
		})
	}
	parts := func(a, b, c []byte) string {
		return fmt.Sprintf("%s | %s | %s", hex.EncodeToString(a), hex.EncodeToString(b), hex.EncodeToString(c))
	}
	cs = append(cs,
		inFrames("6.4.1", "Send an invalid UTF-8 text message in three frames, waiting a second after the first and the second: "+parts(p1, p2, p3)+". The second frame holds U+110000 in UTF-8's integer encoding, which is out of range.", p1, p2, p3),
		inFrames("6.4.2", "As 6.4.1, but the second frame holds only the octet that makes the text invalid: "+parts(whole[:12], whole[12:13], whole[13:])+".", whole[:12], whole[12:13], whole[13:]),
		inChops("6.4.3", "As 6.4.1, but the three parts are chops of a single frame: "+parts(p1, p2, p3)+".", p1, p2, p3),
		inChops("6.4.4", "As 6.4.2, but the three parts are chops of a single frame: "+parts(whole[:12], whole[12:13], whole[13:])+".", whole[:12], whole[12:13], whole[13:]),
	)
	for _, c := range cs[len(cs)-4:] {
		c.limit = seconds(15)
	}

	for i, g := range utf8Groups() {
		for j, seq := range g.seqs {
			seq, ok := seq, g.valid[j]
			id := fmt.Sprintf("6.%d.%d", i+5, j+1)
			if ok {
				cs = append(cs, define(id, "Send a text message with a valid UTF-8 payload in one frame: 0x"+hex.EncodeToString(seq)+".", echo, func(s *session) {
					s.expect(OK, msgEvent(seq, false))
					s.expectNormalClose()
					s.sendMessage(seq, false, 0)
					s.killAfter(seconds(0.5))
				}))
				continue
			}
			cs = append(cs, define(id, "Send a text message with an invalid UTF-8 payload in one frame: 0x"+hex.EncodeToString(seq)+".", "The peer fails the connection with 1007.", func(s *session) {
				invalidMsg(s)
				s.sendMessage(seq, false, 0)
				s.killAfter(seconds(0.5))
			}))
		}
	}
	return cs
}
