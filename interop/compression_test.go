package interop

import (
	"flag"
	"strconv"
	"strings"
	"testing"

	"github.com/fullduplex/websocket"
)

// compressionOn is the one switch for the compression variants: on by
// default. With -compression=false (run.sh --no-compression) the variants
// run with compression off on our side (the peers still offer or accept it,
// so the tests check that declining works) and are reported as pending.
var compressionOn = flag.Bool("compression", true, "negotiate permessage-deflate on our side in the compression variants")

// compression is one compression setting of a test row.
type compression struct {
	name string // as shown in the results table
	// peerArg is the --deflate argument of the peer programs: what the peer
	// offers (as a client) or accepts (as a server); "" for none.
	peerArg string
	opts    websocket.CompressionOptions // our side, when compressionOn
	// maxSize, if not zero, leaves the larger messages out of the plan:
	// the variants of parameters check negotiation and the compressor's
	// state across many messages, which the 16 MiB ones add little to,
	// at a high cost in time.
	maxSize int
}

var (
	compressionOff = compression{name: "off"}

	// compressionModes are the variants every Node and Python test runs.
	compressionModes = []compression{
		compressionOff,
		{
			name:    "permessage-deflate",
			peerArg: "default",
			opts:    websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1},
		},
		{
			name:    "permessage-deflate, no context takeover",
			peerArg: "no-context-takeover",
			opts:    websocket.CompressionOptions{Mode: websocket.CompressionNoContextTakeover, Threshold: -1},
			maxSize: 1 << 20,
		},
		{
			name:    "permessage-deflate, max window bits 10",
			peerArg: "window-bits",
			opts:    websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1, MaxWindowBits: 10},
			maxSize: 1 << 20,
		},
		{
			// Our side allows the peer the smallest window: the peer,
			// whose deflate is zlib's, cannot compress with 8 bits.
			name:    "permessage-deflate, our MaxWindowBits 8",
			peerArg: "default",
			opts:    websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1, MaxWindowBits: 8},
			maxSize: 1 << 16,
		},
	}
)

// on reports whether this variant is meant to compress.
func (m compression) on() bool { return m.peerArg != "" }

// apply sets our side's options for the variant.
func (m compression) apply(o *websocket.ConnOptions) {
	if m.on() && *compressionOn {
		o.Compression = m.opts
	}
}

// peerArgs are the peer program's arguments for the variant.
func (m compression) peerArgs() []string {
	if !m.on() {
		return nil
	}
	return []string{"--deflate", m.peerArg}
}

// checkNegotiated checks the extensions the peer reported in its hello:
// permessage-deflate when both sides meant to compress, nothing otherwise.
func (m compression) checkNegotiated(t *testing.T, hello ctrl) {
	t.Helper()
	got := strings.Join(hello.Extensions, ", ")
	want := m.on() && *compressionOn
	if has := strings.Contains(got, "permessage-deflate"); has != want {
		t.Errorf("the peer reports extensions %q; want permessage-deflate negotiated: %v", got, want)
	}
}

// pendingMaxSize is the largest message of the plan while the variant is
// pending: it runs uncompressed, like the "off" row, so the 16 MiB
// messages would only repeat that row at a cost in time.
const pendingMaxSize = 1 << 20

// session adapts a main session's spec to the variant.
func (m compression) session(spec sessionSpec) sessionSpec {
	switch {
	case m.on() && !*compressionOn:
		spec.maxSize = pendingMaxSize
	case m.maxSize > 0:
		spec.maxSize = m.maxSize
	}
	return spec
}

// finish marks the row pending when the variant could not compress.
func (m compression) finish(t *testing.T, r *row) {
	t.Helper()
	if m.on() && *compressionOn && m.maxSize > 0 {
		r.addNote("messages up to " + sizeName(m.maxSize))
	}
	if m.on() && !*compressionOn {
		r.pending(t, "compression switch off (run.sh --no-compression): ran uncompressed with messages up to 1 MiB, the peer's offer declined")
	}
}

// sizeName writes n, a power of two of at least 1 KiB, in KiB or MiB.
func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + " MiB"
	}
	return strconv.Itoa(n>>10) + " KiB"
}
