package websocket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// maskRef is the byte-at-a-time reference: it masks b with maskKey as RFC
// 6455 section 5.3 describes, starting pos bytes into the key stream.
func maskRef(b []byte, maskKey [4]byte, pos int) {
	for i := range b {
		b[i] ^= maskKey[(pos+i)%4]
	}
}

// testMaskKey has four distinct non-zero bytes, so that a byte masked with
// the wrong key byte, masked twice or masked although it lies outside the
// slice always changes.
var testMaskKey = [4]byte{0x3c, 0xa7, 0x51, 0xe8}

// keyAt returns the uint32 key that starts pos bytes into the stream of
// maskKey.
func keyAt(maskKey [4]byte, pos int) uint32 {
	return bits.RotateLeft32(binary.LittleEndian.Uint32(maskKey[:]), -8*(pos%4))
}

// testKernels returns every kernel available on this machine plus the
// dispatching maskBytes.
func testKernels(t testing.TB) []maskKernel {
	ks := maskKernels()
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.name
	}
	t.Logf("masking kernels on this machine: %v", names)
	return append(ks, maskKernel{name: "maskBytes", fn: maskBytes})
}

// randomBytes returns n bytes from r.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// guardByte fills the bytes around the slice under test.
const guardByte = 0xa5

// guardLen is the number of guard bytes on either side of a test window.
const guardLen = 64

// guardBytes holds guardLen guard bytes.
var guardBytes = bytes.Repeat([]byte{guardByte}, guardLen)

// alignedWindow returns a guard-filled buffer of guardLen+n+guardLen bytes
// whose byte guardLen lies align bytes past a 64-byte boundary. Tests mask
// buf[guardLen:guardLen+n].
func alignedWindow(n, align int) []byte {
	buf := make([]byte, 64+guardLen+n+guardLen)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	lo := int((64-addr%64)%64) + align
	if lo > 64 {
		lo -= 64
	}
	buf = buf[lo : lo+guardLen+n+guardLen : lo+guardLen+n+guardLen]
	for i := range buf {
		buf[i] = guardByte
	}
	return buf
}

// checkWindow checks that buf holds guard bytes everywhere except at
// buf[guardLen:guardLen+len(want)], which must equal want. The failure message
// starts with format and args.
func checkWindow(t *testing.T, buf []byte, want []byte, format string, args ...any) {
	t.Helper()
	start := guardLen
	end := start + len(want)
	before, got, after := buf[:start], buf[start:end], buf[end:]
	if bytes.Equal(before, guardBytes[:len(before)]) && bytes.Equal(after, guardBytes[:len(after)]) && bytes.Equal(got, want) {
		return
	}
	what := fmt.Sprintf(format, args...)
	for i, c := range before {
		if c != guardByte {
			t.Fatalf("%s: guard byte %d before the slice changed to %#x", what, start-i, c)
		}
	}
	for i, c := range after {
		if c != guardByte {
			t.Fatalf("%s: guard byte %d after the slice changed to %#x", what, i, c)
		}
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: byte %d of %d = %#x, want %#x", what, i, len(got), got[i], want[i])
		}
	}
}

// TestMaskAVX2Detection checks the CPUID test against the flags Linux reports:
// the assembly build must offer the AVX2 kernel exactly when the kernel lists
// avx2, which it does only when it also saves the YMM registers.
func TestMaskAVX2Detection(t *testing.T) {
	kernels := map[string]bool{}
	for _, k := range maskKernels() {
		kernels[k.name] = true
	}
	if !kernels["sse2"] {
		t.Skip("no assembly kernels in this build")
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("cannot read the CPU flags: %v", err)
	}
	var flags []string
	for line := range strings.Lines(string(info)) {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(name) == "flags" {
			flags = strings.Fields(value)
			break
		}
	}
	if flags == nil {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	if want := slices.Contains(flags, "avx2"); kernels["avx2"] != want {
		t.Errorf("AVX2 kernel available = %v, /proc/cpuinfo lists avx2 = %v", kernels["avx2"], want)
	}
}

// TestMaskKernels checks every kernel against maskRef for every length
// 0–300, every key offset and every alignment of the slice start, and that
// no byte outside the slice is touched.
func TestMaskKernels(t *testing.T) {
	const maxLen = 300
	r := rand.New(rand.NewPCG(1, 2))
	src := randomBytes(r, maxLen)
	var masked [4][]byte
	for pos := range masked {
		masked[pos] = bytes.Clone(src)
		maskRef(masked[pos], testMaskKey, pos)
	}
	for _, k := range testKernels(t) {
		t.Run(k.name, func(t *testing.T) {
			for align := range 64 {
				w := alignedWindow(maxLen, align)
				for n := 0; n <= maxLen; n++ {
					win := w[:guardLen+n+guardLen]
					b := win[guardLen : guardLen+n : guardLen+n]
					for pos := range 4 {
						copy(b, src)
						got := k.fn(b, keyAt(testMaskKey, pos))
						if want := keyAt(testMaskKey, pos+n); got != want {
							t.Fatalf("align %d, len %d, pos %d: returned key %#08x, want %#08x", align, n, pos, got, want)
						}
						checkWindow(t, win, masked[pos][:n], "align %d, len %d, pos %d", align, n, pos)
					}
				}
			}
		})
	}
}

// TestMaskStream masks a buffer in two calls, split at every point, and
// checks that the second call continues the key stream where the first
// stopped.
func TestMaskStream(t *testing.T) {
	const maxLen = 300
	r := rand.New(rand.NewPCG(3, 4))
	src := randomBytes(r, maxLen)
	var masked [4][]byte
	for pos := range masked {
		masked[pos] = bytes.Clone(src)
		maskRef(masked[pos], testMaskKey, pos)
	}
	buf := make([]byte, maxLen)
	for _, k := range testKernels(t) {
		t.Run(k.name, func(t *testing.T) {
			for n := 0; n <= maxLen; n++ {
				for split := 0; split <= n; split++ {
					for pos := range 4 {
						b := buf[:n]
						copy(b, src)
						key := k.fn(b[:split], keyAt(testMaskKey, pos))
						key = k.fn(b[split:], key)
						if want := keyAt(testMaskKey, pos+n); key != want {
							t.Fatalf("len %d, split %d, pos %d: returned key %#08x, want %#08x", n, split, pos, key, want)
						}
						if !bytes.Equal(b, masked[pos][:n]) {
							t.Fatalf("len %d, split %d, pos %d: wrong result", n, split, pos)
						}
					}
				}
			}
		})
	}
}

// TestMaskLarge checks the kernels on buffers far larger than their unrolled
// loops, at a few alignments and key offsets.
func TestMaskLarge(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{
			name: "4KiB",
			n:    4 << 10,
		},
		{
			name: "64KiB+7",
			n:    64<<10 + 7,
		},
		{
			name: "1MiB+3",
			n:    1<<20 + 3,
		},
	}
	r := rand.New(rand.NewPCG(5, 6))
	kernels := testKernels(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := randomBytes(r, tc.n)
			for _, pos := range []int{0, 3} {
				want := bytes.Clone(src)
				maskRef(want, testMaskKey, pos)
				for _, align := range []int{0, 1, 30} {
					win := alignedWindow(tc.n, align)
					b := win[guardLen : guardLen+tc.n : guardLen+tc.n]
					for _, k := range kernels {
						copy(b, src)
						got := k.fn(b, keyAt(testMaskKey, pos))
						if wantKey := keyAt(testMaskKey, pos+tc.n); got != wantKey {
							t.Fatalf("%s, align %d, pos %d: returned key %#08x, want %#08x", k.name, align, pos, got, wantKey)
						}
						checkWindow(t, win, want, "%s, align %d, pos %d", k.name, align, pos)
					}
				}
			}
		})
	}
}

