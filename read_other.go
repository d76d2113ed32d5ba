//go:build !unix

package websocket

import "net"

func (r *reader) initRaw(net.Conn) {}

func (r *reader) fillIdle(stop func() bool) (bool, error) { return false, nil }
