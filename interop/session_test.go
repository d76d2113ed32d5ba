package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fullduplex/websocket"
)

// The session protocol. The side under test (our library, client or
// server) drives; the peer answers. All control messages are JSON text
// messages with an "op":
//
//	peer → us   {"op":"hello","peer":…,"version":…,"subprotocol":…,"extensions":[…],"conn":N}
//	us → peer   {"op":"data","seq":N,"type":"text|binary","size":N,"frag":bool,"sha256":…}
//	            followed by the payload message; the peer checks sequence,
//	            type, size and checksum, then echoes both, sending the payload
//	            in fragments when frag is set.
//	us → peer   {"op":"ping","payload":…}: the peer pings with that payload
//	            (or one of its own if its API has no say), waits for the
//	            pong and answers {"op":"pong","payload_hex":…} with the
//	            payload that went both ways.
//	us → peer   {"op":"stats"}: answered with {"op":"stats","received":N,"errors":N}.
//	us → peer   {"op":"close","code":N,"reason":…}: the peer starts the
//	            closing handshake.
//	peer → us   {"op":"error","msg":…} whenever a check failed on its side.
//
// Peers that run as programs also print JSON lines on stdout, among them
// {"event":"close","conn":N,"code":N,"reason":…} with the close frame they
// received.

