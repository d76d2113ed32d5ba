// Chat is a chat room over WebSocket in which a slow client cannot stall
// the others.
//
//	go run ./examples/chat [-addr host:port]
//
// The page at / is the chat client; it connects to /ws?name=NAME. Every
// text message a client sends is broadcast to all clients, the sender
// included, as "NAME: message"; joins and departures are announced as
// "* NAME joined" and "* NAME left". Messages are limited to 4 KiB.
//
// # Slow clients
//
// Each client has its own queue of outgoing messages, holding up to 64
// (queueSize), and its own goroutine that writes them. A broadcast only
// appends to the queues and never waits for a network write, so a client
// that stops reading delays nobody else. Each message is framed once, as a
// websocket.PreparedMessage, however many clients it goes to.
//
// When a broadcast finds a client's queue full, the client is dropped: it
// is removed from the room, its queue is discarded, the room hears
// "* NAME was dropped: too slow", and once the message already being
// written to it has gone out, its connection is closed with 1008 (policy
// violation) and the reason "too slow". A client that does not read at all
// for writeTimeout is cut off without a close frame, since it could not
// receive one anyway.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/fullduplex/websocket"
)

//go:embed index.html
var page []byte

const (
	// queueSize is how many messages may wait for a client before it is
	// dropped. It absorbs bursts and short stalls; beyond that, a client
	// that cannot keep up is better reconnecting than holding memory.
	queueSize = 64
	// maxMessageSize bounds what a client may send, in bytes; a larger
	// message closes its connection with 1009 (message too big).
	maxMessageSize = 4 << 10
	// maxNameSize bounds the name a client picks, in bytes.
	maxNameSize = 32
	// writeTimeout bounds each write to a client.
	writeTimeout = 10 * time.Second
)

// Close code and reason for a client dropped for being slow.
const (
	dropCode   = websocket.StatusPolicyViolation
	dropReason = "too slow"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, let a second one kill the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then closes every connection with 1001 (going
// away) and returns once all of them are gone.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "listen on `host:port`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "", log.LstdFlags)
	h := newHub(logger)
	srv := &http.Server{Handler: h, ErrorLog: logger, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		h.shutdown()
		return err
	case <-ctx.Done():
	}
	logger.Print("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown knows nothing of hijacked connections: the hub closes those.
	err = srv.Shutdown(shutdownCtx)
	h.shutdown()
	<-served
	return err
}

// hub is the chat room: it serves the page and the WebSocket endpoint and
// broadcasts messages to the clients.
type hub struct {
	log *log.Logger
	mux *http.ServeMux

	mu      sync.Mutex
	clients map[*client]struct{}
	closing bool
	wg      sync.WaitGroup // one count per client in the room or leaving it
}

// client is one connection in the room.
type client struct {
	name  string
	conn  *websocket.Conn
	queue chan *websocket.PreparedMessage // waiting to be written; only the hub sends, holding hub.mu
	// dropped is closed, holding hub.mu, when the hub drops the client.
	dropped chan struct{}
}

func newHub(logger *log.Logger) *hub {
	h := &hub{
		log:     logger,
		mux:     http.NewServeMux(),
		clients: make(map[*client]struct{}),
	}
	h.mux.HandleFunc("GET /{$}", h.servePage)
	h.mux.HandleFunc("/ws", h.serveWS)
	return h
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *hub) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

func (h *hub) serveWS(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" || len(name) > maxNameSize || !utf8.ValidString(name) {
		http.Error(w, fmt.Sprintf("name must be 1 to %d bytes of UTF-8", maxNameSize), http.StatusBadRequest)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		ConnOptions: websocket.ConnOptions{ReadLimit: maxMessageSize},
	})
	if err != nil {
		h.log.Printf("%s: handshake refused: %v", r.RemoteAddr, err)
		return
	}
	defer conn.CloseNow()
	cl := &client{
		name:    name,
		conn:    conn,
		queue:   make(chan *websocket.PreparedMessage, queueSize),
		dropped: make(chan struct{}),
	}
	if !h.join(cl) {
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer h.wg.Done()
	h.log.Printf("%s: %s joined", r.RemoteAddr, name)

	ctx, cancel := context.WithCancel(context.Background())
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		h.writeLoop(ctx, cl)
	}()
	err = h.readLoop(ctx, cl)
	h.leave(cl)
	cancel()
	<-wrote
	conn.CloseNow()
	h.log.Printf("%s: %s left: %v", r.RemoteAddr, name, err)
}

