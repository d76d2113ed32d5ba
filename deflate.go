package websocket

import (
	"io"
	"math"
	"sync"
	"sync/atomic"

	lz "github.com/fullduplex/websocket/internal/deflate"
)

// This file moves permessage-deflate data (RFC 7692, section 7.2): it
// compresses outgoing messages and inflates incoming ones with
// internal/deflate. Negotiation lives in deflate_negotiate.go.
//
// Compressors and inflaters are process-wide pools, taken only while a
// message moves. Under context takeover a connection keeps, per
// direction, only its history: the last 2^window_bits bytes of plaintext,
// loaded back as the dictionary of the next message.

// deflateTail is the empty stored block that ends a sync flush. RFC 7692
// strips it from every compressed message; our inflater takes the end of
// a message's payload for it.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflate is the compression state of one connection.
type deflate struct {
	// Our direction.
	sendHist  lz.History // the plaintext sent, under takeover
	sendToken uint64     // names the stream a pooled compressor last ended for us; 0: none

	// The peer's direction.
	recvHist lz.History // the plaintext received, under takeover

	// The block both histories move to once they outgrow the heap
	// (deflate_history.go): its offheap.ID (0: none), and the holds on it
	// with the bits retired and polled.
	block atomic.Uint64
	users atomic.Int32

	threshold int32
	level     int8 // 1: the history's end is searched; 2: all of it (CompressionOptions.Level)
	// Matches never reach further back than 2^sendWindowBits bytes,
	// whatever the size: the smaller of the window negotiated and
	// CompressionOptions.SendWindowBits.
	sendWindowBits int8
	recvWindowBits int8
	sendTakeover   bool
	recvTakeover   bool
}

func newDeflate(p deflateParams, client bool, opts *CompressionOptions) *deflate {
	level := min(opts.Level, 2)
	if level <= 0 {
		level = 1
	}
	threshold := opts.Threshold
	if threshold == 0 {
		threshold = 128
	}
	takeover := opts.Mode == CompressionContextTakeover
	d := &deflate{level: int8(level), threshold: int32(min(max(threshold, -1), math.MaxInt32))}
	sendBits, recvBits := p.serverMaxWindowBits, p.clientMaxWindowBits
	d.sendTakeover = takeover && !p.serverNoContextTakeover
	d.recvTakeover = takeover && !p.clientNoContextTakeover
	if client {
		sendBits, recvBits = recvBits, sendBits
		d.sendTakeover = takeover && !p.clientNoContextTakeover
		d.recvTakeover = takeover && !p.serverNoContextTakeover
	}
	if sendBits == 0 {
		sendBits = 15
	}
	// Any window up to the negotiated one is valid, so our own limit
	// needs nothing from the peer; it was announced (as 9 when 8) only so
	// that the peer may inflate with less.
	sendBits = min(sendBits, deflateSendWindow(opts))
	if recvBits == 0 {
		recvBits = 15
	}
	d.sendWindowBits, d.recvWindowBits = int8(sendBits), int8(recvBits)
	if d.sendTakeover {
		d.sendHist.SetSize(1 << sendBits)
	}
	if d.recvTakeover {
		// zlib never uses a window below 9 bits, even when asked for 8, so
		// the dictionary keeps at least 512 bytes.
		d.recvHist.SetSize(1 << max(recvBits, 9))
	}
	if !d.sendTakeover && !d.recvTakeover {
		// Without takeover the state never changes after this point, so
		// connections with the same settings share one: an idle compressed
		// connection then costs nothing extra.
		key := deflateKey{level, int(d.threshold), sendBits, recvBits}
		shared, _ := sharedDeflates.LoadOrStore(key, d)
		return shared.(*deflate)
	}
	return d
}

// deflateKey is what tells apart the immutable no-takeover states.
type deflateKey struct{ level, threshold, sendBits, recvBits int }

// sharedDeflates holds the no-takeover states shared between connections.
var sharedDeflates sync.Map // deflateKey -> *deflate

// shouldCompress reports whether a message of n bytes (or of unknown size,
// n < 0) is worth compressing.
func (d *deflate) shouldCompress(n int) bool {
	return d.threshold < 0 || n < 0 || n >= int(d.threshold)
}

// compressor is a pooled compressor lent to one message.
type compressor struct {
	z *lz.Compressor
	d *deflate // the connection it is lent to, under takeover

	// token is the deflate.sendToken of the connection whose last message
	// this compressor ended (0: none). A connection that gets back the
	// compressor it used last, as one sending a burst of messages from one
	// goroutine usually does, continues its stream in place: nothing is
	// copied or hashed, and compressing costs what it costs with a
	// compressor of its own.
	token uint64
}

var compressorPool = sync.Pool{New: func() any { return &compressor{z: lz.NewCompressor()} }}

