// Client is a terminal WebSocket client, in the manner of wscat.
//
//	go run ./examples/client [flags] ws://localhost:8080/ws
//
// Each line typed is sent as a text message. Every message received is
// printed as it arrives, after "< ", whether or not it answers anything:
// the server may send at any time. End of input (Ctrl-D) or Ctrl-C closes
// the connection with 1000 (normal closure), and the close code the
// server answered with is printed.
//
// Flags:
//
//	-H "Name: value"   add a request header (repeatable)
//	-subprotocol NAME  offer a subprotocol (repeatable, in order of preference)
//	-origin URL        send this Origin, for servers that check it
//	-insecure          skip TLS certificate verification, for servers with a
//	                   self-signed certificate such as examples/echo -tls
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fullduplex/websocket"
)

// Timeouts for the opening handshake, for each message sent, and for the
// wait for the server's last replies at the end of input.
const (
	dialTimeout  = 30 * time.Second
	writeTimeout = 10 * time.Second
	flushTimeout = 5 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first Ctrl-C, which starts the closing handshake, let a
	// second one kill the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// run connects, then sends each line of stdin and prints each message
// received to stdout until stdin ends, ctx ends or the server closes.
//
// Reading stdin cannot be interrupted, so when the server ends the
// connection first, a goroutine stays blocked on stdin until its next line
// or its end; it sends nothing more.
func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: client [flags] ws://host[:port]/path")
		fs.PrintDefaults()
	}
	header := make(http.Header)
	fs.Var(headerFlag(header), "H", "add a request header `\"Name: value\"` (repeatable)")
	var subprotocols listFlag
	fs.Var(&subprotocols, "subprotocol", "offer subprotocol `name` (repeatable, in order of preference)")
	origin := fs.String("origin", "", "send Origin `URL`")
	insecure := fs.Bool("insecure", false, "skip TLS certificate verification (for self-signed certificates)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one URL")
	}
	url := fs.Arg(0)

	opts := &websocket.DialOptions{HTTPHeader: header, Subprotocols: subprotocols}
	if host := header.Get("Host"); host != "" {
		// Host is not an ordinary header field: it names the virtual host.
		opts.Host = host
		header.Del("Host")
	}
	if *origin != "" {
		header.Set("Origin", *origin)
	}
	if *insecure {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	dialCtx, cancel := context.WithTimeout(ctx, dialTimeout)
	c, resp, err := websocket.Dial(dialCtx, url, opts)
	cancel()
	if err != nil {
		return withBody(err, resp)
	}
	defer c.CloseNow()
	if p := c.Subprotocol(); p != "" {
		fmt.Fprintf(stdout, "connected to %s (subprotocol %s)\n", url, p)
	} else {
		fmt.Fprintf(stdout, "connected to %s\n", url)
	}

	// From here on only the receiving goroutine writes to stdout, so its
	// lines never mix.
	cl := &closer{conn: c, started: make(chan struct{}), done: make(chan struct{})}
	received := make(chan struct{})
	var ended error // how the connection ended, once received is closed
	go func() {
		defer close(received)
		ended = receive(c, stdout, cl)
	}()
	lines := make(chan string)
	stopInput := make(chan struct{})
	defer close(stopInput)
	var inputErr error // set before lines is closed
	go readLines(stdin, lines, stopInput, &inputErr)

	for {
		select {
		case line, ok := <-lines:
			if !ok && inputErr != nil {
				cl.close(received, true) // what was sent is answered first
				return fmt.Errorf("reading input: %w", inputErr)
			}
			if !ok {
				return cl.close(received, true)
			}
			if err := send(ctx, c, line); err != nil {
				if ctx.Err() != nil {
					return cl.close(received, false)
				}
				// Most likely the server is closing; receive reports how.
				c.CloseNow()
				<-received
				return err
			}
		case <-ctx.Done():
			return cl.close(received, false)
		case <-received:
			// The server ended the connection: a close frame is a normal
			// end, whatever its code; the connection lost is an error.
			if websocket.CloseStatus(ended) == websocket.StatusAbnormalClosure {
				return ended
			}
			return nil
		}
	}
}

