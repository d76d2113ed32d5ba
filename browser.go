package websocket

import "errors"

// ErrPingInBrowser is returned at once by Ping and SendPing on a
// connection that Dial opened in a browser (GOOS=js): a page's WebSocket
// object cannot send pings. The browser answers the server's pings by
// itself, so a server's heartbeat keeps working; for a heartbeat of the
// page's own, exchange data messages. The README's "In the browser
// (WASM)" says what else differs there.
var ErrPingInBrowser = errors.New("websocket: a browser's WebSocket cannot send pings (it answers the server's pings itself)")
