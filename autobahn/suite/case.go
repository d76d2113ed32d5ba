package suite

import (
	"strconv"
	"time"
)

// Case is one test case of the suite.
type Case struct {
	// ID is the case number, as Autobahn numbers it ("1.1.1").
	ID string
	// Description says what the fuzzer sends.
	Description string
	// Expectation says what a conforming peer does.
	Expectation string

	build          func(s *session) hooks
	deflate        *deflateCase
	limit          time.Duration // the longest the case waits by design
	scaled         bool          // Options.Scale changes the case
	hexCloseReason bool          // report the close reason sent in hex
}

// deflateCase holds the permessage-deflate parameters of cases 12 and 13.
type deflateCase struct {
	offers []deflateOffer // what the fuzzing client offers
	accept acceptFunc     // how the fuzzing server answers
}

// define makes a case whose behaviour is all in onOpen.
func define(id, desc, expect string, onOpen func(s *session)) *Case {
	return &Case{
		ID:          id,
		Description: desc,
		Expectation: expect,
		limit:       10 * time.Second,
		build: func(s *session) hooks {
			return hooks{onOpen: func() { onOpen(s) }}
		},
	}
}

// expect adds an acceptable sequence of observations.
func (s *session) expect(v Verdict, evs ...event) {
	if evs == nil {
		evs = []event{}
	}
	s.expected = append(s.expected, expectation{verdict: v, events: evs})
}

// expectNormalClose: the fuzzer closes, cleanly, with 1000.
func (s *session) expectNormalClose() {
	s.expectedClose = ExpectedClose{ClosedByMe: true, CloseCode: []int{closeNormal}, RequireClean: true}
}

// expectFailedBy: the peer fails the connection with code.
func (s *session) expectFailedBy(code int) {
	s.expectedClose = ExpectedClose{ClosedByMe: false, CloseCode: []int{code}, RequireClean: false}
}

func itoa(n int) string { return strconv.Itoa(n) }

func seconds(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }

func repeatByte(b byte, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = b
	}
	return p
}
