package suite

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"
)

// Protocol states, as in Autobahn.

type connState int

const (
	stateClosed connState = iota
	stateConnecting
	stateClosing
	stateOpen
)

// Close codes the fuzzer itself uses.

const (
	closeNormal         = 1000
	closeGoingAway      = 1001
	closeProtocolError  = 1002
	closeInvalidPayload = 1007
)

// noCode marks a close frame without a status code (0 is a code the suite

// sends on purpose).

const noCode = -1

// Timeouts of the fuzzer's own protocol engine; Autobahn's defaults.

const (
	openHandshakeTimeout        = 5 * time.Second
	closeHandshakeTimeout       = 1 * time.Second
	serverConnectionDropTimeout = 1 * time.Second
)

// allowedCloseCodes are the codes below 3000 a peer may send in a close

// frame, as Autobahn checks them.

var allowedCloseCodes = map[int]bool{
	1000: true, 1001: true, 1002: true, 1003: true, 1007: true,
	1008: true, 1009: true, 1010: true, 1011: true,
}

// event is one observation recorded by a case: a message, a pong, or a

// timeout tag.

type event struct {
	kind    string // "message", "ping", "pong" or "timeout"
	payload []byte
	binary  bool
	tag     string
}

func (e event) equal(o event) bool {
	return e.kind == o.kind && string(e.payload) == string(o.payload) && e.binary == o.binary && e.tag == o.tag
}

func msgEvent(payload []byte, binary bool) event {
	return event{kind: "message", payload: payload, binary: binary}
}

func pongEvent(payload []byte) event { return event{kind: "pong", payload: payload} }

func timeoutEvent(tag string) event { return event{kind: "timeout", tag: tag} }

