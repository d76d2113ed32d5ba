package websocket_test

// The examples in this file back the migration guides,
// docs/migrating-from-gorilla.md and docs/migrating-from-coder.md: each
// shows this library's way of doing what a gorilla/websocket or
// coder/websocket program does, and its output is checked by go test.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fullduplex/websocket"
)

// gorilla/websocket's Upgrader becomes AcceptOptions, shared by every
// request (Accept keeps a pointer to them). upgrader.Upgrade(w, r,
// responseHeader) becomes Accept(w, r, opts) with ResponseHeader in the
// options; a refused request is answered by Accept itself.
func ExampleAccept_gorillaUpgrader() {
	// var upgrader = websocket.Upgrader{
	// 	ReadBufferSize:    1024,
	// 	WriteBufferSize:   1024,
	// 	Subprotocols:      []string{"chat.v2", "chat.v1"},
	// 	EnableCompression: true,
	// 	CheckOrigin:       func(r *http.Request) bool { … },
	// }
	acceptOptions := &websocket.AcceptOptions{
		ConnOptions: websocket.ConnOptions{
			// Read buffers are pooled and sized by the library; the write
			// buffer is the fragment size of a Writer.
			WriteBufferSize: 1024,
			// gorilla negotiates compression without context takeover.
			Compression: websocket.CompressionOptions{Mode: websocket.CompressionNoContextTakeover},
		},
		Subprotocols: []string{"chat.v2", "chat.v1"},
		// OriginPatterns for fixed lists, CheckOrigin for anything else
		// (see the example of AcceptOptions.CheckOrigin).
		OriginPatterns: []string{"https://*.example.com"},
		ResponseHeader: http.Header{"X-Server": {"example"}},
	}
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		// conn, err := upgrader.Upgrade(w, r, nil)
		c, err := websocket.Accept(w, r, acceptOptions)
		if err != nil {
			return // Accept has answered 400, 403, 405 or 426
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageText, []byte("chose "+c.Subprotocol()))
		c.Read(r.Context()) // until the client closes
	})
	defer stop()

	ctx := context.Background()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"chat.v1", "chat.v2"},
		ConnOptions:  websocket.ConnOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionNoContextTakeover}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	fmt.Println(resp.Header.Get("X-Server"), resp.Header.Get("Sec-WebSocket-Extensions"))
	// Output:
	// chose chat.v2
	// example permessage-deflate; server_no_context_takeover; client_no_context_takeover
}

// ReadMessage and WriteMessage become Read and Write, which take a
// context; the message types are MessageText and MessageBinary (gorilla's
// TextMessage and BinaryMessage, the same values). Pings are answered and
// the peer's close is echoed while Read runs, as in gorilla.
func ExampleConn_Read_gorillaReadMessage() {
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			// messageType, p, err := conn.ReadMessage()
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			// err = conn.WriteMessage(messageType, p)
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	})
	defer stop()

	ctx := context.Background()
	c := exampleDial(ctx, url, nil)
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3})
	typ, p, _ := c.Read(ctx)
	fmt.Println(typ, p)
	// Output: binary [1 2 3]
}

// NextReader and NextWriter become Reader and Writer. The writer sends a
// fragment each time its buffer fills; Close ends the message.
func ExampleConn_Reader_gorillaNextReader() {
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for {
			// messageType, r, err := conn.NextReader()
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			// w, err := conn.NextWriter(messageType)
			wr, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
	defer stop()

	ctx := context.Background()
	c := exampleDial(ctx, url, nil)
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", 10000)))
	_, msg, _ := c.Read(ctx)
	fmt.Println(len(msg), "bytes streamed back")
	// Output: 10000 bytes streamed back
}

// SetReadDeadline becomes a context on each Read. Unlike gorilla, where a
// read that timed out leaves the connection broken for good, a Read whose
// context ends leaves it usable: the next Read goes on where it stopped.
func ExampleConn_Read_gorillaReadDeadline() {
	send := make(chan struct{})
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-send
		c.Write(r.Context(), websocket.MessageText, []byte("late, but here"))
		c.Read(r.Context())
	})
	defer stop()

	c := exampleDial(context.Background(), url, nil)
	defer c.CloseNow()

	// conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, _, err := c.Read(ctx)
	cancel()
	fmt.Println(errors.Is(err, context.DeadlineExceeded))

	close(send)
	_, msg, err := c.Read(context.Background())
	fmt.Println(string(msg), err)
	// Output:
	// true
	// late, but here <nil>
}

