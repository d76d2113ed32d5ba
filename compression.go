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
	// the best ratio for streams of similar messages. Each connection keeps
	// a dedicated compressor and a decompression window (up to 32 KiB at 15
	// window bits, plus the flate state) for its whole life, so it is the
	// mode that costs the most memory: about 1.2 MB per connection once it
	// has sent a compressed message, nearly all of it compress/flate's
	// compressor (BENCHMARKS.md, section Compression). A direction for which the peer asks
	// for (or promises) no context takeover runs without it.
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
type CompressionOptions struct {
	// Mode selects whether compression is negotiated and whether the
	// compression state is kept from one message to the next. The default
	// is CompressionDisabled; a value that is not one of the defined modes
	// makes Dial and Accept fail (see CompressionMode).
	Mode CompressionMode

	// Level is the compress/flate level of the messages we send, from 1
	// (fastest, and the default when 0) to 9 (smallest output, most CPU).
	// Above the lowest levels, the gain in ratio is usually small next to
	// the cost in CPU.
	Level int

	// Threshold is the size in bytes below which a message is sent
	// uncompressed: deflating a short message costs CPU and often makes it
	// longer. 0 means the default, 128; -1 compresses every message.
	Threshold int

	// MaxWindowBits, from 8 to 15, is the base-2 logarithm of the largest
	// LZ77 window this side lets the peer use when compressing messages to
	// us (client_max_window_bits when accepting, server_max_window_bits
	// when dialing). Under context takeover it bounds the decompression
	// window kept per connection; smaller windows compress worse. 0 means
	// 15 (32 KiB); other values outside 8..15 are clamped into the range.
	// Below 15, a server declines the offers of clients that cannot be
	// limited (those without client_max_window_bits), so such clients get
	// no compression, and a client is refused compression by servers that
	// cannot honour the smaller window.
	MaxWindowBits int
}
