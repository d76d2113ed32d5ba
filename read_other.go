//go:build !unix

package websocket

import "net"

func (r *reader) initRaw(net.Conn) {}

func (r *reader) fillIdle(stop func() bool) (bool, error) { return false, nil }

// trySend never writes here: the caller falls back to a blocking write on
// a goroutine of its own.
func (w *writer) trySend([]byte) (int, error) { return 0, errWouldBlock }

// trySendv is not used where there is no Poller loop.
func (w *writer) trySendv([][]byte) (int, error) { return 0, errWouldBlock }
