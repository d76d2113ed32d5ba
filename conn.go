package websocket

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullduplex/websocket/internal/xsync"
)

// MessageType is the type of a data message.
type MessageType int

// Message types.
const (
	// MessageText is a UTF-8 text message.
	MessageText MessageType = 1
	// MessageBinary is a binary message.
	MessageBinary MessageType = 2
)

// String returns "text", "binary" or, for any other value,
// "MessageType(n)".
func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Defaults of ConnOptions.
const (
	// DefaultReadLimit is the largest message a connection accepts unless
	// ConnOptions.ReadLimit or SetReadLimit says otherwise: 32 MiB.
	DefaultReadLimit = 32 << 20
	// DefaultCloseTimeout bounds the closing handshake in Close.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultWriteBufferSize is the size of the write buffer, which also
	// sets the fragment size of a Writer (see WriteBufferSize).
	DefaultWriteBufferSize = 4096
)

// ConnOptions are the settings shared by both ends of a connection. They
// are embedded in AcceptOptions and DialOptions. The zero value bounds
// what a peer can make a connection hold (ReadLimit, the close's wait),
// but not time: a peer that stops reading holds a write until its ctx
// ends, and a silent or half-open one holds a Read until its ctx ends.
// A server facing the internet also sets WriteTimeout and PingInterval.
type ConnOptions struct {
	// ReadLimit is the largest message, in bytes after decompression, that
	// the connection accepts. A larger message fails the connection with
	// close code 1009 before it is buffered. Zero means DefaultReadLimit;
	// a negative value means no limit (only for trusted peers). On the
	// wire a compressed message may take up to 8 times the limit plus
	// 64 KiB (an empty frame counted by its header), far more than an
	// encoder needs even if it flushes after every byte, so that one that
	// inflates to nothing, or is made of empty frames, cannot go on
	// forever; an uncompressed one may take 64 KiB in the headers of its
	// empty frames besides its payload (over 10,000 of them).
	//
	// The sender of such a message is not told by its write: Write, and a
	// Writer's Write and Close, return nil once the operating system has
	// taken the bytes, which it does long before the peer has read them.
	// The refusal comes back as the peer's close frame: the sender's next
	// Read (or its Poller's OnClose) reports a *CloseError with 1009 once
	// the frame has arrived. A sender that does not read learns of it only
	// when a later write fails on the connection the peer closed, and then
	// sees 1006 rather than 1009 if the close frame was lost with it. Over
	// HTTP/2 the server ends the stream right after its close frame, so a
	// client still sending the refused message has its Write fail with
	// 1006; its next Read still reports the server's 1009 (the connection
	// waits up to a second for that Read). Agree on limits up front when
	// messages may be large.
	ReadLimit int64

	// SkipUTF8Validation turns off the check that text messages and close
	// reasons are valid UTF-8. The check is incremental and cheap; turn it
	// off only for trusted peers, never for browsers or the internet.
	SkipUTF8Validation bool

	// CloseTimeout bounds how long Close waits for the write of its close
	// frame and for the peer's answer. Zero, or a negative value, means
	// DefaultCloseTimeout.
	// It also bounds the library's own writes: a pong or a close frame
	// that answers the peer, when the socket does not take it at once,
	// is finished in the background for at most this long; a peer that
	// has not taken it all by then is dropped (the connection's calls
	// then report ErrClosed, saying why). On a Poller, where such frames
	// wait in the connection's queue, the peer is dropped once they are
	// at the queue's head and nothing has left it for this long (behind
	// data written before them they wait without a bound, as the data
	// does). A client, once the closing handshake is done, waits this
	// long at most for the server to close the TCP connection first (RFC
	// 6455, section 7.1.1), and a Read that got the server's close frame
	// returns when it has.
	CloseTimeout time.Duration

	// WriteTimeout, when positive, bounds every write's wait for the peer
	// to take its bytes, whatever the ctx: a frame (of Write, of a
	// Writer's message, a control frame) that the connection has not
	// taken WriteTimeout after its write began fails with an error
	// wrapping os.ErrDeadlineExceeded, and the connection is closed (the
	// peer sees 1006): a peer that reads nothing for that long is taken
	// for dead (with a heartbeat on, a frame over 256 KiB is written a
	// 256 KiB part at a time, and the deadline bounds each part). It
	// bounds writes without a ctx made for each (whose
	// allocations a long-lived ctx such as r.Context() avoids), at the
	// cost of setting the connection's write deadline before each write
	// (a fraction of a microsecond on a socket). A ctx that ends first
	// still cuts the write off as usual. Zero, the default, sets no
	// deadline: ctx alone bounds writes. On a Poller's connections,
	// whose writes queue instead of waiting for the socket, it bounds the
	// queue: once the socket has refused bytes, a peer that takes none of
	// them for WriteTimeout is dropped the same way, with later calls
	// reporting the timeout (a slow peer that keeps taking some stays; the
	// queue is looked at every WriteTimeout, so the drop comes between
	// WriteTimeout and twice that after the last byte left). It
	// also bounds another goroutine's wait for room in a queue past
	// PollerOptions.WriteQueueLimit (the loop's own writes never wait),
	// with the same outcome. It has no effect in the browser. Over
	// HTTP/2 the stream is reset instead, which a write stuck behind a
	// client that stopped reading the whole TCP connection waits for:
	// set http.Server's HTTP2.WriteByteTimeout too (README, "WebSockets
	// over HTTP/2").
	WriteTimeout time.Duration

	// WriteBufferSize is the size of the pooled buffer frames are assembled
	// in. It sets the size of the fragments a Writer sends: the buffer
	// holds the frame's header too, so a buffered fragment carries up to
	// WriteBufferSize-14 bytes of payload (4082 by default); on a server
	// a Write of a whole buffer or more into an empty one goes out as a
	// fragment of its own size (see Conn.Writer). Larger values mean
	// fewer frames and syscalls for big messages and more memory per busy
	// connection. Zero means DefaultWriteBufferSize; smaller values are
	// raised to the minimum, 256.
	WriteBufferSize int

	// PingInterval, when positive, turns on a heartbeat: a timer ticks
	// every PingInterval, a ping is sent at a tick when no frame arrived
	// since the one before, and if nothing arrives within PingTimeout
	// afterwards the connection is considered dead and closed (1001). So
	// the ping follows the last frame by PingInterval to twice that, and a
	// peer gone silent is closed within 2*PingInterval + PingTimeout: the
	// price of a tick that costs no time-keeping per frame. Part of a
	// frame counts: a peer sending one
	// long frame slowly, which cannot answer a ping until the frame ends,
	// is alive for as long as its bytes keep coming, whatever reads them
	// (Read, Reader, a Poller). Bound a slow peer with ReadLimit and the
	// ctx of your reads. So is a peer reading one long frame of ours
	// slowly, whose ping waits behind the frame: while the frame is too
	// long for the socket buffers, each 256 KiB the peer takes counts
	// (on a Poller, each part of the queue the socket takes once it was
	// full), so a peer taking less than that every PingInterval +
	// PingTimeout is closed as dead; bound writes with their ctx or
	// WriteTimeout. On Linux, so does any fall, while the ping waits, in
	// what our socket's send buffer holds for the peer, all of which it
	// must read before the ping: megabytes behind a slow link take
	// longer than PingTimeout to drain. What the peer's kernel has taken
	// into its receive buffer shows nowhere on our side: PingTimeout
	// must cover the peer's reading that. A frame arrives when it is read: the heartbeat
	// reads control frames while nothing else reads, but stops at a data
	// message, which waits whole for the next Read; so a connection whose
	// application stops reading while a message waits does not see the
	// pong behind it, and is closed as dead (1001). PingTimeout, if zero
	// or negative, is PingInterval.
	// It bounds the ping's write too: on a server's HTTP/2 stream whose
	// flow control keeps the ping back that long, the stream is reset
	// (the peer sees 1006) and the connection ends without a close frame,
	// not with 1001 (see Ping), as it does when a peer that reads nothing
	// leaves the TCP buffers full part-way through the ping; the calls
	// after that report an error wrapping both ErrHeartbeatTimeout and
	// ErrClosed.
	// The heartbeat needs no extra goroutine while the connection is idle.
	PingInterval time.Duration
	PingTimeout  time.Duration

	// OnPing, if set, is called with the payload of every ping received,
	// after the pong has been queued. Pings are answered until the
	// peer's close frame comes, after our own too (RFC 6455, section
	// 5.5.2), but not once we fail the connection. It runs on the
	// reading goroutine and must not block; the payload is only valid
	// during the call.
	OnPing func(payload []byte)
	// OnPong, if set, is called with the payload of every pong received,
	// before a Ping that this pong answers returns. Same rules as OnPing.
	OnPong func(payload []byte)

	// Compression configures permessage-deflate (RFC 7692). The zero value
	// leaves it off.
	Compression CompressionOptions
}

