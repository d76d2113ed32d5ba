package websocket_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/fullduplex/websocket"
)

// exampleServer serves h on 127.0.0.1 and returns its ws:// URL and a
// function that stops it.
func exampleServer(h http.HandlerFunc) (url string, stop func()) {
	srv := httptest.NewServer(h)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), srv.Close
}

// exampleDial dials url, ending the program on failure.
func exampleDial(ctx context.Context, url string, opts *websocket.DialOptions) *websocket.Conn {
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// CheckOrigin admits cross-origin browsers by a rule that patterns cannot
// express: here a set of customer domains that may change at run time.
// Same-origin requests, requests without an Origin and origins matching
// OriginPatterns never reach it.
func ExampleAcceptOptions_checkOrigin() {
	var mu sync.Mutex
	customers := map[string]bool{"https://shop.example": true}
	opts := &websocket.AcceptOptions{
		OriginPatterns: []string{"https://*.ourcompany.example"},
		CheckOrigin: func(r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			return customers[r.Header.Get("Origin")] // the whole scheme://host
		},
	}
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return // answered with 403
		}
		c.CloseNow()
	})
	defer stop()

	ctx := context.Background()
	for _, origin := range []string{"https://shop.example", "https://app.ourcompany.example", "https://evil.example"} {
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil {
			c.CloseNow()
		}
		fmt.Println(origin, resp.StatusCode)
	}
	// Output:
	// https://shop.example 101
	// https://app.ourcompany.example 101
	// https://evil.example 403
}

// memListener is a net.Listener whose connections are made in memory by
// dial: enough to run an http.Server without a network.
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Addr() net.Addr { return &net.UnixAddr{Name: "memory", Net: "memory"} }

func (l *memListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// Client runs the client's handshake over a connection made elsewhere:
// here one end of a net.Pipe, whose other end an http.Server serves, so
// client and server talk without a network. A custom transport (an SSH
// channel, a serial line) plugs in the same way.
func ExampleClient() {
	ln := newMemListener()
	srv := &http.Server{Handler: http.HandlerFunc(echoHandler)}
	go srv.Serve(ln)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The URL gives the Host header and the path; nothing is dialed.
	c, _, err := websocket.Client(ctx, ln.dial(), "ws://echo.internal/", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte("in memory"))
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	fmt.Println(c.Close(websocket.StatusNormalClosure, ""))
	// Output:
	// in memory
	// <nil>
}

// SendPing sends a ping and returns at once; the pong arrives at OnPong
// through whatever reads the connection. Ping, by contrast, waits for its
// pong and measures the round trip.
func ExampleConn_SendPing() {
	url, stop := exampleServer(echoHandler) // echoHandler's Read answers pings
	defer stop()

	pongs := make(chan string, 1)
	ctx := context.Background()
	c := exampleDial(ctx, url, &websocket.DialOptions{ConnOptions: websocket.ConnOptions{
		OnPong: func(payload []byte) { pongs <- string(payload) }, // runs on the reader: do not block
	}})
	defer c.CloseNow()
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()

	if err := c.SendPing(ctx, []byte("are you there?")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("pong:", <-pongs)
	rtt, err := c.Ping(ctx)
	fmt.Println("Ping:", rtt > 0, err)
	// Output:
	// pong: are you there?
	// Ping: true <nil>
}

// CloseContext gives a closing handshake a deadline of the caller's, such
// as what is left of a shutdown's: a peer that never answers is dropped
// when ctx ends, and the error says it was ctx, not CloseTimeout.
func ExampleConn_CloseContext() {
	release := make(chan struct{})
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		<-release // reads nothing meanwhile, so never answers the close frame
		c.CloseNow()
	})
	defer stop()

	c := exampleDial(context.Background(), url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.CloseContext(ctx, websocket.StatusGoingAway, "shutting down")
	close(release)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output: true
}

// A heartbeat drops peers that stopped answering without closing: a
// laptop that went to sleep, a NAT that forgot the connection. After
// PingInterval without any frame from the peer a ping is sent; if nothing
// arrives within PingTimeout, the connection is closed with 1001 and
// reads return an error wrapping ErrHeartbeatTimeout. It needs no
// goroutine of its own, and a peer that reads answers pings by itself.
func ExampleConnOptions_heartbeat() {
	opts := &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{
		PingInterval: 50 * time.Millisecond, // in production, 30 s or so
		PingTimeout:  50 * time.Millisecond,
	}}
	ended := make(chan error, 1)
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		_, _, err = c.Read(context.Background())
		ended <- err
	})
	defer stop()

	// A client that never reads, so never answers a ping.
	c := exampleDial(context.Background(), url, nil)
	defer c.CloseNow()
	fmt.Println(errors.Is(<-ended, websocket.ErrHeartbeatTimeout))
	// Output: true
}

// A Group tracks the connections accepted with it; Broadcast sends one
// prepared message to all of them, and All ranges over them.
func ExampleGroup() {
	var g websocket.Group
	joined := make(chan struct{})
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Group: &g})
		if err != nil {
			return
		}
		joined <- struct{}{}
		// Read until the client leaves: that answers its pings and close.
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})
	defer stop()

	ctx := context.Background()
	var clients []*websocket.Conn
	for range 3 {
		c := exampleDial(ctx, url, nil)
		defer c.CloseNow()
		clients = append(clients, c)
		<-joined
	}
	n := 0
	for range g.All() {
		n++
	}
	fmt.Println(n, "connections")

	pm, err := websocket.NewPreparedMessage(websocket.MessageText, []byte("hello, everyone"))
	if err != nil {
		log.Fatal(err)
	}
	// ctx is how long a peer may stall the broadcast before it is dropped.
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	dropped := g.Broadcast(bctx, pm)
	cancel()
	fmt.Println(len(dropped), "dropped")
	for _, c := range clients {
		_, msg, _ := c.Read(ctx)
		fmt.Println(string(msg))
	}
	// Output:
	// 3 connections
	// 0 dropped
	// hello, everyone
	// hello, everyone
	// hello, everyone
}