// FuzzMask masks random data in two calls, split at a random point, with
// every kernel and compares the result with maskRef.
func FuzzMask(f *testing.F) {
	f.Add([]byte("hello, world"), uint32(0x78563412), uint16(5), uint8(3))
	f.Add(bytes.Repeat([]byte{0xff}, 257), uint32(0xdeadbeef), uint16(130), uint8(17))
	f.Add([]byte{}, uint32(0), uint16(0), uint8(0))
	kernels := maskKernels()
	f.Fuzz(func(t *testing.T, data []byte, key uint32, split uint16, align uint8) {
		var maskKey [4]byte
		binary.LittleEndian.PutUint32(maskKey[:], key)
		want := bytes.Clone(data)
		maskRef(want, maskKey, 0)
		s := int(split) % (len(data) + 1)
		win := alignedWindow(len(data), int(align%64))
		for _, k := range append(kernels, maskKernel{name: "maskBytes", fn: maskBytes}) {
			b := win[guardLen : guardLen+len(data) : guardLen+len(data)]
			copy(b, data)
			next := k.fn(b[:s], key)
			next = k.fn(b[s:], next)
			if wantKey := keyAt(maskKey, len(data)); next != wantKey {
				t.Fatalf("%s: returned key %#08x, want %#08x", k.name, next, wantKey)
			}
			checkWindow(t, win, want, "%s", k.name)
		}
	})
}

var benchMaskSizes = []int{15, 125, 1024, 16384, 1 << 20}

// benchBuffer returns n bytes starting at a 64-byte boundary, so that results
// do not depend on where the allocator placed a small buffer.
func benchBuffer(n int) []byte {
	return alignedWindow(n, 0)[guardLen : guardLen+n : guardLen+n]
}

// BenchmarkMask measures every kernel, maskBytes as the package calls it
// ("auto") and, for comparison, copy over the same sizes. The kernels are
// called through function values, which for the assembly kernels adds a
// wrapper that copies the arguments; "auto" calls maskBytes directly.
func BenchmarkMask(b *testing.B) {
	key := keyAt(testMaskKey, 0)
	for _, k := range maskKernels() {
		b.Run(k.name, func(b *testing.B) {
			for _, n := range benchMaskSizes {
				b.Run(strconv.Itoa(n), func(b *testing.B) {
					buf := benchBuffer(n)
					b.SetBytes(int64(n))
					for b.Loop() {
						k.fn(buf, key)
					}
				})
			}
		})
	}
	b.Run("auto", func(b *testing.B) {
		for _, n := range benchMaskSizes {
			b.Run(strconv.Itoa(n), func(b *testing.B) {
				buf := benchBuffer(n)
				b.SetBytes(int64(n))
				for b.Loop() {
					maskBytes(buf, key)
				}
			})
		}
	})
	b.Run("copy", func(b *testing.B) {
		for _, n := range benchMaskSizes {
			b.Run(strconv.Itoa(n), func(b *testing.B) {
				src := benchBuffer(n)
				dst := benchBuffer(n)
				b.SetBytes(int64(n))
				for b.Loop() {
					copy(dst, src)
				}
			})
		}
	})
}
