package websocket

import (
	"compress/flate"
	"io"
	"sync"
)

// This file moves permessage-deflate data (RFC 7692, section 7.2): it
// compresses outgoing messages and inflates incoming ones with
// compress/flate. Negotiation lives in deflate_negotiate.go.

// deflateTail is the empty stored block that ends a sync flush. RFC 7692
// strips it from every compressed message and the receiver puts it back.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// inflateTrailer is what the receiver appends to a message: the tail, then
// an empty final stored block, so the inflater reports io.EOF exactly at
// the end of the message.
var inflateTrailer = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// deflate is the compression state of one connection.
type deflate struct {
	level     int
	threshold int

	// Our direction.
	sendTakeover   bool
	sendWindowBits int
	fw             *flate.Writer // dedicated compressor under takeover
	fwSink         sinkWriter

	// The peer's direction.
	recvTakeover   bool
	recvWindowBits int
	inf            *inflater // dedicated decompressor under takeover
	window         []byte    // the last bytes inflated, the dictionary for the next message under takeover
}

func newDeflate(p deflateParams, client bool, opts *CompressionOptions) *deflate {
	d := &deflate{level: opts.Level, threshold: opts.Threshold}
	if d.level <= 0 || d.level > flate.BestCompression {
		d.level = flate.BestSpeed
	}
	if d.threshold == 0 {
		d.threshold = 128
	}
	takeover := opts.Mode == CompressionContextTakeover
	if client {
		d.sendTakeover = takeover && !p.clientNoContextTakeover
		d.sendWindowBits = p.clientMaxWindowBits
		d.recvTakeover = takeover && !p.serverNoContextTakeover
		d.recvWindowBits = p.serverMaxWindowBits
	} else {
		d.sendTakeover = takeover && !p.serverNoContextTakeover
		d.sendWindowBits = p.serverMaxWindowBits
		d.recvTakeover = takeover && !p.clientNoContextTakeover
		d.recvWindowBits = p.clientMaxWindowBits
	}
	if d.sendWindowBits == 0 {
		d.sendWindowBits = 15
	}
	if d.recvWindowBits == 0 {
		d.recvWindowBits = 15
	}
	if !d.sendTakeover && !d.recvTakeover {
		// Without takeover the state never changes after this point, so
		// connections with the same settings share one: an idle compressed
		// connection then costs nothing extra.
		key := deflateKey{d.level, d.threshold, d.sendWindowBits, d.recvWindowBits}
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
	return d.threshold < 0 || n < 0 || n >= d.threshold
}

// sinkWriter forwards compressed output to whoever is framing it.
type sinkWriter struct{ w io.Writer }

func (s *sinkWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

var flateWriterPools [flate.BestCompression + 2]sync.Pool // by level; the last is Huffman-only

func getFlateWriter(level int, w io.Writer) *flate.Writer {
	i := level
	if level == flate.HuffmanOnly {
		i = len(flateWriterPools) - 1
	}
	if fw, ok := flateWriterPools[i].Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw
	}
	fw, _ := flate.NewWriter(w, level)
	return fw
}

func putFlateWriter(level int, fw *flate.Writer) {
	i := level
	if level == flate.HuffmanOnly {
		i = len(flateWriterPools) - 1
	}
	fw.Reset(nil)
	flateWriterPools[i].Put(fw)
}

// sendLevel picks the flate level for a message of n bytes (n < 0:
// unknown). compress/flate always uses a 32 KiB window, so when the peer
// limited ours we may only back-reference when the whole history fits the
// window: a lone message no longer than the window. Otherwise Huffman-only
// coding, which never back-references, keeps the stream valid for any
// window.
func (d *deflate) sendLevel(n int) int {
	if d.sendWindowBits >= 15 {
		return d.level
	}
	if !d.sendTakeover && n >= 0 && n <= 1<<d.sendWindowBits {
		return d.level
	}
	return flate.HuffmanOnly
}

// compressor returns the flate writer for one message, writing to w. Under
// context takeover it is the connection's own; release must be called
// after the message.
func (d *deflate) compressor(n int, w io.Writer) (fw *flate.Writer, release func(*flate.Writer)) {
	level := d.sendLevel(n)
	if d.sendTakeover {
		if d.fw == nil {
			d.fw, _ = flate.NewWriter(&d.fwSink, level)
		}
		d.fwSink.w = w
		return d.fw, d.detachSink
	}
	if level == flate.HuffmanOnly {
		return getFlateWriter(level, w), putHuffman
	}
	return getFlateWriter(level, w), d.putPooled
}

func (d *deflate) detachSink(*flate.Writer) { d.fwSink.w = nil }

// abandonSend forgets the compression history after a message that may
// not have reached the peer, so later messages never refer to it.
func (d *deflate) abandonSend() {
	if d.fw != nil {
		d.fw.Reset(&d.fwSink)
	}
}

func putHuffman(fw *flate.Writer) { putFlateWriter(flate.HuffmanOnly, fw) }

func (d *deflate) putPooled(fw *flate.Writer) { putFlateWriter(d.level, fw) }

// appendCompressed compresses p into dst as one message payload, without
// the sync-flush tail.
func (d *deflate) appendCompressed(dst *[]byte, p []byte) error {
	out := appendWriter{b: dst}
	fw, release := d.compressor(len(p), &out)
	defer release(fw)
	if _, err := fw.Write(p); err != nil {
		return err
	}
	if err := fw.Flush(); err != nil {
		return err
	}
	*dst = (*dst)[:len(*dst)-len(deflateTail)]
	return nil
}

// appendWriter appends to a byte slice it does not own.
type appendWriter struct{ b *[]byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// inflater decompresses one message at a time. Its input is always the
// whole compressed payload of the message, already received, so inflating
// never waits for the network.
type inflater struct {
	fr  io.ReadCloser
	src messageSource
}

var inflaterPool sync.Pool

// messageSource feeds the inflater the reader's chunk, the message's
// compressed payload, followed by inflateTrailer.
type messageSource struct {
	r       *reader
	trailer int // bytes of inflateTrailer already given
}

func (s *messageSource) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c := s.r.chunk; len(c) > 0 {
		n := copy(p, c)
		s.r.chunk = c[n:]
		return n, nil
	}
	if s.trailer == len(inflateTrailer) {
		return 0, io.EOF
	}
	n := copy(p, inflateTrailer[s.trailer:])
	s.trailer += n
	return n, nil
}

// ReadByte serves the inflater straight from the chunk, which spares
// compress/flate a bufio.Reader of its own.
func (s *messageSource) ReadByte() (byte, error) {
	if c := s.r.chunk; len(c) > 0 {
		s.r.chunk = c[1:]
		return c[0], nil
	}
	if s.trailer == len(inflateTrailer) {
		return 0, io.EOF
	}
	b := inflateTrailer[s.trailer]
	s.trailer++
	return b, nil
}

// startInflate prepares to inflate the message whose first frame was just
// read.
func (d *deflate) startInflate(r *reader) *inflater {
	inf := d.inf
	if inf == nil {
		inf, _ = inflaterPool.Get().(*inflater)
		if inf == nil {
			inf = &inflater{}
		}
		if d.recvTakeover {
			d.inf = inf
		}
	}
	inf.src = messageSource{r: r}
	var dict []byte
	if d.recvTakeover {
		dict = d.window
	}
	if inf.fr == nil {
		inf.fr = flate.NewReaderDict(&inf.src, dict)
	} else {
		inf.fr.(flate.Resetter).Reset(&inf.src, dict)
	}
	return inf
}

// inflated records output for the next message's dictionary under takeover.
func (d *deflate) inflated(p []byte) {
	if !d.recvTakeover || len(p) == 0 {
		return
	}
	// zlib never uses a window below 9 bits, even when asked for 8, so the
	// dictionary keeps at least 512 bytes.
	size := 1 << max(d.recvWindowBits, 9)
	if len(p) >= size {
		d.window = append(d.window[:0], p[len(p)-size:]...)
		return
	}
	if over := len(d.window) + len(p) - size; over > 0 {
		d.window = d.window[:copy(d.window, d.window[over:])]
	}
	d.window = append(d.window, p...)
}

// endInflate returns a pooled inflater once its message is done.
func (d *deflate) endInflate(inf *inflater) {
	inf.src = messageSource{}
	if !d.recvTakeover {
		inflaterPool.Put(inf)
	}
}
