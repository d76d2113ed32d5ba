package websocket

import "testing"

// TestMarkControlAfterFlushMeanwhile: the span of the control frames in
// a Poller's queue is where they are, though the loop's flush (EPOLLOUT,
// under the queue's lock only) sends data ahead of them between their
// send and markControl. A count of the queue taken before the send, as
// flushControl took it, counted the flushed bytes twice: the span began
// past the frames, they were never at the head, and the watch on stuck
// control frames (watchStuckControl) could never drop a peer that reads
// nothing, not even the pongs to its pings.
func TestMarkControlAfterFlushMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flushed int // of the 100 data bytes ahead of the pong, before markControl
	}{
		{
			name:    "none",
			flushed: 0,
		},
		{
			name:    "some",
			flushed: 60,
		},
		{
			name:    "all",
			flushed: 100,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Conn{opts: &ConnOptions{}}
			cq := new(ctlQueue)
			c.ctl.Store(cq)
			q := new(outQueue)
			q.buf = make([]byte, 100) // data the socket refused
			q.queued.Store(100)
			pong := make([]byte, 10)
			if _, err := q.send(c, false, [][]byte{pong}); err != nil {
				t.Fatal(err)
			}
			sendOut := func(n int) { // as flush does, under q.mu
				q.mu.Lock()
				q.off += n
				q.left(c, n)
				q.queued.Store(int64(len(q.buf) - q.off))
				q.mu.Unlock()
			}
			sendOut(tc.flushed)
			q.markControl(cq, len(pong))
			if _, queued, atHead := q.controlProgress(cq); !queued || atHead != (tc.flushed == 100) {
				t.Fatalf("after %d of the data left: control queued %v, at the head %v", tc.flushed, queued, atHead)
			}
			sendOut(100 - tc.flushed) // the rest of the data: the pong is all that waits
			if _, queued, atHead := q.controlProgress(cq); !queued || !atHead {
				t.Fatalf("with the data gone: control queued %v, at the head %v (span %d to %d, %d out)",
					queued, atHead, cq.ctlStart, cq.ctlEnd, cq.sentOut)
			}
			sendOut(len(pong))
			if _, queued, _ := q.controlProgress(cq); queued {
				t.Fatal("the pong left, but control frames are still counted as queued")
			}
		})
	}
}
