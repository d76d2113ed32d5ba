package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fullduplex/websocket"
)

// echoHandler echoes every message until the client closes.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request with the reason.
	}
	defer c.CloseNow()
	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

func ExampleAccept() {
	http.HandleFunc("/ws", echoHandler)
	// log.Fatal(http.ListenAndServe("localhost:8080", nil))
}

func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()

	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(websocket.StatusNormalClosure, "done"))
	// Output:
	// text hello
	// <nil>
}

func ExampleConn_Writer() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()

	// Stream a message in pieces; it goes out as fragments.
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		fmt.Fprintf(w, "part %d;", i)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	// Read it back as a stream.
	_, r, err := c.Reader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output: part 0;part 1;part 2;
}

func ExampleConn_Close() {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	// Close sends 1000, waits for the server's answer and closes TCP.
	fmt.Println(c.Close(websocket.StatusNormalClosure, "bye"))
	// Any later use reports the closed connection, and how the peer closed.
	_, _, err = c.Read(ctx)
	fmt.Println(errors.Is(err, websocket.ErrClosed), websocket.CloseStatus(err))
	// Output:
	// <nil>
	// true 1000 (normal closure)
}

func ExampleCloseStatus() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(websocket.StatusGoingAway, "restarting")
	}))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = c.Read(ctx)
	fmt.Println(websocket.CloseStatus(err))
	// Output: 1001 (going away)
}

func ExamplePoller() {
	closed := make(chan error, 1)
	p, err := websocket.NewPoller(websocket.PollerOptions{
		OnMessage: func(c *websocket.Conn, typ websocket.MessageType, msg []byte) {
			// Runs on an event loop shared with other connections: no
			// blocking work here. msg is only valid during the call.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			c.Write(ctx, typ, append([]byte("echo: "), msg...))
		},
		OnClose: func(c *websocket.Conn, err error) {
			closed <- err
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		if err := p.Serve(c); err != nil { // returns at once; the poller reads from now on
			c.CloseNow() // not taken: still ours to close
			return
		}
		if r.ProtoMajor == 2 {
			// Over HTTP/2 the connection is this request's stream, which
			// ends when the handler returns.
			<-c.Done()
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	c.Write(ctx, websocket.MessageText, []byte("hello"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	c.Close(websocket.StatusNormalClosure, "")
	fmt.Println(websocket.CloseStatus(<-closed))
	// Output:
	// echo: hello
	// 1000 (normal closure)
}
