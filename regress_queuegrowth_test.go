//go:build linux

package websocket

import (
	"context"
	"testing"
	"time"
)

// TestRegressionQueueBufferGrowth: a goroutine writes to a Poller-served
// connection whose peer reads all along, slower than the writer writes. The queue is bounded by WriteQueueLimit (1 MiB here), yet its
// storage keeps what was already sent (buf[:off]) until the queue drains
// completely, so it grows with everything written since it last emptied,
// and each append may copy all of it.
func TestRegressionQueueBufferGrowth(t *testing.T) {
	// Accepted connections have small send buffers (hostile2_linux_test.go).
	srv := newHostileServer(t, PollerOptions{Loops: 1, OnMessage: func(*Conn, MessageType, []byte) {}}, nil, true)
	client, server := srv.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n, size = 100, 64 << 10
	msg := make([]byte, size)
	maxLen := make(chan int, 1)
	go func() {
		q := server.wr.queue.Load()
		longest := 0
		for range n {
			if err := server.Write(ctx, MessageBinary, msg); err != nil {
				break
			}
			q.mu.Lock()
			longest = max(longest, len(q.buf))
			q.mu.Unlock()
		}
		maxLen <- longest
	}()
	for i := range n {
		if _, _, err := client.Read(ctx); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	l := await(t, maxLen, "the queue's largest length")
	t.Logf("longest queue storage %d bytes", l)
	if l > 4*DefaultWriteQueueLimit {
		t.Errorf("the queue's storage reached %d bytes, with at most %d queued", l, DefaultWriteQueueLimit)
	}
}
