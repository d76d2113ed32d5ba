// Chat is a chat room over WebSocket in which a slow client cannot stall
// the others for long.
//
//	go run ./examples/chat [-addr host:port]
//
// The page at / is the chat client; it connects to /ws?name=NAME. Every
// text message a client sends is broadcast to all clients, the sender
// included, as "NAME: message"; joins and departures are announced as
// "* NAME joined" and "* NAME left". Messages are limited to 4 KiB.
//
// # Names and notices
//
// Every message the room hears is one line, and only the server's notices
// start with "*", so that no client can pass for the server, nor for
// another client by faking the "NAME: " in front of a message. To that
// end a name, once the white space around it is trimmed, must be 1 to 32
// characters that
//
//   - start with a letter or a digit (not "*", nor a symbol that looks
//     like it, nor a combining mark);
//   - are letters, marks, digits, punctuation or symbols: no white space,
//     so that a notice's name is one word, and no control or format
//     characters (line breaks, escape sequences, bidirectional overrides,
//     zero-width characters), which could move or hide what is shown;
//   - contain no ":", which ends the name in front of a message.
//
// A name that breaks a rule is refused with 400 before the WebSocket
// handshake, with the rule in the body: a name is chosen once, and one
// changed behind the user's back would surprise them. Messages are not
// refused but made one line: a line break or tab becomes a space and any
// other control character (such as the escape that starts a terminal's
// control sequence) becomes U+FFFD. The page shows lines that start
// with "* " as notices.
//
// # Broadcast and slow clients
//
// The clients are a websocket.Group, and every message goes out with
// Group.Broadcast: framed once, as a websocket.PreparedMessage, however
// many clients it goes to, and written to all of them at once, so a client
// that stops reading delays nobody's delivery. The hub broadcasts one
// message at a time, so that every client sees the same order.
//
// A write completes once the operating system has taken the message, so a
// client that does not read is noticed only when the socket buffers toward
// it are full (hundreds of messages). A broadcast then waits for it at most
// stallTimeout, and drops it: the room hears "* NAME was dropped: too
// slow", and the client is sent the rest of the message being written
// followed by a close frame with 1008 (policy violation) and the reason
// "too slow", or is cut off without one if it does not read within its
// connection's close timeout (5 s). Until it is dropped, a stalled client
// holds up the next message for the room, once, by up to stallTimeout.
//
// # Shutdown
//
// On SIGINT or SIGTERM the server stops accepting (http.Server.Shutdown),
// then closes every WebSocket with 1001 (going away) and waits for the
// closing handshakes (Group.Shutdown), as the Group documentation
// describes.
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
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fullduplex/websocket"
)

//go:embed index.html
var page []byte

const (
	// maxMessageSize bounds what a client may send, in bytes; a larger
	// message closes its connection with 1009 (message too big).
	maxMessageSize = 4 << 10
	// maxNameLen bounds the name a client picks, in characters (the
	// page's input counts UTF-16 code units, never fewer).
	maxNameLen = 32
	// stallTimeout is how long a broadcast waits for a client whose socket
	// buffers are full before dropping it. Long enough for a client on a
	// slow network to catch up; short, since the room waits meanwhile.
	stallTimeout = 2 * time.Second
	// shutdownTimeout bounds the closing handshakes at shutdown.
	shutdownTimeout = 5 * time.Second
)

// noticePrefix starts every notice of the server, and nothing else: a
// client's message starts with its name, which checkName makes start
// with a letter or a digit.
const noticePrefix = "* "

// The reason a dropped client hears, along with
// websocket.StatusPolicyViolation (1008).
const dropReason = "too slow"

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
		h.shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	logger.Print("shutting down")
	// stopHTTP stops accepting and waits for plain HTTP requests, but
	// knows nothing of hijacked connections: the hub closes those next.
	err = stopHTTP(srv, time.Second)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = errors.Join(err, h.shutdown(shutdownCtx))
	<-served
	return err
}

// stopHTTP closes the listener, lets plain HTTP requests in progress finish
// within grace, then closes every connection left. Shutdown alone would
// count a connection on which no request has arrived yet as busy for its
// first 5 seconds, and browsers open such connections ahead of need: waiting
// on them would hold up the exit for nothing.
func stopHTTP(srv *http.Server, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	return err
}

// hub is the chat room: it serves the page and the WebSocket endpoint and
// broadcasts messages to the clients.
type hub struct {
	log   *log.Logger
	mux   *http.ServeMux
	group websocket.Group // every client's connection, from Accept until it closes

	mu    sync.Mutex                 // held for each broadcast, which keeps one order for all
	names map[*websocket.Conn]string // the clients in the room
	wg    sync.WaitGroup             // one count per connection being served
}

