#!/usr/bin/env bash
# Runs every fuzz target of the root package for DURATION each (default
# 1m), one after the other, e.g.  bash scripts/fuzz.sh 30m
# A crasher is written to testdata/fuzz/<Target>/ by go test; commit it as
# a regression case once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-1m}
for target in $(go test -list 'Fuzz.*' . | grep '^Fuzz'); do
	echo "== $target for $duration"
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" .
done