// The keep-alive of gorilla's examples (a read deadline pushed on by a
// pong handler, and a ticker that sends pings with WriteControl) becomes
// two options. PingInterval is the quiet time after which a ping is sent,
// PingTimeout how long to wait then for any frame; a dead peer is closed
// with 1001 and reads fail with ErrHeartbeatTimeout. No goroutine and no
// ticker are needed: the idle connection holds a timer.
func ExampleConnOptions_gorillaPingTicker() {
	// const pongWait = 60 * time.Second
	// const pingPeriod = (pongWait * 9) / 10
	// conn.SetReadDeadline(time.Now().Add(pongWait))
	// conn.SetPongHandler(func(string) error { conn.SetReadDeadline(time.Now().Add(pongWait)); return nil })
	// ticker := time.NewTicker(pingPeriod) … conn.WriteControl(websocket.PingMessage, nil, deadline)
	opts := &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{
		PingInterval: 60 * time.Millisecond, // pingPeriod; 54 s in gorilla's chat example
		PingTimeout:  60 * time.Millisecond, // pongWait - pingPeriod would be 6 s there
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

	c := exampleDial(context.Background(), url, nil) // never reads: looks dead
	defer c.CloseNow()
	err := <-ended
	fmt.Println(errors.Is(err, websocket.ErrHeartbeatTimeout))
	// Output: true
}

// WriteControl maps to three calls: a ping is SendPing (or Ping, which
// also waits for the pong and returns the round trip time); a close frame
// is Close, which runs the whole closing handshake; pongs are sent for
// you. SetPongHandler and SetPingHandler become the OnPong and OnPing
// options; pings are answered whether or not OnPing is set.
func ExampleConn_SendPing_gorillaWriteControl() {
	url, stop := exampleServer(echoHandler)
	defer stop()

	pong := make(chan string, 1)
	ctx := context.Background()
	c := exampleDial(ctx, url, &websocket.DialOptions{ConnOptions: websocket.ConnOptions{
		// conn.SetPongHandler(func(appData string) error { … })
		OnPong: func(payload []byte) { pong <- string(payload) },
	}})
	defer c.CloseNow()
	go c.Read(ctx) // pongs are seen by whatever reads

	// conn.WriteControl(websocket.PingMessage, []byte("tick"), time.Now().Add(time.Second))
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.SendPing(wctx, []byte("tick")); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-pong)
	// Output: tick
}

// gorilla's Close drops the TCP connection without a close frame: that is
// CloseNow here, and the peer sees 1006 (abnormal closure). Close(code,
// reason) is the closing handshake gorilla programs assemble from
// WriteControl(CloseMessage, FormatCloseMessage(code, text), deadline) and
// a read of the answer: it sends the close frame, waits (bounded by
// CloseTimeout) for the peer's and closes TCP.
func ExampleConn_CloseNow_gorillaClose() {
	ended := make(chan error, 1)
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, _, err = c.Read(context.Background())
		ended <- err
	})
	defer stop()
	ctx := context.Background()

	a := exampleDial(ctx, url, nil)
	a.CloseNow() // conn.Close()
	fmt.Println(websocket.CloseStatus(<-ended))

	b := exampleDial(ctx, url, nil)
	b.Close(websocket.StatusNormalClosure, "bye") // WriteControl(CloseMessage, …) and more
	fmt.Println(websocket.CloseStatus(<-ended))
	// Output:
	// 1006 (abnormal closure)
	// 1000 (normal closure)
}

