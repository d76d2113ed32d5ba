package suite

import (
	"crypto/tls"
	"encoding/hex"
	"time"
)

// Verdict is the judgement of a case, in Autobahn's words.
type Verdict string

// Verdicts. Behavior is one of OK, NonStrict, Informational, Unimplemented or
// Failed; BehaviorClose is one of OK, Informational, Failed, WrongCode,
// Unclean or FailedByClient.
const (
	// OK: the peer did what the case expects.
	OK Verdict = "OK"
	// NonStrict: acceptable, but a SHOULD or a canonical behaviour was not
	// followed (for example, a protocol error detected late).
	NonStrict Verdict = "NON-STRICT"
	// Informational: the case only reports what the peer did.
	Informational Verdict = "INFORMATIONAL"
	// Unimplemented: the peer does not implement the feature under test
	// (permessage-deflate not negotiated in cases 12 and 13).
	Unimplemented Verdict = "UNIMPLEMENTED"
	// Failed: the peer violated the protocol or the case's expectation.
	Failed Verdict = "FAILED"
	// WrongCode: the peer closed with a close code the case does not allow.
	WrongCode Verdict = "WRONG CODE"
	// Unclean: the closing handshake was not completed as required.
	Unclean Verdict = "UNCLEAN"
	// FailedByClient: the fuzzing client had to drop the TCP connection
	// that the server should have closed.
	FailedByClient Verdict = "FAILED BY CLIENT"
)

// Options tune a run of the suite.
type Options struct {
	// Scale divides the message sizes of cases 9.1 to 9.6 and the message
	// counts of cases 9.7, 9.8, 12 and 13, for quick runs. 0 and 1 run
	// Autobahn's sizes.
	Scale int
	// ChopDelay is the pause after each chopped or sync write, which makes
	// such writes leave the host one by one. 0 means 10µs, Autobahn's
	// value; a negative value means no pause.
	ChopDelay time.Duration
	// TimeScale stretches every wait of the suite: the pauses and
	// deadlines of the cases and the fuzzer's closing handshake timeouts.
	// 0 and 1 keep Autobahn's timing; larger values make runs on slow or
	// busy machines (or under the race detector) immune to scheduling
	// delays, at the price of longer waits in the cases that wait by
	// design (5.19, 5.20 and 6.4.x).
	TimeScale float64
	// TLSConfig is used for wss:// URLs by the fuzzing client.
	TLSConfig *tls.Config
}

func (o Options) stretch(d time.Duration) time.Duration {
	if o.TimeScale <= 0 {
		return d
	}
	return time.Duration(float64(d) * o.TimeScale)
}

func (o Options) scale() int {
	if o.Scale < 1 {
		return 1
	}
	return o.Scale
}

func (o Options) chopDelay() time.Duration {
	switch {
	case o.ChopDelay == 0:
		return 10 * time.Microsecond
	case o.ChopDelay < 0:
		return 0
	}
	return o.ChopDelay
}

// scaled divides n by the scale, keeping at least one.
func (o Options) scaled(n int) int {
	return max(1, n/o.scale())
}

// ExpectedClose is what a case expects of the closing of the connection.
type ExpectedClose struct {
	// ClosedByMe: the fuzzer is expected to start the closing handshake.
	ClosedByMe bool `json:"closedByMe"`
	// CloseCode lists the close codes the peer may send.
	CloseCode []int `json:"closeCode"`
	// RequireClean: the closing handshake must complete.
	RequireClean bool `json:"requireClean"`
	// ClosedByWrongEndpointIsFatal: closing from the wrong side fails the
	// case itself (UTF-8 cases: the peer did not notice the invalid text).
	ClosedByWrongEndpointIsFatal bool `json:"closedByWrongEndpointIsFatal,omitempty"`
}

