#!/usr/bin/env bash
# Long stress runs, outside CI: the soak test at 2,000 connections × 200
# messages each way (two writers per side, pings waited for between
# messages, one message in 500 of 1 MiB, closes from either side, this
# library on both ends), RUNS times, and the Poller's hostile load at full
# size (200 peers that never read large messages, 200 that ping without
# reading, and a healthy connection's echo p99 under 50 ms).
#
#   bash scripts/soak.sh [RUNS]      # default 10
#
# Prints one line per run and a summary; exits non-zero if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 9000 ]; then
	echo "the soak needs about 8,000 file descriptors; ulimit -n is $(ulimit -n)"
	exit 1
fi

go test -c -o /tmp/websocket-soak.test . || exit 1
passed=0
for i in $(seq 1 "$runs"); do
	start=$(date +%s)
	if out=$(/tmp/websocket-soak.test -test.run '^TestSoak$' -test.count 1 -test.timeout 15m \
		-soak.conns 2000 -soak.messages 200 -soak.timeout 10m 2>&1); then
		passed=$((passed + 1))
		echo "soak run $i: ok ($(($(date +%s) - start)) s)"
	else
		echo "soak run $i: FAILED ($(($(date +%s) - start)) s)"
		echo "$out" | head -20
	fi
done
echo "soak 2000×200: $passed of $runs runs passed"

hostile=0
if WS_HOSTILE_FULL=1 /tmp/websocket-soak.test -test.run '^TestPollerHostileLoad$' -test.count 1 -test.v 2>&1 | tail -5; then
	hostile=1
fi
rm -f /tmp/websocket-soak.test
[ "$passed" -eq "$runs" ] && [ "$hostile" -eq 1 ]