// IsCloseError and IsUnexpectedCloseError become CloseStatus, which
// returns the close code in an error's chain, or -1 when the connection
// did not end with one. 1006 is reported, as in gorilla, when the
// connection ended without a close frame.
func ExampleCloseStatus_gorillaIsUnexpectedCloseError() {
	describe := func(err error) string {
		// if websocket.IsUnexpectedCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure) { … }
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusGoingAway:
			return "expected close"
		case -1:
			return "no close code: " + err.Error()
		default:
			return "unexpected close: " + websocket.CloseStatus(err).String()
		}
	}
	ended := make(chan error, 1)
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, _, err = c.Read(context.Background())
		ended <- err
	})
	defer stop()
	ctx := context.Background()
	for _, code := range []websocket.StatusCode{websocket.StatusGoingAway, 4000} {
		c := exampleDial(ctx, url, nil)
		c.Close(code, "")
		fmt.Println(describe(<-ended))
	}
	fmt.Println(describe(errors.New("something else")))
	// Output:
	// expected close
	// unexpected close: 4000
	// no close code: something else
}

// A Dialer's fields become DialOptions; HandshakeTimeout becomes the
// context of Dial, and the request header moves into HTTPHeader (gorilla
// takes Sec-WebSocket-Protocol there too; here it is Subprotocols).
func ExampleDial_gorillaDialer() {
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"v1"}})
		if err != nil {
			return
		}
		c.Close(websocket.StatusNormalClosure, r.Header.Get("Authorization"))
	})
	defer stop()

	// dialer := websocket.Dialer{
	// 	HandshakeTimeout: 10 * time.Second,
	// 	Subprotocols:     []string{"v1"},
	// 	TLSClientConfig:  tlsConfig,
	// 	Proxy:            http.ProxyFromEnvironment,
	// 	NetDialContext:   dialContext,
	// 	Jar:              jar,
	// }
	// conn, resp, err := dialer.DialContext(ctx, url, http.Header{"Authorization": {"Bearer t0ken"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"v1"},
		HTTPHeader:   http.Header{"Authorization": {"Bearer t0ken"}},
		// TLSConfig, Proxy (nil means the environment's, as gorilla's
		// DefaultDialer), NetDialContext and Jar keep their meaning.
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(ctx)
	var ce *websocket.CloseError
	errors.As(err, &ce)
	fmt.Println(c.Subprotocol(), ce.Reason)
	// Output: v1 Bearer t0ken
}

// gorilla allows one writer at a time and panics on concurrent writes, so
// its programs put a mutex or a writer goroutine in front of the
// connection. Here any number of goroutines may write; messages never
// interleave.
func ExampleConn_Write_gorillaConcurrentWriters() {
	url, stop := exampleServer(echoHandler)
	defer stop()
	ctx := context.Background()
	c := exampleDial(ctx, url, nil)
	defer c.CloseNow()

	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			c.Write(ctx, websocket.MessageText, []byte(fmt.Sprint("message ", i))) // no mutex
		})
	}
	wg.Wait()
	for range 10 {
		if _, _, err := c.Read(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("10 whole messages echoed")
	// Output: 10 whole messages echoed
}

// coder/websocket's AcceptOptions keep their shape, with these renames:
// InsecureSkipVerify is InsecureSkipOriginCheck, CompressionMode and
// CompressionThreshold are Compression.Mode and Compression.Threshold, and
// OnPingReceived and OnPongReceived are OnPing and OnPong (without a
// context; a ping is always answered). OriginPatterns are the same.
func ExampleAccept_coderAcceptOptions() {
	pinged := make(chan struct{}, 1)
	// &websocket.AcceptOptions{
	// 	InsecureSkipVerify:   true,
	// 	CompressionMode:      websocket.CompressionContextTakeover,
	// 	CompressionThreshold: 256,
	// 	OnPingReceived:       func(ctx context.Context, payload []byte) bool { …; return true },
	// }
	opts := &websocket.AcceptOptions{
		InsecureSkipOriginCheck: true, // any page may connect: prefer OriginPatterns
		ConnOptions: websocket.ConnOptions{
			Compression: websocket.CompressionOptions{
				Mode:      websocket.CompressionContextTakeover,
				Threshold: 256,
			},
			OnPing: func(payload []byte) { pinged <- struct{}{} }, // on the reader: do not block
		},
	}
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context()) // answers pings until the client closes
	})
	defer stop()

	ctx := context.Background()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader:  http.Header{"Origin": {"https://elsewhere.example"}},
		ConnOptions: websocket.ConnOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println(resp.StatusCode, resp.Header.Get("Sec-WebSocket-Extensions"))
	if _, err := c.Ping(ctx); err != nil {
		log.Fatal(err)
	}
	<-pinged
	fmt.Println("the server saw the ping")
	// Output:
	// 101 permessage-deflate
	// the server saw the ping
}

