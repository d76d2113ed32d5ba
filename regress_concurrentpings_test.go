package websocket

import (
	"net"
	"runtime"
	"testing"
)

// TestRegressionConcurrentPingsOnePong: several Pings at once to a peer of this
// library whose write side is busy (a message the client does not read
// yet). The peer answers only the latest of the pings it read while its
// pong waited, or, since 29dd030, all of them while their pongs fit in
// 1 KiB; Ping waits for the pong to its own payload, so every Ping whose
// pong was dropped waits until its ctx ends, though the peer answered a
// later ping.
func TestRegressionConcurrentPingsOnePong(t *testing.T) {
	const pings = 150 // 150 pongs of 8 bytes (9 with their length): more than 1 KiB
	got := make(chan string, pings)
	aopts := &AcceptOptions{ConnOptions: ConnOptions{OnPing: func(p []byte) { got <- string(p) }}}
	client, server := pair(t, aopts, nil)
	ctx := testCtx(t)
	// The server's write side is busy with a message the client does not
	// read yet: far more than TCP's buffers hold, once they are made small
	// (a small message keeps the test quick under the race detector and
	// emulators, where 32 MiB took seconds).
	server.nc.(*net.TCPConn).SetWriteBuffer(4096)
	go server.Write(ctx, MessageBinary, make([]byte, 4<<20))
	for !server.frameMu.Held() {
		runtime.Gosched()
	}
	go func() {
		for {
			if _, _, err := server.Read(ctx); err != nil {
				return
			}
		}
	}()
	results := make(chan error, pings)
	for range pings {
		go func() {
			// The test's ctx, not a shorter one: the pongs come only
			// after 32 MiB, which takes seconds under emulation; a Ping
			// whose pong was dropped waits until ctx ends and fails.
			_, err := client.Ping(ctx)
			results <- err
		}()
	}
	for range pings {
		await(t, got, "a ping at the server") // every ping reached the server while its pong waited
	}
	go func() {
		for {
			if _, _, err := client.Read(ctx); err != nil {
				return
			}
		}
	}()
	failed := 0
	for range pings {
		if err := <-results; err != nil {
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d Pings got no pong", failed, pings)
	}
}
