#!/usr/bin/env bash
# Cross-builds the root module (./...) for every first-class Go port. For
# each GOOS/GOARCH it
#   - builds every package and links every command (go build ./...), which
#     catches what only the compiler and linker see, e.g. a function
#     declared without a body whose assembly exists for amd64 only;
#   - type-checks and vets every package with its test files (go vet ./...),
#     so tests behind build tags or using int sizes of that port compile too;
#   - with CROSSBUILD_TESTBIN=1, also compiles and links every test binary
#     (go test -c), about a third more time.
# Nothing is run. Every port is tried; the script then fails if any did,
# naming them, with each one's errors.
#
#   bash scripts/crossbuild.sh                 # every port below
#   bash scripts/crossbuild.sh linux/386 ...   # only these
#   CROSSBUILD_JOBS=1 bash scripts/crossbuild.sh   # one port at a time
#
# From a cold build cache this compiles the standard library once per port,
# which is most of the time; ports build two at a time by default, as one
# go build leaves a two-core machine idle part of the time (linking, vet).
set -uo pipefail
cd "$(dirname "$0")/.."

ports=(
	linux/amd64 linux/arm64 linux/arm linux/386 linux/riscv64
	linux/ppc64le linux/s390x linux/loong64
	darwin/amd64 darwin/arm64
	windows/amd64 windows/arm64 windows/386
	freebsd/amd64
	js/wasm wasip1/wasm
)
[ $# -gt 0 ] && ports=("$@")
jobs=${CROSSBUILD_JOBS:-2}
testbin=${CROSSBUILD_TESTBIN:-0}

# Cross builds are pure Go: cgo would need a C cross-compiler per port.
export CGO_ENABLED=0

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# build_port GOOS/GOARCH: writes the port's output to $out/N.log and its
# status and time to $out/N.rc.
build_port() {
	local n=$1 port=$2 start=$SECONDS rc=0
	(
		export GOOS=${port%/*} GOARCH=${port#*/}
		go build ./... &&
			go vet ./... &&
			if [ "$testbin" = 1 ]; then
				# "? pkg [no test files]" for packages without tests is no news.
				go test -c -o /dev/null ./... | { grep -v '\[no test files\]$' || true; }
				exit "${PIPESTATUS[0]}"
			fi
	) >"$out/$n.log" 2>&1 || rc=$?
	echo "$rc $((SECONDS - start))" >"$out/$n.rc"
}

# report N: prints port N's line, and its output if any.
report() {
	local n=$1 rc secs
	read -r rc secs <"$out/$n.rc"
	if [ "$rc" -ne 0 ]; then
		echo "FAIL ${ports[$n]} (${secs}s):"
	else
		echo "ok   ${ports[$n]} (${secs}s)"
	fi
	sed 's/^/    /' "$out/$n.log"
}

start=$SECONDS
reported=0
for n in "${!ports[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n || true
	done
	build_port "$n" "${ports[$n]}" &
	# Report, in order, the ports that have finished.
	while [ "$reported" -lt "$n" ] && [ -f "$out/$reported.rc" ]; do
		report "$reported"
		reported=$((reported + 1))
	done
done
wait
failed=()
for n in "${!ports[@]}"; do
	[ "$n" -ge "$reported" ] && report "$n"
	read -r rc _ <"$out/$n.rc"
	[ "$rc" -ne 0 ] && failed+=("${ports[$n]}")
done

what="build and vet"
[ "$testbin" = 1 ] && what="build, vet and link their tests"
if [ ${#failed[@]} -gt 0 ]; then
	echo "crossbuild: ${#failed[@]} of ${#ports[@]} ports failed ($((SECONDS - start))s): ${failed[*]}"
	exit 1
fi
echo "crossbuild: all ${#ports[@]} ports $what ($((SECONDS - start))s)"
