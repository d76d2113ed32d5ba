//go:build linux

package websocket

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
	release := make(chan struct{})
	p, err := NewPoller(PollerOptions{
		Loops:      1,
		NoBatching: noBatching,
		OnMessage: func(c *Conn, typ MessageType, msg []byte) {
			if err := c.Write(context.Background(), MessageText, []byte("reply")); err != nil {
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
	if err := client.Write(ctx, MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	await(t, wrote, "OnMessage's reply")
	q := server.wr.queue.Load()
	q.mu.Lock()
	held := q.held
	q.mu.Unlock()
	if held == noBatching {
		t.Fatalf("reply held back by a batch: %v, with NoBatching %v", held, noBatching)
	}

	g.mu.Lock() // closeTransport stops in group.remove, after flagClosed
	closed := make(chan struct{})
	go func() {
		server.CloseNow()
		close(closed)
	}()
	awaitFlag(t, server, flagClosed, "CloseNow to mark the connection closed")
	close(release)
	awaitBatchEnd(t, q)
	g.mu.Unlock()
	await(t, closed, "CloseNow")
	await(t, server.Done(), "the server Conn's end")

	_, msg, err := client.Read(ctx)
	if err != nil || string(msg) != "reply" {
		t.Errorf("client read %q, %v; want the reply OnMessage wrote (Write returned nil) before CloseNow", msg, err)
	}
}

// awaitBatchEnd waits, bounded, until no loop's batch holds q.
func awaitBatchEnd(t *testing.T, q *outQueue) {
	t.Helper()
	deadline := time.Now().Add(awaitBound)
	for {
		q.mu.Lock()
		inBatch := q.batch
		q.mu.Unlock()
		if !inBatch {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for the loop to end its batch", awaitBound)
		}
		time.Sleep(time.Millisecond)
	}
}