func (o *ConnOptions) readLimit() int64 {
	switch {
	case o.ReadLimit == 0:
		return DefaultReadLimit
	case o.ReadLimit < 0:
		return -1
	}
	return o.ReadLimit
}

func (o *ConnOptions) closeTimeout() time.Duration {
	if o.CloseTimeout > 0 {
		return o.CloseTimeout
	}
	return DefaultCloseTimeout
}

func (o *ConnOptions) writeBufferSize() int {
	switch {
	case o.WriteBufferSize <= 0:
		return DefaultWriteBufferSize
	case o.WriteBufferSize < 256:
		return 256
	}
	return o.WriteBufferSize
}

// Conn is a WebSocket connection, made by Accept, Dial or Client.
//
// Writes (Write, Writer, Ping, Close) are safe from any number of
// goroutines: messages never interleave, and control frames may go out
// between the fragments of a message; the writer a Writer returns is for
// one goroutine at a time (a concurrent second use gets ErrConcurrentWrite).
// Reads (Read, Reader) are for one goroutine at a time; a concurrent second
// read gets ErrConcurrentRead.
//
// A connection must be read for control frames to be answered: pings are
// answered and the peer's close is seen only while something reads. Close
// reads by itself when nothing else does.
type Conn struct {
	nc     net.Conn
	opts   *ConnOptions // shared with the caller's options, never written
	extras *connExtras  // what only some connections have; nil for none

	readLimit atomic.Int64

	// Read side, owned by the goroutine holding readMu.
	readMu sema
	rd     reader

	// Write side.
	msgMu   sema // held for a whole data message by Writer and compressed writes
	frameMu sema // held for one frame
	wr      writer

	pings   atomic.Pointer[pings]         // Ping's waiters, made on the first Ping
	deflate *deflate                      // permessage-deflate state, nil when not negotiated
	ev      atomic.Pointer[evState]       // set when a Poller serves the connection
	ctl     atomic.Pointer[ctlQueue]      // control frames waiting for the write side (control.go)
	pumpMu  sync.Mutex                    // guards pumping and read-lock attempts by Read and Ping
	closeMu sync.Mutex                    // guards the lifecycle below (close.go), except flags
	ending  *ending                       // made when the connection starts to end (close.go)
	closed  atomic.Pointer[chan struct{}] // closed as the transport's close begins (flagClosed); made by done
	flags   connFlags                     // flagClosing, flagStreaming, flagCloseQueued, flagClosed, flagDropping, flagEnded, flagHeartbeatPing, flagFailing

	pumping       bool // a Ping holds readMu to read on its own
	client        bool // client role: we mask what we send and refuse masked frames
	closeSent     bool // our close frame is on the wire
	peerCloseSeen bool // peerClose holds the peer's close frame
	lingerOnFail  bool // the reader drains after our close frame before closing
	closeStarted  bool // closeNow has begun closing
	closeFinished bool // and is done
}

