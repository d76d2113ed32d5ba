package suite

import (
	"net"
	"sync"
	"time"
)

// eventLoop runs posted functions one at a time on the goroutine that calls
// run, like the reactor Autobahn is built on: case code, frame processing and
// timers never run concurrently, so none of them needs locking.
type eventLoop struct {
	mu   sync.Mutex
	q    []func()
	wake chan struct{}
	done bool
}

func newEventLoop() *eventLoop {
	return &eventLoop{wake: make(chan struct{}, 1)}
}

// post queues f; it is dropped once the loop has finished.
func (l *eventLoop) post(f func()) {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return
	}
	l.q = append(l.q, f)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run executes posted functions until finished reports true.
func (l *eventLoop) run(finished func() bool) {
	for {
		l.mu.Lock()
		q := l.q
		l.q = nil
		l.mu.Unlock()
		for _, f := range q {
			f()
			if finished() {
				l.mu.Lock()
				l.done = true
				l.q = nil
				l.mu.Unlock()
				return
			}
		}
		if len(q) == 0 {
			<-l.wake
		}
	}
}

// loopTimer is a timer whose callback runs on the event loop. Cancelling it
// from the loop is final even if it has already fired and been queued.
type loopTimer struct {
	t         *time.Timer
	cancelled bool
}

func (t *loopTimer) cancel() {
	t.cancelled = true
	t.t.Stop()
}

// writeItem is one unit of outgoing data. Consecutive items that are not
// sync are written together; a sync item gets its own write followed by a
// short pause, so that it leaves the host as a segment of its own (Autobahn's
// "sync" and "chopsize" writes).
type writeItem struct {
	data  []byte
	sync  bool
	close bool // close the connection after everything before it is written
}

// connWriter writes queued items on its own goroutine so that the event loop
// never blocks on a peer that does not read.
type connWriter struct {
	conn  transport
	delay time.Duration

	mu      sync.Mutex
	items   []writeItem
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

func newConnWriter(conn transport, delay time.Duration) *connWriter {
	return &connWriter{
		conn:  conn,
		delay: delay,
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

func (w *connWriter) push(it writeItem) {
	w.mu.Lock()
	if !w.stopped {
		w.items = append(w.items, it)
	}
	w.mu.Unlock()
	w.signal()
}

// stop discards everything still queued and ends the goroutine.
func (w *connWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.items = nil
	w.mu.Unlock()
	w.signal()
}

func (w *connWriter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *connWriter) run() {
	defer close(w.done)
	var batch net.Buffers
	f, _ := w.conn.(flusher)
	// flush writes the batch, over TCP in one system call, over HTTP/2
	// as one flush of the stream.
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		_, err := batch.WriteTo(w.conn)
		batch = batch[:0]
		if err == nil && f != nil {
			err = f.Flush()
		}
		return err == nil
	}
	for {
		w.mu.Lock()
		items, stopped := w.items, w.stopped
		w.items = nil
		w.mu.Unlock()
		if stopped {
			return
		}
		if len(items) == 0 {
			<-w.wake
			continue
		}
		for _, it := range items {
			switch {
			case it.close:
				flush()
				w.conn.Close()
				w.stop()
				return
			case !it.sync:
				batch = append(batch, it.data)
			default:
				if !flush() {
					w.stop()
					return
				}
				_, err := w.conn.Write(it.data)
				if err == nil && f != nil {
					err = f.Flush()
				}
				if err != nil {
					w.stop()
					return
				}
				if w.delay > 0 {
					time.Sleep(w.delay)
				}
			}
		}
		if !flush() {
			w.stop()
			return
		}
	}
}
