//go:build linux

package websocket

import (
	"bytes"
	"testing"
	"time"
)

// TestRegressionLoopStarvation: peers that keep their sockets full, flooding
// pings (and never reading) or small messages OnMessage ignores, share a
// loop with a healthy connection. The loop reads a connection until its
// socket is drained (service), with no budget per connection, so while a
// flooder writes faster than the loop decodes, the other connections wait.
// Since the pongs of a peer that does not read no longer fill its queue
// (29dd030), a ping flooder is never dropped and the wait has no bound.
func TestRegressionLoopStarvation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch []byte
	}{
		{
			name:  "ping flood",
			batch: pingBatch(512), // 64 KiB per write
		},
		{
			name:  "message flood",
			batch: bytes.Repeat(frame(true, 0, opBinary, true, make([]byte, 100)), 600),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHostileServer(t, PollerOptions{Loops: 1, OnMessage: func(c *Conn, typ MessageType, msg []byte) {
				if typ == MessageText {
					c.Write(testCtx(t), typ, msg)
				}
			}}, nil, true)
			good, _ := srv.dial(t)
			echoOnce(t, good, -1, time.Second)
			deadline := time.Now().Add(5 * time.Second)
			var done []chan struct{}
			for range 3 {
				rc, _ := srv.dialRaw(t, deadline)
				ch := make(chan struct{})
				done = append(done, ch)
				go func() {
					defer close(ch)
					for {
						if _, err := rc.nc.Write(tc.batch); err != nil {
							return
						}
					}
				}()
			}
			var slowest time.Duration
			for i := 0; time.Now().Before(deadline.Add(-2 * time.Second)); i++ {
				slowest = max(slowest, echoOnce(t, good, i, 2*time.Second))
			}
			t.Logf("slowest echo %v", slowest)
			// Starved, the healthy connection waits while the flooders
			// keep their sockets full: 0.9 to 1.5 s of the message
			// flood, the ping flood's whole 3 s (measured with the turn's
			// budget removed). Served in turn, an echo takes a few
			// milliseconds, up to 160 ms with two test runs sharing the
			// machine (200 ms was exceeded once so, during CI), more
			// where the race detector or an emulator slows the loop's
			// copies (scripts/qemu-test.sh sets QEMU_TEST_ARCH).
			limit := 500 * time.Millisecond
			if slowMachine() {
				limit = time.Second
			}
			if slowest > limit {
				t.Errorf("an echo took %v among flooders", slowest)
			}
			srv.p.Close()
			for _, ch := range done {
				<-ch
			}
		})
	}
}