// connExtras holds what a connection has only with some options: made by
// newConn or Accept when one is set, never changed once the connection is
// returned.
type connExtras struct {
	subprotocol string     // agreed in the handshake
	hb          *heartbeat // with PingInterval
	group       *Group     // AcceptOptions.Group
}

// extra returns c's extras, making them; only while c is being made.
func (c *Conn) extra() *connExtras {
	if c.extras == nil {
		c.extras = new(connExtras)
	}
	return c.extras
}

// heartbeat returns c's heartbeat, nil without PingInterval.
func (c *Conn) heartbeat() *heartbeat {
	if x := c.extras; x != nil {
		return x.hb
	}
	return nil
}

// connFlags holds a connection's atomic booleans in one word.
type connFlags struct{ v atomic.Uint32 }

// The bits of connFlags.
const (
	flagClosing       = 1 << iota // Close has started; it may read on its own
	flagStreaming                 // a Writer holds msgMu: whole-message writes must take it too
	flagCloseQueued               // our close frame is queued or sent: no data frame follows
	flagClosed                    // set as the transport's close begins, as closed is closed; the cheap check of the hot paths
	flagDropping                  // Close's read has discarded a message: it discards the rest (readUntilClose)
	flagEnded                     // set when closeTransport is done, as Done's channel is closed
	flagHeartbeatPing             // the heartbeat's ping is being written, under frameMu (frameError)
	flagFailing                   // fail has run: no pong is sent any more (queuePong)
)

