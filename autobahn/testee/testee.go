// Package testee holds the endpoints that conformance suites test, built on
// github.com/fullduplex/websocket: an echo server, and a client that follows
// the Autobahn|Testsuite testee-client protocol (echoing every message of
// every case the fuzzing server runs).
//
// Both echo each message whole, with its type, and otherwise rely on the
// library's defaults: UTF-8 is checked as it arrives, messages are limited to
// websocket.DefaultReadLimit, and protocol errors fail the connection with the
// library's close codes.
package testee

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fullduplex/websocket"
)

// Options configure the endpoints.
type Options struct {
	// Compress negotiates permessage-deflate with context takeover.
	Compress bool
	// Poller makes the server hand its connections to a websocket.Poller,
	// which echoes from its event loops, instead of a goroutine each.
	Poller bool
	// HTTP2, if set, makes the client open its WebSockets over HTTP/2
	// (RFC 8441) with this transport, and only so (DialOptions.HTTP2Only).
	// Dials sharing it share HTTP/2 connections. The server needs no
	// option: it accepts WebSockets over HTTP/2 whenever its http.Server
	// offers extended CONNECT.
	HTTP2 *websocket.HTTP2Transport
	// CaseTimeout bounds each exchange of the client with the fuzzing
	// server, its dial included: a case (RunCase), the case count
	// (CaseCount) and the reports (UpdateReports). Zero or negative means
	// DefaultCaseTimeout. The server does not use it.
	CaseTimeout time.Duration
	// DialTimeout bounds each dial of the client, up to the end of the
	// opening handshake, within CaseTimeout. Zero or negative means
	// DefaultDialTimeout.
	DialTimeout time.Duration
}

// DefaultCaseTimeout is the client's bound on one exchange with the
// fuzzing server when Options.CaseTimeout is not set. It is longer than
// the longest any Autobahn case may take by design (1000 s, for 9.5 and
// 9.6, plus its closing handshake), so that it only ends a case the
// fuzzing server has abandoned and never turns a slow pass into a failure.
const DefaultCaseTimeout = 20 * time.Minute

// DefaultDialTimeout is the client's bound on a dial when
// Options.DialTimeout is not set. A fuzzing server answers a handshake at
// once; a server that accepts TCP connections and never answers is found
// within this bound, whatever the case.
const DefaultDialTimeout = 10 * time.Second

func (o Options) caseTimeout() time.Duration {
	if o.CaseTimeout <= 0 {
		return DefaultCaseTimeout
	}
	return o.CaseTimeout
}

func (o Options) dialTimeout() time.Duration {
	if o.DialTimeout <= 0 {
		return DefaultDialTimeout
	}
	return o.DialTimeout
}

func (o Options) conn() websocket.ConnOptions {
	var co websocket.ConnOptions
	if o.Compress {
		co.Compression = websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}
	}
	return co
}

// Handler returns an HTTP handler that accepts WebSocket connections and
// echoes every message back until the connection ends.
//
// With opts.Poller, the handler's connections are served by a Poller that
// lives as long as the process.
func Handler(opts Options) http.Handler {
	var p *websocket.Poller
	if opts.Poller {
		var err error
		p, err = websocket.NewPoller(websocket.PollerOptions{
			OnMessage: echoMessage,
			// The fuzzing client sends up to a thousand large messages
			// before it reads their echoes; on a busy machine more than
			// the default 1 MiB waits to go out, and a Poller then fails
			// the echo (ErrWriteQueueFull) where a blocking server would
			// wait. An echo server for a conformance suite waits.
			WriteQueueLimit: 256 << 20,
		})
		if err != nil {
			panic(err) // epoll or eventfd refused: nothing to test
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{ConnOptions: opts.conn()})
		if err != nil {
			return
		}
		if p != nil {
			if err := p.Serve(c); err != nil {
				c.CloseNow()
			}
		} else {
			// A hijacked connection outlives the request; do not tie it
			// to the request's context.
			echo(context.WithoutCancel(r.Context()), c)
		}
		// Over HTTP/2 the connection is the request's stream, which ends
		// when the handler returns; over HTTP/1.1 a Poller's connection
		// outlives the handler.
		if r.ProtoMajor == 2 {
			<-c.Done()
		}
	})
}

// echoMessage is the Poller's echo: it sends the message back, and fails
// the connection if that is impossible.
func echoMessage(c *websocket.Conn, typ websocket.MessageType, p []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, p); err != nil {
		c.CloseNow()
	}
}

// echo sends every message back until reading or writing fails (the peer
// closed, or broke the protocol and the connection was failed, or ctx
// ended), and returns that error.
func echo(ctx context.Context, c *websocket.Conn) error {
	defer c.CloseNow()
	var buf []byte
	for {
		typ, p, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return err
		}
		buf = p
	}
}

// dial opens the client's connection to path on the fuzzing server,
// within opts.DialTimeout.
func dial(ctx context.Context, base, path string, query url.Values, opts Options) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.dialTimeout())
	defer cancel()
	u := strings.TrimSuffix(base, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	do := &websocket.DialOptions{ConnOptions: opts.conn()}
	if opts.HTTP2 != nil {
		do.HTTP2 = opts.HTTP2
		do.HTTP2Only = true
	}
	c, _, err := websocket.Dial(ctx, u, do)
	return c, err
}

// CaseCount asks the fuzzing server at base (ws://host:port) how many cases
// it runs, within opts.CaseTimeout.
func CaseCount(ctx context.Context, base string, opts Options) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.caseTimeout())
	defer cancel()
	c, err := dial(ctx, base, "/getCaseCount", nil, opts)
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	_, p, err := c.Read(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the case count: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(p)))
	if err != nil {
		return 0, fmt.Errorf("bad case count %q", p)
	}
	// The server closes; answer it.
	c.Read(ctx)
	return n, nil
}

// RunCase lets the fuzzing server run its case n (1-based) against this
// client, echoing every message until the server ends the case. The end
// of the connection is the end of the case, whatever the close code, as
// the fuzzing server judges it; RunCase fails only if it cannot connect
// or the case is still running when ctx or opts.CaseTimeout ends.
func RunCase(ctx context.Context, base string, n int, agent string, opts Options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.caseTimeout())
	defer cancel()
	c, err := dial(ctx, base, "/runCase", url.Values{"case": {strconv.Itoa(n)}, "agent": {agent}}, opts)
	if err != nil {
		return fmt.Errorf("case %d: %w", n, err)
	}
	if err := echo(ctx, c); ctx.Err() != nil {
		return fmt.Errorf("case %d: %w", n, err)
	}
	return nil
}

// UpdateReports asks the fuzzing server to write its reports for agent,
// within opts.CaseTimeout.
func UpdateReports(ctx context.Context, base, agent string, opts Options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.caseTimeout())
	defer cancel()
	c, err := dial(ctx, base, "/updateReports", url.Values{"agent": {agent}}, opts)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, websocket.ErrClosed) {
				return err
			}
			return nil
		}
	}
}

// RunClient follows the whole testee-client protocol: it asks for the case
// count, runs every case, then asks for the reports, each step within
// opts.CaseTimeout. progress, if set, is called before each case.
func RunClient(ctx context.Context, base, agent string, opts Options, progress func(n, count int)) error {
	count, err := CaseCount(ctx, base, opts)
	if err != nil {
		return err
	}
	for n := 1; n <= count; n++ {
		if progress != nil {
			progress(n, count)
		}
		if err := RunCase(ctx, base, n, agent, opts); err != nil {
			return err
		}
	}
	return UpdateReports(ctx, base, agent, opts)
}