// TrafficStats counts the data messages of a connection, as Autobahn
// reports them for the compression cases: octets on the wire, in WebSocket
// payloads (compressed) and for the application (uncompressed), frames and
// messages, each way, with the compression ratio (payload over application
// octets) and the framing overhead.
type TrafficStats struct {
	OutgoingOctetsWireLevel        int      `json:"outgoingOctetsWireLevel"`
	OutgoingOctetsWebSocketLevel   int      `json:"outgoingOctetsWebSocketLevel"`
	OutgoingOctetsAppLevel         int      `json:"outgoingOctetsAppLevel"`
	OutgoingCompressionRatio       *float64 `json:"outgoingCompressionRatio"`
	OutgoingWebSocketOverhead      *float64 `json:"outgoingWebSocketOverhead"`
	OutgoingWebSocketFrames        int      `json:"outgoingWebSocketFrames"`
	OutgoingWebSocketMessages      int      `json:"outgoingWebSocketMessages"`
	PreopenOutgoingOctetsWireLevel int      `json:"preopenOutgoingOctetsWireLevel"`
	IncomingOctetsWireLevel        int      `json:"incomingOctetsWireLevel"`
	IncomingOctetsWebSocketLevel   int      `json:"incomingOctetsWebSocketLevel"`
	IncomingOctetsAppLevel         int      `json:"incomingOctetsAppLevel"`
	IncomingCompressionRatio       *float64 `json:"incomingCompressionRatio"`
	IncomingWebSocketOverhead      *float64 `json:"incomingWebSocketOverhead"`
	IncomingWebSocketFrames        int      `json:"incomingWebSocketFrames"`
	IncomingWebSocketMessages      int      `json:"incomingWebSocketMessages"`
	PreopenIncomingOctetsWireLevel int      `json:"preopenIncomingOctetsWireLevel"`
}

func ratio(a, b int) *float64 {
	if b <= 0 {
		return nil
	}
	r := float64(a) / float64(b)
	return &r
}

// snapshot returns a copy with the derived ratios filled in.
func (t TrafficStats) snapshot() *TrafficStats {
	t.OutgoingCompressionRatio = ratio(t.OutgoingOctetsWebSocketLevel, t.OutgoingOctetsAppLevel)
	t.IncomingCompressionRatio = ratio(t.IncomingOctetsWebSocketLevel, t.IncomingOctetsAppLevel)
	t.OutgoingWebSocketOverhead = ratio(t.OutgoingOctetsWireLevel-t.OutgoingOctetsWebSocketLevel, t.OutgoingOctetsWebSocketLevel)
	t.IncomingWebSocketOverhead = ratio(t.IncomingOctetsWireLevel-t.IncomingOctetsWebSocketLevel, t.IncomingOctetsWebSocketLevel)
	return &t
}

// Result is the outcome of one case against one agent, with the fields of
// Autobahn's per-case JSON report.
type Result struct {
	// Case is the case's position among the cases run (1-based); ID is its
	// number, Description and Expectation its text.
	Case        int    `json:"case"`
	ID          string `json:"id"`
	Description string `json:"description"`
	Expectation string `json:"expectation"`
	// Agent names the implementation tested.
	Agent string `json:"agent"`
	// Started is when the connection was made (UTC, ISO 8601); Duration is
	// how long the case ran once open, in milliseconds.
	Started  string `json:"started"`
	Duration int64  `json:"duration"`
	// ReportTime and ReportCompressionRatio tell reports to show the
	// duration and the compression ratios.
	ReportTime             bool `json:"reportTime"`
	ReportCompressionRatio bool `json:"reportCompressionRatio"`
	// Behavior and BehaviorClose are the verdicts; Result and ResultClose
	// explain them.
	Behavior      Verdict `json:"behavior"`
	BehaviorClose Verdict `json:"behaviorClose"`
	// Expected maps verdicts to the observations that earn them; Received
	// is what was observed; ExpectedClose is what the case expected of the
	// close.
	Expected      map[string][]any `json:"expected"`
	ExpectedClose ExpectedClose    `json:"expectedClose"`
	Received      []any            `json:"received"`
	Result        string           `json:"result"`
	ResultClose   string           `json:"resultClose"`
	// Wirelog records octets, frames and timers, as Autobahn's wire log;
	// CreateWirelog is false if logging was off at the end.
	Wirelog       []any `json:"wirelog"`
	CreateWirelog bool  `json:"createWirelog"`
	// The closing of the connection, from the fuzzer's side: whether it
	// started the closing handshake, failed the connection, dropped TCP,
	// whether the handshake completed, why not, which timeouts fired, and
	// the close codes and reasons sent and received.
	ClosedByMe                     bool    `json:"closedByMe"`
	FailedByMe                     bool    `json:"failedByMe"`
	DroppedByMe                    bool    `json:"droppedByMe"`
	WasClean                       bool    `json:"wasClean"`
	WasNotCleanReason              *string `json:"wasNotCleanReason"`
	WasServerConnectionDropTimeout bool    `json:"wasServerConnectionDropTimeout"`
	WasOpenHandshakeTimeout        bool    `json:"wasOpenHandshakeTimeout"`
	WasCloseHandshakeTimeout       bool    `json:"wasCloseHandshakeTimeout"`
	LocalCloseCode                 *int    `json:"localCloseCode"`
	LocalCloseReason               *string `json:"localCloseReason"`
	RemoteCloseCode                *int    `json:"remoteCloseCode"`
	RemoteCloseReason              *string `json:"remoteCloseReason"`
	// IsServer is true when the fuzzer was the server.
	IsServer bool `json:"isServer"`
	// Octets per read or write size, and frames per opcode, each way.
	CreateStats  bool        `json:"createStats"`
	RxOctetStats map[int]int `json:"rxOctetStats"`
	RxFrameStats map[int]int `json:"rxFrameStats"`
	TxOctetStats map[int]int `json:"txOctetStats"`
	TxFrameStats map[int]int `json:"txFrameStats"`
	// The opening handshake as sent and received.
	HTTPRequest  string `json:"httpRequest"`
	HTTPResponse string `json:"httpResponse"`
	// TrafficStats are set by the compression cases that pass.
	TrafficStats *TrafficStats `json:"trafficStats"`
}

