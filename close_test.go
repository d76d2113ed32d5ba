package websocket

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
)

// slowClose is a net.Conn whose Close waits until release is closed.
type slowClose struct {
	net.Conn
	release chan struct{}
}

func (s *slowClose) Close() error {
	<-s.release
	return s.Conn.Close()
}

// TestCloseNowWaitsForTheFirst: a closeNow that comes while another one is
// closing the transport returns only once that one is done, so that after
// any of them the socket is closed.
func TestCloseNowWaitsForTheFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		nc := &slowClose{Conn: a, release: make(chan struct{})}
		c := newConn(nc, false, nil, "", nil, nil)
		first, second := make(chan struct{}), make(chan struct{})
		go func() {
			c.CloseNow()
			close(first)
		}()
		synctest.Wait() // the first is in nc.Close
		go func() {
			c.closeNow(errors.New("second"))
			close(second)
		}()
		synctest.Wait()
		select {
		case <-second:
			t.Fatal("the second closeNow returned while the first was closing the transport")
		default:
		}
		close(nc.release)
		<-first
		<-second
		if err := c.Write(context.Background(), MessageText, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after close: %v", err)
		}
	})
}
