package websocket

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/fullduplex/websocket/internal/bpool"
)

// WebSockets over HTTP/2 (RFC 8441) run the same Conn as over HTTP/1.1, on
// a net.Conn made of one HTTP/2 stream: streamConn, in this file. The
// server's side (http2_server.go) reads the request body and writes the
// response; the client's (http2_client.go) writes the request body and
// reads the response.
//
// HTTP/2 bodies cannot be interrupted without ending the stream, yet a
// Read whose ctx ends must leave the connection usable. So a goroutine per
// stream, the pump, waits in the body's Read, and streamConn.Read waits
// for the pump, its deadline or Close. The pump first waits for data with
// an empty read (net/http's and x/net's bodies block in it until data is
// there) and only then takes a pooled buffer, so an idle stream holds none.

// streamConn is a net.Conn over one HTTP/2 stream.
type streamConn struct {
	body  io.ReadCloser // what the peer sends: the request or response body
	out   streamWriter  // what we send
	local net.Addr
	peer  net.Addr

	// Read side. The pump reads when asked on want and answers on got;
	// the bytes handed over and not yet read are (*cur)[r:w].
	rmu      sync.Mutex
	want     chan struct{} // capacity 1
	got      chan pumped   // capacity 1
	asked    bool          // a read was asked for and its answer not taken
	cur      *[]byte       // pooled, nil while nothing is buffered
	r, w     int
	rerr     error // sticky: the body's error, returned once cur is read
	rdl      deadline
	pumpDone chan struct{}

	// Write side: one Write at a time (wmu); state under mu.
	wmu     sync.Mutex
	mu      sync.Mutex
	writing bool // a Write is in out.write
	reset   bool // the write deadline reset the stream during that Write
	closed  bool
	wdl     deadline

	closedCh chan struct{} // closed when Close starts
	released chan struct{} // closed when Close is done: the stream is no longer used
	onClose  []func()      // run by Close before released, in order; under mu
	ranClose bool          // Close has run onClose: atClose runs f at once; under mu
}

// streamWriter is the sending half of a stream.
type streamWriter interface {
	// write sends p whole, or fails. expired is closed when the write
	// deadline passes; a writer that cannot wait on it is interrupted.
	write(p []byte, expired <-chan struct{}) (int, error)
	// interrupt makes a write in progress return, and reports whether it
	// destroyed the stream to do so. The server's resets the stream: what
	// a handler wrote cannot be taken back.
	interrupt() (reset bool)
	// close ends our direction of the stream, where that can be done
	// apart from the handler's return.
	close()
}

// pumped is what the pump read: buf (pooled, nil if n is 0) holds n bytes.
type pumped struct {
	buf *[]byte
	n   int
	err error
}

func newStreamConn(body io.ReadCloser, out streamWriter, local, peer net.Addr) *streamConn {
	s := &streamConn{
		body:     body,
		out:      out,
		local:    local,
		peer:     peer,
		want:     make(chan struct{}, 1),
		got:      make(chan pumped, 1),
		pumpDone: make(chan struct{}),
		closedCh: make(chan struct{}),
		released: make(chan struct{}),
	}
	s.rdl.init(nil)
	s.wdl.init(s.writeExpired)
	go s.pump()
	return s
}

// pump reads the body whenever Read asks, until the body fails or ends, or
// the stream is closed.
func (s *streamConn) pump() {
	defer close(s.pumpDone)
	for {
		select {
		case <-s.want:
		case <-s.closedCh:
			return
		}
		var p pumped
		// Wait for data without a buffer; a body that returns at once
		// from an empty read just makes the next one wait.
		_, p.err = s.body.Read(nil)
		if p.err == nil {
			p.buf = bpool.GetRead()
			p.n, p.err = s.body.Read(*p.buf)
			if p.n == 0 {
				bpool.PutRead(p.buf)
				p.buf = nil
			}
		}
		if p.err != nil && p.err != io.EOF {
			p.err = &streamEndError{p.err}
		}
		s.got <- p // never blocks: one read is asked for at a time
		if p.err != nil {
			return
		}
	}
}

// Read reads what the peer sent on the stream. It returns
// os.ErrDeadlineExceeded when the read deadline passes first, leaving the
// stream intact, and an error wrapping net.ErrClosed once the stream was
// closed.
func (s *streamConn) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if err := s.awaitPumped(); err != nil {
		return 0, err
	}
	if s.r == s.w {
		return 0, s.rerr
	}
	n := copy(p, (*s.cur)[s.r:s.w])
	s.r += n
	if s.r == s.w {
		s.releaseRead()
	}
	return n, nil
}

