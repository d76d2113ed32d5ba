//go:build !amd64 || purego

package websocket

// maskBytes XORs b in place with the 4-byte masking key, whose first byte is the
// low byte of key (key = binary.LittleEndian.Uint32(maskKey[:])), starting at key
// byte 0, and returns the key rotated so that a following call continues the
// mask stream where this one stopped (rotate right by 8*(len(b)%4) bits).
func maskBytes(b []byte, key uint32) uint32 {
	return maskGo(b, key)
}

// maskKernels returns the masking kernels that can run on this machine, for
// tests and benchmarks.
func maskKernels() []maskKernel {
	return []maskKernel{{name: "generic", fn: maskGo}}
}