// readLoop broadcasts what cl sends until its connection ends.
func (h *hub) readLoop(ctx context.Context, cl *client) error {
	for {
		typ, msg, err := cl.conn.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			cl.conn.Close(websocket.StatusUnsupportedData, "text messages only")
			return errors.New("sent a binary message")
		}
		h.broadcast(cl, msg)
	}
}

// writeLoop writes cl's queue to its connection until ctx ends, a write
// fails, or the hub drops cl.
func (h *hub) writeLoop(ctx context.Context, cl *client) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-cl.dropped:
			// The hub has emptied the queue: the close frame goes out next.
			cl.conn.Close(dropCode, dropReason)
			return
		case msg := <-cl.queue:
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := cl.conn.WritePrepared(wctx, msg)
			cancel()
			if err != nil {
				// End the read loop too, if the connection is still open.
				cl.conn.CloseNow()
				return
			}
		}
	}
}

// join adds cl to the room. It reports false once shutdown has begun.
func (h *hub) join(cl *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.clients[cl] = struct{}{}
	h.wg.Add(1)
	h.broadcastLocked([]byte("* " + cl.name + " joined"))
	return true
}

// leave removes cl from the room, unless it was dropped already.
func (h *hub) leave(cl *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[cl]; ok {
		delete(h.clients, cl)
		h.broadcastLocked([]byte("* " + cl.name + " left"))
	}
}

// broadcast sends text from cl to the room.
func (h *hub) broadcast(from *client, text []byte) {
	msg := make([]byte, 0, len(from.name)+2+len(text))
	msg = append(append(append(msg, from.name...), ": "...), text...)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[from]; !ok {
		return // dropped: what it still sends is not heard
	}
	h.broadcastLocked(msg)
}

// broadcastLocked queues msg for every client, dropping those whose queue
// is full, and announces the drops. The caller holds h.mu, which keeps the
// order of messages the same in every queue. msg must not be modified
// afterwards.
func (h *hub) broadcastLocked(msg []byte) {
	pending := []*websocket.PreparedMessage{prepare(msg)}
	for len(pending) > 0 {
		pm := pending[0]
		pending = pending[1:]
		for cl := range h.clients {
			select {
			case cl.queue <- pm:
			default:
				h.dropLocked(cl)
				pending = append(pending, prepare([]byte("* "+cl.name+" was dropped: "+dropReason)))
			}
		}
	}
}

// prepare makes msg into a message that is framed once, however many
// clients it goes to.
func prepare(msg []byte) *websocket.PreparedMessage {
	pm, err := websocket.NewPreparedMessage(websocket.MessageText, msg)
	if err != nil {
		panic(err) // only an invalid message type makes it fail
	}
	return pm
}

// dropLocked removes cl from the room and discards its queue; its write
// loop then closes the connection with dropCode.
func (h *hub) dropLocked(cl *client) {
	delete(h.clients, cl)
	// The write loop may be taking a message at the same time: never block.
	for discarding := true; discarding; {
		select {
		case <-cl.queue:
		default:
			discarding = false
		}
	}
	close(cl.dropped)
	h.log.Printf("%s: %s dropped: queue full", cl.conn.RemoteAddr(), cl.name)
}

// shutdown closes every connection with 1001 (going away), all at once
// since each close waits for its peer's answer, and waits until every
// client has left.
func (h *hub) shutdown() {
	var closing sync.WaitGroup
	h.mu.Lock()
	h.closing = true
	for cl := range h.clients {
		closing.Go(func() { cl.conn.Close(websocket.StatusGoingAway, "server shutting down") })
	}
	h.mu.Unlock()
	closing.Wait()
	h.wg.Wait()
}