// waitReadable waits until a Read would return at once, without a buffer
// of the caller's: a connection's reader lets its own go while it waits
// (reader.fillIdle's part for a stream), so that an idle WebSocket over
// HTTP/2 holds no buffer, as the README says.
func (s *streamConn) waitReadable() error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.awaitPumped()
}

// awaitPumped waits until bytes or the body's error are in; the caller
// holds rmu.
func (s *streamConn) awaitPumped() error {
	for s.r == s.w && s.rerr == nil {
		if !s.asked {
			select {
			case <-s.closedCh:
				return errStreamClosed
			case <-s.rdl.wait():
				return os.ErrDeadlineExceeded
			default:
			}
			s.asked = true
			s.want <- struct{}{}
		}
		select {
		case p := <-s.got:
			s.asked = false
			s.cur, s.r, s.w = p.buf, 0, p.n
			s.rerr = p.err
		case <-s.closedCh:
			return errStreamClosed
		case <-s.rdl.wait():
			return os.ErrDeadlineExceeded
		}
	}
	return nil
}

// streamEndError is a stream that ended other than with END_STREAM: the
// peer reset it or its connection was lost. Reads and writes report it as
// a TCP connection ended without close frame (1006), which it stands for.
type streamEndError struct{ err error }

func (e *streamEndError) Error() string   { return "HTTP/2 stream ended abruptly: " + e.err.Error() }
func (e *streamEndError) Unwrap() []error { return []error{e.err, io.ErrUnexpectedEOF} }

// releaseRead returns the read buffer; the caller holds rmu.
func (s *streamConn) releaseRead() {
	if s.cur != nil {
		bpool.PutRead(s.cur)
	}
	s.cur, s.r, s.w = nil, 0, 0
}

// errStreamClosed is what reads and writes return once the stream is
// closed on our side; the reader reports it as an end without close frame.
var errStreamClosed = wrapError("websocket: HTTP/2 stream closed", net.ErrClosed)

// Write sends p on the stream. A write interrupted by its deadline returns
// os.ErrDeadlineExceeded where nothing went out and the stream is intact
// (the client's side, before the transport took any of p); on the
// server's side the stream is reset and the error says so.
func (s *streamConn) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, errStreamClosed
	}
	expired := s.wdl.wait()
	select {
	case <-expired:
		s.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	default:
	}
	s.writing = true
	s.mu.Unlock()
	n, err := s.out.write(p, expired)
	s.mu.Lock()
	s.writing = false
	closed, reset := s.closed, s.reset
	s.reset = false
	s.mu.Unlock()
	if err == nil && reset {
		// The deadline passed as the write ended, and resetting the stream
		// to interrupt it has ended the stream: the write did not take.
		err = os.ErrDeadlineExceeded
	}
	if err != nil {
		err = failedWriteError(err, closed, expired)
	}
	return n, err
}

// failedWriteError is the error of a write that failed. Where the deadline
// had passed, the write was interrupted: on a server's side by resetting
// the stream, after which net/http's error says only that the stream is
// gone, and the reset may also have closed the stream (the request's
// context ends with it). Report the deadline, so that the Conn reports
// the ctx that set it.
func failedWriteError(err error, closed bool, expired <-chan struct{}) error {
	select {
	case <-expired:
		return fmt.Errorf("HTTP/2 stream reset to interrupt the write: %w", os.ErrDeadlineExceeded)
	default:
	}
	if closed {
		return errStreamClosed
	}
	// Otherwise the peer reset the stream or its connection was lost:
	// the Conn reports that as a TCP connection lost (1006).
	if _, ok := err.(*streamEndError); ok {
		return err // the client's request pipe says so already
	}
	return &streamEndError{err}
}

// writeExpired runs when the write deadline passes. The deadline may
// have been set again between the timer's firing and this call (the next
// write's WriteTimeout): a write under the new one is not cut.
func (s *streamConn) writeExpired() {
	s.mu.Lock()
	if s.writing && s.wdl.passed() {
		s.reset = s.out.interrupt()
	}
	s.mu.Unlock()
}

