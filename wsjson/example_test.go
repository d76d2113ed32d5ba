package wsjson_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/fullduplex/websocket"
	"github.com/fullduplex/websocket/wsjson"
)

type order struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

type receipt struct {
	Item  string `json:"item"`
	Total int    `json:"total"`
}

// A JSON request and response over one connection. Read takes a whole
// message and rejects anything but one JSON value; Write sends one text
// message. They replace gorilla's ReadJSON and WriteJSON, and are called
// as coder's wsjson functions are.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			var o order
			if err := wsjson.Read(r.Context(), c, &o); err != nil {
				return
			}
			wsjson.Write(r.Context(), c, receipt{Item: o.Item, Total: 3 * o.Quantity})
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := wsjson.Write(ctx, c, order{Item: "tea", Quantity: 2}); err != nil {
		log.Fatal(err)
	}
	var rc receipt
	if err := wsjson.Read(ctx, c, &rc); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", rc)
	c.Close(websocket.StatusNormalClosure, "")
	// Output: {Item:tea Total:6}
}

// Read reports a message that is not one JSON value, and the connection
// stays usable.
func ExampleRead() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageText, []byte(`{"item":"tea"} trailing`))
		c.Write(r.Context(), websocket.MessageText, []byte(`{"item":"coffee","quantity":1}`))
		c.Read(r.Context())
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	for range 2 {
		var o order
		err := wsjson.Read(ctx, c, &o)
		fmt.Printf("%+v %v\n", o, err)
	}
	// Output:
	// {Item: Quantity:0} wsjson: failed to decode message: invalid character 't' after top-level value
	// {Item:coffee Quantity:1} <nil>
}

// Write encodes a value as one text message.
func ExampleWrite() {
	received := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, msg, _ := c.Read(r.Context())
		received <- string(msg)
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := wsjson.Write(ctx, c, order{Item: "tea", Quantity: 2}); err != nil {
		log.Fatal(err)
	}
	fmt.Print(<-received)
	// Output: {"item":"tea","quantity":2}
}
