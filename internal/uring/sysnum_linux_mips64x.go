//go:build linux && (mips64 || mips64le)

package uring

// MIPS n64 numbers its system calls from 5000.
const (
	sysSetup = 5425
	sysEnter = 5426
)