// receive prints messages until the connection ends, then how it ended,
// and returns the error that ended it.
func receive(c *websocket.Conn, stdout io.Writer, cl *closer) error {
	for {
		// Nothing but the connection's end stops this read: it is where the
		// server's answer to our close frame shows up.
		typ, msg, err := c.Read(context.Background())
		if err != nil {
			fmt.Fprintln(stdout, cl.describeEnd(err))
			return err
		}
		if typ == websocket.MessageBinary {
			const maxShown = 256
			if len(msg) > maxShown {
				fmt.Fprintf(stdout, "< binary %d bytes: %q…\n", len(msg), msg[:maxShown])
			} else {
				fmt.Fprintf(stdout, "< binary %d bytes: %q\n", len(msg), msg)
			}
			continue
		}
		fmt.Fprintf(stdout, "< %s\n", msg)
	}
}

// closer runs our side of the closing handshake and tells the receiving
// goroutine how it went.
type closer struct {
	conn    *websocket.Conn
	started chan struct{} // closed when Close is called
	done    chan struct{} // closed when Close has returned
	err     error         // what Close returned, once done is closed
}

// close closes the connection with 1000 and waits until the receiving
// goroutine has printed the outcome. With flush, it first waits for the
// answers to what was sent.
func (cl *closer) close(received <-chan struct{}, flush bool) error {
	if flush {
		// A server reads in order, so it answers this ping after the
		// messages sent before it, and the pong comes after their replies.
		// Once it is back, the replies have been read, and none is lost to
		// the closing handshake, in which messages still arriving may be
		// discarded. A server that does not answer only delays the close.
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		cl.conn.Ping(ctx)
		cancel()
	}
	close(cl.started)
	cl.err = cl.conn.Close(websocket.StatusNormalClosure, "")
	close(cl.done)
	<-received
	if errors.Is(cl.err, websocket.ErrClosed) {
		// The server closed first; receive has said how.
		return nil
	}
	return cl.err
}

// describeEnd says how the connection ended, given the error that ended
// the receiving goroutine's reads.
func (cl *closer) describeEnd(err error) string {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Reason != "":
		return fmt.Sprintf("closed: %v %q", ce.Code, ce.Reason)
	case errors.As(err, &ce):
		return fmt.Sprintf("closed: %v", ce.Code)
	}
	select {
	case <-cl.started:
		// When Close starts between two of our reads, it reads the server's
		// answer itself, and our read fails instead of returning it.
		<-cl.done
		if cl.err == nil {
			return "closed: the server answered our 1000 (normal closure)"
		}
		return fmt.Sprintf("connection ended: %v", cl.err)
	default:
		return fmt.Sprintf("connection ended: %v", err)
	}
}

// readLines sends each line of r to lines and closes lines at the end of r,
// or at a line too long or a failed read, which it stores in *err first.
// It gives up when stop is closed.
func readLines(r io.Reader, lines chan<- string, stop <-chan struct{}, err *error) {
	defer close(lines)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLine)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		case <-stop:
			return
		}
	}
	*err = sc.Err()
}

// maxLine bounds a line of input, which goes out as one message.
const maxLine = 1 << 20

func send(ctx context.Context, c *websocket.Conn, line string) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, []byte(line))
}

// withBody adds the start of a refused handshake's response body, which
// often says why, to err.
func withBody(err error, resp *http.Response) error {
	if resp == nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if b := strings.TrimSpace(string(body)); b != "" {
		return fmt.Errorf("%w\n%s", err, b)
	}
	return err
}

// headerFlag adds each "Name: value" it is given to an http.Header.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return errors.New(`want "Name: value"`)
	}
	http.Header(h).Add(name, strings.TrimSpace(value))
	return nil
}

// listFlag collects the values of a repeated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}
