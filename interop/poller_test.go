package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// Our server in Poller mode: instead of a goroutine per connection blocked
// in Read, a websocket.Poller reads the connections and calls back with
// each message. Two users of it run the session protocol:
//
//   - the driving side (session), in the "peer client → our server
//     (Poller)" rows: pollFeed turns each message into the same inbound
//     events as session.readLoop, and everything else of the session is
//     the same code;
//   - the answering side (pollResponder), behind nginx in the "our client
//     → nginx → our server (Poller)" row: it answers with the same
//     answerer as goResponder.
//
// Callbacks run on the poller's event loop, shared by its connections, so
// they only do bookkeeping and quick writes; waiting (for a pong, for a
// session to take an event, for a peer to read a large echo) happens on
// other goroutines.

// pollHandler receives the callbacks of one connection.
type pollHandler interface {
	onMessage(typ websocket.MessageType, msg []byte)
	onClose(err error)
}

// connPoller is a websocket.Poller whose callbacks go to the handler of
// each connection. It checks the Poller's promises on the way: no callback
// for a connection it does not serve, none after OnClose, OnClose once.
type connPoller struct {
	t *testing.T
	p *websocket.Poller

	mu       sync.Mutex
	handlers map[*websocket.Conn]pollHandler
}

// newConnPoller starts a Poller that is closed when the test ends.
func newConnPoller(t *testing.T) *connPoller {
	t.Helper()
	cp := &connPoller{t: t, handlers: map[*websocket.Conn]pollHandler{}}
	p, err := websocket.NewPoller(websocket.PollerOptions{
		OnMessage: cp.onMessage,
		OnClose:   cp.onClose,
	})
	if err != nil {
		t.Fatalf("NewPoller: %v", err)
	}
	cp.p = p
	// Close returns once the loops have stopped and OnClose was called for
	// every connection, so no callback comes after the test.
	t.Cleanup(func() { p.Close() })
	return cp
}

// serve hands c to the poller with h as its handler.
func (cp *connPoller) serve(c *websocket.Conn, h pollHandler) error {
	cp.mu.Lock()
	cp.handlers[c] = h
	cp.mu.Unlock()
	// Serve delivers what is already buffered before it returns, so h is
	// in place first.
	if err := cp.p.Serve(c); err != nil {
		cp.mu.Lock()
		delete(cp.handlers, c)
		cp.mu.Unlock()
		return fmt.Errorf("Poller.Serve: %w", err)
	}
	return nil
}

func (cp *connPoller) onMessage(c *websocket.Conn, typ websocket.MessageType, msg []byte) {
	cp.mu.Lock()
	h := cp.handlers[c]
	cp.mu.Unlock()
	if h == nil {
		cp.t.Errorf("Poller: OnMessage (%v, %d B) for a connection after its OnClose or never served", typ, len(msg))
		return
	}
	h.onMessage(typ, msg)
}

func (cp *connPoller) onClose(c *websocket.Conn, err error) {
	cp.mu.Lock()
	h := cp.handlers[c]
	delete(cp.handlers, c)
	cp.mu.Unlock()
	if h == nil {
		cp.t.Errorf("Poller: OnClose (%v) for a connection after its OnClose or never served", err)
		return
	}
	h.onClose(err)
}

// pollFeed delivers a session's messages from a Poller, in place of
// session.readLoop. OnMessage decodes each message as readLoop does (a
// data meta is held until its payload arrives, which is hashed on the
// spot, since msg is only valid during the call) and queues the event
// without blocking; a goroutine hands the events to the session, which may
// take its time.
type pollFeed struct {
	s    *session
	meta *ctrl // the data meta whose payload comes next; loop only

	mu    sync.Mutex
	queue []inbound
	ended bool          // OnClose was called; its event is the last queued
	wake  chan struct{} // signalled when queue or ended changed
}

// pollFeedCloseBound bounds the wait for OnClose once the session is over
// (the session's end closes the connection).
const pollFeedCloseBound = 15 * time.Second

// startPollFeed hands s.c to s.poller; s.done is closed once the poller
// has reported the connection's end.
func (s *session) startPollFeed(ctx context.Context) {
	f := &pollFeed{s: s, wake: make(chan struct{}, 1)}
	go f.forward(ctx)
	if err := s.poller.serve(s.c, f); err != nil {
		f.onClose(err)
	}
}

func (f *pollFeed) push(ev inbound, last bool) {
	f.mu.Lock()
	f.queue = append(f.queue, ev)
	f.ended = f.ended || last
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *pollFeed) onMessage(typ websocket.MessageType, msg []byte) {
	if m := f.meta; m != nil {
		f.meta = nil
		f.push(payloadEvent(m, typ, len(msg), sha256Hex(msg)), false)
		return
	}
	m, err := decodeCtrl(typ, msg)
	switch {
	case err != nil:
		f.push(inbound{err: err}, false)
	case m.Op == "data":
		f.meta = m
	default:
		f.push(inbound{ctrl: m}, false)
	}
}

func (f *pollFeed) onClose(err error) {
	if m := f.meta; m != nil {
		err = fmt.Errorf("payload of message %d: %w", m.Seq, err)
	}
	f.push(inbound{err: err}, true)
}