func eventsEqual(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

// expectation is one acceptable sequence of observations and the verdict it

// earns.

type expectation struct {
	verdict Verdict
	events  []event
}

// hooks is a case's behaviour for one run. Nil members take Autobahn's

// default behaviour.

type hooks struct {
	// onOpen runs when the WebSocket connection is open.
	onOpen func()
	// onMessage replaces the default message handling (record the message
	// and finish when every expectation is met).
	onMessage func(payload []byte, binary bool)
	// onConnectionLost runs after the default evaluation and may override it.
	onConnectionLost func()
}

// session is one fuzzing connection: Autobahn's protocol engine and the

// state of the case it runs.

type session struct {
	isServer bool
	opts     Options
	conn     transport
	loop     *eventLoop
	w        *connWriter
	timers   []*loopTimer

	// Case being run (nil on control connections of the fuzzing server).
	c       *Case
	h       hooks
	caseNum int
	agent   string
	exclude func(agent, id string) bool

	// onControlOpen handles an opened connection that runs no case.
	onControlOpen func()

	// Handshake.
	httpRequest  string
	httpResponse string
	key          string
	offers       []deflateOffer // client role: what we offer
	serverAccept acceptFunc     // server role: how we accept offers
	pmce         *deflate
	path         string

	// Protocol state.
	state            connState
	data             []byte
	cur              *frameHeader
	curPos           uint64
	maskPos          int
	controlData      []byte
	insideMessage    bool
	msgBinary        bool
	msgCompressed    bool
	msgData          []byte
	frameStart       int
	utf8             utf8Validator
	utf8Check        bool
	autoFragmentSize int

	// Streaming send state (beginMessage and friends).
	sendOpcode     int
	sendFirst      bool
	sendFrameLeft  int
	sendFrameMask  []byte
	sendFrameMaskP int

	// Close bookkeeping.
	connectionWasOpen              bool
	closedByMe                     bool
	failedByMe                     bool
	droppedByMe                    bool
	wasClean                       bool
	wasNotCleanReason              *string
	wasServerConnectionDropTimeout bool
	wasOpenHandshakeTimeout        bool
	wasCloseHandshakeTimeout       bool
	localCloseCode                 *int
	localCloseReason               []byte
	localCloseReasonSet            bool
	remoteCloseCode                *int
	remoteCloseReason              *string
	openHandshakeCall              *loopTimer
	closeHandshakeCall             *loopTimer
	serverDropCall                 *loopTimer
	lost                           bool

	// Fuzzer records.
	createWirelog bool
	wirelog       []any
	createStats   bool
	rxOctetStats  map[int]int
	rxFrameStats  map[int]int
	txOctetStats  map[int]int
	txFrameStats  map[int]int
	traffic       TrafficStats
	trafficCopy   *TrafficStats

	// Case state.
	runCase                bool
	received               []event
	expected               []expectation
	expectedClose          ExpectedClose
	behavior               Verdict
	behaviorClose          Verdict
	result                 string
	resultClose            string
	suppressClose          bool
	reportTime             bool
	reportCompressionRatio bool
	started                time.Time
	caseStart, caseEnd     time.Time

	// onResult receives the result when a case ends.
	onResult func(*Result)

	// srv is the fuzzing server of a server-role connection.
	srv *Server
	// ctx ends with the connection.
	ctx context.Context
}

func newSession(conn transport, isServer bool, opts Options) *session {
	return &session{
		isServer:      isServer,
		opts:          opts,
		conn:          conn,
		loop:          newEventLoop(),
		w:             newConnWriter(conn, opts.chopDelay()),
		state:         stateConnecting,
		createWirelog: true,
		createStats:   true,
		rxOctetStats:  map[int]int{},
		rxFrameStats:  map[int]int{},
		txOctetStats:  map[int]int{},
		txFrameStats:  map[int]int{},
		behavior:      Failed,
		behaviorClose: Failed,
		result:        "Actual events differ from any expected.",
		resultClose:   "TCP connection was dropped without close handshake",
	}
}

// setCase attaches a case to the session and builds its hooks.

func (s *session) setCase(c *Case, num int) {
	s.c = c
	s.caseNum = num
	s.runCase = true
	s.h = c.build(s)
	if c.deflate != nil {
		s.reportTime = true
		s.reportCompressionRatio = true
		if s.isServer {
			s.serverAccept = c.deflate.accept
		} else {
			s.offers = c.deflate.offers
		}
	}
}

// run drives the connection until it is lost or ctx ends; start runs first

// on the loop (sending the client handshake, for example).

func (s *session) run(ctx context.Context, start func()) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	go s.w.run()
	readerDone := make(chan struct{})
	go s.readLoop(readerDone)
	stop := context.AfterFunc(ctx, func() { s.loop.post(s.onDeadline) })
	s.loop.post(start)
	s.loop.run(func() bool { return s.lost })
	stop()
	for _, t := range s.timers {
		t.cancel()
	}
	s.w.stop()
	s.conn.Close()
	<-readerDone
	<-s.w.done
	if s.pmce != nil {
		s.pmce.release()
	}
}

// onDeadline ends a case that runs longer than it may.

func (s *session) onDeadline() {
	if s.state != stateClosed {
		s.setNotClean("the case did not end in time")
	}
	s.dropConnection(true)
	// The reader ends once the connection is closed.
	s.conn.Close()
}

// armCaseDeadline ends the case after d.

func (s *session) armCaseDeadline(d time.Duration) {
	s.callLater(d, s.onDeadline)
}

// pooled read buffers

var readBufs = sync.Pool{New: func() any { return new([64 << 10]byte) }}

func (s *session) readLoop(done chan struct{}) {
	defer close(done)
	b := readBufs.Get().(*[64 << 10]byte)
	defer readBufs.Put(b)
	buf := b[:]
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			s.loop.post(func() { s.dataReceived(chunk) })
		}
		if err != nil {
			s.loop.post(s.connectionLost)
			return
		}
	}
}

// callLater runs f on the loop after d, stretched by Options.TimeScale.

func (s *session) callLater(d time.Duration, f func()) *loopTimer {
	d = s.opts.stretch(d)
	t := &loopTimer{}
	t.t = time.AfterFunc(d, func() {
		s.loop.post(func() {
			if !t.cancelled {
				f()
			}
		})
	})
	s.timers = append(s.timers, t)
	return t
}

func secs(d time.Duration) float64 { return d.Seconds() }

