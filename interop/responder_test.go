package interop

import (
	"context"
	"crypto/sha256"
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

// goResponder is the answering side of the session protocol written with
// our library, as an http.Handler: the server behind nginx and the proxies,
// and the page server's endpoint for the browser.
type goResponder struct {
	t *testing.T

	mu      sync.Mutex
	conns   int
	remotes map[int]string // remote address of each connection
	closes  map[int]peerClose
	changed chan struct{} // closed and replaced when closes changes
	wg      sync.WaitGroup
}

func newGoResponder(t *testing.T) *goResponder {
	g := &goResponder{t: t, remotes: map[int]string{}, closes: map[int]peerClose{}, changed: make(chan struct{})}
	t.Cleanup(g.wg.Wait)
	return g
}

func (g *goResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.wg.Add(1)
	defer g.wg.Done()
	var lastPong atomic.Value // hex payload of the last pong received
	opts := &websocket.AcceptOptions{
		ConnOptions:  driverOptions(nil),
		Subprotocols: serverProtocols,
	}
	opts.OnPong = func(p []byte) { lastPong.Store(hex.EncodeToString(p)) }
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		g.t.Errorf("responder: %v", err)
		return
	}
	g.mu.Lock()
	g.conns++
	conn := g.conns
	g.remotes[conn] = c.RemoteAddr().String()
	g.mu.Unlock()
	pc, err := g.serve(c, conn, &lastPong)
	if err != nil {
		g.t.Errorf("responder, connection %d: %v", conn, err)
		c.CloseNow()
	}
	g.mu.Lock()
	g.closes[conn] = pc
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
}

// remote returns the remote address the responder saw on connection conn.
func (g *goResponder) remote(conn int) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.remotes[conn]
}

// watchClose is the closeWatcher of sessions with this responder.
func (g *goResponder) watchClose(ctx context.Context, conn int) (peerClose, error) {
	for {
		g.mu.Lock()
		pc, ok := g.closes[conn]
		changed := g.changed
		g.mu.Unlock()
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

// serve answers one connection until it closes, and returns the close
// frame it received.
func (g *goResponder) serve(c *websocket.Conn, conn int, lastPong *atomic.Value) (peerClose, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	send := func(m ctrl) error {
		b, _ := json.Marshal(m)
		return c.Write(ctx, websocket.MessageText, b)
	}
	if err := send(ctrl{Op: "hello", Peer: goPeerName, Version: "this tree", Subprotocol: c.Subprotocol(), Conn: conn}); err != nil {
		return peerClose{}, err
	}
	var pending *ctrl
	received, errs := 0, 0
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
		if pending != nil {
			m := *pending
			pending = nil
			received++
			sum := sha256.Sum256(p)
			got := ctrl{Op: "data", Seq: m.Seq, Type: typeName(typ), Size: len(p), Frag: m.Frag, SHA256: hex.EncodeToString(sum[:])}
			if got.Seq != received || got.Type != m.Type || got.Size != m.Size || got.SHA256 != m.SHA256 {
				errs++
				if err := send(ctrl{Op: "error", Msg: fmt.Sprintf("received %+v, announced %+v (expected sequence %d)", got, m, received)}); err != nil {
					return peerClose{}, err
				}
				continue
			}
			if err := send(got); err != nil {
				return peerClose{}, err
			}
			if err := echoPayload(ctx, c, typ, p, m.Frag); err != nil {
				return peerClose{}, err
			}
			continue
		}
		var m ctrl
		if err := json.Unmarshal(p, &m); err != nil || typ != websocket.MessageText {
			return peerClose{}, fmt.Errorf("bad control message %.80q: %v", p, err)
		}
		switch m.Op {
		case "data":
			pending = &m
		case "ping":
			// Ping has no say over its payload; report the one that went
			// both ways, which is what our OnPong hook saw.
			if _, err := c.Ping(ctx); err != nil {
				return peerClose{}, err
			}
			pong, _ := lastPong.Load().(string)
			if err := send(ctrl{Op: "pong", PayloadHex: pong}); err != nil {
				return peerClose{}, err
			}
		case "stats":
			if err := send(ctrl{Op: "stats", Received: received, Errors: errs}); err != nil {
				return peerClose{}, err
			}
		case "close":
			// Close waits for the peer's answer, which our Read sees.
			closeStarted = true
			go func() { closing <- c.Close(websocket.StatusCode(m.Code), m.Reason) }()
		default:
			return peerClose{}, fmt.Errorf("unknown op %q", m.Op)
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