func newHub(logger *log.Logger) *hub {
	h := &hub{
		log:   logger,
		mux:   http.NewServeMux(),
		names: make(map[*websocket.Conn]string),
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
	name, err := checkName(r.URL.Query().Get("name"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.wg.Add(1)
	defer h.wg.Done()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The heartbeat pings a quiet client every 30 s, which keeps
		// proxies and NATs from dropping an idle link and drops a
		// client that is gone.
		ConnOptions: websocket.ConnOptions{ReadLimit: maxMessageSize, PingInterval: 30 * time.Second},
		Group:       &h.group, // after Group.Shutdown, closed with 1001 at once
	})
	if err != nil {
		h.log.Printf("%s: handshake refused: %v", r.RemoteAddr, err)
		return
	}
	defer conn.CloseNow()
	h.join(conn, name)
	h.log.Printf("%s: %s joined", r.RemoteAddr, name)
	err = h.readLoop(conn)
	h.leave(conn)
	h.log.Printf("%s: %s left: %v", r.RemoteAddr, name, err)
}

// checkName returns raw trimmed of the white space around it if it is a
// valid name (see the package documentation), or an error that says
// which rule it breaks.
func checkName(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", errors.New("name is not UTF-8")
	}
	name := strings.TrimSpace(raw)
	if n := utf8.RuneCountInString(name); n == 0 || n > maxNameLen {
		return "", fmt.Errorf("name must be 1 to %d characters", maxNameLen)
	}
	if first, _ := utf8.DecodeRuneInString(name); !unicode.IsLetter(first) && !unicode.IsNumber(first) {
		return "", errors.New("name must start with a letter or a digit")
	}
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			return "", errors.New("name must be one word, without white space")
		case !unicode.IsPrint(r):
			// Not a letter, mark, number, punctuation or symbol: a
			// control or format character, or one unassigned or for
			// private use.
			return "", fmt.Errorf("name must not contain %U", r)
		case r == ':':
			return "", errors.New(`name must not contain ":"`)
		}
	}
	return name, nil
}

// oneLine returns text with every line break and tab replaced by a space
// and every other control character by U+FFFD, so that a message cannot
// start a line of its own (where it could pass for a notice or another
// client's message) nor send a terminal a control sequence.
func oneLine(text []byte) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\u2028' || r == '\u2029' || unicode.IsControl(r) && unicode.IsSpace(r):
			return ' ' // \t, \n, \v, \f, \r, U+0085 and the Unicode line and paragraph separators
		case unicode.IsControl(r):
			return utf8.RuneError
		}
		return r
	}, string(text))
}

// readLoop broadcasts what conn sends until its connection ends.
func (h *hub) readLoop(conn *websocket.Conn) error {
	for {
		typ, msg, err := conn.Read(context.Background())
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			conn.Close(websocket.StatusUnsupportedData, "text messages only")
			return errors.New("sent a binary message")
		}
		h.say(conn, msg)
	}
}

// join puts conn, already in the group, in the room.
func (h *hub) join(conn *websocket.Conn, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.names[conn] = name
	h.broadcastLocked(noticePrefix + name + " joined")
}

// leave takes conn out of the room, unless it was dropped already.
func (h *hub) leave(conn *websocket.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if name, ok := h.names[conn]; ok {
		delete(h.names, conn)
		h.broadcastLocked(noticePrefix + name + " left")
	}
}

// say broadcasts text from conn to the room.
func (h *hub) say(from *websocket.Conn, text []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	name, ok := h.names[from]
	if !ok {
		return // dropped: what it still sends is not heard
	}
	h.broadcastLocked(name + ": " + oneLine(text))
}

// broadcastLocked sends msg to every client, and announces those that
// Broadcast dropped for being too slow. The caller holds h.mu.
func (h *hub) broadcastLocked(msg string) {
	for pending := []string{msg}; len(pending) > 0; pending = pending[1:] {
		pm, err := websocket.NewPreparedMessage(websocket.MessageText, []byte(pending[0]))
		if err != nil {
			panic(err) // only an invalid message type makes it fail
		}
		ctx, cancel := context.WithTimeout(context.Background(), stallTimeout)
		dropped := h.group.Broadcast(ctx, pm)
		cancel()
		for _, conn := range dropped {
			name, ok := h.names[conn]
			if !ok {
				continue // a connection still joining or leaving
			}
			delete(h.names, conn)
			h.log.Printf("%s: %s dropped: %s", conn.RemoteAddr(), name, dropReason)
			pending = append(pending, noticePrefix+name+" was dropped: "+dropReason)
		}
	}
}

// shutdown closes every connection with 1001 (going away), waits for the
// closing handshakes, bounded by ctx, and then for every handler to
// return.
func (h *hub) shutdown(ctx context.Context) error {
	err := h.group.Shutdown(ctx, "server shutting down")
	h.wg.Wait()
	return err
}
