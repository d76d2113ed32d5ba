//go:build !linux

package websocket

// Without epoll every connection a Poller serves gets a goroutine of its
// own; the callbacks behave the same.

type loop struct{}

func (p *Poller) startLoops() error { return nil }

func (p *Poller) stopLoops() {}

func (p *Poller) register(*Conn, *evState) bool { return false }

func (l *loop) connClosed(*Conn) {}

func (l *loop) isBusy() bool { return false }

// The loops never run here, so the reader is never in loop mode.

func (r *reader) fillNow() (n, space int, err error) { return 0, 0, errWouldBlock }

func (r *reader) readNowInto([]byte) (int, error) { return 0, errWouldBlock }
