#!/usr/bin/env bash
# Runs the interoperability tests against real peers and regenerates
# interop/RESULTS.md.
#
#   bash interop/run.sh [--install] [--no-compression] [go test flags, e.g. -run Node -short]
#
# --install      install what is missing: Debian packages (apt-get) and the
#                pinned npm packages (npm ci, from package-lock.json).
# --no-compression  decline permessage-deflate on our side in the compression
#                variants (they then run uncompressed and are reported pending).
#
# A missing peer program is a failure, never a skip. The last line printed
# is "N passed, N failed, N skipped", where skipped counts the pending rows.
set -uo pipefail
cd "$(dirname "$0")"

install=false
go_args=()
test_args=()
for arg in "$@"; do
	case "$arg" in
	--install) install=true ;;
	--no-compression) test_args+=(-compression=false) ;;
	*) go_args+=("$arg") ;;
	esac
done

# Debian packages, and how to tell each one is there.
python=/usr/bin/python3
declare -A present=(
	[nodejs]="command -v node"
	[npm]="command -v npm"
	[chromium]="test -x /usr/bin/chromium"
	[nginx]="command -v nginx || test -x /usr/sbin/nginx"
	[tinyproxy]="command -v tinyproxy || test -x /usr/bin/tinyproxy"
	[haproxy]="command -v haproxy || test -x /usr/sbin/haproxy"
	[python3-websockets]="$python -c 'import websockets'"
)
packages=(nodejs npm chromium nginx tinyproxy haproxy python3-websockets)
export PATH="$PATH:/usr/sbin:/sbin"

missing_packages() {
	local p
	for p in "${packages[@]}"; do
		bash -c "${present[$p]}" >/dev/null 2>&1 || echo "$p"
	done
}

npm_ok() {
	[ -f node_modules/ws/package.json ] && [ -f node_modules/playwright-core/package.json ] &&
		[ node_modules/.package-lock.json -nt package-lock.json ]
}

if $install; then
	mapfile -t need < <(missing_packages)
	if [ ${#need[@]} -gt 0 ]; then
		echo "== installing ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
			echo "apt-get install ${need[*]} failed"
	fi
	if command -v npm >/dev/null && ! npm_ok; then
		echo "== npm ci"
		npm ci --no-audit --no-fund --loglevel=error || echo "npm ci failed"
	fi
fi

# Every peer must be present.
preflight_failed=0
for p in $(missing_packages); do
	echo "FAIL: $p is missing: apt-get install $p (or bash interop/run.sh --install)"
	preflight_failed=$((preflight_failed + 1))
done
if ! npm_ok; then
	echo "FAIL: the npm packages ws and playwright-core are missing or stale: cd interop && npm ci (or bash interop/run.sh --install)"
	preflight_failed=$((preflight_failed + 1))
fi

echo "== peers"
node --version 2>/dev/null | sed 's/^/node /'
/usr/bin/chromium --version 2>/dev/null
nginx -v 2>&1 | grep -i version
tinyproxy -v 2>/dev/null
$python -c 'import websockets; print("python websockets", websockets.__version__)' 2>/dev/null
node -p '"ws " + require("ws/package.json").version + ", playwright-core " + require("playwright-core/package.json").version' 2>/dev/null

echo "== go vet"
vet_failed=0
go vet ./... || vet_failed=1

# A partial run (with go test flags such as -run) leaves RESULTS.md alone
# and writes its table under out/.
results=RESULTS.md
if [ ${#go_args[@]} -gt 0 ]; then
	results=out/RESULTS.md
fi

echo "== go test"
rm -rf out RESULTS.md.new
mkdir -p out
go test -race -count=1 -timeout 9m -v "${go_args[@]}" . -args -results "$PWD/RESULTS.md.new" -out "$PWD/out" "${test_args[@]}" 2>&1 |
	tee out/go-test.log | grep --line-buffered -v -E '^\s+(INFO|NOTICE|CONNECT|WARNING)\b'
test_status=${PIPESTATUS[0]}

# A failing test's own output, repeated at the end where a truncated log
# still shows it: the lines go test -v printed under each failing test
# that has no failing subtest, its last 80 lines at most.
if [ "$test_status" -ne 0 ]; then
	echo "== output of the failing tests"
	awk '
		/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
		/^[ \t]*--- FAIL: / { name = $3; failed[name] = 1; parent = name
			while (sub(/\/[^\/]*$/, "", parent)) haschild[parent] = 1
			next }
		cur != "" { n = count[cur]++; buf[cur, n] = $0 }
		END {
			for (name in failed) {
				if (name in haschild) continue
				print "--- " name
				from = count[name] > 80 ? count[name] - 80 : 0
				for (i = from; i < count[name]; i++) print buf[name, i]
			}
		}' out/go-test.log
fi

passed=0 failed=0 pending=0
if [ -f RESULTS.md.new ]; then
	mv RESULTS.md.new "$results"
	passed=$(grep -c '| passed |' "$results")
	failed=$(grep -c '| failed |' "$results")
	pending=$(grep -c '| pending |' "$results")
	echo "== results (interop/$results)"
	grep '^|' "$results"
else
	echo "FAIL: go test wrote no results (exit status $test_status)"
fi
failed=$((failed + preflight_failed + vet_failed))
if [ "$test_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "FAIL: go test exited with status $test_status"
	failed=1
fi
if [ "$pending" -gt 0 ]; then
	echo "($pending pending: compression variants ran uncompressed; run without --no-compression to compress)"
fi
echo "$passed passed, $failed failed, $pending skipped"
[ "$failed" -eq 0 ]
