//go:build amd64 && !purego

package websocket

// maskSSE2 masks b with SSE2, which every amd64 processor has. It is
// implemented in mask_amd64.s and has the semantics of maskGo.
//
//go:noescape
func maskSSE2(b []byte, key uint32) uint32

// maskAVX2 masks b with AVX2 and must only be called when hasAVX2 is true.
// It is implemented in mask_amd64.s and has the semantics of maskGo.
//
//go:noescape
func maskAVX2(b []byte, key uint32) uint32

// cpuHasAVX2 is implemented in mask_amd64.s.
func cpuHasAVX2() bool

// hasAVX2 reports whether maskAVX2 can run on this machine.
var hasAVX2 = cpuHasAVX2()

// maskBytes XORs b in place with the 4-byte masking key, whose first byte is the
// low byte of key (key = binary.LittleEndian.Uint32(maskKey[:])), starting at key
// byte 0, and returns the key rotated so that a following call continues the
// mask stream where this one stopped (rotate right by 8*(len(b)%4) bits).
//
// It is implemented in mask_amd64.s and jumps to maskAVX2 or maskSSE2.
//
//go:noescape
func maskBytes(b []byte, key uint32) uint32

// maskKernels returns the masking kernels that can run on this machine, for
// tests and benchmarks.
func maskKernels() []maskKernel {
	ks := []maskKernel{
		{name: "generic", fn: maskGo},
		{name: "sse2", fn: maskSSE2},
	}
	if hasAVX2 {
		ks = append(ks, maskKernel{name: "avx2", fn: maskAVX2})
	}
	return ks
}
