#!/usr/bin/env bash
# Runs this example's tests, as CI does. It installs nothing:
# TestClusterBehindNginx needs nginx (Debian package nginx) and skips,
# saying so, when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
go test -race -count=1 ./...
