//go:build js && wasm

// Client is the page's side of examples/wasm: a Go program compiled to
// WebAssembly that dials the server with websocket.Dial (the browser's
// WebSocket underneath), sends what is typed into the page and shows
// what comes back. The server builds and serves it: go run ./examples/wasm
package main

import (
	"context"
	"fmt"
	"syscall/js"
	"time"

	"github.com/fullduplex/websocket"
)

var document = js.Global().Get("document")

func byID(id string) js.Value { return document.Call("getElementById", id) }

func logLine(class, text string) {
	p := document.Call("createElement", "div")
	p.Set("className", class)
	p.Set("textContent", text)
	byID("log").Call("appendChild", p)
}

func main() {
	status := byID("status")
	url := "ws://" + js.Global().Get("location").Get("host").String() + "/ws"
	if js.Global().Get("location").Get("protocol").String() == "https:" {
		url = "wss" + url[2:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"echo.v1"}})
	cancel()
	if err != nil {
		status.Set("textContent", err.Error())
		return
	}
	defer c.CloseNow()
	status.Set("textContent", fmt.Sprintf("open (subprotocol %q)", c.Subprotocol()))

	// Sending happens on a goroutine of its own: an event handler must
	// not block the browser.
	outbox := make(chan string, 16)
	onSubmit := js.FuncOf(func(this js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		select {
		case outbox <- byID("msg").Get("value").String():
		default:
			logLine("err", "too many messages waiting")
		}
		return nil
	})
	defer onSubmit.Release()
	byID("form").Call("addEventListener", "submit", onSubmit)
	go func() {
		for text := range outbox {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.Write(ctx, websocket.MessageText, []byte(text))
			cancel()
			if err != nil {
				logLine("err", err.Error())
				return
			}
			logLine("out", "> "+text)
		}
	}()

	for {
		typ, msg, err := c.Read(context.Background())
		if err != nil {
			status.Set("textContent", "closed: "+err.Error())
			return
		}
		if typ == websocket.MessageText {
			logLine("in", "< "+string(msg))
		} else {
			logLine("in", fmt.Sprintf("< %d bytes of binary", len(msg)))
		}
	}
}
