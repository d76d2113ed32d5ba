//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package uring

// The io_uring system calls have the same numbers on every port but MIPS.
const (
	sysSetup = 425
	sysEnter = 426
)