func (f *connFlags) has(bit uint32) bool { return f.v.Load()&bit != 0 }
func (f *connFlags) set(bit uint32)      { f.v.Or(bit) }
func (f *connFlags) clear(bit uint32)    { f.v.And(^bit) }

func newConn(nc net.Conn, client bool, opts *ConnOptions, subprotocol string, buffered []byte, dp *deflateParams) *Conn {
	c := &Conn{
		nc:     nc,
		client: client,
	}
	if subprotocol != "" {
		c.extra().subprotocol = subprotocol
	}
	c.opts = opts
	if opts == nil {
		c.opts = &defaultConnOptions
	}
	c.readLimit.Store(c.opts.readLimit())
	if dp != nil {
		c.deflate = newDeflate(*dp, client, &c.opts.Compression)
	}
	c.rd.init(c, buffered)
	c.wr.init(c)
	if c.opts.PingInterval > 0 {
		c.startHeartbeat()
	}
	return c
}

// defaultConnOptions stands in for nil options; it is only read.
var defaultConnOptions ConnOptions

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string {
	if x := c.extras; x != nil {
		return x.subprotocol
	}
	return ""
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.netConn().LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.netConn().RemoteAddr() }

// netConn returns nc for the calls that may run at any time. A Poller
// replaces nc once its loop takes the socket, under closeMu; the read and
// write paths own nc through readMu and frameMu, which it holds then.
func (c *Conn) netConn() net.Conn {
	c.closeMu.Lock()
	nc := c.nc
	c.closeMu.Unlock()
	return nc
}

// SetReadLimit sets the largest message, in bytes, that later reads accept;
// a negative value removes the limit. A message over the limit fails the
// connection with close code 1009. Unlike ConnOptions.ReadLimit, whose zero
// value stands for DefaultReadLimit, SetReadLimit(0) means exactly zero:
// only empty messages are accepted. A message already being read keeps the
// limit it started with.
func (c *Conn) SetReadLimit(n int64) {
	if n < 0 {
		n = -1
	}
	c.readLimit.Store(n)
}

// sema is the connection's lock: an xsync.Sema that also gives up when
// the connection closes.
type sema struct{ xsync.Sema }

// lockOrClosed takes the lock unless ctx ends or c closes.
func (s *sema) lockOrClosed(ctx context.Context, c *Conn) error {
	if s.LockFast() {
		return nil
	}
	return s.lockOrClosedSlow(ctx, c)
}

func (s *sema) lockOrClosedSlow(ctx context.Context, c *Conn) error {
	// A free lock whose slow flag is set (a Poller's connection, one that
	// had a control frame to send) is taken before c.done makes the
	// closed channel: an idle connection should not carry one for that.
	if s.TryLock() {
		return nil
	}
	ok, err := s.Lock(ctx, c.done(), nil)
	if err != nil {
		return err
	}
	if !ok {
		return ErrClosed
	}
	return nil
}
