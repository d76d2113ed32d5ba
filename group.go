package websocket

import (
	"context"
	"sync"
)

// Group tracks live connections so that they can be closed together.
// Hijacked connections are invisible to http.Server.Shutdown; put server
// connections in a Group (AcceptOptions.Group) and call its Shutdown from
// http.Server.RegisterOnShutdown or after Shutdown returns.
//
// The zero value is ready to use. A Group is safe for concurrent use.
type Group struct {
	mu       sync.Mutex
	conns    map[*Conn]struct{}
	shutdown bool
}

// add tracks c, or reports false if the group is shutting down.
func (g *Group) add(c *Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdown {
		return false
	}
	if g.conns == nil {
		g.conns = make(map[*Conn]struct{})
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Group) remove(c *Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// Len returns the number of open connections in the group.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// Shutdown closes every connection in the group with 1001 (going away) and
// the given reason, running the closing handshakes concurrently, and
// refuses connections accepted from then on (they are closed with 1001
// right away). Messages whose Write returned before Shutdown was called
// reach the peer ahead of the close frame. When ctx ends first, the
// remaining connections are dropped with CloseNow and ctx's error is
// returned.
func (g *Group) Shutdown(ctx context.Context, reason string) error {
	g.mu.Lock()
	g.shutdown = true
	conns := make([]*Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close(StatusGoingAway, reason)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.CloseNow()
		}
		<-done
		return ctx.Err()
	}
}
