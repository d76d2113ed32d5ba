#!/usr/bin/env bash
# Runs the tests of the root package, wsjson and the internal packages
# built for windows/amd64, each test binary under Wine, through go test
# -exec (so each runs in its package's directory, as go test runs it).
#
#   bash scripts/wine-test.sh [go test flags, e.g. -run Poller -v]
#
# Needs Wine (apt-get install wine wine64) and, where Wine lacks
# bcryptprimitives.dll (Debian 12's Wine 8.0), a C compiler for Windows
# (apt-get install gcc-mingw-w64-x86-64): Go's runtime calls ProcessPrng
# from that DLL since Go 1.24 and dies at start without it ("fatal error:
# bcryptprimitives.dll not found"), so the script builds a stand-in that
# fills the buffer with RtlGenRandom (advapi32's SystemFunction036) and
# puts it in the Wine prefix's system32.
#
# Wine's Winsock is not Windows': a pass here is evidence, not proof, and
# a failure may be Wine's. Some that are: a read of a connection the peer
# reset reports EOF where Windows reports WSAECONNRESET, and
# /proc/self/fd lists Wine's own descriptors (checkFDs counts on Linux
# only for that reason).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wine >/dev/null || { echo "wine-test: needs wine (apt-get install wine wine64)" >&2; exit 1; }
export WINEPREFIX="${WINEPREFIX:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/websocket-wine}"
export WINEDEBUG=-all
if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
	if ! wineboot -i >/dev/null 2>&1; then
		echo "wine-test: wineboot -i failed to make the prefix $WINEPREFIX" >&2
		exit 1
	fi
	wineserver -w # the prefix is whole once the server is done
fi
sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -e "$sys32/bcryptprimitives.dll" ]; then
	command -v x86_64-w64-mingw32-gcc >/dev/null ||
		{ echo "wine-test: this Wine lacks bcryptprimitives.dll; apt-get install gcc-mingw-w64-x86-64 to build a stand-in" >&2; exit 1; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cat >"$tmp/bcp.c" <<'C'
#include <windows.h>
typedef BOOLEAN (WINAPI *genRandom)(PVOID, ULONG);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T n) {
	static genRandom fill;
	if (!fill) fill = (genRandom)GetProcAddress(LoadLibraryA("advapi32.dll"), "SystemFunction036");
	if (!fill) return FALSE;
	while (n > 0) {
		ULONG c = n > 0x10000000 ? 0x10000000 : (ULONG)n;
		if (!fill(data, c)) return FALSE;
		data += c;
		n -= c;
	}
	return TRUE;
}
C
	x86_64-w64-mingw32-gcc -shared -O2 -o "$sys32/bcryptprimitives.dll" "$tmp/bcp.c"
fi

GOOS=windows GOARCH=amd64 go test -exec wine -count=1 -timeout 20m "$@" . ./wsjson ./internal/...
