#!/usr/bin/env bash
# Runs every fuzz target (the root package, internal/wsproto and
# internal/deflate) for BUDGET each, one after the other; BUDGET is a
# go test -fuzztime: a duration (default 1m) or a count of inputs, e.g.
#   bash scripts/fuzz.sh 30m
#   bash scripts/fuzz.sh 5000000x
# With a duration, Go 1.26's fuzz coordinator can end a clean run with
# "context deadline exceeded" and no failing input (go.dev/issue/75804,
# fixed in Go 1.27): that line is not a finding. A count never hits it.
# A crasher is written to testdata/fuzz/<Target>/ of its package by go
# test; commit it as a regression case once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-1m}
for pkg in . ./internal/wsproto ./internal/deflate; do
	for target in $(go test -list 'Fuzz.*' "$pkg" | grep '^Fuzz'); do
		echo "== $pkg $target for $budget"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" "$pkg"
	done
done
