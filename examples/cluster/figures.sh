#!/usr/bin/env bash
# Runs TestClusterBehindNginx without the race detector, with a saturated
# phase, and puts the table of what it measured into README.md, between
# the BEGIN FIGURES and END FIGURES markers. Needs nginx, as the test does.
#
#   cd examples/cluster && ./figures.sh [saturated phase, default 5s]
set -euo pipefail
cd "$(dirname "$0")"
saturate=${1:-5s}
table=$(mktemp)
trap 'rm -f "$table" README.md.new' EXIT
# No -race: the servers are the test binary, and the figures would measure
# the race detector.
go test -count=1 -timeout 10m -run '^TestClusterBehindNginx$' -v . \
	-args -cluster.saturate "$saturate" -cluster.figures "$table"
if [ ! -s "$table" ]; then
	echo "figures.sh: the test wrote no figures (skipped: is nginx installed?)" >&2
	exit 1
fi
{
	echo "Regenerate with \`cd examples/cluster && ./figures.sh\` (it runs \`go test -count=1 -run '^TestClusterBehindNginx\$' -v . -args -cluster.saturate $saturate -cluster.figures FILE\`)."
	echo
	cat "$table"
} >"$table.md"
mv "$table.md" "$table"
awk -v table="$table" '
	/^<!-- END FIGURES -->$/ { skip = 0 }
	!skip { print }
	/^<!-- BEGIN FIGURES -->$/ {
		print ""
		while ((getline line < table) > 0) print line
		print ""
		skip = 1
	}
' README.md >README.md.new
grep -q '^<!-- END FIGURES -->$' README.md.new || { echo "figures.sh: README.md lacks the FIGURES markers" >&2; exit 1; }
mv README.md.new README.md
echo "figures.sh: README.md updated"
