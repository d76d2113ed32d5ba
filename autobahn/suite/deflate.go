package suite

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// deflateOffer is a permessage-deflate offer made by a client. The field
// names follow the client's point of view: "accept" parameters are what the
// client lets the server ask of it, "request" parameters what it asks of the
// server.
type deflateOffer struct {
	acceptNoContextTakeover  bool // client_no_context_takeover
	acceptMaxWindowBits      bool // client_max_window_bits (without a value)
	requestNoContextTakeover bool // server_no_context_takeover
	requestMaxWindowBits     int  // server_max_window_bits=N; 0 when absent
}

// defaultOffer is the offer Autobahn makes unless a case says otherwise.
var defaultOffer = deflateOffer{acceptNoContextTakeover: true, acceptMaxWindowBits: true}

func (o deflateOffer) String() string {
	s := "permessage-deflate"
	if o.acceptNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if o.acceptMaxWindowBits {
		s += "; client_max_window_bits"
	}
	if o.requestNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.requestMaxWindowBits != 0 {
		s += fmt.Sprintf("; server_max_window_bits=%d", o.requestMaxWindowBits)
	}
	return s
}

// deflateAccept is the fuzzing server's answer to one offer.
type deflateAccept struct {
	offer                    deflateOffer
	requestNoContextTakeover bool // client_no_context_takeover in the answer
	requestMaxWindowBits     int  // client_max_window_bits=N in the answer
}

func (a deflateAccept) String() string {
	s := "permessage-deflate"
	if a.offer.requestNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if a.offer.requestMaxWindowBits != 0 {
		s += fmt.Sprintf("; server_max_window_bits=%d", a.offer.requestMaxWindowBits)
	}
	if a.requestNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if a.requestMaxWindowBits != 0 {
		s += fmt.Sprintf("; client_max_window_bits=%d", a.requestMaxWindowBits)
	}
	return s
}

// acceptFunc picks one of a client's offers, or none.
type acceptFunc func(offers []deflateOffer) *deflateAccept

// extension is one element of a Sec-WebSocket-Extensions header.
type extension struct {
	name   string
	params map[string][]string // a parameter without a value has the value ""
	flags  map[string][]bool   // true where the parameter had no value
}

// parseExtensions splits a Sec-WebSocket-Extensions header the way Autobahn
// does (commas, then semicolons, quotes stripped).
func parseExtensions(header string) []extension {
	var out []extension
	for _, e := range strings.Split(header, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		parts := strings.Split(e, ";")
		ext := extension{
			name:   strings.ToLower(strings.TrimSpace(parts[0])),
			params: map[string][]string{},
			flags:  map[string][]bool{},
		}
		for _, p := range parts[1:] {
			kv := strings.Split(p, "=")
			for i := range kv {
				kv[i] = strings.TrimSpace(kv[i])
			}
			key := strings.ToLower(kv[0])
			if len(kv) > 1 {
				v := strings.Join(kv[1:], "=")
				v = strings.TrimPrefix(v, `"`)
				v = strings.TrimSuffix(v, `"`)
				ext.params[key] = append(ext.params[key], v)
				ext.flags[key] = append(ext.flags[key], false)
			} else {
				ext.params[key] = append(ext.params[key], "")
				ext.flags[key] = append(ext.flags[key], true)
			}
		}
		out = append(out, ext)
	}
	return out
}

func windowBits(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, fmt.Errorf("illegal window bits value %q", v)
	}
	return n, nil
}

// parseOffer reads a client's permessage-deflate offer with Autobahn's rules
// (including its assumption that every client accepts
// client_no_context_takeover).
func parseOffer(e extension) (deflateOffer, error) {
	o := deflateOffer{acceptNoContextTakeover: true}
	for key, vals := range e.params {
		if len(vals) > 1 {
			return o, fmt.Errorf("multiple occurrence of extension parameter %q", key)
		}
		v, noValue := vals[0], e.flags[key][0]
		switch key {
		case "client_max_window_bits":
			if !noValue {
				if _, err := windowBits(v); err != nil {
					return o, err
				}
			}
			o.acceptMaxWindowBits = true
		case "client_no_context_takeover":
			if !noValue {
				return o, fmt.Errorf("illegal value %q for client_no_context_takeover", v)
			}
			o.acceptNoContextTakeover = true
		case "server_max_window_bits":
			n, err := windowBits(v)
			if err != nil {
				return o, err
			}
			o.requestMaxWindowBits = n
		case "server_no_context_takeover":
			if !noValue {
				return o, fmt.Errorf("illegal value %q for server_no_context_takeover", v)
			}
			o.requestNoContextTakeover = true
		default:
			return o, fmt.Errorf("illegal extension parameter %q", key)
		}
	}
	return o, nil
}

// deflateResponse is a server's permessage-deflate answer as a client reads
// it.
type deflateResponse struct {
	clientMaxWindowBits     int
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	serverNoContextTakeover bool
}

