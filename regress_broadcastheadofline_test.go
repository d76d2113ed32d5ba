package websocket

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fullduplex/websocket/internal/wstest"
)

// TestRegressionBroadcastStuckMemberDropsNoOther: Broadcast wrote to its
// Poller-served members one after the other, so a member whose message
// another goroutine held (a Writer left open) held up every member after
// it until ctx ended; those then met any brief wait for their own message
// lock with ctx ended and were dropped as too slow, though each would
// have waited a millisecond. Here one member has a Writer left open and
// six send short messages of their own all along: only the first may be
// dropped, and is. Broadcast's ctx gives each busy member 500 ms: its
// own messages hold it a millisecond each, but a busy machine may hold
// its writer up mid-message for far longer than that. Before the fix the
// stuck member held up the others whatever the ctx, and they were
// dropped at its end all the same (11 runs in 12 at 500 ms, 12 in 12 at
// 100 ms, with the stuck member written to in line again).
func TestRegressionBroadcastStuckMemberDropsNoOther(t *testing.T) {
	wstest.CheckLeaks(t)
	p, err := NewPoller(PollerOptions{OnMessage: func(*Conn, MessageType, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var g Group
	url, accepted := groupServer(t, &g, p)
	ctx := testCtx(t)
	const busy = 6
	var servers []*Conn
	for range busy + 1 {
		c, _, err := Dial(ctx, url+"?poller=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		servers = append(servers, await(t, accepted, "the accepted Conn"))
		go func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
	}
	stuck, others := servers[0], servers[1:]
	w, err := stuck.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range others {
		wg.Go(func() { sendShortMessagesUntil(stop, s) })
	}
	pm, err := NewPreparedMessage(MessageText, []byte("broadcast"))
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	dropped := g.Broadcast(bctx, pm)
	cancel()
	close(stop)
	wg.Wait()
	for _, c := range dropped {
		if i := slices.Index(servers, c); i != 0 {
			t.Errorf("member %d, which only sends short messages of its own, was dropped as too slow", i)
		}
	}
	if !slices.Contains(dropped, stuck) {
		t.Error("the member whose Writer is open was not dropped: Broadcast did not wait for it until ctx ended")
	}
}

// sendShortMessagesUntil streams short messages on c, each holding its
// message lock for about a millisecond, until stop is closed or a write
// fails.
func sendShortMessagesUntil(stop <-chan struct{}, c *Conn) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		w, err := c.Writer(context.Background(), MessageText)
		if err != nil {
			return
		}
		w.Write([]byte("own"))
		time.Sleep(time.Millisecond)
		if w.Close() != nil {
			return
		}
	}
}
