// Package wsproto is the WebSocket protocol (RFC 6455, with the framing
// rules of RFC 7692) as a state machine that does no I/O.
//
// A Decoder is fed the bytes read from a connection and returns what they
// mean, one event at a time: the payload of a data message as it arrives,
// a ping, a pong or a close frame. It owns every rule that depends only on
// the bytes received: the frame header rules, the fragmentation state, the
// read limit, the close payload and incremental UTF-8 validation. It never
// reads, writes, waits or allocates; the drivers in the websocket package
// (a goroutine blocked in Read, a Poller's event loop) own the sockets, the
// buffers, the timers and what is sent in reply.
package wsproto
