package websocket

import (
	"strconv"
)

// CompressionMode selects whether and how the permessage-deflate extension
// (RFC 7692) is used. Only the constants below are modes; any other value
// is a configuration error, never taken to mean disabled or enabled: Dial
// returns an error without dialing, and Accept refuses every request with
// 500 Internal Server Error and an error naming
// AcceptOptions.Compression.Mode.
type CompressionMode int

const (
	// CompressionDisabled never negotiates compression. It is the default:
	// compression costs CPU on every message, and compressing secrets
	// together with data an attacker chooses can leak them (CRIME, BREACH).
	CompressionDisabled CompressionMode = iota

	// CompressionNoContextTakeover negotiates permessage-deflate with no
	// context takeover in both directions: every message is compressed on
	// its own, so compressors and decompressors come from process-wide pools
	// and nothing is held between messages. An idle connection costs no
	// more than an uncompressed one. The price is a worse ratio for streams
	// of small, similar messages, which cannot refer back to earlier ones.
	CompressionNoContextTakeover

	// CompressionContextTakeover negotiates context takeover wherever the
	// peer allows it, so a message may refer back to the ones before it:
	// the best ratio for streams of similar messages. Compressors and
	// decompressors still come from the process-wide pools, taken only
	// while a message moves (a connection that gets back the compressor it
	// used last continues in place; any other first loads and hashes its
	// history, about a quarter more time for a 16 KiB message); what a
	// connection keeps between messages is
	// its history in each direction: the last bytes sent and received, at
	// most 2^window_bits each (32 KiB at 15 bits, 1 KiB at 10), growing
	// with the traffic up to that bound. An idle connection with takeover
	// both ways thus costs at most 64 KiB more than one without at 15
	// bits, 2 KiB at 10 bits (BENCHMARKS.md, section Compression). A
	// direction for which the peer asks for (or promises) no context
	// takeover runs without it and keeps nothing.
	CompressionContextTakeover
)

// valid reports whether m is one of the defined modes.
func (m CompressionMode) valid() bool {
	return m == CompressionDisabled || m == CompressionNoContextTakeover || m == CompressionContextTakeover
}

// String returns the name of the constant, or CompressionMode(n) for a
// value that is not a mode.
func (m CompressionMode) String() string {
	switch m {
	case CompressionDisabled:
		return "CompressionDisabled"
	case CompressionNoContextTakeover:
		return "CompressionNoContextTakeover"
	case CompressionContextTakeover:
		return "CompressionContextTakeover"
	}
	return "CompressionMode(" + strconv.Itoa(int(m)) + ")"
}

// CompressionOptions configures the permessage-deflate extension (RFC 7692).
// The zero value disables compression. When compression is enabled it is
// used only if the peer agrees during the handshake; otherwise the
// connection runs uncompressed.
//
// Messages we send are compressed by the library's own DEFLATE compressor
// (internal/deflate), which honours every window size from 8 to 15 bits
// with real back-references, and in the speed class of compress/flate's
// BestSpeed (faster than it on 1 KiB to 1 MiB JSON messages, with a
// smaller output). Messages we receive are inflated by its DEFLATE
// decoder, which allocates nothing and is faster than compress/flate and
// klauspost/compress/flate on JSON messages. Both are pooled: under load,
// memory for compression is proportional to the messages being
// compressed or inflated at that moment (about 0.5 MB per compressor,
// 45 KB per inflater), not to the number of connections.
// What stays per connection is described by CompressionContextTakeover.
type CompressionOptions struct {
	// Mode selects whether compression is negotiated and whether the
	// compression state is kept from one message to the next. The default
	// is CompressionDisabled; a value that is not one of the defined modes
	// makes Dial and Accept fail (see CompressionMode).
	Mode CompressionMode

	// Level trades CPU for ratio under context takeover. 1, the default
	// when 0 or negative, looks for repeats in the end of the history only: the last
	// 2 KiB, or as much as the message's size, whichever is more (every
	// other position), so that a small message does not pay for hashing
	// a whole 32 KiB window first. 2 and above search the whole window at
	// every position: for 1 KiB JSON messages at 15 bits, about 7%
	// smaller output for about five times the CPU (55 µs instead of
	// 10 µs a message on the machine of BENCHMARKS.md). Without takeover
	// the levels are the same; for messages of 8 KiB and more they differ
	// little. Levels above 2 are the same as 2.
	Level int

	// Threshold is the size in bytes below which a message is sent
	// uncompressed: deflating a short message costs CPU and often makes it
	// longer. 0 means the default, 128; -1 (or any negative value)
	// compresses every message. It
	// applies to whole messages (Write, WritePrepared, Group.Broadcast);
	// a Writer does not know its message's size when it starts, so it
	// compresses whatever the size (use Write, WriteUncompressed or
	// WriterUncompressed for short ones). Those three and
	// NewPreparedMessageUncompressed opt a message out of compression
	// whatever its size.
	Threshold int

	// MaxWindowBits, from 8 to 15, is the base-2 logarithm of the largest
	// LZ77 window this side lets the peer use when compressing messages to
	// us (client_max_window_bits when accepting, server_max_window_bits
	// when dialing). Under context takeover it bounds the history of
	// received bytes kept per connection; SendWindowBits bounds the other
	// one. Smaller windows compress worse. 0 means 15 (32 KiB); other
	// values outside 8..15 are clamped into the range. Below 15, a server
	// declines the offers of clients that cannot be limited (those without
	// client_max_window_bits), so such clients get no compression, and a
	// client is refused compression by servers that cannot honour the
	// smaller window. 8 is asked for as 9, as zlib cannot compress with
	// an 8-bit window and some zlib-based peers fail the handshake when
	// asked to; a history keeps 512 bytes at least either way.
	MaxWindowBits int

	// SendWindowBits, from 8 to 15, is the base-2 logarithm of the largest
	// LZ77 window this side uses when compressing the messages it sends:
	// the window in force is the smaller of SendWindowBits and the one
	// the peer allows. Under context takeover it bounds the history of
	// sent bytes kept per connection, 2^SendWindowBits bytes once traffic
	// has filled it (32 KiB at 15, 1 KiB at 10), for a worse ratio on
	// streams of similar messages (README, "Compression memory and
	// ratio"). 0 means as large as the peer allows; other values outside
	// 8..15 are clamped into the range.
	//
	// A server tells the client the window it will use with
	// server_max_window_bits in its response, sent even when the client's
	// offer did not ask for one (RFC 7692, section 7.1.2.1), so that the
	// client may inflate with a smaller window too. A client offers
	// client_max_window_bits with the value, RFC 7692's hint that it will
	// use no larger a window (section 7.1.2.2); whatever the server
	// answers, the client compresses with the smaller window, which is
	// always allowed, since a window no larger than the negotiated one is
	// valid. On our own initiative we never announce 8 bits but 9: zlib
	// cannot compress with an 8-bit window (it uses 9 when asked for 8)
	// and some peers refuse 8 in a handshake, so SendWindowBits 8 is
	// announced as 9 and used as 8. A peer that asks us for 8 itself gets
	// 8.
	SendWindowBits int
}
