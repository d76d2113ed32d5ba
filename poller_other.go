//go:build !linux

package websocket

// Without epoll every connection a Poller serves gets a goroutine of its
// own; the callbacks behave the same.

type loop struct{}

// loopSocket stands for the socket a loop takes over, which never happens
// here.
type loopSocket struct{}

func (*loopSocket) Close() error      { return nil }
func (*loopSocket) CloseWrite() error { return nil }

func (p *Poller) startLoops() error { return nil }

func (p *Poller) stopLoops() {}

func (p *Poller) loopConns(conns []*Conn) []*Conn { return conns }

func (p *Poller) register(*Conn, *evState) bool { return false }

func (l *loop) goroutine() uint64 { return 0 }

func (l *loop) connClosed(*Conn) {}

func (l *loop) released(*Conn, *evState) {}
