package main

import (
	"log"
	"net"
	"net/http"
	"os"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	nbws "github.com/lesismal/nbio/nbhttp/websocket"
)

// nbio: an event-driven peer, set up as its author's benchmark server
// (go-websocket-benchmark, nbio_nonblocking) sets it up. nbhttp.Engine
// reads the requests itself on its epoll pollers (IOModNonBlocking: no
// goroutine per connection; runtime.NumCPU()/4 pollers, at least one),
// the websocket.Upgrader takes the connection over in place, and
// OnMessage echoes with WriteMessage. ReleaseWebsocketPayload hands each
// message back to nbio's pool once OnMessage returns. OnMessage runs on
// nbio's task pool, one job at a time per connection. The Upgrader's
// keep-alive read deadline is left off, as the author's server clears it
// after Upgrade, so an idle connection holds no timer. Frames nbio writes
// carry at most MaxWebsocketFramePayloadSize (32 KiB by default), so a
// 64 KiB echo goes back as two fragments. With compression,
// EnableCompression lets it negotiate permessage-deflate.
//
// The engine is handed the listener the other servers use through
// Config.Listen; its log goes to stderr, so that stdout carries only the
// replies to the report.
func serveNbio(ln net.Listener, o options) {
	logging.Output = os.Stderr
	logging.SetLevel(logging.LevelError)

	u := nbws.NewUpgrader()
	u.KeepaliveTime = 0
	u.EnableCompression(o.compress)
	u.OnMessage(func(c *nbws.Conn, typ nbws.MessageType, msg []byte) {
		if err := c.WriteMessage(typ, msg); err != nil {
			c.Close()
		}
	})
	e := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{ln.Addr().String()},
		Listen:                  func(string, string) (net.Listener, error) { return ln, nil },
		IOMod:                   nbhttp.IOModNonBlocking,
		MaxLoad:                 1 << 20,
		ReleaseWebsocketPayload: true,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.Upgrade(w, r, nil)
		}),
	})
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
}
