package websocket

import (
	"io"
	"math"
	"syscall"

	"github.com/fullduplex/websocket/internal/uring"
)

// Batched system calls.
//
// A system call costs its entry and exit besides its work, about a
// microsecond on a virtual machine, and an echo pays two per message: the
// read of the request and the write of the reply. A loop with an io_uring
// instance (internal/uring) pays one per batch instead: the connections
// one epoll_wait reported readable are read with one io_uring_enter,
// their messages delivered, and what was written meanwhile to any
// connection of the batch (frames up to batchBufSize) goes out with one
// more. Every call is non-blocking, so an enter returns with its calls
// complete and the kernel holds no buffer afterwards. Without io_uring
// (an old kernel, a seccomp filter, kernel.io_uring_disabled), or with
// PollerOptions.NoBatching, each read and write is a system call of its
// own.

// ringEntries bounds a batch: one epoll_wait reports at most as many
// events (poll.Epoll's buffer).
const ringEntries = 64

// noResult marks a batched call whose completion has not been seen.
const noResult = math.MinInt32

// batchEntry is a connection of the loop's current batch, whose readMu
// the loop holds until it has serviced it.
type batchEntry struct {
	c     *Conn
	ev    *evState
	q     *outQueue
	fd    int    // held (Socket.Acquire) while a batched call uses it; -1 when none
	space int    // the room the batched read had
	room  []byte // where it read, when into the message being gathered
	res   int32
	plain bool // its queue is written the usual way, after the batch's send
}

// noRing turns batching off, for tests of the plain path.
var noRing bool

// newRing gives the loop its ring, unless batching is off or io_uring is
// unavailable: batching only saves time.
func (l *loop) newRing() {
	if l.p.opts.NoBatching || noRing {
		return
	}
	if r, err := uring.New(ringEntries); err == nil {
		l.ring = r
		l.resultFn = l.result
	}
}

// result is the ring's completion callback: tags are batch indexes.
func (l *loop) result(tag uint64, res int32) { l.batch[tag].res = res }

// collect adds a readable c to the batch, unless another goroutine holds
// its readMu: that one sees the event pending (as in ready).
func (l *loop) collect(c *Conn) {
	ev := c.ev.Load()
	ev.flags.Or(evPending)
	if c.readMu.TryLock() {
		l.batch = append(l.batch, batchEntry{c: c, ev: ev, q: c.wr.queue.Load(), fd: -1})
	}
}

// runBatch services the connections collected from one wait.
func (l *loop) runBatch() {
	if len(l.batch) == 0 {
		return
	}
	for i := range l.batch {
		q := l.batch[i].q
		q.mu.Lock()
		q.batch = true
		q.mu.Unlock()
	}
	l.recvBatch()
	for i := range l.batch {
		e := &l.batch[i]
		var pre *prefill
		if e.fd >= 0 {
			n, err := recvResult(e.res)
			pre = &prefill{n: n, space: e.space, err: err, room: e.room}
		}
		l.serviceHeld(e.c, e.ev, pre)
	}
	l.sendBatch()
	clear(l.batch)
	l.batch = l.batch[:0]
}

// recvBatch reads, with one system call, every connection of the batch
// that a read into its buffer suits. The others are read as usual when
// serviced.
func (l *loop) recvBatch() {
	for i := range l.batch {
		e := &l.batch[i]
		c, r := e.c, &e.c.rd
		if c.isClosed() || r.err != nil || e.ev.sock == nil {
			continue
		}
		r.hold()
		var dst []byte
		if r.readsIntoMessage() {
			e.room = partialRoom(r) // as fillPartial reads
			dst = e.room
		} else {
			r.makeRoom()
			dst = r.buf[r.w:]
		}
		if len(dst) == 0 {
			continue
		}
		fd, ok := e.ev.sock.Acquire()
		if !ok {
			continue
		}
		if l.ring.Recv(fd, dst, uint64(i)) != nil {
			e.ev.sock.Release()
			continue
		}
		e.fd, e.space, e.res = fd, len(dst), noResult
	}
	err := l.ring.Run(l.resultFn)
	for i := range l.batch {
		e := &l.batch[i]
		if e.fd < 0 {
			continue
		}
		e.ev.sock.Release()
		if e.res > 0 && e.room == nil {
			e.c.rd.w += int(e.res)
		}
		if err != nil && e.res == noResult {
			e.res = -int32(syscall.EIO) // bytes may have been read and lost: the connection fails
		}
	}
	if err != nil {
		l.dropRing()
	}
}

// sendBatch sends, with one system call, what was queued during the batch
// on its connections. Each queue stays locked until its result is in; a
// queue that cannot join the send is flushed once every lock is let go.
func (l *loop) sendBatch() {
	if l.ring == nil {
		l.flushBatch()
		return
	}
	for i := range l.batch {
		e := &l.batch[i]
		q := e.q
		e.fd = -1
		q.mu.Lock()
		q.endBatch(e.c)
		if q.queued.Load() == 0 || e.c.isClosed() {
			q.mu.Unlock()
			continue
		}
		fd, ok := -1, false
		if e.ev.sock != nil {
			fd, ok = e.ev.sock.Acquire()
		}
		if ok && l.ring.Send(fd, q.buf[q.off:], uint64(i)) != nil {
			e.ev.sock.Release()
			ok = false
		}
		if !ok {
			q.mu.Unlock()
			e.plain = true
			continue
		}
		e.fd, e.res = fd, noResult
	}
	err := l.ring.Run(l.resultFn)
	for i := range l.batch {
		e := &l.batch[i]
		if e.fd < 0 {
			continue
		}
		e.ev.sock.Release()
		n, serr := sendResult(e.res)
		if err != nil && e.res == noResult {
			n, serr = 0, err // whether it went out is unknown: the connection fails
		}
		e.q.sent(e.c, n, serr)
	}
	if err != nil {
		l.dropRing()
	}
	for i := range l.batch {
		if e := &l.batch[i]; e.plain {
			e.q.flush(e.c)
		}
	}
}

// flushBatch writes what the batch queued the usual way, once the ring is
// gone.
func (l *loop) flushBatch() {
	for i := range l.batch {
		e := &l.batch[i]
		e.q.mu.Lock()
		e.q.endBatch(e.c)
		e.q.mu.Unlock()
		e.q.flush(e.c)
	}
}

// dropRing gives up batching after the ring failed, which does not happen
// short of a kernel out of memory.
func (l *loop) dropRing() {
	l.ring.Close()
	l.mu.Lock() // only the loop reads ring unlocked; others take mu (tests)
	l.ring = nil
	l.mu.Unlock()
}

// prefill is the outcome of a connection's batched read, already in its
// read buffer: service takes it for its first read.
type prefill struct {
	n, space int
	err      error
	room     []byte // not nil when it read into the message being gathered
}

// recvResult turns a batched read's result into what loop.read returns.
func recvResult(res int32) (int, error) {
	switch {
	case res > 0:
		return int(res), nil
	case res == 0:
		return 0, io.EOF
	case res == -int32(syscall.EAGAIN):
		return 0, errWouldBlock
	case res == -int32(syscall.ECONNRESET):
		return 0, io.ErrUnexpectedEOF
	default:
		return 0, syscall.Errno(-res)
	}
}

// sendResult turns a batched send's result into what trySendv returns.
func sendResult(res int32) (int, error) {
	switch {
	case res >= 0:
		return int(res), nil
	case res == -int32(syscall.EAGAIN):
		return 0, errWouldBlock
	default:
		return 0, syscall.Errno(-res)
	}
}
