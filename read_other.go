//go:build !unix

package websocket

import (
	"context"
	"net"
)

func (r *reader) initRaw(net.Conn) {}

// fillIdle is never called here: no connection has a raw socket.
func (r *reader) fillIdle(context.Context) error { return nil }

// trySend never writes here: the caller falls back to a blocking write on
// a goroutine of its own.
func (w *writer) trySend([]byte) (int, error) { return 0, errWouldBlock }

// trySendv is not used where there is no Poller loop.
func (w *writer) trySendv([][]byte) (int, error) { return 0, errWouldBlock }
