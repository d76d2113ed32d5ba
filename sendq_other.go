//go:build !linux

package websocket

// unsentBytes is not known here: the heartbeat counts what the peer takes
// of our long frames by the writes the socket accepts only.
func (c *Conn) unsentBytes() int { return -1 }