// Broadcast drops a peer that does not take a message before ctx ends:
// its connection is closed with 1008 once the frame it was being sent has
// gone out. Over TCP a peer is dropped only once the socket buffers toward
// it are full; this example runs over in-memory pipes, which buffer
// nothing, so that one message shows it.
func ExampleGroup_Broadcast() {
	var g websocket.Group
	joined := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Group: &g})
		if err != nil {
			return
		}
		joined <- struct{}{}
		c.Read(context.Background()) // until the connection ends
	})}
	ln := newMemListener()
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	connect := func() *websocket.Conn {
		c, _, err := websocket.Client(ctx, ln.dial(), "ws://news.internal/", nil)
		if err != nil {
			log.Fatal(err)
		}
		<-joined
		return c
	}
	reader := connect()
	defer reader.CloseNow()
	stalled := connect()
	defer stalled.CloseNow()

	received := make(chan string, 1)
	go func() {
		_, msg, _ := reader.Read(ctx)
		received <- string(msg)
	}()
	pm, err := websocket.NewPreparedMessage(websocket.MessageText, []byte("breaking news"))
	if err != nil {
		log.Fatal(err)
	}
	// ctx is how long a peer may stall the broadcast before it is dropped.
	bctx, cancel := context.WithTimeout(ctx, time.Second)
	dropped := g.Broadcast(bctx, pm)
	cancel()
	fmt.Println(len(dropped), "dropped; the reader got:", <-received)

	// The stalled peer reads at last: the message, then the close frame.
	_, msg, _ := stalled.Read(ctx)
	_, _, err = stalled.Read(ctx)
	fmt.Println("the stalled peer got:", string(msg), "then", websocket.CloseStatus(err))
	// Output:
	// 1 dropped; the reader got: breaking news
	// the stalled peer got: breaking news then 1008 (policy violation)
}

// A server's shutdown: http.Server.Shutdown first, which stops accepting
// and waits for plain HTTP requests but knows nothing of hijacked
// connections, then Group.Shutdown, which closes the WebSockets with 1001
// and waits for their closing handshakes. Both share one deadline.
func ExampleGroup_Shutdown() {
	var g websocket.Group
	joined := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Group: &g})
		if err != nil {
			return
		}
		joined <- struct{}{}
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)

	ctx := context.Background()
	c := exampleDial(ctx, "ws://"+ln.Addr().String(), nil)
	defer c.CloseNow()
	<-joined
	clientErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		clientErr <- err
	}()

	// On SIGTERM, say:
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)                               // 1. no new connections; plain requests finish
	err = errors.Join(err, g.Shutdown(sctx, "restarting")) // 2. every WebSocket closed with 1001
	fmt.Println(err, g.Len())
	fmt.Println(websocket.CloseStatus(<-clientErr))
	// Output:
	// <nil> 0
	// 1001 (going away)
}

// NewPreparedMessage frames a message once; WritePrepared sends it to any
// number of connections without framing (or compressing) it again.
func ExampleNewPreparedMessage() {
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context()) // until the client closes
	})
	defer stop()

	ctx := context.Background()
	a := exampleDial(ctx, url, nil)
	defer a.CloseNow()
	b := exampleDial(ctx, url, nil)
	defer b.CloseNow()

	buf := []byte("price: 42")
	pm, err := websocket.NewPreparedMessage(websocket.MessageText, buf)
	if err != nil {
		log.Fatal(err)
	}
	copy(buf, "PRICE") // the message keeps its own copy
	for _, c := range []*websocket.Conn{a, b} {
		if err := c.WritePrepared(ctx, pm); err != nil {
			log.Fatal(err)
		}
	}
	// a and b are clients here; a server sends a PreparedMessage the same
	// way, with a single write and no copy of the payload.
	fmt.Println("sent twice")
	// Output: sent twice
}

// NetConn turns a connection into a net.Conn carrying a byte stream, for
// code written against net.Conn: here a line protocol with bufio.
func ExampleNetConn() {
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := websocket.NetConn(r.Context(), c, websocket.MessageBinary)
		defer nc.Close()
		sc := bufio.NewScanner(nc)
		for sc.Scan() {
			fmt.Fprintf(nc, "%s\n", strings.ToUpper(sc.Text()))
		}
	})
	defer stop()

	ctx := context.Background()
	c := exampleDial(ctx, url, nil)
	nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
	defer nc.Close()
	sc := bufio.NewScanner(nc)
	for _, line := range []string{"hello", "net.Conn"} {
		fmt.Fprintf(nc, "%s\n", line) // each Write is one message
		sc.Scan()
		fmt.Println(sc.Text())
	}
	// Output:
	// HELLO
	// NET.CONN
}

// SetReadLimit bounds the messages a connection accepts. The sender of a
// larger message is not told by its Write, which returns once the bytes
// are handed to the operating system; it learns from its next Read, which
// returns the peer's close frame with 1009.
func ExampleConn_SetReadLimit() {
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(16)
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
	})
	defer stop()

	ctx := context.Background()
	c := exampleDial(ctx, url, nil)
	defer c.CloseNow()
	fmt.Println(c.Write(ctx, websocket.MessageText, []byte("seventeen bytes!!")))
	_, _, err := c.Read(ctx)
	fmt.Println(websocket.CloseStatus(err))
	// Output:
	// <nil>
	// 1009 (message too big)
}
