#!/usr/bin/env bash
# Runs the tests of the root package, wsjson and the internal packages
# (the protocol engine, the compressor, the detached socket, the lock) for
# another GOARCH on this linux/amd64 machine, each test binary under
# Debian's qemu-user (apt-get install qemu-user; 386 also needs gcc-multilib,
# see below), through go test -exec.
# Without -race: 386 has no race detector, and arm64's needs cgo, so an
# arm64 C toolchain.
#
#   bash scripts/qemu-test.sh 386   [go test flags, e.g. -run Poller -v]
#   bash scripts/qemu-test.sh arm64 [go test flags]
#
# 386 needs qemu because this machine's kernel has no IA32 emulation:
# running a 386 binary directly fails with "exec format error".
#
# Three settings keep a bug of qemu-user's i386 emulation from crashing
# the Go runtime, in the two ways below (linking with cgo for the first;
# no async preemption and a blocked SIGPIPE for the second); none changes
# what the tests check.
#
# qemu-user keeps one GDT for all the threads of the emulated process, but
# Go's linux/386 runtime gives each thread its own TLS by pointing the same
# GDT entry at the thread's m.tls (set_thread_area, then a reload of GS).
# The kernel swaps that entry per thread; qemu does not, so a thread that
# loads GS from the table while another thread's address is in it runs
# with the other thread's TLS, and the runtime dies ("morestack on g0",
# "wirep: already in go", "exitsyscall: syscall frame is no longer
# valid", "bad g in signal handler").
#
# 1. Thread start. Without cgo, each new thread calls set_thread_area
#    itself and then loads GS, so two threads starting at once race on
#    the shared entry: a program that only starts 200 threads (locked
#    goroutines) crashed 3 runs in 30 here, and a test binary crashed in
#    CI before its first test. With cgo the runtime starts threads with
#    pthread_create, glibc passes the TLS in clone(CLONE_SETTLS), and qemu
#    sets it up in the parent under its clone lock, so thread starts no
#    longer race (0 crashes in 100 runs of the same program, both cores
#    busy). So on 386 the tests are built with CGO_ENABLED=1 and
#    -linkmode=external, which links runtime/cgo into every test binary,
#    whether or not the package imports net. This needs a 32-bit C
#    toolchain: apt-get install gcc-multilib. The package code under test
#    has no cgo and the tests dial IP addresses, never names, so the cgo
#    resolver is never used.
# 2. Signals. qemu also reloads GS from the table on every return from a
#    signal handler (rt_sigreturn), with the same result, so on 386 the Go
#    handler must never run: GODEBUG=asyncpreemptoff=1 stops the
#    preemption signals (goroutines are still preempted at function
#    calls), and SIGPIPE, which the kernel raises on each write to a
#    socket the peer has reset, is blocked before qemu starts, so the
#    write returns EPIPE (as the Go handler would make it do) without a
#    handler running.
#
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
# All three apply to 386 only: on arm64 the TLS is a register and
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
link=()
if [ "$arch" = 386 ]; then
	export GODEBUG=${GODEBUG:+$GODEBUG,}asyncpreemptoff=1
	export CGO_ENABLED=1
	link=(-ldflags=-linkmode=external)
	if ! echo 'int main(void){return 0;}' | gcc -m32 -x c -o /dev/null - 2>/dev/null; then
		echo "FAIL: gcc -m32 cannot link a 32-bit program: apt-get install gcc-multilib" >&2
		exit 1
	fi
fi
export QEMU_TEST_QEMU=$qemu QEMU_TEST_ARCH=$arch
echo "GOARCH=$arch under $("$qemu" --version | head -1), CGO_ENABLED=$CGO_ENABLED${GODEBUG:+, GODEBUG=$GODEBUG}"
# -timeout first: the caller's, if any, comes later and wins. Emulated,
# the root package takes 2 to 3 minutes; 15 leaves room for a slow or
# busy machine without letting a hung test hold CI for half an hour.
go test -exec "bash '$root/scripts/qemu-test.sh' --exec" -timeout 15m "${link[@]}" "$@" . ./wsjson ./internal/...
