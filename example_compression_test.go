package websocket_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fullduplex/websocket"
)

// A server with many idle connections under context takeover chooses both
// windows: MaxWindowBits limits the client's (client_max_window_bits),
// SendWindowBits its own, announced with server_max_window_bits even to a
// client that did not ask. Each connection then keeps at most 1 KiB of
// history per direction instead of 32 KiB, for a somewhat worse ratio.
func ExampleCompressionOptions_windowBits() {
	serverOpts := &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{
		Compression: websocket.CompressionOptions{
			Mode:           websocket.CompressionContextTakeover,
			MaxWindowBits:  10,
			SendWindowBits: 10,
		},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, serverOpts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The client offers "permessage-deflate; client_max_window_bits", as
	// browsers do.
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		ConnOptions: websocket.ConnOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println(resp.Header.Get("Sec-WebSocket-Extensions"))

	msg := bytes.Repeat([]byte(`{"user":"ada","text":"hello"} `), 100)
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		log.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bytes.Equal(got, msg))
	// Output:
	// permessage-deflate; server_max_window_bits=10; client_max_window_bits=10
	// true
}