// continueLater runs f after d if the connection is not closed by then.

func (s *session) continueLater(d time.Duration, tag string, f func()) {
	s.wirelog = append(s.wirelog, []any{"CT", secs(d), nullable(tag)})
	s.callLater(d, func() {
		if s.state != stateClosed {
			s.wirelog = append(s.wirelog, []any{"CTE", nullable(tag)})
			f()
		}
	})
}

// killAfter fails the connection after d unless it is closed by then.

func (s *session) killAfter(d time.Duration) {
	s.wirelog = append(s.wirelog, []any{"KL", secs(d)})
	s.callLater(d, func() {
		if s.state != stateClosed {
			s.wirelog = append(s.wirelog, []any{"KLE"})
			s.failConnection(closeGoingAway, "Going Away")
		}
	})
}

// closeAfter starts the closing handshake after d unless the connection is

// closed by then.

func (s *session) closeAfter(d time.Duration) {
	s.wirelog = append(s.wirelog, []any{"TI", secs(d)})
	s.callLater(d, func() {
		if s.state != stateClosed {
			s.wirelog = append(s.wirelog, []any{"TIE"})
			s.sendClose(noCode, nil)
		}
	})
}

func (s *session) enableWirelog(on bool) {
	if on != s.createWirelog {
		s.createWirelog = on
		s.wirelog = append(s.wirelog, []any{"WLM", on})
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *session) setNotClean(reason string) {
	s.wasNotCleanReason = &reason
}

// connectionMade runs first for every connection.

func (s *session) connectionMade() {
	s.started = time.Now()
	s.openHandshakeCall = s.callLater(openHandshakeTimeout, s.onOpenHandshakeTimeout)
}

func (s *session) onOpenHandshakeTimeout() {
	if s.state == stateConnecting {
		s.wasClean = false
		s.setNotClean("peer did not finish (in time) the opening handshake")
		s.wasOpenHandshakeTimeout = true
		s.dropConnection(true)
	}
}

// opened moves to the open state once the handshake is done and processes

// whatever arrived with it.

func (s *session) opened() {
	s.state = stateOpen
	if s.openHandshakeCall != nil {
		s.openHandshakeCall.cancel()
	}
	s.connectionWasOpen = true
	switch {
	case s.runCase && s.exclude != nil && s.exclude(s.agent, s.c.ID):
		s.runCase = false
		s.sendClose(noCode, nil)
	case s.runCase:
		s.caseStart = time.Now()
		if s.h.onOpen != nil {
			s.h.onOpen()
		}
	case s.onControlOpen != nil:
		s.onControlOpen()
	}
	if len(s.data) > 0 && s.state != stateClosed {
		s.consumeData()
	}
}

// dataReceived is called with every chunk read from the connection.

func (s *session) dataReceived(p []byte) {
	switch s.state {
	case stateOpen:
		s.traffic.IncomingOctetsWireLevel += len(p)
	case stateConnecting:
		s.traffic.PreopenIncomingOctetsWireLevel += len(p)
	}
	s.logRxOctets(p)
	if s.state == stateClosed {
		return
	}
	if len(s.data) == 0 {
		s.data = p // p is ours
	} else {
		s.data = append(s.data, p...)
	}
	s.consumeData()
}

func (s *session) consumeData() {
	switch s.state {
	case stateOpen, stateClosing:
		for s.processData() && s.state != stateClosed {
		}
	case stateConnecting:
		if s.isServer {
			s.processServerHandshake()
		} else {
			s.processClientHandshake()
		}
	}
}

// connectionLost evaluates the case once the TCP connection is gone.

func (s *session) connectionLost() {
	if s.lost {
		return
	}
	if s.serverDropCall != nil {
		s.serverDropCall.cancel()
		s.serverDropCall = nil
	}
	s.state = stateClosed
	if !s.wasClean && !s.droppedByMe && s.wasNotCleanReason == nil {
		s.setNotClean("peer dropped the TCP connection without previous WebSocket closing handshake")
	}
	s.lost = true
	if !s.runCase {
		return
	}
	s.caseEnd = time.Now()
	s.evaluate()
	if s.h.onConnectionLost != nil {
		s.h.onConnectionLost()
	}
	if s.onResult != nil {
		s.onResult(s.makeResult())
	}
}

// evaluate is Autobahn's verdict logic: compare what was observed with each

// expectation, then judge how the connection was closed.

func (s *session) evaluate() {
	for _, e := range s.expected {
		if eventsEqual(s.received, e.events) {
			s.behavior = e.verdict
			s.result = "Actual events match at least one expected."
			break
		}
	}
	if !s.connectionWasOpen {
		s.behaviorClose = Failed
		s.resultClose = "The WebSocket opening handshake was never completed!"
		return
	}
	ec := s.expectedClose
	switch {
	case ec.ClosedByMe != s.closedByMe:
		s.behaviorClose = Failed
		s.resultClose = "The connection was failed by the wrong endpoint"
	case ec.RequireClean && !s.wasClean:
		s.behaviorClose = Unclean
		s.resultClose = "The spec requires the connection to be failed cleanly here"
	case s.remoteCloseCode != nil && !containsInt(ec.CloseCode, *s.remoteCloseCode):
		s.behaviorClose = WrongCode
		s.resultClose = fmt.Sprintf("The close code should have been %s or empty", joinInts(ec.CloseCode))
	case !s.isServer && s.droppedByMe:
		s.behaviorClose = FailedByClient
		s.resultClose = "It is preferred that the server close the TCP connection"
	default:
		s.behaviorClose = OK
		s.resultClose = "Connection was properly closed"
	}
	// For UTF-8 cases a close from the wrong side means the peer did not
	// detect the invalid payload at all.
	if ec.ClosedByWrongEndpointIsFatal && ec.ClosedByMe != s.closedByMe {
		s.behavior = Failed
	}
}

// wrongCodeFails is the extra rule of the close cases: a wrong close code

// fails the whole case.

func (s *session) wrongCodeFails() {
	if s.behaviorClose == WrongCode {
		s.behavior = Failed
		s.result = s.resultClose
	}
}

// finishWhenDone starts the closing handshake once the observations match

// every expectation, if the case expects the fuzzer to close.

func (s *session) finishWhenDone() {
	for _, e := range s.expected {
		if !eventsEqual(s.received, e.events) {
			return
		}
	}
	if s.expectedClose.ClosedByMe && !s.suppressClose {
		s.sendClose(s.expectedClose.CloseCode[0], nil)
	}
}

func (s *session) onMessage(payload []byte, binary bool) {
	if !s.runCase {
		return
	}
	if s.h.onMessage != nil {
		s.h.onMessage(payload, binary)
		return
	}
	s.received = append(s.received, msgEvent(payload, binary))
	s.finishWhenDone()
}

func (s *session) onPong(payload []byte) {
	if !s.runCase {
		return
	}
	s.received = append(s.received, pongEvent(payload))
	s.finishWhenDone()
}

// dropConnection closes the TCP connection, abruptly (abort) or after

// everything queued has been written.

// failConnection fails the WebSocket connection with a close frame (the

// fuzzer never fails by dropping TCP first).

// onCloseFrame handles a received close frame.

// sendCloseFrame sends a close frame with any code and reason, valid or not,

// and moves to the closing state.

// sendClose starts a regular closing handshake.

// frame describes a frame the fuzzer sends; the zero values are Autobahn's

// defaults (FIN set, no RSV bits, no chopping).

// sendFrame sends one frame exactly as described, valid or not.

// sendData queues raw bytes for the connection.

// sendMessage sends a data message, compressed when permessage-deflate is

// in use, in fragments of fragmentSize octets (0: the auto-fragment size).

// beginMessage, beginMessageFrame, sendMessageFrameData and endMessage send

// a message frame by frame and a frame chop by chop (uncompressed only).

// processData parses incoming frames; it reports whether it should be

// called again.

// tlsConn is satisfied by *tls.Conn; kept here so dropConnection can reach

// the TCP connection underneath.

var _ interface{ NetConn() net.Conn } = (*tls.Conn)(nil)
