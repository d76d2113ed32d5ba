//go:build linux && (mips || mipsle)

package uring

// MIPS o32 numbers its system calls from 4000.
const (
	sysSetup = 4425
	sysEnter = 4426
)
