package bench

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	"github.com/fullduplex/websocket/bench/internal/wsframe"
)

// libs are the libraries measured, in the order of round 0. The report
// rotates the order from round to round (BENCH_ROTATE) so that no library
// always runs first or last.
var libs = []string{"ours", "gorilla", "coder", "gobwas", "gws"}

func rotatedLibs() []string {
	k, _ := strconv.Atoi(os.Getenv("BENCH_ROTATE"))
	n := len(libs)
	out := make([]string, n)
	for i := range libs {
		out[i] = libs[(i+k)%n]
	}
	return out
}

// sizes are the message sizes of the read and write benchmarks.
var sizes = []struct {
	name string
	n    int
}{
	{"16B", 16},
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
	{"1MiB", 1 << 20},
}

// clientKey masks the frames a client would send.
var clientKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// testPayload returns n bytes of a recognizable pattern.
func testPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// clientStream returns a stream of whole masked binary frames carrying
// payload, at least 64 KiB long, and the length of one frame.
func clientStream(payload []byte) (stream []byte, frameLen int) {
	frame := wsframe.AppendFrame(nil, wsframe.OpBinary, payload, true, clientKey)
	k := max(1, (64<<10)/len(frame))
	return bytes.Repeat(frame, k), len(frame)
}

// checkPayload fails b unless got is the payload of size n.
func checkPayload(b *testing.B, got []byte, n int) {
	b.Helper()
	if len(got) != n || !bytes.Equal(got, testPayload(n)) {
		b.Fatalf("read %d bytes, want the %d-byte payload", len(got), n)
	}
}

// warmup is the number of messages handled before timing starts.
const warmup = 8
