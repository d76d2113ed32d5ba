package interop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// goPeerName is how the answering side written with our library names
// itself in its hello.
const goPeerName = "fullduplex/websocket"

// responder is the answering side of the session protocol written with
// our library, as an http.Handler: the server behind nginx and the
// proxies. goResponder reads each connection with a goroutine of its own;
// pollResponder lets a websocket.Poller read them. Both answer with the
// same answerer.
type responder interface {
	http.Handler
	// remote returns the remote address the responder saw on connection
	// conn.
	remote(conn int) string
	// watchClose is the closeWatcher of sessions with the responder.
	watchClose(ctx context.Context, conn int) (peerClose, error)
}

// responderLog is what a responder records of its connections, for the
// driving side's checks.
type responderLog struct {
	mu      sync.Mutex
	conns   int
	remotes map[int]string // remote address of each connection
	closes  map[int]peerClose
	changed chan struct{} // closed and replaced when closes changes
}

func newResponderLog() responderLog {
	return responderLog{remotes: map[int]string{}, closes: map[int]peerClose{}, changed: make(chan struct{})}
}

// opened numbers a new connection.
func (l *responderLog) opened(c *websocket.Conn) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns++
	l.remotes[l.conns] = c.RemoteAddr().String()
	return l.conns
}

// closed records the close frame received on connection conn (zero if
// the connection failed).
func (l *responderLog) closed(conn int, pc peerClose) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closes[conn] = pc
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *responderLog) remote(conn int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remotes[conn]
}

func (l *responderLog) watchClose(ctx context.Context, conn int) (peerClose, error) {
	for {
		l.mu.Lock()
		pc, ok := l.closes[conn]
		changed := l.changed
		l.mu.Unlock()
		if ok {
			return pc, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return peerClose{}, ctx.Err()
		}
	}
}

// responderOptions are the responders' Accept options; lastPong gets the
// hex payload of every pong received.
func responderOptions(lastPong *atomic.Value) *websocket.AcceptOptions {
	opts := &websocket.AcceptOptions{
		ConnOptions:  driverOptions(nil),
		Subprotocols: serverProtocols,
	}
	opts.OnPong = func(p []byte) { lastPong.Store(hex.EncodeToString(p)) }
	return opts
}

// responderTimeout bounds one connection of a responder.
const responderTimeout = 3 * time.Minute

// replyKind is what a reply of the answering side does.
type replyKind int

const (
	replySend  replyKind = iota // send the control message msg
	replyEcho                   // send payload back, in fragments if frag
	replyPing                   // ping the peer, then report the pong
	replyClose                  // start the closing handshake with msg's code and reason
)

// reply is one thing the answering side does in answer to a message.
type reply struct {
	kind    replyKind
	msg     ctrl
	typ     websocket.MessageType
	payload []byte // aliases the message read; copy it to keep it
	frag    bool
}

// slow reports whether carrying out the reply may take long: a ping waits
// for its pong, a large echo for the peer to read it.
func (r reply) slow() bool {
	return r.kind == replyPing || r.kind == replyEcho && len(r.payload) > 64<<10
}

// answerer is the protocol state of the answering side on one connection:
// it checks announced payloads against their meta and keeps the counts
// that stats reports. Both responders feed it every message they read, in
// order, and carry out the replies it returns, in order.
type answerer struct {
	pending  *ctrl // the data meta whose payload comes next
	received int
	errs     int
}

// hello is the answering side's first message on connection conn.
func hello(c *websocket.Conn, conn int) reply {
	return reply{kind: replySend, msg: ctrl{Op: "hello", Peer: goPeerName, Version: "this tree", Subprotocol: c.Subprotocol(), Conn: conn}}
}