// streamTokens numbers the ends of messages compressed under takeover,
// so that a token names one stream at one point, process-wide.
var streamTokens atomic.Uint64

// start readies c for a message of n bytes (n < 0: unknown) written to w,
// continuing the connection's stream in place if c ended its last message.
func (d *deflate) start(c *compressor, n int, w io.Writer) {
	switch {
	case d.sendTakeover && d.sendToken != 0 && c.token == d.sendToken:
		c.z.Continue(w)
	case d.sendTakeover && d.hold():
		c.z.Reset(w, int(d.sendWindowBits), d.sendHist.Bytes(), d.sizeHint(n))
		d.unhold()
	default:
		// Without takeover, or once the connection has ended (its message
		// then goes nowhere), there is no dictionary.
		c.z.Reset(w, int(d.sendWindowBits), nil, d.sizeHint(n))
	}
	c.token = 0
	if d.sendTakeover {
		c.d = d
	}
}

// finish records, under takeover, that c holds the connection's stream as
// it is now. A message that then fails calls abandonSend, which forgets it.
func (d *deflate) finish(c *compressor) {
	if d.sendTakeover {
		d.sendToken = streamTokens.Add(1)
		c.token = d.sendToken
	}
}

// Write compresses p; output goes to the writer given to compressor.
func (c *compressor) Write(p []byte) (int, error) {
	n, err := c.z.Write(p)
	if c.d != nil {
		c.d.sent(p[:n])
	}
	return n, err
}

// Flush ends the message with a sync flush, tail included.
func (c *compressor) Flush() error { return c.z.Flush() }

// compressor returns a compressor for one message of n bytes (n < 0:
// unknown), writing to w, primed with the connection's history under
// context takeover. The returned release must be called after the message.
func (d *deflate) compressor(n int, w io.Writer) (*compressor, func(*compressor)) {
	c := compressorPool.Get().(*compressor)
	d.start(c, n, w)
	return c, putCompressor
}

// sizeHint is what the compressor is told of a message of n bytes: from
// Level 2 on, nothing, so that it searches the whole history.
func (d *deflate) sizeHint(n int) int {
	if d.level >= 2 {
		return -1
	}
	return n
}

// putCompressor returns c to the pool after a streamed message, which
// ended with a flush or was abandoned.
func putCompressor(c *compressor) {
	c.done()
	compressorPool.Put(c)
}

// done ends c's loan to its connection.
func (c *compressor) done() {
	if c.d != nil {
		c.d.finish(c)
	}
	c.z.Continue(nil) // let go of the writer
	c.d = nil
}

// abandonSend forgets the compression history after a message that may
// not have reached the peer, so later messages never refer to it, nor to
// the stream a pooled compressor holds for the connection.
func (d *deflate) abandonSend() {
	if d.sendTakeover {
		d.sendHist.Reset()
		d.sendToken = 0
	}
}

// appendCompressed compresses p into dst as one message payload, without
// the sync-flush tail.
func (d *deflate) appendCompressed(dst *[]byte, p []byte) error {
	c := compressorPool.Get().(*compressor)
	d.start(c, len(p), nil)
	*dst = c.z.Append(*dst, p)
	*dst = (*dst)[:len(*dst)-len(deflateTail)]
	if d.sendTakeover {
		d.sent(p)
	}
	putCompressor(c)
	return nil
}

// inflater decompresses one message at a time, fed its compressed payload
// in pieces as they arrive (inflate_stream.go). Inflaters are pooled,
// under context takeover too: the connection's history is the dictionary.
type inflater struct {
	z lz.Inflater

	// What z left undecoded of its last input, scratch[:restN] (kept is
	// set once it is there, starved is restN then), joined with the start
	// of the next piece.
	scratch [4096]byte
	restN   int
	starved int
	kept    bool
	left    []byte // of the current piece, what z has not had yet
	pushed  bool   // a Poller's loop gives the pieces: Read must not wait for them
	ringed  bool   // read through Read: z keeps the output (else ReadAppend's is in place)
}

var inflaterPool = sync.Pool{New: func() any { return new(inflater) }}

// inflatedAll records, under takeover, the output of the message just
// inflated as the next message's dictionary; last is the output of the
// final Read, the inflater kept the rest.
func (d *deflate) inflatedAll(inf *inflater, last []byte) {
	if d.recvTakeover && d.hold() {
		d.makeRoom(&d.recvHist, inf.z.HistoryGrowth(&d.recvHist, last))
		inf.z.AppendHistory(&d.recvHist, last)
		d.unhold()
	}
}

// endInflate returns the inflater to the pool once its message is done.
func (d *deflate) endInflate(inf *inflater) {
	inf.z.Reset(nil, nil) // let go of the payload and the history
	inf.left = nil
	inflaterPool.Put(inf)
}