func parseResponse(e extension) (deflateResponse, error) {
	var r deflateResponse
	for key, vals := range e.params {
		if len(vals) > 1 {
			return r, fmt.Errorf("multiple occurrence of extension parameter %q", key)
		}
		v, noValue := vals[0], e.flags[key][0]
		switch key {
		case "client_max_window_bits":
			n, err := windowBits(v)
			if err != nil {
				return r, err
			}
			r.clientMaxWindowBits = n
		case "client_no_context_takeover":
			if !noValue {
				return r, fmt.Errorf("illegal value %q for client_no_context_takeover", v)
			}
			r.clientNoContextTakeover = true
		case "server_max_window_bits":
			n, err := windowBits(v)
			if err != nil {
				return r, err
			}
			r.serverMaxWindowBits = n
		case "server_no_context_takeover":
			if !noValue {
				return r, fmt.Errorf("illegal value %q for server_no_context_takeover", v)
			}
			r.serverNoContextTakeover = true
		default:
			return r, fmt.Errorf("illegal extension parameter %q", key)
		}
	}
	return r, nil
}

// deflate is the fuzzer's permessage-deflate state for one connection.
//
// The fuzzer compresses with compress/flate. When the window negotiated for
// its sending direction is below 15 bits it uses Huffman-only blocks, which
// never refer back and so fit any window. It decompresses with a 32 KiB
// dictionary of earlier output when the peer keeps its context; it does not
// check that the peer honours a smaller window it agreed to.
type deflate struct {
	isServer                bool
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	clientMaxWindowBits     int

	w      *flate.Writer
	wlevel int
	wbuf   bytes.Buffer
	r      io.ReadCloser
	rbuf   bytes.Buffer
	dict   []byte
}

// Compressors are large (hundreds of KiB); they are pooled across
// connections, per level.
var (
	writerPools sync.Map // level -> *sync.Pool of *flate.Writer
	readerPool  sync.Pool
)

func getWriter(level int, w io.Writer) *flate.Writer {
	p, _ := writerPools.LoadOrStore(level, &sync.Pool{})
	if fw, ok := p.(*sync.Pool).Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw
	}
	fw, _ := flate.NewWriter(w, level)
	return fw
}

// release returns the compressor and decompressor to their pools.
func (d *deflate) release() {
	if d.w != nil {
		p, _ := writerPools.Load(d.wlevel)
		p.(*sync.Pool).Put(d.w)
		d.w = nil
	}
	if d.r != nil {
		readerPool.Put(d.r)
		d.r = nil
	}
}

func newDeflate(isServer, serverNCT, clientNCT bool, serverBits, clientBits int) *deflate {
	if serverBits == 0 {
		serverBits = 15
	}
	if clientBits == 0 {
		clientBits = 15
	}
	return &deflate{
		isServer:                isServer,
		serverNoContextTakeover: serverNCT,
		clientNoContextTakeover: clientNCT,
		serverMaxWindowBits:     serverBits,
		clientMaxWindowBits:     clientBits,
	}
}

// sendParams returns the parameters of the fuzzer's sending direction.
func (d *deflate) sendParams() (noContextTakeover bool, bits int) {
	if d.isServer {
		return d.serverNoContextTakeover, d.serverMaxWindowBits
	}
	return d.clientNoContextTakeover, d.clientMaxWindowBits
}

func (d *deflate) recvNoContextTakeover() bool {
	if d.isServer {
		return d.clientNoContextTakeover
	}
	return d.serverNoContextTakeover
}

// compress returns the compressed form of one message, without the final
// 00 00 ff ff.
func (d *deflate) compress(p []byte) []byte {
	nct, bits := d.sendParams()
	if d.w == nil {
		// Fast compression keeps the large cases quick; it still refers
		// back, as any compressor may.
		level := flate.BestSpeed
		if bits < 15 {
			level = flate.HuffmanOnly
		}
		d.w, d.wlevel = getWriter(level, &d.wbuf), level
	} else if nct {
		d.w.Reset(&d.wbuf)
	}
	d.wbuf.Reset()
	d.w.Write(p)
	d.w.Flush()
	out := append([]byte(nil), d.wbuf.Bytes()...)
	return out[:len(out)-4]
}

// deflateTail ends a message's compressed data: the 00 00 ff ff the sender
// stripped, then an empty final stored block so the reader sees the end.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// decompress returns the uncompressed form of one message.
func (d *deflate) decompress(p []byte) ([]byte, error) {
	if d.recvNoContextTakeover() {
		d.dict = nil
	}
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail))
	if d.r == nil {
		if r, ok := readerPool.Get().(io.ReadCloser); ok {
			d.r = r
		} else {
			d.r = flate.NewReaderDict(src, d.dict)
		}
	}
	if err := d.r.(flate.Resetter).Reset(src, d.dict); err != nil {
		return nil, err
	}
	d.rbuf.Reset()
	d.rbuf.Grow(4 * len(p))
	_, err := d.rbuf.ReadFrom(d.r)
	out := bytes.Clone(d.rbuf.Bytes())
	if err != nil {
		return out, err
	}
	if !d.recvNoContextTakeover() {
		d.dict = append(d.dict, out...)
		if n := len(d.dict); n > 32<<10 {
			d.dict = append([]byte(nil), d.dict[n-32<<10:]...)
		}
	}
	return out, nil
}
