//go:build !js

package websocket

import (
	"context"
	"net/http"
)

// Outside a browser Dial opens TCP connections itself: dial_js.go and
// browser_js.go hold the browser's side.

// inBrowser is true where Dial opens the browser's WebSocket (GOOS=js).
const inBrowser = false

// dialBrowser is not called where inBrowser is false.
func dialBrowser(context.Context, string, *DialOptions) (*Conn, *http.Response, error) {
	panic("websocket: dialBrowser outside a browser")
}

// viaBrowser reports whether c runs over a browser's WebSocket object:
// never here.
func (c *Conn) viaBrowser() bool { return false }
