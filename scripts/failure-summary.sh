#!/usr/bin/env bash
# failure-summary.sh LOG: the lines of a failed go test run that say what
# failed, printed last so that a report showing only the end of the
# output still names the test. For a timeout, also the tests that were
# running and where in this module each blocked goroutine waits (those
# blocked for minutes, if the dump says so).
set -euo pipefail
log=${1:?usage: bash scripts/failure-summary.sh LOG}
echo "== what failed (from $log)"
grep -E -A4 '^(--- FAIL|panic:|FAIL|fatal error:)' "$log" | head -80 || true
blocked() {
	awk -v pat="$1" '
		$0 ~ "^goroutine [0-9]+ \\[" && $0 !~ /\[running\]|\[runnable\]/ { head = $0; want = ($0 ~ pat); next }
		want && /^github\.com\/fullduplex\// { print head; print "\t" $0; if ((getline line) > 0) print line; want = 0 }
		/^$/ { want = 0 }
	' "$log" | head -90
}
waits=$(blocked 'minutes?\]:$')
if [ -z "$waits" ]; then
	waits=$(blocked '.')
fi
if [ -n "$waits" ]; then
	echo "-- where this module's goroutines wait"
	echo "$waits"
fi