// Close ends the stream and waits until nothing uses it any more: no
// Write is in progress and the pump has stopped. Over HTTP/2 this is what
// a server's handler waits for (Conn.Done) before it may return.
func (s *streamConn) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.released
		return errStreamClosed
	}
	s.closed = true
	close(s.closedCh)
	if s.writing {
		s.out.interrupt()
	}
	s.mu.Unlock()
	s.out.close()
	s.body.Close()
	s.wmu.Lock() // wait for the write in progress, which was interrupted
	s.wmu.Unlock()
	<-s.pumpDone
	s.rmu.Lock() // a Read in progress returns at closedCh
	select {
	case p := <-s.got:
		if p.buf != nil {
			bpool.PutRead(p.buf)
		}
	default:
	}
	s.releaseRead()
	s.rmu.Unlock()
	s.rdl.stop()
	s.wdl.stop()
	// Every function atClose took runs before released closes, those
	// added while these run too.
	for {
		s.mu.Lock()
		onClose := s.onClose
		s.onClose = nil
		s.ranClose = len(onClose) == 0
		s.mu.Unlock()
		if len(onClose) == 0 {
			break
		}
		for _, f := range onClose {
			f()
		}
	}
	close(s.released)
	return nil
}

// atClose arranges for f to run when the stream closes, before Done
// closes; at once if Close has run what it was given already.
func (s *streamConn) atClose(f func()) {
	s.mu.Lock()
	ran := s.ranClose
	if !ran {
		s.onClose = append(s.onClose, f)
	}
	s.mu.Unlock()
	if ran {
		f()
	}
}

// CloseWrite ends our direction of the stream where that is possible (the
// client's request body), so the peer reads our close frame and then the
// end of the stream.
func (s *streamConn) CloseWrite() error {
	s.out.close()
	return nil
}

func (s *streamConn) LocalAddr() net.Addr  { return s.local }
func (s *streamConn) RemoteAddr() net.Addr { return s.peer }

func (s *streamConn) SetDeadline(t time.Time) error {
	s.rdl.set(t)
	s.wdl.set(t)
	return nil
}

func (s *streamConn) SetReadDeadline(t time.Time) error {
	s.rdl.set(t)
	return nil
}

func (s *streamConn) SetWriteDeadline(t time.Time) error {
	s.wdl.set(t)
	return nil
}

// Done returns a channel that is closed once the connection has ended and
// nothing uses its transport any more: over HTTP/1.1, once the TCP
// connection is closed; over HTTP/2, once its stream is.
//
// Over HTTP/2 an http.Handler that accepted the connection must not return
// before Done is closed: the connection is the request's stream, which
// net/http ends, and whose ResponseWriter it recycles, when the handler
// returns. So a handler ends with
//
//	c.CloseNow() // or Close; nothing to do if the connection ended already
//	<-c.Done()
//
// and a handler that hands the connection to a Poller or to other
// goroutines waits for Done after doing so. On the server's side Done also
// closes when the client resets the stream or the HTTP/2 connection ends,
// whether or not something reads: at once for a reader, which first gets
// what the client sent before, and after CloseTimeout otherwise.
func (c *Conn) Done() <-chan struct{} {
	if s, ok := c.netConn().(*streamConn); ok {
		return s.released
	}
	return c.ended()
}

// deadline is a deadline that can be waited for, as net.Pipe's: wait
// returns a channel closed when it passes. onExpire, if set, runs then.
type deadline struct {
	mu       sync.Mutex
	timer    *time.Timer
	expired  chan struct{}
	onExpire func()
	stopped  bool // the stream closed: set arms nothing more
}

func (d *deadline) init(onExpire func()) {
	d.expired = make(chan struct{})
	d.onExpire = onExpire
}

// set sets the deadline; the zero time clears it. Once stop has run it
// does nothing: the stream is closed, and what waited on it has ended.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	if d.timer != nil && !d.timer.Stop() {
		<-d.expired // the timer fired: wait for it to close expired
	}
	d.timer = nil
	passed := isClosedChan(d.expired)
	if t.IsZero() {
		if passed {
			d.expired = make(chan struct{})
		}
		d.mu.Unlock()
		return
	}
	if dur := time.Until(t); dur > 0 {
		if passed {
			d.expired = make(chan struct{})
		}
		ch := d.expired
		d.timer = time.AfterFunc(dur, func() {
			close(ch)
			if d.onExpire != nil {
				d.onExpire()
			}
		})
		d.mu.Unlock()
		return
	}
	if !passed {
		close(d.expired)
	}
	d.mu.Unlock()
	if !passed && d.onExpire != nil {
		d.onExpire()
	}
}

// passed reports whether the deadline as set now has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return isClosedChan(d.expired)
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// stop stops the timer, if any, so nothing runs after the stream closed,
// and keeps set from arming another. (A stopped timer left in place made
// the next set wait for it to fire, forever: a write after the stream's
// end hung in WriteTimeout's SetWriteDeadline.)
func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.stopped = true
	d.mu.Unlock()
}

func isClosedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
