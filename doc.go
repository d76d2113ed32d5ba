// Package websocket implements the WebSocket protocol (RFC 6455) for
// servers and clients.
//
// A server upgrades an HTTP request with Accept inside any http.Handler; a
// client connects with Dial, or runs the handshake over a connection of
// its own with Client. All return a *Conn, which reads and writes
// whole messages (Read, ReadAppend, Write) or streams them (Reader, Writer).
//
// Every blocking call takes a context. A read whose context ends while
// waiting leaves the connection usable. Writes are safe from many
// goroutines at once; reads are for one goroutine at a time. Pings are
// answered automatically while the connection is read, Ping measures the
// round trip, and ConnOptions.PingInterval runs a heartbeat.
//
// Close runs the closing handshake with a bounded wait, CloseNow drops the
// connection at once, and a close from the peer is answered with the same
// code. How a connection ended surfaces as a *CloseError: the peer's close
// frame, or StatusAbnormalClosure (1006), which no peer sends, when the
// connection ended without one; CloseStatus returns its code. A
// *ProtocolError says the peer broke the protocol or a limit, and the
// connection was failed with the code it carries.
//
// By default a server accepts same-origin browsers and non-browser
// clients, messages are limited to DefaultReadLimit bytes, and text
// messages and close reasons must be valid UTF-8, checked as they arrive.
//
// A Poller serves many connections from a few event loops instead of a
// goroutine each, calling a function for every message; on Linux an idle
// connection then holds no goroutine and no buffer.
//
// A Group tracks server connections, broadcasts to them and closes them
// together at shutdown.
//
// Every entry point has an example. See the examples directory
// for a browser echo demo, a terminal client, a chat hub, a client
// compiled to WebAssembly for the browser, and a chat across several
// processes on NATS (a module of its own), and
// docs/migrating-from-gorilla.md and docs/migrating-from-coder.md for
// moving a program over from those libraries.
package websocket