// handle takes one message read and returns the replies to it. An error
// means the peer broke the protocol; the connection should end.
func (a *answerer) handle(typ websocket.MessageType, p []byte) ([]reply, error) {
	if a.pending != nil {
		m := *a.pending
		a.pending = nil
		a.received++
		got := ctrl{Op: "data", Seq: m.Seq, Type: typeName(typ), Size: len(p), Frag: m.Frag, SHA256: sha256Hex(p)}
		if got.Seq != a.received || got.Type != m.Type || got.Size != m.Size || got.SHA256 != m.SHA256 {
			a.errs++
			return []reply{{kind: replySend, msg: ctrl{Op: "error", Msg: fmt.Sprintf("received %+v, announced %+v (expected sequence %d)", got, m, a.received)}}}, nil
		}
		return []reply{
			{kind: replySend, msg: got},
			{kind: replyEcho, typ: typ, payload: p, frag: m.Frag},
		}, nil
	}
	m, err := decodeCtrl(typ, p)
	if err != nil {
		return nil, err
	}
	switch m.Op {
	case "data":
		a.pending = m
		return nil, nil
	case "ping":
		return []reply{{kind: replyPing}}, nil
	case "stats":
		return []reply{{kind: replySend, msg: ctrl{Op: "stats", Received: a.received, Errors: a.errs}}}, nil
	case "close":
		return []reply{{kind: replyClose, msg: *m}}, nil
	}
	return nil, fmt.Errorf("unknown op %q", m.Op)
}

// perform carries out a reply other than replyClose. For replyPing,
// something must go on reading c meanwhile: Ping reads itself when no
// Read is active, and a Poller reads the connections it serves.
func perform(ctx context.Context, c *websocket.Conn, r reply, lastPong *atomic.Value) error {
	switch r.kind {
	case replySend:
		b, err := json.Marshal(r.msg)
		if err != nil {
			return err
		}
		return c.Write(ctx, websocket.MessageText, b)
	case replyEcho:
		return echoPayload(ctx, c, r.typ, r.payload, r.frag)
	case replyPing:
		// Ping has no say over its payload; report the one that went
		// both ways, which is what our OnPong hook saw.
		if _, err := c.Ping(ctx); err != nil {
			return err
		}
		pong, _ := lastPong.Load().(string)
		return perform(ctx, c, reply{kind: replySend, msg: ctrl{Op: "pong", PayloadHex: pong}}, lastPong)
	}
	return fmt.Errorf("perform: reply kind %d", r.kind)
}

// goResponder reads each connection with a goroutine blocked in Read.
type goResponder struct {
	responderLog
	t  *testing.T
	wg sync.WaitGroup
}

func newGoResponder(t *testing.T) *goResponder {
	g := &goResponder{t: t, responderLog: newResponderLog()}
	t.Cleanup(g.wg.Wait)
	return g
}

func (g *goResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.wg.Add(1)
	defer g.wg.Done()
	var lastPong atomic.Value // hex payload of the last pong received
	c, err := websocket.Accept(w, r, responderOptions(&lastPong))
	if err != nil {
		g.t.Errorf("responder: %v", err)
		return
	}
	conn := g.opened(c)
	pc, err := g.serve(c, conn, &lastPong)
	if err != nil {
		g.t.Errorf("responder, connection %d: %v", conn, err)
		c.CloseNow()
	}
	g.closed(conn, pc)
}

// serve answers one connection until it closes, and returns the close
// frame it received.
func (g *goResponder) serve(c *websocket.Conn, conn int, lastPong *atomic.Value) (peerClose, error) {
	ctx, cancel := context.WithTimeout(context.Background(), responderTimeout)
	defer cancel()
	if err := perform(ctx, c, hello(c, conn), lastPong); err != nil {
		return peerClose{}, err
	}
	var a answerer
	closing := make(chan error, 1)
	closeStarted := false
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				return peerClose{}, err
			}
			if closeStarted {
				if err := <-closing; err != nil {
					return peerClose{}, fmt.Errorf("Close: %w", err)
				}
			}
			return peerClose{code: int(ce.Code), reason: ce.Reason}, nil
		}
		replies, err := a.handle(typ, p)
		if err != nil {
			return peerClose{}, err
		}
		for _, r := range replies {
			if r.kind == replyClose {
				// Close waits for the peer's answer, which our Read sees.
				closeStarted = true
				go func() { closing <- c.Close(websocket.StatusCode(r.msg.Code), r.msg.Reason) }()
				continue
			}
			if err := perform(ctx, c, r, lastPong); err != nil {
				return peerClose{}, err
			}
		}
	}
}

// echoPayload sends p back, whole or in fragments.
func echoPayload(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, p []byte, frag bool) error {
	if !frag {
		return c.Write(ctx, typ, p)
	}
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	for len(p) > 0 {
		n := min(len(p), 4093)
		if _, err := w.Write(p[:n]); err != nil {
			w.Close()
			return err
		}
		p = p[n:]
	}
	return w.Close()
}
