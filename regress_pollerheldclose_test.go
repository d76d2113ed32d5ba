//go:build linux

package websocket

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestRegressionHeldReplyOutlivesCloseNow: a reply OnMessage writes is
// held back for the batch's send. A CloseNow from another goroutine that
// had set flagClosed, but not yet reached sendHeld, when the loop ended
// its batch lost the reply: the loop cleared the held mark and skipped the
// closed connection, and sendHeld then found nothing held. Write had
// returned nil, and without batching the peer gets the reply. The test
// widens the window by holding the Group's lock, which closeTransport
// takes between the two.
func TestRegressionHeldReplyOutlivesCloseNow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noBatching bool
	}{
		{name: "batched", noBatching: false},
		{name: "not batched", noBatching: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.noBatching {
				needRing(t)
			}
			heldReplyAfterCloseNow(t, tc.noBatching)
		})
	}
}

func heldReplyAfterCloseNow(t *testing.T, noBatching bool) {
	g := &Group{}
	wrote := make(chan struct{}, 1)
	again := make(chan struct{}, 1)
	release := make(chan struct{})
	p, err := NewPoller(PollerOptions{
		Loops:      1,
		NoBatching: noBatching,
		OnMessage: func(c *Conn, typ MessageType, msg []byte) {
			ctx := context.Background()
			if !noBatching && !queueInBatch(c.wr.queue.Load()) {
				// Read as the loop took the connection on (or in the same
				// service as such a read), outside any batch: the case
				// needs a message that a batch delivers, so ask for another.
				if err := c.Write(ctx, MessageText, []byte("again")); err != nil {
					t.Errorf("asking for another message: %v", err)
				}
				again <- struct{}{}
				return
			}
			if err := c.Write(ctx, MessageText, []byte("reply")); err != nil {
				t.Errorf("reply: %v", err)
			}
			wrote <- struct{}{}
			<-release // the batch ends once CloseNow has begun
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Deferred after p.Close, so run before it: a failed check must not
	// leave OnMessage blocked, or the loop with it, or p.Close waiting.
	letGo := sync.OnceFunc(func() { close(release) })
	defer letGo()
	served := make(chan *Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Group: g})
		if err != nil {
			return
		}
		if err := p.Serve(c); err != nil {
			t.Errorf("Serve: %v", err)
		}
		served <- c
	}))
	defer ts.Close()
	ctx := testCtx(t)
	client, _, err := Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	server := await(t, served, "the served Conn")
	sendUntilBatched(t, ctx, client, wrote, again)
	q := server.wr.queue.Load()
	q.mu.Lock()
	held := q.held
	q.mu.Unlock()
	if held == noBatching {
		t.Fatalf("reply held back by a batch: %v, with NoBatching %v", held, noBatching)
	}

	g.mu.Lock() // closeTransport stops in group.remove, after flagClosed
	unlock := sync.OnceFunc(g.mu.Unlock)
	defer unlock()
	closed := make(chan struct{})
	go func() {
		server.CloseNow()
		close(closed)
	}()
	awaitFlag(t, server, flagClosed, "CloseNow to mark the connection closed")
	letGo()
	awaitBatchEnd(t, q)
	unlock()
	await(t, closed, "CloseNow")
	await(t, server.Done(), "the server Conn's end")

	_, msg, err := client.Read(ctx)
	if err != nil || string(msg) != "reply" {
		t.Errorf("client read %q, %v; want the reply OnMessage wrote (Write returned nil) before CloseNow", msg, err)
	}
}

// sendUntilBatched writes messages until OnMessage signals on wrote,
// reading the "again" that each earlier one got (signalled on again): the
// first may be read as the loop takes the connection on, outside any batch.
func sendUntilBatched(t *testing.T, ctx context.Context, client *Conn, wrote, again <-chan struct{}) {
	t.Helper()
	for range 20 {
		if err := client.Write(ctx, MessageText, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wrote:
			return
		case <-again:
			t.Logf("message read outside a batch; sending another")
			if _, msg, err := client.Read(ctx); err != nil || string(msg) != "again" {
				t.Fatalf("read %q, %v; want %q", msg, err, "again")
			}
		case <-ctx.Done():
			t.Fatal("no message reached OnMessage")
		}
	}
	t.Fatal("20 messages, none delivered by a batch")
}

// queueInBatch reports whether a loop's batch holds q.
func queueInBatch(q *outQueue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.batch
}

// awaitBatchEnd waits, bounded, until no loop's batch holds q.
func awaitBatchEnd(t *testing.T, q *outQueue) {
	t.Helper()
	awaitCond(t, "the loop to end its batch", func() bool { return !queueInBatch(q) })
}