// Passed reports whether the result is what a conforming implementation
// gets: OK in both verdicts, or INFORMATIONAL where the case only informs.
func (r *Result) Passed() bool {
	return (r.Behavior == OK && r.BehaviorClose == OK) ||
		(r.Behavior == Informational && r.BehaviorClose == Informational)
}

func (e event) report() []any {
	switch e.kind {
	case "message":
		return []any{e.kind, asciiLogData(e.payload), e.binary}
	case "timeout":
		return []any{e.kind, e.tag}
	}
	return []any{e.kind, asciiLogData(e.payload)}
}

func eventsReport(evs []event) []any {
	out := make([]any, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.report())
	}
	return out
}

// utcStamp formats a time like Autobahn's report timestamps.
func utcStamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (s *session) makeResult() *Result {
	r := &Result{
		Case:                           s.caseNum,
		ID:                             s.c.ID,
		Description:                    s.c.Description,
		Expectation:                    s.c.Expectation,
		Agent:                          s.agent,
		Started:                        utcStamp(s.started),
		ReportTime:                     s.reportTime,
		ReportCompressionRatio:         s.reportCompressionRatio,
		Behavior:                       s.behavior,
		BehaviorClose:                  s.behaviorClose,
		Expected:                       map[string][]any{},
		ExpectedClose:                  s.expectedClose,
		Received:                       eventsReport(s.received),
		Result:                         s.result,
		ResultClose:                    s.resultClose,
		Wirelog:                        s.wirelog,
		CreateWirelog:                  s.createWirelog,
		ClosedByMe:                     s.closedByMe,
		FailedByMe:                     s.failedByMe,
		DroppedByMe:                    s.droppedByMe,
		WasClean:                       s.wasClean,
		WasNotCleanReason:              s.wasNotCleanReason,
		WasServerConnectionDropTimeout: s.wasServerConnectionDropTimeout,
		WasOpenHandshakeTimeout:        s.wasOpenHandshakeTimeout,
		WasCloseHandshakeTimeout:       s.wasCloseHandshakeTimeout,
		LocalCloseCode:                 s.localCloseCode,
		RemoteCloseCode:                s.remoteCloseCode,
		RemoteCloseReason:              s.remoteCloseReason,
		IsServer:                       s.isServer,
		CreateStats:                    s.createStats,
		RxOctetStats:                   s.rxOctetStats,
		RxFrameStats:                   s.rxFrameStats,
		TxOctetStats:                   s.txOctetStats,
		TxFrameStats:                   s.txFrameStats,
		HTTPRequest:                    s.httpRequest,
		HTTPResponse:                   s.httpResponse,
		TrafficStats:                   s.trafficCopy,
	}
	if s.opts.scale() > 1 && s.c.scaled {
		r.Description += " (Sizes or counts divided by " + itoa(s.opts.scale()) + ".)"
	}
	if !s.caseStart.IsZero() {
		r.Duration = s.caseEnd.Sub(s.caseStart).Milliseconds()
	}
	if r.Wirelog == nil {
		r.Wirelog = []any{}
	}
	for _, e := range s.expected {
		r.Expected[string(e.verdict)] = eventsReport(e.events)
	}
	if s.expectedClose.CloseCode == nil {
		r.ExpectedClose.CloseCode = []int{}
	}
	if s.localCloseReasonSet {
		lr := s.localCloseReason
		var str string
		if s.c.hexCloseReason {
			str = hex.EncodeToString(lr)
		} else {
			str = string(lr)
		}
		r.LocalCloseReason = &str
	} else if s.c.hexCloseReason {
		q := "?"
		r.LocalCloseReason = &q
	}
	return r
}