// coder's Ping returns only an error and needs another goroutine reading
// the connection to see the pong. Ping here also returns the round trip
// time, and reads by itself when nothing else does.
func ExampleConn_Ping_coder() {
	url, stop := exampleServer(echoHandler)
	defer stop()
	ctx := context.Background()
	c := exampleDial(ctx, url, nil)
	defer c.CloseNow()

	// err := c.Ping(ctx)
	rtt, err := c.Ping(ctx) // no reader needed
	fmt.Println(rtt > 0, err)
	// Output: true <nil>
}

// DialOptions have no HTTPClient: Dial writes its handshake itself (to
// bound the response head, keep frames that follow it, and hand a plain
// socket to a Poller). The settings a configured http.Client carries map
// to fields: the Transport's TLSClientConfig, Proxy and DialContext, and
// the client's Jar. One difference: a nil Proxy means no proxy in
// http.Transport but the environment's proxy here.
func ExampleDial_coderHTTPClient() {
	srv := httptest.NewTLSServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	client := srv.Client() // an *http.Client configured to trust srv

	// c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: client})
	tr := client.Transport.(*http.Transport)
	proxy := tr.Proxy
	if proxy == nil {
		proxy = func(*http.Request) (*url.URL, error) { return nil, nil } // no proxy
	}
	opts := &websocket.DialOptions{
		TLSConfig:      tr.TLSClientConfig,
		Proxy:          proxy,
		NetDialContext: tr.DialContext, // may be nil: then a net.Dialer
		Jar:            client.Jar,
	}
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https"), opts)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte("over TLS"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	// Output: over TLS
}

// coder's CloseRead reads in the background for a connection the
// application only writes to, and returns a context that ends with the
// connection. Here, a goroutine does the same with Read; the connection
// must be read for pings to be answered and the peer's close to be seen.
func ExampleConn_Read_coderCloseRead() {
	// closeRead does what coder's c.CloseRead(ctx) does: read until the
	// connection ends, closing it with 1008 if a data message arrives.
	closeRead := func(ctx context.Context, c *websocket.Conn) context.Context {
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			defer cancel()
			if _, _, err := c.Read(ctx); err == nil {
				c.Close(websocket.StatusPolicyViolation, "unexpected data message")
			}
		}()
		return ctx
	}
	done := make(chan struct{})
	url, stop := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := closeRead(r.Context(), c)
		for i := 1; ; i++ {
			select {
			case <-ctx.Done():
				return // the client closed
			case <-time.After(10 * time.Millisecond):
				c.Write(ctx, websocket.MessageText, []byte(fmt.Sprint("tick ", i)))
			}
		}
	})
	defer stop()

	ctx := context.Background()
	c := exampleDial(ctx, url, nil)
	for range 3 {
		_, msg, _ := c.Read(ctx)
		fmt.Println(string(msg))
	}
	fmt.Println(c.Close(websocket.StatusNormalClosure, ""))
	<-done
	// Output:
	// tick 1
	// tick 2
	// tick 3
	// <nil>
}