// ctrl is a control message of the session protocol.
type ctrl struct {
	Op          string   `json:"op"`
	Seq         int      `json:"seq,omitempty"`
	Type        string   `json:"type,omitempty"`
	Size        int      `json:"size"`
	Frag        bool     `json:"frag,omitempty"`
	SHA256      string   `json:"sha256,omitempty"`
	Payload     string   `json:"payload,omitempty"`
	PayloadHex  string   `json:"payload_hex,omitempty"`
	Code        int      `json:"code,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Peer        string   `json:"peer,omitempty"`
	Version     string   `json:"version,omitempty"`
	Subprotocol string   `json:"subprotocol,omitempty"`
	Extensions  []string `json:"extensions,omitempty"`
	Conn        int      `json:"conn,omitempty"`
	Received    int      `json:"received,omitempty"`
	Errors      int      `json:"errors,omitempty"`
	Msg         string   `json:"msg,omitempty"`
}

// Subprotocols used by every session: servers speak serverProtocols in
// this order of preference; clients offer offeredProtocols for the main
// session (one in common: interop.v1) and unknownProtocols for the short
// one (none in common).
var (
	serverProtocols  = []string{"interop.v2", "interop.v1"}
	offeredProtocols = []string{"x-unknown.v9", "interop.v1"}
	unknownProtocols = []string{"x-unknown.v9"}
)

// fullSizes are the message sizes of the issue: around the 7-bit, 16-bit
// and 64-bit length encodings, and a large message.
var fullSizes = []int{0, 1, 125, 126, 65535, 65536, 16 << 20}

// msgCase is one message of a session's plan.
type msgCase struct {
	seq     int
	typ     websocket.MessageType
	frag    bool
	payload []byte
	sum     string
}

func (m *msgCase) meta() ctrl {
	return ctrl{Op: "data", Seq: m.seq, Type: typeName(m.typ), Size: len(m.payload), Frag: m.frag, SHA256: m.sum}
}

func typeName(t websocket.MessageType) string {
	if t == websocket.MessageText {
		return "text"
	}
	return "binary"
}

var (
	planOnce sync.Once
	plan     []*msgCase
	planMax  = 16 << 20
)

// messagePlan returns the messages every full session sends: each size,
// text and binary, whole and fragmented. The payloads are random (text is
// random UTF-8 of one to four bytes per character) and shared read-only
// by all sessions. With -short, the 16 MiB messages are left out.
func messagePlan() []*msgCase {
	planOnce.Do(func() {
		rng := rand.New(rand.NewChaCha8([32]byte{'i', 'n', 't', 'e', 'r', 'o', 'p'}))
		seq := 0
		for _, frag := range []bool{false, true} {
			for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
				for _, size := range fullSizes {
					if testing.Short() && size > 1<<20 {
						continue
					}
					seq++
					var p []byte
					if typ == websocket.MessageText {
						p = randomText(rng, size)
					} else {
						p = make([]byte, size)
						for i := range p {
							p[i] = byte(rng.Uint32())
						}
					}
					sum := sha256.Sum256(p)
					plan = append(plan, &msgCase{seq: seq, typ: typ, frag: frag, payload: p, sum: hex.EncodeToString(sum[:])})
				}
			}
		}
	})
	return plan
}

// planUpTo returns the plan without the messages larger than maxSize (all
// of it when maxSize is 0), numbered afresh.
func planUpTo(maxSize int) []*msgCase {
	var out []*msgCase
	for _, m := range messagePlan() {
		if maxSize > 0 && len(m.payload) > maxSize {
			continue
		}
		c := *m
		c.seq = len(out) + 1
		out = append(out, &c)
	}
	return out
}

// randomText returns size bytes of valid UTF-8 mixing characters of every
// encoded length, so that fragments split characters at every offset.
func randomText(rng *rand.Rand, size int) []byte {
	p := make([]byte, 0, size)
	for len(p) < size {
		left := size - len(p)
		var r rune
		switch n := rng.IntN(100); {
		case n < 60 || left < 4:
			r = rune(0x20 + rng.IntN(0x5f))
		case n < 75:
			r = rune(0x80 + rng.IntN(0x800-0x80))
		case n < 90:
			r = rune(0x800 + rng.IntN(0xd800-0x800))
		default:
			r = rune(0x10000 + rng.IntN(0x110000-0x10000))
		}
		p = utf8.AppendRune(p, r)
	}
	return p
}

// closeSpec says who closes a session and with what.
type closeSpec struct {
	byPeer bool // the peer starts the closing handshake
	code   websocket.StatusCode
	reason string
}

// sessionSpec is what one session checks.
type sessionSpec struct {
	subprotocol string // the subprotocol both sides must have agreed
	data        bool   // run the message plan
	maxSize     int    // leave out larger messages of the plan; 0 for none
	peerPings   bool   // the peer can send pings (browsers cannot)
	close       closeSpec
	timeout     time.Duration
}

// mainSession sends the whole plan and is closed by us; shortSession only
// checks the handshake and a close started by the peer.
func mainSession(subprotocol string) sessionSpec {
	return sessionSpec{
		subprotocol: subprotocol,
		data:        true,
		peerPings:   true,
		close:       closeSpec{code: 4001, reason: "closed by fullduplex ✓"},
		timeout:     150 * time.Second,
	}
}

func shortSession(subprotocol string) sessionSpec {
	return sessionSpec{
		subprotocol: subprotocol,
		peerPings:   true,
		close:       closeSpec{byPeer: true, code: websocket.StatusNormalClosure, reason: "closed by the peer ✓"},
		timeout:     30 * time.Second,
	}
}

// peerClose is the close frame a peer received, as it reported it.
type peerClose struct {
	code   int
	reason string
}

// closeWatcher returns what the peer saw of the closing handshake on its
// connection conn.
type closeWatcher func(ctx context.Context, conn int) (peerClose, error)

// driverOptions are the ConnOptions of our side in every session. The odd
// write buffer size makes Writer's fragments split UTF-8 characters and
// mask keys at odd offsets. It stays near the default: Node's ws refuses
// messages of more than 16384 fragments by default, so a 16 MiB message
// needs fragments of at least 1 KiB.
func driverOptions(onPing func([]byte)) websocket.ConnOptions {
	return websocket.ConnOptions{
		ReadLimit:       32 << 20,
		WriteBufferSize: 4099,
		CloseTimeout:    10 * time.Second,
		OnPing:          onPing,
	}
}

// inbound is one message the driver read.
type inbound struct {
	ctrl    *ctrl // the control message, or the data meta for a payload
	typ     websocket.MessageType
	size    int
	sum     string
	payload bool // a data meta followed by its payload
	err     error
}

// session is our side of one connection.
type session struct {
	t     *testing.T
	c     *websocket.Conn
	spec  sessionSpec
	pings chan []byte // payloads of pings received
	in    chan inbound
	done  chan struct{} // closed when the read loop ended
	hello ctrl
	// poller, if not nil, reads c and calls back with each message
	// (pollFeed) instead of readLoop's goroutine blocked in Read.
	poller *connPoller
}

// newSession wraps c; pings must be the channel fed by the OnPing hook of
// c's options.
func newSession(t *testing.T, c *websocket.Conn, spec sessionSpec, pings chan []byte) *session {
	return &session{t: t, c: c, spec: spec, pings: pings, in: make(chan inbound, 4), done: make(chan struct{})}
}

// emit hands ev to the driver unless the session is over.
func (s *session) emit(ctx context.Context, ev inbound) bool {
	select {
	case s.in <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// readLoop reads messages until the connection ends. A data meta is read
// together with the payload that follows it; payloads announced as
// fragmented are read with the streaming Reader, whole ones with Read.
func (s *session) readLoop(ctx context.Context) {
	defer close(s.done)
	buf := make([]byte, 32<<10)
	for {
		typ, p, err := s.c.Read(ctx)
		if err != nil {
			s.emit(ctx, inbound{err: err})
			return
		}
		m, err := decodeCtrl(typ, p)
		if err != nil {
			s.emit(ctx, inbound{err: err})
			return
		}
		if m.Op != "data" {
			if !s.emit(ctx, inbound{ctrl: m}) {
				return
			}
			continue
		}
		var (
			ptyp websocket.MessageType
			size int
		)
		h := sha256.New()
		if m.Frag {
			var r io.Reader
			ptyp, r, err = s.c.Reader(ctx)
			if err == nil {
				var n int64
				n, err = io.CopyBuffer(h, r, buf)
				size = int(n)
			}
		} else {
			var p []byte
			ptyp, p, err = s.c.Read(ctx)
			h.Write(p)
			size = len(p)
		}
		if err != nil {
			s.emit(ctx, inbound{err: fmt.Errorf("payload of message %d: %w", m.Seq, err)})
			return
		}
		if !s.emit(ctx, payloadEvent(m, ptyp, size, hex.EncodeToString(h.Sum(nil)))) {
			return
		}
	}
}

// decodeCtrl decodes a message where a control message belongs.
func decodeCtrl(typ websocket.MessageType, p []byte) (*ctrl, error) {
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("got a %v message of %d bytes where a control message belongs", typ, len(p))
	}
	var m ctrl
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, fmt.Errorf("control message %.80q: %v", p, err)
	}
	return &m, nil
}

// payloadEvent is the event of a payload read after its data meta m.
func payloadEvent(m *ctrl, typ websocket.MessageType, size int, sum string) inbound {
	return inbound{ctrl: m, payload: true, typ: typ, size: size, sum: sum}
}

func sha256Hex(p []byte) string {
	sum := sha256.Sum256(p)
	return hex.EncodeToString(sum[:])
}

// next returns the next message read, failing on errors and on the
// peer's error reports.
func (s *session) next(ctx context.Context, what string) (inbound, error) {
	select {
	case ev := <-s.in:
		if ev.err != nil {
			return ev, fmt.Errorf("waiting for %s: %w", what, ev.err)
		}
		if ev.ctrl.Op == "error" {
			return ev, fmt.Errorf("waiting for %s: the peer reported: %s", what, ev.ctrl.Msg)
		}
		return ev, nil
	case <-ctx.Done():
		return inbound{}, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
}

func (s *session) send(ctx context.Context, m ctrl) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.c.Write(ctx, websocket.MessageText, b)
}

// writeCase sends a data meta and its payload, whole with Write or in
// fragments with Writer, written to it in uneven pieces.
func (s *session) writeCase(ctx context.Context, m *msgCase) error {
	if err := s.send(ctx, m.meta()); err != nil {
		return err
	}
	if !m.frag {
		return s.c.Write(ctx, m.typ, m.payload)
	}
	w, err := s.c.Writer(ctx, m.typ)
	if err != nil {
		return err
	}
	p := m.payload
	for i := 0; len(p) > 0; i++ {
		n := min(len(p), 700+i%5*333)
		if _, err := w.Write(p[:n]); err != nil {
			w.Close()
			return err
		}
		p = p[n:]
	}
	return w.Close()
}

// run drives the session: hello and subprotocol, pings both ways, the
// message plan, the peer's statistics and the closing handshake. It
// reports failures on s.t and returns the hello for the caller's checks.
func (s *session) run(watch closeWatcher) ctrl {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.spec.timeout)
	defer cancel()
	readCtx, stopRead := context.WithCancel(ctx)
	defer func() {
		stopRead()
		s.c.CloseNow()
		<-s.done
	}()
	if s.poller != nil {
		s.startPollFeed(readCtx)
	} else {
		go s.readLoop(readCtx)
	}

	if err := s.handshakeAndPings(ctx); err != nil {
		t.Error(err)
		return s.hello
	}
	if s.spec.data {
		start := time.Now()
		if err := s.exchange(ctx); err != nil {
			t.Error(err)
			return s.hello
		}
		t.Logf("messages exchanged in %v", time.Since(start).Round(time.Millisecond))
	}
	if err := s.closeHandshake(ctx, watch); err != nil {
		t.Error(err)
	}
	return s.hello
}

func (s *session) handshakeAndPings(ctx context.Context) error {
	ev, err := s.next(ctx, "hello")
	if err != nil {
		return err
	}
	if ev.ctrl.Op != "hello" {
		return fmt.Errorf("first message is %q, want hello", ev.ctrl.Op)
	}
	s.hello = *ev.ctrl
	if got := s.c.Subprotocol(); got != s.spec.subprotocol {
		return fmt.Errorf("our side chose subprotocol %q, want %q", got, s.spec.subprotocol)
	}
	if s.hello.Subprotocol != s.spec.subprotocol {
		return fmt.Errorf("the peer chose subprotocol %q, want %q", s.hello.Subprotocol, s.spec.subprotocol)
	}

	// Our ping, answered by the peer's automatic pong.
	if _, err := s.c.Ping(ctx); err != nil {
		return fmt.Errorf("our ping: %w", err)
	}
	if !s.spec.peerPings {
		return nil
	}
	// The peer's ping, answered by our automatic pong.
	payload := fmt.Sprintf("ping from the peer %d", s.hello.Conn)
	if err := s.send(ctx, ctrl{Op: "ping", Payload: payload}); err != nil {
		return err
	}
	ev, err = s.next(ctx, "the peer's pong report")
	if err != nil {
		return err
	}
	if ev.ctrl.Op != "pong" {
		return fmt.Errorf("the peer reported %+v, want a pong", *ev.ctrl)
	}
	// Our own responder's Ping chooses its payload; real peers use ours.
	if want := hex.EncodeToString([]byte(payload)); s.hello.Peer != goPeerName && ev.ctrl.PayloadHex != want {
		return fmt.Errorf("the peer pinged with payload %s, want %s", ev.ctrl.PayloadHex, want)
	}
	// OnPing runs on our reading goroutine (or the Poller's loop) before
	// it reads the report.
	select {
	case p := <-s.pings:
		if got := hex.EncodeToString(p); got != ev.ctrl.PayloadHex {
			return fmt.Errorf("OnPing saw payload %s, the peer sent %s", got, ev.ctrl.PayloadHex)
		}
	default:
		return errors.New("OnPing was not called for the peer's ping")
	}
	return nil
}

// exchange sends the plan from one goroutine while reading the echoes, and
// pings in the middle of the largest fragmented message.
func (s *session) exchange(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cases := planUpTo(s.spec.maxSize)
	largest := cases[0]
	for _, m := range cases {
		if m.frag && len(m.payload) >= len(largest.payload) {
			largest = m
		}
	}
	pingNow := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		for _, m := range cases {
			if m == largest {
				close(pingNow)
			}
			if err := s.writeCase(ctx, m); err != nil {
				writeErr <- fmt.Errorf("sending message %d (%s, %d B, frag %v): %w", m.seq, typeName(m.typ), len(m.payload), m.frag, err)
				cancel()
				return
			}
		}
		writeErr <- nil
	}()
	pingErr := make(chan error, 1)
	go func() {
		select {
		case <-pingNow:
		case <-ctx.Done():
			pingErr <- nil
			return
		}
		_, err := s.c.Ping(ctx)
		if err != nil {
			err = fmt.Errorf("ping during a fragmented message: %w", err)
		}
		pingErr <- err
	}()

	var readErr error
	start := time.Now()
	for _, want := range cases {
		ev, err := s.next(ctx, fmt.Sprintf("echo of message %d", want.seq))
		if len(want.payload) >= 1<<20 {
			s.t.Logf("echo of message %d (%s, %d B, frag %v) after %v", want.seq, typeName(want.typ), len(want.payload), want.frag, time.Since(start).Round(time.Millisecond))
		}
		if err != nil {
			readErr = err
			break
		}
		if err := checkEcho(ev, want); err != nil {
			readErr = err
			break
		}
	}
	if readErr != nil {
		cancel()
	}
	werr, perr := <-writeErr, <-pingErr
	if err := errors.Join(readErr, werr, perr); err != nil {
		return err
	}

	if err := s.send(ctx, ctrl{Op: "stats"}); err != nil {
		return err
	}
	ev, err := s.next(ctx, "stats")
	if err != nil {
		return err
	}
	if ev.ctrl.Op != "stats" || ev.ctrl.Received != len(cases) || ev.ctrl.Errors != 0 {
		return fmt.Errorf("the peer's stats: %+v, want %d messages received and no errors", *ev.ctrl, len(cases))
	}
	return nil
}

func checkEcho(ev inbound, want *msgCase) error {
	m := ev.ctrl
	name := fmt.Sprintf("message %d (%s, %d B, frag %v)", want.seq, typeName(want.typ), len(want.payload), want.frag)
	switch {
	case !ev.payload:
		return fmt.Errorf("%s: got %q where its echo belongs", name, m.Op)
	case m.Seq != want.seq:
		return fmt.Errorf("%s: echo has sequence number %d: lost or reordered", name, m.Seq)
	case m.Type != typeName(want.typ) || ev.typ != want.typ:
		return fmt.Errorf("%s: echo announced as %s and read as %v", name, m.Type, ev.typ)
	case ev.size != len(want.payload) || m.Size != len(want.payload):
		return fmt.Errorf("%s: echo of %d B announced as %d B", name, ev.size, m.Size)
	case m.SHA256 != want.sum:
		return fmt.Errorf("%s: the peer received a payload with checksum %s, want %s", name, m.SHA256, want.sum)
	case ev.sum != want.sum:
		return fmt.Errorf("%s: echo arrived with checksum %s, want %s", name, ev.sum, want.sum)
	}
	return nil
}

// closeHandshake closes as the spec says and checks that both sides saw
// the same close frame, in bounded time.
func (s *session) closeHandshake(ctx context.Context, watch closeWatcher) error {
	want := s.spec.close
	start := time.Now()
	if want.byPeer {
		if err := s.send(ctx, ctrl{Op: "close", Code: int(want.code), Reason: want.reason}); err != nil {
			return err
		}
	} else if err := s.c.Close(want.code, want.reason); err != nil {
		return fmt.Errorf("Close(%d, %q): %w", want.code, want.reason, err)
	}
	// The read loop ends with the peer's close frame: the one it started
	// with, or its answer to ours, which echoes our code.
	var ev inbound
	select {
	case ev = <-s.in:
	case <-ctx.Done():
		return fmt.Errorf("our read did not end after the closing handshake: %w", ctx.Err())
	}
	if ev.err == nil {
		return fmt.Errorf("got %q after the close", ev.ctrl.Op)
	}
	var ce *websocket.CloseError
	if !errors.As(ev.err, &ce) {
		return fmt.Errorf("our read ended with %v, want the peer's close frame", ev.err)
	}
	if ce.Code != want.code {
		return fmt.Errorf("we saw close code %v, want %v", ce.Code, want.code)
	}
	if want.byPeer && ce.Reason != want.reason {
		return fmt.Errorf("we saw close reason %q, want %q", ce.Reason, want.reason)
	}
	if _, _, err := s.c.Read(ctx); err == nil {
		return errors.New("Read after the close succeeded")
	}
	if want.byPeer {
		// The connection ended when we answered the peer's close.
		if err := s.c.Close(websocket.StatusNormalClosure, ""); !errors.Is(err, websocket.ErrClosed) {
			return fmt.Errorf("Close after the peer's close returned %v, want ErrClosed", err)
		}
	}
	pc, err := watch(ctx, s.hello.Conn)
	if err != nil {
		return fmt.Errorf("waiting for the peer to see the close: %w", err)
	}
	if pc.code != int(want.code) {
		return fmt.Errorf("the peer saw close code %d, want %d", pc.code, want.code)
	}
	if !want.byPeer && pc.reason != want.reason {
		return fmt.Errorf("the peer saw close reason %q, want %q", pc.reason, want.reason)
	}
	s.t.Logf("closing handshake (started by %s) took %v; the peer saw %d %q", map[bool]string{false: "us", true: "the peer"}[want.byPeer], time.Since(start).Round(time.Millisecond), pc.code, pc.reason)
	return nil
}
