#!/usr/bin/env bash
# Runs the tests of the root package, wsjson and the internal packages
# (the protocol engine, the compressor, the detached socket, the lock) for
# another GOARCH on this linux/amd64 machine, each test binary under
# Debian's qemu-user (apt-get install qemu-user), through go test -exec.
# Without -race: 386 has no race detector, and arm64's needs cgo, so an
# arm64 C toolchain.
#
#   bash scripts/qemu-test.sh 386   [go test flags, e.g. -run Poller -v]
#   bash scripts/qemu-test.sh arm64 [go test flags]
#
# 386 needs qemu because this machine's kernel has no IA32 emulation:
# running a 386 binary directly fails with "exec format error".
#
# Two settings keep a bug of qemu-user's i386 emulation from crashing the
# Go runtime; neither changes what the tests check:
#
# qemu-user keeps one GDT for all the threads of the emulated process, but
# Go's linux/386 runtime gives each thread its own TLS by pointing the same
# GDT entry at the thread's m.tls (set_thread_area, then a reload of GS).
# The kernel swaps that entry per thread; qemu does not, so whenever qemu
# reloads GS from the table, which it does on every return from a signal
# handler (rt_sigreturn), the thread picks up the TLS of whichever thread
# set the entry last and the runtime dies ("bad g in signal handler",
# "morestack on gsignal", "exitsyscall: syscall frame is no longer
# valid"). Even a hello world crashes once the runtime preempts a
# goroutine with SIGURG. So on 386 the Go handler must never run:
# GODEBUG=asyncpreemptoff=1 stops the preemption signals (goroutines are
# still preempted at function calls), and SIGPIPE, which the kernel raises
# on each write to a socket the peer has reset, is blocked before qemu
# starts, so the write returns EPIPE (as the Go handler would make it do)
# without a handler running.
# What cannot be worked around: SIGCHLD. The runtime unblocks it in every
# thread (_SigUnblock in runtime/sigtab_linux_generic.go) and handles it,
# so a 386 test that starts a child process (os/exec) crashes the test
# binary when the child exits. The one such test, TestMarkdownSnippets,
# skips itself when QEMU_TEST_ARCH (set below) is set; keep that name.
# No other test of these packages gets a signal.
# A fault in the code under test (nil dereference) still goes through the
# handler, so on 386 it may end in one of the runtime errors above rather
# than a clean panic: a failure all the same; read it on amd64, or on a 386
# kernel.
# Both settings apply to 386 only: on arm64 the TLS is a register and
# qemu-aarch64 runs the tests as they are.
set -euo pipefail

# As the -exec program of go test: run the test binary "$@" under qemu, in
# the directory go test chose (the package's).
if [ "${1:-}" = --exec ]; then
	shift
	if [ "$QEMU_TEST_ARCH" != 386 ]; then
		exec "$QEMU_TEST_QEMU" "$@"
	fi
	# Block SIGPIPE (and reset Python's SIG_IGN of it, so qemu inherits
	# only the blocked mask), then become qemu; qemu passes its initial
	# signal mask on to the emulated program.
	exec python3 -c '
import os, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
os.execvp(sys.argv[1], sys.argv[1:])
' "$QEMU_TEST_QEMU" "$@"
fi

arch=${1:?usage: bash scripts/qemu-test.sh 386|arm64|arm|riscv64|ppc64le|s390x|loong64 [go test flags]}
shift
case "$arch" in
386) qemu=qemu-i386 ;;
arm64) qemu=qemu-aarch64 ;;
loong64) qemu=qemu-loongarch64 ;;
*) qemu=qemu-$arch ;;
esac
if ! command -v "$qemu" >/dev/null; then
	echo "FAIL: $qemu is missing: apt-get install qemu-user" >&2
	exit 1
fi
qemu=$(command -v "$qemu")
cd "$(dirname "$0")/.."
root=$PWD

export GOOS=linux GOARCH=$arch CGO_ENABLED=0
if [ "$arch" = 386 ]; then
	export GODEBUG=${GODEBUG:+$GODEBUG,}asyncpreemptoff=1
fi
export QEMU_TEST_QEMU=$qemu QEMU_TEST_ARCH=$arch
echo "GOARCH=$arch under $("$qemu" --version | head -1)${GODEBUG:+, GODEBUG=$GODEBUG}"
go test -exec "bash '$root/scripts/qemu-test.sh' --exec" "$@" . ./wsjson ./internal/...