// forward hands the queued events to the session until OnClose, or drops
// them once ctx is done, and then waits a bounded time for OnClose.
func (f *pollFeed) forward(ctx context.Context) {
	s := f.s
	defer close(s.done)
	done := ctx.Done()
	var bound <-chan time.Time
	for {
		f.mu.Lock()
		evs, ended := f.queue, f.ended
		f.queue = nil
		f.mu.Unlock()
		for _, ev := range evs {
			if done != nil && !s.emit(ctx, ev) {
				done = nil
				bound = time.After(pollFeedCloseBound)
			}
		}
		if ended {
			return
		}
		select {
		case <-f.wake:
		case <-done:
			done = nil
			bound = time.After(pollFeedCloseBound)
		case <-bound:
			s.t.Errorf("Poller: no OnClose within %v after the session ended and closed the connection", pollFeedCloseBound)
			return
		}
	}
}

// pollResponder answers the session protocol on connections a Poller
// reads. OnMessage runs the answerer and carries out its replies at once
// when they are quick (sending a control message, echoing up to 64 KiB)
// and the connection has nothing queued. Slow replies (a ping waiting for
// its pong, a larger echo) go to a goroutine started for the purpose, and
// while it has work, later replies queue behind it, so that they keep
// their order.
type pollResponder struct {
	responderLog
	t  *testing.T
	cp *connPoller
	wg sync.WaitGroup // handlers and the goroutines carrying out replies
}

func newPollResponder(t *testing.T) *pollResponder {
	pr := &pollResponder{t: t, responderLog: newResponderLog()}
	// Cleanups run last first: the poller closes (ending the connections
	// left) before the wait for the goroutines that may be writing to them.
	t.Cleanup(pr.wg.Wait)
	pr.cp = newConnPoller(t)
	return pr
}

// pollConn is one connection of a pollResponder.
type pollConn struct {
	pr       *pollResponder
	c        *websocket.Conn
	conn     int
	ctx      context.Context
	cancel   context.CancelFunc
	lastPong atomic.Value // hex payload of the last pong received
	a        answerer     // loop only
	failed   atomic.Bool

	mu      sync.Mutex
	queue   []reply
	working bool // a goroutine is carrying out queue
}

func (pr *pollResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pr.wg.Add(1)
	defer pr.wg.Done()
	pc := &pollConn{pr: pr}
	c, err := websocket.Accept(w, r, responderOptions(&pc.lastPong))
	if err != nil {
		pr.t.Errorf("responder (Poller): %v", err)
		return
	}
	pc.c = c
	pc.conn = pr.opened(c)
	pc.ctx, pc.cancel = context.WithTimeout(context.Background(), responderTimeout)
	if err := perform(pc.ctx, c, hello(c, pc.conn), &pc.lastPong); err != nil {
		pc.fail(err)
		pc.cancel()
		pr.closed(pc.conn, peerClose{})
		return
	}
	if err := pr.cp.serve(c, pc); err != nil {
		pc.fail(err)
		pc.cancel()
		pr.closed(pc.conn, peerClose{})
	}
	// The handler returns; from now on the poller's callbacks drive.
}

// fail reports the first error of the connection and ends it.
func (pc *pollConn) fail(err error) {
	if pc.failed.CompareAndSwap(false, true) {
		pc.pr.t.Errorf("responder (Poller), connection %d: %v", pc.conn, err)
	}
	pc.c.CloseNow()
}

func (pc *pollConn) onMessage(typ websocket.MessageType, msg []byte) {
	if pc.failed.Load() {
		return
	}
	replies, err := pc.a.handle(typ, msg)
	if err != nil {
		pc.fail(err)
		return
	}
	for _, r := range replies {
		pc.reply(r)
	}
}

// reply carries out r on the loop, or queues it for a goroutine.
func (pc *pollConn) reply(r reply) {
	pc.mu.Lock()
	if pc.working || r.slow() {
		r.payload = bytes.Clone(r.payload) // msg is only valid during OnMessage
		pc.queue = append(pc.queue, r)
		if !pc.working {
			pc.working = true
			pc.pr.wg.Add(1)
			go pc.work()
		}
		pc.mu.Unlock()
		return
	}
	pc.mu.Unlock()
	// Nothing is queued and only OnMessage starts the goroutine, so no
	// other write of ours is under way.
	if err := pc.carryOut(r); err != nil {
		pc.fail(err)
	}
}

// work carries out the queued replies, then ends.
func (pc *pollConn) work() {
	defer pc.pr.wg.Done()
	for {
		pc.mu.Lock()
		if len(pc.queue) == 0 || pc.failed.Load() {
			pc.queue = nil
			pc.working = false
			pc.mu.Unlock()
			return
		}
		r := pc.queue[0]
		pc.queue = pc.queue[1:]
		pc.mu.Unlock()
		if err := pc.carryOut(r); err != nil {
			pc.fail(err)
		}
	}
}

// carryOut performs r. Close is the only reply whose behaviour depends on
// where it runs: from OnMessage it sends the close frame and returns, and
// the poller finishes the handshake; from a goroutine it waits for the
// peer's answer while the poller reads. The driving side sends "close"
// only after it received every answer it waits for, so in practice Close
// runs on the loop.
func (pc *pollConn) carryOut(r reply) error {
	if r.kind == replyClose {
		if err := pc.c.Close(websocket.StatusCode(r.msg.Code), r.msg.Reason); err != nil {
			return fmt.Errorf("Close: %w", err)
		}
		return nil
	}
	return perform(pc.ctx, pc.c, r, &pc.lastPong)
}

func (pc *pollConn) onClose(err error) {
	defer pc.cancel()
	var pcl peerClose
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		pcl = peerClose{code: int(ce.Code), reason: ce.Reason}
	} else if !pc.failed.Load() {
		pc.fail(fmt.Errorf("OnClose with %v, want the peer's close frame", err))
	}
	pc.pr.closed(pc.conn, pcl)
}
