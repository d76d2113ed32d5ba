package bench

import (
	"crypto/subtle"
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	_ "unsafe" // for go:linkname

	_ "github.com/coder/websocket"
	_ "github.com/fullduplex/websocket"
	"github.com/gobwas/ws"
	_ "github.com/gorilla/websocket"
	_ "github.com/lxzan/gws"
)

// Only gobwas/ws exports its masking kernel (ws.Cipher). The kernels of
// gorilla/websocket, coder/websocket and lxzan/gws are unexported (or in an
// internal package), and going through their public APIs would measure
// framing and copying along with the XOR. They are called here directly,
// by linkname, exactly as each library calls them; the signatures are the
// ones in the pinned versions' source (gorilla mask.go, coder mask_asm.go,
// gws internal/utils.go). Ours is reached the same way, so that every
// kernel runs in one process, back to back: on a shared machine, figures
// taken in separate processes minutes apart do not compare. The root
// package's own BenchmarkMask is run by the report as well, as a check.

//go:linkname oursMask github.com/fullduplex/websocket.maskBytes
func oursMask(b []byte, key uint32) uint32

//go:linkname oursMaskGo github.com/fullduplex/websocket.maskGo
func oursMaskGo(b []byte, key uint32) uint32

//go:linkname gorillaMask github.com/gorilla/websocket.maskBytes
func gorillaMask(key [4]byte, pos int, b []byte) int

//go:linkname coderMask github.com/coder/websocket.mask
func coderMask(b []byte, key uint32) uint32

//go:linkname gwsMask github.com/lxzan/gws/internal.MaskXOR
func gwsMask(b []byte, key []byte)

// maskSizes are the payload sizes of the masking benchmarks.
var maskSizes = []struct {
	name string
	n    int
}{
	{"15B", 15},
	{"125B", 125},
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"1MiB", 1 << 20},
}

// BenchmarkMaskPeers masks a buffer in place, repeatedly, with our kernel
// (maskBytes, and maskGo, the portable one a purego build uses) and each
// peer's; "copy" (one buffer copied to another) and "xorbytes"
// (crypto/subtle.XORBytes with a precomputed key stream, in place) are the
// machine's reference rows.
func BenchmarkMaskPeers(b *testing.B) {
	key := [4]byte{0x9a, 0x31, 0xc2, 0x7e}
	key32 := binary.LittleEndian.Uint32(key[:])
	type kernel struct {
		name string
		fn   func(p, aux []byte)
	}
	kernels := []kernel{
		{"ours", func(p, _ []byte) { oursMask(p, key32) }},
		{"ours-go", func(p, _ []byte) { oursMaskGo(p, key32) }},
		{"copy", func(p, aux []byte) { copy(p, aux) }},
		{"xorbytes", func(p, aux []byte) { subtle.XORBytes(p, p, aux) }},
		{"gorilla", func(p, _ []byte) { gorillaMask(key, 0, p) }},
		{"coder", func(p, _ []byte) { coderMask(p, key32) }},
		{"gobwas", func(p, _ []byte) { ws.Cipher(p, key, 0) }},
		{"gws", func(p, _ []byte) { gwsMask(p, key[:]) }},
	}
	// Rotate the order from round to round, as for the libraries.
	k, _ := strconv.Atoi(os.Getenv("BENCH_ROTATE"))
	k %= len(kernels)
	kernels = append(kernels[k:], kernels[:k]...)
	for _, size := range maskSizes {
		b.Run(size.name, func(b *testing.B) {
			for _, k := range kernels {
				b.Run(k.name, func(b *testing.B) {
					p := make([]byte, size.n)
					aux := make([]byte, size.n)
					for i := range aux {
						aux[i] = key[i&3]
					}
					b.SetBytes(int64(size.n))
					b.ResetTimer()
					for range b.N {
						k.fn(p, aux)
					}
				})
			}
		})
	}
}

func TestMaskPeersAgree(t *testing.T) {
	key := [4]byte{0x9a, 0x31, 0xc2, 0x7e}
	key32 := binary.LittleEndian.Uint32(key[:])
	for n := range 300 {
		want := testPayload(n)
		for i := range want {
			want[i] ^= key[i&3]
		}
		for name, fn := range map[string]func([]byte){
			"ours":    func(p []byte) { oursMask(p, key32) },
			"ours-go": func(p []byte) { oursMaskGo(p, key32) },
			"gorilla": func(p []byte) { gorillaMask(key, 0, p) },
			"coder":   func(p []byte) { coderMask(p, key32) },
			"gobwas":  func(p []byte) { ws.Cipher(p, key, 0) },
			"gws":     func(p []byte) { gwsMask(p, key[:]) },
		} {
			got := testPayload(n)
			fn(got)
			if string(got) != string(want) {
				t.Fatalf("%s: wrong result at length %d", name, n)
			}
		}
	}
}
